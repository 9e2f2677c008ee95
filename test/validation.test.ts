import { App, Chart, Duration, Size, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import fc from 'fast-check';
import * as storeRules from '../src/store-rules';
import { Stream } from '../src/stream';
import { Compression, DiscardPolicy, PersistMode, Retention, STREAM_OPTIONS_SCHEMA, StorageType, StreamOptions } from '../src/stream-definition';
import { MAX_PART_BYTES, renderStreamsParts } from '../src/streams-config';
import { formatBytes } from '../src/units';
import { APPLY_JOB_OPTIONS_SCHEMA } from '../src/apply-job';
import { NatsAuth } from '../src/auth';
import { StreamStore, StreamStoreProps, resolveStore } from '../src/stream-store';
import { DEFAULT_NATS_SERVER_VERSION, NatsServerVersion } from '../src/versions';
import { validationErrors } from './support/validation-errors';

const SIZE_SYNTAX = 'expected a whole number of bytes with an optional unit (k, M, G, T, P, Ki, Mi, Gi, Ti, Pi, KB, MB, GB, TB, KiB, MiB, GiB, TiB, B), for example "10Gi" or "1G"';
const DURATION_SYNTAX = 'expected a Go duration such as "240h", "4h35m", "90s" or "100ms"';

/** The lines of the one validation error `Testing.synth` throws, without their indent; empty when synth succeeds. */
function synthErrors(chart: Chart): string[] {
  return validationErrors(() => Testing.synth(chart));
}

function newChart(): Chart {
  return new Chart(Testing.app(), 'test');
}

/** A chart with one store `events` holding the streams, each given as [id, options]. */
function storeWith(props: StreamStoreProps, ...streams: Array<[string, StreamOptions]>): Chart {
  const chart = newChart();
  const store = new StreamStore(chart, 'events', props);
  for (const [id, options] of streams) store.addStream(id, options);
  return chart;
}

/** The errors of one stream `s` with `options` on a store with `props`. */
function streamErrors(options: StreamOptions, props: StreamStoreProps = {}): string[] {
  return synthErrors(storeWith(props, ['s', options]));
}

const onStream = (message: string, name = 's') => `[test/events/${name}] stream "${name}": ${message}`;
const onStore = (message: string, name = 'events') => `[test/${name}] store "${name}": ${message}`;

describe('stream names', () => {
  test.each<[string, string, string]>([
    ['whitespace', 'my stream', 'must not contain whitespace'],
    ['a dot', 'orders.eu', 'must not contain "."'],
    ['a star', 'orders*', 'must not contain "*"'],
    ['a greater-than sign', 'orders>', 'must not contain ">"'],
    ['a slash', 'orders/eu', 'must not contain "/"'],
    ['a backslash', 'orders\\eu', 'must not contain "\\"'],
    ['more than 255 bytes', 'a'.repeat(256), 'must be at most 255 bytes (has 256)'],
    ['nothing', '', 'must not be empty'],
  ])('fails with %s', (_what, name, rule) => {
    const errors = streamErrors({ name, subjects: ['orders'] });
    expect(errors).toEqual([`[test/events/s] stream "${name}": name ${JSON.stringify(name)} ${rule}`]);
  });

  test.each<[string]>([['ORDERS'], ['orders-v2_eu'], ['a'.repeat(255)], ['$weird#but@allowed!']])('accepts %p', (name) => {
    expect(streamErrors({ name, subjects: ['orders'] })).toEqual([]);
  });

  test('fails on the name and on the default subject it gives', () => {
    expect(synthErrors(storeWith({}, ['my stream', {}]))).toEqual([
      '[test/events/my stream] stream "my stream": name "my stream" must not contain whitespace',
      '[test/events/my stream] stream "my stream": subjects[0] "my stream" must not contain whitespace',
    ]);
  });
});

describe('subjects', () => {
  test.each<[string, string, string]>([
    ['an empty token', 'orders..created', 'has an empty token'],
    ['a trailing dot', 'orders.', 'has an empty token'],
    ['a star inside a token', 'orders.created*', '"*" must be a whole token'],
    ['a greater-than sign inside a token', 'orders.>x', '">" must be a whole token'],
    ['">" before the last token', 'orders.>.created', '">" must be the last token'],
    ['whitespace', 'orders created', 'must not contain whitespace'],
    ['an empty subject', '', 'must not be empty'],
  ])('fails with %s', (_what, subject, rule) => {
    expect(streamErrors({ subjects: ['ok', subject] })).toEqual([onStream(`subjects[1] ${JSON.stringify(subject)} ${rule}`)]);
  });

  const needsNoAck = (api: string, namespace: string) =>
    `overlaps the ${api} "${namespace}", so it needs noAck: a stream that acks would answer those requests in the server's place`;
  test.each<[string, string]>([
    ['$JS.API.>', needsNoAck('JetStream API', '$JS.>')],
    ['$JS.API.STREAM.INFO.orders', needsNoAck('JetStream API', '$JS.>')],
    ['$JS.*.STREAM', needsNoAck('JetStream API', '$JS.>')],
    ['$JS.ACK.orders.>', needsNoAck('JetStream API', '$JS.>')],
    ['*.orders', needsNoAck('JetStream API', '$JS.>')],
    ['$JSC.R.x', needsNoAck('JetStream API', '$JSC.>')],
    ['$NRG.>', needsNoAck('JetStream API', '$NRG.>')],
    ['$SYS.REQ.x', needsNoAck('system API', '$SYS.>')],
    ['>', 'captures every subject, so it needs noAck: a stream that acks would answer every request, the server\'s own included'],
  ])('fails when %p is captured by a stream that acks', (subject, rule) => {
    expect(streamErrors({ subjects: [subject] })).toEqual([onStream(`subjects[0] ${JSON.stringify(subject)} ${rule}`)]);
  });

  test('fails when ">" is captured by a replicated stream, even without acks', () => {
    expect(streamErrors({ subjects: ['>'], noAck: true, replicas: 3 }, { replicas: 3 }))
      .toEqual([onStream('subjects[0] ">" captures every subject, so it needs replicas 1')]);
  });

  test('fails when a stream captures the JetStream API on NATS 2.9, even without acks', () => {
    expect(streamErrors({ subjects: ['$JS.API.STREAM.>'], noAck: true }, { version: NatsServerVersion.V2_9_25 }))
      .toEqual([onStream('subjects[0] "$JS.API.STREAM.>" is inside the JetStream API "$JS.API.>", which the server refuses to capture')]);
  });

  test('accepts on NATS 2.9 what only the newer rules refuse', () => {
    expect(streamErrors({ subjects: ['>'], replicas: 1 }, { version: NatsServerVersion.V2_9_25 })).toEqual([]);
    expect(streamErrors({ subjects: ['$SYS.REQ.x', '*.orders'] }, { version: NatsServerVersion.V2_9_25 })).toEqual([]);
  });

  test.each<[string, StreamOptions]>([
    ['">" without acks on one replica', { subjects: ['>'], noAck: true }],
    ['the JetStream API without acks on 2.10', { subjects: ['$JS.API.>'], noAck: true }],
    ['the system API without acks', { subjects: ['$SYS.>'], noAck: true }],
    ['JetStream events', { subjects: ['$JS.EVENT.ADVISORY.>'] }],
    ['account events', { subjects: ['$SYS.ACCOUNT.*.CONNECT'] }],
  ])('accepts %s', (_what, options) => {
    expect(streamErrors(options)).toEqual([]);
  });

  test('fails on a subject listed twice', () => {
    expect(streamErrors({ subjects: ['orders.created', 'orders.paid', 'orders.created'] }))
      .toEqual([onStream('subjects[2] "orders.created" is listed twice')]);
  });

  test.each<[string[]]>([
    [['orders']],
    [['orders.*.created', 'orders.eu.created.>', 'billing.>']],
    [['$JS.EVENT.ADVISORY.x']],
    [['JS.API.x']],
    [['orders.>', 'orders']],
  ])('accepts %p', (subjects) => {
    expect(streamErrors({ subjects })).toEqual([]);
  });

  test('fails when two streams of a store overlap, with wildcards', () => {
    const chart = storeWith({},
      ['a', { subjects: ['a.*'] }],
      ['b', { subjects: ['a.b'] }],
      ['c', { subjects: ['c.>'] }],
      ['d', { subjects: ['d', 'c.d.e'] }],
    );
    expect(synthErrors(chart)).toEqual([
      onStore('stream "a" subjects[0] "a.*" overlaps stream "b" subjects[0] "a.b" (test/events/b): JetStream refuses overlapping subjects on one server'),
      onStore('stream "c" subjects[0] "c.>" overlaps stream "d" subjects[1] "c.d.e" (test/events/d): JetStream refuses overlapping subjects on one server'),
    ]);
  });

  test('fails when two streams capture the same literal subject', () => {
    expect(synthErrors(storeWith({}, ['a', { subjects: ['x'] }], ['b', { subjects: ['x'] }]))).toEqual([
      onStore('stream "a" subjects[0] "x" overlaps stream "b" subjects[0] "x" (test/events/b): JetStream refuses overlapping subjects on one server'),
    ]);
  });

  test('fails with the first 100 overlaps and a closing line when streams overlap in more places', () => {
    const streams: Array<[string, StreamOptions]> = Array.from({ length: 20 }, (_, i) => [`s${i}`, { subjects: [`x.${i}.*`, `x.*.${i}`] }]);
    const errors = synthErrors(storeWith({}, ...streams));
    expect(errors).toHaveLength(101);
    expect(errors[0]).toBe(onStore('stream "s0" subjects[0] "x.0.*" overlaps its own subjects[1] "x.*.0"'));
    expect(errors[1]).toBe(onStore('stream "s0" subjects[0] "x.0.*" overlaps stream "s1" subjects[1] "x.*.1" (test/events/s1): JetStream refuses overlapping subjects on one server'));
    expect(errors[100]).toBe(onStore('subjects (20 streams) overlap in more than 100 places; the first 100 are listed: fix those and synthesize again'));
  });

  test('fails when the subjects of one stream overlap each other', () => {
    expect(streamErrors({ subjects: ['a.>', 'a.b.c'] })).toEqual([onStore('stream "s" subjects[0] "a.>" overlaps its own subjects[1] "a.b.c"')]);
  });

  test('accepts streams whose subjects look alike but never match the same subject', () => {
    const chart = storeWith({},
      ['a', { subjects: ['a.*'] }],
      ['b', { subjects: ['a.b.c', 'a'] }],
      ['c', { subjects: ['b.>'] }],
      ['d', { subjects: ['b'] }],
    );
    expect(synthErrors(chart)).toEqual([]);
  });

  test('checks overlaps between streams on the same store only', () => {
    const chart = newChart();
    new StreamStore(chart, 'one').addStream('a', { subjects: ['x.>'] });
    new StreamStore(chart, 'two').addStream('b', { subjects: ['x.y'] });
    expect(synthErrors(chart)).toEqual([]);
  });
});

describe('stream names on a store', () => {
  test('fails on two streams of the same name, naming both paths', () => {
    const chart = storeWith({}, ['a', { subjects: ['a'] }], ['b', { name: 'a', subjects: ['b'] }]);
    expect(synthErrors(chart)).toEqual([
      onStore('name "a" is used by both test/events/a and test/events/b: stream names must be unique on a store'),
    ]);
  });

  test('fails on a stream of the same name declared outside the store', () => {
    const chart = newChart();
    const store = new StreamStore(chart, 'events');
    store.addStream('orders', { subjects: ['orders.a'] });
    new Stream(chart, 'orders', { store, subjects: ['orders.b'] });
    expect(synthErrors(chart)).toEqual([
      onStore('name "orders" is used by both test/events/orders and test/orders: stream names must be unique on a store'),
    ]);
  });

  test('accepts the same stream name on two stores', () => {
    const chart = newChart();
    new StreamStore(chart, 'one').addStream('orders');
    new StreamStore(chart, 'two').addStream('orders');
    expect(synthErrors(chart)).toEqual([]);
  });
});

describe('store limits', () => {
  const limits = { limits: { maxMsgs: 1000, maxBytes: '1Gi', maxAge: '24h', maxMsgSize: '1Ki' } };

  test.each<[string, StreamOptions, string]>([
    ['maxMsgs', { maxMsgs: 1001 }, 'maxMsgs 1001 exceeds the limit 1000 of store "events"'],
    ['maxBytes', { maxBytes: '1025Mi' }, 'maxBytes 1025MiB exceeds the limit 1GiB of store "events"'],
    ['maxAge', { maxAge: '24h1s' }, 'maxAge 24h1s exceeds the limit 24h of store "events"'],
    ['maxMsgSize', { maxMsgSize: 1025 }, 'maxMsgSize 1025B exceeds the limit 1KiB of store "events"'],
    ['unlimited maxMsgs', { maxMsgs: -1 }, 'maxMsgs unlimited exceeds the limit 1000 of store "events"'],
    ['unlimited maxBytes', { maxBytes: -1 }, 'maxBytes unlimited exceeds the limit 1GiB of store "events"'],
    ['unlimited maxAge', { maxAge: 0 }, 'maxAge unlimited exceeds the limit 24h of store "events"'],
    ['unlimited maxMsgSize', { maxMsgSize: -1 }, 'maxMsgSize unlimited exceeds the limit 1KiB of store "events"'],
  ])('fails on %s above the store limit', (_what, options, message) => {
    expect(streamErrors(options, limits)).toEqual([onStream(message)]);
  });

  test('accepts limits equal to the store limits, and inherits them when unset', () => {
    expect(synthErrors(storeWith(limits,
      ['equal', { maxMsgs: 1000, maxBytes: Size.gibibytes(1), maxAge: Duration.hours(24), maxMsgSize: '1Ki' }],
      ['inherited', {}],
    ))).toEqual([]);
  });

  test('accepts unlimited streams on a store without limits', () => {
    expect(streamErrors({ maxMsgs: -1, maxBytes: -1, maxAge: 0, maxMsgSize: -1 })).toEqual([]);
  });

  test('fails on store defaults above the store limits', () => {
    const chart = storeWith({
      defaults: { maxMsgs: 1001, maxBytes: '2Gi', maxAge: '48h', maxMsgSize: -1 },
      limits: limits.limits,
    });
    expect(synthErrors(chart)).toEqual([
      onStore('defaults.maxMsgs 1001 exceeds limits.maxMsgs 1000'),
      onStore('defaults.maxBytes 2GiB exceeds limits.maxBytes 1GiB'),
      onStore('defaults.maxAge 48h exceeds limits.maxAge 24h'),
      onStore('defaults.maxMsgSize unlimited exceeds limits.maxMsgSize 1KiB'),
    ]);
  });

  test('fails on a stream that takes a default above the limit, as well as on the store', () => {
    const chart = storeWith({ defaults: { maxMsgs: 2000 }, limits: { maxMsgs: 1000 } }, ['s', {}]);
    expect(synthErrors(chart)).toEqual([
      onStore('defaults.maxMsgs 2000 exceeds limits.maxMsgs 1000'),
      onStream('maxMsgs 2000 exceeds the limit 1000 of store "events"'),
    ]);
  });

  test('accepts defaults equal to the limits', () => {
    expect(synthErrors(storeWith({ defaults: limits.limits, limits: limits.limits }, ['s', {}]))).toEqual([]);
  });

  test('fails on maxMsgSize above the max payload', () => {
    expect(streamErrors({ maxMsgSize: '2Mi' })).toEqual([onStream('maxMsgSize 2MiB exceeds the max payload 1MiB of store "events"')]);
    expect(streamErrors({ maxMsgSize: '5Mi' }, { maxPayload: '4Mi' }))
      .toEqual([onStream('maxMsgSize 5MiB exceeds the max payload 4MiB of store "events"')]);
  });

  test('fails on a max payload too small for the stream\'s configuration, which the apply Job sends in one message', () => {
    const subjects = Array.from({ length: 80 }, (_, i) => `orders.region-${i}.>`);
    const errors = streamErrors({ subjects }, { maxPayload: '2Ki' });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^${onStream('').replace(/[[\]/]/g, '\\$&')}\\(configuration\\) \\d+B with the request's 512 bytes of overhead `
      + 'exceeds the max payload 2KiB of store "events": the apply Job sends a stream\'s whole configuration in one message$'));
    expect(streamErrors({ subjects }, { maxPayload: '8Ki' })).toEqual([]);
  });

  test('accepts maxMsgSize equal to the max payload', () => {
    expect(streamErrors({ maxMsgSize: '1Mi' })).toEqual([]);
    expect(streamErrors({ maxMsgSize: '4Mi' }, { maxPayload: '4Mi' })).toEqual([]);
  });

  test('fails when the store hosts more streams than limits.maxStreams', () => {
    const chart = storeWith({ limits: { maxStreams: 2 } }, ['a', {}], ['b', {}], ['c', {}]);
    expect(synthErrors(chart)).toEqual([onStore('limits.maxStreams 2 is exceeded: the store hosts 3 streams')]);
  });

  test('accepts as many streams as limits.maxStreams', () => {
    expect(synthErrors(storeWith({ limits: { maxStreams: 2 } }, ['a', {}], ['b', {}]))).toEqual([]);
  });
});

describe('durations', () => {
  test('fails on a duplicate window longer than max age', () => {
    expect(streamErrors({ maxAge: '1m', duplicateWindow: '2m' })).toEqual([onStream('duplicateWindow 2m must not be longer than maxAge 1m')]);
  });

  test('fails on a duplicate window longer than a max age inherited from the store', () => {
    expect(streamErrors({ duplicateWindow: '10m' }, { defaults: { maxAge: '5m' } }))
      .toEqual([onStream('duplicateWindow 10m must not be longer than maxAge 5m')]);
  });

  test('accepts a duplicate window equal to max age, or any window without max age', () => {
    expect(streamErrors({ maxAge: '1m', duplicateWindow: '1m' })).toEqual([]);
    expect(streamErrors({ duplicateWindow: '240h' })).toEqual([]);
  });

  test.each<[StreamOptions['duplicateWindow'], string]>([['99ms', '99ms'], [50, '50ms'], [1, '1ms']])(
    'fails on a duplicate window of %p, under 100ms', (duplicateWindow, shown) => {
      expect(streamErrors({ duplicateWindow })).toEqual([onStream(`duplicateWindow ${shown} must be at least 100ms`)]);
    });

  test('accepts a duplicate window of 100ms, and of 0, the default', () => {
    expect(streamErrors({ duplicateWindow: '100ms' })).toEqual([]);
    expect(streamErrors({ duplicateWindow: 0 })).toEqual([]);
  });

  test('fails on a max age between 0 and 100ms, and on the duplicate window it defaults to', () => {
    expect(streamErrors({ maxAge: '50ms' })).toEqual([
      onStream('maxAge 50ms must be 0 (unlimited) or at least 100ms'),
      onStream('duplicateWindow 50ms must be at least 100ms'),
    ]);
    expect(streamErrors({ maxAge: 99, duplicateWindow: '100ms' })).toEqual([
      onStream('maxAge 99ms must be 0 (unlimited) or at least 100ms'),
      onStream('duplicateWindow 100ms must not be longer than maxAge 99ms'),
    ]);
  });

  test('accepts a max age of 0 or of 100ms', () => {
    expect(streamErrors({ maxAge: 0 })).toEqual([]);
    expect(streamErrors({ maxAge: '100ms' })).toEqual([]);
  });
});

describe('replicas', () => {
  test.each<[number]>([[2], [4], [0], [7]])('fails on stream replicas %p', (replicas) => {
    expect(streamErrors({ replicas }, { replicas: 5 }))
      .toEqual([onStream(`replicas ${replicas} must be 1, 3 or 5: JetStream replicates by quorum, so even counts add no safety`)]);
  });

  test('fails on stream replicas above the store replicas', () => {
    expect(streamErrors({ replicas: 3 })).toEqual([onStream('replicas 3 exceeds the 1 server(s) of store "events"')]);
    expect(streamErrors({ replicas: 5 }, { replicas: 3 })).toEqual([onStream('replicas 5 exceeds the 3 server(s) of store "events"')]);
  });

  test.each<[number, number]>([[1, 1], [1, 3], [3, 3], [3, 5], [5, 5]])('accepts %p stream replicas on %p servers', (replicas, servers) => {
    expect(streamErrors({ replicas }, { replicas: servers })).toEqual([]);
  });

  test.each<[number]>([[2], [4], [6], [0]])('fails on store replicas %p', (replicas) => {
    expect(synthErrors(storeWith({ replicas })))
      .toEqual([onStore(`replicas ${replicas} must be 1, or 3 or 5 for a cluster: JetStream needs a quorum, so even sizes add no safety`)]);
  });
});

describe('capacity', () => {
  test('fails when the file streams reserve more than maxFileStore on every server, naming the streams and sums', () => {
    const chart = storeWith({ replicas: 3 },
      ['a', { maxBytes: '9Gi', replicas: 3 }],
      ['b', { maxBytes: '1Gi', replicas: 3 }],
      ['c', { maxBytes: '2Gi' }],
      ['unlimited', {}],
      ['memory', { storage: StorageType.MEMORY, maxBytes: '100Mi' }],
    );
    expect(synthErrors(chart)).toEqual([onStore(
      'maxFileStore 9GiB x3 server(s) = 27GiB is too small: the file streams reserve 32GiB (maxBytes x replicas: "a" 9GiB x3, "b" 1GiB x3, "c" 2GiB x1)')]);
  });

  test('names the ten largest streams and counts the rest', () => {
    const streams = Array.from({ length: 12 }, (_, i): [string, StreamOptions] => [`s${String(i).padStart(2, '0')}`, { maxBytes: '1Gi' }]);
    const listed = streams.slice(0, 10).map(([name]) => `"${name}" 1GiB x1`).join(', ');
    expect(synthErrors(storeWith({}, ...streams))).toEqual([onStore(
      `maxFileStore 9GiB x1 server(s) = 9GiB is too small: the file streams reserve 12GiB (maxBytes x replicas: ${listed} and 2 more)`)]);
  });

  test('fails on a stream larger than one server\'s store, even when the cluster has room for it', () => {
    const chart = storeWith({ replicas: 3, maxMemoryStore: '100Mi' },
      ['big', { maxBytes: '10Gi' }],
      ['wide', { storage: StorageType.MEMORY, maxBytes: '101Mi' }],
    );
    expect(synthErrors(chart)).toEqual([
      onStore('stream "big" maxBytes 10GiB exceeds maxFileStore 9GiB: each replica of a stream is stored whole on one server'),
      onStore('stream "wide" maxBytes 101MiB exceeds maxMemoryStore 100MiB: each replica of a stream is stored whole on one server'),
    ]);
  });

  test('prints sums and derived sizes in a unit a person reads, rounded values with one decimal', () => {
    const terabyte = ['a', 'b', 'c', 'd', 'e'].map((name): [string, StreamOptions] => [name, { maxBytes: '1Ti' }]);
    expect(synthErrors(storeWith({ storage: { size: '4Ti' } }, ...terabyte, ['f', { maxBytes: '1.5Gi' }]))).toEqual([onStore(
      'maxFileStore 3.6TiB x1 server(s) = 3.6TiB is too small: the file streams reserve 5.0TiB (maxBytes x replicas: '
        + '"a" 1TiB x1, "b" 1TiB x1, "c" 1TiB x1, "d" 1TiB x1, "e" 1TiB x1, "f" 1536MiB x1)')]);
    expect(synthErrors(storeWith({ storage: { size: '1Ti' } }, ['big', { maxBytes: '1Ti' }]))).toEqual([
      onStore('stream "big" maxBytes 1TiB exceeds maxFileStore 921.6GiB: each replica of a stream is stored whole on one server'),
      onStore('maxFileStore 921.6GiB x1 server(s) = 921.6GiB is too small: the file streams reserve 1TiB (maxBytes x replicas: "big" 1TiB x1)'),
    ]);
  });

  test('prints exact sizes where rounding would hide the difference', () => {
    expect(synthErrors(storeWith({ storage: { size: '10Ti', headroomPercent: 0 } }, ['a', { maxBytes: '10Ti' }], ['b', { maxBytes: '1Mi' }])))
      .toEqual([onStore(
        'maxFileStore 10TiB x1 server(s) = 10TiB is too small: the file streams reserve 10485761MiB (maxBytes x replicas: "a" 10TiB x1, "b" 1MiB x1)')]);
    expect(synthErrors(storeWith({ storage: { size: '1Ti' } }, ['a', { maxBytes: 943718 * 2 ** 20 + 1 }]))).toEqual([
      onStore('stream "a" maxBytes 989560045569B exceeds maxFileStore 943718MiB: each replica of a stream is stored whole on one server'),
      onStore('maxFileStore 943718MiB x1 server(s) = 943718MiB is too small: the file streams reserve 989560045569B (maxBytes x replicas: "a" 989560045569B x1)'),
    ]);
  });

  test('accepts file streams that fill the store exactly', () => {
    expect(synthErrors(storeWith({ replicas: 3 },
      ['a', { maxBytes: '3Gi', replicas: 3 }],
      ['b', { maxBytes: '3Gi', replicas: 3 }],
      ['c', { maxBytes: '3Gi', replicas: 3 }],
    ))).toEqual([]);
  });

  test('fails when the memory streams reserve more than maxMemoryStore', () => {
    const chart = storeWith({ maxMemoryStore: '100Mi' },
      ['m1', { storage: StorageType.MEMORY, maxBytes: '64Mi' }],
      ['m2', { storage: StorageType.MEMORY, maxBytes: '64Mi' }],
      ['file', { maxBytes: '5Gi' }],
    );
    expect(synthErrors(chart)).toEqual([onStore(
      'maxMemoryStore 100MiB x1 server(s) = 100MiB is too small: the memory streams reserve 128MiB (maxBytes x replicas: "m1" 64MiB x1, "m2" 64MiB x1)')]);
  });

  test('accepts memory streams within the default half of the memory limit', () => {
    expect(synthErrors(storeWith({}, ['m', { storage: StorageType.MEMORY, maxBytes: '512Mi' }]))).toEqual([]);
  });

  test('fails on a maxFileStore larger than the volume minus its headroom', () => {
    expect(synthErrors(storeWith({ maxFileStore: '10Gi' })))
      .toEqual([onStore('maxFileStore 10GiB exceeds the volume 10GiB minus its 10% headroom (9GiB)')]);
    expect(synthErrors(storeWith({ maxFileStore: '9Gi', storage: { size: '10Gi', headroomPercent: 20 } })))
      .toEqual([onStore('maxFileStore 9GiB exceeds the volume 10GiB minus its 20% headroom (8GiB)')]);
    expect(synthErrors(storeWith({ maxFileStore: '1Ti', storage: { size: '1Ti' } })))
      .toEqual([onStore('maxFileStore 1TiB exceeds the volume 1TiB minus its 10% headroom (921.6GiB)')]);
  });

  test('accepts a maxFileStore equal to the volume minus its headroom', () => {
    expect(synthErrors(storeWith({ maxFileStore: '9Gi' }))).toEqual([]);
    expect(synthErrors(storeWith({ maxFileStore: '10Gi', storage: { headroomPercent: 0 } }))).toEqual([]);
  });

  test('fails on a maxMemoryStore larger than the memory limit', () => {
    expect(synthErrors(storeWith({ maxMemoryStore: '2Gi' })))
      .toEqual([onStore('maxMemoryStore 2GiB exceeds the container memory limit 1GiB')]);
  });

  test('accepts a maxMemoryStore equal to the memory limit', () => {
    expect(synthErrors(storeWith({ maxMemoryStore: '1Gi' }))).toEqual([]);
  });

  test('fails without a memory limit and without maxMemoryStore', () => {
    expect(synthErrors(storeWith({ resources: { cpu: { request: kplus.Cpu.millis(500) } } })))
      .toEqual([onStore('maxMemoryStore (unset) must be set when the container has no memory limit')]);
  });

  test('accepts no memory limit with a maxMemoryStore', () => {
    expect(synthErrors(storeWith({ resources: { cpu: { request: kplus.Cpu.millis(500) } }, maxMemoryStore: '8Gi' }))).toEqual([]);
  });
});

describe('labels and annotations', () => {
  test('fails on keys and values the API server refuses, and on a label the store sets', () => {
    const errors = synthErrors(storeWith({
      labels: { 'team': 'shop', 'bad key!': 'x', 'example.com/tier': 'v'.repeat(64), 'app.kubernetes.io/name': 'mine', 'Example.COM/x': 'y' },
      annotations: { 'note': 'free text, any length: ' + 'x'.repeat(100), '-bad': 'x' },
    }));
    expect(errors).toEqual([
      onStore('labels["Example.COM/x"] "Example.COM/x" has the prefix "Example.COM", which must be a DNS subdomain of at most 253 characters'),
      onStore('labels["app.kubernetes.io/name"] "app.kubernetes.io/name" is set by the store itself'),
      onStore('labels["bad key!"] "bad key!" must be a name of 1 to 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit (after an optional "prefix/")'),
      onStore(`labels["example.com/tier"] "${'v'.repeat(64)}" must be a label value: empty, or at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit`),
      onStore('annotations["-bad"] "-bad" must be a name of 1 to 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit (after an optional "prefix/")'),
    ]);
  });

  test('accepts valid labels and annotations, empty values included', () => {
    expect(synthErrors(storeWith({
      labels: { 'team': 'shop', 'example.com/tier': '', 'cost-center': 'a.b_c-1' },
      annotations: { 'example.com/owner': 'Shop team <shop@example.com>' },
    }))).toEqual([]);
  });
});

describe('route security', () => {
  const users = NatsAuth.users([{ name: 'app', password: { secretName: 's', key: 'app' } }]);
  const job = { password: { secretName: 's', key: 'apply' } };

  test('fails on an authenticated cluster with neither the network policy nor route TLS', () => {
    expect(synthErrors(storeWith({ replicas: 3, auth: users, applyJob: job, networkPolicy: false }))).toEqual([onStore(
      'networkPolicy false needs tls.routes in an authenticated cluster: routes carry no credentials, so any pod that reaches the route port would join the cluster and bypass auth')]);
  });

  test('fails on route TLS for a single server, which has no routes', () => {
    expect(synthErrors(storeWith({ tls: { routes: { secretName: 'r' } } })))
      .toEqual([onStore('tls.routes "r" needs replicas 3 or 5: a single server has no routes')]);
  });

  test('accepts it with route TLS, or with the network policy, or without auth, or on a single server', () => {
    expect(synthErrors(storeWith({ replicas: 3, auth: users, applyJob: job, networkPolicy: false, tls: { routes: { secretName: 'r' } } }))).toEqual([]);
    expect(synthErrors(storeWith({ replicas: 3, auth: users, applyJob: job }))).toEqual([]);
    expect(synthErrors(storeWith({ replicas: 3, networkPolicy: false }))).toEqual([]);
    expect(synthErrors(storeWith({ auth: users, applyJob: job, networkPolicy: false }))).toEqual([]);
  });
});

describe('max payload', () => {
  test('fails above 64MiB, the server\'s max_pending', () => {
    expect(synthErrors(storeWith({ maxPayload: 64 * 1024 * 1024 + 1 })))
      .toEqual([onStore('maxPayload 67108865B must be at most 64MiB, the server\'s max_pending: a larger one stops the server at startup')]);
  });

  test('accepts 64MiB', () => {
    expect(synthErrors(storeWith({ maxPayload: '64Mi' }))).toEqual([]);
  });

  test.each<[string, StreamStoreProps['maxPayload']]>([['"0"', '0'], ['0', 0], ['"0Mi"', '0Mi']])('fails on %s, which nats-server reads as its default', (_what, maxPayload) => {
    expect(synthErrors(storeWith({ maxPayload })))
      .toEqual([onStore('maxPayload 0B must be more than 0: nats-server reads max_payload 0 as its default, 1MiB')]);
  });

  test('checks the streams with the default after a max payload of 0', () => {
    expect(synthErrors(storeWith({ maxPayload: '0' }, ['s', { maxMsgSize: '1Mi' }])))
      .toEqual([onStore('maxPayload 0B must be more than 0: nats-server reads max_payload 0 as its default, 1MiB')]);
  });
});

describe('volume size', () => {
  test.each<[string, NonNullable<StreamStoreProps['storage']>['size']]>([['"0"', '0'], ['0', 0], ['"0Gi"', '0Gi']])('fails on %s', (_what, size) => {
    expect(synthErrors(storeWith({ storage: { size } }))).toEqual([onStore(
      'storage.size 0B must be more than 0: Kubernetes takes the StatefulSet, then refuses each volume claim of 0 bytes, so no server starts')]);
  });

  test('checks the streams with the default after a volume of 0', () => {
    expect(synthErrors(storeWith({ storage: { size: '0' } }, ['s', { maxBytes: '1Gi' }]))).toEqual([onStore(
      'storage.size 0B must be more than 0: Kubernetes takes the StatefulSet, then refuses each volume claim of 0 bytes, so no server starts')]);
  });

  test('accepts one byte', () => {
    expect(synthErrors(storeWith({ storage: { size: 1 } }))).toEqual([]);
  });
});

describe('lame duck', () => {
  test('fails on a termination grace period shorter than lame-duck mode plus 10s', () => {
    expect(synthErrors(storeWith({ terminationGracePeriod: '49s' }))).toEqual([onStore(
      'terminationGracePeriod 49s must be at least lameDuckGracePeriod 10s + lameDuckDuration 30s + 10s = 50s, or the server is killed before lame-duck mode ends')]);
    expect(synthErrors(storeWith({ lameDuckDuration: '2m', terminationGracePeriod: Duration.minutes(2) }))).toEqual([onStore(
      'terminationGracePeriod 2m must be at least lameDuckGracePeriod 10s + lameDuckDuration 2m + 10s = 2m20s, or the server is killed before lame-duck mode ends')]);
  });

  test('accepts a termination grace period of exactly lame-duck mode plus 10s', () => {
    expect(synthErrors(storeWith({ terminationGracePeriod: '50s' }))).toEqual([]);
  });

  test('fails on a lame-duck duration under the server\'s 30s minimum', () => {
    expect(synthErrors(storeWith({ lameDuckDuration: '29s' }))).toEqual([onStore(
      'lameDuckDuration 29s must be at least 30s, the server\'s minimum')]);
  });

  test('fails on a termination grace period that is not whole seconds', () => {
    expect(synthErrors(storeWith({ terminationGracePeriod: '90500ms' }))).toEqual([onStore(
      'terminationGracePeriod 1m30.5s must be a whole number of seconds, as Kubernetes takes it')]);
  });

  test('rounds the default grace period up to whole seconds', () => {
    const chart = storeWith({ lameDuckGracePeriod: '1500ms' });
    const statefulSet = Testing.synth(chart).find((o) => o.kind === 'StatefulSet');
    expect(statefulSet.spec.template.spec.terminationGracePeriodSeconds).toBe(52);
  });
});

describe('props of the wrong type', () => {
  test('fails with the schema error only, and checks the rest with the default', () => {
    expect(synthErrors(storeWith({ replicas: 'x' } as any))).toEqual([onStore('replicas "x" must be integer')]);
  });

  test('fails on an object that is not a cdk8s Size, without JavaScript internals', () => {
    expect(streamErrors({ maxBytes: {} as any })).toEqual([onStream(
      'maxBytes {} is invalid: expected a number of bytes, a string such as "10Gi" or a cdk8s Size')]);
  });

  test('assumes no subjects for unreadable subjects, so no overlap is made up', () => {
    const errors = synthErrors(storeWith({}, ['s', { subjects: 'orders' as any }], ['t', { subjects: ['s'] }]));
    expect(errors).toEqual([onStream('subjects "orders" must be array')]);
  });
});

describe('zero limits', () => {
  test('fails on 0, which JetStream reads as no limit, under a store limit', () => {
    const errors = streamErrors({ maxMsgs: 0, maxBytes: 0, maxMsgSize: 0 }, { limits: { maxMsgs: 10, maxBytes: '1Gi', maxMsgSize: '1Ki' } });
    expect(errors).toEqual([
      onStream('maxMsgs unlimited exceeds the limit 10 of store "events"'),
      onStream('maxBytes unlimited exceeds the limit 1GiB of store "events"'),
      onStream('maxMsgSize unlimited exceeds the limit 1KiB of store "events"'),
    ]);
  });

  test('fails on a default of 0 under a limit', () => {
    expect(synthErrors(storeWith({ defaults: { maxMsgs: 0 }, limits: { maxMsgs: 10 } })))
      .toEqual([onStore('defaults.maxMsgs unlimited exceeds limits.maxMsgs 10')]);
  });

  test('renders 0 as -1, as the server stores it, so the Job sees no difference', () => {
    const chart = storeWith({}, ['s', { maxMsgs: 0, maxBytes: 0, maxConsumers: 0, maxMsgsPerSubject: 0 }]);
    const streamsJson = Testing.synth(chart).find((o) => o.metadata.name === 'events-streams').data['streams.json'];
    expect(JSON.parse(streamsJson).streams[0].config).toMatchObject({ max_msgs: -1, max_bytes: -1, max_consumers: -1, max_msgs_per_subject: -1 });
  });
});

describe('stream policies', () => {
  test('fails on allowRollup with denyPurge', () => {
    expect(streamErrors({ denyPurge: true, allowRollup: true })).toEqual([onStream('allowRollup true needs purging, which denyPurge forbids')]);
  });

  test('accepts allowRollup or denyPurge alone', () => {
    expect(streamErrors({ allowRollup: true })).toEqual([]);
    expect(streamErrors({ denyPurge: true })).toEqual([]);
  });

  test('fails on discardNewPerSubject without discard new', () => {
    expect(streamErrors({ discardNewPerSubject: true, maxMsgsPerSubject: 10 }))
      .toEqual([onStream('discardNewPerSubject true needs discard "new", not "old"')]);
  });

  test('fails on discardNewPerSubject without maxMsgsPerSubject', () => {
    expect(streamErrors({ discardNewPerSubject: true, discard: DiscardPolicy.NEW }))
      .toEqual([onStream('discardNewPerSubject true needs maxMsgsPerSubject to be set')]);
    expect(streamErrors({ discardNewPerSubject: true })).toEqual([
      onStream('discardNewPerSubject true needs discard "new", not "old"'),
      onStream('discardNewPerSubject true needs maxMsgsPerSubject to be set'),
    ]);
  });

  test('accepts discardNewPerSubject with discard new and maxMsgsPerSubject', () => {
    expect(streamErrors({ discardNewPerSubject: true, discard: DiscardPolicy.NEW, maxMsgsPerSubject: 10 })).toEqual([]);
  });
});

describe('server version', () => {
  const v29 = { version: NatsServerVersion.V2_9_25 };

  test.each<[string, StreamOptions, string]>([
    ['metadata', { metadata: { team: 'a' } }, 'metadata {"team":"a"}'],
    ['compression', { compression: Compression.S2 }, 'compression "s2"'],
    ['firstSequence', { firstSequence: 100 }, 'firstSequence 100'],
  ])('fails on %s with a 2.9 server', (_what, options, fieldAndValue) => {
    expect(streamErrors(options, v29))
      .toEqual([onStream(`${fieldAndValue} needs NATS server 2.10.0 or newer; store "events" runs 2.9.25`)]);
  });

  test('accepts the 2.10 fields on a 2.10 server, and a 2.9 server without them', () => {
    expect(streamErrors({ metadata: { team: 'a' }, compression: Compression.S2, firstSequence: 100 }, { version: NatsServerVersion.V2_10_27 })).toEqual([]);
    expect(streamErrors({ maxAge: '1h', allowDirect: true }, v29)).toEqual([]);
  });

  const ttl = { allowMsgTtl: true, allowRollup: true, subjectDeleteMarkerTtl: '5m' };

  test('fails on the 2.11 fields with a 2.10 server, naming each', () => {
    expect(streamErrors(ttl, { version: NatsServerVersion.V2_10_27 })).toEqual([
      onStream('allowMsgTtl true needs NATS server 2.11.0 or newer; store "events" runs 2.10.27'),
      onStream('subjectDeleteMarkerTtl 5m needs NATS server 2.11.0 or newer; store "events" runs 2.10.27'),
    ]);
    expect(streamErrors(ttl, { version: NatsServerVersion.V2_11_17 })).toEqual([]);
  });

  test('fails on the 2.12 fields with a 2.11 server and on allowBatched with a 2.12 server, naming each', () => {
    const newer = { allowMsgCounter: true, allowAtomic: true, persistMode: PersistMode.ASYNC, allowBatched: true };
    expect(streamErrors(newer, { version: NatsServerVersion.V2_11_17 })).toEqual([
      'persistMode "async" cannot be used with allowAtomic',
      'allowMsgCounter true needs NATS server 2.12.0 or newer; store "events" runs 2.11.17',
      'allowAtomic true needs NATS server 2.12.0 or newer; store "events" runs 2.11.17',
      'persistMode "async" needs NATS server 2.12.0 or newer; store "events" runs 2.11.17',
      'allowBatched true needs NATS server 2.14.0 or newer; store "events" runs 2.11.17',
    ].map((m) => onStream(m)));
    expect(streamErrors({ allowBatched: true }, { version: NatsServerVersion.V2_12_15 }))
      .toEqual([onStream('allowBatched true needs NATS server 2.14.0 or newer; store "events" runs 2.12.15')]);
    expect(streamErrors({ allowMsgSchedules: true, allowRollup: true, allowBatched: true }, { version: NatsServerVersion.V2_14_10 })).toEqual([]);
  });

  test.each<[string, StreamOptions, string[]]>([
    ['a marker TTL under 1s', { ...ttl, subjectDeleteMarkerTtl: '500ms' }, ['subjectDeleteMarkerTtl 500ms must be at least 1s']],
    ['a marker without message TTLs', { ...ttl, allowMsgTtl: false },
      ['subjectDeleteMarkerTtl 5m needs allowMsgTtl: delete markers are messages with a time to live']],
    ['a marker without roll-ups', { ...ttl, allowRollup: false }, ['subjectDeleteMarkerTtl 5m needs allowRollup: a delete marker rolls its subject up']],
    ['an unreadable marker TTL', { ...ttl, subjectDeleteMarkerTtl: 'soon' }, [expect.stringContaining('subjectDeleteMarkerTtl "soon" is invalid') as unknown as string]],
    ['a counter with discard new, TTLs, schedules and interest retention',
      { allowMsgCounter: true, discard: DiscardPolicy.NEW, allowMsgTtl: true, allowMsgSchedules: true, allowRollup: true, retention: Retention.INTEREST }, [
        'allowMsgCounter true cannot be used with discard "new"', 'allowMsgCounter true cannot be used with allowMsgTtl',
        'allowMsgCounter true cannot be used with allowMsgSchedules', 'allowMsgCounter true needs retention "limits", not "interest"',
        'allowMsgSchedules true cannot be used with discard "new"']],
    ['schedules without roll-ups', { allowMsgSchedules: true }, ['allowMsgSchedules true needs allowRollup, which the server would otherwise turn on for schedules']],
    ['async persistence of a memory stream with atomic batches', { persistMode: PersistMode.ASYNC, storage: StorageType.MEMORY, allowAtomic: true },
      ['persistMode "async" needs file storage', 'persistMode "async" cannot be used with allowAtomic']],
  ])('fails on %s', (_what, options, messages) => {
    expect(streamErrors(options)).toEqual(messages.map((m) => (typeof m === 'string' ? onStream(m) : m)));
  });
});

describe('store names', () => {
  test.each<[string]>([['Events'], ['events_1'], ['1events'], ['events-'], ['-events'], ['ev.ents']])('fails on %p, not a DNS label', (name) => {
    expect(synthErrors(storeWith({ name }))).toEqual([
      `[test/events] store ${JSON.stringify(name)}: name ${JSON.stringify(name)} must be a DNS label: lower-case letters, digits and "-", starting with a letter`,
    ]);
  });

  test.each<[number]>([[49], [53], [55], [70]])('fails on a name of %p characters, once, naming the limit and why', (length) => {
    const name = 'a'.repeat(length);
    expect(synthErrors(storeWith({ name }))).toEqual([
      `[test/events] store "${name}": name "${name}" must be at most 48 characters (it has ${length}): the longest name made from it, `
        + 'the apply Job\'s "<store>-apply-<8 hex>", is also a label of the Job\'s pods, and a label value has at most 63 characters; '
        + 'names are never truncated',
    ]);
  });

  test('accepts a DNS label of 48 characters without a drift check, and of 46 with one', () => {
    expect(synthErrors(storeWith({ name: `a${'-b'.repeat(23)}c`, applyJob: { drift: false } }))).toEqual([]);
    expect(synthErrors(storeWith({ name: `a${'-b'.repeat(22)}c` }))).toEqual([]);
    expect(synthErrors(storeWith({ name: 'events-2' }))).toEqual([]);
  });
});

describe('prop shapes', () => {
  test('fails on an unknown stream prop', () => {
    expect(streamErrors({ maxByte: 5 } as StreamOptions)).toEqual([onStream('maxByte 5 is not a known property')]);
  });

  test('fails on a wrong type, naming the element path', () => {
    expect(streamErrors({ subjects: ['a', 5] } as unknown as StreamOptions)).toEqual([onStream('subjects[1] 5 must be string')]);
    expect(streamErrors({ replicas: 'three' } as unknown as StreamOptions)).toEqual([onStream('replicas "three" must be integer')]);
    expect(streamErrors({ metadata: { team: 1 } } as unknown as StreamOptions)).toEqual([onStream('metadata.team 1 must be string')]);
  });

  test('fails on a value outside an enum', () => {
    expect(streamErrors({ retention: 'forever' } as unknown as StreamOptions))
      .toEqual([onStream('retention "forever" must be one of "limits", "interest", "workqueue"')]);
    expect(streamErrors({ storage: 'disk' } as unknown as StreamOptions))
      .toEqual([onStream('storage "disk" must be one of "file", "memory"')]);
  });

  test('fails on an empty subject list', () => {
    expect(streamErrors({ subjects: [] })).toEqual([onStream('subjects [] must NOT have fewer than 1 items')]);
  });

  const LIMIT_SIZE = 'must be a size: a whole number of bytes (-1 for unlimited), a quantity string such as "10Gi" or a cdk8s Size';
  const STORE_SIZE = 'must be a size: a whole number of bytes, a quantity string such as "10Gi" or a cdk8s Size';
  const DURATION = 'must be a non-negative duration: a whole number of milliseconds, a Go duration string such as "240h" or a cdk8s Duration';

  test.each<[string, StreamOptions, string]>([
    ['a fractional size', { maxBytes: 1.5 }, `maxBytes 1.5 ${LIMIT_SIZE}`],
    ['a size below -1', { maxMsgSize: -2 }, `maxMsgSize -2 ${LIMIT_SIZE}`],
    ['a boolean size', { maxBytes: true as any }, `maxBytes true ${LIMIT_SIZE}`],
    ['a negative max age', { maxAge: -5 }, `maxAge -5 ${DURATION}`],
    ['a negative duplicate window', { duplicateWindow: -1 }, `duplicateWindow -1 ${DURATION}`],
    ['a fractional duration', { maxAge: 0.5 }, `maxAge 0.5 ${DURATION}`],
  ])('fails on %s, saying what is allowed', (_what, options, message) => {
    expect(streamErrors(options)).toEqual([onStream(message)]);
  });

  test('fails on store sizes and durations of the wrong shape, saying what is allowed', () => {
    expect(synthErrors(storeWith({ storage: { size: -1 }, maxPayload: 1.5, lameDuckDuration: -30_000, defaults: { maxAge: -1 } }))).toEqual([
      onStore(`storage.size -1 ${STORE_SIZE}`),
      onStore(`maxPayload 1.5 ${STORE_SIZE}`),
      onStore(`defaults.maxAge -1 ${DURATION}`),
      onStore(`lameDuckDuration -30000 ${DURATION}`),
    ]);
  });

  test('fails on a malformed size, quoted', () => {
    expect(streamErrors({ maxBytes: '10Gb' })).toEqual([onStream(`maxBytes "10Gb" is invalid: ${SIZE_SYNTAX}`)]);
  });

  test('fails on a malformed duration, quoted', () => {
    expect(streamErrors({ maxAge: '10x' })).toEqual([onStream(`maxAge "10x" is invalid: ${DURATION_SYNTAX}`)]);
    expect(streamErrors({ duplicateWindow: '1y' })).toEqual([onStream(`duplicateWindow "1y" is invalid: ${DURATION_SYNTAX}`)]);
  });

  test('fails on unknown and malformed store props, with their nested paths', () => {
    const props = {
      storag: {},
      storage: { size: '10Gb', retention: { whenDeleted: 'Keep' } },
      limits: { maxStreams: 0, maxBytes: '1Gb' },
      lameDuckDuration: '10x',
      metrics: { port: 0 },
    } as unknown as StreamStoreProps;
    expect(synthErrors(storeWith(props))).toEqual([
      onStore('storag {} is not a known property'),
      onStore('storage.retention.whenDeleted "Keep" must be one of "Retain", "Delete"'),
      onStore('limits.maxStreams 0 must be >= 1'),
      onStore('metrics.port 0 must be >= 1'),
      onStore(`storage.size "10Gb" is invalid: ${SIZE_SYNTAX}`),
      onStore(`lameDuckDuration "10x" is invalid: ${DURATION_SYNTAX}`),
      onStore(`limits.maxBytes "1Gb" is invalid: ${SIZE_SYNTAX}`),
    ]);
  });

  test('fails on a malformed store size or duration', () => {
    expect(synthErrors(storeWith({ maxPayload: '1MB!' }))).toEqual([onStore(`maxPayload "1MB!" is invalid: ${SIZE_SYNTAX}`)]);
    expect(synthErrors(storeWith({ defaults: { maxAge: '10x' } }))).toEqual([onStore(`defaults.maxAge "10x" is invalid: ${DURATION_SYNTAX}`)]);
  });
});

describe('the streams document', () => {
  test('fails when one stream\'s definition is larger than one definitions ConfigMap may hold', () => {
    const chart = newChart();
    const store = new StreamStore(chart, 'events');
    const subjects = Array.from({ length: 3500 }, (_, i) => `orders.region-${String(i).padStart(4, '0')}.created.>`);
    store.addStream('orders', { subjects });
    const part = renderStreamsParts('events', DEFAULT_NATS_SERVER_VERSION.version, 0, store.streams.map((s) => s.definition))[0];
    expect(Buffer.byteLength(part.text)).toBeGreaterThan(MAX_PART_BYTES);
    expect(synthErrors(chart)).toEqual([
      onStore(`streams "orders" renders ${formatBytes(Buffer.byteLength(part.text))} of definition, more than the 96KiB one ConfigMap `
        + 'of definitions may hold (kubectl apply keeps a copy of each object in an annotation of at most 256KiB)'),
    ]);
  });

  test('spreads the definitions of many streams over ConfigMaps that each fit client-side apply', () => {
    const chart = newChart();
    const store = new StreamStore(chart, 'events');
    for (let i = 0; i < 250; i++) store.addStream(`s${i}`, { description: 'x'.repeat(4000) });
    const parts = Testing.synth(chart).filter((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('events-streams'));
    expect(parts.length).toBeGreaterThan(10);
    for (const part of parts) expect(Buffer.byteLength(part.data['streams.json'])).toBeLessThanOrEqual(MAX_PART_BYTES);
    expect(parts.flatMap((p) => JSON.parse(p.data['streams.json']).streams.map((s: any) => s.config.name)).sort())
      .toEqual(store.streams.map((s) => s.name).sort());
  });

  test('accepts many small stream definitions', () => {
    const streams = Array.from({ length: 250 }, (_, i): [string, StreamOptions] => [`s${i}`, {}]);
    expect(synthErrors(storeWith({}, ...streams))).toEqual([]);
  });
});

describe('reporting', () => {
  test('fails with every problem of the app in one synth', () => {
    const chart = newChart();
    const store = new StreamStore(chart, 'events', { replicas: 2, limits: { maxBytes: '1Gi' } });
    store.addStream('bad name', { subjects: ['ok.a'] });
    store.addStream('orders', { subjects: ['orders.*'], maxBytes: '2Gi' });
    new Stream(chart, 'payments', { store, subjects: ['orders.paid'], replicas: 4 });
    new StreamStore(chart, 'Other', { maxFileStore: '20Gi' });
    expect(synthErrors(chart)).toEqual([
      '[test/events] store "events": replicas 2 must be 1, or 3 or 5 for a cluster: JetStream needs a quorum, so even sizes add no safety',
      '[test/events] store "events": stream "orders" subjects[0] "orders.*" overlaps stream "payments" subjects[0] "orders.paid" (test/payments): JetStream refuses overlapping subjects on one server',
      '[test/events/bad name] stream "bad name": name "bad name" must not contain whitespace',
      '[test/events/orders] stream "orders": maxBytes 2GiB exceeds the limit 1GiB of store "events"',
      '[test/payments] stream "payments": replicas 4 must be 1, 3 or 5: JetStream replicates by quorum, so even counts add no safety',
      '[test/Other] store "Other": name "Other" must be a DNS label: lower-case letters, digits and "-", starting with a letter',
      '[test/Other] store "Other": maxFileStore 20GiB exceeds the volume 10GiB minus its 10% headroom (9GiB)',
    ]);
  });

  test('fails with a store prop problem and every stream problem in one synth', () => {
    const chart = storeWith({ maxMemoryStore: '2Gi' },
      ['orders', { subjects: ['orders..created'], maxAge: -5 }],
      ['payments', { subjects: ['payments.>'], replicas: 3 }]);
    expect(synthErrors(chart)).toEqual([
      onStore('maxMemoryStore 2GiB exceeds the container memory limit 1GiB'),
      onStream('maxAge -5 must be a non-negative duration: a whole number of milliseconds, a Go duration string such as "240h" or a cdk8s Duration', 'orders'),
      onStream('subjects[0] "orders..created" has an empty token', 'orders'),
      onStream('replicas 3 exceeds the 1 server(s) of store "events"', 'payments'),
    ]);
  });

  test.each<[string, StreamStoreProps, string]>([
    ['a negative server count', { replicas: -1 },
      'replicas -1 must be 1, or 3 or 5 for a cluster: JetStream needs a quorum, so even sizes add no safety'],
    ['no servers', { replicas: 0 },
      'replicas 0 must be 1, or 3 or 5 for a cluster: JetStream needs a quorum, so even sizes add no safety'],
  ])('fails with %s and the streams\' problems in one synth, the streams checked as if it were unset', (_what, props, storeError) => {
    const chart = storeWith(props, ['orders', { subjects: ['orders..created'], maxBytes: '1Gi' }]);
    expect(synthErrors(chart)).toEqual([onStore(storeError), onStream('subjects[0] "orders..created" has an empty token', 'orders')]);
  });

  test('reports an unreadable memory limit instead of throwing before the app declares its streams', () => {
    const resolution = resolveStore({ resources: { memory: { limit: Size.gibibytes(0.3) } }, maxMemoryStore: '100Mi' }, 'events');
    expect(resolution.problems).toEqual([
      { field: 'resources.memory.limit', value: 'Size(0.3Gi)', rule: 'is invalid: must come to a whole number of bytes' },
    ]);
    expect(resolution.value.memoryLimitBytes).toBeUndefined();
  });

  test('fails on an unreadable field and still checks the rest of the stream', () => {
    expect(streamErrors({ maxBytes: '10Gb', maxAge: '10x', replicas: 2, denyPurge: true, allowRollup: true })).toEqual([
      onStream(`maxBytes "10Gb" is invalid: ${SIZE_SYNTAX}`),
      onStream(`maxAge "10x" is invalid: ${DURATION_SYNTAX}`),
      onStream('replicas 2 must be 1, 3 or 5: JetStream replicates by quorum, so even counts add no safety'),
      onStream('allowRollup true needs purging, which denyPurge forbids'),
    ]);
  });

  test('toThrow names the same exact line', () => {
    const chart = storeWith({}, ['s', { replicas: 3 }]);
    expect(() => Testing.synth(chart)).toThrow('[test/events/s] stream "s": replicas 3 exceeds the 1 server(s) of store "events"');
  });
});

/**
 * Random stream props against a store with 3 servers and limits, checked against an oracle
 * written from the documented rules. Each choice carries what it means, so the oracle never
 * parses units itself.
 */
describe('random stream props', () => {
  const LIMIT = { maxMsgs: 1000, maxBytes: 2 ** 30, maxAgeMs: 24 * 3_600_000 };
  const STORE: StreamStoreProps = { replicas: 3, limits: { maxMsgs: 1000, maxBytes: '1Gi', maxAge: '24h' } };

  type Bytes = number | 'unlimited' | 'bad';
  // Each list: [value, what it means], the choices valid on their own first.
  const maxMsgsChoices: Array<[number | undefined, boolean]> = [
    [undefined, true], [1, true], [999, true], [1000, true],
    [1001, false], [-1, false], [-2, false], [2.5, false],
  ];
  const maxBytesChoices: Array<[StreamOptions['maxBytes'], Bytes]> = [
    [undefined, LIMIT.maxBytes], ['512Mi', 2 ** 29], ['1Gi', 2 ** 30], [2 ** 30, 2 ** 30], ['1G', 1e9], [Size.mebibytes(1024), 2 ** 30],
    ['1025Mi', 1025 * 2 ** 20], [2 ** 30 + 1, 2 ** 30 + 1], ['2Gi', 2 ** 31], [Size.gibibytes(3), 3 * 2 ** 30],
    [-1, 'unlimited'], ['10Gb', 'bad'], [1.5, 'bad'],
  ];
  const maxAgeChoices: Array<[StreamOptions['maxAge'], number | 'bad']> = [
    [undefined, LIMIT.maxAgeMs], ['1m', 60_000], ['90s', 90_000], ['1.5h', 5_400_000], ['24h', LIMIT.maxAgeMs], [Duration.hours(24), LIMIT.maxAgeMs],
    ['100ms', 100], [0, 0], ['50ms', 50], [99, 99], ['24h1ms', LIMIT.maxAgeMs + 1], [Duration.hours(25), 25 * 3_600_000],
    ['10x', 'bad'], [-5, 'bad'],
  ];
  const duplicateWindowChoices: Array<[StreamOptions['duplicateWindow'], number | 'bad' | undefined]> = [
    [undefined, undefined], ['100ms', 100], ['30s', 30_000], ['1m', 60_000],
    ['2m', 120_000], [Duration.minutes(5), 300_000], ['1h', 3_600_000], ['30h', 30 * 3_600_000],
    [0, 0], ['50ms', 50], [99, 99], ['10x', 'bad'], [-5, 'bad'],
  ];
  const replicasChoices: Array<[number | undefined, boolean]> = [
    [undefined, true], [1, true], [3, true],
    [5, false], [2, false], [4, false], [0, false], [1.5, false], [-1, false],
  ];
  /** Valid subjects; 'payments.card' overlaps the fixed stream's 'payments.>'. */
  const VALID_SUBJECTS = ['orders', 'orders.new', 'orders.*', 'orders.>', 'billing.eu', 'billing.us', 'billing.*.x', 'payments', 'payments.card'];
  /** Valid subjects of which no two overlap, nor any with the fixed stream. */
  const DISJOINT_SUBJECTS = ['orders', 'orders.new', 'billing.eu', 'billing.us', 'billing.*.x', 'payments'];
  const INVALID_SUBJECTS = ['orders..new', 'orders.new*', 'orders.>.x', '$JS.API.>', '$SYS.x', '', 'a b'];
  /** Every pair of distinct valid subjects that some subject matches, the fixed stream's included. */
  const OVERLAPS = [
    ['orders.new', 'orders.*'], ['orders.new', 'orders.>'], ['orders.*', 'orders.>'], ['payments.card', 'payments.>'],
  ];
  const overlaps = (a: string, b: string) => OVERLAPS.some(([x, y]) => (x === a && y === b) || (x === b && y === a));

  /** Mostly one of the first `common` choices, so that both outcomes come up often. */
  const choice = <T>(choices: T[], common: number) => fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...choices.slice(0, common)) },
    { weight: 1, arbitrary: fc.constantFrom(...choices.slice(common)) },
  );
  const arbitrary = fc.record({
    maxMsgs: choice(maxMsgsChoices, 4),
    maxBytes: choice(maxBytesChoices, 6),
    maxAge: choice(maxAgeChoices, 6),
    duplicateWindow: choice(duplicateWindowChoices, 4),
    replicas: choice(replicasChoices, 3),
    subjects: fc.oneof(
      { weight: 2, arbitrary: fc.constant(undefined) },
      { weight: 4, arbitrary: fc.uniqueArray(fc.constantFrom(...DISJOINT_SUBJECTS), { minLength: 1, maxLength: 3 }) },
      { weight: 2, arbitrary: fc.array(fc.constantFrom(...VALID_SUBJECTS, ...INVALID_SUBJECTS), { maxLength: 4 }) },
    ),
  });
  type Draw = typeof arbitrary extends fc.Arbitrary<infer T> ? T : never;

  function oracleSaysValid(draw: Draw): boolean {
    const [, msgsOk] = draw.maxMsgs;
    const [, bytes] = draw.maxBytes;
    const [, age] = draw.maxAge;
    const [, window] = draw.duplicateWindow;
    const [, replicasOk] = draw.replicas;
    const bytesOk = typeof bytes === 'number' && bytes <= LIMIT.maxBytes;
    const ageOk = typeof age === 'number' && age >= 100 && age <= LIMIT.maxAgeMs;
    let windowOk = true;
    if (window === 'bad') windowOk = false;
    else if (typeof age === 'number') {
      // 0 is the server default, as undefined is.
      const effective = window || (age > 0 ? Math.min(120_000, age) : 120_000);
      windowOk = effective >= 100 && (age === 0 || effective <= age);
    }
    const subjects = draw.subjects ?? ['gen'];
    const subjectsOk = subjects.length > 0
      && subjects.every((s) => !INVALID_SUBJECTS.includes(s))
      && new Set(subjects).size === subjects.length
      && subjects.every((a, i) => subjects.slice(i + 1).every((b) => !overlaps(a, b)) && !overlaps(a, 'payments.>'));
    return msgsOk && bytesOk && ageOk && windowOk && replicasOk && subjectsOk;
  }

  function options(draw: Draw): StreamOptions {
    const all: Record<string, unknown> = {
      maxMsgs: draw.maxMsgs[0],
      maxBytes: draw.maxBytes[0],
      maxAge: draw.maxAge[0],
      duplicateWindow: draw.duplicateWindow[0],
      replicas: draw.replicas[0],
      subjects: draw.subjects,
    };
    return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined)) as StreamOptions;
  }

  test('synth fails exactly when the oracle finds a broken rule, and every line names the stream or the store', () => {
    const outcomes = { valid: 0, invalid: 0 };
    fc.assert(fc.property(arbitrary, (draw) => {
      const valid = oracleSaysValid(draw);
      outcomes[valid ? 'valid' : 'invalid']++;
      const errors = synthErrors(storeWith(STORE, ['fixed', { subjects: ['payments.>'] }], ['gen', options(draw)]));
      expect(errors.length === 0).toBe(valid);
      for (const line of errors) {
        expect(line.startsWith('[test/events/gen] stream "gen": ') || line.startsWith('[test/events] store "events": ')).toBe(true);
      }
    }), { numRuns: 200 });
    // Both outcomes must be common, or the property would say little about one of them.
    expect(outcomes.valid).toBeGreaterThan(20);
    expect(outcomes.invalid).toBeGreaterThan(20);
  });
});

describe('schema compilation', () => {
  test('loading the library compiles no schema; a store and its streams compile the two they use, without the meta-schema', () => {
    jest.isolateModules(() => {
      // Modules of this registry: the library loaded afresh, with ajv's prototype watched.
      const { default: Ajv } = require('ajv');
      const compile = jest.spyOn(Ajv.prototype, 'compile');
      const validateSchema = jest.spyOn(Ajv.prototype, 'validateSchema');
      const lib = require('../src');
      const cdk8s = require('cdk8s');
      expect(compile).not.toHaveBeenCalled();

      const store = new lib.StreamStore(new cdk8s.Chart(cdk8s.Testing.app(), 'test'), 'events');
      store.addStream('a');
      store.addStream('b');
      expect(compile).toHaveBeenCalledTimes(2);
      expect(validateSchema).not.toHaveBeenCalled();
    });
  });

  test('the schemas are valid JSON Schemas, which the library no longer checks when it compiles them', () => {
    const Ajv = jest.requireActual('ajv').default;
    const metaChecked = new Ajv({ strict: true, allowUnionTypes: true });
    expect(metaChecked.validateSchema(STREAM_OPTIONS_SCHEMA)).toBe(true);
    expect(metaChecked.validateSchema(APPLY_JOB_OPTIONS_SCHEMA)).toBe(true);
  });
});

describe('subject checks', () => {
  /** How many times synth checked `subject`: each check runs one whitespace test on the whole subject. */
  function checksPerSubject(build: (app: App) => void, subjects: string[]): number[] {
    const test = jest.spyOn(RegExp.prototype, 'test');
    try {
      const app = Testing.app();
      build(app);
      app.synthYaml();
      const whitespaceTests = test.mock.contexts.map((regex, i) => [regex, test.mock.calls[i][0]] as const)
        .filter(([regex]) => regex.source.includes('White_Space'));
      return subjects.map((subject) => whitespaceTests.filter(([, tested]) => tested === subject).length);
    } finally {
      test.mockRestore();
    }
  }

  test('checks each subject once per synth, reserved subjects and overlaps included, however many charts render', () => {
    // Valid, so that each chart renders, and each one checked against every reserved namespace.
    const subjects = ['orders.>', 'billing.*.created', 'audit.*', 'payments.eu'];
    const checks = checksPerSubject((app) => {
      const store = new StreamStore(new Chart(app, 'one'), 'events');
      store.addStream('orders', { subjects: subjects.slice(0, 2) });
      store.addStream('audit', { subjects: subjects.slice(2) });
      new Chart(app, 'two');
    }, subjects);
    expect(checks).toEqual([1, 1, 1, 1]);
  });

  test('checks the rules between a store\'s streams once per synth, however many charts render, and again for a stream added since', () => {
    const rules = jest.spyOn(storeRules, 'hostedStreamProblems');
    try {
      const app = Testing.app();
      const store = new StreamStore(new Chart(app, 'one'), 'events');
      store.addStream('orders', { subjects: ['orders.>'] });
      new Chart(app, 'two');
      new Chart(app, 'three');
      app.synthYaml();
      expect(rules).toHaveBeenCalledTimes(1);

      store.addStream('late', { subjects: ['orders.late'] });
      expect(validationErrors(() => app.synthYaml())).toEqual([
        '[one/events] store "events": stream "orders" subjects[0] "orders.>" overlaps stream "late" subjects[0] "orders.late" (one/events/late): JetStream refuses overlapping subjects on one server',
      ]);
      expect(rules).toHaveBeenCalledTimes(2);
    } finally {
      rules.mockRestore();
    }
  });
});

describe('stores of one app', () => {
  test('fails on two stores of one name in one namespace, whose objects would collide; not in two namespaces', () => {
    const app = Testing.app();
    new StreamStore(new Chart(app, 'shop'), 'events').addStream('a', {});
    StreamStore.fromExisting(new Chart(app, 'billing'), 'events', { url: 'nats://nats:4222' }).addStream('b', {});
    expect(validationErrors(() => app.synth())).toEqual([
      '[billing/events] store "events": name "events" is also the name of store shop/events in namespace "default": '
        + 'their objects would have the same names; give one of them another name prop or namespace',
    ]);
    const apart = Testing.app();
    new StreamStore(new Chart(apart, 'shop', { namespace: 'shop' }), 'events').addStream('a', {});
    new StreamStore(new Chart(apart, 'billing', { namespace: 'billing' }), 'events').addStream('b', {});
    expect(validationErrors(() => apart.synth())).toEqual([]);
  });
});
