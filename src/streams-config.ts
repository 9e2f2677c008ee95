import { createHash } from 'crypto';
import { documentConfig, documentConsumerConfig } from './apply/definitions';
import type { ConsumerDefinition } from './consumer-options';
import type { PreviousManifests } from './previous-manifests';
import { Problem } from './problems';
import { StreamDefinition, toJetStreamConfig } from './stream-definition';
import { formatBytes } from './units';

/**
 * One ConfigMap's share of a store's streams document: a complete document of its own, holding
 * the streams from its first one up to the next part's.
 */
export interface StreamsPart {
  /** `''` for the first part (ConfigMap `<store>-streams`), else a hash of its first stream's name. */
  readonly suffix: string;
  /** Names of its streams, sorted. */
  readonly streams: readonly string[];
  /** The document text, `streams.json` of its ConfigMap. */
  readonly text: string;
}

/**
 * Most bytes of definitions in one ConfigMap. kubectl's client-side apply copies the object, JSON
 * escaped, into an annotation, and the API server allows 256 KiB for all of an object's annotations.
 */
export const MAX_PART_BYTES = 96 * 1024;
/** A part ends only once it holds this much, so a small store has one ConfigMap. */
const MIN_PART_BYTES = 48 * 1024;
/** One stream in 16, by a hash of its name, may start a part. */
const BOUNDARY_ONE_IN = 16;

/**
 * Renders a store's streams document, split into parts of at most {@link MAX_PART_BYTES}. Pure.
 *
 * Streams are sorted by name and written one field a line, with durations and sizes in units people
 * read (`"max_age": "72h"`), so a one-field change is a one-line diff. Where a part ends depends only
 * on the names around it (a part ends before a stream whose name hashes to a boundary, once the part
 * is large enough), so adding or removing a stream changes its own part, not every part after it.
 */
export function renderStreamsParts(
  store: string, version: string, generation: number, definitions: readonly StreamDefinition[],
  consumers: ReadonlyMap<string, readonly ConsumerDefinition[]> = new Map(),
): StreamsPart[] {
  const entries = [...definitions]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((d) => ({ name: d.name, text: renderEntry(d, consumers.get(d.name) ?? []) }));
  const groups: Array<typeof entries> = [[]];
  let bytes = 0;
  for (const entry of entries) {
    const current = groups[groups.length - 1];
    const entryBytes = Buffer.byteLength(entry.text) + 2;
    if (current.length > 0 && ((bytes >= MIN_PART_BYTES && isBoundary(entry.name)) || bytes + entryBytes > MAX_PART_BYTES)) {
      groups.push([]);
      bytes = 0;
    }
    groups[groups.length - 1].push(entry);
    bytes += entryBytes;
  }
  const header = `{\n  "store": ${JSON.stringify(store)},\n  "version": ${JSON.stringify(version)},\n  "generation": ${generation},\n  "streams": [`;
  return groups.map((group, i) => ({
    suffix: i === 0 ? '' : nameHash(group[0].name).slice(0, 10),
    streams: group.map((e) => e.name),
    text: group.length === 0 ? `${header}]\n}\n` : `${header}\n${group.map((e) => e.text).join(',\n')}\n  ]\n}\n`,
  }));
}

/** The parts with another generation in their header. */
export function withGeneration(parts: readonly StreamsPart[], generation: number): StreamsPart[] {
  // The header's generation line comes before any stream's text.
  return parts.map((part) => ({ ...part, text: part.text.replace(/\n {2}"generation": \d+,\n/, `\n  "generation": ${generation},\n`) }));
}

/** The key of each definitions ConfigMap holding its part of the streams document. */
export const PART_KEY = 'streams.json';

/**
 * What a synthesis knows of a store's earlier definitions: the objects the previous one wrote, and
 * the output one commit older, as text and (parsed on demand) as objects.
 */
export type EarlierDefinitions = Pick<PreviousManifests, 'objects' | 'earlierTexts' | 'earlierObjects'>;

/**
 * The generation of a store's definitions (see `apply/generation.ts`): the previous synthesis's
 * when the definitions are the same and the output one commit older did not number them higher,
 * else one past the highest number seen (so a revert of the output itself counts on); 0 for a
 * store new to its namespace. Only the store's own namespace counts (none is `default`, as kubectl
 * shows it): a store of the same name elsewhere is another store. Pure.
 *
 * @param parts the new definitions, rendered with any generation (it is not compared)
 */
export function nextGeneration(earlier: EarlierDefinitions, store: string, namespace: string | undefined, parts: readonly StreamsPart[]): number {
  const inNamespace = namespace ?? 'default';
  const before = previousDocument(earlier.objects, store, inNamespace);
  let highest = before?.generation ?? -1;
  // The older text is parsed only when it names this store with a higher number, in some namespace.
  if (earlierGenerations(earlier.earlierTexts, store).some((generation) => generation > highest)) {
    highest = Math.max(highest, ...storeDocuments(earlier.earlierObjects(), store, inNamespace).map(generationOf));
  }
  if (highest < 0) return 0;
  const same = before !== undefined && before.generation === highest && documentContent(parts.map((p) => JSON.parse(p.text))) === before.content;
  return same ? highest : highest + 1;
}

/** The generations written for `store` in unparsed output, as the document header writes them. */
function earlierGenerations(texts: readonly string[], store: string): number[] {
  const header = new RegExp(`"store": ${escapeRegExp(JSON.stringify(store))},\\s*"version": "[^"]*",\\s*"generation": (\\d+)`, 'g');
  return texts.flatMap((text) => [...text.matchAll(header)].map((match) => Number(match[1])));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function generationOf(document: any): number {
  return Number.isInteger(document.generation) ? document.generation : 0;
}

/** The definitions documents of `store` in `namespace` among `objects` (an object without a namespace is in `default`, as kubectl shows it). */
function storeDocuments(objects: readonly any[], store: string, namespace: string): any[] {
  return objects
    .filter((o) => o?.kind === 'ConfigMap' && typeof o.data?.[PART_KEY] === 'string' && (o.metadata?.namespace ?? 'default') === namespace
      && typeof o.metadata?.name === 'string' && o.metadata.name.startsWith(`${store}-streams`))
    .flatMap((o) => {
      try {
        return [JSON.parse(o.data[PART_KEY])];
      } catch {
        // Not a document of ours: not the store's definitions.
        return [];
      }
    })
    .filter((d) => d?.store === store && Array.isArray(d.streams));
}

/** The store's previous definitions in its namespace: their generation, and their content as {@link documentContent} compares it. */
function previousDocument(objects: readonly any[], store: string, namespace: string): { generation: number; content: string } | undefined {
  const documents = storeDocuments(objects, store, namespace);
  if (documents.length === 0) return undefined;
  return { generation: Math.max(...documents.map(generationOf)), content: documentContent(documents) };
}

/** What makes two documents the same definitions: the release and every stream, in name order; not the generation. */
function documentContent(documents: readonly any[]): string {
  const streams = documents.flatMap((d) => d.streams).sort((a, b) => (a.config?.name < b.config?.name ? -1 : a.config?.name > b.config?.name ? 1 : 0));
  return JSON.stringify({ version: documents[0]?.version, streams });
}

/** A stream whose definition alone is larger than a part may be: no ConfigMap of ours can apply it. */
export function streamsPartProblems(parts: readonly StreamsPart[]): Problem[] {
  return parts.filter((p) => p.streams.length === 1 && Buffer.byteLength(p.text) > MAX_PART_BYTES).map((p) => ({
    field: 'streams',
    value: JSON.stringify(p.streams[0]),
    rule: `renders ${formatBytes(Buffer.byteLength(p.text))} of definition, more than the ${formatBytes(MAX_PART_BYTES)} one ConfigMap `
      + 'of definitions may hold (kubectl apply keeps a copy of each object in an annotation of at most 256KiB)',
  }));
}

function renderEntry(d: StreamDefinition, consumers: readonly ConsumerDefinition[]): string {
  const sorted = [...consumers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return '    ' + prettyJson({
    retentionPolicy: d.retentionPolicy,
    // Written only when set, so the usual stream stays short.
    ...(d.allowDataLoss ? { allowDataLoss: true } : {}),
    ...(d.adopt ? { adopt: true } : {}),
    ...(d.sealed ? { allowSeal: true } : {}),
    config: documentConfig(toJetStreamConfig(d)),
    ...(sorted.length > 0 ? {
      consumers: sorted.map((c) => ({ retentionPolicy: c.retentionPolicy, ...(c.adopt ? { adopt: true } : {}), config: documentConsumerConfig(c.config) })),
    } : {}),
  }, '    ');
}

/**
 * JSON with one property a line, as a reviewer reads it: objects spread over lines, lists of plain
 * values on one line (`["orders.>", "refunds.>"]`). The first line carries no indent, the others `indent`.
 */
export function prettyJson(value: unknown, indent = ''): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.every((item) => item === null || typeof item !== 'object')) return `[${value.map((item) => JSON.stringify(item)).join(', ')}]`;
    return `[\n${value.map((item) => inner + prettyJson(item, inner)).join(',\n')}\n${indent}]`;
  }
  const lines: string[] = [];
  for (const key of Object.keys(value)) {
    const field = (value as Record<string, unknown>)[key];
    if (field !== undefined) lines.push(`${inner}${JSON.stringify(key)}: ${prettyJson(field, inner)}`);
  }
  return lines.length === 0 ? '{}' : `{\n${lines.join(',\n')}\n${indent}}`;
}

function nameHash(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

function isBoundary(name: string): boolean {
  return parseInt(nameHash(name).slice(0, 4), 16) % BOUNDARY_ONE_IN === 0;
}
