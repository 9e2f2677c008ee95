import { NatsConnection } from 'nats';
import { DeclaredStream } from './definitions';
import { DefinitionsVersion } from './generation';
import { isWrongLastSequence } from './lock';
import { LOCK_BUCKET, OWNERSHIP_BUCKET } from './names';
import { describeNatsError } from './nats-io';
import { ManagedStream, Plan } from './plan';
import type { ItemResult } from './report';

/** The buckets' own streams: never planned, never touched. */
export const OWNERSHIP_STREAM = `KV_${OWNERSHIP_BUCKET}`;
export const LOCK_STREAM = `KV_${LOCK_BUCKET}`;

/** Streams a store manages, by name. */
export type Ownership = ReadonlyMap<string, ManagedStream>;

/** What a store's ownership record holds: the streams it manages, and the definitions last applied. */
export interface OwnershipContent {
  readonly managed: Ownership;
  /** Generation 0 without a digest for a store never applied (or applied before generations). */
  readonly applied: DefinitionsVersion;
}

/** A store's ownership record as read from the bucket, with the revision an update must name. */
export interface OwnershipRecord extends OwnershipContent {
  /** The key's last revision; 0 when the store has no record yet. */
  readonly revision: number;
}

/** The record of a store the program never applied. */
const NO_RECORD: OwnershipContent = { managed: new Map(), applied: { generation: 0 } };

/**
 * The record to write before any stream is created: what the store manages once this plan is
 * applied, deletions aside. Recording it first means a run killed halfway leaves streams the next
 * run recognises as its own. Declared streams that are ours (created, managed or adopted) take
 * their declared retention policy; managed streams that left the app keep theirs until deleted;
 * a managed stream absent from both the app and the server has no plan item and is dropped.
 */
export function intendedOwnership(plan: Plan, declared: readonly DeclaredStream[], managed: Ownership): Map<string, ManagedStream> {
  const declaredPolicy = new Map(declared.map((d) => [d.config.name, d.retentionPolicy]));
  // Only declared streams get create, update, unchanged and refused items.
  const asDeclared = (name: string): ManagedStream => ({ retentionPolicy: declaredPolicy.get(name) as ManagedStream['retentionPolicy'] });
  const intended = new Map<string, ManagedStream>();
  for (const item of plan.items) {
    const previous = managed.get(item.name);
    switch (item.action) {
      case 'create':
      case 'update':
      case 'unchanged':
        intended.set(item.name, asDeclared(item.name));
        break;
      case 'refused':
        // A refused stream stays ours if it was; a refusal never creates or adopts one.
        if (previous) intended.set(item.name, asDeclared(item.name));
        break;
      case 'delete':
      case 'orphaned':
        if (previous) intended.set(item.name, previous);
        break;
      case 'foreign':
        break;
    }
  }
  return intended;
}

/**
 * The record once the writes are done: the intended one without the streams deleted and without
 * the creates the server refused, since a stream by that name that appears later is not ours. A
 * create whose outcome is unknown (the connection was lost) stays recorded: it may have happened.
 */
export function ownershipAfterWrites(intended: Ownership, results: readonly ItemResult[]): Map<string, ManagedStream> {
  const after = new Map(intended);
  for (const { item, error, rejected } of results) {
    const deleted = item.action === 'delete' && error === undefined;
    const neverCreated = item.action === 'create' && rejected === true;
    if (deleted || neverCreated) after.delete(item.name);
  }
  return after;
}

/** True when both records hold the same: the same applied definitions, and the same streams with the same policies. */
export function sameRecord(a: OwnershipContent, b: OwnershipContent): boolean {
  return a.applied.generation === b.applied.generation && a.applied.digest === b.applied.digest && sameOwnership(a.managed, b.managed);
}

/** True when both records manage the same streams with the same retention policies. */
export function sameOwnership(a: Ownership, b: Ownership): boolean {
  if (a.size !== b.size) return false;
  for (const [name, stream] of a) {
    if (b.get(name)?.retentionPolicy !== stream.retentionPolicy) return false;
  }
  return true;
}

/** Says what changes between two records, for a dry run: `2 added, 1 removed, 1 policy changed, generation 2 -> 3`. */
export function describeOwnershipChange(before: OwnershipContent, after: OwnershipContent): string {
  const [from, to] = [before.managed, after.managed];
  const counts = [
    [[...to.keys()].filter((name) => !from.has(name)).length, 'added'],
    [[...from.keys()].filter((name) => !to.has(name)).length, 'removed'],
    [[...to].filter(([name, s]) => from.has(name) && from.get(name)?.retentionPolicy !== s.retentionPolicy).length, 'policy changed'],
  ] as const;
  const changes = counts.filter(([count]) => count > 0).map(([count, what]) => `${count} ${what}`);
  const [was, will] = [before.applied, after.applied];
  if (was.generation !== will.generation) changes.push(`generation ${was.generation} -> ${will.generation}`);
  else if (was.digest !== will.digest) changes.push(`digest ${(was.digest ?? '(none)').slice(0, 12)} -> ${(will.digest ?? '(none)').slice(0, 12)}`);
  return changes.join(', ');
}

/**
 * The record's JSON value, names sorted:
 * `{"generation":3,"digest":"9f…","streams":{"ORDERS":{"retentionPolicy":"Retain"}}}`.
 */
export function encodeOwnership({ managed, applied }: OwnershipContent): string {
  const names = [...managed.keys()].sort();
  return JSON.stringify({
    generation: applied.generation,
    ...(applied.digest !== undefined ? { digest: applied.digest } : {}),
    streams: Object.fromEntries(names.map((name) => [name, { retentionPolicy: managed.get(name)?.retentionPolicy }])),
  });
}

/**
 * Reads a record's JSON value; a value this program did not write is an error, never an empty
 * record, since that would turn every managed stream foreign.
 *
 * @param where names the record in the error message
 */
export function decodeOwnership(text: string, where: string): OwnershipContent {
  let record: { streams?: unknown; generation?: unknown; digest?: unknown } | null;
  try {
    record = JSON.parse(text);
  } catch (error) {
    throw new Error(`${where} is not JSON: ${(error as Error).message}`);
  }
  const { streams, generation = 0, digest } = record ?? {};
  // Records written before generations have neither: generation 0.
  if (typeof generation !== 'number' || !Number.isInteger(generation) || generation < 0) {
    throw new Error(`${where} has generation ${JSON.stringify(generation)}; expected a whole number`);
  }
  if (digest !== undefined && typeof digest !== 'string') throw new Error(`${where} has digest ${JSON.stringify(digest)}; expected a string`);
  if (streams === null || typeof streams !== 'object' || Array.isArray(streams)) {
    throw new Error(`${where} has no "streams" object: ${JSON.stringify(text.slice(0, 200))}`);
  }
  const managed = new Map<string, ManagedStream>();
  for (const [name, stream] of Object.entries(streams)) {
    const policy = (stream as { retentionPolicy?: unknown } | null)?.retentionPolicy;
    if (policy !== 'Retain' && policy !== 'Delete') {
      throw new Error(`${where}: stream "${name}" has retentionPolicy ${JSON.stringify(policy)}; expected "Retain" or "Delete"`);
    }
    managed.set(name, { retentionPolicy: policy });
  }
  return { managed, applied: { generation, digest } };
}

/**
 * Reads a store's ownership record. Binds to the bucket without creating it, so a dry run
 * writes nothing; `bucketExists` comes from the stream list the caller already read.
 */
export async function readOwnership(nc: NatsConnection, store: string, bucketExists: boolean): Promise<OwnershipRecord> {
  if (!bucketExists) return { ...NO_RECORD, revision: 0 };
  let entry;
  try {
    const kv = await nc.jetstream().views.kv(OWNERSHIP_BUCKET, { bindOnly: true });
    entry = await kv.get(store);
  } catch (error) {
    throw new Error(`cannot read ${recordName(store)}: ${describeNatsError(error)}`);
  }
  if (!entry) return { ...NO_RECORD, revision: 0 };
  // A deleted key keeps a revision: the next write must name it.
  if (entry.operation !== 'PUT') return { ...NO_RECORD, revision: entry.revision };
  return { ...decodeOwnership(entry.string(), recordName(store)), revision: entry.revision };
}

/**
 * Writes a store's ownership record if the key is still at `revision` (absent when 0), creating
 * the bucket with `replicas` when it does not exist. Another run that wrote in between makes
 * this fail instead of being overwritten.
 *
 * @returns the record as written, with its new revision
 */
export async function writeOwnership(
  nc: NatsConnection, store: string, content: OwnershipContent, revision: number, replicas: number,
): Promise<OwnershipRecord> {
  try {
    const kv = await nc.jetstream().views.kv(OWNERSHIP_BUCKET, { replicas, history: 1 });
    const value = encodeOwnership(content);
    const written = revision === 0 ? await kv.create(store, value) : await kv.update(store, value, revision);
    return { ...content, revision: written };
  } catch (error) {
    if (isWrongLastSequence(error)) {
      throw new Error(`${recordName(store)} was changed by another run since this one read it (revision ${revision}); `
        + 'two applies for one store ran at once: run again');
    }
    throw new Error(`cannot write ${recordName(store)}: ${describeNatsError(error)}`);
  }
}

function recordName(store: string): string {
  return `ownership record "${store}" in bucket ${OWNERSHIP_BUCKET}`;
}
