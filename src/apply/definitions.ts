import { createHash } from 'crypto';
import { Problem, compileSchema, formatProblem, schemaProblems, showValue } from '../problems';
import {
  Compression, DURATION_FIELDS, DiscardPolicy, JetStreamStreamConfig, PersistMode, Retention, StorageType, StreamRetentionPolicy,
} from '../stream-definition';
import { streamNameProblem } from '../subjects';
import { NANOSECONDS_PER_MS, UnitError, formatBytes, formatDuration, parseDuration, parseSize } from '../units';

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
  /** Seal the stream when its configuration says `sealed`: JetStream cannot unseal it. */
  readonly allowSeal: boolean;
}

/** The streams document (`streams.json`) a store's synth writes for its apply Job. */
export interface StreamsDocument {
  /** Name of the store the streams belong to. */
  readonly store: string;
  /** NATS server release the store was synthesized for, such as "2.10.24". */
  readonly version: string;
  /** Which synthesis of the store's definitions this is (see `generation.ts`); 0 when unnumbered or unset. */
  readonly generation: number;
  /** Every stream of the store, in the document's order. */
  readonly streams: DeclaredStream[];
}

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

/** JSON Schema of the streams document; stream entries are closed so a misspelt switch is an error. */
const DOCUMENT_SCHEMA = {
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
  allowSeal?: boolean;
  config: Record<string, unknown>;
}

/** Configuration fields holding a size: bytes on the API (-1 unlimited), a size with a unit in the document. */
const SIZE_FIELDS: readonly string[] = ['max_bytes', 'max_msg_size'];

/** One file of a streams document: a store's definitions may be split over several. */
export interface StreamsDocumentFile {
  /** Where the text came from (a file path), for error messages. */
  readonly source: string;
  readonly text: string;
}

/**
 * The configuration as the streams document writes it, for people to read in a review: durations
 * as Go durations (`"72h"`) and sizes with a unit (`"5GiB"`), unlimited as JetStream writes it (-1,
 * or 0 for an age); {@link parseStreamsDocuments} reads it back exactly.
 */
export function documentConfig(config: JetStreamStreamConfig): Record<string, unknown> {
  const written: Record<string, unknown> = { ...config };
  for (const field of DURATION_FIELDS) {
    // 0 is JetStream's "unlimited", not a zero-second age: it stays the number.
    rewriteField(written, field, (ns) => (typeof ns === 'number' && ns > 0 && ns % NANOSECONDS_PER_MS === 0 ? formatDuration(ns / NANOSECONDS_PER_MS) : ns));
  }
  for (const field of SIZE_FIELDS) {
    rewriteField(written, field, (bytes) => (typeof bytes === 'number' && bytes >= 0 ? formatBytes(bytes) : bytes));
  }
  return written;
}

/** Replaces the value at `path` (`field` or `field.inner`), copying the inner object it changes; an absent value stays absent. */
function rewriteField(config: Record<string, unknown>, path: string, rewrite: (value: unknown) => unknown): void {
  const [field, inner] = path.split('.');
  if (inner === undefined) {
    if (config[field] !== undefined) config[field] = rewrite(config[field]);
    return;
  }
  const nested = config[field];
  if (nested === null || typeof nested !== 'object' || (nested as Record<string, unknown>)[inner] === undefined) return;
  config[field] = { ...nested, [inner]: rewrite((nested as Record<string, unknown>)[inner]) };
}

/**
 * A digest of a store's definitions files, in the order given (the Job gives them sorted by file
 * name). The Job carries the digest of what it was made for, so a run never applies other files.
 */
export function streamsDigest(texts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const text of texts) hash.update(text).update('\0');
  return hash.digest('hex');
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
  return parseStreamsDocuments([{ source, text }]);
}

/**
 * Reads the files of one store's streams document and joins them: each file is a document of
 * its own, all of the same store and version, and a stream name appears once in all of them.
 *
 * @throws Error `invalid streams document <sources>:` followed by one line per problem, each naming its file when there are several
 */
export function parseStreamsDocuments(files: readonly StreamsDocumentFile[]): StreamsDocument {
  if (files.length === 0) throw new Error('no streams document: the definitions directory holds no .json file');
  const several = files.length > 1;
  const lines: string[] = [];
  const documents: StreamsDocument[] = [];
  for (const file of files) {
    const { document, problems } = readDocumentFile(file.text);
    lines.push(...problems.map((p) => (several ? `${file.source}: ${p}` : p)));
    if (document) documents.push(document);
  }
  const sources = files.map((f) => f.source).join(', ');
  if (lines.length > 0) throw documentError(sources, lines);
  const [first] = documents;
  documents.forEach((document, i) => {
    if (document.store !== first.store || document.version !== first.version || document.generation !== first.generation) {
      lines.push(`${files[i].source}: store ${JSON.stringify(document.store)} version ${document.version} generation ${document.generation} `
        + `is not the store ${JSON.stringify(first.store)} version ${first.version} generation ${first.generation} of ${files[0].source}`);
    }
  });
  const streams = documents.flatMap((d) => d.streams);
  const seen = new Set<string>();
  for (const stream of streams) {
    if (seen.has(stream.config.name)) lines.push(`stream ${JSON.stringify(stream.config.name)} is declared in more than one file`);
    seen.add(stream.config.name);
  }
  if (lines.length > 0) throw documentError(sources, lines);
  return { store: first.store, version: first.version, generation: first.generation, streams };
}

/** One file's document, or its problems as lines. */
function readDocumentFile(text: string): { document?: StreamsDocument; problems: string[] } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { problems: [`(document) is not JSON: ${(error as Error).message}`] };
  }
  const problems = [...schemaProblems(validateDocument, data).map(requiredAsField), ...nameProblems(data), ...subjectsProblems(data)];
  if (problems.length > 0) return { problems: problems.map(formatProblem) };
  const raw = data as { store: string; version: string; generation?: number; streams: RawStream[] };
  const streams = raw.streams.map((s, i) => ({
    config: apiConfig(s.config, `streams[${i}].config`, problems),
    retentionPolicy: s.retentionPolicy,
    allowDataLoss: s.allowDataLoss ?? false,
    adopt: s.adopt ?? false,
    allowSeal: s.allowSeal ?? false,
  }));
  return problems.length > 0
    ? { problems: problems.map(formatProblem) }
    : { document: { store: raw.store, version: raw.version, generation: raw.generation ?? 0, streams }, problems: [] };
}

/** The configuration as the JetStream API takes it: written durations and sizes back in nanoseconds and bytes. */
function apiConfig(written: Record<string, unknown>, base: string, problems: Problem[]): JetStreamStreamConfig {
  const config: Record<string, unknown> = { ...written };
  const convert = (fields: readonly string[], parse: (text: string) => number) => {
    for (const field of fields) {
      rewriteField(config, field, (value) => {
        if (typeof value !== 'string') return value;
        try {
          return parse(value);
        } catch (error) {
          const rule = error instanceof UnitError ? error.rule : (error as Error).message;
          problems.push({ field: `${base}.${field}`, value: showValue(value), rule });
          return value;
        }
      });
    }
  };
  convert(DURATION_FIELDS, (text) => parseDuration(text) * NANOSECONDS_PER_MS);
  convert(SIZE_FIELDS, parseSize);
  return config as unknown as JetStreamStreamConfig;
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

/** The server gives a stream with no subjects, no mirror and no sources its name as subject: another stream than declared. */
function subjectsProblems(data: unknown): Problem[] {
  const streams = (data as { streams?: unknown } | null)?.streams;
  if (!Array.isArray(streams)) return [];
  return streams.flatMap((stream: { config?: Record<string, unknown> } | null, i) => {
    const config = stream?.config;
    if (!Array.isArray(config?.subjects) || config.subjects.length > 0 || config.mirror !== undefined || config.sources !== undefined) return [];
    return [{ field: `streams[${i}].config.subjects`, value: '[]', rule: 'must list a subject unless the stream has a mirror or sources' }];
  });
}

function documentError(source: string, lines: string[]): Error {
  return new Error(`invalid streams document ${source}:\n${lines.map((line) => `  ${line}`).join('\n')}`);
}
