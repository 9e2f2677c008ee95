import { NatsConnection } from 'nats';
import { DeclaredStream } from './definitions';
import { OWNERSHIP_BUCKET } from './names';
import { describeNatsError } from './nats-io';
import { ManagedStream, Plan } from './plan';
import type { ItemResult } from './report';

/** The bucket's own stream: never planned, never touched. */
export const OWNERSHIP_STREAM = `KV_${OWNERSHIP_BUCKET}`;

/** The JetStream error of a publish whose expected last sequence no longer holds. */
const WRONG_LAST_SEQUENCE = 10071;

/** Streams a store manages, by name. */
export type Ownership = ReadonlyMap<string, ManagedStream>;

/** A store's ownership record as read from the bucket, with the revision an update must name. */
export interface OwnershipRecord {
  readonly managed: Ownership;
  /** The key's last revision; 0 when the store has no record yet. */
  readonly revision: number;
}

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

/** True when both records manage the same streams with the same retention policies. */
export function sameOwnership(a: Ownership, b: Ownership): boolean {
  if (a.size !== b.size) return false;
  for (const [name, stream] of a) {
    if (b.get(name)?.retentionPolicy !== stream.retentionPolicy) return false;
  }
  return true;
}

/** Says what changes between two records, for a dry run: `2 added, 1 removed, 1 policy changed`. */
export function describeOwnershipChange(before: Ownership, after: Ownership): string {
  const counts = [
    [[...after.keys()].filter((name) => !before.has(name)).length, 'added'],
    [[...before.keys()].filter((name) => !after.has(name)).length, 'removed'],
    [[...after].filter(([name, s]) => before.has(name) && before.get(name)?.retentionPolicy !== s.retentionPolicy).length, 'policy changed'],
  ] as const;
  return counts.filter(([count]) => count > 0).map(([count, what]) => `${count} ${what}`).join(', ');
}

/** The record's JSON value, names sorted: `{"streams":{"ORDERS":{"retentionPolicy":"Retain"}}}`. */
export function encodeOwnership(managed: Ownership): string {
  const names = [...managed.keys()].sort();
  return JSON.stringify({ streams: Object.fromEntries(names.map((name) => [name, { retentionPolicy: managed.get(name)?.retentionPolicy }])) });
}

/**
 * Reads a record's JSON value; a value this program did not write is an error, never an empty
 * record, since that would turn every managed stream foreign.
 *
 * @param where names the record in the error message
 */
export function decodeOwnership(text: string, where: string): Map<string, ManagedStream> {
  let streams: unknown;
  try {
    streams = (JSON.parse(text) as { streams?: unknown } | null)?.streams;
  } catch (error) {
    throw new Error(`${where} is not JSON: ${(error as Error).message}`);
  }
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
  return managed;
}

/**
 * Reads a store's ownership record. Binds to the bucket without creating it, so a dry run
 * writes nothing; `bucketExists` comes from the stream list the caller already read.
 */
export async function readOwnership(nc: NatsConnection, store: string, bucketExists: boolean): Promise<OwnershipRecord> {
  if (!bucketExists) return { managed: new Map(), revision: 0 };
  let entry;
  try {
    const kv = await nc.jetstream().views.kv(OWNERSHIP_BUCKET, { bindOnly: true });
    entry = await kv.get(store);
  } catch (error) {
    throw new Error(`cannot read ${recordName(store)}: ${describeNatsError(error)}`);
  }
  if (!entry) return { managed: new Map(), revision: 0 };
  // A deleted key keeps a revision: the next write must name it.
  if (entry.operation !== 'PUT') return { managed: new Map(), revision: entry.revision };
  return { managed: decodeOwnership(entry.string(), recordName(store)), revision: entry.revision };
}

/**
 * Writes a store's ownership record if the key is still at `revision` (absent when 0), creating
 * the bucket with `replicas` when it does not exist. Another run that wrote in between makes
 * this fail instead of being overwritten.
 *
 * @returns the record as written, with its new revision
 */
export async function writeOwnership(
  nc: NatsConnection, store: string, managed: Ownership, revision: number, replicas: number,
): Promise<OwnershipRecord> {
  try {
    const kv = await nc.jetstream().views.kv(OWNERSHIP_BUCKET, { replicas, history: 1 });
    const value = encodeOwnership(managed);
    const written = revision === 0 ? await kv.create(store, value) : await kv.update(store, value, revision);
    return { managed, revision: written };
  } catch (error) {
    if ((error as { api_error?: { err_code?: number } }).api_error?.err_code === WRONG_LAST_SEQUENCE) {
      throw new Error(`${recordName(store)} was changed by another run since this one read it (revision ${revision}); `
        + 'two applies for one store ran at once: run again');
    }
    throw new Error(`cannot write ${recordName(store)}: ${describeNatsError(error)}`);
  }
}

function recordName(store: string): string {
  return `ownership record "${store}" in bucket ${OWNERSHIP_BUCKET}`;
}
