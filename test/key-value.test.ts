import { Chart, Testing } from 'cdk8s';
import { KeyValue } from '../src/key-value';
import { ObjectStore } from '../src/object-store';
import { StorageType, StreamRetentionPolicy, toJetStreamConfig } from '../src/stream-definition';
import { StreamStore, StreamStoreProps } from '../src/stream-store';
import { NatsServerVersion } from '../src/versions';
import { declaredStreams } from './support/streams-document';
import { validationErrors } from './support/validation-errors';

const SECOND_NS = 1_000_000_000;

function newStore(props: StreamStoreProps = {}) {
  const chart = new Chart(Testing.app(), 'test');
  return { chart, store: new StreamStore(chart, 'events', props) };
}

describe('KeyValue', () => {
  test('is a stream KV_<bucket> on $KV.<bucket>.> with the settings the NATS clients give a bucket', () => {
    const { chart, store } = newStore();
    const kv = store.addKeyValue('settings', { history: 5, ttl: '24h', maxValueSize: '1Mi', description: 'feature flags' });
    expect(kv.stream.name).toBe('KV_settings');
    expect(toJetStreamConfig(kv.stream.definition)).toMatchObject({
      name: 'KV_settings', subjects: ['$KV.settings.>'], description: 'feature flags', max_msgs_per_subject: 5, max_age: 24 * 3600 * SECOND_NS,
      max_msg_size: 1024 * 1024, max_msgs: -1, discard: 'new', deny_delete: true, deny_purge: false, allow_rollup_hdrs: true, allow_direct: true,
      // The server's window: 2m, or the ttl when shorter.
      duplicate_window: 120 * SECOND_NS,
    });
    expect(declaredStreams(Testing.synth(chart), 'events').streams.map((s) => s.config.name)).toEqual(['KV_settings']);
  });

  test('keeps values for good unless given a ttl, whatever the store\'s default max age', () => {
    const { store } = newStore({ defaults: { maxAge: '7d' } });
    expect(store.addKeyValue('settings').stream.definition.maxAgeMs).toBe(0);
    expect(store.addStream('orders').definition.maxAgeMs).toBe(7 * 24 * 3600 * 1000);
  });

  test('a limit marker ttl turns on per-message ttls and delete markers (2.11+); compression and storage pass through', () => {
    const { store } = newStore();
    const config = toJetStreamConfig(store.addKeyValue('sessions', { ttl: '1h', limitMarkerTtl: '5m', compression: true, storage: StorageType.MEMORY }).stream.definition);
    expect(config).toMatchObject({ allow_msg_ttl: true, subject_delete_marker_ttl: 300 * SECOND_NS, compression: 's2', storage: 'memory' });
  });

  test('a mirror copies another bucket under its own stream; sources are renamed into this bucket\'s subjects', () => {
    const { store } = newStore();
    const origin = store.addKeyValue('settings');
    const copy = toJetStreamConfig(store.addKeyValue('settings-copy', { mirror: origin }).stream.definition);
    expect([copy.subjects, copy.mirror, copy.mirror_direct]).toEqual([[], { name: 'KV_settings' }, true]);
    const merged = toJetStreamConfig(store.addKeyValue('merged', { sources: [origin] }).stream.definition);
    expect(merged.sources).toEqual([{ name: 'KV_settings', subject_transforms: [{ src: '$KV.settings.>', dest: '$KV.merged.>' }] }]);
  });

  test('fails on a bucket name the clients refuse, a history out of range, and a ttl beyond the store\'s limit, naming the stream props', () => {
    const { chart, store } = newStore({ limits: { maxAge: '30d' } });
    store.addKeyValue('my.settings', { history: 65 });
    new KeyValue(chart, 'forever', { store });
    expect(validationErrors(() => Testing.synth(chart))).toEqual([
      '[test/events/my.settings] key-value bucket "my.settings": bucket "my.settings" must be letters, digits, "_" and "-"',
      '[test/events/my.settings] key-value bucket "my.settings": history 65 must be a whole number from 1 to 64',
      '[test/events/my.settings/Stream] stream "KV_my.settings": name "KV_my.settings" must not contain "."',
      '[test/events/my.settings/Stream] stream "KV_my.settings": maxAge unlimited exceeds the limit 720h of store "events"',
      '[test/events/my.settings/Stream] stream "KV_my.settings": subjects[0] "$KV.my.settings.>" overlaps ...',
      '[test/forever/Stream] stream "KV_forever": maxAge unlimited exceeds the limit 720h of store "events"',
    ].filter((line) => !line.endsWith('...')));
  });

  test('takes part in the store\'s subject overlap check', () => {
    const { chart, store } = newStore();
    store.addKeyValue('settings');
    store.addStream('everything-kv', { subjects: ['$KV.>'] });
    expect(validationErrors(() => Testing.synth(chart)).some((e) => e.includes('"$KV.>"') && e.includes('$KV.settings.>'))).toBe(true);
  });

  test('fails on limit markers before 2.11 and on source renames before 2.10, as the stream fields they are', () => {
    const { chart, store } = newStore({ version: NatsServerVersion.V2_9_25 });
    const origin = store.addKeyValue('a');
    store.addKeyValue('b', { sources: [origin], ttl: '1h', limitMarkerTtl: '1m' });
    const errors = validationErrors(() => Testing.synth(chart));
    expect(errors.some((e) => e.startsWith('[test/events/b/Stream] stream "KV_b": sources[0].subjectTransforms') && e.includes('needs NATS server 2.10.0'))).toBe(true);
    expect(errors.some((e) => e.startsWith('[test/events/b/Stream] stream "KV_b": subjectDeleteMarkerTtl 1m needs NATS server 2.11.0'))).toBe(true);
  });
});

describe('ObjectStore', () => {
  test('is a stream OBJ_<name> on its chunk and metadata subjects with the settings the NATS clients give it', () => {
    const { store } = newStore();
    const files = store.addObjectStore('files', { ttl: '720h', maxBytes: '10Gi', retentionPolicy: StreamRetentionPolicy.DELETE });
    expect(toJetStreamConfig(files.stream.definition)).toMatchObject({
      name: 'OBJ_files', subjects: ['$O.files.C.>', '$O.files.M.>'], max_age: 720 * 3600 * SECOND_NS, max_bytes: 10 * 1024 ** 3,
      discard: 'new', allow_rollup_hdrs: true, allow_direct: true, deny_delete: false,
    });
    expect(files.stream.definition.retentionPolicy).toBe(StreamRetentionPolicy.DELETE);
  });

  test('fails when the store\'s max message size would not take the clients\' 128KiB chunks', () => {
    const { chart, store } = newStore({ defaults: { maxMsgSize: '64Ki' } });
    store.addObjectStore('files');
    expect(validationErrors(() => Testing.synth(chart))).toEqual([
      '[test/events/files] object store "files": the store gives its streams a max message size of 64KiB, smaller than the 128KiB chunks '
        + 'the NATS clients write objects in: raise the store\'s default (or limit) maxMsgSize',
    ]);
    const enough = newStore({ defaults: { maxMsgSize: '128Ki' } });
    enough.store.addObjectStore('files');
    expect(validationErrors(() => Testing.synth(enough.chart))).toEqual([]);
  });

  test('fails on a name the clients refuse', () => {
    const { chart, store } = newStore();
    new ObjectStore(chart, 'bad', { store, name: 'my files' });
    expect(validationErrors(() => Testing.synth(chart))[0]).toBe('[test/bad] object store "my files": name "my files" must be letters, digits, "_" and "-"');
  });
});
