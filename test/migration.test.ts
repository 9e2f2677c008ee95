import { Chart, Testing, Yaml } from 'cdk8s';
import { ImmutableChange, decideSynth, immutableStatefulSetChanges, migrationSteps } from '../src/migration';
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

/** Synthesizes one store into YAML, as `npm run synth` writes a dist/ file. */
function synthYaml(props: StreamStoreProps, chartId = 'shop'): string {
  const chart = new Chart(Testing.app(), chartId, { namespace: 'messaging' });
  new StreamStore(chart, 'events', props).addStream('orders');
  return Yaml.stringify(...Testing.synth(chart));
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
      [['spec.volumeClaimTemplates[cache]', undefined, claimTemplate('cache')]]],
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
    expect(changes.map((c) => [c.field, c.from, c.to])).toEqual([['spec.volumeClaimTemplates', [data, cache], [cache, data]]]);
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
      .map((c) => ({ ...c, file: 'shop.k8s.yaml' }));

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

describe('decideSynth', () => {
  const small = synthYaml({ replicas: 3, storage: { size: '10Gi' } });
  const files = (text: string) => new Map([['shop.k8s.yaml', text]]);

  test('writes without a word when nothing Kubernetes refuses changes', () => {
    const larger = synthYaml({ replicas: 5, storage: { size: '10Gi' }, maxPayload: '2Mi' });
    expect(decideSynth(files(small), files(larger), false)).toEqual({ write: true, messages: [] });
    expect(decideSynth(new Map(), files(small), false)).toEqual({ write: true, messages: [] });
  });

  test('fails a grown volume with the field and the migration steps, and leaves dist/ alone', () => {
    const decision = decideSynth(files(small), files(synthYaml({ replicas: 3, storage: { size: '20Gi' } })), false);
    expect(decision).toEqual({
      write: false,
      messages: [
        'error: dist/ was not written: Kubernetes refuses these StatefulSet changes (only replicas, template, updateStrategy,',
        'persistentVolumeClaimRetentionPolicy, minReadySeconds and ordinals of a StatefulSet spec may change):',
        '  StatefulSet messaging/events (dist/shop.k8s.yaml):',
        '    spec.volumeClaimTemplates[data].spec.resources.requests.storage: "10Gi" -> "20Gi"',
        '    migration steps:',
        '      kubectl delete statefulset events -n messaging --cascade=orphan',
        ...[0, 1, 2].map((i) => `      kubectl patch pvc data-events-${i} -n messaging -p '{"spec":{"resources":{"requests":{"storage":"20Gi"}}}}'`),
        '      kubectl apply -f dist/shop.k8s.yaml',
        '      kubectl rollout restart statefulset events -n messaging',
        'To migrate with these steps, write dist/ with: npm run synth -- --migrating   (or JETSTREAM_CDK8S_MIGRATING=1)',
      ],
    });
  });

  test('writes with a warning and the same steps when the user is migrating', () => {
    const decision = decideSynth(files(small), files(synthYaml({ replicas: 3, storage: { size: '10Gi', storageClassName: 'fast' } })), true);
    expect(decision).toEqual({
      write: true,
      messages: [
        'warning: dist/ was written with StatefulSet changes Kubernetes refuses; migrate each one with its steps:',
        '  StatefulSet messaging/events (dist/shop.k8s.yaml):',
        '    spec.volumeClaimTemplates[data].spec.storageClassName: (unset) -> "fast"',
        '    migration steps:',
        '      kubectl delete statefulset events -n messaging --cascade=orphan',
        '      kubectl apply -f dist/shop.k8s.yaml',
      ],
    });
  });

  test('compares a StatefulSet that moved to another file, as a renamed chart moves it', () => {
    const moved = new Map([['other.k8s.yaml', synthYaml({ replicas: 3, storage: { size: '20Gi' } })]]);
    const decision = decideSynth(files(small), moved, false);
    expect(decision.write).toBe(false);
    expect(decision.messages).toContain('  StatefulSet messaging/events (dist/other.k8s.yaml):');
    expect(decision.messages).toContain('      kubectl apply -f dist/other.k8s.yaml');
  });

  test('refuses a single server becoming a cluster, or a cluster a single server, even when migrating', () => {
    const single = synthYaml({ replicas: 1 });
    const expected = (from: number, to: number) => ({
      write: false,
      messages: [
        'error: dist/ was not written: a single server cannot become a cluster, nor a cluster a single server, in place:',
        `  StatefulSet messaging/events (dist/shop.k8s.yaml): replicas ${from} -> ${to}`,
        '    a single server\'s streams are not taken into a cluster, and a cluster\'s are not kept by one of its servers alone.',
        '    Deploy the new store under another name, move the streams (nats stream backup and restore, or streams that',
        '    source from the old store), then delete the old store. When the store holds nothing you need: delete it',
        '    (kubectl delete statefulset events -n messaging, then its claims data-events-*), remove it from dist/ and synthesize again.',
      ],
    });
    expect(decideSynth(files(single), files(small), true)).toEqual(expected(1, 3));
    expect(decideSynth(files(small), files(single), false)).toEqual(expected(3, 1));
  });

  test('lets a store move to a renamed chart and file: its selector does not come from the construct path', () => {
    const renamed = new Map([['shop-v2.k8s.yaml', synthYaml({ replicas: 3, storage: { size: '10Gi' } }, 'shop-v2')]]);
    expect(decideSynth(files(small), renamed, false)).toEqual({ write: true, messages: [] });
  });

  test('lets a cluster grow or shrink between 3 and 5', () => {
    expect(decideSynth(files(synthYaml({ replicas: 5, storage: { size: '10Gi' } })), files(small), false)).toEqual({ write: true, messages: [] });
  });

  test('warns about a committed file that is not YAML and still writes', () => {
    const decision = decideSynth(files('kind: StatefulSet\n  metadata: {\n<<<<<<< HEAD\n'), files(small), false);
    expect(decision.write).toBe(true);
    expect(decision.messages).toEqual([expect.stringMatching(/^warning: dist\/shop\.k8s\.yaml is not valid YAML \(.+\); its StatefulSets were not compared$/)]);
  });
});
