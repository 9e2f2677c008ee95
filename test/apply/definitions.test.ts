import { parseStreamsDocument, parseStreamsDocuments } from '../../src/apply/definitions';
import { StreamPolicy, StreamRetentionPolicy, resolveStream } from '../../src/stream-definition';
import { Yaml } from 'cdk8s';
import { parseObjects } from '../../src/previous-manifests';
import { nextGeneration, renderStreamsParts, withGeneration } from '../../src/streams-config';
import { NatsServerVersion } from '../../src/versions';
import { declaredConfig } from './fixtures';

const POLICY: StreamPolicy = {
  storeName: 'events',
  replicas: 1,
  version: NatsServerVersion.V2_10_24,
  maxPayloadBytes: 1024 * 1024,
  defaults: {},
  limits: {},
};

function documentText(streams: unknown[], header: Record<string, unknown> = { store: 'events', version: '2.10.24' }): string {
  return JSON.stringify({ ...header, streams });
}

function entry(overrides: Record<string, unknown> = {}, config: Record<string, unknown> = {}): Record<string, unknown> {
  return { retentionPolicy: 'Retain', config: { ...declaredConfig(), ...config }, ...overrides };
}

describe('parseStreamsDocument', () => {
  test('reads what renderStreamsParts writes, durations and sizes back in nanoseconds and bytes, with allowDataLoss and adopt off', () => {
    const definitions = [
      resolveStream({ subjects: ['orders.>'], metadata: { team: 'shop' } }, 'orders', POLICY).value,
      resolveStream({ retentionPolicy: StreamRetentionPolicy.DELETE, description: 'audit' }, 'audit', POLICY).value,
    ];
    const [{ text }] = renderStreamsParts('events', '2.10.24', 0, definitions);

    const document = parseStreamsDocument(text, 'streams.json');

    expect(document.store).toBe('events');
    expect(document.version).toBe('2.10.24');
    expect(document.streams.map((s) => [s.config.name, s.retentionPolicy, s.allowDataLoss, s.adopt])).toEqual([
      ['audit', 'Delete', false, false],
      ['orders', 'Retain', false, false],
    ]);
    expect(document.streams[1].config).toEqual(declaredConfig({ metadata: { team: 'shop' } }));
  });

  test('reads allowDataLoss and adopt', () => {
    const document = parseStreamsDocument(documentText([entry({ allowDataLoss: true, adopt: true })]), 'streams.json');
    expect(document.streams[0]).toMatchObject({ allowDataLoss: true, adopt: true });
  });

  test('keeps configuration fields it does not know, for a newer synth', () => {
    const transform = { src: 'orders.>', dest: 'shop.orders.>' };
    const document = parseStreamsDocument(documentText([entry({}, { subject_transform: transform })]), 'streams.json');
    expect((document.streams[0].config as unknown as Record<string, unknown>).subject_transform).toEqual(transform);
  });

  test('writes the durations of the 2.10 and 2.11 fields in units, the nested consumer limit too, and reads them back', () => {
    const definition = resolveStream({
      consumerLimits: { inactiveThreshold: '30m', maxAckPending: 500 }, allowMsgTtl: true, allowRollup: true, subjectDeleteMarkerTtl: '5m',
    }, 'orders', { ...POLICY, version: NatsServerVersion.V2_15_3 }).value;
    const [{ text }] = renderStreamsParts('events', '2.15.3', 0, [definition]);
    expect(text).toContain('"inactive_threshold": "30m"');
    expect(text).toContain('"subject_delete_marker_ttl": "5m"');
    expect(parseStreamsDocument(text, 'streams.json').streams[0].config).toMatchObject({
      consumer_limits: { inactive_threshold: 30 * 60e9, max_ack_pending: 500 }, allow_msg_ttl: true, subject_delete_marker_ttl: 5 * 60e9,
    });
    expect(() => parseStreamsDocument(documentText([entry({}, { consumer_limits: { inactive_threshold: 'soon' } })]), 's'))
      .toThrow('streams[0].config.consumer_limits.inactive_threshold "soon"');
  });

  test('reads durations and sizes written with units, and as nanoseconds and bytes', () => {
    const withUnits = parseStreamsDocument(documentText([entry({}, { max_age: '1h30m', duplicate_window: '2m', max_bytes: '5GiB', max_msg_size: '1Mi' })]), 's');
    expect(withUnits.streams[0].config).toMatchObject({
      max_age: 5_400_000_000_000, duplicate_window: 120_000_000_000, max_bytes: 5 * 2 ** 30, max_msg_size: 2 ** 20,
    });
    const plain = parseStreamsDocument(documentText([entry({}, { max_age: 1500, max_bytes: -1 })]), 's');
    expect(plain.streams[0].config).toMatchObject({ max_age: 1500, max_bytes: -1 });
  });

  test('joins the files of one store, and fails on a stream in two of them or files of different stores', () => {
    const file = (store: string, streams: unknown[]) => ({ source: `${store}-${streams.length}.json`, text: documentText(streams, { store, version: '2.10.24' }) });
    const joined = parseStreamsDocuments([file('events', [entry()]), file('events', [entry({}, { name: 'audit' }), entry({}, { name: 'jobs' })])]);
    expect(joined.streams.map((s) => s.config.name)).toEqual(['orders', 'audit', 'jobs']);
    expect(() => parseStreamsDocuments([file('events', [entry()]), file('events', [entry(), entry({}, { name: 'x' })])])).toThrow(
      'invalid streams document events-1.json, events-2.json:\n  stream "orders" is declared in more than one file');
    expect(() => parseStreamsDocuments([file('events', [entry()]), file('other', [entry({}, { name: 'x' })])])).toThrow(
      'invalid streams document events-1.json, other-1.json:\n  other-1.json: store "other" version 2.10.24 generation 0 is not the store "events" version 2.10.24 generation 0 of events-1.json');
  });

  test('reads an empty store', () => {
    expect(parseStreamsDocument(documentText([]), 'streams.json').streams).toEqual([]);
  });

  test.each<[string, string, string]>([
    ['a document that is not an object', '[]', '(document) [] must be object'],
    ['a missing store', documentText([], { version: '2.10.24' }), 'store (unset) is required'],
    ['a version that is not a release number', documentText([], { store: 'events', version: '2.10' }),
      'version "2.10" must match pattern "^\\d+\\.\\d+\\.\\d+$"'],
    ['streams that are not a list', JSON.stringify({ store: 'events', version: '2.10.24', streams: {} }), 'streams {} must be array'],
    ['an unknown top-level property', documentText([], { store: 'events', version: '2.10.24', stores: [] }), 'stores [] is not a known property'],
    ['a misspelt switch', documentText([entry({ allowDataloss: true })]), 'streams[0].allowDataloss true is not a known property'],
    ['a switch that is not a boolean', documentText([entry({ adopt: 'yes' })]), 'streams[0].adopt "yes" must be boolean'],
    ['an unknown retention policy', documentText([entry({ retentionPolicy: 'Keep' })]),
      'streams[0].retentionPolicy "Keep" must be one of "Retain", "Delete"'],
    ['a missing retention policy', documentText([{ config: declaredConfig() }]), 'streams[0].retentionPolicy (unset) is required'],
    ['a missing config', documentText([{ retentionPolicy: 'Retain' }]), 'streams[0].config (unset) is required'],
    ['a missing name', documentText([entry({}, { name: undefined })]), 'streams[0].config.name (unset) is required'],
    ['a missing flag', documentText([entry({}, { sealed: undefined })]), 'streams[0].config.sealed (unset) is required'],
    ['an unknown retention', documentText([entry({}, { retention: 'forever' })]),
      'streams[0].config.retention "forever" must be one of "limits", "interest", "workqueue"'],
    ['an unknown storage', documentText([entry({}, { storage: 'disk' })]), 'streams[0].config.storage "disk" must be one of "file", "memory"'],
    ['an unknown discard policy', documentText([entry({}, { discard: 'all' })]), 'streams[0].config.discard "all" must be one of "old", "new"'],
    ['an unknown compression', documentText([entry({}, { compression: 'zstd' })]), 'streams[0].config.compression "zstd" must be one of "none", "s2"'],
    ['a fractional replica count', documentText([entry({}, { num_replicas: 2.5 })]), 'streams[0].config.num_replicas 2.5 must be integer'],
    ['too many replicas', documentText([entry({}, { num_replicas: 7 })]), 'streams[0].config.num_replicas 7 must be <= 5'],
    ['a limit below -1', documentText([entry({}, { max_msgs: -2 })]), 'streams[0].config.max_msgs -2 must be >= -1'],
    ['a negative age', documentText([entry({}, { max_age: -1 })]), 'streams[0].config.max_age -1 must be >= 0'],
    ['an age that is not a duration', documentText([entry({}, { max_age: '3 days' })]),
      'streams[0].config.max_age "3 days" expected a Go duration such as "240h", "4h35m", "90s" or "100ms"'],
    ['a size with an unknown unit', documentText([entry({}, { max_bytes: '5GB!' })]),
      'streams[0].config.max_bytes "5GB!" expected a whole number of bytes with an optional unit (k, M, G, T, P, Ki, Mi, Gi, Ti, Pi, KB, MB, GB, TB, KiB, MiB, GiB, TiB, B), for example "10Gi" or "1G"'],
    ['a first sequence of 0', documentText([entry({}, { first_seq: 0 })]), 'streams[0].config.first_seq 0 must be >= 1'],
    ['a metadata value that is not a string', documentText([entry({}, { metadata: { tier: 1 } })]),
      'streams[0].config.metadata.tier 1 must be string'],
    ['a name that is not a subject token', documentText([entry({}, { name: 'orders.eu' })]),
      'streams[0].config.name "orders.eu" must not contain "."'],
    ['no subjects, no mirror and no sources', documentText([entry({}, { subjects: [] })]),
      'streams[0].config.subjects [] must list a subject unless the stream has a mirror or sources'],
    ['a name declared twice', documentText([entry(), entry({ retentionPolicy: 'Delete' })]),
      'streams[1].config.name "orders" is already declared by streams[0]'],
  ])('fails on %s', (_, text, problem) => {
    expect(() => parseStreamsDocument(text, 'config/streams.json'))
      .toThrow(new Error(`invalid streams document config/streams.json:\n  ${problem}`));
  });

  test('fails with every problem of the document at once', () => {
    const text = documentText([
      entry({ retentionPolicy: 'Keep' }, { max_age: -1 }),
      entry({}, { storage: 'disk' }),
      entry(),
    ], { version: '2' });
    expect(() => parseStreamsDocument(text, 'config/streams.json')).toThrow(new Error([
      'invalid streams document config/streams.json:',
      '  store (unset) is required',
      '  version "2" must match pattern "^\\d+\\.\\d+\\.\\d+$"',
      '  streams[0].retentionPolicy "Keep" must be one of "Retain", "Delete"',
      '  streams[0].config.max_age -1 must be >= 0',
      '  streams[1].config.storage "disk" must be one of "file", "memory"',
      '  streams[1].config.name "orders" is already declared by streams[0]',
      '  streams[2].config.name "orders" is already declared by streams[0]',
    ].join('\n')));
  });

  test('fails on text that is not JSON, naming the source', () => {
    expect(() => parseStreamsDocument('{"store":', 'config/streams.json'))
      .toThrow(/^invalid streams document config\/streams\.json:\n {2}\(document\) is not JSON: \S/);
  });
});

describe('nextGeneration', () => {
  const parts = (maxAge: string, generation = 0) => withGeneration(
    renderStreamsParts('events', '2.15.3', 0, [resolveStream({ subjects: ['orders.>'], maxAge }, 'orders', POLICY).value]), generation);
  /** The definitions ConfigMap as a synthesis wrote it, or as kubectl shows it (with a namespace). */
  const configMap = (maxAge: string, generation: number, namespace?: string) => ({
    kind: 'ConfigMap', metadata: { name: 'events-streams', ...(namespace ? { namespace } : {}) }, data: { 'streams.json': parts(maxAge, generation)[0].text },
  });
  const next = (objects: any[], maxAge: string, namespace?: string, earlier: any[] = []) => {
    // The output one commit older, as git shows it: YAML text, parsed only when it names a higher number.
    const earlierTexts = earlier.map((object) => Yaml.stringify(object));
    return nextGeneration({ objects, earlierTexts, earlierObjects: () => earlierTexts.flatMap((text) => parseObjects(text)) }, 'events', namespace, parts(maxAge));
  };

  test.each<[string, any[], string, string | undefined, any[], number]>([
    ['a store seen nowhere before', [], '1h', undefined, [], 0],
    ['the same definitions', [configMap('1h', 3)], '1h', undefined, [], 3],
    ['changed definitions', [configMap('1h', 3)], '2h', undefined, [], 4],
    ['the same, as kubectl shows a chart without a namespace', [configMap('1h', 3, 'default')], '1h', undefined, [], 3],
    ['the same, in the namespace named', [configMap('1h', 3, 'shop')], '1h', 'shop', [], 3],
    ['a store of the same name in another namespace: another store', [configMap('1h', 3, 'shop')], '1h', 'other', [], 0],
    ['beside one of the same name in another namespace, its own number', [configMap('1h', 3, 'shop'), configMap('1h', 7, 'other')], '1h', 'shop', [], 3],
    ['the output reverted to an older number: past the earlier one', [configMap('1h', 0)], '1h', undefined, [configMap('2h', 1)], 2],
    ['earlier output of a lower number changes nothing', [configMap('1h', 5)], '1h', undefined, [configMap('2h', 4)], 5],
    ['earlier output of another namespace changes nothing', [configMap('1h', 2, 'shop')], '1h', 'shop', [configMap('1h', 9, 'other')], 2],
  ])('%s', (_, objects, maxAge, namespace, earlierTexts, expected) => {
    expect(next(objects, maxAge, namespace, earlierTexts)).toBe(expected);
  });
});
