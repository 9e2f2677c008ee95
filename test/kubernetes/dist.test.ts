import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import * as os from 'os';
import { buildApp } from '../../charts/app';
import {
  KUBERNETES_VERSIONS, KubernetesHandle, diffSummary, kubectlReference, outputLines, startKubernetes,
} from '../support/kubernetes';

const DIST = path.join(__dirname, '..', '..', 'dist');
/** How long the controllers get to create a file's pods and claims. */
const CONTROLLERS_WAIT_MS = 60_000;
const POLL_MS = 500;
/** Where the files that name no namespace are applied, all of them together. */
const DIST_NAMESPACE = 'dist';

/** A dist/ file, its objects, and the namespace each object lands in. */
interface DistFile {
  readonly name: string;
  readonly file: string;
  readonly objects: readonly any[];
  /** `-n dist` when no object names one: the files land in one namespace, as `kubectl apply -n dist -f dist/` puts them. */
  readonly namespaceArgs: readonly string[];
  /** Namespaces the objects land in that the file does not declare itself. */
  readonly namespaces: readonly string[];
  namespaceOf(object: any): string;
}

/** Kinds without a namespace among the examples' objects. */
const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding', 'Namespace']);

/**
 * The file's objects moved into `namespace`, as a JSON List in a temp file: namespaced objects and
 * the subjects of bindings in it, and a cluster-wide object's name carrying the old namespace
 * (`jetstream-events:<namespace>:<name>`) renamed with it, so two copies apply side by side.
 */
function relocated(dist: DistFile, namespace: string): string {
  const named = [...new Set(dist.objects.map((o) => o.metadata?.namespace).filter((ns): ns is string => typeof ns === 'string'))];
  const rename = (value: string) => named.reduce((renamed, ns) => renamed.split(`:${ns}:`).join(`:${namespace}:`), value);
  const items = dist.objects.map((object) => {
    const copy = JSON.parse(JSON.stringify(object));
    if (CLUSTER_SCOPED.has(copy.kind)) copy.metadata.name = rename(copy.metadata.name);
    else copy.metadata.namespace = namespace;
    if (copy.roleRef) copy.roleRef.name = rename(copy.roleRef.name);
    for (const subject of copy.subjects ?? []) if (subject.namespace !== undefined) subject.namespace = namespace;
    return copy;
  });
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'relocated-')), `${namespace}.json`);
  fs.writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  return file;
}

function loadDistFile(dir: string, name: string): DistFile {
  const file = path.join(dir, name);
  const objects = parseAllDocuments(fs.readFileSync(file, 'utf8')).map((document) => {
    if (document.errors.length > 0) throw new Error(`dist/${name}: ${document.errors[0].message}`);
    return document.toJS();
  }).filter((object) => object !== null && object !== undefined);
  const named = new Set(objects.map((o) => o.metadata?.namespace).filter((ns): ns is string => typeof ns === 'string'));
  const fileNamespace = named.size === 0 ? DIST_NAMESPACE : undefined;
  const namespaceOf = (object: any): string => object.metadata?.namespace ?? fileNamespace ?? 'default';
  const declared = new Set(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
  return {
    name,
    file,
    objects,
    namespaceArgs: fileNamespace ? ['-n', fileNamespace] : [],
    namespaces: [...new Set(objects.map(namespaceOf))].filter((ns) => !declared.has(ns)).sort(),
    namespaceOf,
  };
}

/** `namespace/name` of each ConfigMap a pod template of the files mounts, but for optional ones. */
function mountedConfigMaps(files: readonly DistFile[]): string[] {
  return [...new Set(files.flatMap((file) => file.objects.flatMap((object) => {
    const volumes: any[] = object.spec?.template?.spec?.volumes ?? [];
    const sources = volumes.flatMap((v) => [v.configMap, ...(v.projected?.sources ?? []).map((s: any) => s.configMap)]);
    return sources.filter((c) => c && c.optional !== true).map((c) => `${file.namespaceOf(object)}/${c.name}`);
  })))].sort();
}

/** The pods and claims a StatefulSet's controller creates without a kubelet, the pod a Job's creates, and a Deployment's pods. */
function expectedChildren(object: any): { pods: string[]; claims: string[]; jobPods: string[]; deploymentPods: string[] } {
  const none = { pods: [], claims: [], jobPods: [], deploymentPods: [] };
  if (object.kind === 'Job') return { ...none, jobPods: [object.metadata.name] };
  // Named after the Deployment and two hashes: counted per Deployment, numbered in the order they appear.
  if (object.kind === 'Deployment') return { ...none, deploymentPods: Array.from({ length: object.spec.replicas ?? 1 }, (_, i) => `${object.metadata.name}#${i}`) };
  if (object.kind !== 'StatefulSet') return none;
  const { name } = object.metadata;
  const replicas: number = object.spec.replicas ?? 1;
  const first: number = object.spec.ordinals?.start ?? 0;
  // OrderedReady creates the next pod only once the previous one is Ready, which no pod becomes without a kubelet.
  const created = (object.spec.podManagementPolicy ?? 'OrderedReady') === 'OrderedReady' ? Math.min(replicas, 1) : replicas;
  const ordinals = Array.from({ length: created }, (_, i) => first + i);
  const templates: any[] = object.spec.volumeClaimTemplates ?? [];
  return {
    pods: ordinals.map((i) => `${name}-${i}`),
    claims: templates.flatMap((template) => ordinals.map((i) => `${template.metadata.name}-${name}-${i}`)),
    jobPods: [],
    deploymentPods: [],
  };
}

const distFiles = fs.readdirSync(DIST).filter((name) => name.endsWith('.yaml')).sort();
if (distFiles.length === 0) throw new Error(`${DIST} holds no .yaml file: run npm run synth`);

/**
 * The example app's files for a version: dist/ as committed, rendered as Kubernetes 1.33 and newer
 * store objects; for an older version, the same app synthesized with the kubernetesVersion context.
 */
function exampleFiles(version: string): string {
  if (Number(version.split('.')[1]) >= 33) return DIST;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `example-${version}-`));
  buildApp(dir, version.split('.').slice(0, 2).join('.')).synth();
  return dir;
}

describe.each(KUBERNETES_VERSIONS)('the example app on Kubernetes %s', (version) => {
  const dir = exampleFiles(version);
  let kube: KubernetesHandle;

  beforeAll(async () => {
    kube = await startKubernetes(version, { controllers: true });
  }, 240_000);

  afterAll(async () => {
    await kube?.stop();
  }, 60_000);

  describe.each(distFiles)('%s', (name) => {
    const dist = loadDistFile(dir, name);
    const everyObject = (outcome: string) => dist.objects.map((o) => `${kubectlReference(o)} ${outcome}`).sort();

    beforeAll(async () => {
      for (const namespace of dist.namespaces) {
        const created = await kube.kubectl(['create', 'namespace', namespace], { allowFailure: true });
        if (created.code !== 0 && !created.stderr.includes('AlreadyExists')) {
          throw new Error(`dist/${name}: cannot create namespace ${namespace}: ${created.stderr}`);
        }
      }
    }, 60_000);

    test('kubectl apply creates every object', async () => {
      const applied = await kube.kubectl(['apply', ...dist.namespaceArgs, '-f', dist.file], { allowFailure: true });
      expect({ file: name, code: applied.code, stderr: applied.stderr, output: outputLines(applied.stdout) })
        .toEqual({ file: name, code: 0, stderr: '', output: everyObject('created') });
    }, 60_000);

    test('kubectl apply again leaves every object unchanged', async () => {
      const applied = await kube.kubectl(['apply', ...dist.namespaceArgs, '-f', dist.file], { allowFailure: true });
      // kubectl always re-sends a PodDisruptionBudget's selector (patch strategy "replace"), so it says "configured" for an unchanged one.
      const output = outputLines(applied.stdout).map((line) => line.replace(/^(poddisruptionbudget\.policy\/\S+) configured$/, '$1 unchanged'));
      expect({ file: name, code: applied.code, stderr: applied.stderr, output })
        .toEqual({ file: name, code: 0, stderr: '', output: everyObject('unchanged') });
    }, 60_000);

    test('kubectl diff finds nothing to change', async () => {
      const diff = await kube.kubectl(['diff', ...dist.namespaceArgs, '-f', dist.file], { allowFailure: true });
      expect({ file: name, code: diff.code, stderr: diff.stderr, diff: diffSummary(diff.stdout) })
        .toEqual({ file: name, code: 0, stderr: '', diff: [] });
    }, 60_000);

    test('kubectl apply --server-side applies every object', async () => {
      const applied = await kube.kubectl(['apply', '--server-side', ...dist.namespaceArgs, '-f', dist.file], { allowFailure: true });
      expect({ file: name, code: applied.code, stderr: applied.stderr, output: outputLines(applied.stdout) })
        .toEqual({ file: name, code: 0, stderr: '', output: everyObject('serverside-applied') });
    }, 60_000);

    test('kubectl diff --server-side finds nothing to change', async () => {
      const diff = await kube.kubectl(['diff', '--server-side', ...dist.namespaceArgs, '-f', dist.file], { allowFailure: true });
      expect({ file: name, code: diff.code, stderr: diff.stderr, diff: diffSummary(diff.stdout) })
        .toEqual({ file: name, code: 0, stderr: '', diff: [] });
    }, 60_000);

    test('the controllers create every StatefulSet\'s pods and claims, every Job\'s pod and every Deployment\'s pods', async () => {
      const wanted = dist.objects.map((object) => ({ object, namespace: dist.namespaceOf(object), ...expectedChildren(object) }))
        .filter((w) => w.pods.length + w.claims.length + w.jobPods.length + w.deploymentPods.length > 0);
      const namespaces = [...new Set(wanted.map((w) => w.namespace))];
      const missing = async (): Promise<string[]> => {
        const present = new Set<string>();
        const deploymentPods = new Map<string, number>();
        for (const namespace of namespaces) {
          const listed = JSON.parse((await kube.kubectl(['get', 'pods,persistentvolumeclaims', '-n', namespace, '-o', 'json'])).stdout);
          for (const item of listed.items) {
            present.add(`${namespace}/${item.kind}/${item.metadata.name}`);
            const jobName = item.kind === 'Pod' ? item.metadata.labels?.['job-name'] : undefined;
            if (jobName !== undefined) present.add(`${namespace}/JobPod/${jobName}`);
            // A Deployment's pod belongs to its ReplicaSet <deployment>-<pod-template-hash>.
            const hash = item.kind === 'Pod' ? item.metadata.labels?.['pod-template-hash'] : undefined;
            const replicaSet = item.metadata.ownerReferences?.find((owner: any) => owner.kind === 'ReplicaSet')?.name;
            if (hash !== undefined && replicaSet?.endsWith(`-${hash}`)) {
              const deployment = `${namespace}/${replicaSet.slice(0, -hash.length - 1)}`;
              const index = deploymentPods.get(deployment) ?? 0;
              deploymentPods.set(deployment, index + 1);
              present.add(`${namespace}/DeploymentPod/${deployment.split('/')[1]}#${index}`);
            }
          }
        }
        return wanted.flatMap(({ object, namespace, pods, claims, jobPods, deploymentPods: podsOfDeployment }) => {
          const what = `dist/${name} ${object.kind} ${namespace}/${object.metadata.name}`;
          return [
            ...pods.filter((pod) => !present.has(`${namespace}/Pod/${pod}`)).map((pod) => `${what}: no Pod ${pod}`),
            ...claims.filter((claim) => !present.has(`${namespace}/PersistentVolumeClaim/${claim}`)).map((claim) => `${what}: no PersistentVolumeClaim ${claim}`),
            ...jobPods.filter((job) => !present.has(`${namespace}/JobPod/${job}`)).map((job) => `${what}: no Pod labelled job-name=${job}`),
            ...podsOfDeployment.filter((pod) => !present.has(`${namespace}/DeploymentPod/${pod}`)).map((pod) => `${what}: no Pod ${pod}`),
          ];
        });
      };
      const deadline = Date.now() + CONTROLLERS_WAIT_MS;
      let absent = await missing();
      while (absent.length > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        absent = await missing();
      }
      if (absent.length > 0) {
        // The controllers' events say why a pod or claim was refused.
        const events = await Promise.all(namespaces.map((ns) => kube.kubectl(['get', 'events', '-n', ns], { allowFailure: true })));
        throw new Error(`after ${CONTROLLERS_WAIT_MS} ms:\n${absent.join('\n')}\n--- events ---\n${events.map((e) => e.stdout + e.stderr).join('\n')}`);
      }
    }, CONTROLLERS_WAIT_MS + 30_000);
  });

  // A chart's Job may mount the program of the first chart in its namespace: the files go together.
  test('once every file is applied, every ConfigMap a pod template mounts is on the server', async () => {
    const files = distFiles.map((name) => loadDistFile(dir, name));
    const wanted = mountedConfigMaps(files);
    const namespaces = [...new Set(wanted.map((ref) => ref.split('/')[0]))];
    const present = new Set<string>();
    for (const namespace of namespaces) {
      const listed = JSON.parse((await kube.kubectl(['get', 'configmaps', '-n', namespace, '-o', 'json'])).stdout);
      for (const item of listed.items) present.add(`${namespace}/${item.metadata.name}`);
    }
    expect({ mounted: wanted.length > 0, missing: wanted.filter((ref) => !present.has(ref)) }).toEqual({ mounted: true, missing: [] });
  }, 60_000);
});

describe('dist/ as committed on Kubernetes 1.28.15, which stores a claim template\'s zero creation time as null', () => {
  let kube: KubernetesHandle;

  beforeAll(async () => {
    kube = await startKubernetes('1.28.15');
  }, 240_000);

  afterAll(async () => {
    await kube?.stop();
  }, 60_000);

  /** Every object's resourceVersion in a namespace, by kind and name: a write that changes nothing keeps it. */
  async function versions(namespace: string): Promise<Record<string, string>> {
    const listed = JSON.parse((await kube.kubectl(['get', 'configmaps,services,statefulsets,jobs,networkpolicies,deployments', '-n', namespace, '-o', 'json'])).stdout);
    return Object.fromEntries(listed.items.map((item: any) => [`${item.kind}/${item.metadata.name}`, item.metadata.resourceVersion]));
  }

  test.each(distFiles)('%s: a second client-side apply writes nothing, kubectl diff is empty, server-side apply alone is idempotent', async (name) => {
    const dist = loadDistFile(DIST, name);
    // A namespace per file: the resourceVersions compared are the file's own objects'.
    const namespace = `committed-${name.replace(/\.k8s\.yaml$/, '')}`;
    const ssa = `${namespace}-ssa`;
    for (const ns of [namespace, ssa]) await kube.kubectl(['create', 'namespace', ns]);
    const [file, ssaFile] = [namespace, ssa].map((ns) => relocated(dist, ns));
    expect((await kube.kubectl(['apply', '-f', file], { allowFailure: true })).code).toBe(0);
    const before = await versions(namespace);
    // kubectl re-sends the claim templates (it compares the list whole and the server added the null), a no-op write.
    expect((await kube.kubectl(['apply', '-f', file], { allowFailure: true })).code).toBe(0);
    expect(await versions(namespace)).toEqual(before);
    expect((await kube.kubectl(['diff', '-f', file], { allowFailure: true })).code).toBe(0);
    for (let run = 0; run < 2; run++) {
      const applied = await kube.kubectl(['apply', '--server-side', '-f', ssaFile], { allowFailure: true });
      expect({ name, code: applied.code, stderr: applied.stderr }).toEqual({ name, code: 0, stderr: '' });
    }
    expect((await kube.kubectl(['diff', '--server-side', '-f', ssaFile], { allowFailure: true })).code).toBe(0);
  }, 120_000);
});
