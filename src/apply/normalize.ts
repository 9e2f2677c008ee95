import type { JetStreamConsumerConfig } from '../consumer-options';
import type { JetStreamStreamConfig } from '../stream-definition';

/** A stream configuration as the server reports it, normalized by {@link normalizeServerConfig}. */
export type NormalizedStreamConfig = Record<string, unknown>;

/**
 * What the server means when a field of the desired configuration is missing from its
 * answer, by JetStream API field. The server's Go structs omit some zero values
 * (`omitempty`) and each release adds fields, so a missing field is its default.
 * Checked against nats-server 2.9.10: a stream created with only a name and subjects
 * reports every field below except `description`, `discard_new_per_subject`, `no_ack`,
 * `compression`, `first_seq`, `metadata` and the fields of 2.10 and newer.
 */
export const SERVER_DEFAULTS: Readonly<Record<keyof JetStreamStreamConfig, unknown>> = {
  // Always reported: the server rejects a stream without a name.
  name: undefined,
  // Mirrors and sourced streams may capture no subjects of their own.
  subjects: Object.freeze([]),
  description: undefined,
  retention: 'limits',
  storage: 'file',
  num_replicas: 1,
  max_consumers: -1,
  max_msgs: -1,
  max_bytes: -1,
  // 0 is "no age limit" for max_age.
  max_age: 0,
  max_msg_size: -1,
  max_msgs_per_subject: -1,
  discard: 'old',
  discard_new_per_subject: false,
  // Omitted only when zero: the server sets 2m (or max_age) on every stream that is not a mirror or sourced.
  duplicate_window: 0,
  deny_delete: false,
  deny_purge: false,
  allow_rollup_hdrs: false,
  allow_direct: false,
  mirror_direct: false,
  sealed: false,
  no_ack: false,
  // 2.10+ always reports "none"; 2.9 does not know the field and stores uncompressed.
  compression: 'none',
  // Omitted when the stream started at the default first sequence.
  first_seq: undefined,
  metadata: undefined,
  // 2.10+ reports {} when the stream sets no consumer limits.
  consumer_limits: undefined,
  // 2.11+ always reports it; older servers do not know it and keep no per-message TTLs.
  allow_msg_ttl: false,
  // Omitted when the stream leaves no delete markers.
  subject_delete_marker_ttl: undefined,
  // 2.12+ (allow_batched 2.14+) leave these out when off; older servers do not know them.
  allow_msg_counter: false,
  allow_atomic: false,
  allow_msg_schedules: false,
  persist_mode: 'default',
  allow_batched: false,
  // Each left out when unset.
  subject_transform: undefined,
  republish: undefined,
  mirror: undefined,
  sources: undefined,
  // Left out when unset; in a cluster the server may choose one by itself (see serverMayChoose).
  placement: undefined,
};

/** The fields of {@link SERVER_DEFAULTS}: in a list to walk, in a set to look up. */
export const MANAGED_FIELD_LIST: readonly string[] = Object.keys(SERVER_DEFAULTS);
export const MANAGED_FIELDS: ReadonlySet<string> = new Set(MANAGED_FIELD_LIST);

/**
 * Tells whether the server may have set this value by itself, so that it is no change when the
 * declaration leaves the field out: in a cluster the server may fill in a `placement` naming only
 * its cluster, which would make every stream that declares none look changed. It never chooses
 * tags, so a placement with tags the declaration no longer has is a change to make.
 */
export function serverMayChoose(field: string, value: unknown): boolean {
  return field === 'placement' && value !== null && typeof value === 'object' && Object.keys(value).every((key) => key === 'cluster');
}

/** Limits the server stores as -1 when given 0, so a declared 0 matches the server's -1. */
const ZERO_MEANS_UNLIMITED: ReadonlySet<string> = new Set(['max_consumers', 'max_msgs', 'max_bytes', 'max_msg_size', 'max_msgs_per_subject']);

/** Metadata keys under this prefix are written by the server (2.11+: version and API level). */
const SERVER_METADATA_PREFIX = '_nats.';

/**
 * Brings a field's value to the one form both sides of a diff use: a missing value becomes
 * the server's default, a 0 limit becomes -1, and an empty description or metadata map becomes unset.
 */
export function canonicalValue(field: string, value: unknown): unknown {
  // Go writes a nil pointer (an unset mirror) as null.
  if (value === undefined || value === null) return MANAGED_FIELDS.has(field) ? (SERVER_DEFAULTS as Record<string, unknown>)[field] : undefined;
  if (value === 0 && ZERO_MEANS_UNLIMITED.has(field)) return -1;
  if (field === 'description' && value === '') return undefined;
  // 0 is "no delete markers", which the server leaves out.
  if (field === 'subject_delete_marker_ttl' && value === 0) return undefined;
  if ((field === 'metadata' || field === 'consumer_limits' || field === 'sources' || field === 'placement') && isEmpty(value)) return undefined;
  return value;
}

/**
 * Makes a server stream configuration comparable field by field with a desired
 * `JetStreamStreamConfig`: every desired field is present (with the server's default when
 * the server left it out), server-written metadata keys are removed, and other server
 * fields are kept only when they hold a setting (an empty `consumer_limits: {}` or a
 * false flag says nothing), because an update that sends the full desired configuration
 * would clear them.
 */
export function normalizeServerConfig(config: Record<string, unknown>): NormalizedStreamConfig {
  const normalized: NormalizedStreamConfig = {};
  for (const field of MANAGED_FIELD_LIST) {
    const value = field === 'metadata' ? userMetadata(config.metadata) : config[field];
    const canonical = canonicalValue(field, value);
    if (canonical !== undefined) normalized[field] = canonical;
  }
  // A plain key loop: an unchanged re-apply normalizes every stream of the server, and this runs cold.
  for (const field in config) {
    if (!MANAGED_FIELDS.has(field) && !isEmpty(config[field])) normalized[field] = config[field];
  }
  return normalized;
}

/** Metadata without the keys the server writes itself (2.11+: `_nats.ver`, `_nats.level`, ...). */
export function userMetadata(metadata: unknown): unknown {
  if (metadata === null || typeof metadata !== 'object') return metadata;
  return Object.fromEntries(Object.entries(metadata).filter(([key]) => !key.startsWith(SERVER_METADATA_PREFIX)));
}

/** Go's zero values as the server encodes them: nothing is set. */
function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value as object).length === 0;
}

/** A consumer configuration as the server reports it, normalized by {@link normalizeServerConsumerConfig}. */
export type NormalizedConsumerConfig = Record<string, unknown>;

/**
 * The consumer fields the program compares. A field the server leaves out, or reports as its zero
 * value (0, "", false, an empty list or map), is unset on both sides: the synth writes out every
 * default the server would otherwise fill in, so only settings remain.
 */
export const CONSUMER_FIELDS: readonly (keyof JetStreamConsumerConfig)[] = [
  'durable_name', 'description', 'deliver_policy', 'opt_start_seq', 'opt_start_time', 'ack_policy', 'ack_wait', 'max_deliver', 'backoff',
  'filter_subject', 'filter_subjects', 'replay_policy', 'sample_freq', 'max_waiting', 'max_ack_pending', 'max_batch', 'max_expires', 'max_bytes',
  'inactive_threshold', 'headers_only', 'num_replicas', 'mem_storage', 'metadata', 'deliver_subject', 'deliver_group', 'flow_control',
  'idle_heartbeat', 'rate_limit_bps', 'priority_groups', 'priority_policy', 'priority_timeout', 'pause_until',
];

/** Fields holding a time: the server writes them back in its own form (`2026-01-01T00:00:00Z`). */
const TIME_FIELDS: ReadonlySet<string> = new Set(['opt_start_time', 'pause_until']);

/** A consumer field's value in the one form both sides of a diff use; undefined when it holds no setting. */
export function canonicalConsumerValue(field: string, value: unknown): unknown {
  if (isEmpty(value)) return undefined;
  // 2.11+ reports "none" for a consumer without priority groups.
  if (field === 'priority_policy' && value === 'none') return undefined;
  if (field === 'metadata') return isEmpty(userMetadata(value)) ? undefined : userMetadata(value);
  if (TIME_FIELDS.has(field) && typeof value === 'string' && !Number.isNaN(Date.parse(value))) return new Date(Date.parse(value)).toISOString();
  return value;
}

/** The compared fields of a server consumer configuration, each in its canonical form. */
export function normalizeServerConsumerConfig(config: Record<string, unknown>): NormalizedConsumerConfig {
  const normalized: NormalizedConsumerConfig = {};
  for (const field of CONSUMER_FIELDS) {
    const canonical = canonicalConsumerValue(field, config[field]);
    if (canonical !== undefined) normalized[field] = canonical;
  }
  return normalized;
}
