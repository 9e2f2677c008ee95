import { Chart, Testing } from 'cdk8s';
import { ExistingStreamStore } from '../src/existing-stream-store';
import { Stream } from '../src/stream';
import { DiscardPolicy, StreamOptions, toJetStreamConfig } from '../src/stream-definition';
import { ExternalStream } from '../src/stream-sources';
import { StreamStore, StreamStoreProps } from '../src/stream-store';
import { TransformUse, subjectTransformProblem } from '../src/subject-transforms';
import { NatsServerVersion } from '../src/versions';
import { validationErrors } from './support/validation-errors';

function synthErrors(chart: Chart): string[] {
  return validationErrors(() => Testing.synth(chart));
}

/** A chart with store `events` and its stream `orders` (subjects orders.>), and `declare` adding more. */
function app(declare: (store: StreamStore, orders: Stream, chart: Chart) => void, props: StreamStoreProps = {}): Chart {
  const chart = new Chart(Testing.app(), 'test');
  const store = new StreamStore(chart, 'events', props);
  const orders = store.addStream('orders', { subjects: ['orders.>'] });
  declare(store, orders, chart);
  return chart;
}

const onStore = (message: string) => `[test/events] store "events": ${message}`;
const onStream = (name: string, message: string) => `[test/events/${name}] stream "${name}": ${message}`;

describe('mirrors and sources by object reference', () => {
  test('a mirror and a sourced stream of the app are written by name, capture no subjects and keep no duplicate window', () => {
    let copy!: Stream;
    let archive!: Stream;
    const chart = app((store, orders) => {
      copy = store.addStream('copy', { sources: [orders, { stream: ExternalStream.of('legacy'), filterSubject: 'legacy.eu.>' }] });
      archive = store.addStream('archive', { mirror: orders });
    });
    expect(synthErrors(chart)).toEqual([]);
    expect(toJetStreamConfig(copy.definition)).toMatchObject({
      subjects: [], duplicate_window: 0, sources: [{ name: 'orders' }, { name: 'legacy', filter_subject: 'legacy.eu.>' }],
    });
    expect(toJetStreamConfig(archive.definition)).toMatchObject({ subjects: [], duplicate_window: 0, mirror: { name: 'orders' } });
  });

  test('a sourced stream keeps the duplicate window before 2.14, where the server sets one', () => {
    let copy!: Stream;
    app((store, orders) => {
      copy = store.addStream('copy', { sources: [orders] });
    }, { version: NatsServerVersion.V2_12_15 });
    expect(copy.definition.duplicateWindowMs).toBe(120_000);
  });

  test('an external stream of another domain carries its API and delivery prefixes', () => {
    let copy!: Stream;
    app((store) => {
      copy = store.addStream('copy', { mirror: ExternalStream.of('orders', { apiPrefix: '$JS.hub.API', deliverPrefix: 'hub.deliver' }) });
    });
    expect(toJetStreamConfig(copy.definition).mirror).toEqual({ name: 'orders', external: { api: '$JS.hub.API', deliver: 'hub.deliver' } });
  });

  test('a stream of another store is refused, with how to reach it', () => {
    const chart = app((_store, orders, c) => {
      const other = new StreamStore(c, 'other', {});
      other.addStream('copy', { sources: [orders] });
    });
    expect(synthErrors(chart)).toEqual([
      '[test/other] store "other": stream "copy" sources[0] "orders" (test/events/orders) is on store "events": a stream copies only from '
        + 'streams its own server reaches. Declare both on one store, or connect the stores (leaf nodes with JetStream domains) and '
        + 'name the origin with ExternalStream.of(name, { apiPrefix: "$JS.<domain>.API" })',
    ]);
  });

  test('an origin whose messages may be larger than the copy takes is refused', () => {
    const chart = app((store) => {
      const big = store.addStream('big', { subjects: ['big.>'], maxMsgSize: '1Mi' });
      store.addStream('small', { mirror: big, maxMsgSize: '1Ki' });
    });
    expect(synthErrors(chart)).toEqual([
      onStore('stream "small" mirror "big" (test/events/big) takes messages up to maxMsgSize 1MiB, more than this stream\'s 1KiB'),
    ]);
  });

  test('a mirror takes its origin\'s direct gets, and may not declare others', () => {
    let mirror!: Stream;
    const chart = app((store) => {
      const direct = store.addStream('direct', { subjects: ['direct.>'], allowDirect: true });
      mirror = store.addStream('copy', { mirror: direct });
      store.addStream('wrong', { mirror: direct, mirrorDirect: false });
    });
    expect(mirror.definition.mirrorDirect).toBe(true);
    expect(synthErrors(chart)).toEqual([
      onStore('stream "wrong" mirrorDirect false differs from allowDirect true of its origin "direct" (test/events/direct), which the server copies onto the mirror'),
    ]);
  });

  test('a cycle of sources that would copy messages back is refused; one kept apart by filters is not', () => {
    const cycle = app((store, _orders, c) => {
      const a = new Stream(c, 'a', { store, subjects: ['a.>'] });
      store.addStream('b', { subjects: ['b.>'], sources: [a] });
      // A source may name a stream declared after it by an ExternalStream of the same server.
      store.addStream('c', { subjects: ['c.>'], sources: [ExternalStream.of('b')] });
      store.addStream('a2', { name: 'a-back', subjects: ['ab.>'], sources: [ExternalStream.of('c')] });
    });
    expect(synthErrors(cycle)).toEqual([]);

    const loop = app((store) => {
      const x = store.addStream('x', { subjects: ['x.>'], sources: [ExternalStream.of('y')] });
      store.addStream('y', { subjects: ['y.>'], sources: [x] });
    });
    expect(synthErrors(loop)).toEqual([
      onStore('stream "x" sources y sources x closes a cycle: the stream would copy its own messages back; nats-server refuses it'),
      onStore('stream "y" sources x sources y closes a cycle: the stream would copy its own messages back; nats-server refuses it'),
    ]);

    const filtered = app((store) => {
      const x = store.addStream('x', { subjects: ['x.>'], sources: [{ stream: ExternalStream.of('y'), filterSubject: 'y.>' }] });
      store.addStream('y', { subjects: ['y.>'], sources: [{ stream: x, filterSubject: 'x.>' }] });
    });
    expect(synthErrors(filtered)).toEqual([]);
  });

  test('subject transforms of a source or of the stream make no overlap: only captured subjects do', () => {
    const chart = app((store, orders) => {
      store.addStream('copy', { sources: [{ stream: orders, subjectTransforms: [{ source: 'orders.>', destination: 'payments.>' }] }] });
      store.addStream('payments', { subjects: ['payments.>'] });
      store.addStream('moved', { subjects: ['moved.in.>'], subjectTransform: { source: 'moved.in.>', destination: 'payments.>' } });
    });
    expect(synthErrors(chart)).toEqual([]);
  });

  test('mirrors and sources reserve storage like every other stream', () => {
    const chart = app((store, orders) => {
      store.addStream('copy', { sources: [orders], maxBytes: '6Gi' });
      store.addStream('archive', { mirror: orders, maxBytes: '6Gi' });
    }, { storage: { size: '20Gi' }, maxFileStore: '10Gi' });
    expect(synthErrors(chart)).toEqual([
      onStore('maxFileStore 10GiB x1 server(s) = 10GiB is too small: the file streams reserve 12GiB (maxBytes x replicas: "archive" 6GiB x1, "copy" 6GiB x1)'),
    ]);
  });

  test('an object that is no stream is refused with the field', () => {
    const chart = app((store) => {
      store.addStream('copy', { sources: [{ stream: { name: 'orders' } as never }] });
    });
    expect(synthErrors(chart)).toEqual([onStream('copy', 'sources[0].stream {"name":"orders"} must be a Stream of this app or an ExternalStream')]);
  });

  test('a store it does not deploy takes the same references', () => {
    const chart = new Chart(Testing.app(), 'test');
    const store = new ExistingStreamStore(chart, 'existing', { url: 'nats://nats.example:4222' });
    const orders = store.addStream('orders', { subjects: ['orders.>'] });
    store.addStream('copy', { mirror: orders });
    expect(synthErrors(chart)).toEqual([]);
  });
});

describe('rules of one stream', () => {
  const errors = (options: StreamOptions) => synthErrors(app((store) => store.addStream('s', options))).map((e) => e.replace('[test/events/s] stream "s": ', ''));

  test.each<[string, StreamOptions, string[]]>([
    ['a mirror with subjects', { mirror: ExternalStream.of('o'), subjects: ['x'] },
      ['subjects ["x"] cannot be set on a mirror: it holds exactly what its origin holds, under the origin\'s subjects']],
    ['a mirror with sources', { mirror: ExternalStream.of('o'), sources: [ExternalStream.of('p')] }, ['sources (1) cannot be used with mirror']],
    ['mirror direct without a mirror', { mirrorDirect: true }, ['mirrorDirect true needs a mirror']],
    ['a filter with transforms', { sources: [{ stream: ExternalStream.of('o'), filterSubject: 'o.>', subjectTransforms: [{ destination: 'x.>' }] }] },
      ['sources[0].filterSubject "o.>" cannot be used with subjectTransforms']],
    ['the same source twice', { sources: [ExternalStream.of('o'), ExternalStream.of('o')] }, ['sources[1] "o" copies the same messages as sources[0]']],
    ['schedules with sources', { sources: [ExternalStream.of('o')], allowMsgSchedules: true, allowRollup: true }, ['allowMsgSchedules true cannot be used with sources']],
    ['an API prefix of this server', { sources: [ExternalStream.of('o', { apiPrefix: '$JS.API' })] },
      ['sources[0].stream.apiPrefix "$JS.API" is this server\'s own API: name a JetStream domain\'s, such as $JS.hub.API']],
    ['republishing into its own subjects', { subjects: ['a.>'], republish: { destination: 'a.b.>' } },
      ['republish.destination "a.b.>" overlaps the stream\'s subject "a.>": republished messages would be stored again']],
    ['a transform reading a wildcard the source lacks', { subjects: ['a.*'], subjectTransform: { source: 'a.*', destination: 'b.$2' } },
      ['subjectTransform a.* -> b.$2 destination "$2" reads wildcard 2, and source "a.*" has 1']],
    ['an empty placement, which the server drops', { subjects: ['a.>'], placement: {} }, ['placement {} must NOT have fewer than 1 properties']],
    ['a durable consumer with a filter', { sources: [{ stream: ExternalStream.of('o'), filterSubject: 'o.>', consumer: { name: 'c', deliverSubject: 'd.c' } }] },
      ['sources[0].filterSubject "o.>" cannot be used with consumer: the consumer filters']],
    ['a durable consumer with a wildcard deliver subject', { mirror: { stream: ExternalStream.of('o'), consumer: { name: 'c', deliverSubject: 'd.*' } } },
      ['mirror.consumer.deliverSubject "d.*" must be a subject without wildcards']],
    ['one durable consumer for two sources', {
      sources: [{ stream: ExternalStream.of('o'), consumer: { name: 'c', deliverSubject: 'd.a' } }, { stream: ExternalStream.of('o'), subjectTransforms: [{ source: 'o.eu.>', destination: '' }], consumer: { name: 'c', deliverSubject: 'd.b' } }],
    }, ['sources[1].consumer.name "c" is the consumer sources[0] copies through: one consumer serves one source']],
    ['a placement by no tags', { subjects: ['a.>'], placement: { tags: [] } }, ['placement.tags [] must NOT have fewer than 1 items']],
  ])('refuses %s', (_what, options, expected) => {
    expect(errors(options)).toEqual(expected);
  });

  test('a transform, republish or placement with a broken field is reported once and left out whole', () => {
    let stream!: Stream;
    const chart = app((store) => {
      stream = store.addStream('s', {
        subjects: ['s.>'],
        subjectTransform: { destination: 5 as never },
        republish: { source: 's.>', destination: 7 as never },
        placement: { cluster: 'events', tags: [''] },
      });
    });
    expect(synthErrors(chart)).toEqual([
      onStream('s', 'subjectTransform.destination 5 must be string'),
      onStream('s', 'republish.destination 7 must be string'),
      onStream('s', 'placement.tags[0] "" must NOT have fewer than 1 characters'),
    ]);
    const config = toJetStreamConfig(stream.definition);
    expect([config.subject_transform, config.republish, config.placement]).toEqual([undefined, undefined, undefined]);
  });

  test('an empty source subject means every subject, as the server reads it', () => {
    let stream!: Stream;
    app((store) => {
      stream = store.addStream('s', {
        subjects: ['s.>'],
        subjectTransform: { source: '', destination: 'moved.>' },
        republish: { source: '', destination: 'out.>' },
        sources: [{ stream: ExternalStream.of('o'), subjectTransforms: [{ source: '', destination: 'o.copied.>' }] }],
      });
    });
    const config = toJetStreamConfig(stream.definition);
    expect([config.subject_transform, config.republish, config.sources]).toEqual([
      { src: '>', dest: 'moved.>' }, { src: '>', dest: 'out.>' }, [{ name: 'o', subject_transforms: [{ src: '>', dest: 'o.copied.>' }] }],
    ]);
  });

  test('an empty list of sources copies nothing: the stream captures its name as a stream without sources does', () => {
    let empty!: Stream;
    let none!: Stream;
    app((store) => {
      empty = store.addStream('empty', { sources: [] });
      none = store.addStream('none', {});
    });
    expect(toJetStreamConfig(empty.definition)).toMatchObject({ subjects: ['empty'], duplicate_window: 120_000_000_000 });
    expect(toJetStreamConfig(empty.definition).sources).toBeUndefined();
    expect(toJetStreamConfig(none.definition)).toMatchObject({ subjects: ['none'], duplicate_window: 120_000_000_000 });
  });

  test('an external delivery prefix that would put a local origin\'s subjects under themselves is refused', () => {
    const chart = app((store, orders) => {
      store.addStream('copy', { sources: [orders, ExternalStream.of('remote', { apiPrefix: '$JS.hub.API', deliverPrefix: 'orders' })] });
      store.addStream('fine', { sources: [orders, ExternalStream.of('remote', { apiPrefix: '$JS.hub.API', deliverPrefix: 'hub.deliver' })] });
    });
    expect(synthErrors(chart)).toEqual([
      onStore('stream "copy" sources[1].stream.deliverPrefix "orders" overlaps the subject "orders.>" of a local origin once it is prefixed: '
        + 'choose a prefix outside it'),
    ]);
  });

  test('a sealed stream is what the server makes of it, and declares nothing against it', () => {
    let sealed!: Stream;
    const chart = app((store) => {
      sealed = store.addStream('sealed', { subjects: ['sealed.>'], sealed: true });
      store.addStream('bad', { subjects: ['bad.>'], sealed: true, maxAge: '1h', discard: DiscardPolicy.OLD, denyDelete: false, allowRollup: true });
    }, { defaults: { maxAge: '24h' } });
    expect(sealed.definition).toMatchObject({ sealed: true, maxAgeMs: 0, discard: 'new', denyDelete: true, denyPurge: true, allowRollup: false });
    const rule = 'cannot be declared on a sealed stream: the server seals it with no max age, discard new, deny delete, deny purge and no roll-ups';
    expect(synthErrors(chart)).toEqual([
      onStream('bad', 'allowRollup true needs purging, which denyPurge forbids'),
      onStream('bad', `maxAge 1h ${rule}`),
      onStream('bad', `discard "old" ${rule}`),
      onStream('bad', `denyDelete false ${rule}`),
      onStream('bad', `allowRollup true ${rule}`),
    ]);
  });

  test('placement on a store this app deploys: its cluster by the store\'s name, no tags', () => {
    const single = app((store) => store.addStream('p', { subjects: ['p.>'], placement: { cluster: 'events', tags: ['az:1'] } }));
    expect(synthErrors(single)).toEqual([
      onStore('stream "p" placement.tags ["az:1"] cannot be met: the servers of store "events" carry no tags'),
      onStore('stream "p" placement.cluster "events" cannot be met: store "events" is a single server, not a cluster'),
    ]);
    const cluster = app((store) => {
      store.addStream('p', { subjects: ['p.>'], placement: { cluster: 'events' } });
      store.addStream('q', { subjects: ['q.>'], placement: { cluster: 'east' } });
    }, { replicas: 3 });
    expect(synthErrors(cluster)).toEqual([onStore('stream "q" placement.cluster "east" is not the cluster of store "events", which is named "events"')]);
  });
});

describe('subjectTransformProblem', () => {
  const V2_10 = NatsServerVersion.V2_10_27;
  const V2_12 = NatsServerVersion.V2_12_15;
  const V2_14 = NatsServerVersion.V2_14_10;

  test.each<[string, string, NatsServerVersion, TransformUse, string | undefined]>([
    ['a.*', 'b.$1', V2_10, TransformUse.STREAM, undefined],
    ['a.*.*', 'b.{{ Wildcard(2) }}.{{splitFromLeft(1, 2)}}', V2_10, TransformUse.COPY, undefined],
    ['a.*', 'b.{{partition(3,1)}}', V2_10, TransformUse.COPY, undefined],
    ['a', 'b.{{partition(3)}}', V2_10, TransformUse.STREAM, 'destination "{{partition(3)}}": partition() needs a wildcard argument before NATS server 2.12.0'],
    ['a', 'b.{{partition(3)}}', V2_12, TransformUse.STREAM, undefined],
    ['a.>', 'b.{{random(5)}}.>', V2_12, TransformUse.STREAM, undefined],
    ['a.*', 'b.{{random(5)}}', V2_10, TransformUse.STREAM, 'destination "{{random(5)}}": random() needs NATS server 2.12.0 or newer'],
    ['a.*', 'b.{{left(1,2)}}', V2_10, TransformUse.STREAM, undefined],
    ['a.*', 'b.{{left(1,2)}}', V2_12, TransformUse.STREAM, 'destination "{{left(1,2)}}": left() here needs NATS server 2.14.0 or newer'],
    ['a.*', 'b.{{left(1,2)}}', V2_14, TransformUse.COPY, undefined],
    ['a.*', 'b.{{nope(1)}}', V2_14, TransformUse.STREAM, 'destination "{{nope(1)}}" is not a mapping function'],
    ['a.*', 'b.{{wildcard(x)}}', V2_14, TransformUse.STREAM, 'destination "{{wildcard(x)}}": wildcard() takes an integer argument'],
    ['a.*', 'b.{{split(1,a b)}}', V2_14, TransformUse.STREAM, 'destination "{{split(1,a b)}}": split() takes a delimiter without spaces'],
    ['a.>', 'b', V2_14, TransformUse.STREAM, 'source and destination must both end in ">" or neither'],
    ['a.*', 'b.*', V2_14, TransformUse.STREAM, 'destination must not contain "*"'],
    ['a.*', 'b..c', V2_14, TransformUse.STREAM, 'destination has an empty token'],
    ['a.*', '', V2_14, TransformUse.COPY, undefined],
  ])('%s -> %s on %s (%s)', (source, destination, version, use, expected) => {
    expect(subjectTransformProblem(source, destination, version, use)).toBe(expected);
  });
});
