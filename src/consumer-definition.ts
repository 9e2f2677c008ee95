import {
  AckPolicy, ConsumerDefinition, ConsumerOptions, DeliverPolicy, JetStreamConsumerConfig, PriorityPolicy, ReplayPolicy,
} from './consumer-options';
import { consumerProblems } from './consumer-rules';
import { compileSchema, schemaProblems, topLevelField, withoutBrokenFields } from './problems';
import { Resolution, StreamDefinition, StreamRetentionPolicy, readUnit } from './stream-definition';
import { DurationInput, NANOSECONDS_PER_MS, parseDuration, parseSize } from './units';
import { NatsServerVersion } from './versions';

/** The server's defaults that synth writes out, so the stored configuration is the one sent. */
const DEFAULT_ACK_WAIT_MS = 30_000;
const DEFAULT_MAX_ACK_PENDING = 1000;
const DEFAULT_MAX_WAITING = 512;
const DEFAULT_PINNED_TTL_MS = 2 * 60_000;

const durationShape = {
  description: 'a non-negative duration: a whole number of milliseconds, a Go duration string such as "30s" or a cdk8s Duration',
  anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string' }, { type: 'object' }],
};
const enumOf = (values: object) => ({ enum: Object.values(values) });
const time = { type: 'string', description: 'an RFC 3339 time such as "2026-01-01T00:00:00Z"' };

/** JSON Schema of `ConsumerOptions`: the shape; the rules between fields are checked in code. */
export const CONSUMER_OPTIONS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string' },
    description: { type: 'string', maxLength: 4096 },
    deliverPolicy: enumOf(DeliverPolicy),
    startSequence: { type: 'integer', minimum: 1 },
    startTime: time,
    ackPolicy: enumOf(AckPolicy),
    ackWait: durationShape,
    maxDeliver: { type: 'integer', minimum: -1, not: { const: 0 } },
    backoff: { type: 'array', minItems: 1, items: durationShape },
    filterSubjects: { type: 'array', minItems: 1, items: { type: 'string' } },
    replayPolicy: enumOf(ReplayPolicy),
    sampleFrequency: { type: 'integer', minimum: 0, maximum: 100 },
    maxWaiting: { type: 'integer', minimum: 1 },
    maxAckPending: { type: 'integer', minimum: -1, not: { const: 0 } },
    maxBatch: { type: 'integer', minimum: 1 },
    maxExpires: durationShape,
    maxBytes: {
      description: 'a size: a whole number of bytes, a quantity string such as "1Mi" or a cdk8s Size',
      anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string' }, { type: 'object' }],
    },
    inactiveThreshold: durationShape,
    headersOnly: { type: 'boolean' },
    replicas: { type: 'integer', minimum: 1 },
    memoryStorage: { type: 'boolean' },
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
    deliverSubject: { type: 'string', minLength: 1 },
    deliverGroup: { type: 'string', minLength: 1 },
    flowControl: { type: 'boolean' },
    idleHeartbeat: durationShape,
    rateLimit: { type: 'integer', minimum: 1 },
    priorityGroups: { type: 'array', minItems: 1, items: { type: 'string' } },
    priorityPolicy: enumOf(PriorityPolicy),
    pinnedTtl: durationShape,
    pauseUntil: time,
    retentionPolicy: enumOf(StreamRetentionPolicy),
    adopt: { type: 'boolean' },
  },
};

const validateConsumerOptions = compileSchema(CONSUMER_OPTIONS_SCHEMA);

/**
 * Resolves a consumer's options against its stream: every default applied, the API configuration
 * the Job sends, and every rule it breaks, on its own and against the stream and its release.
 */
export function resolveConsumer(input: ConsumerOptions, defaultName: string, stream: StreamDefinition, version: NatsServerVersion): Resolution<ConsumerDefinition> {
  const problems = schemaProblems(validateConsumerOptions, input);
  const options = withoutBrokenFields(input, problems);
  const ms = (field: keyof ConsumerOptions, value: DurationInput | undefined) => readUnit(problems, field, value, 0, parseDuration);
  const backoffMs = (options.backoff ?? []).map((entry, i) => readUnit(problems, `backoff[${i}]`, entry, 0, parseDuration));
  const maxBytes = readUnit(problems, 'maxBytes', options.maxBytes, 0, parseSize);
  const push = options.deliverSubject !== undefined;
  const ackPolicy = options.ackPolicy ?? AckPolicy.EXPLICIT;
  const acks = ackPolicy !== AckPolicy.NONE;
  const limits = stream.consumerLimits;
  const ackWaitMs = options.ackWait !== undefined ? ms('ackWait', options.ackWait) : backoffMs.length > 0 ? backoffMs[0] : acks ? DEFAULT_ACK_WAIT_MS : 0;
  const priorityPolicy = options.priorityPolicy;
  const pinnedTtlMs = options.pinnedTtl !== undefined ? ms('pinnedTtl', options.pinnedTtl) : priorityPolicy === PriorityPolicy.PINNED_CLIENT ? DEFAULT_PINNED_TTL_MS : 0;
  const inactiveMs = options.inactiveThreshold !== undefined ? ms('inactiveThreshold', options.inactiveThreshold) : limits.inactiveThresholdMs;
  const name = options.name ?? defaultName;
  const filters = options.filterSubjects ?? [];

  const maxAckPending = options.maxAckPending ?? (limits.maxAckPending > 0 ? limits.maxAckPending : acks ? DEFAULT_MAX_ACK_PENDING : undefined);
  const maxExpiresMs = ms('maxExpires', options.maxExpires);
  const heartbeatMs = ms('idleHeartbeat', options.idleHeartbeat);
  const nanoseconds = (milliseconds: number) => (milliseconds > 0 ? milliseconds * NANOSECONDS_PER_MS : undefined);
  // In the order people read a consumer; 0 durations are the server's "none" and left out, as the server leaves them.
  const config = withoutUnset<JetStreamConsumerConfig>({
    durable_name: name,
    description: options.description,
    deliver_policy: options.deliverPolicy ?? DeliverPolicy.ALL,
    opt_start_seq: options.startSequence,
    opt_start_time: options.startTime,
    ack_policy: ackPolicy,
    ack_wait: nanoseconds(ackWaitMs),
    max_deliver: options.maxDeliver ?? -1,
    backoff: backoffMs.length > 0 ? backoffMs.map((entry) => entry * NANOSECONDS_PER_MS) : undefined,
    // One filter goes where every release reads it; several need 2.10's list.
    filter_subject: filters.length === 1 ? filters[0] : undefined,
    filter_subjects: filters.length > 1 ? [...filters] : undefined,
    replay_policy: options.replayPolicy ?? ReplayPolicy.INSTANT,
    sample_freq: options.sampleFrequency === undefined ? undefined : `${options.sampleFrequency}%`,
    // Written when declared on a push consumer too, where the server refuses it, as synth does.
    max_waiting: options.maxWaiting ?? (push ? undefined : DEFAULT_MAX_WAITING),
    max_ack_pending: maxAckPending,
    max_batch: options.maxBatch,
    max_expires: nanoseconds(maxExpiresMs),
    max_bytes: maxBytes > 0 ? maxBytes : undefined,
    inactive_threshold: nanoseconds(inactiveMs),
    headers_only: options.headersOnly ? true : undefined,
    // 0 is the stream's replicas, as the server takes it.
    num_replicas: options.replicas ?? 0,
    mem_storage: options.memoryStorage ? true : undefined,
    metadata: options.metadata === undefined ? undefined : Object.fromEntries(Object.entries(options.metadata).sort(([a], [b]) => (a < b ? -1 : 1))),
    deliver_subject: options.deliverSubject,
    deliver_group: options.deliverGroup,
    flow_control: options.flowControl ? true : undefined,
    idle_heartbeat: nanoseconds(heartbeatMs),
    rate_limit_bps: options.rateLimit,
    priority_groups: options.priorityGroups === undefined ? undefined : [...options.priorityGroups],
    priority_policy: priorityPolicy,
    priority_timeout: nanoseconds(pinnedTtlMs),
    pause_until: options.pauseUntil,
  });

  const definition: ConsumerDefinition = {
    name, config, retentionPolicy: options.retentionPolicy ?? StreamRetentionPolicy.RETAIN, adopt: options.adopt ?? false,
  };
  const skipped = new Set(problems.map((p) => topLevelField(p.field)));
  const rules = consumerProblems(options, definition, stream, version).filter((p) => !skipped.has(topLevelField(p.field)));
  return { value: definition, problems: [...problems, ...rules] };
}

/** `object` without its unset fields, so the configuration holds only what is sent. */
function withoutUnset<T extends object>(object: { [K in keyof T]: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as T;
}
