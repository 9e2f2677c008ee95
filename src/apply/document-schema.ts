/**
 * The JSON Schema of the streams document a store's synth writes for its apply Job. Its own module,
 * importing no validator: the bundle of the program compiles it ahead of time (scripts/bundle.js).
 */
import { AckPolicy, DeliverPolicy, PriorityPolicy, ReplayPolicy } from '../consumer-options';
import {
  Compression, DiscardPolicy, JetStreamStreamConfig, PersistMode, Retention, StorageType, StreamRetentionPolicy,
} from '../stream-definition';

const count = { type: 'integer', minimum: -1 };
/** Durations are written as Go durations ("72h"); nanoseconds as a number are read too. */
const duration = { type: ['integer', 'string'], minimum: 0 };
/** Sizes are written with a unit ("5GiB"), -1 for unlimited; bytes as a number are read too. */
const size = { type: ['integer', 'string'], minimum: -1 };
const flag = { type: 'boolean' };
const enumOf = (values: object) => ({ enum: Object.values(values) });

const transform = {
  type: 'object',
  required: ['src', 'dest'],
  additionalProperties: false,
  properties: { src: { type: 'string' }, dest: { type: 'string' } },
};
/** A mirror or a source. */
const source = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1 },
    filter_subject: { type: 'string', minLength: 1 },
    subject_transforms: { type: 'array', items: transform, minItems: 1 },
    external: {
      type: 'object',
      required: ['api'],
      additionalProperties: false,
      properties: { api: { type: 'string', minLength: 1 }, deliver: { type: 'string' } },
    },
    consumer: {
      type: 'object',
      required: ['name', 'deliver_subject'],
      additionalProperties: false,
      properties: { name: { type: 'string', minLength: 1 }, deliver_subject: { type: 'string', minLength: 1 } },
    },
  },
};

/** The configuration fields `toJetStreamConfig` always writes. */
const REQUIRED_CONFIG_FIELDS: ReadonlyArray<keyof JetStreamStreamConfig> = [
  'name', 'subjects', 'retention', 'storage', 'num_replicas', 'max_consumers', 'max_msgs', 'max_bytes',
  'max_age', 'max_msg_size', 'max_msgs_per_subject', 'discard', 'discard_new_per_subject',
  'duplicate_window', 'deny_delete', 'deny_purge', 'allow_rollup_hdrs', 'allow_direct', 'mirror_direct',
  'sealed', 'no_ack',
];

const CONFIG_SCHEMA = {
  type: 'object',
  required: REQUIRED_CONFIG_FIELDS,
  // The program comes with the synth that writes its documents, so it knows every field: an unknown
  // one is a typo or a newer synth's, which this program could not check, and the document is refused
  // before anything is written (an older server would drop it silently, a newer one refuse the stream).
  additionalProperties: false,
  properties: {
    name: { type: 'string' },
    // Empty only on a mirror or a stream with sources: see subjectsProblems.
    subjects: { type: 'array', items: { type: 'string', minLength: 1 } },
    description: { type: 'string' },
    retention: enumOf(Retention),
    storage: enumOf(StorageType),
    num_replicas: { type: 'integer', minimum: 1, maximum: 5 },
    max_consumers: count,
    max_msgs: count,
    max_bytes: size,
    max_age: duration,
    max_msg_size: size,
    max_msgs_per_subject: count,
    discard: enumOf(DiscardPolicy),
    discard_new_per_subject: flag,
    duplicate_window: duration,
    deny_delete: flag,
    deny_purge: flag,
    allow_rollup_hdrs: flag,
    allow_direct: flag,
    mirror_direct: flag,
    sealed: flag,
    no_ack: flag,
    compression: enumOf(Compression),
    first_seq: { type: 'integer', minimum: 1 },
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
    consumer_limits: {
      type: 'object',
      additionalProperties: false,
      properties: { inactive_threshold: duration, max_ack_pending: { type: 'integer', minimum: 0 } },
    },
    allow_msg_ttl: flag,
    subject_delete_marker_ttl: duration,
    allow_msg_counter: flag,
    allow_atomic: flag,
    allow_msg_schedules: flag,
    persist_mode: enumOf(PersistMode),
    allow_batched: flag,
    subject_transform: transform,
    republish: {
      type: 'object',
      required: ['dest'],
      additionalProperties: false,
      properties: { src: { type: 'string' }, dest: { type: 'string', minLength: 1 }, headers_only: flag },
    },
    placement: {
      type: 'object',
      additionalProperties: false,
      properties: { cluster: { type: 'string', minLength: 1 }, tags: { type: 'array', items: { type: 'string', minLength: 1 } } },
    },
    mirror: source,
    sources: { type: 'array', items: source, minItems: 1 },
  },
};

/** A consumer's configuration, closed for the same reason as a stream's. */
const CONSUMER_CONFIG_SCHEMA = {
  type: 'object',
  required: ['durable_name', 'deliver_policy', 'ack_policy', 'max_deliver', 'replay_policy', 'num_replicas'],
  additionalProperties: false,
  properties: {
    durable_name: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    deliver_policy: enumOf(DeliverPolicy),
    opt_start_seq: { type: 'integer', minimum: 1 },
    opt_start_time: { type: 'string', minLength: 1 },
    ack_policy: enumOf(AckPolicy),
    ack_wait: duration,
    max_deliver: count,
    backoff: { type: 'array', items: duration, minItems: 1 },
    filter_subject: { type: 'string', minLength: 1 },
    filter_subjects: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
    replay_policy: enumOf(ReplayPolicy),
    sample_freq: { type: 'string', pattern: '^\\d+%?$' },
    max_waiting: { type: 'integer', minimum: 0 },
    max_ack_pending: count,
    max_batch: { type: 'integer', minimum: 0 },
    max_expires: duration,
    max_bytes: size,
    inactive_threshold: duration,
    headers_only: flag,
    num_replicas: { type: 'integer', minimum: 0, maximum: 5 },
    mem_storage: flag,
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
    deliver_subject: { type: 'string', minLength: 1 },
    deliver_group: { type: 'string', minLength: 1 },
    flow_control: flag,
    idle_heartbeat: duration,
    rate_limit_bps: { type: 'integer', minimum: 0 },
    priority_groups: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
    priority_policy: enumOf(PriorityPolicy),
    priority_timeout: duration,
    pause_until: { type: 'string', minLength: 1 },
  },
};

/** JSON Schema of the streams document; stream entries are closed so a misspelt switch is an error. */
export const DOCUMENT_SCHEMA = {
  type: 'object',
  required: ['store', 'version', 'streams'],
  additionalProperties: false,
  properties: {
    // A key of the ownership and lock buckets.
    store: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' },
    version: { type: 'string', pattern: '^\\d+\\.\\d+\\.\\d+$' },
    generation: { type: 'integer', minimum: 0 },
    streams: {
      type: 'array',
      items: {
        type: 'object',
        required: ['retentionPolicy', 'config'],
        additionalProperties: false,
        properties: {
          retentionPolicy: enumOf(StreamRetentionPolicy),
          allowDataLoss: flag,
          adopt: flag,
          allowSeal: flag,
          config: CONFIG_SCHEMA,
          consumers: {
            type: 'array',
            items: {
              type: 'object',
              required: ['retentionPolicy', 'config'],
              additionalProperties: false,
              properties: { retentionPolicy: enumOf(StreamRetentionPolicy), adopt: flag, config: CONSUMER_CONFIG_SCHEMA },
            },
          },
        },
      },
    },
  },
};
