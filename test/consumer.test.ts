import { Chart, Testing } from 'cdk8s';
import { Consumer } from '../src/consumer';
import { AckPolicy, ConsumerOptions, DeliverPolicy, PriorityPolicy, ReplayPolicy } from '../src/consumer-options';
import { Retention, StreamOptions } from '../src/stream-definition';
import { StreamStore, StreamStoreProps } from '../src/stream-store';
import { NatsServerVersion } from '../src/versions';
import { declaredStreams } from './support/streams-document';
import { validationErrors } from './support/validation-errors';

const SECOND_NS = 1_000_000_000;

function storeWith(storeProps: StreamStoreProps = {}, streamOptions: StreamOptions = { subjects: ['orders.>'] }) {
  const chart = new Chart(Testing.app(), 'test');
  const store = new StreamStore(chart, 'events', storeProps);
  const stream = store.addStream('orders', streamOptions);
  return { chart, store, stream };
}

/** The synth errors of one consumer `options` on stream `orders` (subjects `orders.>` unless given). */
function consumerErrors(options: ConsumerOptions, streamOptions?: StreamOptions, storeProps?: StreamStoreProps): string[] {
  const { chart, stream } = storeWith(storeProps, streamOptions);
  stream.addConsumer('auditor', options);
  return validationErrors(() => Testing.synth(chart));
}

const PREFIX = '[test/events/orders/auditor] consumer "auditor" of stream "orders":';

describe('Consumer defaults', () => {
  test('a pull consumer with no props gets every default the server would fill in, written into its stream\'s entry', () => {
    const { chart, stream } = storeWith();
    const consumer = stream.addConsumer('auditor');
    expect(consumer.definition.config).toEqual({
      durable_name: 'auditor', deliver_policy: 'all', ack_policy: 'explicit', ack_wait: 30 * SECOND_NS, max_deliver: -1,
      replay_policy: 'instant', max_waiting: 512, max_ack_pending: 1000, num_replicas: 0,
    });
    const [entry] = declaredStreams(Testing.synth(chart), 'events').streams;
    expect(entry.consumers).toEqual([{ retentionPolicy: 'Retain', adopt: false, config: consumer.definition.config }]);
  });

  test('the document writes durations as Go durations, one field a line, consumers sorted by name', () => {
    const { chart, stream } = storeWith();
    stream.addConsumer('zeta', { backoff: ['1s', '5s'], maxDeliver: 3 });
    new Consumer(chart, 'alpha', { stream, filterSubjects: ['orders.eu.>'], inactiveThreshold: '1h' });
    const text = Testing.synth(chart).find((o) => o.metadata.name === 'events-streams').data['streams.json'];
    expect(text).toContain('"consumers": [');
    expect(text.indexOf('"durable_name": "alpha"')).toBeLessThan(text.indexOf('"durable_name": "zeta"'));
    expect(text).toContain('"backoff": ["1s", "5s"]');
    expect(text).toContain('"inactive_threshold": "1h"');
    expect(text).toContain('"ack_wait": "1s"');
  });

  test('a push consumer: no max waiting, its deliver subject and flow control', () => {
    const { stream } = storeWith();
    const consumer = stream.addConsumer('mirror', { deliverSubject: 'deliver.mirror', flowControl: true, idleHeartbeat: '5s', deliverGroup: 'workers' });
    expect(consumer.definition.config).toEqual({
      durable_name: 'mirror', deliver_policy: 'all', ack_policy: 'explicit', ack_wait: 30 * SECOND_NS, max_deliver: -1,
      replay_policy: 'instant', max_ack_pending: 1000, num_replicas: 0, deliver_subject: 'deliver.mirror', deliver_group: 'workers',
      flow_control: true, idle_heartbeat: 5 * SECOND_NS,
    });
  });

  test('takes the stream\'s consumer limits as its defaults, and no ack wait or pending limit without acks', () => {
    const { stream } = storeWith({}, { subjects: ['orders.>'], consumerLimits: { inactiveThreshold: '10m', maxAckPending: 50 } });
    expect(stream.addConsumer('a').definition.config).toMatchObject({ inactive_threshold: 600 * SECOND_NS, max_ack_pending: 50 });
    const none = stream.addConsumer('b', { ackPolicy: AckPolicy.NONE }).definition.config;
    expect([none.ack_wait, none.max_ack_pending]).toEqual([undefined, 50]);
    const plain = storeWith().stream.addConsumer('c', { ackPolicy: AckPolicy.NONE }).definition.config;
    expect([plain.ack_wait, plain.max_ack_pending]).toEqual([undefined, undefined]);
  });

  test('the ack wait is the first backoff entry, and a pinned client gets the server\'s 2m pin', () => {
    const { stream } = storeWith();
    expect(stream.addConsumer('a', { backoff: ['2s', '10s'], maxDeliver: 5 }).definition.config.ack_wait).toBe(2 * SECOND_NS);
    expect(stream.addConsumer('b', { priorityGroups: ['jobs'], priorityPolicy: PriorityPolicy.PINNED_CLIENT }).definition.config)
      .toMatchObject({ priority_groups: ['jobs'], priority_policy: 'pinned_client', priority_timeout: 120 * SECOND_NS });
  });

  test('one filter subject goes where every release reads it, several in the 2.10 list', () => {
    const { stream } = storeWith();
    expect(stream.addConsumer('a', { filterSubjects: ['orders.eu.>'] }).definition.config).toMatchObject({ filter_subject: 'orders.eu.>' });
    const several = stream.addConsumer('b', { filterSubjects: ['orders.eu.>', 'orders.us.>'] }).definition.config;
    expect([several.filter_subject, several.filter_subjects]).toEqual([undefined, ['orders.eu.>', 'orders.us.>']]);
  });
});

describe('Consumer validation', () => {
  test('reports every error at once, each naming the consumer, the prop, the value and the rule', () => {
    expect(consumerErrors({
      name: 'audit.v2', startSequence: 5, ackPolicy: AckPolicy.NONE, ackWait: '10s', filterSubjects: ['payments.>'], replicas: 3, sampleFrequency: 150,
    })).toEqual([
      `${PREFIX.replace('"auditor" of', '"audit.v2" of')} sampleFrequency 150 must be <= 100`,
      `${PREFIX.replace('"auditor" of', '"audit.v2" of')} name "audit.v2" must not contain "."`,
      `${PREFIX.replace('"auditor" of', '"audit.v2" of')} startSequence 5 needs deliverPolicy "by_start_sequence", not "all"`,
      `${PREFIX.replace('"auditor" of', '"audit.v2" of')} ackWait "10s" needs acknowledgements: ackPolicy is "none"`,
      `${PREFIX.replace('"auditor" of', '"audit.v2" of')} filterSubjects[0] "payments.>" matches none of the subjects of stream "orders" (orders.>)`,
      `${PREFIX.replace('"auditor" of', '"audit.v2" of')} replicas 3 exceeds the 1 replica(s) of stream "orders"`,
    ]);
  });

  test.each<[string, ConsumerOptions, string]>([
    ['a start time without its policy', { startTime: '2026-01-01T00:00:00Z' }, 'startTime "2026-01-01T00:00:00Z" needs deliverPolicy "by_start_time", not "all"'],
    ['a policy without its start time', { deliverPolicy: DeliverPolicy.BY_START_TIME }, 'deliverPolicy "by_start_time" needs startTime'],
    ['a start time that is no time', { deliverPolicy: DeliverPolicy.BY_START_TIME, startTime: 'yesterday' }, 'startTime "yesterday" must be an RFC 3339 time such as "2026-01-01T00:00:00Z"'],
    ['more waits than deliveries', { backoff: ['1s', '2s', '3s'], maxDeliver: 2 }, 'backoff [1s, 2s, 3s] has 3 entries, more than maxDeliver 2 allows'],
    ['an ack wait other than the first wait', { backoff: ['1s'], ackWait: '5s' }, 'ackWait 5s must be unset or the first backoff entry 1s: the server sets it so'],
    ['a zero wait', { backoff: ['0s'] }, 'backoff[0] 0s must be longer than 0'],
    ['overlapping filters', { filterSubjects: ['orders.>', 'orders.eu.>'] }, 'filterSubjects[1] "orders.eu.>" overlaps filterSubjects[0] "orders.>": the server refuses overlapping filters'],
    ['an invalid filter', { filterSubjects: ['orders..x'] }, 'filterSubjects[0] "orders..x" has an empty token'],
    ['a pull prop on a push consumer', { deliverSubject: 'out.audit', maxWaiting: 10 }, 'maxWaiting 10 is for pull consumers; deliverSubject makes this a push consumer'],
    ['a push prop on a pull consumer', { idleHeartbeat: '5s' }, 'idleHeartbeat "5s" is for push consumers: set deliverSubject'],
    ['flow control without heartbeats', { deliverSubject: 'out.audit', flowControl: true }, 'flowControl true needs idleHeartbeat'],
    ['a deliver subject the stream captures', { deliverSubject: 'orders.audit' }, 'deliverSubject "orders.audit" is captured by the stream\'s subject "orders.>": deliveries would be stored again'],
    ['a deliver subject with wildcards', { deliverSubject: 'out.*' }, 'deliverSubject "out.*" must not have wildcards'],
    ['a deliver subject of the server', { deliverSubject: '$JS.API.out' }, 'deliverSubject "$JS.API.out" is a subject the server reserves ($JS. $JSC. $NRG. $SYS. $GR. $GNR.)'],
    ['a priority policy without groups', { priorityPolicy: PriorityPolicy.OVERFLOW }, 'priorityPolicy "overflow" needs priorityGroups'],
    ['a bad group name', { priorityGroups: ['a group'], priorityPolicy: PriorityPolicy.OVERFLOW }, 'priorityGroups[0] "a group" must be 1 to 16 letters, digits, "/", "_", "=" or "-"'],
    ['a pin time without pinning', { priorityGroups: ['g'], priorityPolicy: PriorityPolicy.OVERFLOW, pinnedTtl: '1m' }, 'pinnedTtl "1m" needs priorityPolicy "pinned_client"'],
    ['an unknown prop', { durable: 'x' } as ConsumerOptions, 'durable "x" is not a known property'],
  ])('fails on %s', (_, options, error) => {
    expect(consumerErrors(options)).toEqual([`${PREFIX} ${error}`]);
  });

  test('fails on a consumer limit of the stream exceeded, and on replicas other than an interest stream\'s', () => {
    const stream: StreamOptions = { subjects: ['orders.>'], retention: Retention.INTEREST, replicas: 3, consumerLimits: { maxAckPending: 100, inactiveThreshold: '1h' } };
    expect(consumerErrors({ maxAckPending: 500, inactiveThreshold: '2h', replicas: 1 }, stream, { replicas: 3 })).toEqual([
      `${PREFIX} replicas 1 must be the 3 replica(s) of stream "orders", whose retention is "interest"`,
      `${PREFIX} maxAckPending 500 exceeds the consumer limit 100 of stream "orders"`,
      `${PREFIX} inactiveThreshold 2h exceeds the consumer limit 1h of stream "orders"`,
    ]);
  });

  test('fails on fields newer than the store\'s release, naming the release each needs', () => {
    expect(consumerErrors(
      { filterSubjects: ['orders.a', 'orders.b'], metadata: { team: 'audit' }, priorityGroups: ['g'], priorityPolicy: PriorityPolicy.OVERFLOW },
      undefined, { version: NatsServerVersion.V2_9_25 },
    )).toEqual([
      `${PREFIX} filterSubjects ["orders.a","orders.b"] needs NATS server 2.10.0 or newer; stream "orders" runs on 2.9.25`,
      `${PREFIX} metadata {"team":"audit"} needs NATS server 2.10.0 or newer; stream "orders" runs on 2.9.25`,
      `${PREFIX} priorityGroups ["g"] needs NATS server 2.11.0 or newer; stream "orders" runs on 2.9.25`,
      `${PREFIX} priorityPolicy "overflow" needs NATS server 2.11.0 or newer; stream "orders" runs on 2.9.25`,
    ]);
    expect(consumerErrors({ priorityGroups: ['g'], priorityPolicy: PriorityPolicy.PRIORITIZED }, undefined, { version: NatsServerVersion.V2_11_17 }))
      .toEqual([`${PREFIX} priorityPolicy "prioritized" needs NATS server 2.12.0 or newer; stream "orders" runs on 2.11.17`]);
  });

  test('2.9 wants more deliveries than backoff waits, and maxDeliver set', () => {
    const v29 = { version: NatsServerVersion.V2_9_25 };
    expect(consumerErrors({ backoff: ['1s', '2s'] }, undefined, v29)).toEqual([`${PREFIX} backoff [1s, 2s] needs maxDeliver above its 2 entries on NATS server 2.9.25`]);
    expect(consumerErrors({ backoff: ['1s', '2s'], maxDeliver: 2 }, undefined, v29)).toEqual([`${PREFIX} backoff [1s, 2s] has 2 entries, more than maxDeliver 2 allows`]);
    expect(consumerErrors({ backoff: ['1s', '2s'], maxDeliver: 2 })).toEqual([]);
  });

  test('on a work queue: acknowledgements, deliver all, and no two consumers on the same subjects', () => {
    const { chart, stream } = storeWith({}, { subjects: ['jobs.>'], retention: Retention.WORK_QUEUE });
    stream.addConsumer('eu', { filterSubjects: ['jobs.eu.>'] });
    stream.addConsumer('us', { filterSubjects: ['jobs.us.>'] });
    stream.addConsumer('all', { ackPolicy: AckPolicy.NONE, deliverPolicy: DeliverPolicy.NEW });
    stream.addConsumer('eu-again', { filterSubjects: ['jobs.*.>'] });
    expect(validationErrors(() => Testing.synth(chart))).toEqual([
      '[test/events/orders] stream "orders": consumers[2].filterSubjects (every subject) overlaps the filters of consumer "eu" (consumers[0]): a work queue gives each subject to one consumer',
      '[test/events/orders] stream "orders": consumers[2].filterSubjects (every subject) overlaps the filters of consumer "us" (consumers[1]): a work queue gives each subject to one consumer',
      '[test/events/orders] stream "orders": consumers[3].filterSubjects ["jobs.*.>"] overlaps the filters of consumer "eu" (consumers[0]): a work queue gives each subject to one consumer',
      '[test/events/orders] stream "orders": consumers[3].filterSubjects ["jobs.*.>"] overlaps the filters of consumer "us" (consumers[1]): a work queue gives each subject to one consumer',
      '[test/events/orders] stream "orders": consumers[3].filterSubjects ["jobs.*.>"] overlaps the filters of consumer "all" (consumers[2]): a work queue gives each subject to one consumer',
      '[test/events/orders/all] consumer "all" of stream "orders": ackPolicy "none" must be "explicit": stream "orders" is a work queue',
      '[test/events/orders/all] consumer "all" of stream "orders": deliverPolicy "new" must be "all": stream "orders" is a work queue',
    ]);
  });

  test('fails on more consumers than the stream allows, and on two of one name', () => {
    const { chart, stream } = storeWith({}, { subjects: ['orders.>'], maxConsumers: 1 });
    stream.addConsumer('a');
    stream.addConsumer('b', { name: 'a', replayPolicy: ReplayPolicy.ORIGINAL });
    expect(validationErrors(() => Testing.synth(chart))).toEqual([
      '[test/events/orders] stream "orders": maxConsumers 1 is fewer than the 2 consumers declared on the stream',
      '[test/events/orders] stream "orders": consumers[1].name "a" is also the name of consumers[0]',
    ]);
  });
});
