import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Chart } from 'cdk8s';
import { parseAllDocuments } from 'yaml';
import { StreamStore } from '../../src';
import {
  ArtifactServer, applyKustomization, gitRevision, kustomizationSettled, publishGitRepository, startArtifactServer,
} from '../support/flux';
import { sleep } from '../support/io';
import { KUBERNETES_VERSIONS, KubernetesHandle, diffSummary, kubectlReference, serverObjects, startKubernetes } from '../support/kubernetes';

/**
 * Flux applying our output: kustomize-controller builds the folder with kustomize and applies it
 * server-side as its own field manager, in stages, and prunes what a later revision drops. Flux
 * supports only the newest Kubernetes releases, so this runs on the newest version the tests build.
 */

const KUBERNETES = KUBERNETES_VERSIONS[KUBERNETES_VERSIONS.length - 1];
const DIST = path.join(__dirname, '..', '..', 'dist');
/** Streams of the large store: the count the README promises every deployment path takes. */
const LARGE_STREAMS = 10_000;
/** A reconcile of the example app or a small store. */
const SETTLE_MS = 90_000;
/** A reconcile of the large store's 8 MB of YAML. */
const LARGE_SETTLE_MS = 240_000;
const POLL_MS = 500;
const FIELD_MANAGER = 'kustomize-controller';

/** The objects of every YAML file in `dir`. */
function objectsIn(dir: string): any[] {
  return fs.readdirSync(dir).filter((name) => name.endsWith('.yaml')).sort().flatMap((name) =>
    parseAllDocuments(fs.readFileSync(path.join(dir, name), 'utf8')).map((document) => document.toJS()).filter((o) => o));
}

/** How a Kustomization's inventory names an object: `<namespace>_<name>_<group>_<kind>`. */
function inventoryId(namespace: string, object: any): string {
  const apiVersion = String(object.apiVersion);
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
  // The inventory writes the `:` of a name (RBAC's `a:b:c`) as `__`.
  return `${namespace}_${String(object.metadata.name).replace(/:/g, '__')}_${group}_${object.kind}`;
}

/** Each distinct object once, as kustomize sees them: one id may appear in several files. */
function distinctInventory(namespace: string, objects: readonly any[]): string[] {
  return [...new Set(objects.map((o) => inventoryId(namespace, o)))].sort();
}

/** True when a file's objects name their namespace: Flux applies those without a target namespace. */
function namesNamespaces(objects: readonly any[]): boolean {
  return objects.some((o) => o.metadata?.namespace !== undefined);
}

/** A folder with the files of dist/ whose objects `keep`; the folder's path. */
function copyDist(dir: string, keep: (objects: readonly any[]) => boolean): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const name of fs.readdirSync(DIST).filter((file) => file.endsWith('.yaml'))) {
    const text = fs.readFileSync(path.join(DIST, name), 'utf8');
    if (keep(parseAllDocuments(text).map((document) => document.toJS()).filter((o) => o))) fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

function build(dir: string, name: string, define: (chart: Chart) => void): any[] {
  fs.mkdirSync(dir, { recursive: true });
  const app = new App({ outdir: dir });
  define(new Chart(app, name));
  fs.writeFileSync(path.join(dir, `${name}.k8s.yaml`), app.synthYaml());
  return objectsIn(dir);
}

function smallStore(ordersMaxAge: string, labels: Record<string, string>) {
  return (chart: Chart) => {
    const store = new StreamStore(chart, 'orders', { storage: { size: '1Gi' }, labels });
    store.addStream('orders', { subjects: ['orders.>'], maxAge: ordersMaxAge });
    store.addStream('refunds', { subjects: ['refunds.>'], maxAge: '24h' });
  };
}

describe(`Flux kustomize-controller on Kubernetes ${KUBERNETES}`, () => {
  let kube: KubernetesHandle;
  let artifacts: ArtifactServer;
  let work: string;

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstream-cdk8s-flux-'));
    artifacts = await startArtifactServer();
    kube = await startKubernetes(KUBERNETES, { controllers: true, kustomizeController: true });
  }, 240_000);

  afterAll(async () => {
    await kube?.stop();
    await artifacts?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  }, 60_000);

  /**
   * Publishes `dir` as a new revision of GitRepository `name` in `namespace`, and waits for
   * Kustomization `name` to settle on it; its objects go into `namespace` unless `ownNamespaces`
   * (files that name theirs).
   */
  async function reconcile(namespace: string, name: string, dir: string, label: string, timeoutMs: number, ownNamespaces = false) {
    const artifact = await artifacts.publish(dir, gitRevision(label));
    await publishGitRepository(kube, namespace, name, artifact);
    await applyKustomization(kube, namespace, name, name, { targetNamespace: ownNamespaces ? undefined : namespace, prune: true });
    return kustomizationSettled(kube, namespace, name, artifact.revision, timeoutMs);
  }

  /** The server's copy of each object, managed fields included. */
  const onServer = (namespace: string, objects: readonly any[]) => serverObjects(kube, namespace, objects, { managedFields: true, timeoutMs: 120_000 });

  /** Objects whose server copy has no field set by Flux's server-side apply. */
  function notAppliedByFlux(objects: readonly any[], server: Map<string, any>): string[] {
    return [...new Set(objects.map(kubectlReference))].filter((ref) =>
      !(server.get(ref)?.metadata.managedFields ?? []).some((f: any) => f.manager === FIELD_MANAGER && f.operation === 'Apply'));
  }

  /** What a server-side apply of `dir` by another manager would change: nothing, when Flux stored what we declared. */
  async function diffAgainst(namespace: string | undefined, dir: string) {
    const diffed = await kube.kubectl(['diff', '--server-side', '--field-manager=reviewer', ...(namespace ? ['-n', namespace] : []), '-f', dir],
      { allowFailure: true, timeoutMs: 120_000 });
    return { code: diffed.code, stderr: diffed.stderr, diff: diffSummary(diffed.stdout) };
  }

  async function waitUntilGone(namespace: string, reference: string): Promise<boolean> {
    const deadline = Date.now() + SETTLE_MS;
    while (Date.now() < deadline) {
      const got = await kube.kubectl(['get', reference, '-n', namespace, '--ignore-not-found', '-o', 'name']);
      if (got.stdout.trim() === '') return true;
      await sleep(POLL_MS);
    }
    return false;
  }

  async function newNamespace(name: string): Promise<string> {
    await kube.kubectl(['create', 'namespace', name]);
    return name;
  }

  test('the whole of dist/ as Flux users apply it: the files that name no namespace as one Kustomization into one namespace, every object applied as declared', async () => {
    const namespace = await newNamespace('flux-dist');
    const dir = copyDist(path.join(work, 'dist-plain'), (objects) => !namesNamespaces(objects));
    const objects = objectsIn(dir);
    const result = await reconcile(namespace, 'dist', dir, 'dist', SETTLE_MS);
    const server = await onServer(namespace, objects);

    expect({
      ready: result.ready,
      message: result.ready ? '' : result.message,
      inventory: result.inventory,
      'objects without a field applied by kustomize-controller': notAppliedByFlux(objects, server),
      'kubectl diff --server-side': await diffAgainst(namespace, dir),
    }).toEqual({
      ready: true,
      message: '',
      inventory: distinctInventory(namespace, objects),
      'objects without a field applied by kustomize-controller': [],
      'kubectl diff --server-side': { code: 0, stderr: '', diff: [] },
    });
  }, 180_000);

  test('the files of dist/ that name their namespaces as one Kustomization without a target namespace: every object applied as declared', async () => {
    const dir = copyDist(path.join(work, 'dist-namespaced'), namesNamespaces);
    const objects = objectsIn(dir);
    const namespaces = [...new Set(objects.map((o) => o.metadata.namespace).filter((ns): ns is string => ns !== undefined))].sort();
    expect(namespaces.length).toBeGreaterThan(0);
    for (const ns of namespaces) await newNamespace(ns);
    const home = await newNamespace('flux-namespaced');
    const result = await reconcile(home, 'dist-namespaced', dir, 'dist-namespaced', SETTLE_MS, true);
    const server = new Map<string, any>();
    for (const ns of namespaces) for (const [ref, object] of await onServer(ns, objects.filter((o) => (o.metadata.namespace ?? ns) === ns))) server.set(ref, object);

    expect({
      ready: result.ready,
      message: result.ready ? '' : result.message,
      inventory: result.inventory,
      'objects without a field applied by kustomize-controller': notAppliedByFlux(objects, server),
      'kubectl diff --server-side': await diffAgainst(undefined, dir),
    }).toEqual({
      ready: true,
      message: '',
      // Cluster-wide objects have no namespace in the inventory.
      inventory: [...new Set(objects.map((o) => inventoryId(o.metadata.namespace ?? '', o)))].sort(),
      'objects without a field applied by kustomize-controller': [],
      'kubectl diff --server-side': { code: 0, stderr: '', diff: [] },
    });
  }, 180_000);

  test('a stream change and a store label over the previous revision: updated in place, the new Job applied and the old one pruned', async () => {
    const namespace = await newNamespace('flux-small');
    const before = build(path.join(work, 'small-a'), 'small', smallStore('6h', { team: 'payments' }));
    const first = await reconcile(namespace, 'small', path.join(work, 'small-a'), 'small-a', SETTLE_MS);
    const after = build(path.join(work, 'small-b'), 'small', smallStore('12h', { team: 'payments', tier: 'gold' }));
    const second = await reconcile(namespace, 'small', path.join(work, 'small-b'), 'small-b', SETTLE_MS);
    const jobOf = (objects: readonly any[]) => objects.find((o) => o.kind === 'Job').metadata.name;
    const programOf = (objects: readonly any[]) => objects.find((o) => o.metadata.name.startsWith('jetstream-apply-')).metadata.name;
    const server = await onServer(namespace, after);
    const definitions = JSON.parse(server.get('configmap/orders-streams')?.data?.['streams.json'] ?? '{"streams":[]}');

    expect({
      'first revision': { ready: first.ready, message: first.ready ? '' : first.message },
      'second revision': { ready: second.ready, message: second.ready ? '' : second.message, inventory: second.inventory },
      'the Job names differ': jobOf(before) !== jobOf(after),
      'the program ConfigMap is the same': programOf(before) === programOf(after),
      'stream "orders" max_age on the server': definitions.streams.find((s: any) => s.config.name === 'orders')?.config.max_age,
      'statefulset.apps/orders label tier': server.get('statefulset.apps/orders')?.metadata.labels?.tier,
      'the first Job pruned': await waitUntilGone(namespace, `job.batch/${jobOf(before)}`),
      'kubectl diff --server-side': await diffAgainst(namespace, path.join(work, 'small-b')),
    }).toEqual({
      'first revision': { ready: true, message: '' },
      'second revision': { ready: true, message: '', inventory: distinctInventory(namespace, after) },
      'the Job names differ': true,
      'the program ConfigMap is the same': true,
      'stream "orders" max_age on the server': '12h',
      'statefulset.apps/orders label tier': 'gold',
      'the first Job pruned': true,
      'kubectl diff --server-side': { code: 0, stderr: '', diff: [] },
    });
  }, 240_000);

  test(`a store of ${LARGE_STREAMS} streams: every object applied, every stream in the definitions on the server`, async () => {
    const namespace = await newNamespace('flux-large');
    const dir = path.join(work, 'large');
    const objects = build(dir, 'big', (chart) => {
      const store = new StreamStore(chart, 'events', { storage: { size: '1Ti' } });
      for (let i = 0; i < LARGE_STREAMS; i++) store.addStream(`s${i}`, { subjects: [`s${i}.>`], maxBytes: '10Mi' });
    });
    const result = await reconcile(namespace, 'large', dir, 'large', LARGE_SETTLE_MS);
    const server = await onServer(namespace, objects);
    const defined = new Set([...server.values()].filter((o) => /^events-streams(-[0-9a-f]{10})?$/.test(o.metadata.name))
      .flatMap((o) => JSON.parse(o.data['streams.json']).streams.map((s: any) => s.config.name)));

    expect({
      ready: result.ready,
      message: result.ready ? '' : result.message,
      'inventory entries': result.inventory.length,
      'objects without a field applied by kustomize-controller': notAppliedByFlux(objects, server),
      'streams in the definitions on the server': defined.size,
    }).toEqual({
      ready: true,
      message: '',
      'inventory entries': distinctInventory(namespace, objects).length,
      'objects without a field applied by kustomize-controller': [],
      'streams in the definitions on the server': LARGE_STREAMS,
    });
  }, 360_000);
});
