import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Chart, Testing, Yaml } from 'cdk8s';
import { ImmutableChange, guardStatefulSet, immutableStatefulSetChanges, migrationSteps } from '../src/migration';
import { readPreviousManifests } from '../src/previous-manifests';
import { StreamStore, StreamStoreProps } from '../src/stream-store';

/** A StatefulSet as a store renders it, trimmed to the fields these tests touch. */
function statefulSet(overrides: { name?: string; namespace?: string; spec?: Record<string, unknown> } = {}): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: overrides.name ?? 'events', ...(overrides.namespace ? { namespace: overrides.namespace } : {}) },
    spec: {
      minReadySeconds: 0,
      podManagementPolicy: 'Parallel',
      replicas: 3,
      selector: { matchLabels: { 'cdk8s.io/metadata.addr': 'events-StatefulSet-c81e6849' } },
      serviceName: 'events-headless',
      template: { metadata: { labels: { app: 'nats' } }, spec: { containers: [{ name: 'nats', image: 'nats:2.10.24-alpine' }] } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      volumeClaimTemplates: [claimTemplate('data')],
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      ...overrides.spec,
    },
  };
}

/** A claim template as the API server stores it: volumeMode and status defaulted. */
function stored(template: any): any {
  return { ...template, spec: { ...template.spec, volumeMode: 'Filesystem' }, status: { phase: 'Pending' } };
}

function claimTemplate(name: string, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, labels: { 'app.kubernetes.io/version': '2.10.24' } },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } }, storageClassName: 'ssd-csi', ...spec },
  };
}

/** The fields and values `immutableStatefulSetChanges` reports for one changed spec. */
function changedFields(spec: Record<string, unknown>): Array<[string, unknown, unknown]> {
  return immutableStatefulSetChanges([statefulSet()], [statefulSet({ spec })]).map((c) => [c.field, c.from, c.to]);
}

/** Synthesizes one store, as a synth writes its file. */
function synthObjects(props: StreamStoreProps, chartId = 'shop'): any[] {
  const chart = new Chart(Testing.app(), chartId, { namespace: 'messaging' });
  new StreamStore(chart, 'events', props).addStream('orders');
  return Testing.synth(chart);
}

describe('immutableStatefulSetChanges', () => {
  test.each<[string, Record<string, unknown>, Array<[string, unknown, unknown]>]>([
    ['a changed podManagementPolicy', { podManagementPolicy: 'OrderedReady' }, [['spec.podManagementPolicy', 'Parallel', 'OrderedReady']]],
    ['a changed serviceName', { serviceName: 'events-peers' }, [['spec.serviceName', 'events-headless', 'events-peers']]],
    ['a changed selector label', { selector: { matchLabels: { 'cdk8s.io/metadata.addr': 'shop-events-StatefulSet-0d2a' } } },
      [['spec.selector.matchLabels["cdk8s.io/metadata.addr"]', 'events-StatefulSet-c81e6849', 'shop-events-StatefulSet-0d2a']]],
    ['a changed volume size', { volumeClaimTemplates: [claimTemplate('data', { resources: { requests: { storage: '20Gi' } } })] },
      [['spec.volumeClaimTemplates[data].spec.resources.requests.storage', '10Gi', '20Gi']]],
    ['a changed storage class', { volumeClaimTemplates: [claimTemplate('data', { storageClassName: 'standard' })] },
      [['spec.volumeClaimTemplates[data].spec.storageClassName', 'ssd-csi', 'standard']]],
    ['changed access modes, as one value', { volumeClaimTemplates: [claimTemplate('data', { accessModes: ['ReadWriteOnce', 'ReadWriteOncePod'] })] },
      [['spec.volumeClaimTemplates[data].spec.accessModes', ['ReadWriteOnce'], ['ReadWriteOnce', 'ReadWriteOncePod']]]],
    ['a changed claim template label', { volumeClaimTemplates: [{ ...claimTemplate('data'), metadata: { name: 'data', labels: { 'app.kubernetes.io/version': '2.10.25' } } }] },
      [['spec.volumeClaimTemplates[data].metadata.labels["app.kubernetes.io/version"]', '2.10.24', '2.10.25']]],
    ['an added claim template, by name', { volumeClaimTemplates: [claimTemplate('data'), claimTemplate('cache')] },
      // Compared as the API server stores them, its defaults filled in.
      [['spec.volumeClaimTemplates[cache]', undefined, stored(claimTemplate('cache'))]]],
    ['a set field the spec did not set before', { revisionHistoryLimit: 5 }, [['spec.revisionHistoryLimit', undefined, 5]]],
    ['two changed fields, in field order', { serviceName: 'x', podManagementPolicy: 'OrderedReady' },
      [['spec.podManagementPolicy', 'Parallel', 'OrderedReady'], ['spec.serviceName', 'events-headless', 'x']]],
  ])('reports %s', (_, spec, expected) => {
    expect(changedFields(spec)).toEqual(expected);
  });

  test.each<[string, Record<string, unknown>]>([
    ['a changed replicas', { replicas: 5 }],
    ['a changed template', { template: { metadata: { labels: { app: 'nats' } }, spec: { containers: [{ name: 'nats', image: 'nats:2.10.25-alpine' }] } } }],
    ['a changed updateStrategy', { updateStrategy: { type: 'OnDelete' } }],
    ['a changed persistentVolumeClaimRetentionPolicy', { persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Retain' } }],
    ['a changed minReadySeconds', { minReadySeconds: 10 }],
    ['a changed ordinals', { ordinals: { start: 1 } }],
  ])('does not report %s, which Kubernetes accepts', (_, spec) => {
    expect(immutableStatefulSetChanges([statefulSet()], [statefulSet({ spec })])).toEqual([]);
  });

  test('reports reordered claim templates as a change of the whole list', () => {
    const [data, cache] = [claimTemplate('data'), claimTemplate('cache')];
    const changes = immutableStatefulSetChanges(
      [statefulSet({ spec: { volumeClaimTemplates: [data, cache] } })], [statefulSet({ spec: { volumeClaimTemplates: [cache, data] } })]);
    expect(changes.map((c) => [c.field, c.from, c.to])).toEqual([['spec.volumeClaimTemplates', [data, cache].map(stored), [cache, data].map(stored)]]);
  });

  test('does not report a new or a removed StatefulSet, nor other kinds', () => {
    const service = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'events' }, spec: { clusterIP: name } });
    const refused = { podManagementPolicy: 'OrderedReady' };
    expect(immutableStatefulSetChanges([service('None')], [service('10.0.0.1'), statefulSet()])).toEqual([]);
    expect(immutableStatefulSetChanges([statefulSet({ spec: refused })], [])).toEqual([]);
    expect(immutableStatefulSetChanges([statefulSet({ name: 'old', spec: refused })], [statefulSet({ name: 'new' })])).toEqual([]);
  });

  test('matches StatefulSets by name and namespace', () => {
    const previous = [statefulSet({ namespace: 'a' }), statefulSet({ namespace: 'b' })];
    const next = [statefulSet({ namespace: 'b', spec: { serviceName: 'x' } }), statefulSet({ namespace: 'a' })];
    expect(immutableStatefulSetChanges(previous, next)).toEqual([{
      name: 'events', namespace: 'b', field: 'spec.serviceName', path: ['spec', 'serviceName'], from: 'events-headless', to: 'x', replicas: 3,
    }]);
    // The same name in another namespace is another StatefulSet: one new, one gone.
    expect(immutableStatefulSetChanges([statefulSet({ namespace: 'a' })], [statefulSet({ namespace: 'c', spec: { serviceName: 'x' } })])).toEqual([]);
  });

  test('records the replicas of the running StatefulSet, whose volume claims exist', () => {
    const [change] = immutableStatefulSetChanges([statefulSet({ spec: { replicas: 1, podManagementPolicy: 'OrderedReady' } })], [statefulSet()]);
    expect(change).toMatchObject({ field: 'spec.podManagementPolicy', replicas: 1 });
  });
});

describe('migrationSteps', () => {
  const changes = (spec: Record<string, unknown>, previous: Record<string, unknown> = {}, namespace = 'messaging'): ImmutableChange[] =>
    immutableStatefulSetChanges([statefulSet({ namespace, spec: previous })], [statefulSet({ namespace, spec })])
      .map((c) => ({ ...c, file: 'dist/shop.k8s.yaml' }));

  test('grows each volume claim before the apply, then restarts the pods so the filesystems grow', () => {
    expect(migrationSteps(changes({ volumeClaimTemplates: [claimTemplate('data', { resources: { requests: { storage: '20Gi' } } })] }))).toEqual([
      'kubectl delete statefulset events -n messaging --cascade=orphan',
      'kubectl patch pvc data-events-0 -n messaging -p \'{"spec":{"resources":{"requests":{"storage":"20Gi"}}}}\'',
      'kubectl patch pvc data-events-1 -n messaging -p \'{"spec":{"resources":{"requests":{"storage":"20Gi"}}}}\'',
      'kubectl patch pvc data-events-2 -n messaging -p \'{"spec":{"resources":{"requests":{"storage":"20Gi"}}}}\'',
      'kubectl apply -f dist/shop.k8s.yaml',
      'kubectl rollout restart statefulset events -n messaging',
    ]);
  });

  test.each<[string, Record<string, unknown>]>([
    ['a smaller volume (claims never shrink)', { volumeClaimTemplates: [claimTemplate('data', { resources: { requests: { storage: '5Gi' } } })] }],
    ['a storage class', { volumeClaimTemplates: [claimTemplate('data', { storageClassName: 'standard' })] }],
    ['the pod management policy', { podManagementPolicy: 'OrderedReady' }],
    ['the service name', { serviceName: 'events-peers' }],
  ])('orphans and re-applies for %s', (_, spec) => {
    expect(migrationSteps(changes(spec))).toEqual([
      'kubectl delete statefulset events -n messaging --cascade=orphan',
      'kubectl apply -f dist/shop.k8s.yaml',
    ]);
  });

  test('labels the running pods with a new selector so the new StatefulSet adopts them', () => {
    const selector = { matchLabels: { 'cdk8s.io/metadata.addr': 'shop-events-StatefulSet-0d2a' } };
    expect(migrationSteps(changes({ selector, replicas: 5 }, { replicas: 1 }))).toEqual([
      'kubectl delete statefulset events -n messaging --cascade=orphan',
      'kubectl label pod events-0 -n messaging --overwrite cdk8s.io/metadata.addr=shop-events-StatefulSet-0d2a',
      'kubectl apply -f dist/shop.k8s.yaml',
    ]);
  });

  test('gives one delete and one apply for several changes, and no namespace flag without a namespace', () => {
    const [size, storageClass] = [{ resources: { requests: { storage: '1Ti' } } }, { storageClassName: 'standard' }];
    const several = changes({ volumeClaimTemplates: [claimTemplate('data', { ...size, ...storageClass })], replicas: 1 }, { replicas: 1 }, '')
      .map((c) => ({ ...c, file: undefined }));
    expect(several.map((c) => c.field)).toEqual([
      'spec.volumeClaimTemplates[data].spec.resources.requests.storage', 'spec.volumeClaimTemplates[data].spec.storageClassName',
    ]);
    expect(migrationSteps(several)).toEqual([
      'kubectl delete statefulset events --cascade=orphan',
      'kubectl patch pvc data-events-0 -p \'{"spec":{"resources":{"requests":{"storage":"1Ti"}}}}\'',
      'kubectl apply -f dist/',
      'kubectl rollout restart statefulset events',
    ]);
  });
});

describe('guardStatefulSet', () => {
  const FILE = 'dist/shop.k8s.yaml';
  const small = synthObjects({ replicas: 3, storage: { size: '10Gi' } });
  const next = (props: StreamStoreProps, chartId = 'shop') => synthObjects(props, chartId).find((o) => o.kind === 'StatefulSet');

  test('says nothing when nothing Kubernetes refuses changes, or on a first synthesis', () => {
    expect(guardStatefulSet(small, next({ replicas: 5, storage: { size: '10Gi' }, maxPayload: '2Mi' }), FILE, false)).toEqual({ errors: [], warnings: [] });
    expect(guardStatefulSet([], next({ replicas: 3 }), FILE, false)).toEqual({ errors: [], warnings: [] });
  });

  test('fails a grown volume with the field and the migration steps', () => {
    expect(guardStatefulSet(small, next({ replicas: 3, storage: { size: '20Gi' } }), FILE, false)).toEqual({
      errors: [[
        'Kubernetes refuses these changes to the running StatefulSet (only replicas, template, updateStrategy,',
        'persistentVolumeClaimRetentionPolicy, minReadySeconds and ordinals of a StatefulSet spec may change):',
        '  StatefulSet messaging/events (dist/shop.k8s.yaml):',
        '    spec.volumeClaimTemplates[data].spec.resources.requests.storage: "10Gi" -> "20Gi"',
        '    migration steps:',
        '      kubectl delete statefulset events -n messaging --cascade=orphan',
        ...[0, 1, 2].map((i) => `      kubectl patch pvc data-events-${i} -n messaging -p '{"spec":{"resources":{"requests":{"storage":"20Gi"}}}}'`),
        '      kubectl apply -f dist/shop.k8s.yaml',
        '      kubectl rollout restart statefulset events -n messaging',
        '  To migrate with these steps, synthesize with JETSTREAM_CDK8S_MIGRATING=1 (npm run synth here, cdk8s synth in your app).',
      ].join('\n')],
      warnings: [],
    });
  });

  test('warns with the same steps when the user is migrating', () => {
    expect(guardStatefulSet(small, next({ replicas: 3, storage: { size: '10Gi', storageClassName: 'fast' } }), FILE, true)).toEqual({
      errors: [],
      warnings: [[
        'warning: written with StatefulSet changes Kubernetes refuses; migrate with these steps:',
        '  StatefulSet messaging/events (dist/shop.k8s.yaml):',
        '    spec.volumeClaimTemplates[data].spec.storageClassName: (unset) -> "fast"',
        '    migration steps:',
        '      kubectl delete statefulset events -n messaging --cascade=orphan',
        '      kubectl apply -f dist/shop.k8s.yaml',
      ].join('\n')],
    });
  });

  test('refuses a single server becoming a cluster, or a cluster a single server, even when migrating', () => {
    const single = synthObjects({ replicas: 1 });
    const expected = (from: number, to: number) => ({
      errors: [[
        'a single server cannot become a cluster, nor a cluster a single server, in place:',
        `  StatefulSet messaging/events (dist/shop.k8s.yaml): replicas ${from} -> ${to}`,
        '    a single server\'s streams are not taken into a cluster, and a cluster\'s are not kept by one of its servers alone.',
        '    Deploy the new store under another name, move the streams (nats stream backup and restore, or streams that',
        '    source from the old store), then delete the old store. When the store holds nothing you need: delete it',
        '    (kubectl delete statefulset events -n messaging, then its claims data-events-*), then apply dist/shop.k8s.yaml.',
      ].join('\n')],
      warnings: [],
    });
    expect(guardStatefulSet(single, next({ replicas: 3, storage: { size: '10Gi' } }), FILE, true)).toEqual(expected(1, 3));
    expect(guardStatefulSet(small, next({ replicas: 1 }), FILE, false)).toEqual(expected(3, 1));
  });

  test('lets a store move to a renamed chart: its selector does not come from the construct path', () => {
    expect(guardStatefulSet(small, next({ replicas: 3, storage: { size: '10Gi' } }, 'shop-v2'), 'dist/shop-v2.k8s.yaml', false))
      .toEqual({ errors: [], warnings: [] });
  });
});

describe('the guard under synth', () => {
  const git = (dir: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: dir, encoding: 'utf8' });
  /** An app directory with `dist/` committed from a first synthesis of `props`. */
  function committedApp(props: StreamStoreProps): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstream-guard-'));
    git(dir, 'init', '-q');
    app(dir, props).synth();
    git(dir, 'add', '.');
    git(dir, 'commit', '-qm', 'first');
    return dir;
  }
  function app(dir: string, props: StreamStoreProps): App {
    const result = new App({ outdir: path.join(dir, 'dist') });
    new StreamStore(new Chart(result, 'shop', { namespace: 'messaging' }), 'events', props);
    return result;
  }

  test('refuses, as a validation error of the store, a change against the output committed at git HEAD', () => {
    const dir = committedApp({ storage: { size: '10Gi', storageClassName: 'ssd' } });
    fs.rmSync(path.join(dir, 'dist'), { recursive: true });
    expect(() => app(dir, { storage: { size: '10Gi', storageClassName: 'fast' } }).synth())
      .toThrow(/store "events": Kubernetes refuses these changes[\s\S]*storageClassName: "ssd" -> "fast"[\s\S]*--cascade=orphan/);
    // cdk8s makes the directory before it validates, and writes nothing into it.
    expect(fs.readdirSync(path.join(dir, 'dist'))).toEqual([]);
  });

  test('reads the previous manifests from JETSTREAM_CDK8S_PREVIOUS, a List as kubectl get writes it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstream-guard-'));
    const running = synthObjects({ storage: { size: '10Gi', storageClassName: 'ssd' } }).find((o) => o.kind === 'StatefulSet');
    const file = path.join(dir, 'live.yaml');
    fs.writeFileSync(file, Yaml.stringify({ apiVersion: 'v1', kind: 'List', items: [running] }));
    expect(readPreviousManifests(path.join(dir, 'dist'), { JETSTREAM_CDK8S_PREVIOUS: file }).objects).toEqual([running]);
  });

  test('finds no previous manifests outside a repository, or before its first commit', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstream-guard-'));
    expect(readPreviousManifests(path.join(dir, 'dist'), {})).toMatchObject({ objects: [], source: expect.stringMatching(/^none: .* is in no git repository$/) });
    git(dir, 'init', '-q');
    expect(readPreviousManifests(path.join(dir, 'dist'), {})).toMatchObject({ objects: [], source: 'none: git HEAD does not exist' });
  });

  test('warns about a committed file that is not YAML, and compares the others', () => {
    const dir = committedApp({});
    fs.writeFileSync(path.join(dir, 'dist', 'broken.k8s.yaml'), 'kind: StatefulSet\n  metadata: {\n<<<<<<< HEAD\n');
    git(dir, 'add', '.');
    git(dir, 'commit', '-qm', 'broken');
    const previous = readPreviousManifests(path.join(dir, 'dist'), { JETSTREAM_CDK8S_PREVIOUS_REF: 'HEAD' });
    expect(previous.objects.filter((o) => o.kind === 'StatefulSet')).toHaveLength(1);
    expect(previous.warnings).toEqual([expect.stringMatching(/^warning: dist\/broken\.k8s\.yaml \(git HEAD:dist\/\) is not valid YAML \(.+\); its StatefulSets were not compared$/)]);
  });
});
