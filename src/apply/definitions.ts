import { Problem, compileSchema, formatProblem, schemaProblems, showValue } from '../problems';
import {
  Compression, DiscardPolicy, JetStreamStreamConfig, Retention, StorageType, StreamRetentionPolicy,
} from '../stream-definition';
import { streamNameProblem } from '../subjects';

/** One stream as the synth declared it, with the apply program's per-stream switches resolved. */
export interface DeclaredStream {
  /** The full JetStream API configuration to send, durations in nanoseconds. */
  readonly config: JetStreamStreamConfig;
  /** What happens to the stream once it leaves the app; recorded with the ownership. */
  readonly retentionPolicy: 'Retain' | 'Delete';
  /** Allow changes that discard stored messages, such as a limit lowered below the stream's content. */
  readonly allowDataLoss: boolean;
  /** Take over a stream that already exists on the server and was not created by this store. */
  readonly adopt: boolean;
}

/** The streams document (`streams.json`) a store's synth writes for its apply Job. */
export interface StreamsDocument {
  /** Name of the store the streams belong to. */
  readonly store: string;
  /** NATS server release the store was synthesized for, such as "2.10.24". */
  readonly version: string;
  /** Every stream of the store, in the document's order. */
  readonly streams: DeclaredStream[];
}

const count = { type: 'integer', minimum: -1 };
const nanoseconds = { type: 'integer', minimum: 0 };
const flag = { type: 'boolean' };
const enumOf = (values: object) => ({ enum: Object.values(values) });

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
  // A newer synth may write fields this program does not know; they are sent and diffed as they are.
  additionalProperties: true,
  properties: {
    name: { type: 'string' },
    subjects: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
    description: { type: 'string' },
    retention: enumOf(Retention),
    storage: enumOf(StorageType),
    num_replicas: { type: 'integer', minimum: 1, maximum: 5 },
    max_consumers: count,
    max_msgs: count,
    max_bytes: count,
    max_age: nanoseconds,
    max_msg_size: count,
    max_msgs_per_subject: count,
    discard: enumOf(DiscardPolicy),
    discard_new_per_subject: flag,
    duplicate_window: nanoseconds,
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
  },
};

/** JSON Schema of the streams document; stream entries are closed so a misspelt switch is an error. */
const DOCUMENT_SCHEMA = {
  type: 'object',
  required: ['store', 'version', 'streams'],
  additionalProperties: false,
  properties: {
    store: { type: 'string', minLength: 1 },
    version: { type: 'string', pattern: '^\\d+\\.\\d+\\.\\d+$' },
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
          config: CONFIG_SCHEMA,
        },
      },
    },
  },
};

const validateDocument = compileSchema(DOCUMENT_SCHEMA);

interface RawStream {
  retentionPolicy: 'Retain' | 'Delete';
  allowDataLoss?: boolean;
  adopt?: boolean;
  config: JetStreamStreamConfig;
}

/**
 * Reads and checks a streams document. Every problem is collected and reported in one
 * error, each line naming the field's JSON path, so one run shows everything to fix.
 *
 * @param text the document's JSON text
 * @param source where the text came from (a file path), for the error message
 * @throws Error `invalid streams document <source>:` followed by one line per problem
 */
export function parseStreamsDocument(text: string, source: string): StreamsDocument {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw documentError(source, [`(document) is not JSON: ${(error as Error).message}`]);
  }
  const problems = [...schemaProblems(validateDocument, data).map(requiredAsField), ...nameProblems(data)];
  if (problems.length > 0) throw documentError(source, problems.map(formatProblem));

  const raw = data as { store: string; version: string; streams: RawStream[] };
  return {
    store: raw.store,
    version: raw.version,
    streams: raw.streams.map((s) => ({
      config: s.config,
      retentionPolicy: s.retentionPolicy,
      allowDataLoss: s.allowDataLoss ?? false,
      adopt: s.adopt ?? false,
    })),
  };
}

/** ajv reports a missing property on its parent object; name the property itself instead of dumping the parent. */
function requiredAsField(problem: Problem): Problem {
  const missing = /^must have required property '(.+)'$/.exec(problem.rule);
  if (!missing) return problem;
  const parent = problem.field === '(document)' ? '' : `${problem.field}.`;
  return { field: `${parent}${missing[1]}`, value: '(unset)', rule: 'is required' };
}

/**
 * Names become API subject tokens, so they are checked again here, and must be unique.
 * Runs on whatever names are strings, so a document with schema problems still reports these.
 */
function nameProblems(data: unknown): Problem[] {
  const streams = (data as { streams?: unknown } | null)?.streams;
  if (!Array.isArray(streams)) return [];
  const problems: Problem[] = [];
  const firstIndex = new Map<string, number>();
  streams.forEach((stream: { config?: { name?: unknown } } | null, i) => {
    const name = stream?.config?.name;
    if (typeof name !== 'string') return;
    const field = `streams[${i}].config.name`;
    const invalid = streamNameProblem(name);
    const first = firstIndex.get(name);
    if (invalid) problems.push({ field, value: showValue(name), rule: invalid });
    else if (first !== undefined) problems.push({ field, value: showValue(name), rule: `is already declared by streams[${first}]` });
    else firstIndex.set(name, i);
  });
  return problems;
}

function documentError(source: string, lines: string[]): Error {
  return new Error(`invalid streams document ${source}:\n${lines.map((line) => `  ${line}`).join('\n')}`);
}
