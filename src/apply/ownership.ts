import { createHash } from 'crypto';
import { ErrorCode, KV, NatsConnection, NatsError } from 'nats';
import { DeclaredStream } from './definitions';
import { DefinitionsVersion } from './generation';
import { isWrongLastSequence } from './lock';
import { LOCK_BUCKET, MESSAGE_OVERHEAD_BYTES, OWNERSHIP_BUCKET } from './names';
import { JetStreamConnection, describeNatsError, readServerStreams, sleep } from './nats-io';
import { ManagedEntry, consumerKey, consumerOfKey } from './managed';
import { Plan, ServerStream } from './plan';
import type { ItemResult } from './report';

/** The buckets' own streams: never planned, never touched. */
export const OWNERSHIP_STREAM = `KV_${OWNERSHIP_BUCKET}`;
export const LOCK_STREAM = `KV_${LOCK_BUCKET}`;

/**
 * The streams on the server but the ownership and lock buckets', which are never planned or
 * listed, and whether the ownership bucket exists (the store's record can only be read then).
 */
export async function readStoreStreams(connection: JetStreamConnection): Promise<{ streams: Map<string, ServerStream>; bucketExists: boolean }> {
  const streams = await readServerStreams(connection);
  streams.delete(LOCK_STREAM);
  return { streams, bucketExists: streams.delete(OWNERSHIP_STREAM) };
}

/** Streams a store manages, by name. */
export type Ownership = ReadonlyMap<string, ManagedEntry>;

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
  /** The keys of the pieces of a record too large for one message; none when it fits the store's key. */
  readonly pieces?: RecordPieces;
}

/** Where the pieces of a large record are: keys `<store>.<epoch>.0` to `<store>.<epoch>.<count - 1>`. */
export interface RecordPieces {
  readonly epoch: string;
  readonly count: number;
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
export function intendedOwnership(plan: Plan, declared: readonly DeclaredStream[], managed: Ownership): Map<string, ManagedEntry> {
  const declaredPolicy = new Map(declared.flatMap((d) => [
    [d.config.name, d.retentionPolicy] as const,
    ...d.consumers.map((c) => [consumerKey(d.config.name, c.config.durable_name), c.retentionPolicy] as const),
  ]));
  // Only declared streams and consumers get create, update and unchanged items; refused ones may have left the app.
  const asDeclared = (name: string): ManagedEntry => ({ retentionPolicy: declaredPolicy.get(name) as ManagedEntry['retentionPolicy'] });
  const intended = new Map<string, ManagedEntry>();
  for (const item of plan.items) {
    const previous = managed.get(item.name);
    switch (item.action) {
      case 'create':
      case 'update':
      case 'unchanged':
        intended.set(item.name, asDeclared(item.name));
        break;
      case 'refused':
        // A refused stream or consumer stays ours if it was, with its declared policy (its previous one when it left the app); a refusal never creates or adopts one.
        if (previous) intended.set(item.name, declaredPolicy.has(item.name) ? asDeclared(item.name) : previous);
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
export function ownershipAfterWrites(intended: Ownership, results: readonly ItemResult[]): Map<string, ManagedEntry> {
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
 * The record's JSON value, names sorted, consumers (`<stream>/<consumer>`) apart and only when there are some:
 * `{"generation":3,"digest":"9f…","streams":{"ORDERS":{"retentionPolicy":"Retain"}},"consumers":{"ORDERS/audit":{…}}}`.
 */
export function encodeOwnership({ managed, applied }: OwnershipContent): string {
  const names = [...managed.keys()].sort();
  const entries = (consumers: boolean) => Object.fromEntries(names.filter((name) => (consumerOfKey(name) !== undefined) === consumers)
    .map((name) => [name, { retentionPolicy: managed.get(name)?.retentionPolicy }]));
  const consumers = entries(true);
  return JSON.stringify({
    generation: applied.generation,
    ...(applied.digest !== undefined ? { digest: applied.digest } : {}),
    streams: entries(false),
    ...(Object.keys(consumers).length > 0 ? { consumers } : {}),
  });
}

/**
 * Reads a record's JSON value; a value this program did not write is an error, never an empty
 * record, since that would turn every managed stream foreign.
 *
 * @param where names the record in the error message
 */
export function decodeOwnership(text: string, where: string): OwnershipContent {
  let record: { streams?: unknown; consumers?: unknown; generation?: unknown; digest?: unknown } | null;
  try {
    record = JSON.parse(text);
  } catch (error) {
    throw new Error(`${where} is not JSON: ${(error as Error).message}`);
  }
  const { streams, consumers = {}, generation = 0, digest } = record ?? {};
  // Records written before generations have neither: generation 0.
  if (typeof generation !== 'number' || !Number.isInteger(generation) || generation < 0) {
    throw new Error(`${where} has generation ${JSON.stringify(generation)}; expected a whole number`);
  }
  if (digest !== undefined && typeof digest !== 'string') throw new Error(`${where} has digest ${JSON.stringify(digest)}; expected a string`);
  if (streams === null || typeof streams !== 'object' || Array.isArray(streams)) {
    throw new Error(`${where} has no "streams" object: ${JSON.stringify(text.slice(0, 200))}`);
  }
  if (consumers === null || typeof consumers !== 'object' || Array.isArray(consumers)) {
    throw new Error(`${where} has "consumers" ${JSON.stringify(consumers)}; expected an object`);
  }
  const managed = new Map<string, ManagedEntry>();
  for (const [what, entries] of [['stream', streams], ['consumer', consumers]] as const) {
    for (const [name, entry] of Object.entries(entries)) {
      const policy = (entry as { retentionPolicy?: unknown } | null)?.retentionPolicy;
      if (policy !== 'Retain' && policy !== 'Delete') {
        throw new Error(`${where}: ${what} "${name}" has retentionPolicy ${JSON.stringify(policy)}; expected "Retain" or "Delete"`);
      }
      managed.set(name, { retentionPolicy: policy });
    }
  }
  return { managed, applied: { generation, digest } };
}

/**
 * The record as it is stored: its JSON in the store's key when that fits one message of
 * `maxBytes`, else in pieces of at most `maxBytes` under keys named after the record's content
 * (see {@link RecordPieces}), and in the store's key only where they are. Pure.
 */
export function storedRecord(text: string, maxBytes: number): { head: string; pieces?: RecordPieces; values: Uint8Array[] } {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return { head: text, values: [] };
  const values: Uint8Array[] = [];
  for (let start = 0; start < bytes.length; start += maxBytes) values.push(bytes.subarray(start, start + maxBytes));
  const pieces = { epoch: createHash('sha256').update(bytes).digest('hex').slice(0, 12), count: values.length };
  return { head: JSON.stringify({ pieces }), pieces, values };
}

function pieceKey(store: string, pieces: RecordPieces, i: number): string {
  return `${store}.${pieces.epoch}.${i}`;
}

/** The pieces a head names, or undefined for a head that holds the record itself. */
function headPieces(head: string): RecordPieces | undefined {
  try {
    const pieces = (JSON.parse(head) as { pieces?: Partial<RecordPieces> } | null)?.pieces;
    return pieces && typeof pieces.epoch === 'string' && /^[0-9a-f]+$/.test(pieces.epoch) && Number.isInteger(pieces.count)
      ? { epoch: pieces.epoch, count: pieces.count as number } : undefined;
  } catch {
    // Not JSON: decodeOwnership says so.
    return undefined;
  }
}

/**
 * Reads a store's ownership record. Binds to the bucket without creating it, so a dry run
 * writes nothing; `bucketExists` comes from the stream list the caller already read.
 */
export async function readOwnership(nc: NatsConnection, store: string, bucketExists: boolean): Promise<OwnershipRecord> {
  if (!bucketExists) return { ...NO_RECORD, revision: 0 };
  let entry;
  let kv: KV;
  try {
    // Direct gets, by subject: the Job's user may read its own store's keys only (the bucket allows them).
    kv = await nc.jetstream().views.kv(OWNERSHIP_BUCKET, { bindOnly: true, allow_direct: true });
    entry = await kv.get(store);
  } catch (error) {
    throw new Error(`cannot read ${recordName(store)}: ${describeNatsError(error)}`);
  }
  if (!entry) return { ...NO_RECORD, revision: 0 };
  // A deleted key keeps a revision: the next write must name it.
  if (entry.operation !== 'PUT') return { ...NO_RECORD, revision: entry.revision };
  const pieces = headPieces(entry.string());
  const text = pieces ? await readPieces(kv, store, pieces) : entry.string();
  return { ...decodeOwnership(text, recordName(store)), revision: entry.revision, pieces };
}

async function readPieces(kv: KV, store: string, pieces: RecordPieces): Promise<string> {
  const values: Uint8Array[] = [];
  for (let i = 0; i < pieces.count; i++) {
    const piece = await kv.get(pieceKey(store, pieces, i)).catch((error) => {
      throw new Error(`cannot read ${recordName(store)}: ${describeNatsError(error)}`);
    });
    if (!piece || piece.operation !== 'PUT') throw new Error(`${recordName(store)} lacks its piece ${pieceKey(store, pieces, i)}`);
    values.push(piece.value);
  }
  // Joined as bytes: a piece may end inside a character.
  return Buffer.concat(values).toString('utf8');
}

/**
 * Writes a store's ownership record if its key is still at the revision `previous` was read at
 * (absent when 0), creating the bucket with `replicas` when it does not exist. Another run that
 * wrote in between makes this fail instead of being overwritten. A record larger than one message
 * of the server's `max_payload` is written in pieces first, then the key naming them, so a run
 * killed in between leaves the record as it was; the previous pieces are removed after.
 *
 * @returns the record as written, with its new revision
 */
export async function writeOwnership(
  nc: NatsConnection, store: string, content: OwnershipContent, previous: Pick<OwnershipRecord, 'revision' | 'pieces'>, replicas: number,
  warn: (line: string) => void = () => undefined,
): Promise<OwnershipRecord> {
  const maxBytes = (nc.info?.max_payload ?? 1024 * 1024) - MESSAGE_OVERHEAD_BYTES;
  if (maxBytes < 1) throw new Error(`cannot write ${recordName(store)}: the server's max_payload ${nc.info?.max_payload} leaves no room for a value`);
  const { head, pieces, values } = storedRecord(encodeOwnership(content), maxBytes);
  let kv: KV | undefined;
  try {
    kv = await nc.jetstream().views.kv(OWNERSHIP_BUCKET, { replicas, history: 1 });
    const bucket = kv;
    for (const [i, value] of values.entries()) await onceLed(() => bucket.put(pieceKey(store, pieces as RecordPieces, i), value));
    const written = await onceLed(() => (previous.revision === 0 ? bucket.create(store, head) : bucket.update(store, head, previous.revision)));
    if (previous.pieces && previous.pieces.epoch !== pieces?.epoch) await purgePieces(kv, store, previous.pieces, warn);
    return { ...content, revision: written, pieces };
  } catch (error) {
    // A write whose answer was lost and sent again finds its own first write (the same value, so
    // nothing is overwritten): that is success. Revisions count every key of the bucket.
    const current = kv && isWrongLastSequence(error) ? await kv.get(store).catch(() => null) : null;
    if (current?.operation === 'PUT' && current.string() === head) return { ...content, revision: current.revision, pieces };
    if (isWrongLastSequence(error)) {
      throw new Error(`${recordName(store)} was changed by another run since this one read it (revision ${previous.revision}); `
        + 'two applies for one store ran at once: run again');
    }
    throw new Error(`cannot write ${recordName(store)}: ${describeNatsError(error)}`);
  }
}

/** How long a write waits for a bucket just created in a cluster to elect its stream's leader. */
const LEADER_WAIT_MS = 10_000;

/**
 * `write`, tried again while nothing answers it: a bucket just created in a cluster takes its
 * writes once its stream has a leader. A write nobody answered was not made, so trying again is safe.
 */
async function onceLed<T>(write: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LEADER_WAIT_MS;
  // Bounded by the deadline: every pass writes, pauses or throws.
  for (let pause = 100; ; pause = Math.min(pause * 2, 1_000)) {
    try {
      return await write();
    } catch (error) {
      if ((error as NatsError).code !== ErrorCode.NoResponders || Date.now() + pause > deadline) throw error;
      await sleep(pause);
    }
  }
}

/** Removes the pieces of a record no key names any more; one left behind only takes space, so a failure is a warning. */
async function purgePieces(kv: KV, store: string, pieces: RecordPieces, warn: (line: string) => void): Promise<void> {
  for (let i = 0; i < pieces.count; i++) {
    const key = pieceKey(store, pieces, i);
    await kv.purge(key).catch((error) => warn(`warning: cannot remove ${key}, a piece of an earlier ${recordName(store)}: ${describeNatsError(error)}`));
  }
}

function recordName(store: string): string {
  return `ownership record "${store}" in bucket ${OWNERSHIP_BUCKET}`;
}
