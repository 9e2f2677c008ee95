import { createHash } from 'crypto';
import { Problem, formatProblem, schemaProblems, showValue } from '../problems';
import { CONSUMER_DURATION_FIELDS, JetStreamConsumerConfig } from '../consumer-options';
import { DURATION_FIELDS, JetStreamStreamConfig } from '../stream-definition';
import { streamNameProblem } from '../subjects';
import { NANOSECONDS_PER_MS, UnitError, formatBytes, formatDuration, parseDuration, parseSize } from '../units';
import { validateDocument } from './document-validator';

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
  /** The durable consumers declared on the stream, applied after it. */
  readonly consumers: readonly DeclaredConsumer[];
}

/** One durable consumer as the synth declared it. */
export interface DeclaredConsumer {
  /** The full JetStream API configuration to send, durations in nanoseconds. */
  readonly config: JetStreamConsumerConfig;
  /** What happens to the consumer once it leaves the app; recorded with the ownership. */
  readonly retentionPolicy: 'Retain' | 'Delete';
  /** Take over a consumer that already exists on the stream and was not created by this store. */
  readonly adopt: boolean;
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


interface RawStream {
  retentionPolicy: 'Retain' | 'Delete';
  allowDataLoss?: boolean;
  adopt?: boolean;
  allowSeal?: boolean;
  config: Record<string, unknown>;
  consumers?: Array<{ retentionPolicy: 'Retain' | 'Delete'; adopt?: boolean; config: Record<string, unknown> }>;
}

/** Configuration fields holding a size: bytes on the API (-1 unlimited), a size with a unit in the document. */
const SIZE_FIELDS: readonly string[] = ['max_bytes', 'max_msg_size'];
/** A consumer's size field: the most bytes a pull request may ask for. */
const CONSUMER_SIZE_FIELDS: readonly string[] = ['max_bytes'];

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
  return writtenInUnits(config, DURATION_FIELDS, SIZE_FIELDS);
}

/** A consumer's configuration as the streams document writes it, in the units of {@link documentConfig}. */
export function documentConsumerConfig(config: JetStreamConsumerConfig): Record<string, unknown> {
  return writtenInUnits(config, CONSUMER_DURATION_FIELDS, CONSUMER_SIZE_FIELDS);
}

function writtenInUnits(config: object, durations: readonly string[], sizes: readonly string[]): Record<string, unknown> {
  const written: Record<string, unknown> = { ...config };
  for (const field of durations) {
    // 0 is JetStream's "unlimited", not a zero-second age: it stays the number.
    rewriteField(written, field, (ns) => (typeof ns === 'number' && ns > 0 && ns % NANOSECONDS_PER_MS === 0 ? formatDuration(ns / NANOSECONDS_PER_MS) : ns));
  }
  for (const field of sizes) {
    rewriteField(written, field, (bytes) => (typeof bytes === 'number' && bytes >= 0 ? formatBytes(bytes) : bytes));
  }
  return written;
}

/**
 * Replaces the value at `path` (`field` or `field.inner`), or each value of a list there, copying
 * the inner object or list it changes; an absent value stays absent.
 */
function rewriteField(config: Record<string, unknown>, path: string, rewrite: (value: unknown) => unknown): void {
  const [field, inner] = path.split('.');
  if (inner === undefined) {
    const value = config[field];
    if (Array.isArray(value)) config[field] = value.map(rewrite);
    else if (value !== undefined) config[field] = rewrite(value);
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
    config: apiConfig(s.config, `streams[${i}].config`, problems) as unknown as JetStreamStreamConfig,
    retentionPolicy: s.retentionPolicy,
    allowDataLoss: s.allowDataLoss ?? false,
    adopt: s.adopt ?? false,
    allowSeal: s.allowSeal ?? false,
    consumers: (s.consumers ?? []).map((c, j) => ({
      config: apiConfig(c.config, `streams[${i}].consumers[${j}].config`, problems, CONSUMER_DURATION_FIELDS, CONSUMER_SIZE_FIELDS) as unknown as JetStreamConsumerConfig,
      retentionPolicy: c.retentionPolicy,
      adopt: c.adopt ?? false,
    })),
  }));
  return problems.length > 0
    ? { problems: problems.map(formatProblem) }
    : { document: { store: raw.store, version: raw.version, generation: raw.generation ?? 0, streams }, problems: [] };
}

/** The configuration as the JetStream API takes it: written durations and sizes back in nanoseconds and bytes. */
function apiConfig(
  written: Record<string, unknown>, base: string, problems: Problem[], durations = DURATION_FIELDS, sizes = SIZE_FIELDS,
): Record<string, unknown> {
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
  convert(durations, (text) => parseDuration(text) * NANOSECONDS_PER_MS);
  convert(sizes, parseSize);
  return config;
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
  const entries = streams as Array<{ config?: { name?: unknown }; consumers?: unknown } | null>;
  return [
    ...namedOnceProblems(entries.map((stream) => stream?.config?.name), (i) => `streams[${i}].config.name`, (i) => `streams[${i}]`),
    ...entries.flatMap((stream, i) => (Array.isArray(stream?.consumers)
      ? namedOnceProblems(
        stream.consumers.map((consumer: { config?: { durable_name?: unknown } } | null) => consumer?.config?.durable_name),
        (j) => `streams[${i}].consumers[${j}].config.durable_name`, (j) => `consumers[${j}] of the stream`,
      )
      : [])),
  ];
}

/** Each string name as strict as the server's, and none given twice; `field` names each, `declaredBy` the first of a repeated one. */
function namedOnceProblems(names: readonly unknown[], field: (i: number) => string, declaredBy: (i: number) => string): Problem[] {
  const problems: Problem[] = [];
  const firstIndex = new Map<string, number>();
  names.forEach((name, i) => {
    if (typeof name !== 'string') return;
    const invalid = streamNameProblem(name);
    const first = firstIndex.get(name);
    if (invalid) problems.push({ field: field(i), value: showValue(name), rule: invalid });
    else if (first !== undefined) problems.push({ field: field(i), value: showValue(name), rule: `is already declared by ${declaredBy(first)}` });
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
