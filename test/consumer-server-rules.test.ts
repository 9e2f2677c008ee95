/**
 * Synth's consumer rules against the real nats-server of every release: for each case, synth refuses
 * exactly what the server refuses (in the server's words), and what both accept, the server stores as
 * sent. Cases whose verdict changed between releases say so.
 */
import { NatsConnection, connect } from 'nats';
import { diffConsumerConfig } from '../src/apply/diff';
import { normalizeServerConsumerConfig } from '../src/apply/normalize';
import { resolveConsumer } from '../src/consumer-definition';
import { AckPolicy, ConsumerOptions, DeliverPolicy, JetStreamConsumerConfig, PriorityPolicy, ReplayPolicy } from '../src/consumer-options';
import { streamConsumersProblems } from '../src/consumer-rules';
import { Retention, StreamOptions, StreamPolicy, resolveStream, toJetStreamConfig } from '../src/stream-definition';
import { NatsServerVersion, consumerFieldsNewerThan } from '../src/versions';
import { NATS_SERVER_RELEASES, NatsServerHandle, NatsServerRelease, startNatsServer, stopAll, versionOf } from './support/nats-server';

/** The streams the cases declare consumers on. */
const STREAMS: Record<string, StreamOptions> = {
  plain: { subjects: ['plain.>'] },
  queue: { subjects: ['queue.>'], retention: Retention.WORK_QUEUE },
  limited: { subjects: ['limited.>'], consumerLimits: { maxAckPending: 100, inactiveThreshold: '1h' } },
  split: { subjects: ['split.a.>', 'split.b'] },
};

/**
 * The server's words when it refuses; `storesOtherwise` when it takes the consumer but stores a field
 * otherwise than sent; `accepts` with synth's reason where synth is stricter than the release.
 */
type Verdict = string | { storesOtherwise: string } | { accepts: string } | undefined;
type ConsumerCase = [what: string, stream: keyof typeof STREAMS, options: ConsumerOptions, server?: Verdict | ((version: NatsServerVersion) => Verdict)];

const since210 = (refusal: string) => (version: NatsServerVersion): Verdict => (version.atLeast('2.10.0') ? undefined : refusal);

const CASES: readonly ConsumerCase[] = [
  ['every default', 'plain', {}],
  ['a push consumer with flow control, heartbeats, a group and a rate', 'plain', {
    deliverSubject: 'out.push', flowControl: true, idleHeartbeat: '5s', deliverGroup: 'workers', rateLimit: 1_000_000,
  }],
  ['every pull setting', 'plain', {
    description: 'all of it', ackWait: '45s', maxDeliver: 5, filterSubjects: ['plain.a.>'], replayPolicy: ReplayPolicy.ORIGINAL, sampleFrequency: 50,
    maxWaiting: 100, maxAckPending: 20, maxBatch: 10, maxExpires: '30s', maxBytes: '1Mi', inactiveThreshold: '1h', headersOnly: true, memoryStorage: true,
  }],
  ['a start sequence', 'plain', { deliverPolicy: DeliverPolicy.BY_START_SEQUENCE, startSequence: 10 }],
  ['a start time', 'plain', { deliverPolicy: DeliverPolicy.BY_START_TIME, startTime: '2026-01-01T00:00:00Z' }],
  ['backoff with fewer waits than deliveries', 'plain', { backoff: ['1s', '5s'], maxDeliver: 3 }],
  ['backoff with as many waits as deliveries', 'plain', { backoff: ['1s', '5s'], maxDeliver: 2 }, since210('max deliver is required to be > length of backoff values')],
  ['backoff with unlimited deliveries', 'plain', { backoff: ['1s'] }, since210('max deliver is required to be > length of backoff values')],
  ['backoff with more waits than deliveries', 'plain', { backoff: ['1s', '2s', '3s'], maxDeliver: 2 }, 'max deliver is required to be > length of backoff values'],
  ['an ack wait other than the first backoff wait', 'plain', { backoff: ['1s'], ackWait: '5s', maxDeliver: 3 }, { storesOtherwise: 'ack_wait' }],
  // From 2.10 the server takes a filter that matches nothing the stream holds; synth keeps refusing it, as it delivers nothing.
  ['a filter outside the stream\'s subjects', 'plain', { filterSubjects: ['elsewhere.>'] }, (version) => (version.atLeast('2.10.0')
    ? { accepts: 'a filter matching none of the stream\'s subjects delivers nothing' } : 'consumer filter subject is not a valid subset of the interest subjects')],
  ['filters inside each other', 'plain', { filterSubjects: ['plain.>', 'plain.a'] }, 'consumer subject filters cannot overlap'],
  ['filters that cross without either holding the other', 'plain', { filterSubjects: ['plain.*.x', 'plain.a.*'] },
    (version) => (version.atLeast('2.12.0') ? undefined : 'consumer subject filters cannot overlap')],
  ['a start sequence without its policy', 'plain', { startSequence: 5 }, 'consumer delivery policy is deliver all, but optional start sequence is also set'],
  ['the start time policy without a time', 'plain', { deliverPolicy: DeliverPolicy.BY_START_TIME }, 'consumer delivery policy is deliver by start time, but optional start time is not set'],
  ['max waiting on a push consumer', 'plain', { deliverSubject: 'out.waiting', maxWaiting: 10 }, 'consumer in push mode can not set max waiting'],
  ['a heartbeat on a pull consumer', 'plain', { idleHeartbeat: '5s' }, 'consumer idle heartbeat requires a push based consumer'],
  ['flow control on a pull consumer', 'plain', { flowControl: true }, 'consumer flow control requires a push based consumer'],
  ['flow control without heartbeats', 'plain', { deliverSubject: 'out.fc', flowControl: true }, 'consumer with flow control also needs heartbeats'],
  ['a rate limit on a pull consumer', 'plain', { rateLimit: 1000 }, 'consumer in pull mode can not have rate limit set'],
  ['a deliver subject the stream captures', 'plain', { deliverSubject: 'plain.loop' }, 'consumer deliver subject forms a cycle'],
  ['a deliver subject with a wildcard', 'plain', { deliverSubject: 'out.*' }, 'consumer deliver subject has wildcards'],
  // A single server: it refuses before it compares with the stream.
  ['more replicas than the stream', 'plain', { replicas: 3 }, 'replicas > 1 not supported in non-clustered mode'],
  ['no acknowledgements on a work queue', 'queue', { ackPolicy: AckPolicy.NONE }, 'consumer in pull mode requires'],
  ['acknowledging all on a work queue', 'queue', { ackPolicy: AckPolicy.ALL }, 'workqueue stream requires explicit ack'],
  ['the last message per subject without filters', 'plain', { deliverPolicy: DeliverPolicy.LAST_PER_SUBJECT },
    'consumer delivery policy is deliver last per subject, but optional filter subject is not set'],
  ['the last message per subject of its filters', 'plain', { deliverPolicy: DeliverPolicy.LAST_PER_SUBJECT, filterSubjects: ['plain.>'] }],
  // 2.9 wants a filter inside one subject of the stream; from 2.10, overlapping the subjects is enough.
  ['a filter across two of the stream\'s subjects', 'split', { filterSubjects: ['split.*.x'] },
    (version) => (version.atLeast('2.10.0') ? undefined : 'consumer filter subject is not a valid subset of the interest subjects')],
  ['deliver new on a work queue', 'queue', { deliverPolicy: DeliverPolicy.NEW }, 'consumer must be deliver all on workqueue stream'],
  ['more pending acknowledgements than the stream allows', 'limited', { maxAckPending: 500 }, 'consumer max ack pending exceeds system limit of 100'],
  ['a longer inactive threshold than the stream allows', 'limited', { inactiveThreshold: '2h' }, 'consumer inactive threshold exceeds system limit of 1h0m0s'],
  ['the stream\'s consumer limits as defaults', 'limited', {}],
  ['priority groups with a policy', 'plain', { priorityGroups: ['jobs'], priorityPolicy: PriorityPolicy.OVERFLOW }],
  ['a pinned client with its time', 'plain', { priorityGroups: ['jobs'], priorityPolicy: PriorityPolicy.PINNED_CLIENT, pinnedTtl: '30s' }],
  // 2.11 takes groups without a policy, which mean nothing there; synth refuses them on every release.
  ['priority groups without a policy', 'plain', { priorityGroups: ['jobs'] }, (version) => (version.atLeast('2.12.0')
    ? 'consumer can not have priority groups when policy is none' : { accepts: 'priority groups need a policy' })],
  ['a group name the server refuses', 'plain', { priorityGroups: ['a group'], priorityPolicy: PriorityPolicy.OVERFLOW }, 'Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters'],
  ['prioritized clients', 'plain', { priorityGroups: ['jobs'], priorityPolicy: PriorityPolicy.PRIORITIZED }],
  ['a pause', 'plain', { pauseUntil: '2030-01-01T00:00:00Z' }],
  ['metadata', 'plain', { metadata: { team: 'audit' } }],
];

afterAll(async () => {
  await stopAll();
});

describe.each(NATS_SERVER_RELEASES)('consumer rules on nats-server %s', (release: NatsServerRelease) => {
  const version = versionOf(release);
  const policy: StreamPolicy = { storeName: 'rules', replicas: 1, version, maxPayloadBytes: 1024 * 1024, defaults: {}, limits: {} };
  const streams = Object.fromEntries(Object.entries(STREAMS).map(([name, options]) => [name, resolveStream(options, name, policy).value]));
  let server: NatsServerHandle;
  let nc: NatsConnection;

  async function api(subject: string, body: unknown): Promise<{ error?: { description: string }; config?: Record<string, unknown> }> {
    const reply = await nc.request(subject, JSON.stringify(body), { timeout: 5_000 });
    return JSON.parse(new TextDecoder().decode(reply.data));
  }

  beforeAll(async () => {
    server = await startNatsServer({ release });
    nc = await connect({ servers: server.url });
    for (const definition of Object.values(streams)) {
      // Consumer limits are a 2.10 field: older servers get the stream without them (their cases then are about 2.10).
      const config = version.atLeast('2.10.0') ? toJetStreamConfig(definition) : { ...toJetStreamConfig(definition), consumer_limits: undefined };
      expect((await api(`$JS.API.STREAM.CREATE.${definition.name}`, config)).error).toBeUndefined();
    }
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  /** The server's verdict on a consumer: its error, or the configuration it stored (then deleted). */
  async function serverVerdict(stream: string, config: JetStreamConsumerConfig) {
    const answer = await api(`$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${config.durable_name}`, { stream_name: stream, config });
    if (answer.error) return { error: answer.error.description };
    await api(`$JS.API.CONSUMER.DELETE.${stream}.${config.durable_name}`, {});
    return { stored: answer.config ?? {} };
  }

  test.each(CASES.map(([what, stream, options, verdict], i) => ({ what, stream, options, verdict, i })))('$what', async ({ stream, options, verdict, i }) => {
    if (stream === 'limited' && !version.atLeast('2.10.0')) return;
    const expected = typeof verdict === 'function' ? verdict(version) : verdict;
    const resolved = resolveConsumer(options, `c${i}`, streams[stream], version);
    const problems = resolved.problems.map((p) => `${p.field}: ${p.rule}`);
    const { config } = resolved.value;
    const { error, stored } = await serverVerdict(streams[stream].name, config);
    const tooNew = consumerFieldsNewerThan(config, version.version);
    if (tooNew.length > 0 || (config.priority_policy === 'prioritized' && !version.atLeast('2.12.0'))) {
      // A field (or value) the release does not know: synth says which release it needs; the server refuses it or drops it.
      expect(problems.some((p) => /needs NATS server \S+ or newer/.test(p))).toBe(true);
      const kept = stored ? diffConsumerConfig(config, normalizeServerConsumerConfig(stored)).map((c) => c.field) : [];
      expect(error !== undefined || kept.length > 0).toBe(true);
    } else if (typeof expected === 'object' && 'accepts' in expected) {
      expect({ synth: problems.length > 0 ? 'refuses' : 'accepts', error }).toEqual({ synth: 'refuses', error: undefined });
    } else if (typeof expected === 'object') {
      expect({ synth: problems.length > 0 ? 'refuses' : 'accepts', error, stored: diffConsumerConfig(config, normalizeServerConsumerConfig(stored ?? {})).map((c) => c.field) })
        .toEqual({ synth: 'refuses', error: undefined, stored: [expected.storesOtherwise] });
    } else if (expected !== undefined) {
      expect({ synth: problems.length > 0 ? 'refuses' : 'accepts', error }).toEqual({ synth: 'refuses', error: expect.stringContaining(expected) });
    } else {
      expect({ problems, error }).toEqual({ problems: [], error: undefined });
      // What both accept, the server stores as sent: a second run finds nothing to change.
      expect(diffConsumerConfig(config, normalizeServerConsumerConfig(stored ?? {}))).toEqual([]);
    }
  });

  test('on a work queue, a second consumer on subjects the first takes: refused (2.9.10 takes filters that cross; synth refuses them on every release)', async () => {
    const [first, second] = [
      resolveConsumer({ filterSubjects: ['queue.eu.>'] }, 'eu', streams.queue, version).value,
      resolveConsumer({ filterSubjects: ['queue.*.orders'] }, 'orders', streams.queue, version).value,
    ];
    expect(streamConsumersProblems(streams.queue, [first, second]).map((p) => p.rule)).toEqual([
      'overlaps the filters of consumer "eu" (consumers[0]): a work queue gives each subject to one consumer',
    ]);
    expect((await api(`$JS.API.CONSUMER.DURABLE.CREATE.queue.eu`, { stream_name: 'queue', config: first.config })).error).toBeUndefined();
    const answer = await api(`$JS.API.CONSUMER.DURABLE.CREATE.queue.orders`, { stream_name: 'queue', config: second.config });
    if (version.atLeast('2.10.0')) expect(answer.error?.description).toContain('filtered consumer not unique on workqueue stream');
    else expect(answer.error).toBeUndefined();
  });
});
