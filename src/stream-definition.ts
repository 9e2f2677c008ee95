import { MESSAGE_OVERHEAD_BYTES } from './apply/names';
import { Problem, compileSchema, schemaProblems, showValue, topLevelField, withoutBrokenFields } from './problems';
import { checkSubject, checkSubjects, reservedSubjectProblem, reservedSubjectRules, streamNameProblem, subjectsOverlap } from './subjects';
import {
  DurationInput, NANOSECONDS_PER_MS, SizeInput, UnitError, formatBytes, formatDuration, formatNanoseconds, parseDuration, parseSize,
} from './units';
import { NatsServerVersion, fieldsNewerThan } from './versions';
import {
  JetStreamSourceConfig, StreamSource, SubjectTransform, readSource, sourceConsumerIdentity, sourceIdentity, sourceProblems,
} from './stream-sources';
import { TransformUse, subjectTransformProblem } from './subject-transforms';
import type { IStream } from './stream';

/** How a stream decides that a message is no longer needed. */
export enum Retention {
  /** Keep messages until a limit (count, bytes, age) removes them. */
  LIMITS = 'limits',
  /** Keep messages while a consumer is interested in them. */
  INTEREST = 'interest',
  /** Remove each message once one consumer acknowledged it. */
  WORK_QUEUE = 'workqueue',
}

/** Where a stream keeps its messages. */
export enum StorageType {
  /** On the store's persistent volume. */
  FILE = 'file',
  /** In the server's memory: lost when every replica restarts. */
  MEMORY = 'memory',
}

/** What a full stream does with a new message. */
export enum DiscardPolicy {
  /** Remove the oldest messages to make room. */
  OLD = 'old',
  /** Refuse the new message. */
  NEW = 'new',
}

/** On-disk compression of a file stream (NATS 2.10 and newer). */
export enum Compression {
  /** No compression. */
  NONE = 'none',
  /** S2 compression. */
  S2 = 's2',
}

/** When a file stream's writes reach the disk (NATS 2.12 and newer). */
export enum PersistMode {
  /** Each write is flushed before it is acknowledged. */
  DEFAULT = 'default',
  /** Writes are flushed in the background: faster, and a crash can lose the latest acknowledged ones. */
  ASYNC = 'async',
}

/** What the post-deploy Job does with a stream once it is no longer in the app. */
export enum StreamRetentionPolicy {
  /** Keep the stream and its messages; report it as orphaned. */
  RETAIN = 'Retain',
  /** Delete the stream and its messages. */
  DELETE = 'Delete',
}

/** Sets a count or size limit to "no limit", as JetStream's own -1 does. */
export const UNLIMITED = -1;

/** The limits a store sets defaults and hard maxima for. */
export interface StreamLimitOptions {
  /**
   * Most messages the stream keeps.
   * @default - the store's default, else its limit, else unlimited
   */
  readonly maxMsgs?: number;
  /**
   * Most bytes the stream keeps: a number of bytes, a cdk8s `Size` or a string such as "1G" or "10Gi".
   * @default - the store's default, else its limit, else unlimited
   */
  readonly maxBytes?: SizeInput;
  /**
   * Oldest message age the stream keeps: a cdk8s `Duration` or a Go duration string such as "240h".
   * @default - the store's default, else its limit, else unlimited
   */
  readonly maxAge?: DurationInput;
  /**
   * Largest message the stream accepts.
   * @default - the store's default, else its limit, else unlimited (up to the server's max payload)
   */
  readonly maxMsgSize?: SizeInput;
}

/** Limits every consumer of a stream gets, and may not exceed (NATS 2.10+). */
export interface StreamConsumerLimits {
  /**
   * How long a consumer may go without a client before the server removes it; a consumer that
   * sets none gets this one, and one that sets a longer one is refused.
   * @default - none: consumers set their own
   */
  readonly inactiveThreshold?: DurationInput;
  /**
   * Most unacknowledged messages a consumer may have outstanding; a consumer that sets none gets
   * this one, and one that sets more is refused.
   * @default - none: consumers set their own
   */
  readonly maxAckPending?: number;
}

/** Where a stream's replicas may be placed in a NATS cluster (or supercluster). */
export interface StreamPlacement {
  /**
   * The cluster, by its name, that holds the stream.
   * @default - the cluster of the server the request reaches
   */
  readonly cluster?: string;
  /**
   * Tags each server holding a replica must carry (its `server_tags`).
   * @default - none
   */
  readonly tags?: string[];
}

/** Every message the stream stores is also published, as it is stored, to another subject. */
export interface StreamRepublish {
  /**
   * The stored messages to republish, by subject; wildcards allowed.
   * @default ">": every message
   */
  readonly source?: string;
  /**
   * The subject to publish them to, with `$1` or `{{wildcard(1)}}` for the source's wildcards; it
   * must not overlap the stream's own subjects.
   */
  readonly destination: string;
  /**
   * Republish only the headers, with the size of the message in `Nats-Msg-Size`.
   * @default false
   */
  readonly headersOnly?: boolean;
}

/** Everything that defines one JetStream stream; `Stream` and `StreamStore.addStream` take these. */
export interface StreamOptions extends StreamLimitOptions {
  /**
   * The JetStream stream name: no whitespace, `.`, `*`, `>`, `/` or `\`, at most 255 characters.
   * @default - the construct id
   */
  readonly name?: string;
  /**
   * Subjects the stream captures; wildcards `*` and `>` allowed.
   * @default - the stream name as its only subject, as JetStream does
   */
  readonly subjects?: string[];
  /**
   * A description shown by `nats stream info`.
   * @default - none
   */
  readonly description?: string;
  /**
   * How messages are retained.
   * @default Retention.LIMITS
   */
  readonly retention?: Retention;
  /**
   * File or memory storage.
   * @default StorageType.FILE
   */
  readonly storage?: StorageType;
  /**
   * Copies of the stream across the store's servers: 1, 3 or 5, at most the store's replicas.
   * @default 1
   */
  readonly replicas?: number;
  /**
   * Most consumers the stream allows.
   * @default UNLIMITED
   */
  readonly maxConsumers?: number;
  /**
   * Most messages kept per subject.
   * @default UNLIMITED
   */
  readonly maxMsgsPerSubject?: number;
  /**
   * What a full stream does with a new message.
   * @default DiscardPolicy.OLD
   */
  readonly discard?: DiscardPolicy;
  /**
   * Apply the discard-new policy per subject; needs `discard: NEW` and `maxMsgsPerSubject`.
   * @default false
   */
  readonly discardNewPerSubject?: boolean;
  /**
   * Window in which a repeated `Nats-Msg-Id` is dropped as a duplicate (at least 100ms; 0 is the
   * default, as for the server).
   * @default - 2m, or the max age when that is shorter
   */
  readonly duplicateWindow?: DurationInput;
  /**
   * Refuse deleting single messages.
   * @default false
   */
  readonly denyDelete?: boolean;
  /**
   * Refuse purging the stream; incompatible with `allowRollup`.
   * @default false
   */
  readonly denyPurge?: boolean;
  /**
   * Allow `Nats-Rollup` headers to replace a subject's or the stream's content.
   * @default false
   */
  readonly allowRollup?: boolean;
  /**
   * Allow direct get of messages from any replica.
   * @default false
   */
  readonly allowDirect?: boolean;
  /**
   * Do not acknowledge published messages.
   * @default false
   */
  readonly noAck?: boolean;
  /**
   * On-disk compression (NATS 2.10+).
   * @default - not set: the server's default, no compression
   */
  readonly compression?: Compression;
  /**
   * Sequence number of the first message (NATS 2.10+).
   * @default - not set: 1
   */
  readonly firstSequence?: number;
  /**
   * Free-form string metadata kept with the stream (NATS 2.10+).
   * @default - none
   */
  readonly metadata?: Record<string, string>;
  /**
   * Limits every consumer of the stream gets, and may not exceed (NATS 2.10+).
   * @default - none
   */
  readonly consumerLimits?: StreamConsumerLimits;
  /**
   * Let publishers give a message its own time to live with the `Nats-TTL` header (NATS 2.11+).
   * Once on, JetStream cannot turn it off again.
   * @default false
   */
  readonly allowMsgTtl?: boolean;
  /**
   * When a subject's last message is removed by its max age, leave a delete marker that lives this
   * long (NATS 2.11+): at least 1s; needs `allowMsgTtl` and `allowRollup`, which the server would
   * otherwise turn on by itself.
   * @default - no delete markers
   */
  readonly subjectDeleteMarkerTtl?: DurationInput;
  /**
   * Make the stream a counter (NATS 2.12+): each subject's messages add to a total (the
   * `Nats-Incr` header). Limits retention only; not with discard new, `allowMsgTtl` or
   * `allowMsgSchedules`. JetStream cannot turn it on or off later.
   * @default false
   */
  readonly allowMsgCounter?: boolean;
  /**
   * Accept atomic batch publishes (NATS 2.12+): all of a batch's messages are stored, or none.
   * @default false
   */
  readonly allowAtomic?: boolean;
  /**
   * Accept messages scheduled for later delivery (NATS 2.12+). Not with discard new; needs
   * `allowRollup`. JetStream cannot turn it off later.
   * @default false
   */
  readonly allowMsgSchedules?: boolean;
  /**
   * When writes reach the disk (NATS 2.12+). `ASYNC` needs file storage, one replica and no
   * `allowAtomic`. JetStream cannot change it later.
   * @default PersistMode.DEFAULT
   */
  readonly persistMode?: PersistMode;
  /**
   * Accept fast batch publishes (NATS 2.14+).
   * @default false
   */
  readonly allowBatched?: boolean;
  /**
   * Store every message under another subject than it was published to (NATS 2.10+).
   * @default - none: messages keep their subjects
   */
  readonly subjectTransform?: SubjectTransform;
  /**
   * Also publish every stored message to another subject, for listeners that need no consumer.
   * @default - none
   */
  readonly republish?: StreamRepublish;
  /**
   * Where the stream's replicas go in a NATS cluster: a cluster by name, or servers by tag.
   * @default - wherever the server places it
   */
  readonly placement?: StreamPlacement;
  /**
   * Make the stream a read-only copy of another: a `Stream` of this app on the same store, or an
   * `ExternalStream`. A mirror captures no subjects and has no sources; JetStream cannot add a
   * mirror to an existing stream, and before NATS 2.12 cannot remove one either.
   * @default - not a mirror
   */
  readonly mirror?: StreamSource;
  /**
   * Copy the messages of other streams into this one, as they arrive: `Stream`s of this app on the
   * same store, or `ExternalStream`s, each optionally filtered and with subject transforms. The
   * stream may capture subjects of its own too.
   * @default - none
   */
  readonly sources?: StreamSource[];
  /**
   * Let the mirror answer direct gets for its origin. nats-server copies the origin's
   * `allowDirect` onto the mirror when it can see the origin, so the two must agree.
   * @default - the origin's allowDirect when it is a Stream of this app, else false
   */
  readonly mirrorDirect?: boolean;
  /**
   * Seal the stream: no message is added, deleted or removed by age again, and JetStream cannot
   * unseal it. The server then keeps it with no max age, discard new, deny delete and deny purge,
   * and without roll-ups, so those props must be unset or say the same. The post-deploy Job seals
   * an existing stream; it cannot create a sealed one.
   * @default false
   */
  readonly sealed?: boolean;
  /**
   * What happens to the stream when it is removed from the app.
   * @default StreamRetentionPolicy.RETAIN
   */
  readonly retentionPolicy?: StreamRetentionPolicy;
  /**
   * Let the post-deploy Job apply changes that discard stored messages (such as a limit
   * lowered below what the stream holds); without it the Job refuses them.
   * @default false
   */
  readonly allowDataLoss?: boolean;
  /**
   * Let the post-deploy Job take over a stream of this name that exists on the server but
   * was not created by it; without it the Job refuses to touch such a stream.
   * @default false
   */
  readonly adopt?: boolean;
}

/** Limits in resolved units: bytes, milliseconds and counts; -1 (or 0 for age) is unlimited. */
export interface ResolvedLimits {
  readonly maxMsgs?: number;
  readonly maxBytes?: number;
  readonly maxAgeMs?: number;
  readonly maxMsgSize?: number;
}

/** What a store imposes on the streams it hosts, resolved. */
export interface StreamPolicy {
  /** Store name, for messages. */
  readonly storeName: string;
  /** Servers in the store. */
  readonly replicas: number;
  /** Server release, for fields newer than it. */
  readonly version: NatsServerVersion;
  /** Largest message the server accepts, in bytes. */
  readonly maxPayloadBytes: number;
  /** Values for streams that set none. */
  readonly defaults: ResolvedLimits;
  /** Values no stream may exceed. */
  readonly limits: ResolvedLimits;
}

/** A stream with every default applied, in bytes and milliseconds. */
export interface StreamDefinition {
  readonly name: string;
  readonly subjects: string[];
  readonly description?: string;
  readonly retention: Retention;
  readonly storage: StorageType;
  readonly replicas: number;
  readonly maxConsumers: number;
  readonly maxMsgs: number;
  readonly maxBytes: number;
  readonly maxAgeMs: number;
  readonly maxMsgSize: number;
  readonly maxMsgsPerSubject: number;
  readonly discard: DiscardPolicy;
  readonly discardNewPerSubject: boolean;
  readonly duplicateWindowMs: number;
  readonly denyDelete: boolean;
  readonly denyPurge: boolean;
  readonly allowRollup: boolean;
  readonly allowDirect: boolean;
  readonly noAck: boolean;
  readonly compression?: Compression;
  readonly firstSequence?: number;
  readonly metadata?: Record<string, string>;
  /** Each limit is 0 when the stream sets none. */
  readonly consumerLimits: { readonly inactiveThresholdMs: number; readonly maxAckPending: number };
  readonly allowMsgTtl: boolean;
  /** 0 when the stream leaves no delete markers. */
  readonly subjectDeleteMarkerTtlMs: number;
  readonly allowMsgCounter: boolean;
  readonly allowAtomic: boolean;
  readonly allowMsgSchedules: boolean;
  readonly persistMode: PersistMode;
  readonly allowBatched: boolean;
  readonly subjectTransform?: { readonly src: string; readonly dest: string };
  readonly republish?: { readonly src: string; readonly dest: string; readonly headers_only?: boolean };
  readonly placement?: { readonly cluster?: string; readonly tags?: string[] };
  readonly mirror?: JetStreamSourceConfig;
  readonly sources: readonly JetStreamSourceConfig[];
  readonly mirrorDirect: boolean;
  readonly sealed: boolean;
  readonly retentionPolicy: StreamRetentionPolicy;
  readonly allowDataLoss: boolean;
  readonly adopt: boolean;
}

/** The stream configuration as the JetStream API takes it (durations in nanoseconds). */
export interface JetStreamStreamConfig {
  name: string;
  subjects: string[];
  description?: string;
  retention: string;
  storage: string;
  num_replicas: number;
  max_consumers: number;
  max_msgs: number;
  max_bytes: number;
  max_age: number;
  max_msg_size: number;
  max_msgs_per_subject: number;
  discard: string;
  discard_new_per_subject: boolean;
  duplicate_window: number;
  deny_delete: boolean;
  deny_purge: boolean;
  allow_rollup_hdrs: boolean;
  allow_direct: boolean;
  mirror_direct: boolean;
  sealed: boolean;
  no_ack: boolean;
  compression?: string;
  first_seq?: number;
  metadata?: Record<string, string>;
  consumer_limits?: { inactive_threshold?: number; max_ack_pending?: number };
  allow_msg_ttl?: boolean;
  subject_delete_marker_ttl?: number;
  allow_msg_counter?: boolean;
  allow_atomic?: boolean;
  allow_msg_schedules?: boolean;
  persist_mode?: string;
  allow_batched?: boolean;
  subject_transform?: { src: string; dest: string };
  republish?: { src: string; dest: string; headers_only?: boolean };
  placement?: { cluster?: string; tags?: string[] };
  mirror?: JetStreamSourceConfig;
  sources?: JetStreamSourceConfig[];
}

/** The server's minimum for max age and the duplicate window. */
const MIN_WINDOW_MS = 100;
/** JetStream's default duplicate window. */
const DEFAULT_DUPLICATE_WINDOW_MS = 2 * 60 * 1000;
/**
 * The fields of {@link JetStreamStreamConfig} holding a duration, in nanoseconds on the API
 * (`field`, or `field.inner` inside an object): the program's plan and definitions write them as
 * Go durations.
 */
export const DURATION_FIELDS: readonly string[] = ['max_age', 'duplicate_window', 'subject_delete_marker_ttl', 'consumer_limits.inactive_threshold'];
/** The server's minimum for a subject delete marker's time to live. */
const MIN_DELETE_MARKER_TTL_MS = 1000;

// Each description is what an error says the prop must be, with the value it has.
const sizeShape = {
  description: 'a size: a whole number of bytes (-1 for unlimited), a quantity string such as "10Gi" or a cdk8s Size',
  anyOf: [{ type: 'integer', minimum: -1 }, { type: 'string' }, { type: 'object' }],
};
/** JSON Schema of a size that cannot be unlimited, such as a volume or the max payload. */
export const SIZE_SHAPE = {
  description: 'a size: a whole number of bytes, a quantity string such as "10Gi" or a cdk8s Size',
  anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string' }, { type: 'object' }],
};
const durationShape = {
  description: 'a non-negative duration: a whole number of milliseconds, a Go duration string such as "240h" or a cdk8s Duration',
  anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string' }, { type: 'object' }],
};
const countShape = { type: 'integer', minimum: -1 };
const enumOf = (values: object) => ({ enum: Object.values(values) });

/** JSON Schema of the limit props, shared by streams and by store defaults and limits. */
export const LIMIT_PROPERTIES = {
  maxMsgs: countShape,
  maxBytes: sizeShape,
  maxAge: durationShape,
  maxMsgSize: sizeShape,
};

/** JSON Schema of `StreamOptions`: the shape; the rules between fields are checked in code. */
export const STREAM_OPTIONS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...LIMIT_PROPERTIES,
    name: { type: 'string' },
    subjects: { type: 'array', items: { type: 'string' }, minItems: 1 },
    description: { type: 'string', maxLength: 4096 },
    retention: enumOf(Retention),
    storage: enumOf(StorageType),
    replicas: { type: 'integer' },
    maxConsumers: countShape,
    maxMsgsPerSubject: countShape,
    discard: enumOf(DiscardPolicy),
    discardNewPerSubject: { type: 'boolean' },
    duplicateWindow: durationShape,
    denyDelete: { type: 'boolean' },
    denyPurge: { type: 'boolean' },
    allowRollup: { type: 'boolean' },
    allowDirect: { type: 'boolean' },
    noAck: { type: 'boolean' },
    compression: enumOf(Compression),
    firstSequence: { type: 'integer', minimum: 1 },
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
    consumerLimits: {
      type: 'object',
      additionalProperties: false,
      properties: { inactiveThreshold: durationShape, maxAckPending: { type: 'integer', minimum: 1 } },
    },
    allowMsgTtl: { type: 'boolean' },
    subjectDeleteMarkerTtl: durationShape,
    allowMsgCounter: { type: 'boolean' },
    allowAtomic: { type: 'boolean' },
    allowMsgSchedules: { type: 'boolean' },
    persistMode: enumOf(PersistMode),
    allowBatched: { type: 'boolean' },
    subjectTransform: {
      type: 'object',
      additionalProperties: false,
      required: ['destination'],
      properties: { source: { type: 'string' }, destination: { type: 'string', minLength: 1 } },
    },
    republish: {
      type: 'object',
      additionalProperties: false,
      required: ['destination'],
      properties: { source: { type: 'string' }, destination: { type: 'string', minLength: 1 }, headersOnly: { type: 'boolean' } },
    },
    placement: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { cluster: { type: 'string', minLength: 1 }, tags: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } } },
    },
    // Streams and ExternalStreams are objects of their own: resolveSources checks them.
    mirror: { type: 'object' },
    sources: { type: 'array', items: { type: 'object' } },
    mirrorDirect: { type: 'boolean' },
    sealed: { type: 'boolean' },
    retentionPolicy: enumOf(StreamRetentionPolicy),
    allowDataLoss: { type: 'boolean' },
    adopt: { type: 'boolean' },
  },
};

const validateStreamOptions = compileSchema(STREAM_OPTIONS_SCHEMA);

/** Props that mean nothing without each of their fields: one broken field leaves the whole prop unset. */
const WHOLE_PROPS = ['subjectTransform', 'republish', 'placement'];

/** The result of resolving: the value (unreadable fields left unset) and every problem. */
export interface Resolution<T> {
  readonly value: T;
  readonly problems: Problem[];
}

/** A stream of this app that a stream mirrors or sources from, and the prop that names it. */
export interface StreamOriginReference {
  /** `mirror` or `sources[i]`. */
  readonly field: string;
  readonly stream: IStream;
}

/** A resolved stream, with the streams of this app it copies from, for its store's rules. */
export interface StreamResolution extends Resolution<StreamDefinition> {
  readonly origins: readonly StreamOriginReference[];
}

/** Parses limit props into bytes and milliseconds, collecting a problem per unreadable value. */
export function resolveLimits(options: StreamLimitOptions, base = ''): Resolution<ResolvedLimits> {
  const problems: Problem[] = [];
  const field = (name: string) => (base ? `${base}.${name}` : name);
  const read = <T>(name: string, value: T | undefined, parse: (v: T) => number): number | undefined => {
    if (value === undefined) return undefined;
    if (value === UNLIMITED) return UNLIMITED;
    try {
      return parse(value);
    } catch (error) {
      problems.push({ field: field(name), value: showValue(value), rule: unitRule(error) });
      return undefined;
    }
  };
  const value: ResolvedLimits = {
    maxMsgs: options.maxMsgs === undefined ? undefined : unlimitedIfZero(options.maxMsgs),
    maxBytes: unlimitedIfZero(read('maxBytes', options.maxBytes, parseSize)),
    maxAgeMs: read('maxAge', options.maxAge, parseDuration),
    maxMsgSize: unlimitedIfZero(read('maxMsgSize', options.maxMsgSize, parseSize)),
  };
  return { value, problems };
}

/** JetStream stores a count or size limit of 0 as -1, no limit: so do we, to compare equal. */
function unlimitedIfZero<T extends number | undefined>(value: T): T {
  return (value === 0 ? UNLIMITED : value) as T;
}

/** The rule text of a unit parse error, without the repeated value. */
export function unitRule(error: unknown): string {
  return `is invalid: ${error instanceof UnitError ? error.rule : String(error)}`;
}

/**
 * Applies the store's defaults to a stream's options and checks every rule a single stream
 * must keep. Pure: the same options and policy give the same definition and problems.
 */
export function resolveStream(input: StreamOptions, defaultName: string, policy: StreamPolicy): StreamResolution {
  const problems = schemaProblems(validateStreamOptions, input);
  const readable = withoutBrokenFields(input, problems, WHOLE_PROPS);
  const mirror = readable.mirror === undefined ? undefined : readSource(readable.mirror, 'mirror');
  const sources = (readable.sources ?? []).map((source, i) => readSource(source, `sources[${i}]`));
  for (const read of [mirror, ...sources]) problems.push(...(read?.problems ?? []));
  const options = withoutBrokenFields(readable, problems, WHOLE_PROPS);
  const origins: StreamOriginReference[] = [];
  if (mirror?.resolved?.origin) origins.push({ field: 'mirror', stream: mirror.resolved.origin });
  sources.forEach((read, i) => {
    if (read.resolved?.origin) origins.push({ field: `sources[${i}]`, stream: read.resolved.origin });
  });
  // A stream that copies from others captures no subjects unless it lists some, as on the server;
  // an empty list of sources copies nothing, as none.
  const noSources = input.sources === undefined || (Array.isArray(input.sources) && input.sources.length === 0);
  const copies = input.mirror !== undefined || !noSources;
  const sealed = options.sealed ?? false;
  const limits = resolveLimits(options);
  problems.push(...limits.problems);
  const duplicateWindowMs = options.duplicateWindow === undefined
    ? undefined : readUnit(problems, 'duplicateWindow', options.duplicateWindow, 0, parseDuration);
  const subjectDeleteMarkerTtlMs = readUnit(problems, 'subjectDeleteMarkerTtl', options.subjectDeleteMarkerTtl, 0, parseDuration);
  const inactiveThresholdMs = readUnit(problems, 'consumerLimits.inactiveThreshold', options.consumerLimits?.inactiveThreshold, 0, parseDuration);

  const own = limits.value;
  const pick = (key: keyof ResolvedLimits, unlimited: number) =>
    own[key] ?? policy.defaults[key] ?? policy.limits[key] ?? unlimited;
  const name = options.name ?? defaultName;
  // A sealed stream keeps its messages for good: the server sets no max age (a declared one is reported).
  const maxAgeMs = sealed && own.maxAgeMs === undefined ? 0 : pick('maxAgeMs', 0);
  // The server sets a default window on neither a mirror nor (from 2.14) a sourced stream.
  const noDefaultWindow = options.mirror !== undefined || (sources.length > 0 && policy.version.atLeast('2.14.0'));
  const defaultWindowMs = noDefaultWindow ? 0 : maxAgeMs > 0 ? Math.min(DEFAULT_DUPLICATE_WINDOW_MS, maxAgeMs) : DEFAULT_DUPLICATE_WINDOW_MS;
  const definition: StreamDefinition = {
    name,
    // Unreadable subjects are reported; none are assumed, so no overlap is reported for them.
    subjects: options.subjects ?? (input.subjects === undefined && !copies ? [name] : []),
    description: options.description,
    retention: options.retention ?? Retention.LIMITS,
    storage: options.storage ?? StorageType.FILE,
    replicas: options.replicas ?? 1,
    maxConsumers: unlimitedIfZero(options.maxConsumers ?? UNLIMITED),
    maxMsgs: pick('maxMsgs', UNLIMITED),
    maxBytes: pick('maxBytes', UNLIMITED),
    maxAgeMs,
    maxMsgSize: pick('maxMsgSize', UNLIMITED),
    maxMsgsPerSubject: unlimitedIfZero(options.maxMsgsPerSubject ?? UNLIMITED),
    discard: options.discard ?? (sealed ? DiscardPolicy.NEW : DiscardPolicy.OLD),
    discardNewPerSubject: options.discardNewPerSubject ?? false,
    // 0 asks the server for its default, so it is that default here, as the server will report it.
    duplicateWindowMs: duplicateWindowMs || defaultWindowMs,
    // What the server makes of a sealed stream; a prop that says otherwise is reported.
    denyDelete: options.denyDelete ?? sealed,
    denyPurge: options.denyPurge ?? sealed,
    allowRollup: options.allowRollup ?? false,
    allowDirect: options.allowDirect ?? false,
    noAck: options.noAck ?? false,
    compression: options.compression,
    firstSequence: options.firstSequence,
    metadata: options.metadata,
    consumerLimits: { inactiveThresholdMs, maxAckPending: options.consumerLimits?.maxAckPending ?? 0 },
    allowMsgTtl: options.allowMsgTtl ?? false,
    subjectDeleteMarkerTtlMs,
    allowMsgCounter: options.allowMsgCounter ?? false,
    allowAtomic: options.allowAtomic ?? false,
    allowMsgSchedules: options.allowMsgSchedules ?? false,
    persistMode: options.persistMode ?? PersistMode.DEFAULT,
    allowBatched: options.allowBatched ?? false,
    subjectTransform: options.subjectTransform && { src: options.subjectTransform.source || '>', dest: options.subjectTransform.destination },
    republish: options.republish && {
      src: options.republish.source || '>',
      dest: options.republish.destination,
      ...(options.republish.headersOnly ? { headers_only: true } : {}),
    },
    placement: options.placement && {
      ...(options.placement.cluster !== undefined ? { cluster: options.placement.cluster } : {}),
      ...(options.placement.tags !== undefined ? { tags: [...options.placement.tags] } : {}),
    },
    mirror: mirror?.resolved?.config,
    sources: sources.flatMap((read) => (read.resolved ? [read.resolved.config] : [])),
    // The server copies the origin's allowDirect when it sees the origin.
    mirrorDirect: options.mirrorDirect ?? mirror?.resolved?.origin?.definition.allowDirect ?? false,
    sealed,
    retentionPolicy: options.retentionPolicy ?? StreamRetentionPolicy.RETAIN,
    allowDataLoss: options.allowDataLoss ?? false,
    adopt: options.adopt ?? false,
  };
  const skipped = new Set(problems.map((p) => topLevelField(p.field)));
  const rules = definitionProblems(definition, policy).filter((p) => !skipped.has(topLevelField(p.field)));
  const declared = declaredSealProblems(input, sealed, own.maxAgeMs);
  return { value: definition, problems: [...problems, ...rules, ...declared], origins };
}


/** Props a sealed stream declares against what the server makes of it. */
function declaredSealProblems(options: StreamOptions, sealed: boolean, maxAgeMs: number | undefined): Problem[] {
  if (!sealed) return [];
  const rule = 'cannot be declared on a sealed stream: the server seals it with no max age, discard new, deny delete, deny purge and no roll-ups';
  const problems: Problem[] = [];
  if (maxAgeMs !== undefined && maxAgeMs !== 0) problems.push({ field: 'maxAge', value: formatDuration(maxAgeMs), rule });
  if (options.discard === DiscardPolicy.OLD) problems.push({ field: 'discard', value: showValue(options.discard), rule });
  if (options.denyDelete === false) problems.push({ field: 'denyDelete', value: 'false', rule });
  if (options.denyPurge === false) problems.push({ field: 'denyPurge', value: 'false', rule });
  if (options.allowRollup === true) problems.push({ field: 'allowRollup', value: 'true', rule });
  return problems;
}

/** Every rule one resolved stream breaks, on its own and against its store's policy. */
export function definitionProblems(def: StreamDefinition, policy: StreamPolicy): Problem[] {
  const problems: Problem[] = [];
  const add = (field: string, value: string, rule: string) => problems.push({ field, value, rule });
  const store = `store "${policy.storeName}"`;
  // What the apply Job sends: its size and its fields by release are checked below.
  const config = toJetStreamConfig(def);

  const nameProblem = streamNameProblem(def.name);
  if (nameProblem) add('name', showValue(def.name), nameProblem);

  const seen = new Set<string>();
  const capture = { noAck: def.noAck, replicas: def.replicas, rules: reservedSubjectRules(policy.version) };
  const checked = checkSubjects(def.subjects);
  def.subjects.forEach((subject, i) => {
    const c = checked[i];
    const problem = 'problem' in c ? c.problem : seen.has(subject) ? 'is listed twice' : reservedSubjectProblem(subject, capture, c.tokens);
    if (problem) add(`subjects[${i}]`, showValue(subject), problem);
    seen.add(subject);
  });

  if (![1, 3, 5].includes(def.replicas)) {
    add('replicas', String(def.replicas), 'must be 1, 3 or 5: JetStream replicates by quorum, so even counts add no safety');
  } else if (def.replicas > policy.replicas) {
    add('replicas', String(def.replicas), `exceeds the ${policy.replicas} server(s) of ${store}`);
  }

  checkLimit(add, 'maxMsgs', def.maxMsgs, policy.limits.maxMsgs, UNLIMITED, String, store);
  checkLimit(add, 'maxBytes', def.maxBytes, policy.limits.maxBytes, UNLIMITED, formatBytes, store);
  checkLimit(add, 'maxAge', def.maxAgeMs, policy.limits.maxAgeMs, 0, formatDuration, store);
  checkLimit(add, 'maxMsgSize', def.maxMsgSize, policy.limits.maxMsgSize, UNLIMITED, formatBytes, store);

  if (def.maxMsgSize > policy.maxPayloadBytes) {
    add('maxMsgSize', formatBytes(def.maxMsgSize), `exceeds the max payload ${formatBytes(policy.maxPayloadBytes)} of ${store}`);
  }
  const requestBytes = Buffer.byteLength(JSON.stringify(config)) + MESSAGE_OVERHEAD_BYTES;
  if (requestBytes > policy.maxPayloadBytes) {
    add('(configuration)', formatBytes(requestBytes), `with the request's ${MESSAGE_OVERHEAD_BYTES} bytes of overhead exceeds the max payload `
      + `${formatBytes(policy.maxPayloadBytes)} of ${store}: the apply Job sends a stream's whole configuration in one message`);
  }
  if (def.maxAgeMs !== 0 && def.maxAgeMs < MIN_WINDOW_MS) {
    add('maxAge', formatDuration(def.maxAgeMs), 'must be 0 (unlimited) or at least 100ms');
  }
  // 0 only where the server sets no window (a mirror, a sourced stream from 2.14).
  if (def.duplicateWindowMs !== 0 && def.duplicateWindowMs < MIN_WINDOW_MS) {
    add('duplicateWindow', formatDuration(def.duplicateWindowMs), 'must be at least 100ms');
  } else if (def.maxAgeMs > 0 && def.duplicateWindowMs > def.maxAgeMs) {
    add('duplicateWindow', formatDuration(def.duplicateWindowMs), `must not be longer than maxAge ${formatDuration(def.maxAgeMs)}`);
  }
  if (def.denyPurge && def.allowRollup) {
    add('allowRollup', 'true', 'needs purging, which denyPurge forbids');
  }
  if (def.discardNewPerSubject && def.discard !== DiscardPolicy.NEW) {
    add('discardNewPerSubject', 'true', `needs discard "new", not "${def.discard}"`);
  }
  if (def.discardNewPerSubject && def.maxMsgsPerSubject <= 0) {
    add('discardNewPerSubject', 'true', 'needs maxMsgsPerSubject to be set');
  }
  if (def.subjectDeleteMarkerTtlMs > 0) {
    const ttl = formatDuration(def.subjectDeleteMarkerTtlMs);
    if (def.subjectDeleteMarkerTtlMs < MIN_DELETE_MARKER_TTL_MS) add('subjectDeleteMarkerTtl', ttl, 'must be at least 1s');
    // The server would turn both on by itself and store another configuration than the one declared.
    if (!def.allowMsgTtl) add('subjectDeleteMarkerTtl', ttl, 'needs allowMsgTtl: delete markers are messages with a time to live');
    if (!def.allowRollup) add('subjectDeleteMarkerTtl', ttl, 'needs allowRollup: a delete marker rolls its subject up');
  }
  if (def.allowMsgCounter) {
    if (def.discard === DiscardPolicy.NEW) add('allowMsgCounter', 'true', 'cannot be used with discard "new"');
    if (def.allowMsgTtl) add('allowMsgCounter', 'true', 'cannot be used with allowMsgTtl');
    if (def.allowMsgSchedules) add('allowMsgCounter', 'true', 'cannot be used with allowMsgSchedules');
    if (def.retention !== Retention.LIMITS) add('allowMsgCounter', 'true', `needs retention "limits", not "${def.retention}"`);
  }
  if (def.allowMsgSchedules) {
    if (def.discard === DiscardPolicy.NEW) add('allowMsgSchedules', 'true', 'cannot be used with discard "new"');
    // The server would turn roll-ups on by itself and store another configuration than the one declared.
    if (!def.allowRollup) add('allowMsgSchedules', 'true', 'needs allowRollup, which the server would otherwise turn on for schedules');
  }
  if (def.persistMode === PersistMode.ASYNC) {
    if (def.storage !== StorageType.FILE) add('persistMode', '"async"', 'needs file storage');
    if (def.replicas > 1) add('persistMode', '"async"', `needs replicas 1, not ${def.replicas}`);
    if (def.allowAtomic) add('persistMode', '"async"', 'cannot be used with allowAtomic');
  }

  problems.push(...copyProblems(def, policy.version));
  if (def.subjectTransform) {
    const { src, dest } = def.subjectTransform;
    const problem = policy.version.atLeast('2.10.0') ? subjectTransformProblem(src, dest, policy.version, TransformUse.STREAM) : undefined;
    if (problem) add('subjectTransform', `${src} -> ${dest}`, problem);
  }
  if (def.republish) {
    const { src, dest } = def.republish;
    const checked = checkSubjects(def.subjects);
    const cycle = 'tokens' in checkSubject(dest) ? def.subjects.find((subject, i) => 'tokens' in checked[i] && subjectsOverlap(dest, subject)) : undefined;
    if (cycle !== undefined) add('republish.destination', showValue(dest), `overlaps the stream's subject ${JSON.stringify(cycle)}: republished messages would be stored again`);
    else {
      const problem = subjectTransformProblem(src, dest, policy.version, TransformUse.REPUBLISH);
      if (problem) add('republish', `${src} -> ${dest}`, problem);
    }
  }

  for (const { field, value, needs } of fieldsNewerThan(config, policy.version.version)) {
    // Durations as the prop takes them, not the API's nanoseconds.
    const shown = typeof value === 'number' && DURATION_FIELDS.includes(field) ? formatNanoseconds(value) : showValue(value);
    add(camelCase(field), shown, `needs NATS server ${needs} or newer; ${store} runs ${policy.version.version}`);
  }
  return problems;
}

/** The rules of a mirror and of sources, on their own and against the stream's other props. */
function copyProblems(def: StreamDefinition, version: NatsServerVersion): Problem[] {
  const problems: Problem[] = [];
  const add = (field: string, value: string, rule: string) => problems.push({ field, value, rule });
  if (def.mirror) {
    const onMirror = 'cannot be set on a mirror: it holds exactly what its origin holds';
    if (def.subjects.length > 0) add('subjects', showValue(def.subjects), `${onMirror}, under the origin's subjects`);
    if (def.sources.length > 0) add('sources', `(${def.sources.length})`, 'cannot be used with mirror');
    if (def.firstSequence !== undefined) add('firstSequence', String(def.firstSequence), onMirror);
    if (def.subjectDeleteMarkerTtlMs > 0) add('subjectDeleteMarkerTtl', formatDuration(def.subjectDeleteMarkerTtlMs), onMirror);
    if (def.allowMsgCounter) add('allowMsgCounter', 'true', onMirror);
    if (def.allowAtomic) add('allowAtomic', 'true', 'cannot be set on a mirror: it takes no publishes');
    if (def.allowBatched) add('allowBatched', 'true', 'cannot be set on a mirror: it takes no publishes');
    if (def.allowMsgSchedules) add('allowMsgSchedules', 'true', onMirror);
    problems.push(...sourceProblems(def.mirror, 'mirror', true, version));
    if (def.mirrorDirect && def.mirror.external && !version.atLeast('2.10.0')) {
      add('mirrorDirect', 'true', `is turned off by NATS server ${version.version} on a mirror of another domain; 2.10.0 keeps it`);
    }
  } else if (def.mirrorDirect) {
    add('mirrorDirect', 'true', 'needs a mirror');
  }
  if (def.sources.length > 0 && def.allowMsgSchedules) add('allowMsgSchedules', 'true', 'cannot be used with sources');
  const firstByIdentity = new Map<string, number>();
  const firstByConsumer = new Map<string, number>();
  def.sources.forEach((source, i) => {
    problems.push(...sourceProblems(source, `sources[${i}]`, false, version));
    const identity = sourceIdentity(source);
    const first = firstByIdentity.get(identity);
    const consumer = sourceConsumerIdentity(source);
    const firstOfConsumer = consumer === undefined ? undefined : firstByConsumer.get(consumer);
    if (first === undefined) firstByIdentity.set(identity, i);
    // 2.9 takes the same source twice.
    else if (version.atLeast('2.10.0')) add(`sources[${i}]`, showValue(source.name), `copies the same messages as sources[${first}]`);
    if (consumer !== undefined && firstOfConsumer === undefined) firstByConsumer.set(consumer, i);
    else if (firstOfConsumer !== undefined && first === undefined && version.atLeast('2.14.0')) {
      add(`sources[${i}].consumer.name`, showValue(source.consumer?.name), `is the consumer sources[${firstOfConsumer}] copies through: one consumer serves one source`);
    }
  });
  return problems;
}

function checkLimit(
  add: (field: string, value: string, rule: string) => void,
  field: string, value: number, limit: number | undefined, unlimited: number,
  show: (n: number) => string, store: string,
) {
  if (limit === undefined || limit === unlimited) return;
  if (value === unlimited) add(field, 'unlimited', `exceeds the limit ${show(limit)} of ${store}`);
  else if (value > limit) add(field, show(value), `exceeds the limit ${show(limit)} of ${store}`);
}

function camelCase(apiField: string): string {
  if (apiField === 'first_seq') return 'firstSequence';
  return apiField.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Maps a resolved stream to the JetStream API configuration, every field explicit. */
export function toJetStreamConfig(def: StreamDefinition): JetStreamStreamConfig {
  const config: JetStreamStreamConfig = {
    name: def.name,
    subjects: [...def.subjects],
    retention: def.retention,
    storage: def.storage,
    num_replicas: def.replicas,
    max_consumers: def.maxConsumers,
    max_msgs: def.maxMsgs,
    max_bytes: def.maxBytes,
    max_age: def.maxAgeMs * NANOSECONDS_PER_MS,
    max_msg_size: def.maxMsgSize,
    max_msgs_per_subject: def.maxMsgsPerSubject,
    discard: def.discard,
    discard_new_per_subject: def.discardNewPerSubject,
    duplicate_window: def.duplicateWindowMs * NANOSECONDS_PER_MS,
    deny_delete: def.denyDelete,
    deny_purge: def.denyPurge,
    allow_rollup_hdrs: def.allowRollup,
    allow_direct: def.allowDirect,
    mirror_direct: def.mirrorDirect,
    sealed: def.sealed,
    no_ack: def.noAck,
  };
  if (def.description !== undefined) config.description = def.description;
  if (def.compression !== undefined) config.compression = def.compression;
  if (def.firstSequence !== undefined) config.first_seq = def.firstSequence;
  if (def.metadata !== undefined) config.metadata = sortKeys(def.metadata);
  const { inactiveThresholdMs, maxAckPending } = def.consumerLimits;
  if (inactiveThresholdMs > 0 || maxAckPending > 0) {
    config.consumer_limits = {};
    if (inactiveThresholdMs > 0) config.consumer_limits.inactive_threshold = inactiveThresholdMs * NANOSECONDS_PER_MS;
    if (maxAckPending > 0) config.consumer_limits.max_ack_pending = maxAckPending;
  }
  // Written only when on, so a stream that uses neither keeps the configuration older servers take.
  if (def.allowMsgTtl) config.allow_msg_ttl = true;
  if (def.subjectDeleteMarkerTtlMs > 0) config.subject_delete_marker_ttl = def.subjectDeleteMarkerTtlMs * NANOSECONDS_PER_MS;
  if (def.allowMsgCounter) config.allow_msg_counter = true;
  if (def.allowAtomic) config.allow_atomic = true;
  if (def.allowMsgSchedules) config.allow_msg_schedules = true;
  if (def.persistMode === PersistMode.ASYNC) config.persist_mode = def.persistMode;
  if (def.allowBatched) config.allow_batched = true;
  if (def.subjectTransform) config.subject_transform = { ...def.subjectTransform };
  if (def.republish) config.republish = { ...def.republish };
  if (def.placement) config.placement = { ...def.placement };
  if (def.mirror) config.mirror = def.mirror;
  if (def.sources.length > 0) config.sources = [...def.sources];
  return config;
}

function sortKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Reads a size or duration prop, or its fallback; an unreadable one adds a problem and gives the fallback. */
export function readUnit<T>(problems: Problem[], field: string, input: T | undefined, fallback: number, parse: (v: T) => number): number {
  if (input === undefined) return fallback;
  try {
    return parse(input);
  } catch (error) {
    problems.push({ field, value: showValue(input), rule: unitRule(error) });
    return fallback;
  }
}
