import * as fs from 'fs';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Events, JetStreamManager, NatsConnection, connect } from 'nats';
import { ExitCode, runApply } from '../src/apply/apply';
import { DEFAULT_ENRICHED_KINDS, KubernetesEvents, NatsAuth, StreamStore } from '../src';
import { AdminApi, EventTarget, ForwarderProcess, createEvents } from './support/events';
import { httpGet, sleep } from './support/io';
import { kubeletEnvironment } from './support/kubelet';
import { KUBERNETES_VERSIONS, KubernetesHandle, startKubernetes } from './support/kubernetes';
import { NatsServerHandle, makeTempDir } from './support/nats-server';
import { freePort } from './support/ports';
import { fakeSecrets, startStoreFromManifests } from './support/store-from-manifests';
import { declaredStreams } from './support/streams-document';

/**
 * The events forwarder against a real kube-apiserver and the store's real nats-server, both from
 * the synthesized manifests: the forwarder's RBAC applied to the API server and its token minted
 * there, the store's users (the forwarder's, a granted reader's) in its nats.conf.
 */

const KUBERNETES = KUBERNETES_VERSIONS[KUBERNETES_VERSIONS.length - 1];
const NAMESPACE = 'observability';
const STORE = 'kube-events';
const STREAM = 'k8s-events';
const RBAC_KINDS = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];
/** How long the stream may take to hold what a test expects. */
const ARRIVAL_MS = 60_000;

jest.setTimeout(240_000);

let kube: KubernetesHandle;
let servers: NatsServerHandle[];
let admin: AdminApi;
let objects: any[];
let secrets: Map<string, string>;
let tokenFile: string;
let nc: NatsConnection;
let jsm: JetStreamManager;
const running: ForwarderProcess[] = [];
let web: EventTarget;

/** The example's shape: a store with users, the events stream with an hour of duplicate window, the forwarder with two replicas, a reader. */
function synthesize(): any[] {
  const chart = new Chart(Testing.app(), 'events', { namespace: NAMESPACE });
  const password = (key: string) => ({ secretName: 'users', key });
  const store = new StreamStore(chart, STORE, {
    auth: NatsAuth.users([{ name: 'admin', password: password('admin') }]),
    applyJob: { password: password('apply') },
  });
  const stream = store.addStream(STREAM, { subjects: ['k8s.events.>'], duplicateWindow: '1h' });
  store.addStream('orders', { subjects: ['orders.>'] });
  new KubernetesEvents(chart, 'forwarder', { stream, password: password('forwarder'), replicas: 2, enrichWith: [...DEFAULT_ENRICHED_KINDS, 'Node'] });
  const reader = new kplus.Deployment(chart, 'reader', { containers: [{ name: 'reader', image: 'example.com/reader:1.0.0' }] });
  stream.grantConsume(reader, { user: 'reader', password: password('reader') });
  return Testing.synth(chart);
}

beforeAll(async () => {
  objects = synthesize();
  secrets = fakeSecrets(objects);
  [kube, servers] = await Promise.all([startKubernetes(KUBERNETES), startStoreFromManifests(objects, STORE, secrets)]);
  const definitions = path.join(makeTempDir(), 'streams.json');
  fs.writeFileSync(definitions, JSON.stringify({ ...declaredStreams(objects, STORE), generation: 0 }));
  const out: string[] = [];
  const applied = await runApply({
    command: 'apply', server: servers[0].url, definitions, waitMs: 10_000, concurrency: 4, ownerReplicas: 1, lockTtlMs: 30_000,
    auth: { user: 'admin', password: secrets.get('users/admin') },
  }, { out: (line) => out.push(line), err: (line) => out.push(line) });
  expect({ exitCode: applied.exitCode, out }).toEqual({ exitCode: ExitCode.OK, out: expect.anything() });
  await kube.kubectl(['create', 'namespace', NAMESPACE]);
  const rbac = objects.filter((o) => RBAC_KINDS.includes(o.kind));
  await kube.kubectl(['apply', '-f', '-'], { input: rbac.map((o) => JSON.stringify(o)).join('\n') });
  tokenFile = path.join(makeTempDir(), 'token');
  fs.writeFileSync(tokenFile, (await kube.kubectl(['create', 'token', 'forwarder', '-n', NAMESPACE, '--duration=2h'])).stdout.trim());
  admin = new AdminApi(kube);
  const deployment = await admin.request('POST', '/apis/apps/v1/namespaces/default/deployments', {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web', team: 'shop' }, annotations: { 'example.com/owner': 'shop-team' } },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'example.com/web:1.0.0' }] } },
    },
  });
  web = { kind: 'Deployment', apiVersion: 'apps/v1', namespace: 'default', name: 'web', uid: deployment.metadata.uid };
  nc = await connect({ servers: servers[0].url, user: 'admin', pass: secrets.get('users/admin') });
  jsm = await nc.jetstreamManager();
}, 240_000);

afterEach(async () => {
  await Promise.all(running.splice(0).map((forwarder) => forwarder.stop()));
});

afterAll(async () => {
  admin?.close();
  await nc?.close();
  await Promise.all([kube?.stop(), ...(servers ?? []).map((server) => server.stop())]);
});

/** Starts a forwarder process with its pod's environment, pointed at the test's servers. */
async function startForwarder(pod: string, env: Record<string, string> = {}): Promise<ForwarderProcess> {
  const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'forwarder');
  const port = await freePort();
  const forwarder = new ForwarderProcess({
    ...kubeletEnvironment(deployment.spec.template.spec.containers[0].env, secrets, { 'metadata.name': pod, 'metadata.namespace': NAMESPACE }),
    NATS_URL: servers[0].url,
    EVENTS_HTTP_LISTEN: `127.0.0.1:${port}`,
    KUBERNETES_API_URL: kube.server,
    KUBERNETES_TOKEN_FILE: tokenFile,
    KUBERNETES_CA_FILE: kube.caFile,
    ...env,
  }, `http://127.0.0.1:${port}/metrics`);
  running.push(forwarder);
  return forwarder;
}

/** A stored message as a reader sees it. */
interface StoredEvent {
  readonly seq: number;
  readonly subject: string;
  readonly msgId?: string;
  readonly body: any;
}

/** Every message of the stream, in order. */
async function storedEvents(): Promise<StoredEvent[]> {
  const { state } = await jsm.streams.info(STREAM);
  const events: StoredEvent[] = [];
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const message = await jsm.streams.getMessage(STREAM, { seq }).catch(() => undefined);
    // The publish test's own message is not an event.
    if (message?.subject.startsWith('k8s.events.') && !message.subject.endsWith('.Allowed')) {
      events.push({ seq, subject: message.subject, msgId: message.header?.get('Nats-Msg-Id'), body: message.json() });
    }
  }
  return events;
}

/** The stored events of `reason`, once there are at least `count` of them (then a moment more, to catch extras). */
async function eventsOfReason(reason: string, count: number): Promise<StoredEvent[]> {
  const deadline = Date.now() + ARRIVAL_MS;
  let found: StoredEvent[] = [];
  // Bounded by the deadline.
  while (Date.now() < deadline) {
    found = (await storedEvents()).filter((event) => event.body.event.reason === reason);
    if (found.length >= count) {
      await sleep(1_500);
      return (await storedEvents()).filter((event) => event.body.event.reason === reason);
    }
    await sleep(250);
  }
  const logs = running.map((forwarder, i) => `--- forwarder ${i} ---\n${forwarder.lines.slice(-60).join('\n')}`).join('\n');
  throw new Error(`${found.length} of ${count} events of reason ${reason} arrived in ${ARRIVAL_MS} ms\n${logs}`);
}

/** Each uid once, and no other: what exactly once means. */
function expectExactlyOnce(stored: readonly StoredEvent[], uids: readonly string[]): void {
  const storedUids = stored.map((event) => event.body.event.metadata.uid).sort();
  expect(storedUids).toEqual([...uids].sort());
}

test('events created through the API server arrive in the stream, one message each, with the labels of the involved object', async () => {
  const forwarder = await startForwarder('forwarder-a');
  await forwarder.waitForLine(/watching/, 30_000);
  const uids = await createEvents(admin, web, 'Arrival', 5);
  // One through the core API: the same events, another view of them.
  const core = await admin.request('POST', '/api/v1/namespaces/default/events', {
    apiVersion: 'v1', kind: 'Event', metadata: { generateName: 'web-' },
    involvedObject: { kind: 'Deployment', apiVersion: 'apps/v1', namespace: 'default', name: 'web', uid: web.uid },
    reason: 'Arrival', message: 'through core/v1', type: 'Warning', source: { component: 'test' },
    firstTimestamp: new Date().toISOString(), lastTimestamp: new Date().toISOString(), count: 1,
  });
  const stored = await eventsOfReason('Arrival', 6);
  expectExactlyOnce(stored, [...uids, core.metadata.uid]);
  const first = stored.find((event) => event.body.event.metadata.uid === uids[0]) as StoredEvent;
  expect(first.subject).toBe('k8s.events.default.Deployment.Arrival');
  expect(first.msgId).toBe(`k8s.events:${uids[0]}:${first.body.event.metadata.resourceVersion}`);
  expect(first.body).toMatchObject({
    schemaVersion: 1,
    api: 'events.k8s.io/v1',
    event: { apiVersion: 'events.k8s.io/v1', kind: 'Event', reason: 'Arrival', regarding: { name: 'web' } },
    involvedObject: { kind: 'Deployment', name: 'web', labels: { app: 'web', team: 'shop' }, annotations: { 'example.com/owner': 'shop-team' } },
  });
  expect(first.body.event.metadata.managedFields).toBeUndefined();
  expect(await forwarder.metric('published_total')).toBeGreaterThanOrEqual(6);
  expect(await forwarder.metric('leader')).toBe(1);
  expect((await httpGet(forwarder.metricsUrl.replace('/metrics', '/healthz'), 2_000)).status).toBe(200);
  expect(await forwarder.stop()).toBe(0);
  expect(forwarder.lines.join('\n')).toMatch(/summary: \d+ seen, \d+ published/);
});

test('the forwarder killed and restarted in the middle of a burst of 1,000 events: every event is in the stream exactly once', async () => {
  const positions = await nc.jetstream().views.kv('forwarder-positions');
  const written = async () => (await positions.get('all-namespaces'))?.revision ?? 0;
  const before = await written();
  const first = await startForwarder('forwarder-a');
  await first.waitForLine(/watching|listing/, 30_000);
  // A few requests at a time: the burst lasts seconds, and the kill lands in its middle.
  const burst = createEvents(admin, web, 'Burst', 1_000, { concurrency: 4 });
  // Bounded: the burst takes seconds, and at most ARRIVAL_MS pass. Killed once it stored some and wrote a position.
  for (const deadline = Date.now() + ARRIVAL_MS; (((await first.metric('published_total')) ?? 0) < 200 || (await written()) === before) && Date.now() < deadline;) await sleep(50);
  await first.kill();
  running.splice(running.indexOf(first), 1);
  const second = await startForwarder('forwarder-b');
  const uids = await burst;
  expectExactlyOnce(await eventsOfReason('Burst', 1_000), uids);
  // The second run took over where the first one's last written position was, after the lease it left ran out.
  expect(second.lines.join('\n')).toMatch(/watching from resourceVersion \d+/);
});

test('the API server restarted in the middle of a burst: no duplicates, no gaps', async () => {
  // One replica, no lease: a leader that cannot renew its lease for 10s (a restarting API server
  // refuses requests until its RBAC caches fill) stops, and only a kubelet would start it again.
  const forwarder = await startForwarder('forwarder-a', { EVENTS_LEASE: '' });
  await forwarder.waitForLine(/watching/, 30_000);
  const before = await createEvents(admin, web, 'Restart', 200);
  await kube.restartApiserver();
  const after = await createEvents(admin, web, 'Restart', 200);
  expectExactlyOnce(await eventsOfReason('Restart', 400), [...before, ...after]);
  expect(await forwarder.metric('rewatches_total')).toBeGreaterThanOrEqual(1);
});

test('a watch position the API server no longer has (410 Gone): everything is listed again, and the stream drops what it has', async () => {
  const forwarder = await startForwarder('forwarder-a');
  await forwarder.waitForLine(/watching/, 30_000);
  const stored = await createEvents(admin, web, 'Expiry', 20);
  await eventsOfReason('Expiry', 20);
  expect(await forwarder.stop()).toBe(0);
  running.splice(0);
  const whileAway = await createEvents(admin, web, 'Expiry', 20);
  await compactEtcd();
  const again = await startForwarder('forwarder-b');
  await again.waitForLine(/position is gone/, 30_000);
  expectExactlyOnce(await eventsOfReason('Expiry', 40), [...stored, ...whileAway]);
  expect(await again.metric('relists_total')).toBe(1);
  expect(await again.metric('duplicates_total')).toBeGreaterThanOrEqual(20);
});

test('stopped in the middle of a list, with filtered events between those it sends: nothing is skipped', async () => {
  const uids = await createEvents(admin, web, 'StopMidList', 150, { type: 'Warning' });
  await createEvents(admin, web, 'StopMidListFiltered', 150);
  await compactEtcd();
  const env = { EVENTS_TYPES: 'Warning', EVENTS_MAX_IN_FLIGHT: '1' };
  const first = await startForwarder('forwarder-a', env);
  // Bounded: the list publishes one at a time, and at most ARRIVAL_MS pass.
  for (const deadline = Date.now() + ARRIVAL_MS; ((await first.metric('published_total')) ?? 0) < 30 && Date.now() < deadline;) await sleep(20);
  expect(await first.stop()).toBe(0);
  running.splice(0);
  await startForwarder('forwarder-b', env);
  expectExactlyOnce(await eventsOfReason('StopMidList', 150), uids);
});

test('an event too large for the stream is stored cut down, and the events after it follow', async () => {
  const forwarder = await startForwarder('forwarder-a');
  await forwarder.waitForLine(/watching/, 30_000);
  const large = await admin.request('POST', '/api/v1/namespaces/default/events', {
    apiVersion: 'v1', kind: 'Event', metadata: { generateName: 'web-' },
    involvedObject: { kind: 'Deployment', apiVersion: 'apps/v1', namespace: 'default', name: 'web', uid: web.uid },
    reason: 'TooLarge', message: 'x'.repeat(1_100_000), type: 'Warning', source: { component: 'test' },
    firstTimestamp: new Date().toISOString(), lastTimestamp: new Date().toISOString(), count: 1,
  });
  const after = await createEvents(admin, web, 'TooLarge', 3);
  const stored = await eventsOfReason('TooLarge', 4);
  expectExactlyOnce(stored, [large.metadata.uid, ...after]);
  const cut = stored.find((event) => event.body.event.metadata.uid === large.metadata.uid) as StoredEvent;
  expect(cut.body.truncated).toBe(true);
  expect(cut.body.event.note.length).toBeLessThan(1024 * 1024);
  // Only the excess went: the rest of the text is there.
  expect(cut.body.event.note.length).toBeGreaterThan(1_000_000);
});

test('a stored position the API server has not reached (a restored cluster): everything is listed again', async () => {
  const positions = await nc.jetstream().views.kv('forwarder-positions');
  await positions.put('all-namespaces', '999999999');
  const uids = await createEvents(admin, web, 'Ahead', 5);
  const forwarder = await startForwarder('forwarder-a');
  await forwarder.waitForLine(/the stored position 999999999 is ahead of the API server's \d+/, 30_000);
  expectExactlyOnce(await eventsOfReason('Ahead', 5), uids);
});

test('NATS stopped during a burst, then started: nothing lost, the acknowledgements awaited stay bounded', async () => {
  const forwarder = await startForwarder('forwarder-a', { EVENTS_MAX_IN_FLIGHT: '32' });
  await forwarder.waitForLine(/watching/, 30_000);
  const first = await createEvents(admin, web, 'Outage', 100);
  await eventsOfReason('Outage', 100);
  await servers[0].kill();
  const rssBefore = forwarder.rssBytes();
  const during = await createEvents(admin, web, 'Outage', 300);
  await forwarder.waitForLine(/publishing paused/, 30_000);
  const inFlight: number[] = [];
  for (let i = 0; i < 10; i++) {
    inFlight.push((await forwarder.metric('in_flight')) ?? -1);
    await sleep(200);
  }
  expect(Math.max(...inFlight)).toBeLessThanOrEqual(32);
  expect(Math.min(...inFlight)).toBeGreaterThan(0);
  // What was read beyond the window waits in the API server, not in the forwarder.
  expect(forwarder.rssBytes() - rssBefore).toBeLessThan(50 * 1024 * 1024);
  await servers[0].restart();
  await forwarder.waitForLine(/publishing resumed/, ARRIVAL_MS);
  expectExactlyOnce(await eventsOfReason('Outage', 400), [...first, ...during]);
});

test('a granted consumer reads the events back; the forwarder\'s user publishes to its subjects only', async () => {
  const forwarder = await startForwarder('forwarder-a');
  await forwarder.waitForLine(/watching/, 30_000);
  const uids = await createEvents(admin, web, 'Granted', 3, { type: 'Warning' });
  await eventsOfReason('Granted', 3);
  const reader = await connect({ servers: servers[0].url, user: 'reader', pass: secrets.get('users/reader'), inboxPrefix: '_INBOX_reader' });
  try {
    const readerJsm = await reader.jetstreamManager();
    await readerJsm.consumers.add(STREAM, { durable_name: 'incidents', filter_subject: 'k8s.events.*.*.Granted', ack_policy: 'explicit' as any });
    const consumer = await reader.jetstream().consumers.get(STREAM, 'incidents');
    const read: string[] = [];
    for await (const message of await consumer.fetch({ max_messages: 3, expires: 5_000 })) {
      read.push(message.json<any>().event.metadata.uid);
      message.ack();
    }
    expect(read.sort()).toEqual([...uids].sort());
  } finally {
    await reader.close();
  }
  const writer = await connect({ servers: servers[0].url, user: 'forwarder', pass: secrets.get('users/forwarder'), inboxPrefix: '_INBOX_forwarder' });
  const violations: string[] = [];
  const statuses = writer.status();
  const watching = (async () => {
    for await (const status of statuses) {
      if (status.type === Events.Error && status.permissionContext) violations.push(`${status.permissionContext.operation} ${status.permissionContext.subject}`);
    }
  })();
  try {
    const js = writer.jetstream();
    await expect(js.publish('k8s.events.default.Pod.Allowed', 'x')).resolves.toMatchObject({ stream: STREAM });
    writer.publish('orders.created', 'x');
    writer.publish('k8s.other', 'x');
    await writer.flush();
    await sleep(500);
    expect(violations.sort()).toEqual(['publish k8s.other', 'publish orders.created']);
  } finally {
    await writer.close();
    // close() does not end the status iterator; its implementation has stop(), its type does not.
    (statuses as unknown as { stop(): void }).stop();
    await watching;
  }
});

test('its ServiceAccount may list and watch events and get the enriched kinds, and nothing else', async () => {
  const as = `--as=system:serviceaccount:${NAMESPACE}:forwarder`;
  const can = async (...args: string[]) => (await kube.kubectl(['auth', 'can-i', as, ...args], { allowFailure: true })).stdout.trim();
  expect(await can('watch', 'events.events.k8s.io', '--all-namespaces')).toBe('yes');
  expect(await can('get', 'deployments.apps', '-n', 'default')).toBe('yes');
  expect(await can('get', 'nodes')).toBe('yes');
  expect(await can('create', 'events.events.k8s.io', '-n', 'default')).toBe('no');
  expect(await can('get', 'secrets', '-n', NAMESPACE)).toBe('no');
  expect(await can('get', 'configmaps', '-n', 'default')).toBe('no');
  expect(await can('update', 'leases.coordination.k8s.io/forwarder', '-n', NAMESPACE)).toBe('yes');
  expect(await can('update', 'leases.coordination.k8s.io/other', '-n', NAMESPACE)).toBe('no');
});

test('with two replicas one leads; when it is killed the other takes over, and every event is stored once', async () => {
  const a = await startForwarder('forwarder-a');
  const b = await startForwarder('forwarder-b');
  const leading = async () => [await a.metric('leader'), await b.metric('leader')];
  // Bounded: the lease is free or runs out within its duration. Both must answer: one may lead before the other listens.
  const settled = (values: Array<number | undefined>) => values.includes(1) && !values.includes(undefined);
  for (const deadline = Date.now() + 30_000; !settled(await leading()) && Date.now() < deadline;) await sleep(200);
  const [leader, follower] = (await a.metric('leader')) === 1 ? [a, b] : [b, a];
  expect(await follower.metric('leader')).toBe(0);
  const before = await createEvents(admin, web, 'Failover', 100);
  await eventsOfReason('Failover', 100);
  await leader.kill();
  const after = await createEvents(admin, web, 'Failover', 100);
  await follower.waitForLine(/leading/, 40_000);
  expectExactlyOnce(await eventsOfReason('Failover', 200), [...before, ...after]);
});

/** Compacts etcd's history up to now, as the API server does every five minutes: older watch positions are gone. */
async function compactEtcd(): Promise<void> {
  const post = async (route: string, body: unknown) => {
    const response = await fetch(`${kube.etcdUrl}${route}`, { method: 'POST', body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`etcd ${route}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<any>;
  };
  const { header } = await post('/v3/kv/range', { key: Buffer.from('/').toString('base64') });
  await post('/v3/kv/compaction', { revision: header.revision, physical: true });
}
