import { SERVER_DEFAULTS, canonicalValue, normalizeServerConfig } from '../../src/apply/normalize';
import { declaredConfig, serverAnswer210, serverAnswer2910 } from './fixtures';

describe('normalizeServerConfig', () => {
  test('turns the 2.9.10 answer for a name and subjects into the declared defaults', () => {
    expect(normalizeServerConfig(serverAnswer2910())).toEqual({
      ...declaredConfig(), compression: 'none', allow_msg_ttl: false,
      allow_msg_counter: false, allow_atomic: false, allow_msg_schedules: false, persist_mode: 'default', allow_batched: false,
    });
  });

  test('turns the 2.10 answer into the same, dropping the empty consumer_limits', () => {
    expect(normalizeServerConfig(serverAnswer210())).toEqual(normalizeServerConfig(serverAnswer2910()));
  });

  test('lists every field of the declared configuration, each once', () => {
    expect(Object.keys(SERVER_DEFAULTS).sort()).toEqual(
      [...Object.keys(declaredConfig()), 'description', 'compression', 'first_seq', 'metadata', 'allow_msg_ttl', 'subject_delete_marker_ttl',
        'allow_msg_counter', 'allow_atomic', 'allow_msg_schedules', 'persist_mode', 'allow_batched', 'consumer_limits',
        'subject_transform', 'republish', 'placement', 'mirror', 'sources'].sort(),
    );
  });

  test.each<[string, unknown]>([
    ['subjects', []],
    ['retention', 'limits'],
    ['storage', 'file'],
    ['num_replicas', 1],
    ['max_consumers', -1],
    ['max_msgs', -1],
    ['max_bytes', -1],
    ['max_age', 0],
    ['max_msg_size', -1],
    ['max_msgs_per_subject', -1],
    ['discard', 'old'],
    ['discard_new_per_subject', false],
    ['duplicate_window', 0],
    ['deny_delete', false],
    ['deny_purge', false],
    ['allow_rollup_hdrs', false],
    ['allow_direct', false],
    ['mirror_direct', false],
    ['sealed', false],
    ['no_ack', false],
    ['compression', 'none'],
    ['allow_msg_ttl', false],
    ['allow_msg_counter', false],
    ['allow_atomic', false],
    ['allow_msg_schedules', false],
    ['persist_mode', 'default'],
    ['allow_batched', false],
  ])('fills %s with %p when the server leaves it out', (field, value) => {
    const answer = serverAnswer2910();
    delete answer[field];
    expect(normalizeServerConfig(answer)[field]).toEqual(value);
  });

  test.each(['description', 'first_seq', 'metadata', 'subject_delete_marker_ttl', 'consumer_limits'])('leaves %s unset when the server leaves it out', (field) => {
    expect(normalizeServerConfig(serverAnswer2910())).not.toHaveProperty(field);
  });

  test.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['keeps the values the server reports', { max_age: 6 * 3600e9, no_ack: true, description: 'orders' },
      { max_age: 6 * 3600e9, no_ack: true, description: 'orders' }],
    ['unsets an empty description', { description: '' }, { description: undefined }],
    ['turns a 0 limit into -1, as the server stores it', { max_msgs: 0, max_bytes: 0, max_msg_size: 0, max_consumers: 0, max_msgs_per_subject: 0 },
      { max_msgs: -1, max_bytes: -1, max_msg_size: -1, max_consumers: -1, max_msgs_per_subject: -1 }],
    ['keeps first_seq and compression', { first_seq: 100, compression: 's2' }, { first_seq: 100, compression: 's2' }],
    ['drops the metadata the server writes (2.11+)',
      { metadata: { '_nats.req.level': '0', '_nats.ver': '2.11.0', '_nats.level': '1' } }, { metadata: undefined }],
    ['keeps the user metadata next to the server metadata',
      { metadata: { team: 'shop', '_nats.req.level': '0' } }, { metadata: { team: 'shop' } }],
    ['unsets empty metadata', { metadata: {} }, { metadata: undefined }],
  ])('%s', (_, answer, expected) => {
    const normalized = normalizeServerConfig(serverAnswer210(answer));
    for (const [field, value] of Object.entries(expected)) {
      if (value === undefined) expect(normalized).not.toHaveProperty(field);
      else expect(normalized[field]).toEqual(value);
    }
  });

  test.each<[string, unknown]>([
    ['mirror', { name: 'ORDERS' }],
    ['sources', [{ name: 'A' }, { name: 'B' }]],
    ['republish', { src: '>', dest: 'copy.>' }],
    ['subject_transform', { src: 'a.>', dest: 'b.>' }],
    ['consumer_limits', { max_ack_pending: 100 }],
    ['allow_msg_ttl', true],
  ])('keeps the server setting %s, which the full update would clear', (field, value) => {
    expect(normalizeServerConfig(serverAnswer210({ [field]: value }))[field]).toEqual(value);
  });

  test.each<[string, unknown]>([
    ['consumer_limits', {}],
    ['subject_delete_marker_ttl', 0],
    ['sources', []],
    ['template_owner', ''],
    ['mirror', null],
  ])('drops %s %p, which holds no setting of ours', (field, value) => {
    expect(normalizeServerConfig(serverAnswer210({ [field]: value }))).not.toHaveProperty(field);
  });

  test('does not change its input', () => {
    const answer = serverAnswer210({ metadata: { team: 'shop', '_nats.ver': '2.11.0' } });
    const copy = structuredClone(answer);
    normalizeServerConfig(answer);
    expect(answer).toEqual(copy);
  });
});

describe('canonicalValue', () => {
  test.each<[string, unknown, unknown]>([
    ['compression', undefined, 'none'],
    ['max_msgs', undefined, -1],
    ['max_msgs', 0, -1],
    ['max_age', 0, 0],
    ['description', '', undefined],
    ['metadata', {}, undefined],
    ['metadata', { a: 'b' }, { a: 'b' }],
    ['first_seq', undefined, undefined],
    ['mirror', undefined, undefined],
    ['constructor', undefined, undefined],
  ])('%s %p is %p', (field, value, expected) => {
    expect(canonicalValue(field, value)).toEqual(expected);
  });
});
