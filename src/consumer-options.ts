import type { StreamRetentionPolicy } from './stream-definition';
import type { DurationInput, SizeInput } from './units';

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
