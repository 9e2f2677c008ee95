import { isDeepStrictEqual } from 'util';
import { Chart, Testing } from 'cdk8s';
import { StreamStore } from '../../src';
import { immutableStatefulSetChanges } from '../../src/migration';
import { KUBERNETES_VERSIONS, KubernetesHandle, startKubernetes } from '../support/kubernetes';

/** How the API server words a refused StatefulSet update: 1.28 one Forbidden for the spec, newer releases per field. */
const REFUSAL = /Forbidden: updates to statefulset spec for fields other than|field is immutable/;

type Path = ReadonlyArray<string | number>;

/** One change to the base StatefulSet: the values set, each at its path. */
interface Row {
  readonly change: string;
  readonly set: ReadonlyArray<readonly [Path, unknown]>;
  /** Versions that accept a change the guard refuses: it follows the strictest version supported (1.28). */
  readonly acceptedBy?: readonly string[];
}

const claim = (...rest: Path): Path => ['spec', 'volumeClaimTemplates', 0, ...rest];
const nats = (...rest: Path): Path => ['spec', 'template', 'spec', 'containers', 0, ...rest];

/** Each row changes one field; the guard and the API server must agree on which of them need a migration. */
const ROWS: readonly Row[] = [
  { change: 'the claims\' storage class', set: [[claim('spec', 'storageClassName'), 'standard']] },
  { change: 'a larger volume', set: [[claim('spec', 'resources', 'requests', 'storage'), '20Gi']] },
  { change: 'a smaller volume', set: [[claim('spec', 'resources', 'requests', 'storage'), '5Gi']] },
  { change: 'the claims\' access modes', set: [[claim('spec', 'accessModes'), ['ReadWriteMany']]] },
  { change: 'a claim template label', set: [[claim('metadata', 'labels', 'team'), 'platform']] },
  { change: 'serviceName', set: [[['spec', 'serviceName'], 'events-peers']] },
  {
    change: 'a selector label (and the pod label it selects)',
    set: [
      [['spec', 'selector', 'matchLabels', 'app.kubernetes.io/instance'], 'events-v2'],
      [['spec', 'template', 'metadata', 'labels', 'app.kubernetes.io/instance'], 'events-v2'],
    ],
  },
  { change: 'podManagementPolicy', set: [[['spec', 'podManagementPolicy'], 'OrderedReady']] },
  { change: 'revisionHistoryLimit', set: [[['spec', 'revisionHistoryLimit'], 5]], acceptedBy: ['1.37.2'] },
  { change: 'replicas', set: [[['spec', 'replicas'], 5]] },
  { change: 'the image', set: [[nats('image'), 'nats:2.10.25-alpine']] },
  { change: 'a pod template label', set: [[['spec', 'template', 'metadata', 'labels', 'team'], 'platform']] },
  { change: 'the container resources', set: [[nats('resources', 'limits', 'memory'), '2Gi']] },
  { change: 'updateStrategy', set: [[['spec', 'updateStrategy', 'rollingUpdate', 'partition'], 1]] },
  { change: 'minReadySeconds', set: [[['spec', 'minReadySeconds'], 10]] },
  { change: 'persistentVolumeClaimRetentionPolicy', set: [[['spec', 'persistentVolumeClaimRetentionPolicy', 'whenDeleted'], 'Delete']] },
  { change: 'ordinals', set: [[['spec', 'ordinals'], { start: 1 }]] },
];

/** A three-server store's StatefulSet as the library renders it, with an explicit storage class to change. */
function baseStatefulSet(): any {
  const chart = new Chart(Testing.app(), 'migration');
  new StreamStore(chart, 'events', { replicas: 3, storage: { size: '10Gi', storageClassName: 'ssd-csi' } });
  // Plain JSON, as the guard reads manifests: synthesized values can carry class prototypes strict equality tells apart.
  return JSON.parse(JSON.stringify(Testing.synth(chart).find((object) => object.kind === 'StatefulSet')));
}

function inNamespace(statefulSet: any, namespace: string): any {
  return { ...statefulSet, metadata: { ...statefulSet.metadata, namespace } };
}

function withChanges(statefulSet: any, row: Row): any {
  // Not structuredClone: under jest it makes arrays of another realm, which isDeepStrictEqual tells apart.
  const changed = JSON.parse(JSON.stringify(statefulSet));
  for (const [path, value] of row.set) {
    const parent = path.slice(0, -1).reduce((node: any, key) => (node[key] ??= {}), changed);
    parent[path[path.length - 1]] = value;
  }
  return changed;
}

function valueAt(object: any, path: Path): unknown {
  return path.reduce((node: any, key) => node?.[key], object);
}

const base = baseStatefulSet();

describe.each(KUBERNETES_VERSIONS)('the migration guard on Kubernetes %s', (version) => {
  let kube: KubernetesHandle;
  const namespaceOf = (index: number) => `migration-${index}`;

  beforeAll(async () => {
    kube = await startKubernetes(version);
    // A namespace per row, so every row starts from the base StatefulSet and nothing else.
    const namespaces = ROWS.map((_, index) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespaceOf(index) } }));
    await kube.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: namespaces }) });
  }, 180_000);

  afterAll(async () => {
    await kube?.stop();
  }, 60_000);

  test.each(ROWS.map((row, index) => ({ ...row, index })))('$change: refused by the API server exactly when the guard refuses it', async (row) => {
    const namespace = namespaceOf(row.index);
    const previous = inNamespace(base, namespace);
    const next = withChanges(previous, row);
    await kube.kubectl(['apply', '-f', '-'], { input: JSON.stringify(previous) });

    const applied = await kube.kubectl(['apply', '-f', '-'], { input: JSON.stringify(next), allowFailure: true });
    const refused = applied.code !== 0;
    const guard = immutableStatefulSetChanges([previous], [next]);
    if (row.acceptedBy?.includes(version)) {
      expect({ change: row.change, refused, guard: guard.map((c) => c.field) }).toEqual({ change: row.change, refused: false, guard: ['spec.revisionHistoryLimit'] });
      return;
    }
    if (refused !== guard.length > 0) {
      const server = refused ? `refused it: ${applied.stderr.trim()}` : 'accepted it';
      const guardSaid = guard.length > 0 ? `refuses it (${guard.map((c) => c.field).join(', ')})` : 'finds no refused change';
      throw new Error(`Kubernetes ${version}, ${row.change}: the API server ${server}; immutableStatefulSetChanges ${guardSaid}`);
    }
    if (refused) {
      expect(applied.stderr).toMatch(REFUSAL);
      return;
    }
    // Accepted must mean kept: a field the server dropped (a feature gate off) would prove nothing.
    const stored = JSON.parse((await kube.kubectl(['get', 'statefulset', next.metadata.name, '-n', namespace, '-o', 'json'])).stdout);
    const dropped = row.set.filter(([path, value]) => !isDeepStrictEqual(valueAt(stored, path), value))
      .map(([path, value]) => `${path.join('.')}: sent ${JSON.stringify(value)}, stored ${JSON.stringify(valueAt(stored, path))}`);
    expect(dropped).toEqual([]);
  }, 60_000);
});
