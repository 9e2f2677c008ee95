import { Chart, Duration, Size, Testing } from 'cdk8s';
import { Stream } from '../src/stream';
import {
  Compression, DiscardPolicy, JetStreamStreamConfig, PersistMode, Retention, StorageType, StreamDefinition, StreamOptions,
  StreamRetentionPolicy, UNLIMITED, toJetStreamConfig,
} from '../src/stream-definition';
import { StreamStore, StreamStoreProps } from '../src/stream-store';
import { declaredStreams } from './support/streams-document';

const KI = 1024;
const MI = 1024 * KI;
const GI = 1024 * MI;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

function newStore(props: StreamStoreProps = {}): { chart: Chart; store: StreamStore } {
  const chart = new Chart(Testing.app(), 'test');
  return { chart, store: new StreamStore(chart, 'events', props) };
}

/** The resolved definition of one stream declared on a store with `storeProps`. */
function resolve(options: StreamOptions = {}, storeProps: StreamStoreProps = {}, id = 'orders'): StreamDefinition {
  return newStore(storeProps).store.addStream(id, options).definition;
}

/** The settings of NATS 2.10 and newer, as a stream that uses none of them resolves them. */
const NEWER_FIELDS_OFF = {
  consumerLimits: { inactiveThresholdMs: 0, maxAckPending: 0 },
  allowMsgTtl: false,
  subjectDeleteMarkerTtlMs: 0,
  allowMsgCounter: false,
  allowAtomic: false,
  allowMsgSchedules: false,
  persistMode: PersistMode.DEFAULT,
  allowBatched: false,
  sources: [],
  mirrorDirect: false,
  sealed: false,
} as const;

const limitsOf = (d: StreamDefinition) => ({ maxMsgs: d.maxMsgs, maxBytes: d.maxBytes, maxAgeMs: d.maxAgeMs, maxMsgSize: d.maxMsgSize });

describe('Stream defaults', () => {
  test('applies JetStream defaults to a stream with no props', () => {
    expect(resolve()).toEqual({
      name: 'orders',
      subjects: ['orders'],
      description: undefined,
      retention: Retention.LIMITS,
      storage: StorageType.FILE,
      replicas: 1,
      maxConsumers: UNLIMITED,
      maxMsgs: UNLIMITED,
      maxBytes: UNLIMITED,
      maxAgeMs: 0,
      maxMsgSize: UNLIMITED,
      maxMsgsPerSubject: UNLIMITED,
      discard: DiscardPolicy.OLD,
      discardNewPerSubject: false,
      duplicateWindowMs: 2 * MINUTE,
      denyDelete: false,
      denyPurge: false,
      allowRollup: false,
      allowDirect: false,
      noAck: false,
      compression: undefined,
      firstSequence: undefined,
      metadata: undefined,
      ...NEWER_FIELDS_OFF,
      retentionPolicy: StreamRetentionPolicy.RETAIN,
      allowDataLoss: false,
      adopt: false,
    });
  });

  test('takes the store defaults for limits the stream does not set', () => {
    const store = { defaults: { maxMsgs: 100, maxBytes: '1Gi', maxAge: '24h', maxMsgSize: '1Ki' } };
    expect(limitsOf(resolve({}, store))).toEqual({ maxMsgs: 100, maxBytes: GI, maxAgeMs: 24 * HOUR, maxMsgSize: KI });
  });

  test('falls back to the store limits when the store has no default', () => {
    const store = { limits: { maxMsgs: 1000, maxBytes: '2Gi', maxAge: '48h', maxMsgSize: '2Ki' } };
    expect(limitsOf(resolve({}, store))).toEqual({ maxMsgs: 1000, maxBytes: 2 * GI, maxAgeMs: 48 * HOUR, maxMsgSize: 2 * KI });
  });

  test('prefers the store default to the store limit, field by field', () => {
    const store = {
      defaults: { maxBytes: '1Gi', maxAge: '1h' },
      limits: { maxMsgs: 1000, maxBytes: '2Gi', maxAge: '48h', maxMsgSize: '2Ki' },
    };
    expect(limitsOf(resolve({}, store))).toEqual({ maxMsgs: 1000, maxBytes: GI, maxAgeMs: HOUR, maxMsgSize: 2 * KI });
  });

  test('keeps its own limits over the store defaults and limits', () => {
    const store = {
      defaults: { maxMsgs: 100, maxBytes: '1Gi', maxAge: '1h', maxMsgSize: '1Ki' },
      limits: { maxMsgs: 1000, maxBytes: '2Gi', maxAge: '48h', maxMsgSize: '2Ki' },
    };
    const own = { maxMsgs: 500, maxBytes: '1536Mi', maxAge: '2h', maxMsgSize: 2048 };
    expect(limitsOf(resolve(own, store))).toEqual({ maxMsgs: 500, maxBytes: 1536 * MI, maxAgeMs: 2 * HOUR, maxMsgSize: 2 * KI });
  });

  test('is unlimited (-1, or 0 for age) when neither the stream nor the store sets a limit', () => {
    expect(limitsOf(resolve())).toEqual({ maxMsgs: -1, maxBytes: -1, maxAgeMs: 0, maxMsgSize: -1 });
  });

  test('keeps an explicit unlimited over a store default', () => {
    const store = { defaults: { maxMsgs: 100, maxBytes: '1Gi', maxAge: '1h', maxMsgSize: '1Ki' } };
    expect(limitsOf(resolve({ maxMsgs: -1, maxBytes: -1, maxAge: 0, maxMsgSize: -1 }, store)))
      .toEqual({ maxMsgs: -1, maxBytes: -1, maxAgeMs: 0, maxMsgSize: -1 });
  });

  test.each<[string, StreamOptions['maxBytes'], number]>([
    ['decimal giga', '1G', 1e9],
    ['binary gibi', '10Gi', 10 * GI],
    ['NATS spelling', '512MiB', 512 * MI],
    ['fraction', '1.5Gi', 1.5 * GI],
    ['number of bytes', 4096, 4096],
    ['cdk8s Size', Size.gibibytes(2), 2 * GI],
  ])('reads maxBytes given as a %s', (_what, maxBytes, bytes) => {
    expect(resolve({ maxBytes }).maxBytes).toBe(bytes);
  });

  test.each<[string, StreamOptions['maxAge'], number]>([
    ['hours', '240h', 240 * HOUR],
    ['hours and minutes', '4h35m', 4 * HOUR + 35 * MINUTE],
    ['days', '7d', 7 * 24 * HOUR],
    ['fraction', '1.5s', 1500],
    ['number of milliseconds', 90_000, 90_000],
    ['cdk8s Duration', Duration.hours(3), 3 * HOUR],
  ])('reads maxAge given as %s', (_what, maxAge, ms) => {
    expect(resolve({ maxAge }).maxAgeMs).toBe(ms);
  });

  test('reads the store defaults and limits in every unit form', () => {
    const store = { defaults: { maxBytes: Size.mebibytes(64), maxAge: Duration.minutes(90) }, limits: { maxMsgSize: '1M' } };
    expect(limitsOf(resolve({}, store))).toEqual({ maxMsgs: -1, maxBytes: 64 * MI, maxAgeMs: 90 * MINUTE, maxMsgSize: 1e6 });
  });

  test('takes its name from the construct id, and its only subject from its name', () => {
    const definition = resolve({}, {}, 'payments');
    expect(definition.name).toBe('payments');
    expect(definition.subjects).toEqual(['payments']);
  });

  test('takes the name prop over the construct id, also as its default subject', () => {
    const { store } = newStore();
    const stream = store.addStream('Payments', { name: 'PAYMENTS' });
    expect(stream.name).toBe('PAYMENTS');
    expect(stream.definition.subjects).toEqual(['PAYMENTS']);
    expect(stream.node.id).toBe('Payments');
  });

  test('keeps the subjects it is given, in order', () => {
    expect(resolve({ subjects: ['orders.created', 'orders.>'] }).subjects).toEqual(['orders.created', 'orders.>']);
  });

  test.each<[string, StreamOptions, StreamStoreProps, number]>([
    ['2m with no max age', {}, {}, 2 * MINUTE],
    ['2m under a longer max age', { maxAge: '10m' }, {}, 2 * MINUTE],
    ['the max age when it is shorter than 2m', { maxAge: '1m' }, {}, MINUTE],
    ['a max age inherited from the store defaults', {}, { defaults: { maxAge: '30s' } }, 30 * SECOND],
    ['a max age inherited from the store limits', {}, { limits: { maxAge: '45s' } }, 45 * SECOND],
    ['the window it is given', { duplicateWindow: '5m', maxAge: '1h' }, {}, 5 * MINUTE],
    ['a window given as a Duration', { duplicateWindow: Duration.seconds(10) }, {}, 10 * SECOND],
    ['the default for a window of 0, as the server does', { duplicateWindow: 0, maxAge: '1m' }, {}, MINUTE],
  ])('sets the duplicate window to %s', (_what, options, store, ms) => {
    expect(resolve(options, store).duplicateWindowMs).toBe(ms);
  });
});

describe('Stream registration', () => {
  test('addStream creates the stream under the store and registers it', () => {
    const { store } = newStore();
    const stream = store.addStream('orders');
    expect(stream).toBeInstanceOf(Stream);
    expect(stream.node.path).toBe('test/events/orders');
    expect(stream.store).toBe(store);
    expect(store.streams).toEqual([stream]);
  });

  test('a Stream declared outside the store subtree is registered on the store and rendered by it', () => {
    const { chart, store } = newStore();
    const first = store.addStream('orders');
    const outside = new Stream(chart, 'audit', { store, subjects: ['audit.>'] });
    expect(outside.node.path).toBe('test/audit');
    expect(outside.store).toBe(store);
    expect(store.streams).toEqual([first, outside]);

    const objects = Testing.synth(chart);
    const streams = JSON.parse(objects.find((o) => o.metadata.name === 'events-streams').data['streams.json']).streams;
    expect(streams.map((s: any) => s.config.name)).toEqual(['audit', 'orders']);
    expect(streams[0].config.subjects).toEqual(['audit.>']);
  });

  test('a Stream resolves against the store it is given, not the one it is nested in', () => {
    const { chart, store } = newStore({ defaults: { maxMsgs: 10 } });
    const other = new StreamStore(chart, 'other', { defaults: { maxMsgs: 20 } });
    const stream = new Stream(store, 'nested', { store: other });
    expect(stream.definition.maxMsgs).toBe(20);
    expect(other.streams).toEqual([stream]);
    expect(store.streams).toEqual([]);
  });

  test('lists the streams in declaration order', () => {
    const { chart, store } = newStore();
    const names = ['zeta', 'alpha', 'mid'].map((id) => new Stream(chart, id, { store }).name);
    expect(store.streams.map((s) => s.name)).toEqual(names);
  });
});

const DEFINITION: StreamDefinition = {
  name: 'orders',
  subjects: ['orders.>'],
  retention: Retention.LIMITS,
  storage: StorageType.FILE,
  replicas: 3,
  maxConsumers: UNLIMITED,
  maxMsgs: 1000,
  maxBytes: GI,
  maxAgeMs: 240 * HOUR,
  maxMsgSize: MI,
  maxMsgsPerSubject: 10,
  discard: DiscardPolicy.OLD,
  discardNewPerSubject: false,
  duplicateWindowMs: 2 * MINUTE,
  denyDelete: false,
  denyPurge: false,
  allowRollup: false,
  allowDirect: false,
  noAck: false,
  ...NEWER_FIELDS_OFF,
  retentionPolicy: StreamRetentionPolicy.RETAIN,
  allowDataLoss: false,
  adopt: false,
};

const CONFIG: JetStreamStreamConfig = {
  name: 'orders',
  subjects: ['orders.>'],
  retention: 'limits',
  storage: 'file',
  num_replicas: 3,
  max_consumers: -1,
  max_msgs: 1000,
  max_bytes: GI,
  max_age: 240 * HOUR * 1e6,
  max_msg_size: MI,
  max_msgs_per_subject: 10,
  discard: 'old',
  discard_new_per_subject: false,
  duplicate_window: 120e9,
  deny_delete: false,
  deny_purge: false,
  allow_rollup_hdrs: false,
  allow_direct: false,
  mirror_direct: false,
  sealed: false,
  no_ack: false,
};

describe('toJetStreamConfig', () => {
  test.each<[string, Partial<StreamDefinition>, Partial<JetStreamStreamConfig>]>([
    ['every required field, durations in nanoseconds', {}, {}],
    ['unlimited age as 0', { maxAgeMs: 0 }, { max_age: 0 }],
    ['milliseconds as nanoseconds', { maxAgeMs: 1500, duplicateWindowMs: 100 }, { max_age: 1_500_000_000, duplicate_window: 100_000_000 }],
    ['a year of max age exactly', { maxAgeMs: 8760 * HOUR }, { max_age: 31_536_000_000_000_000 }],
    ['memory storage and work-queue retention', { storage: StorageType.MEMORY, retention: Retention.WORK_QUEUE },
      { storage: 'memory', retention: 'workqueue' }],
    ['interest retention', { retention: Retention.INTEREST }, { retention: 'interest' }],
    ['discard new per subject', { discard: DiscardPolicy.NEW, discardNewPerSubject: true }, { discard: 'new', discard_new_per_subject: true }],
    ['the flags', { denyDelete: true, denyPurge: true, allowRollup: true, allowDirect: true, noAck: true },
      { deny_delete: true, deny_purge: true, allow_rollup_hdrs: true, allow_direct: true, no_ack: true }],
    ['a description', { description: 'Order events' }, { description: 'Order events' }],
    ['compression', { compression: Compression.S2 }, { compression: 's2' }],
    ['the first sequence', { firstSequence: 42 }, { first_seq: 42 }],
    ['metadata', { metadata: { owner: 'team-a' } }, { metadata: { owner: 'team-a' } }],
  ])('maps %s', (_what, definition, config) => {
    expect(toJetStreamConfig({ ...DEFINITION, ...definition })).toStrictEqual({ ...CONFIG, ...config });
  });

  test.each<[keyof JetStreamStreamConfig]>([['description'], ['compression'], ['first_seq'], ['metadata']])(
    'leaves %s out when it is not set', (field) => {
      expect(Object.keys(toJetStreamConfig(DEFINITION))).not.toContain(field);
    });

  test('sorts the metadata keys', () => {
    const config = toJetStreamConfig({ ...DEFINITION, metadata: { zeta: '1', Alpha: '2', alpha: '3', beta: '4' } });
    expect(Object.keys(config.metadata!)).toEqual(['Alpha', 'alpha', 'beta', 'zeta']);
  });

  test('copies the subjects, so the definition cannot be changed through the config', () => {
    const config = toJetStreamConfig(DEFINITION);
    config.subjects.push('more');
    expect(DEFINITION.subjects).toEqual(['orders.>']);
  });

  test('maps a resolved stream as the store renders it', () => {
    const { chart, store } = newStore({ replicas: 3 });
    const stream = store.addStream('orders', {
      subjects: ['orders.>'], replicas: 3, maxMsgs: 1000, maxBytes: '1Gi', maxAge: '240h', maxMsgSize: '1Mi', maxMsgsPerSubject: 10,
    });
    expect(toJetStreamConfig(stream.definition)).toStrictEqual(CONFIG);
    const document = declaredStreams(Testing.synth(chart), 'events');
    expect(document.streams).toEqual([{ retentionPolicy: 'Retain', allowDataLoss: false, adopt: false, allowSeal: false, config: CONFIG, consumers: [] }]);
  });
});
