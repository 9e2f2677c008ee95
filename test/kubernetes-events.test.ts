import { Chart, Testing } from 'cdk8s';
import { KubernetesEvents, KubernetesEventsApi, KubernetesEventsProps } from '../src/kubernetes-events';
import { NatsAuth } from '../src/auth';
import { StreamStore } from '../src/stream-store';
import { declaredStreams } from './support/streams-document';
import { validationErrors } from './support/validation-errors';

const password = (key: string) => ({ secretName: 'users', key });
const USERS = { auth: NatsAuth.users([{ name: 'admin', password: password('admin') }]), applyJob: { password: password('apply') } };

function newApp(chartNamespace: string | undefined = 'observability') {
  const chart = new Chart(Testing.app(), 'test', { namespace: chartNamespace });
  const store = new StreamStore(chart, 'events', USERS);
  const stream = store.addStream('k8s-events', { subjects: ['k8s.events.>'], duplicateWindow: '1h' });
  return { chart, store, stream };
}

function forwarder(props: Partial<KubernetesEventsProps> = {}, chartNamespace?: string) {
  const app = newApp(chartNamespace);
  const events = new KubernetesEvents(app.chart, 'cluster-events', { stream: app.stream, password: password('forwarder'), ...props });
  return { ...app, events };
}

const byKind = (objects: any[], kind: string) => objects.filter((o) => o.kind === kind);
const env = (deployment: any) => Object.fromEntries(deployment.spec.template.spec.containers[0].env.map((v: any) => [v.name, v.value ?? v.valueFrom]));

describe('KubernetesEvents', () => {
  test('synthesizes the defaults', () => {
    const { chart } = forwarder();
    const objects = Testing.synth(chart).filter((o) => o.metadata?.labels?.['app.kubernetes.io/name'] === 'jetstream-events');
    // The program's ConfigMap is named after its content, which every change of the program changes.
    expect(JSON.parse(JSON.stringify(objects).replace(/jetstream-apply-[0-9a-f]{10}/g, 'jetstream-apply-<program>'))).toMatchSnapshot();
  });

  test('a cluster-wide watch: a ClusterRole that lists and watches events and gets the enriched kinds, bound to its own ServiceAccount', () => {
    const { chart } = forwarder({ enrichWith: ['Pod', 'Deployment', 'Node', { kind: 'Rollout', group: 'argoproj.io', version: 'v1alpha1', resource: 'rollouts', namespaced: true }] });
    const objects = Testing.synth(chart);
    const [role] = byKind(objects, 'ClusterRole');
    expect(role.metadata).toEqual(expect.objectContaining({ name: 'jetstream-events:observability:cluster-events' }));
    expect(role.metadata.namespace).toBeUndefined();
    expect(role.rules).toEqual([
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['list', 'watch'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get'] },
      { apiGroups: ['argoproj.io'], resources: ['rollouts'], verbs: ['get'] },
      { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
    ]);
    const [binding] = byKind(objects, 'ClusterRoleBinding');
    expect(binding.metadata.namespace).toBeUndefined();
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'cluster-events', namespace: 'observability' }]);
    expect(byKind(objects, 'Role')).toEqual([]);
    const [serviceAccount] = byKind(objects, 'ServiceAccount');
    expect(serviceAccount.automountServiceAccountToken).toBe(false);
    const [deployment] = byKind(objects, 'Deployment');
    expect(deployment.spec.template.spec).toMatchObject({ serviceAccountName: 'cluster-events', automountServiceAccountToken: true, enableServiceLinks: false });
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
  });

  test('chosen namespaces: a Role and RoleBinding in each, and a ClusterRole only for cluster-scoped kinds', () => {
    const { chart } = forwarder({ namespaces: ['shop', 'payments'], enrichWith: ['Pod', 'Node'], api: KubernetesEventsApi.CORE_V1 });
    const objects = Testing.synth(chart);
    const roles = byKind(objects, 'Role');
    // Named after the forwarder's own namespace too: another app's forwarder may watch the same namespaces.
    expect(roles.map((r) => [r.metadata.namespace, r.metadata.name])).toEqual([
      ['shop', 'jetstream-events:observability:cluster-events'], ['payments', 'jetstream-events:observability:cluster-events'],
    ]);
    expect(roles[0].rules).toEqual([
      { apiGroups: [''], resources: ['events'], verbs: ['list', 'watch'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    ]);
    expect(byKind(objects, 'RoleBinding').map((b) => [b.metadata.namespace, b.subjects[0].namespace])).toEqual([['shop', 'observability'], ['payments', 'observability']]);
    expect(byKind(objects, 'ClusterRole')[0].rules).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }]);
    expect(env(byKind(objects, 'Deployment')[0])).toMatchObject({ EVENTS_API: 'v1', EVENTS_NAMESPACES: 'shop,payments' });
  });

  test('with replicas, a Lease it may create, and get and update by name only; a rolling update', () => {
    const { chart } = forwarder({ replicas: 2 });
    const objects = Testing.synth(chart);
    const lease = byKind(objects, 'Role').find((r) => r.metadata.name === 'cluster-events-lease');
    expect(lease.rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['cluster-events'], verbs: ['get', 'update'] },
    ]);
    const [deployment] = byKind(objects, 'Deployment');
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.strategy.type).toBe('RollingUpdate');
    expect(env(deployment)).toMatchObject({ EVENTS_LEASE: 'cluster-events', POD_NAME: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } });
  });

  test('its NATS user may publish under its prefix and write its positions bucket, which the store declares', () => {
    const { chart, store } = forwarder({ types: ['Warning'], reasons: ['BackOff', 'Failed'] });
    const objects = Testing.synth(chart);
    const config: string = store.natsConfig;
    const user = config.slice(config.indexOf('user: "cluster-events"'));
    // Its subjects, four tokens under the prefix, and nothing else of the stream.
    expect(user).toContain('"k8s.events.*.*.*"');
    expect(user).not.toContain('"k8s.events.>"');
    expect(user).toContain('"$KV.cluster-events-positions.>"');
    expect(declaredStreams(objects, 'events').streams.map((s) => s.config.name)).toEqual(['KV_cluster-events-positions', 'k8s-events']);
    expect(env(byKind(objects, 'Deployment')[0])).toMatchObject({
      NATS_USER: 'cluster-events', NATS_INBOX_PREFIX: '_INBOX_cluster-events', EVENTS_SUBJECT_PREFIX: 'k8s.events',
      EVENTS_TYPES: 'Warning', EVENTS_REASONS: 'BackOff,Failed', EVENTS_RESUME_BUCKET: 'cluster-events-positions',
      // The store's default max payload, 1MiB, less room for the subject and headers.
      EVENTS_MAX_MESSAGE_BYTES: String(1024 * 1024 - 512),
    });
  });

  test('fails on every bad prop at once, naming the field, the value and the rule', () => {
    const { chart } = forwarder({
      name: 'Events', subjectPrefix: 'orders', namespaces: ['Shop'], enrichWith: ['Widget'], replicas: 0, maxInFlight: 0, eventTtl: '2h',
    });
    expect(validationErrors(() => Testing.synth(chart))).toEqual([
      '[test/cluster-events] events forwarder "Events": namespaces[0] "Shop" must match pattern "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"',
      '[test/cluster-events] events forwarder "Events": enrichWith[0] "Widget" must be the name of a well-known kind (Pod, Service, PersistentVolumeClaim, Node, Namespace, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, HorizontalPodAutoscaler), or {kind, group, version, resource, namespaced}',
      '[test/cluster-events] events forwarder "Events": replicas 0 must be >= 1',
      '[test/cluster-events] events forwarder "Events": maxInFlight 0 must be >= 1',
      '[test/cluster-events] events forwarder "Events": name "Events" must be a DNS label (lowercase letters, digits and "-") of at most 47 characters: it names the Deployment, whose pod names must fit 63',
      '[test/cluster-events] events forwarder "Events": subjectPrefix "orders" must lead to subjects stream "k8s-events" captures: its subjects ["k8s.events.>"] do not cover "orders.*.*.*"',
      '[test/cluster-events] events forwarder "Events": stream "k8s-events" has a duplicate window of 1h, shorter than the events\' lifetime (eventTtl) 2h: after a relist the stream would store again events it dropped from its window; set the stream\'s duplicateWindow to at least 2h',
    ]);
  });

  test('fails in a chart without a namespace, and on a stream whose window is Kubernetes\' default event lifetime short', () => {
    const chart = new Chart(Testing.app(), 'test');
    const store = new StreamStore(chart, 'events', USERS);
    const stream = store.addStream('k8s-events', { subjects: ['k8s.events.>'] });
    new KubernetesEvents(chart, 'cluster-events', { stream, password: password('forwarder') });
    expect(validationErrors(() => Testing.synth(chart))).toEqual([
      '[test/cluster-events] events forwarder "cluster-events": stream "k8s-events" has a duplicate window of 2m, shorter than the events\' lifetime (eventTtl) 1h: after a relist the stream would store again events it dropped from its window; set the stream\'s duplicateWindow to at least 1h',
      '[test/cluster-events] events forwarder "cluster-events": scope "test" must be a chart with a namespace: the forwarder\'s RoleBindings name its ServiceAccount by namespace',
    ]);
  });

  test('fails on a stream that does not acknowledge or takes messages too small for an event, and on a short event lifetime', () => {
    const { chart, store } = newApp();
    const stream = store.addStream('tiny', { subjects: ['tiny.>'], duplicateWindow: '1h', noAck: true, maxMsgSize: '1Ki' });
    new KubernetesEvents(chart, 'cluster-events', { stream, password: password('forwarder'), eventTtl: '30s' });
    expect(validationErrors(() => Testing.synth(chart))).toEqual([
      '[test/cluster-events] events forwarder "cluster-events": eventTtl 30s must be at least 1m: it is how long the API server keeps events',
      '[test/cluster-events] events forwarder "cluster-events": stream "tiny" has noAck: the forwarder records a position only once the stream acknowledged everything before it',
      '[test/cluster-events] events forwarder "cluster-events": stream "tiny" takes messages of 1KiB (its maxMsgSize, or the store\'s maxPayload): the forwarder needs 2560B for an event cut down to what identifies it',
    ]);
  });

  test('a stream of exactly the four tokens under the prefix', () => {
    const { chart, store } = newApp();
    const stream = store.addStream('warnings', { subjects: ['warnings.*.*.*'], duplicateWindow: '1h' });
    new KubernetesEvents(chart, 'cluster-events', { stream, password: password('forwarder'), subjectPrefix: 'warnings' });
    expect(validationErrors(() => Testing.synth(chart))).toEqual([]);
  });

  test('fails on a stream whose first subject gives no prefix', () => {
    const { chart, store } = newApp();
    const stream = store.addStream('cluster-events', { subjects: ['cluster.events.*.*.*'], duplicateWindow: '1h' });
    new KubernetesEvents(chart, 'cluster-events', { stream, password: password('forwarder') });
    expect(validationErrors(() => Testing.synth(chart))).toEqual([
      '[test/cluster-events] events forwarder "cluster-events": subjectPrefix (unset) must be set: the first subject of stream "cluster-events" does not end in ".>"',
    ]);
  });

  test('fails on a store without users: the forwarder is a NATS user of its own', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'observability' });
    const stream = new StreamStore(chart, 'events').addStream('k8s-events', { subjects: ['k8s.events.>'], duplicateWindow: '1h' });
    new KubernetesEvents(chart, 'cluster-events', { stream, password: password('forwarder') });
    expect(validationErrors(() => Testing.synth(chart))).toEqual([
      '[test/events] store "events": auth "none" must be NatsAuth.users to grant test/cluster-events/Deployment access to stream "k8s-events": a grant is a user with its own permissions',
      '[test/events] store "events": auth "none" must be NatsAuth.users to grant test/cluster-events/Deployment access to key-value bucket "cluster-events-positions": a grant is a user with its own permissions',
    ]);
  });
});
