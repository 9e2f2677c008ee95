import { Construct } from 'constructs';
import { Problem, compileSchema, schemaProblems, showValue } from './problems';
import { TransformUse, subjectTransformProblem } from './subject-transforms';
import { checkSubject, streamNameProblem, subjectIsSubset, subjectsOverlap } from './subjects';
import { NatsServerVersion } from './versions';
import type { IStream } from './stream';

/** A subject mapping: messages on `source` are stored under `destination`. */
export interface SubjectTransform {
  /**
   * The subjects to map; wildcards allowed.
   * @default ">": every subject
   */
  readonly source?: string;
  /**
   * The subject they get: literal tokens, `$1` or `{{wildcard(1)}}` for the source's first `*`,
   * and the server's other mapping functions (`{{partition(3,1)}}`, `{{split(1,-)}}`, ...).
   * In a source's or mirror's transforms, an empty destination keeps the subject as it is.
   */
  readonly destination: string;
}

/** Options of {@link ExternalStream.of}. */
export interface ExternalStreamOptions {
  /**
   * The JetStream API prefix that reaches the stream from this store's server, such as
   * `$JS.hub.API` for JetStream domain `hub` across a leaf node connection.
   * @default - none: the stream is on this store's own server, in the same account
   */
  readonly apiPrefix?: string;
  /**
   * The subject prefix the copied messages are delivered under, when the API prefix needs one.
   * @default - none
   */
  readonly deliverPrefix?: string;
}

/**
 * A stream another stream mirrors or sources from that this app does not declare: one on the
 * store's server created by something else, or one reached through another JetStream domain.
 */
export class ExternalStream {
  /** Names a stream this app does not declare. */
  public static of(name: string, options: ExternalStreamOptions = {}): ExternalStream {
    return new ExternalStream(name, options.apiPrefix, options.deliverPrefix);
  }

  private constructor(
    /** The JetStream stream name. */
    public readonly name: string,
    /** The API prefix that reaches it, when it is in another domain or account. */
    public readonly apiPrefix?: string,
    /** The delivery subject prefix, when one is needed. */
    public readonly deliverPrefix?: string,
  ) {}
}

/** The stream a mirror or source copies from. */
export type StreamOrigin = IStream | ExternalStream;

/** A mirror or a source with its options. */
export interface StreamSourceOptions {
  /** The stream to copy from: a `Stream` of this app, or an {@link ExternalStream}. */
  readonly stream: StreamOrigin;
  /**
   * Copy only the messages of these subjects.
   * @default - every message
   */
  readonly filterSubject?: string;
  /**
   * Copy only the messages of these transforms' sources, under their destinations (NATS 2.10+);
   * not with `filterSubject`.
   * @default - every message, under its own subject
   */
  readonly subjectTransforms?: SubjectTransform[];
  /**
   * Copy through a durable push consumer of the origin's that you made beforehand (NATS 2.14+),
   * instead of an ephemeral one the server makes: what a work-queue or interest origin needs, so
   * no message is lost while the copy is away. Not with `filterSubject` (filter in the consumer).
   * @default - an ephemeral consumer the server makes and removes
   */
  readonly consumer?: SourceConsumer;
}

/** A durable push consumer on the origin stream that a mirror or source copies through. */
export interface SourceConsumer {
  /** The consumer's durable name. */
  readonly name: string;
  /** Its deliver subject: a subject without wildcards, where the copy listens. */
  readonly deliverSubject: string;
}

/** A mirror or a source: the stream alone, or with options. */
export type StreamSource = StreamOrigin | StreamSourceOptions;

/** A mirror or source as the JetStream API takes it. */
export interface JetStreamSourceConfig {
  name: string;
  filter_subject?: string;
  subject_transforms?: Array<{ src: string; dest: string }>;
  external?: { api: string; deliver: string };
  consumer?: { name: string; deliver_subject: string };
}

/** A mirror or source resolved: the API configuration, and the app's stream it copies from, if it is one. */
export interface ResolvedSource {
  readonly config: JetStreamSourceConfig;
  /** The origin when it is a `Stream` of this app; the store's rules check it. */
  readonly origin?: IStream;
}

const SOURCE_OPTIONS_SCHEMA = {
  type: 'object',
  required: ['stream'],
  additionalProperties: false,
  properties: {
    stream: { type: 'object' },
    filterSubject: { type: 'string', minLength: 1 },
    subjectTransforms: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['destination'],
        additionalProperties: false,
        properties: { source: { type: 'string' }, destination: { type: 'string' } },
      },
    },
    consumer: {
      type: 'object',
      required: ['name', 'deliverSubject'],
      additionalProperties: false,
      properties: { name: { type: 'string', minLength: 1 }, deliverSubject: { type: 'string', minLength: 1 } },
    },
  },
};

const validateSourceOptions = compileSchema(SOURCE_OPTIONS_SCHEMA);

function isStream(value: unknown): value is IStream {
  return Construct.isConstruct(value) && typeof (value as Partial<IStream>).name === 'string' && (value as Partial<IStream>).store !== undefined;
}

/**
 * Reads a mirror or source prop (`field` is `mirror` or `sources[i]`) into its API configuration,
 * or the problems that keep it from being read. Pure.
 */
export function readSource(source: StreamSource, field: string): { readonly resolved?: ResolvedSource; readonly problems: Problem[] } {
  const options: StreamSourceOptions = isStream(source) || source instanceof ExternalStream ? { stream: source } : source;
  const problems = schemaProblems(validateSourceOptions, options, field);
  const origin = options.stream;
  if (!isStream(origin) && !(origin instanceof ExternalStream)) {
    problems.push({ field: `${field}.stream`, value: showValue(origin), rule: 'must be a Stream of this app or an ExternalStream' });
  }
  if (problems.length > 0) return { problems };
  const config: JetStreamSourceConfig = { name: origin.name };
  if (options.filterSubject !== undefined) config.filter_subject = options.filterSubject;
  if (options.subjectTransforms !== undefined) {
    // The server reports both sides of each transform, so both are written.
    config.subject_transforms = options.subjectTransforms.map((t) => ({ src: t.source || '>', dest: t.destination }));
  }
  if (options.consumer !== undefined) config.consumer = { name: options.consumer.name, deliver_subject: options.consumer.deliverSubject };
  if (origin instanceof ExternalStream) {
    if (origin.apiPrefix !== undefined) config.external = { api: origin.apiPrefix, deliver: origin.deliverPrefix ?? '' };
    return { resolved: { config }, problems };
  }
  return { resolved: { config, origin }, problems };
}

/**
 * Every rule one mirror or source breaks on its own, as nats-server `version` checks it; `field`
 * is `mirror` or `sources[i]`, and `mirror` is true for a mirror (whose transforms may not collide
 * at all; a source's may not contain one another).
 */
export function sourceProblems(config: JetStreamSourceConfig, field: string, mirror: boolean, version: NatsServerVersion): Problem[] {
  const problems: Problem[] = [];
  const add = (inner: string, value: unknown, rule: string) => problems.push({ field: `${field}${inner}`, value: showValue(value), rule });
  const nameProblem = streamNameProblem(config.name);
  if (nameProblem) add('.stream', config.name, `names a stream that ${nameProblem}`);
  if (config.filter_subject !== undefined) {
    const checked = checkSubject(config.filter_subject);
    if ('problem' in checked) add('.filterSubject', config.filter_subject, checked.problem);
    if (config.subject_transforms !== undefined) add('.filterSubject', config.filter_subject, 'cannot be used with subjectTransforms');
  }
  const transforms = config.subject_transforms ?? [];
  // Older servers do not know transforms at all: fieldsNewerThan names them.
  if (transforms.length > 0 && !version.atLeast('2.10.0')) return problems;
  transforms.forEach((t, i) => {
    const problem = subjectTransformProblem(t.src, t.dest, version, TransformUse.COPY);
    if (problem) add(`.subjectTransforms[${i}]`, `${t.src} -> ${t.dest}`, problem);
  });
  for (let i = 0; i < transforms.length; i++) {
    for (let j = i + 1; j < transforms.length; j++) {
      const [a, b] = [transforms[i].src, transforms[j].src];
      if ('problem' in checkSubject(a) || 'problem' in checkSubject(b)) continue;
      const clash = mirror ? subjectsOverlap(a, b) : subjectIsSubset(a, b) || subjectIsSubset(b, a);
      if (clash) add(`.subjectTransforms[${j}]`, b, `${mirror ? 'overlaps' : 'contains or is contained in'} subjectTransforms[${i}] ${JSON.stringify(a)}`);
    }
  }
  if (config.consumer && version.atLeast('2.14.0')) {
    const { name, deliver_subject: deliverSubject } = config.consumer;
    const consumerName = streamNameProblem(name);
    if (consumerName) add('.consumer.name', name, `names a consumer that ${consumerName}`);
    const deliver = checkSubject(deliverSubject);
    if ('problem' in deliver || deliver.tokens.some((t) => t === '*' || t === '>')) add('.consumer.deliverSubject', deliverSubject, 'must be a subject without wildcards');
    if (config.filter_subject !== undefined) add('.filterSubject', config.filter_subject, 'cannot be used with consumer: the consumer filters');
  }
  if (config.external) {
    const { api, deliver } = config.external;
    const apiChecked = checkSubject(api);
    if ('problem' in apiChecked || apiChecked.tokens.some((t) => t === '*' || t === '>')) add('.stream.apiPrefix', api, 'must be a subject without wildcards');
    else if (api === '$JS.API') add('.stream.apiPrefix', api, 'is this server\'s own API: name a JetStream domain\'s, such as $JS.hub.API');
    if (deliver !== '') {
      const deliverChecked = checkSubject(deliver);
      if ('problem' in deliverChecked || deliverChecked.tokens.some((t) => t === '*' || t === '>')) add('.stream.deliverPrefix', deliver, 'must be a subject without wildcards');
    }
  }
  return problems;
}

/** The identity nats-server gives a source (name, API prefix, consumer, subjects in and out): two with the same one are duplicates. */
export function sourceIdentity(config: JetStreamSourceConfig): string {
  const all = (subject: string | undefined) => subject || '>';
  const transforms = config.subject_transforms ?? [];
  const from = transforms.length > 0 ? transforms.map((t) => all(t.src)) : [all(config.filter_subject)];
  const to = transforms.length > 0 ? transforms.map((t) => all(t.dest)) : ['>'];
  return JSON.stringify([config.name, config.external?.api ?? null, config.consumer?.name ?? null, from, to]);
}

/** The durable consumer a source copies through, as nats-server tells them apart: two sources may not share one. */
export function sourceConsumerIdentity(config: JetStreamSourceConfig): string | undefined {
  return config.consumer && JSON.stringify([config.name, config.external?.api ?? null, config.consumer.name]);
}
