import * as fs from 'fs';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { parseAllDocuments } from 'yaml';
import { Problem, compileSchema, schemaProblems, showValue } from './problems';
import { Stream } from './stream';
import { StreamLimitOptions, StreamRetentionPolicy } from './stream-definition';
import { StreamStore, StreamStoreLimits, StreamStoreProps, StreamStoreStorage, VolumeRetention } from './stream-store';
import { parseDuration, parseSize } from './units';

/** The API group of Tawon's custom resources. */
export const TAWON_API_GROUP = 'tawon.mantisnet.com';
/** The only Tawon API version the loader reads. */
export const TAWON_API_VERSION = `${TAWON_API_GROUP}/v1alpha1`;

/** What `loadTawonManifests` created, in creation order. */
export interface TawonLoadResult {
  /** One store per StreamStore document, in document order. */
  readonly stores: StreamStore[];
  /** The streams of the Stream documents, then those of the Directives' `spec.streams`, in document order. */
  readonly streams: Stream[];
}

// Tawon's names for the limits: counts and bytes are integers (-1 is unlimited, as in JetStream) or,
// for bytes, quantity strings; durations are Go duration strings, because a bare number has no unit.
const count = { type: 'integer', minimum: -1 };
const bytes = { type: ['integer', 'string'], minimum: -1 };
const duration = { type: 'string' };
const nonEmpty = { type: 'string', minLength: 1 };
const retention = { enum: ['Delete', 'Retain'] };
/** Kubernetes' rule for object names (a DNS subdomain); it also keeps "/" out of construct ids. */
const OBJECT_NAME_PATTERN = '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$';
const OBJECT_NAME_RULE = 'must be a Kubernetes object name: lower-case letters, digits, "-" and ".", starting and ending with a letter or digit';
// Only the name is read; labels, annotations and namespace belong to Kubernetes and are allowed.
const metadata = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 253, pattern: OBJECT_NAME_PATTERN } },
};

// Strict (additionalProperties: false) wherever the loader reads fields, so a typo such as `maxbyte`
// is an error instead of a silently dropped limit; permissive where Tawon owns fields we ignore.
const STREAM_STORE_SCHEMA = {
  type: 'object',
  required: ['metadata'],
  properties: {
    metadata,
    spec: {
      type: 'object',
      additionalProperties: false,
      properties: {
        volumeClaimTemplate: {
          type: 'object',
          additionalProperties: false,
          properties: {
            // Not translated: the store names its claim `data` and labels it with the store's labels.
            metadata: { type: 'object' },
            spec: {
              type: 'object',
              additionalProperties: false,
              properties: {
                accessModes: { type: 'array', minItems: 1, items: { enum: Object.values(kplus.PersistentVolumeAccessMode) } },
                storageClassName: { type: 'string' },
                resources: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    requests: {
                      type: 'object',
                      additionalProperties: false,
                      properties: { storage: { type: ['integer', 'string'], minimum: 1 } },
                    },
                  },
                },
              },
            },
          },
        },
        persistentVolumeClaimRetentionPolicy: {
          type: 'object',
          additionalProperties: false,
          properties: { whenDeleted: retention, whenScaled: retention },
        },
        defaults: {
          type: 'object',
          additionalProperties: false,
          properties: { maxsize: count, maxage: duration, maxbytes: bytes },
        },
        limits: {
          type: 'object',
          additionalProperties: false,
          properties: { max: count, maxage: duration, maxbytes: bytes },
        },
      },
    },
  },
};

/** The limits a Stream's spec and a Directive's streams entry both set. */
const STREAM_LIMITS = { maxmsgs: count, maxage: duration, maxbytes: bytes };

const STREAM_SCHEMA = {
  type: 'object',
  required: ['metadata', 'spec'],
  properties: {
    metadata,
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['store'],
      properties: {
        store: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: nonEmpty } },
        ...STREAM_LIMITS,
      },
    },
  },
};

const DIRECTIVE_SCHEMA = {
  type: 'object',
  required: ['metadata', 'spec'],
  properties: {
    metadata,
    spec: {
      // condition and tasks are Tawon's own: only the streams are read.
      type: 'object',
      properties: {
        streams: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'store'],
            properties: {
              name: nonEmpty,
              store: nonEmpty,
              ...STREAM_LIMITS,
              retentionPolicy: retention,
            },
          },
        },
      },
    },
  },
};

/** The Tawon kinds the loader reads, with their schemas. */
const KINDS = {
  StreamStore: compileSchema(STREAM_STORE_SCHEMA),
  Stream: compileSchema(STREAM_SCHEMA),
  Directive: compileSchema(DIRECTIVE_SCHEMA),
} as const;
type TawonKind = keyof typeof KINDS;

type Retention = 'Delete' | 'Retain';
interface TawonLimits { maxage?: string; maxbytes?: number | string }
interface TawonStreamStore {
  metadata: { name: string };
  spec?: {
    volumeClaimTemplate?: {
      spec?: {
        accessModes?: kplus.PersistentVolumeAccessMode[];
        storageClassName?: string;
        resources?: { requests?: { storage?: number | string } };
      };
    };
    persistentVolumeClaimRetentionPolicy?: { whenDeleted?: Retention; whenScaled?: Retention };
    defaults?: TawonLimits & { maxsize?: number };
    limits?: TawonLimits & { max?: number };
  };
}
interface TawonStreamLimits extends TawonLimits { maxmsgs?: number }
interface TawonStream { metadata: { name: string }; spec: TawonStreamLimits & { store: { name: string } } }
interface TawonDirectiveStream extends TawonStreamLimits { name: string; store: string; retentionPolicy?: Retention }
interface TawonDirective { metadata: { name: string }; spec: { streams?: TawonDirectiveStream[] } }

/** A Tawon document whose shape and units are valid. */
type ValidDocument =
  | { kind: 'StreamStore'; body: TawonStreamStore }
  | { kind: 'Stream'; body: TawonStream }
  | { kind: 'Directive'; body: TawonDirective };

/** A stream to declare: from a Stream document or a Directive's streams entry. */
interface PlannedStream {
  readonly storeName: string;
  readonly name: string;
  readonly limits: TawonStreamLimits;
  readonly retentionPolicy?: Retention;
  readonly directive?: string;
}

/**
 * Declares the stores and streams of Tawon manifests (`tawon.mantisnet.com/v1alpha1`) in `scope`.
 *
 * Reads every YAML document of every source: `StreamStore` becomes a `StreamStore` (construct id
 * `metadata.name`), `Stream` and each entry of a `Directive`'s `spec.streams` become a `Stream` on
 * the store they name (construct id: the stream name). Tawon's field names are translated:
 * `defaults.maxsize` and `limits.max` are the store's default and maximum message counts.
 * A Directive's streams default to `retentionPolicy: Retain`, as in Tawon, and their description
 * names the Directive. `volumeClaimTemplate.metadata` is accepted but not translated: the store
 * names its claim `data` and labels it like its other objects.
 *
 * As in Tawon, a Directive entry naming a stream already declared on the same store (by a Stream
 * document or an earlier Directive) publishes to that stream: the entry's limits are ignored.
 * Two Stream documents of one name on one store are reported by the store's own validation.
 *
 * Documents of other API groups (plain Kubernetes objects in the same file) are ignored; a
 * `tawon.mantisnet.com` document of another kind or version is an error, as are documents
 * without an apiVersion (a misspelled Tawon document must not vanish), unknown fields
 * in the parts read, malformed sizes and durations, YAML syntax errors and streams naming a
 * store that none of the documents defines.
 *
 * All documents are checked before anything is created. When any is invalid, nothing is
 * declared and every problem of every document is a validation error of `scope`, one line each
 * (`Tawon manifest streams.yaml#2 (Stream mystream): spec.maxbytes "1Gx" is invalid: ...`), so the
 * app's synth reports them with all its other errors. Rules between streams and their store
 * (limits exceeded, duplicate stream names, capacity) are the constructs' own.
 *
 * @param scope where the stores are created
 * @param sources YAML texts; `name` (usually the file name) identifies them in messages
 * @returns the stores and streams declared; none when any document is invalid
 */
export function loadTawonManifests(scope: Construct, sources: Array<{ name: string; text: string }>): TawonLoadResult {
  // Problems stay grouped by document, in file and document order, for a readable report.
  const checked: CheckedDocument[] = [];
  for (const source of sources) {
    parseAllDocuments(source.text).forEach((document, index) => {
      const where = `${source.name}#${index + 1}`;
      if (document.errors.length > 0) {
        // One problem per position: the parser often reports a mistake several ways at one spot.
        const problems = document.errors
          .filter((error, i) => document.errors.findIndex((other) => other.pos[0] === error.pos[0]) === i)
          .map(yamlErrorText);
        checked.push({ label: where, problems, storeRefs: [] });
        return;
      }
      const value: unknown = document.toJS();
      if (value === null || value === undefined) return;
      const result = checkDocument(where, value);
      if (result !== undefined) checked.push(result);
    });
  }

  // Every StreamStore document with a name counts, valid or not, so one typo in a store does
  // not also make each of its streams report an unknown store.
  const storeNames = new Map<string, string>();
  for (const document of checked) {
    if (document.kind !== 'StreamStore' || typeof document.name !== 'string') continue;
    const first = storeNames.get(document.name);
    if (first !== undefined) {
      document.problems.push(`metadata.name "${document.name}" is already the name of the StreamStore ${first}`);
      continue;
    }
    storeNames.set(document.name, document.label);
    // Checked here so that a clash cannot throw halfway through creating the stores.
    if (scope.node.tryFindChild(document.name) !== undefined) {
      document.problems.push(`metadata.name "${document.name}" is already the id of a construct in ${scope.node.path || 'the app'}`);
    }
  }
  const loaded = [...storeNames.keys()].map((name) => JSON.stringify(name)).join(', ') || 'none';
  for (const document of checked) {
    for (const ref of document.storeRefs) {
      if (!storeNames.has(ref.name)) {
        document.problems.push(`${ref.field}: unknown store ${JSON.stringify(ref.name)}; loaded stores: ${loaded}`);
      }
    }
  }
  const problems = checked.flatMap((document) => document.problems.map((problem) => `${document.label}: ${problem}`));
  if (problems.length > 0) {
    scope.node.addValidation({ validate: () => problems.map((problem) => `Tawon manifest ${problem}`) });
    return { stores: [], streams: [] };
  }

  const documents = checked.map((document) => document.valid!);
  const planned = planStreams(documents);
  const stores = new Map<string, StreamStore>();
  for (const document of documents) {
    if (document.kind === 'StreamStore') {
      const name = document.body.metadata.name;
      stores.set(name, new StreamStore(scope, name, storeProps(document.body)));
    }
  }
  const streams = planned.map((stream) => {
    const store = stores.get(stream.storeName)!;
    // The name is passed explicitly: the id differs from it when it is taken (two streams of one
    // name, which the store reports, or a name such as "Config" that the store itself uses).
    return store.addStream(freeId(store, stream.name), compact({
      name: stream.name,
      ...streamLimits(stream.limits),
      retentionPolicy: stream.retentionPolicy as StreamRetentionPolicy | undefined,
      description: stream.directive !== undefined ? `Owned by Tawon Directive ${stream.directive}` : undefined,
    }));
  });
  return { stores: [...stores.values()], streams };
}

/**
 * Reads Tawon manifest files and declares their stores and streams in `scope`, like
 * `loadTawonManifests`. The files are read in sorted order, so the result does not depend
 * on the order of `paths`; each path, as given, names its file in messages.
 *
 * @throws the file system's error when a file cannot be read
 */
export function loadTawonManifestFiles(scope: Construct, paths: string[]): TawonLoadResult {
  const sorted = [...paths].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return loadTawonManifests(scope, sorted.map((file) => ({ name: file, text: fs.readFileSync(file, 'utf8') })));
}

/** One document's label, problems and the store names it refers to; `valid` when it has no problem of its own. */
interface CheckedDocument {
  readonly label: string;
  readonly kind?: TawonKind;
  readonly name?: unknown;
  readonly problems: string[];
  readonly storeRefs: Array<{ field: string; name: string }>;
  readonly valid?: ValidDocument;
}

/** Checks one document; undefined when it is not a Tawon object and is ignored. */
function checkDocument(where: string, value: unknown): CheckedDocument | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const found = Array.isArray(value) ? 'a sequence' : `the scalar ${showValue(value)}`;
    return { label: where, problems: [`must be a mapping (a Kubernetes object), found ${found}`], storeRefs: [] };
  }
  const object = value as Record<string, unknown>;
  const { apiVersion, kind } = object;
  const name = asRecord(object.metadata)?.name;
  const label = `${where} (${[typeof kind === 'string' ? kind : '<no kind>', typeof name === 'string' ? name : undefined]
    .filter((part) => part !== undefined).join(' ')})`;
  const fail = (problem: string): CheckedDocument => ({ label, problems: [problem], storeRefs: [] });
  // A document without a string apiVersion cannot be told apart from a misspelled Tawon one.
  if (typeof apiVersion !== 'string') {
    return fail(apiVersion === undefined ? 'apiVersion is missing' : `apiVersion ${showValue(apiVersion)} must be a string`);
  }
  if (!apiVersion.startsWith(`${TAWON_API_GROUP}/`)) return undefined;
  if (apiVersion !== TAWON_API_VERSION) {
    return fail(`apiVersion "${apiVersion}" is not supported; the loader reads ${TAWON_API_VERSION}`);
  }
  if (typeof kind !== 'string' || !Object.prototype.hasOwnProperty.call(KINDS, kind)) {
    const known = Object.keys(KINDS).map((k) => JSON.stringify(k)).join(', ');
    return fail(`kind ${showValue(kind)} is not a Tawon kind the loader reads; known kinds: ${known}`);
  }
  const tawonKind = kind as TawonKind;
  const problems = [...schemaProblems(KINDS[tawonKind], value).map(readable), ...unitProblems(tawonKind, object)].map(formatLine);
  return {
    label,
    kind: tawonKind,
    name,
    problems,
    storeRefs: storeRefs(tawonKind, object),
    valid: problems.length === 0 ? { kind: tawonKind, body: value } as ValidDocument : undefined,
  };
}

/** The store names a document refers to, read leniently so they are checked even when the document has other problems. */
function storeRefs(kind: TawonKind, object: Record<string, unknown>): Array<{ field: string; name: string }> {
  const spec = asRecord(object.spec);
  const refs: Array<{ field: string; name: string }> = [];
  if (kind === 'Stream') {
    const name = asRecord(spec?.store)?.name;
    if (typeof name === 'string') refs.push({ field: 'spec.store.name', name });
  } else if (kind === 'Directive' && Array.isArray(spec?.streams)) {
    spec.streams.forEach((entry, i) => {
      const name = asRecord(entry)?.store;
      if (typeof name === 'string') refs.push({ field: `spec.streams[${i}].store`, name });
    });
  }
  return refs;
}

/** ajv reports a missing property on its parent, with the whole parent as value: name the property instead. */
function readable(problem: Problem): Problem {
  const missing = /^must have required property '(.+)'$/.exec(problem.rule);
  if (missing) {
    const parent = problem.field === '(document)' ? '' : problem.field;
    return { field: parent ? `${parent}.${missing[1]}` : missing[1], value: '', rule: 'is required' };
  }
  if (problem.rule === `must match pattern "${OBJECT_NAME_PATTERN}"`) return { ...problem, rule: OBJECT_NAME_RULE };
  if (problem.rule === 'must be integer,string') {
    return { ...problem, rule: 'must be an integer or a quantity string such as "1G" or "10Gi"' };
  }
  if (problem.rule === 'must be string' && /(^|\.)maxage$/.test(problem.field)) {
    return { ...problem, rule: 'must be a duration string such as "6h" or "240h"' };
  }
  return problem;
}

function formatLine(problem: Problem): string {
  return problem.value === '' ? `${problem.field} ${problem.rule}` : `${problem.field} ${problem.value} ${problem.rule}`;
}

/** Sizes and durations the schema accepts as strings but that do not parse; non-strings are the schema's. */
function unitProblems(kind: TawonKind, object: Record<string, unknown>): Problem[] {
  const spec = asRecord(object.spec);
  const limitPaths: Array<[string, Record<string, unknown> | undefined]> = [];
  const extra: Array<[string, unknown]> = [];
  if (kind === 'StreamStore') {
    limitPaths.push(['spec.defaults', asRecord(spec?.defaults)], ['spec.limits', asRecord(spec?.limits)]);
    const claim = asRecord(asRecord(spec?.volumeClaimTemplate)?.spec);
    extra.push(['spec.volumeClaimTemplate.spec.resources.requests.storage', asRecord(asRecord(claim?.resources)?.requests)?.storage]);
  } else if (kind === 'Stream') {
    limitPaths.push(['spec', spec]);
  } else if (Array.isArray(spec?.streams)) {
    spec.streams.forEach((entry, i) => limitPaths.push([`spec.streams[${i}]`, asRecord(entry)]));
  }
  const problems: Problem[] = [];
  const check = (field: string, input: unknown, parse: (text: string) => number) => {
    if (typeof input !== 'string') return;
    try {
      parse(input);
    } catch (error) {
      // The parser's message repeats the value; the line already shows it.
      problems.push({ field, value: showValue(input), rule: `is invalid: ${(error as Error).message.replace(/^invalid (size|duration) "[^"]*": /, '')}` });
    }
  };
  for (const [field, input] of extra) check(field, input, parseSize);
  for (const [base, limits] of limitPaths) {
    check(`${base}.maxbytes`, limits?.maxbytes, parseSize);
    check(`${base}.maxage`, limits?.maxage, parseDuration);
  }
  return problems;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined;
}

/**
 * The streams to declare: those of Stream documents first, then the Directives' that are not
 * declared yet, each in document order.
 */
function planStreams(documents: ValidDocument[]): PlannedStream[] {
  const fromStreams: PlannedStream[] = [];
  const fromDirectives: PlannedStream[] = [];
  const declared = new Set<string>();
  const key = (storeName: string, name: string) => JSON.stringify([storeName, name]);
  for (const document of documents) {
    if (document.kind !== 'Stream') continue;
    const { store, ...limits } = document.body.spec;
    fromStreams.push({ storeName: store.name, name: document.body.metadata.name, limits });
    declared.add(key(store.name, document.body.metadata.name));
  }
  for (const document of documents) {
    if (document.kind !== 'Directive') continue;
    for (const entry of document.body.spec.streams ?? []) {
      const { name, store, retentionPolicy, ...limits } = entry;
      if (declared.has(key(store, name))) continue;
      declared.add(key(store, name));
      fromDirectives.push({
        storeName: store,
        name,
        limits,
        // Tawon keeps a Directive's stream when the Directive is deleted unless told otherwise.
        retentionPolicy: retentionPolicy ?? 'Retain',
        directive: document.body.metadata.name,
      });
    }
  }
  return [...fromStreams, ...fromDirectives];
}

function storeProps(store: TawonStreamStore): StreamStoreProps {
  const spec = store.spec ?? {};
  const claim = spec.volumeClaimTemplate?.spec;
  const policy = spec.persistentVolumeClaimRetentionPolicy;
  const storage: StreamStoreStorage = compact({
    size: claim?.resources?.requests?.storage,
    storageClassName: claim?.storageClassName,
    accessModes: claim?.accessModes,
    retention: policy === undefined ? undefined : compact({
      whenDeleted: policy.whenDeleted as VolumeRetention | undefined,
      whenScaled: policy.whenScaled as VolumeRetention | undefined,
    }),
  });
  return compact({
    name: store.metadata.name,
    storage: Object.keys(storage).length > 0 ? storage : undefined,
    defaults: spec.defaults === undefined ? undefined : compact({
      maxMsgs: spec.defaults.maxsize,
      maxAge: spec.defaults.maxage,
      maxBytes: spec.defaults.maxbytes,
    }),
    limits: spec.limits === undefined ? undefined : compact<StreamStoreLimits>({
      maxMsgs: spec.limits.max,
      maxAge: spec.limits.maxage,
      maxBytes: spec.limits.maxbytes,
    }),
  });
}

function streamLimits(limits: TawonStreamLimits): StreamLimitOptions {
  return compact({ maxMsgs: limits.maxmsgs, maxAge: limits.maxage, maxBytes: limits.maxbytes });
}

/** An id under `store` that is not taken, starting with `name` itself. */
function freeId(store: Construct, name: string): string {
  let id = name;
  // Whitespace cannot be in a stream name, so a suffixed id never hides a real stream's id.
  for (let n = 2; store.node.tryFindChild(id) !== undefined; n++) id = `${name} (${n})`;
  return id;
}

/** Drops undefined values, so props hold only what the manifests set. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function yamlErrorText(error: { message: string; linePos?: ReadonlyArray<{ line: number; col: number }> }): string {
  // yaml appends "at line L, column C:" and a snippet of the source; keep one line per problem.
  const message = error.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '').trim();
  const position = error.linePos?.[0];
  return position ? `YAML syntax error at line ${position.line}, column ${position.col}: ${message}` : `YAML syntax error: ${message}`;
}
