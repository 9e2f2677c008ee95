import { eventMessage, eventSubject, eventView, involvedMetadata, passesFilter, subjectToken } from '../../src/events/event-message';
import { objectPath } from '../../src/events/involved-objects';
import { KubernetesEventsApi, WELL_KNOWN_KINDS } from '../../src/events/settings';

const V1_EVENT = {
  metadata: { name: 'web.1', namespace: 'shop', uid: 'u-1', resourceVersion: '42', managedFields: [{ manager: 'kubelet' }], creationTimestamp: '2026-12-06T07:00:00Z' },
  eventTime: '2026-12-06T07:00:01.000000Z',
  reason: 'BackOff', type: 'Warning', note: 'Back-off restarting failed container',
  regarding: { kind: 'Pod', namespace: 'shop', name: 'web-7d9', uid: 'p-1', apiVersion: 'v1' },
};
const CORE_EVENT = {
  metadata: { name: 'node.1', namespace: 'default', uid: 'u-2', resourceVersion: '43' },
  involvedObject: { kind: 'Node', name: 'worker-1', uid: 'n-1' },
  reason: 'NodeNotReady', type: 'Normal', count: 3,
  firstTimestamp: '2026-12-06T06:00:00Z', lastTimestamp: '2026-12-06T07:00:02Z',
};

describe('event messages', () => {
  test('read both APIs into the fields they are routed by, the latest time first', () => {
    expect(eventView(KubernetesEventsApi.EVENTS_V1, V1_EVENT)).toEqual({
      uid: 'u-1', resourceVersion: '42', namespace: 'shop', type: 'Warning', reason: 'BackOff',
      involved: V1_EVENT.regarding, lastSeenMs: Date.parse('2026-12-06T07:00:01Z'),
    });
    expect(eventView(KubernetesEventsApi.CORE_V1, CORE_EVENT)).toMatchObject({
      uid: 'u-2', namespace: 'default', involved: { kind: 'Node', name: 'worker-1' }, lastSeenMs: Date.parse('2026-12-06T07:00:02Z'),
    });
  });

  test.each([
    ['BackOff', 'BackOff'],
    ['', '_'],
    ['a.b', 'a_b'],
    ['*', '_'],
    ['>', '_'],
    ['Failed Mount', 'Failed_Mount'],
    ['üml', '_ml'],
    ['kube-system', 'kube-system'],
  ])('subject token of %j is %j', (value, token) => {
    expect(subjectToken(value)).toBe(token);
  });

  test('subjects are <prefix>.<namespace>.<involved kind>.<reason>, four tokens whatever the values', () => {
    expect(eventSubject('k8s.events', eventView(KubernetesEventsApi.EVENTS_V1, V1_EVENT))).toBe('k8s.events.shop.Pod.BackOff');
    expect(eventSubject('k8s', eventView(KubernetesEventsApi.CORE_V1, { metadata: {}, reason: 'x.y' }))).toBe('k8s._._.x_y');
  });

  test('a message carries the event without managed fields, its kind, the involved object with its labels, and a schema version', () => {
    const message = eventMessage('k8s.events', KubernetesEventsApi.EVENTS_V1, V1_EVENT, { labels: { app: 'web' }, annotations: {} });
    expect(message.msgId).toBe('k8s.events:u-1:42');
    const body = JSON.parse(new TextDecoder().decode(message.body));
    expect(body).toEqual({
      schemaVersion: 1,
      api: 'events.k8s.io/v1',
      event: { ...V1_EVENT, apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'web.1', namespace: 'shop', uid: 'u-1', resourceVersion: '42', creationTimestamp: '2026-12-06T07:00:00Z' } },
      involvedObject: { ...V1_EVENT.regarding, labels: { app: 'web' }, annotations: {} },
    });
    const unenriched = JSON.parse(new TextDecoder().decode(eventMessage('k8s', KubernetesEventsApi.CORE_V1, CORE_EVENT, undefined).body));
    expect(unenriched.involvedObject).toEqual(CORE_EVENT.involvedObject);
  });

  test('a body over the budget is cut down until it fits, and says so: annotations, then the text, then all but what identifies it', () => {
    const labels = { labels: { app: 'web' }, annotations: { note: 'x'.repeat(3_000) } };
    const decode = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes));
    const full = eventMessage('k8s', KubernetesEventsApi.EVENTS_V1, V1_EVENT, labels);
    expect(decode(full.body).truncated).toBeUndefined();
    const noAnnotations = eventMessage('k8s', KubernetesEventsApi.EVENTS_V1, V1_EVENT, labels, 2_048);
    expect(noAnnotations.body.length).toBeLessThanOrEqual(2_048);
    expect(decode(noAnnotations.body)).toMatchObject({ truncated: true, event: { note: V1_EVENT.note }, involvedObject: { labels: { app: 'web' }, annotations: {} } });
    const long = { ...CORE_EVENT, message: 'y'.repeat(100_000) };
    const shortened = eventMessage('k8s', KubernetesEventsApi.CORE_V1, long, undefined, 4_096);
    expect(shortened.body.length).toBeLessThanOrEqual(4_096);
    expect(decode(shortened.body)).toMatchObject({ truncated: true, event: { reason: 'NodeNotReady', message: expect.stringMatching(/^y{3000,}$/) } });
    const essentials = eventMessage('k8s', KubernetesEventsApi.CORE_V1, { ...long, related: { name: 'z'.repeat(5_000) } }, undefined, 2_048);
    expect(decode(essentials.body)).toEqual({
      schemaVersion: 1, api: 'v1', truncated: true,
      event: { apiVersion: 'v1', kind: 'Event', type: 'Normal', reason: 'NodeNotReady', metadata: { name: 'node.1', namespace: 'default', uid: 'u-2', resourceVersion: '43' } },
      involvedObject: CORE_EVENT.involvedObject,
    });
    expect([shortened.msgId, essentials.subject]).toEqual(['k8s:u-2:43', 'k8s.default.Node.NodeNotReady']);
  });

  test('the same event at the same resourceVersion is the same message id; a newer one is another', () => {
    const again = eventMessage('k8s', KubernetesEventsApi.EVENTS_V1, V1_EVENT, undefined);
    const updated = eventMessage('k8s', KubernetesEventsApi.EVENTS_V1, { ...V1_EVENT, metadata: { ...V1_EVENT.metadata, resourceVersion: '50' } }, undefined);
    expect([again.msgId, updated.msgId]).toEqual(['k8s:u-1:42', 'k8s:u-1:50']);
    // Another forwarder's prefix on the same stream: not its duplicate.
    expect(eventMessage('k8s.warnings', KubernetesEventsApi.EVENTS_V1, V1_EVENT, undefined).msgId).toBe('k8s.warnings:u-1:42');
  });

  test('filters: an empty list lets every value through; all lists must agree', () => {
    const event = eventView(KubernetesEventsApi.EVENTS_V1, V1_EVENT);
    expect(passesFilter(event, { types: [], reasons: [], involvedKinds: [] })).toBe(true);
    expect(passesFilter(event, { types: ['Warning'], reasons: ['BackOff', 'Failed'], involvedKinds: ['Pod'] })).toBe(true);
    expect(passesFilter(event, { types: ['Normal'], reasons: [], involvedKinds: [] })).toBe(false);
    expect(passesFilter(event, { types: [], reasons: [], involvedKinds: ['Node'] })).toBe(false);
  });

  test('labels and annotations, without kubectl\'s copy of the whole object', () => {
    expect(involvedMetadata({ metadata: { labels: { a: '1' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{...}', b: '2' } } }))
      .toEqual({ labels: { a: '1' }, annotations: { b: '2' } });
    expect(involvedMetadata({ metadata: {} })).toEqual({ labels: {}, annotations: {} });
  });

  test('an involved object\'s URL path, for the enriched kinds only', () => {
    const kinds = new Map(Object.values(WELL_KNOWN_KINDS).map((kind) => [kind.kind, kind]));
    expect(objectPath(kinds, { kind: 'Pod', namespace: 'shop', name: 'web-1' })).toBe('/api/v1/namespaces/shop/pods/web-1');
    expect(objectPath(kinds, { kind: 'Deployment', namespace: 'shop', name: 'web' })).toBe('/apis/apps/v1/namespaces/shop/deployments/web');
    expect(objectPath(kinds, { kind: 'Node', name: 'worker-1' })).toBe('/api/v1/nodes/worker-1');
    expect(objectPath(kinds, { kind: 'Widget', namespace: 'shop', name: 'w' })).toBeUndefined();
    expect(objectPath(kinds, { kind: 'Pod', name: 'no-namespace' })).toBeUndefined();
    expect(objectPath(kinds, { kind: 'Job', apiVersion: 'batch/v1', namespace: 'ci', name: 'build' })).toBe('/apis/batch/v1/namespaces/ci/jobs/build');
    // Another group's kind of the same name is not batch's.
    expect(objectPath(kinds, { kind: 'Job', apiVersion: 'example.com/v1', namespace: 'ci', name: 'build' })).toBeUndefined();
  });
});
