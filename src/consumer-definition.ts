import { Problem, compileSchema, schemaProblems, showValue, topLevelField, withoutBrokenFields } from './problems';
import { Resolution, Retention, StreamDefinition, StreamRetentionPolicy, readUnit } from './stream-definition';
import { checkSubject, streamNameProblem, subjectIsSubset, subjectsOverlap } from './subjects';
import { DurationInput, NANOSECONDS_PER_MS, SizeInput, formatDuration, formatNanoseconds, parseDuration, parseSize } from './units';
import { NatsServerVersion, consumerFieldsNewerThan } from './versions';

/** Where in the stream a new consumer starts. */
export enum DeliverPolicy {
  /** At the stream's first message. */
  ALL = 'all',
  /** At the stream's last message. */
  LAST = 'last',
  /** With the messages stored after the consumer is created. */
  NEW = 'new',
  /** At `startSequence`. */
  BY_START_SEQUENCE = 'by_start_sequence',
  /** At the first message stored at or after `startTime`. */
  BY_START_TIME = 'by_start_time',
  /** At the last message of each subject. */
  LAST_PER_SUBJECT = 'last_per_subject',
}

/** How the consumer's client acknowledges messages. */
export enum AckPolicy {
  /** No acknowledgements: a message counts as handled once delivered. */
  NONE = 'none',
  /** Acknowledging a message acknowledges every earlier one too. */
  ALL = 'all',
  /** Each message is acknowledged on its own. */
  EXPLICIT = 'explicit',
}

/** How fast stored messages are delivered. */
export enum ReplayPolicy {
  /** As fast as the client takes them. */
  INSTANT = 'instant',
  /** At the pace they were stored. */
  ORIGINAL = 'original',
}

/** How a pull consumer shares its messages between the clients of its priority groups (NATS 2.11+). */
export enum PriorityPolicy {
  /** Overflow: clients get messages once the consumer's pending count passes their threshold. */
  OVERFLOW = 'overflow',
  /** One pinned client gets every message until it stops asking for `pinnedTtl`. */
  PINNED_CLIENT = 'pinned_client',
  /** Clients with a lower priority number go first (NATS 2.12+). */
  PRIORITIZED = 'prioritized',
}

/** Everything that defines one durable JetStream consumer; `Consumer` and `Stream.addConsumer` take these. */
export interface ConsumerOptions {
  /**
   * The durable consumer name: no whitespace, `.`, `*`, `>`, `/` or `\`, at most 255 characters.
   * @default - the construct id
   */
  readonly name?: string;
  /**
   * A description shown by `nats consumer info`.
   * @default - none
   */
  readonly description?: string;
  /**
   * Where in the stream the consumer starts. JetStream cannot change it later.
   * @default DeliverPolicy.ALL
   */
  readonly deliverPolicy?: DeliverPolicy;
  /**
   * The stream sequence to start at; needs `DeliverPolicy.BY_START_SEQUENCE`.
   * @default - none
   */
  readonly startSequence?: number;
  /**
   * The time to start at, as an RFC 3339 string such as "2026-01-01T00:00:00Z"; needs `DeliverPolicy.BY_START_TIME`.
   * @default - none
   */
  readonly startTime?: string;
  /**
   * How messages are acknowledged. JetStream cannot change it later.
   * @default AckPolicy.EXPLICIT
   */
  readonly ackPolicy?: AckPolicy;
  /**
   * How long the server waits for an acknowledgement before delivering a message again.
   * @default - 30s, or the first backoff entry; none with `AckPolicy.NONE`
   */
  readonly ackWait?: DurationInput;
  /**
   * How often a message is delivered at most.
   * @default UNLIMITED
   */
  readonly maxDeliver?: number;
  /**
   * The waits between redeliveries of an unacknowledged message, in place of `ackWait` (the last
   * one repeats); at most `maxDeliver` entries.
   * @default - none: every redelivery waits `ackWait`
   */
  readonly backoff?: DurationInput[];
  /**
   * Subjects of the stream the consumer delivers, wildcards allowed; more than one needs NATS 2.10.
   * @default - every subject of the stream
   */
  readonly filterSubjects?: string[];
  /**
   * How fast stored messages are delivered. JetStream cannot change it later.
   * @default ReplayPolicy.INSTANT
   */
  readonly replayPolicy?: ReplayPolicy;
  /**
   * Percentage of acknowledgements the server samples into advisories, 0 to 100.
   * @default - no sampling
   */
  readonly sampleFrequency?: number;
  /**
   * Most pull requests waiting at once (pull consumers). JetStream cannot change it later.
   * @default 512
   */
  readonly maxWaiting?: number;
  /**
   * Most messages delivered and not yet acknowledged; -1 for no limit.
   * @default - the stream's consumer limit, else 1000; none with `AckPolicy.NONE`
   */
  readonly maxAckPending?: number;
  /**
   * Most messages one pull request may ask for (pull consumers).
   * @default - no limit
   */
  readonly maxBatch?: number;
  /**
   * Longest a pull request may wait (pull consumers), at least 1ms.
   * @default - no limit
   */
  readonly maxExpires?: DurationInput;
  /**
   * Most bytes one pull request may ask for (pull consumers).
   * @default - no limit
   */
  readonly maxBytes?: SizeInput;
  /**
   * How long the consumer may go without a client before the server deletes it.
   * @default - the stream's consumer limit, else never
   */
  readonly inactiveThreshold?: DurationInput;
  /**
   * Deliver only the headers, with the message's size in `Nats-Msg-Size`.
   * @default false
   */
  readonly headersOnly?: boolean;
  /**
   * Copies of the consumer's state: at most the stream's replicas, and the stream's own for
   * interest and work-queue streams.
   * @default - the stream's replicas
   */
  readonly replicas?: number;
  /**
   * Keep the consumer's state in memory, even on a file stream. JetStream cannot change it later.
   * @default false
   */
  readonly memoryStorage?: boolean;
  /**
   * Free-form string metadata kept with the consumer (NATS 2.10+).
   * @default - none
   */
  readonly metadata?: Record<string, string>;
  /**
   * Makes a push consumer: the subject the server delivers to. JetStream cannot turn a push
   * consumer into a pull consumer or back.
   * @default - none: a pull consumer
   */
  readonly deliverSubject?: string;
  /**
   * The queue group that shares the deliveries of a push consumer.
   * @default - none
   */
  readonly deliverGroup?: string;
  /**
   * Flow control for a push consumer; needs `idleHeartbeat`. JetStream cannot change it later.
   * @default false
   */
  readonly flowControl?: boolean;
  /**
   * How often an idle push consumer sends a heartbeat, at least 100ms. JetStream cannot change it later.
   * @default - none
   */
  readonly idleHeartbeat?: DurationInput;
  /**
   * Most bits per second a push consumer delivers.
   * @default - no limit
   */
  readonly rateLimit?: number;
  /**
   * Priority groups of a pull consumer (NATS 2.11+): names of 1 to 16 letters, digits, `/`, `_`, `=` or `-`.
   * @default - none
   */
  readonly priorityGroups?: string[];
  /**
   * How the priority groups share messages (NATS 2.11+); needs `priorityGroups`.
   * @default - none
   */
  readonly priorityPolicy?: PriorityPolicy;
  /**
   * How long a pinned client keeps its pin without asking for messages (NATS 2.11+); needs `PriorityPolicy.PINNED_CLIENT`.
   * @default - 2m with `PriorityPolicy.PINNED_CLIENT`
   */
  readonly pinnedTtl?: DurationInput;
  /**
   * Pause deliveries until this time, an RFC 3339 string (NATS 2.11+).
   * @default - not paused
   */
  readonly pauseUntil?: string;
  /**
   * What happens to the consumer when it is removed from the app. Deleting a consumer of an
   * interest stream may remove the messages only it was interested in.
   * @default StreamRetentionPolicy.RETAIN
   */
  readonly retentionPolicy?: StreamRetentionPolicy;
  /**
   * Let the post-deploy Job take over a consumer of this name that exists on the stream but was not
   * created by it; without it the Job refuses to touch such a consumer.
   * @default false
   */
  readonly adopt?: boolean;
}

/** The consumer configuration as the JetStream API takes it (durations in nanoseconds). */
export interface JetStreamConsumerConfig {
  durable_name: string;
  description?: string;
  deliver_policy: string;
  opt_start_seq?: number;
  opt_start_time?: string;
  ack_policy: string;
  ack_wait?: number;
  max_deliver: number;
  backoff?: number[];
  filter_subject?: string;
  filter_subjects?: string[];
  replay_policy: string;
  sample_freq?: string;
  max_waiting?: number;
  max_ack_pending?: number;
  max_batch?: number;
  max_expires?: number;
  max_bytes?: number;
  inactive_threshold?: number;
  headers_only?: boolean;
  num_replicas: number;
  mem_storage?: boolean;
  metadata?: Record<string, string>;
  deliver_subject?: string;
  deliver_group?: string;
  flow_control?: boolean;
  idle_heartbeat?: number;
  rate_limit_bps?: number;
  priority_groups?: string[];
  priority_policy?: string;
  priority_timeout?: number;
  pause_until?: string;
}

/** A consumer with every default applied: its API configuration and the Job's switches. */
export interface ConsumerDefinition {
  readonly name: string;
  readonly config: JetStreamConsumerConfig;
  readonly retentionPolicy: StreamRetentionPolicy;
  readonly adopt: boolean;
}

/** The fields of {@link JetStreamConsumerConfig} holding durations in nanoseconds; the document writes them as Go durations. */
export const CONSUMER_DURATION_FIELDS: readonly string[] = ['ack_wait', 'backoff', 'inactive_threshold', 'idle_heartbeat', 'max_expires', 'priority_timeout'];

/** The server's defaults that synth writes out, so the stored configuration is the one sent. */
const DEFAULT_ACK_WAIT_MS = 30_000;
const DEFAULT_MAX_ACK_PENDING = 1000;
const DEFAULT_MAX_WAITING = 512;
const DEFAULT_PINNED_TTL_MS = 2 * 60_000;
const MIN_HEARTBEAT_MS = 100;
/** The server's pattern for a priority group name. */
const PRIORITY_GROUP = /^[a-zA-Z0-9/_=-]{1,16}$/;

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

/** Every rule one resolved consumer breaks, on its own and against its stream and release. */
function consumerProblems(options: ConsumerOptions, def: ConsumerDefinition, stream: StreamDefinition, version: NatsServerVersion): Problem[] {
  const problems: Problem[] = [];
  const add = (field: string, value: string, rule: string) => problems.push({ field, value, rule });
  const { config } = def;
  const push = config.deliver_subject !== undefined;
  const ofStream = `stream "${stream.name}"`;

  const nameProblem = streamNameProblem(def.name);
  if (nameProblem) add('name', showValue(def.name), nameProblem);

  const policy = config.deliver_policy;
  if (config.opt_start_seq !== undefined && policy !== DeliverPolicy.BY_START_SEQUENCE) {
    add('startSequence', String(config.opt_start_seq), `needs deliverPolicy "${DeliverPolicy.BY_START_SEQUENCE}", not "${policy}"`);
  }
  if (policy === DeliverPolicy.BY_START_SEQUENCE && config.opt_start_seq === undefined) add('deliverPolicy', showValue(policy), 'needs startSequence');
  if (config.opt_start_time !== undefined) {
    if (!isRfc3339(config.opt_start_time)) add('startTime', showValue(config.opt_start_time), 'must be an RFC 3339 time such as "2026-01-01T00:00:00Z"');
    if (policy !== DeliverPolicy.BY_START_TIME) add('startTime', showValue(config.opt_start_time), `needs deliverPolicy "${DeliverPolicy.BY_START_TIME}", not "${policy}"`);
  }
  if (policy === DeliverPolicy.BY_START_TIME && config.opt_start_time === undefined) add('deliverPolicy', showValue(policy), 'needs startTime');
  if (config.pause_until !== undefined && !isRfc3339(config.pause_until)) {
    add('pauseUntil', showValue(config.pause_until), 'must be an RFC 3339 time such as "2026-01-01T00:00:00Z"');
  }

  const acks = config.ack_policy !== AckPolicy.NONE;
  if (acks && options.ackWait !== undefined && config.ack_wait === undefined) {
    add('ackWait', showValue(options.ackWait), 'must be longer than 0: the server takes 0 for its default 30s');
  }
  if (!acks && options.ackWait !== undefined) add('ackWait', showValue(options.ackWait), 'needs acknowledgements: ackPolicy is "none"');
  if (!acks && options.maxAckPending !== undefined) add('maxAckPending', String(options.maxAckPending), 'needs acknowledgements: ackPolicy is "none"');
  if (config.backoff !== undefined) {
    if (!acks) add('backoff', formatList(config.backoff), 'needs acknowledgements: ackPolicy is "none"');
    if (options.ackWait !== undefined && config.ack_wait !== config.backoff[0]) {
      add('ackWait', formatNanoseconds(config.ack_wait ?? 0), `must be unset or the first backoff entry ${formatNanoseconds(config.backoff[0])}: the server sets it so`);
    }
    config.backoff.forEach((entry, i) => {
      if (entry <= 0) add(`backoff[${i}]`, formatNanoseconds(entry), 'must be longer than 0');
    });
    // 2.9 wants more deliveries than waits; 2.10 and newer at least as many.
    const count = config.backoff.length;
    if (config.max_deliver === -1 && !version.atLeast('2.10.0')) {
      add('backoff', formatList(config.backoff), `needs maxDeliver above its ${count} entries on NATS server ${version.version}`);
    } else if (config.max_deliver !== -1 && (version.atLeast('2.10.0') ? count > config.max_deliver : count >= config.max_deliver)) {
      add('backoff', formatList(config.backoff), `has ${count} entries, more than maxDeliver ${config.max_deliver} allows`);
    }
  }

  const checkedFilters = [config.filter_subject, ...(config.filter_subjects ?? [])].filter((f): f is string => f !== undefined);
  const fieldOf = (i: number) => `filterSubjects[${i}]`;
  // A mirror's or a transformed stream's stored subjects are not its declared ones: only the form is checked.
  // Before 2.12 the server refuses filters that share any subject; from 2.12 only one inside another.
  const filtersClash = (a: string, b: string) => (version.atLeast('2.12.0') ? subjectIsSubset(a, b) || subjectIsSubset(b, a) : subjectsOverlap(a, b));
  const ownSubjects = stream.mirror === undefined && stream.sources.length === 0 && stream.subjectTransform === undefined;
  checkedFilters.forEach((filter, i) => {
    const checked = checkSubject(filter);
    if ('problem' in checked) {
      add(fieldOf(i), showValue(filter), checked.problem);
      return;
    }
    if (ownSubjects && !stream.subjects.some((subject) => subjectsOverlap(filter, subject))) {
      add(fieldOf(i), showValue(filter), `matches none of the subjects of ${ofStream} (${stream.subjects.join(', ')})`);
    }
    checkedFilters.slice(0, i).forEach((other, j) => {
      if ('tokens' in checkSubject(other) && filtersClash(filter, other)) {
        add(fieldOf(i), showValue(filter), `overlaps filterSubjects[${j}] ${JSON.stringify(other)}: the server refuses overlapping filters`);
      }
    });
  });

  if (config.num_replicas > stream.replicas) {
    add('replicas', String(config.num_replicas), `exceeds the ${stream.replicas} replica(s) of ${ofStream}`);
  } else if (config.num_replicas !== 0 && config.num_replicas !== stream.replicas && stream.retention !== Retention.LIMITS) {
    add('replicas', String(config.num_replicas), `must be the ${stream.replicas} replica(s) of ${ofStream}, whose retention is "${stream.retention}"`);
  }
  const { inactiveThresholdMs, maxAckPending } = stream.consumerLimits;
  if (maxAckPending > 0 && (config.max_ack_pending === -1 || (config.max_ack_pending ?? 0) > maxAckPending)) {
    add('maxAckPending', String(config.max_ack_pending), `exceeds the consumer limit ${maxAckPending} of ${ofStream}`);
  }
  if (inactiveThresholdMs > 0 && (config.inactive_threshold ?? 0) > inactiveThresholdMs * NANOSECONDS_PER_MS) {
    add('inactiveThreshold', formatNanoseconds(config.inactive_threshold ?? 0), `exceeds the consumer limit ${formatDuration(inactiveThresholdMs)} of ${ofStream}`);
  }
  if (stream.retention === Retention.WORK_QUEUE) {
    if (!acks) add('ackPolicy', '"none"', `must acknowledge: ${ofStream} is a work queue`);
    if (policy !== DeliverPolicy.ALL) add('deliverPolicy', showValue(policy), `must be "all": ${ofStream} is a work queue`);
  }

  if (push) pushProblems(options, config, stream, add);
  else pullProblems(options, config, add);

  for (const { field, needs } of consumerFieldsNewerThan(config, version.version)) {
    add(CONSUMER_PROPS[field] ?? field, showValue((config as unknown as Record<string, unknown>)[field]), `needs NATS server ${needs} or newer; ${ofStream} runs on ${version.version}`);
  }
  if (config.priority_policy === PriorityPolicy.PRIORITIZED && version.atLeast('2.11.0') && !version.atLeast('2.12.0')) {
    add('priorityPolicy', '"prioritized"', `needs NATS server 2.12.0 or newer; ${ofStream} runs on ${version.version}`);
  }
  return problems;
}

function pushProblems(options: ConsumerOptions, config: JetStreamConsumerConfig, stream: StreamDefinition, add: (field: string, value: string, rule: string) => void): void {
  const subject = config.deliver_subject as string;
  const checked = checkSubject(subject);
  if ('problem' in checked) add('deliverSubject', showValue(subject), checked.problem);
  else if (checked.tokens.some((t) => t === '*' || t === '>')) add('deliverSubject', showValue(subject), 'must not have wildcards');
  else if (isReservedDeliverSubject(subject)) add('deliverSubject', showValue(subject), `is a subject the server reserves (${RESERVED_PREFIXES.join(' ')})`);
  else {
    const cycle = stream.subjects.find((s) => subjectsOverlap(s, subject));
    if (cycle !== undefined) add('deliverSubject', showValue(subject), `is captured by the stream's subject ${JSON.stringify(cycle)}: deliveries would be stored again`);
  }
  const pullOnly = 'is for pull consumers; deliverSubject makes this a push consumer';
  if (options.maxWaiting !== undefined) add('maxWaiting', String(options.maxWaiting), pullOnly);
  if (options.maxBatch !== undefined) add('maxBatch', String(options.maxBatch), pullOnly);
  if (options.maxExpires !== undefined) add('maxExpires', showValue(options.maxExpires), pullOnly);
  if (options.maxBytes !== undefined) add('maxBytes', showValue(options.maxBytes), pullOnly);
  if (options.priorityGroups !== undefined) add('priorityGroups', showValue(options.priorityGroups), pullOnly);
  if (options.priorityPolicy !== undefined) add('priorityPolicy', showValue(options.priorityPolicy), pullOnly);
  if (config.flow_control && config.idle_heartbeat === undefined) add('flowControl', 'true', 'needs idleHeartbeat');
  if (config.idle_heartbeat !== undefined && config.idle_heartbeat < MIN_HEARTBEAT_MS * NANOSECONDS_PER_MS) {
    add('idleHeartbeat', formatNanoseconds(config.idle_heartbeat), 'must be at least 100ms');
  }
}

function pullProblems(options: ConsumerOptions, config: JetStreamConsumerConfig, add: (field: string, value: string, rule: string) => void): void {
  const pushOnly = 'is for push consumers: set deliverSubject';
  if (options.deliverGroup !== undefined) add('deliverGroup', showValue(options.deliverGroup), pushOnly);
  if (options.flowControl !== undefined) add('flowControl', String(options.flowControl), pushOnly);
  if (options.idleHeartbeat !== undefined) add('idleHeartbeat', showValue(options.idleHeartbeat), pushOnly);
  if (options.rateLimit !== undefined) add('rateLimit', String(options.rateLimit), pushOnly);
  if (config.max_expires !== undefined && config.max_expires < NANOSECONDS_PER_MS) add('maxExpires', formatNanoseconds(config.max_expires), 'must be 0 (none) or at least 1ms');
  const groups = config.priority_groups ?? [];
  groups.forEach((group, i) => {
    if (!PRIORITY_GROUP.test(group)) add(`priorityGroups[${i}]`, showValue(group), 'must be 1 to 16 letters, digits, "/", "_", "=" or "-"');
  });
  if (config.priority_policy !== undefined && groups.length === 0) add('priorityPolicy', showValue(config.priority_policy), 'needs priorityGroups');
  if (config.priority_policy === undefined && groups.length > 0) add('priorityGroups', showValue(groups), 'needs priorityPolicy');
  if (options.pinnedTtl !== undefined && config.priority_policy !== PriorityPolicy.PINNED_CLIENT) {
    add('pinnedTtl', showValue(options.pinnedTtl), `needs priorityPolicy "${PriorityPolicy.PINNED_CLIENT}"`);
  }
}

/** The prop of each API field the release table names, for its error. */
const CONSUMER_PROPS: Readonly<Record<string, string>> = {
  filter_subjects: 'filterSubjects', metadata: 'metadata', priority_groups: 'priorityGroups', priority_policy: 'priorityPolicy',
  priority_timeout: 'pinnedTtl', pause_until: 'pauseUntil',
};

/**
 * The rules between the consumers of one stream: how many it allows, and on a work queue, that
 * no two consumers take the same subject (the server gives each message to one consumer).
 */
export function streamConsumersProblems(stream: StreamDefinition, consumers: readonly ConsumerDefinition[]): Problem[] {
  const problems: Problem[] = [];
  if (stream.maxConsumers >= 0 && consumers.length > stream.maxConsumers) {
    problems.push({ field: 'maxConsumers', value: String(stream.maxConsumers), rule: `is fewer than the ${consumers.length} consumers declared on the stream` });
  }
  const seen = new Map<string, number>();
  consumers.forEach((consumer, i) => {
    const first = seen.get(consumer.name);
    if (first !== undefined) problems.push({ field: `consumers[${i}].name`, value: showValue(consumer.name), rule: `is also the name of consumers[${first}]` });
    else seen.set(consumer.name, i);
  });
  if (stream.retention !== Retention.WORK_QUEUE) return problems;
  const filtersOf = (c: ConsumerDefinition) => [c.config.filter_subject, ...(c.config.filter_subjects ?? [])].filter((f): f is string => f !== undefined);
  consumers.forEach((consumer, i) => {
    consumers.slice(0, i).forEach((other, j) => {
      const [mine, theirs] = [filtersOf(consumer), filtersOf(other)];
      const clash = mine.length === 0 || theirs.length === 0
        ? (mine.length === 0 ? '(every subject)' : mine[0])
        : mine.find((f) => theirs.some((t) => 'tokens' in checkSubject(t) && 'tokens' in checkSubject(f) && subjectsOverlap(f, t)));
      if (clash !== undefined) {
        problems.push({
          field: `consumers[${i}].filterSubjects`, value: mine.length === 0 ? '(every subject)' : showValue(mine),
          rule: `overlaps the filters of consumer "${other.name}" (consumers[${j}]): a work queue gives each subject to one consumer`,
        });
      }
    });
  });
  return problems;
}

/** `object` without its unset fields, so the configuration holds only what is sent. */
function withoutUnset<T extends object>(object: { [K in keyof T]: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as T;
}

/** Prefixes of the subjects the server answers or routes itself: never a place to deliver to. */
const RESERVED_PREFIXES = ['$JS.', '$JSC.', '$NRG.', '$SYS.', '$GR.', '$GNR.'];

function isReservedDeliverSubject(subject: string): boolean {
  return RESERVED_PREFIXES.some((prefix) => subject.startsWith(prefix));
}

function isRfc3339(text: string): boolean {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text) && !Number.isNaN(Date.parse(text));
}

function formatList(nanoseconds: readonly number[]): string {
  return `[${nanoseconds.map(formatNanoseconds).join(', ')}]`;
}
