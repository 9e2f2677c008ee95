import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { App, Chart, Size } from 'cdk8s';
import { Cpu } from 'cdk8s-plus-28';
import { APPLY_PROGRAM_FILE, KUBERNETES_VERSION_CONTEXT, parseSize, StreamStore } from '../../src';
import {
  KUBERNETES_VERSIONS, KubernetesHandle, diffSummary, kubectlReference, outputLines, serverObjects, startKubernetes,
} from '../support/kubernetes';

const REPO = path.join(__dirname, '..', '..');
/** Streams of the large store: the count the README promises both kinds of apply take. */
const LARGE_STREAMS = 10_000;
/** The API server's limit on all annotations of one object, which client-side apply's copy of the object must fit. */
const ANNOTATIONS_LIMIT_BYTES = 256 * 1024;
/** One kubectl run over the large store's 8 MB of YAML. */
const LARGE_KUBECTL_MS = 120_000;
/** Missing stream names shown when the definitions ConfigMaps lack some. */
const MISSING_NAMES_SHOWN = 10;

/** One synthesized app: its YAML, written to a file for kubectl, and its objects. */
interface Synthesized {
  readonly file: string;
  readonly objects: readonly any[];
  readonly ms: number;
}

/** Plain JSON, as kubectl reads the YAML: no class prototypes, no undefined fields. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value));
}

/** The apply program's ConfigMap and the store's Job among an app's objects. */
function programConfigMap(objects: readonly any[]): any {
  return only(objects, (o) => o.kind === 'ConfigMap' && /^jetstream-apply-[0-9a-f]{10}$/.test(o.metadata.name), 'ConfigMap jetstream-apply-<hash>');
}

function applyJob(objects: readonly any[]): any {
  return only(objects, (o) => o.kind === 'Job', 'Job');
}

function only(objects: readonly any[], match: (o: any) => boolean, what: string): any {
  const found = objects.filter(match);
  if (found.length !== 1) throw new Error(`expected one ${what} among the synthesized objects, found ${found.length}`);
  return found[0];
}

/** The `nats` container of a StatefulSet. */
function natsContainer(statefulSet: any): any {
  return statefulSet.spec.template.spec.containers.find((c: any) => c.name === 'nats');
}

/** What a second kubectl apply should say of each object of `after` applied over `before`. */
function expectedOutcomes(before: readonly any[], after: readonly any[]): string[] {
  const previous = new Map(before.map((o) => [kubectlReference(o), JSON.stringify(o)]));
  return after.map((o) => {
    const was = previous.get(kubectlReference(o));
    return `${kubectlReference(o)} ${was === undefined ? 'created' : was === JSON.stringify(o) ? 'unchanged' : 'configured'}`;
  }).sort();
}

/** The small app the change tests apply twice: one store, three streams. */
interface SmallApp {
  readonly ordersMaxAge: string;
  readonly memoryGiB: number;
  readonly labels: Record<string, string>;
}

const SMALL_A: SmallApp = { ordersMaxAge: '6h', memoryGiB: 1, labels: { team: 'payments' } };
const SMALL_STORE = 'shop';

function buildSmall(chart: Chart, app: SmallApp): void {
  const store = new StreamStore(chart, SMALL_STORE, {
    storage: { size: '1Gi' },
    resources: {
      cpu: { request: Cpu.millis(500) },
      memory: { request: Size.gibibytes(app.memoryGiB), limit: Size.gibibytes(app.memoryGiB) },
    },
    labels: app.labels,
  });
  store.addStream('orders', { subjects: ['orders.>'], maxAge: app.ordersMaxAge });
  store.addStream('refunds', { subjects: ['refunds.>'], maxAge: '24h' });
  store.addStream('audit', { subjects: ['audit.>'], maxAge: '720h' });
}

function buildLarge(chart: Chart): void {
  const store = new StreamStore(chart, 'events', { storage: { size: '1Ti' } });
  for (let i = 0; i < LARGE_STREAMS; i++) store.addStream(`s${i}`, { subjects: [`s${i}.>`], maxBytes: '10Mi' });
}

/**
 * A library upgrade that changes only the apply program, made from A's objects (the library has
 * no switch for another program): the same program with a trailing comment, gzipped, in a
 * ConfigMap named after the new content; the Job mounts it and is renamed after its new spec.
 */
function withUpgradedProgram(objects: readonly any[], storeName: string): any[] {
  const upgraded = plain(objects) as any[];
  const configMap = programConfigMap(upgraded);
  const job = applyJob(upgraded);
  const [key] = Object.keys(configMap.binaryData);
  const source = zlib.gunzipSync(fs.readFileSync(path.join(REPO, APPLY_PROGRAM_FILE))).toString('utf8');
  const bytes = zlib.gzipSync(Buffer.from(`${source}\n// jetstream-cdk8s upgrade test: a new program\n`));
  const oldName = configMap.metadata.name;
  const newName = `jetstream-apply-${createHash('sha256').update(bytes).digest('hex').slice(0, 10)}`;
  configMap.metadata.name = newName;
  configMap.binaryData[key] = bytes.toString('base64');
  const volumes = job.spec.template.spec.volumes.filter((v: any) => v.configMap?.name === oldName);
  if (volumes.length !== 1) throw new Error(`Job ${job.metadata.name}: expected one volume of ConfigMap ${oldName}, found ${volumes.length}`);
  volumes[0].configMap.name = newName;
  const hash = createHash('sha256').update(JSON.stringify({ ...job, metadata: { ...job.metadata, name: undefined } })).digest('hex');
  job.metadata.name = `${storeName}-apply-${hash.slice(0, 8)}`;
  return upgraded;
}

/** Stream names in the definitions documents of a store's ConfigMaps (`<store>-streams`, `<store>-streams-<hash>`). */
function definedStreams(configMaps: readonly any[], storeName: string): Map<string, any> {
  const part = new RegExp(`^${storeName}-streams(-[0-9a-f]{10})?$`);
  const streams = new Map<string, any>();
  for (const configMap of configMaps.filter((c) => part.test(c.metadata.name))) {
    const document = JSON.parse(configMap.data?.['streams.json'] ?? '{"streams": []}');
    for (const stream of document.streams) streams.set(stream.config.name, stream.config);
  }
  return streams;
}

/** Quantities the way the API server compares them: `2Gi` and `2048Mi` are the same. */
function bytesOf(quantity: unknown): number | string {
  return typeof quantity === 'string' || typeof quantity === 'number' ? parseSize(quantity) : String(quantity);
}

type ApplyMode = 'client-side' | 'server-side';
const APPLY_FLAGS: Record<ApplyMode, readonly string[]> = { 'client-side': [], 'server-side': ['--server-side'] };
const APPLIED: Record<ApplyMode, string> = { 'client-side': 'created', 'server-side': 'serverside-applied' };

describe.each(KUBERNETES_VERSIONS)('upgrades on Kubernetes %s', (version) => {
  let kube: KubernetesHandle;
  let work: string;
  let namespaces = 0;
  const timings: string[] = [];

  /** Times `run`, noting it for the summary afterAll prints. */
  async function timed<T>(what: string, run: () => Promise<T> | T): Promise<T> {
    const start = Date.now();
    try {
      return await run();
    } finally {
      timings.push(`${what} ${Date.now() - start} ms`);
    }
  }

  async function newNamespace(prefix: string): Promise<string> {
    const namespace = `${prefix}-${++namespaces}`;
    await kube.kubectl(['create', 'namespace', namespace]);
    return namespace;
  }

  function synthesize(name: string, namespace: string, build: (chart: Chart) => void): Synthesized {
    const start = Date.now();
    const app = new App({ outdir: path.join(work, 'cdk8s.out') });
    // Before 1.33 the API server stores a claim template's zero creation time as null: render for it.
    if (Number(version.split('.')[1]) < 33) app.node.setContext(KUBERNETES_VERSION_CONTEXT, version.split('.').slice(0, 2).join('.'));
    const chart = new Chart(app, name, { namespace });
    build(chart);
    const yaml = app.synthYaml();
    const objects = plain(chart.toJson());
    const ms = Date.now() - start;
    const file = path.join(work, `${namespace}-${name}.yaml`);
    fs.writeFileSync(file, yaml);
    return { file, objects, ms };
  }

  function writeObjects(namespace: string, name: string, objects: readonly any[]): Synthesized {
    const file = path.join(work, `${namespace}-${name}.json`);
    fs.writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
    return { file, objects, ms: 0 };
  }

  async function apply(mode: ApplyMode, file: string, timeoutMs?: number) {
    const applied = await kube.kubectl(['apply', ...APPLY_FLAGS[mode], '-f', file], { allowFailure: true, timeoutMs });
    return { code: applied.code, stderr: applied.stderr, output: outputLines(applied.stdout) };
  }

  async function diff(mode: ApplyMode, file: string, timeoutMs?: number) {
    const diffed = await kube.kubectl(['diff', ...APPLY_FLAGS[mode], '-f', file], { allowFailure: true, timeoutMs });
    return { code: diffed.code, stderr: diffed.stderr, diff: diffSummary(diffed.stdout) };
  }

  /**
   * Objects of `objects` whose server copy an apply changed between two snapshots, with both
   * resourceVersions. A controller's status write is not the apply's: the CronJob controller
   * records each schedule it fires, and the drift check fires every 10 minutes.
   */
  function changedBetween(objects: readonly any[], before: Map<string, any>, after: Map<string, any>): string[] {
    return objects.map(kubectlReference).filter((ref) => appliedPart(before.get(ref)) !== appliedPart(after.get(ref)))
      .map((ref) => `${ref} metadata.resourceVersion ${before.get(ref)?.metadata.resourceVersion} -> ${after.get(ref)?.metadata.resourceVersion}`);
  }

  /** What an apply may change of a server object: all but its status, its resourceVersion and the records of status writes. */
  function appliedPart(object: any): string {
    if (object === undefined) return 'absent';
    const { status: _status, metadata: { resourceVersion: _resourceVersion, managedFields = [], ...metadata }, ...rest } = object;
    return JSON.stringify({ ...rest, metadata: { ...metadata, managedFields: managedFields.filter((entry: any) => entry.subresource !== 'status') } });
  }

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstream-cdk8s-upgrades-'));
    kube = await timed('control plane start', () => startKubernetes(version, { controllers: true }));
  }, 240_000);

  afterAll(async () => {
    console.log(`upgrades on Kubernetes ${version}: ${timings.join(', ')}`);
    await kube?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  }, 60_000);

  describe(`a store of ${LARGE_STREAMS} streams`, () => {
    test('client-side apply takes every object, a second apply and kubectl diff change nothing, then server-side apply and its diff', async () => {
      const namespace = await newNamespace('large-client');
      const large = synthesize('big', namespace, buildLarge);
      timings.push(`synth of ${LARGE_STREAMS} streams ${large.ms} ms (${large.objects.length} objects, ${fs.statSync(large.file).size} bytes of YAML)`);
      const every = (outcome: string) => large.objects.map((o) => `${kubectlReference(o)} ${outcome}`).sort();
      const observed: Record<string, unknown> = {};
      const expected: Record<string, unknown> = {};

      expected['objects whose JSON (client-side apply\'s annotation) reaches 256KiB'] = [];
      observed['objects whose JSON (client-side apply\'s annotation) reaches 256KiB'] = large.objects
        .filter((o) => Buffer.byteLength(JSON.stringify(o)) >= ANNOTATIONS_LIMIT_BYTES)
        .map((o) => `${kubectlReference(o)}: ${Buffer.byteLength(JSON.stringify(o))} bytes`);

      expected['kubectl apply'] = { code: 0, stderr: '', output: every('created') };
      observed['kubectl apply'] = await timed(`${LARGE_STREAMS} streams: kubectl apply`, () => apply('client-side', large.file, LARGE_KUBECTL_MS));

      const first = await serverObjects(kube, namespace, large.objects, { timeoutMs: LARGE_KUBECTL_MS });
      const defined = definedStreams([...first.values()].filter((o) => o.kind === 'ConfigMap'), 'events');
      const missing = Array.from({ length: LARGE_STREAMS }, (_, i) => `s${i}`).filter((name) => !defined.has(name));
      expected['streams missing from ConfigMaps events-streams, events-streams-<hash> on the server'] = { count: 0, first: [] };
      observed['streams missing from ConfigMaps events-streams, events-streams-<hash> on the server'] = {
        count: missing.length, first: missing.slice(0, MISSING_NAMES_SHOWN),
      };
      expected['objects on the server without the last-applied annotation or above 256KiB of it'] = [];
      observed['objects on the server without the last-applied annotation or above 256KiB of it'] = large.objects.map(kubectlReference).filter((ref) => {
        const annotation = first.get(ref)?.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'];
        return typeof annotation !== 'string' || Buffer.byteLength(annotation) >= ANNOTATIONS_LIMIT_BYTES;
      });

      expected['kubectl apply again'] = { code: 0, stderr: '', output: every('unchanged') };
      observed['kubectl apply again'] = await timed(`${LARGE_STREAMS} streams: kubectl apply again`, () => apply('client-side', large.file, LARGE_KUBECTL_MS));
      const second = await serverObjects(kube, namespace, large.objects, { timeoutMs: LARGE_KUBECTL_MS });
      expected['objects the second kubectl apply changed on the server'] = [];
      observed['objects the second kubectl apply changed on the server'] = changedBetween(large.objects, first, second);

      expected['kubectl diff'] = { code: 0, stderr: '', diff: [] };
      observed['kubectl diff'] = await timed(`${LARGE_STREAMS} streams: kubectl diff`, () => diff('client-side', large.file, LARGE_KUBECTL_MS));
      expected['kubectl apply --server-side'] = { code: 0, stderr: '', output: every('serverside-applied') };
      observed['kubectl apply --server-side'] = await timed(`${LARGE_STREAMS} streams: kubectl apply --server-side over client-side`,
        () => apply('server-side', large.file, LARGE_KUBECTL_MS));
      expected['kubectl diff --server-side'] = { code: 0, stderr: '', diff: [] };
      observed['kubectl diff --server-side'] = await timed(`${LARGE_STREAMS} streams: kubectl diff --server-side`,
        () => diff('server-side', large.file, LARGE_KUBECTL_MS));

      expect(observed).toEqual(expected);
    }, 300_000);

    test('server-side apply alone takes every object, and a second one changes nothing', async () => {
      const namespace = await newNamespace('large-server');
      const large = synthesize('big', namespace, buildLarge);
      const every = large.objects.map((o) => `${kubectlReference(o)} serverside-applied`).sort();
      const observed: Record<string, unknown> = {};
      const expected: Record<string, unknown> = {};

      expected['kubectl apply --server-side'] = { code: 0, stderr: '', output: every };
      observed['kubectl apply --server-side'] = await timed(`${LARGE_STREAMS} streams: kubectl apply --server-side`,
        () => apply('server-side', large.file, LARGE_KUBECTL_MS));
      const first = await serverObjects(kube, namespace, large.objects, { timeoutMs: LARGE_KUBECTL_MS });
      expected['kubectl apply --server-side again'] = { code: 0, stderr: '', output: every };
      observed['kubectl apply --server-side again'] = await timed(`${LARGE_STREAMS} streams: kubectl apply --server-side again`,
        () => apply('server-side', large.file, LARGE_KUBECTL_MS));
      const second = await serverObjects(kube, namespace, large.objects, { timeoutMs: LARGE_KUBECTL_MS });
      expected['objects the second server-side apply changed on the server'] = [];
      observed['objects the second server-side apply changed on the server'] = changedBetween(large.objects, first, second);
      expected['kubectl diff --server-side'] = { code: 0, stderr: '', diff: [] };
      observed['kubectl diff --server-side'] = await diff('server-side', large.file, LARGE_KUBECTL_MS);

      expect(observed).toEqual(expected);
    }, 300_000);
  });

  /** One change applied over the previous state: how B is made from A, and what must then hold on the server. */
  interface Change {
    readonly change: string;
    /** After a client-side B, also apply B with --server-side: moving to it at an upgrade, as the README recommends. */
    readonly thenServerSide?: boolean;
    make(namespace: string, a: Synthesized): Synthesized;
    /** Field paths (`<object> <field>`) to the values expected, and to the values found. */
    check(a: Synthesized, b: Synthesized, before: Map<string, any>, after: Map<string, any>): { expected: Record<string, unknown>; observed: Record<string, unknown> };
  }

  const statefulSetRef = `statefulset.apps/${SMALL_STORE}`;
  const generation = (objects: Map<string, any>) => objects.get(statefulSetRef)?.metadata.generation;
  const jobNames = (objects: Map<string, any>) => [...objects.values()].filter((o) => o.kind === 'Job').map((o) => o.metadata.name).sort();

  const CHANGES: readonly Change[] = [
    {
      change: 'a stream\'s maxAge 6h -> 12h: new definitions and a new Job, the servers do not roll',
      make: (namespace) => synthesize('small-b', namespace, (chart) => buildSmall(chart, { ...SMALL_A, ordersMaxAge: '12h' })),
      check: (a, b, before, after) => {
        const [oldJob, newJob] = [applyJob(a.objects).metadata.name, applyJob(b.objects).metadata.name];
        return {
          expected: {
            'the Job names of A and B differ': true,
            [`configmap/${SMALL_STORE}-streams data["streams.json"] stream "orders" max_age`]: '12h',
            'the Jobs on the server (A\'s and B\'s)': [oldJob, newJob].sort(),
            [`${statefulSetRef} metadata.generation`]: generation(before),
          },
          observed: {
            'the Job names of A and B differ': oldJob !== newJob,
            [`configmap/${SMALL_STORE}-streams data["streams.json"] stream "orders" max_age`]:
              definedStreams([...after.values()].filter((o) => o.kind === 'ConfigMap'), SMALL_STORE).get('orders')?.max_age,
            'the Jobs on the server (A\'s and B\'s)': jobNames(after),
            [`${statefulSetRef} metadata.generation`]: generation(after),
          },
        };
      },
    },
    {
      change: 'the store\'s memory 1Gi -> 2Gi and a new label: the StatefulSet is updated in place',
      make: (namespace) => synthesize('small-b', namespace, (chart) =>
        buildSmall(chart, { ...SMALL_A, memoryGiB: 2, labels: { ...SMALL_A.labels, tier: 'gold' } })),
      check: (_a, _b, before, after) => {
        const statefulSet = after.get(statefulSetRef);
        const nats = statefulSet ? natsContainer(statefulSet) : undefined;
        return {
          expected: {
            [`${statefulSetRef} metadata.generation`]: generation(before) + 1,
            [`${statefulSetRef} metadata.labels.tier`]: 'gold',
            [`${statefulSetRef} spec.template.metadata.labels.tier`]: 'gold',
            [`${statefulSetRef} spec.template.metadata.labels.team`]: 'payments',
            [`${statefulSetRef} container nats resources.requests.memory (bytes)`]: 2 * 1024 ** 3,
            [`${statefulSetRef} container nats resources.limits.memory (bytes)`]: 2 * 1024 ** 3,
          },
          observed: {
            [`${statefulSetRef} metadata.generation`]: generation(after),
            [`${statefulSetRef} metadata.labels.tier`]: statefulSet?.metadata.labels?.tier,
            [`${statefulSetRef} spec.template.metadata.labels.tier`]: statefulSet?.spec.template.metadata.labels?.tier,
            [`${statefulSetRef} spec.template.metadata.labels.team`]: statefulSet?.spec.template.metadata.labels?.team,
            [`${statefulSetRef} container nats resources.requests.memory (bytes)`]: bytesOf(nats?.resources?.requests?.memory),
            [`${statefulSetRef} container nats resources.limits.memory (bytes)`]: bytesOf(nats?.resources?.limits?.memory),
          },
        };
      },
    },
    {
      change: 'a new apply program (a library upgrade): a new immutable program ConfigMap beside the old one, and a new Job',
      thenServerSide: true,
      make: (namespace, a) => writeObjects(namespace, 'small-b', withUpgradedProgram(a.objects, SMALL_STORE)),
      check: (a, b, before, after) => {
        const [oldProgram, newProgram] = [programConfigMap(a.objects), programConfigMap(b.objects)];
        const [oldJob, newJob] = [applyJob(a.objects), applyJob(b.objects)];
        const program = (ref: string) => {
          const found = after.get(ref);
          return found && { immutable: found.immutable, binaryData: found.binaryData };
        };
        const oldRef = `configmap/${oldProgram.metadata.name}`;
        const newRef = `configmap/${newProgram.metadata.name}`;
        const serverJob = after.get(`job.batch/${newJob.metadata.name}`);
        return {
          expected: {
            'A\'s program is the repo\'s lib/bundle/jetstream-apply.js.gz': true,
            'the program ConfigMap names of A and B differ': true,
            [`${oldRef} (A's program) immutable, binaryData`]: { immutable: true, binaryData: oldProgram.binaryData },
            [`${newRef} (B's program) immutable, binaryData`]: { immutable: true, binaryData: newProgram.binaryData },
            'the Jobs on the server (A\'s and B\'s)': [oldJob.metadata.name, newJob.metadata.name].sort(),
            [`job.batch/${newJob.metadata.name} spec.template.spec.volumes[program].configMap.name`]: newProgram.metadata.name,
            [`${statefulSetRef} metadata.generation`]: generation(before),
          },
          observed: {
            'A\'s program is the repo\'s lib/bundle/jetstream-apply.js.gz':
              Object.values(oldProgram.binaryData)[0] === fs.readFileSync(path.join(REPO, APPLY_PROGRAM_FILE)).toString('base64'),
            'the program ConfigMap names of A and B differ': oldProgram.metadata.name !== newProgram.metadata.name,
            [`${oldRef} (A's program) immutable, binaryData`]: program(oldRef),
            [`${newRef} (B's program) immutable, binaryData`]: program(newRef),
            'the Jobs on the server (A\'s and B\'s)': jobNames(after),
            [`job.batch/${newJob.metadata.name} spec.template.spec.volumes[program].configMap.name`]:
              serverJob?.spec.template.spec.volumes.find((v: any) => v.name === 'program')?.configMap?.name,
            [`${statefulSetRef} metadata.generation`]: generation(after),
          },
        };
      },
    },
  ];

  describe.each<ApplyMode>(['client-side', 'server-side'])('%s apply of B over A', (mode) => {
    test.each(CHANGES.map((c) => [c.change, c] as const))('%s', async (_change, change) => {
      const namespace = await newNamespace(`change-${mode}`);
      const a = synthesize('small-a', namespace, (chart) => buildSmall(chart, SMALL_A));
      const b = change.make(namespace, a);
      const observed: Record<string, unknown> = {};
      const expected: Record<string, unknown> = {};

      expected[`kubectl apply ${mode} of A`] = { code: 0, stderr: '', output: a.objects.map((o) => `${kubectlReference(o)} ${APPLIED[mode]}`).sort() };
      observed[`kubectl apply ${mode} of A`] = await apply(mode, a.file);
      const before = await serverObjects(kube, namespace, [...a.objects, ...b.objects]);

      expected[`kubectl apply ${mode} of B`] = {
        code: 0, stderr: '', output: mode === 'client-side' ? expectedOutcomes(a.objects, b.objects) : b.objects.map((o) => `${kubectlReference(o)} ${APPLIED[mode]}`).sort(),
      };
      observed[`kubectl apply ${mode} of B`] = await apply(mode, b.file);
      const after = await serverObjects(kube, namespace, [...a.objects, ...b.objects]);
      const checked = change.check(a, b, before, after);
      Object.assign(expected, checked.expected);
      Object.assign(observed, checked.observed);

      if (mode === 'client-side' && change.thenServerSide) {
        expected['kubectl apply --server-side of B over client-side B'] = {
          code: 0, stderr: '', output: b.objects.map((o) => `${kubectlReference(o)} serverside-applied`).sort(),
        };
        observed['kubectl apply --server-side of B over client-side B'] = await apply('server-side', b.file);
      }

      expect(observed).toEqual(expected);
    }, 60_000);
  });
});
