import { UsageError } from '../../src/apply/cli';
import { parseEventsCli } from '../../src/events/forward-cli';
import { KubernetesEventsApi } from '../../src/events/settings';

const ENV = {
  NATS_URL: 'nats://events:4222', NATS_USER: 'forwarder', NATS_PASSWORD: 'pw', NATS_INBOX_PREFIX: '_INBOX_forwarder',
  EVENTS_SUBJECT_PREFIX: 'k8s.events', EVENTS_RESUME_BUCKET: 'forwarder-positions',
  KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443',
};

describe('events forward: its settings', () => {
  test('what a pod gives it, with every default', () => {
    expect(parseEventsCli(['forward'], ENV)).toEqual({
      server: 'nats://events:4222',
      auth: { user: 'forwarder', password: 'pw', token: undefined, caFile: undefined },
      inboxPrefix: '_INBOX_forwarder',
      api: KubernetesEventsApi.EVENTS_V1,
      subjectPrefix: 'k8s.events',
      namespaces: [],
      filter: { types: [], reasons: [], involvedKinds: [] },
      enrich: [],
      resumeBucket: 'forwarder-positions',
      lease: undefined,
      maxInFlight: 256,
      maxMessageBytes: 1024 * 1024 - 512,
      http: { host: '::', port: 8080 },
      kube: { server: 'https://10.0.0.1:443', tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token', caFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt' },
    });
  });

  test('lists, a lease, another API server and listen address', () => {
    const options = parseEventsCli(['forward'], {
      ...ENV, EVENTS_NAMESPACES: 'shop, payments,shop', EVENTS_TYPES: 'Warning', EVENTS_LEASE: 'forwarder', POD_NAME: 'forwarder-1', POD_NAMESPACE: 'obs',
      EVENTS_HTTP_LISTEN: '[::1]:9000', KUBERNETES_API_URL: 'https://127.0.0.1:6443/', EVENTS_API: 'v1',
      EVENTS_ENRICH: '[{"kind":"Pod","group":"","version":"v1","resource":"pods","namespaced":true}]',
    });
    expect(options).toMatchObject({
      namespaces: ['payments', 'shop'], filter: { types: ['Warning'] }, lease: { name: 'forwarder', namespace: 'obs', identity: 'forwarder-1' },
      http: { host: '::1', port: 9000 }, kube: { server: 'https://127.0.0.1:6443' }, api: KubernetesEventsApi.CORE_V1,
      enrich: [{ kind: 'Pod', group: '', version: 'v1', resource: 'pods', namespaced: true }],
    });
    expect(parseEventsCli(['forward'], { ...ENV, EVENTS_HTTP_LISTEN: 'off' })).toMatchObject({ http: undefined });
    expect(parseEventsCli(['--help'], {})).toEqual({ help: true });
  });

  test.each([
    [['forward'], { EVENTS_SUBJECT_PREFIX: undefined }, 'EVENTS_SUBJECT_PREFIX is required'],
    [['forward'], { EVENTS_SUBJECT_PREFIX: 'k8s.>' }, 'EVENTS_SUBJECT_PREFIX "k8s.>" must not contain wildcards'],
    [['forward'], { EVENTS_SUBJECT_PREFIX: 'k8s..events' }, 'EVENTS_SUBJECT_PREFIX "k8s..events" has an empty token'],
    [['forward'], { EVENTS_RESUME_BUCKET: undefined }, 'EVENTS_RESUME_BUCKET is required'],
    [['forward'], { NATS_URL: undefined }, 'NATS_URL is required'],
    [['forward'], { EVENTS_API: 'v2' }, 'EVENTS_API "v2" must be events.k8s.io/v1 or v1'],
    [['forward'], { EVENTS_ENRICH: '[{"kind":"Pod"}]' }, 'EVENTS_ENRICH [{"kind":"Pod"}] must be a JSON list of {kind, group, version, resource, namespaced}'],
    [['forward'], { EVENTS_ENRICH: 'Pod' }, 'EVENTS_ENRICH is not JSON: it must be a JSON list of {kind, group, version, resource, namespaced}'],
    [['forward'], { EVENTS_LEASE: 'forwarder' }, 'EVENTS_LEASE needs POD_NAME and POD_NAMESPACE: who competes for the lease, and where it is'],
    [['forward'], { EVENTS_MAX_IN_FLIGHT: '0' }, 'EVENTS_MAX_IN_FLIGHT "0" must be a whole number from 1 to 65536'],
    [['forward'], { EVENTS_MAX_MESSAGE_BYTES: '1000' }, 'EVENTS_MAX_MESSAGE_BYTES "1000" must be a whole number from 2048 to 67108864'],
    [['forward'], { EVENTS_HTTP_LISTEN: '8080' }, 'EVENTS_HTTP_LISTEN "8080" must be host:port, or "off"'],
    [['forward'], { KUBERNETES_SERVICE_HOST: undefined }, 'no API server: set KUBERNETES_API_URL, or run in a pod (KUBERNETES_SERVICE_HOST)'],
    [[], {}, 'expected the command forward; got none'],
    [['forward', 'now'], {}, 'expected the command forward; got "forward" "now"'],
  ])('%j with %j fails: %s', (args, overrides, message) => {
    expect(() => parseEventsCli(args, { ...ENV, ...overrides })).toThrow(new UsageError(message));
  });
});
