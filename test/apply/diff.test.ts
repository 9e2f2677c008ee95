import { diffStreamConfig, formatChange, formatFieldValue } from '../../src/apply/diff';
import { normalizeServerConfig } from '../../src/apply/normalize';
import type { JetStreamStreamConfig } from '../../src/stream-definition';
import { GIB, HOUR_NS, declaredConfig, serverAnswer210, serverAnswer2910 } from './fixtures';

/** The formatted changes from a server answer to a declared configuration. */
function changes(answer: Record<string, unknown>, desired: JetStreamStreamConfig): string[] {
  return diffStreamConfig(desired, normalizeServerConfig(answer)).map(formatChange);
}

describe('diffStreamConfig', () => {
  test.each<[string, Record<string, unknown>]>([
    ['2.9.10', serverAnswer2910()],
    ['2.10', serverAnswer210()],
  ])('finds nothing between the defaults and what a %s server reports for them', (_, answer) => {
    expect(diffStreamConfig(declaredConfig(), normalizeServerConfig(answer))).toEqual([]);
  });

  test.each<[string, Record<string, unknown>, Partial<JetStreamStreamConfig>, string[]]>([
    ['a longer max age', { max_age: 6 * HOUR_NS }, { max_age: 12 * HOUR_NS }, ['max_age 6h -> 12h']],
    ['an age limit added', {}, { max_age: 90 * 60e9 }, ['max_age unlimited -> 1h30m']],
    ['a shorter duplicate window', {}, { duplicate_window: 1500e6 }, ['duplicate_window 2m -> 1.5s']],
    ['a byte limit raised', { max_bytes: GIB }, { max_bytes: 2 * GIB }, ['max_bytes 1GiB -> 2GiB']],
    ['a byte limit removed', { max_bytes: 10e9 }, { max_bytes: -1 }, ['max_bytes 10GB -> unlimited']],
    ['a message size limit', {}, { max_msg_size: 1024 * 1024 }, ['max_msg_size unlimited -> 1MiB']],
    ['a message count limit', {}, { max_msgs: 1000 }, ['max_msgs unlimited -> 1000']],
    ['a per-subject limit', { max_msgs_per_subject: 10 }, { max_msgs_per_subject: 5 }, ['max_msgs_per_subject 10 -> 5']],
    ['a consumer limit', {}, { max_consumers: 8 }, ['max_consumers unlimited -> 8']],
    ['more replicas', {}, { num_replicas: 3 }, ['num_replicas 1 -> 3']],
    ['the storage type', {}, { storage: 'memory' }, ['storage "file" -> "memory"']],
    ['the retention', {}, { retention: 'interest' }, ['retention "limits" -> "interest"']],
    ['the discard policy', {}, { discard: 'new' }, ['discard "old" -> "new"']],
    ['a flag the 2.9 server omits when false', {}, { no_ack: true }, ['no_ack false -> true']],
    ['a flag turned off', { deny_delete: true }, { deny_delete: false }, ['deny_delete true -> false']],
    ['a description added', {}, { description: 'Orders' }, ['description (unset) -> "Orders"']],
    ['a description removed', { description: 'Orders' }, {}, ['description "Orders" -> (unset)']],
    ['an empty description that is no description', { description: '' }, {}, []],
    ['a subject added', {}, { subjects: ['orders.>', 'returns.>'] }, ['subjects ["orders.>"] -> ["orders.>","returns.>"]']],
    ['a subject removed', { subjects: ['a', 'b'] }, { subjects: ['a'] }, ['subjects ["a","b"] -> ["a"]']],
    ['subjects in another order', { subjects: ['a', 'b', 'c'] }, { subjects: ['c', 'a', 'b'] }, []],
    ['metadata keys in another order', { metadata: { a: '1', b: '2' } }, { metadata: { b: '2', a: '1' } }, []],
    ['a metadata value changed', { metadata: { a: '1' } }, { metadata: { a: '2' } }, ['metadata {"a":"1"} -> {"a":"2"}']],
    ['metadata removed', { metadata: { a: '1' } }, {}, ['metadata {"a":"1"} -> (unset)']],
    ['metadata the server wrote itself', { metadata: { '_nats.req.level': '0' } }, {}, []],
    ['compression left unset against the server\'s "none"', { compression: 'none' }, {}, []],
    ['compression "none" declared against a 2.9 server', { compression: undefined }, { compression: 'none' }, []],
    ['compression turned on', {}, { compression: 's2' }, ['compression "none" -> "s2"']],
    ['a first sequence declared for an existing stream', {}, { first_seq: 100 }, ['first_seq (unset) -> 100']],
    ['a declared 0 limit against the server\'s -1', {}, { max_msgs: 0 }, []],
    ['a mirror the full update would remove', { mirror: { name: 'UPSTREAM' } }, {}, ['mirror {"name":"UPSTREAM"} -> (unset)']],
    ['sources the full update would remove', { sources: [{ name: 'A' }] }, {}, ['sources [{"name":"A"}] -> (unset)']],
    ['sources in another order', { sources: [{ name: 'A' }, { name: 'B' }] },
      { sources: [{ name: 'B' }, { name: 'A' }] } as Partial<JetStreamStreamConfig>,
      ['sources [{"name":"A"},{"name":"B"}] -> [{"name":"B"},{"name":"A"}]']],
    ['a field of a newer synth', {}, { subject_transform: { src: 'a.>', dest: 'b.>' } } as Partial<JetStreamStreamConfig>,
      ['subject_transform (unset) -> {"src":"a.>","dest":"b.>"}']],
    ['a field of a newer synth the server already has', { subject_transform: { dest: 'b.>', src: 'a.>' } },
      { subject_transform: { src: 'a.>', dest: 'b.>' } } as Partial<JetStreamStreamConfig>, []],
    ['a placement the server chose', { placement: { cluster: 'nats' } }, {}, []],
    ['a placement by tags the definition no longer has, which the server never chooses', { placement: { cluster: 'nats', tags: ['zone-a'] } }, {},
      ['placement {"cluster":"nats","tags":["zone-a"]} -> (unset)']],
  ])('shows %s', (_, answer, desired, expected) => {
    expect(changes(serverAnswer210(answer), declaredConfig(desired))).toEqual(expected);
  });

  test('compares every field, sorted by name', () => {
    const answer = serverAnswer2910({ max_age: HOUR_NS, description: 'old', deny_purge: true });
    const desired = declaredConfig({ storage: 'memory', max_age: 2 * HOUR_NS, allow_direct: true, metadata: { a: 'b' } });
    expect(diffStreamConfig(desired, normalizeServerConfig(answer))).toEqual([
      { field: 'allow_direct', from: false, to: true },
      { field: 'deny_purge', from: true, to: false },
      { field: 'description', from: 'old', to: undefined },
      { field: 'max_age', from: HOUR_NS, to: 2 * HOUR_NS },
      { field: 'metadata', from: undefined, to: { a: 'b' } },
      { field: 'storage', from: 'file', to: 'memory' },
    ]);
  });
});

describe('formatFieldValue', () => {
  test.each<[string, unknown, string]>([
    ['max_age', 0, 'unlimited'],
    ['max_age', 7 * 24 * HOUR_NS, '168h'],
    ['max_age', 100e6, '100ms'],
    ['duplicate_window', 1500, '1500ns'],
    ['duplicate_window', 0, '0s'],
    ['max_bytes', -1, 'unlimited'],
    ['max_bytes', 0, '0B'],
    ['max_bytes', 1536, '1536B'],
    ['max_msg_size', 8 * 1024 * 1024, '8MiB'],
    ['max_msgs', -1, 'unlimited'],
    ['max_msgs', 1_000_000, '1000000'],
    ['max_consumers', -1, 'unlimited'],
    ['num_replicas', 3, '3'],
    ['sealed', true, 'true'],
    ['storage', 'file', '"file"'],
    ['description', undefined, '(unset)'],
    ['max_bytes', 'lots', '"lots"'],
  ])('renders %s %p as %s', (field, value, expected) => {
    expect(formatFieldValue(field, value)).toBe(expected);
  });
});
