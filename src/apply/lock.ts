import { KV, NatsConnection } from 'nats';
import { DefinitionsVersion } from './generation';
import { LOCK_BUCKET } from './names';
import { describeNatsError, sleep } from './nats-io';

/** The JetStream error of a write whose expected last sequence no longer holds: another run wrote first. */
const WRONG_LAST_SEQUENCE = 10071;
/** Pauses between two tries to take a lock another run holds. */
const RETRY_MS = 500;

/** What a lock's value says of the run that holds it. */
export interface LockHolder extends DefinitionsVersion {
  /** The run: its pod (host) name and process id. */
  readonly holder: string;
  /** When it took the lock, as an ISO time of its own clock: for people only. */
  readonly since: string;
}

/** A store's lock, held by this run until {@link StoreLock.release}. */
export interface StoreLock {
  /**
   * Why the lock may no longer be this run's, or undefined while it surely is: a renewal failed,
   * or none succeeded for two thirds of the lock's lifetime (the process stalled, or the server
   * did not answer), which leaves the rest of the lifetime for a write already sent to land.
   */
  readonly lost: () => string | undefined;
  /** Stops renewing and deletes the lock if it is still this run's. */
  release(): Promise<void>;
}

/** How a try to take the lock ended: taken, or held by another run (unknown when it was released in between). */
type TakeResult = { readonly taken: StoreLock } | { readonly heldBy?: LockHolder };

/**
 * Takes the lock of `store`: one key in the bucket {@link LOCK_BUCKET}, whose messages the server
 * removes once they are as old as the bucket's lifetime (`ttlMs` when this run creates the bucket;
 * an existing bucket keeps its own, which the run then goes by). The holder renews it every third
 * of that, so a run that crashed or was killed holds it at most one lifetime longer. Another run
 * waits for it, until `deadline`; `giveUp` decides from the holder's value whether waiting is of
 * any use (a newer run holds it: this one is stale), and returns the error to fail with.
 *
 * @throws the error `giveUp` returns, or Error when the lock is still held at `deadline`
 */
export async function takeStoreLock(
  nc: NatsConnection, store: string, me: LockHolder, options: {
    readonly ttlMs: number; readonly replicas: number; readonly deadline: number;
    readonly giveUp: (holder: LockHolder) => Error | undefined;
    readonly log: (line: string) => void;
  },
): Promise<StoreLock> {
  let kv: KV;
  let ttlMs: number;
  try {
    // allow_direct off: reads of the holder come from the stream's leader.
    kv = await nc.jetstream().views.kv(LOCK_BUCKET, { ttl: options.ttlMs, history: 1, replicas: options.replicas, allow_direct: false });
    ttlMs = (await kv.status()).ttl;
  } catch (error) {
    throw new Error(`cannot open the lock bucket ${LOCK_BUCKET}: ${describeNatsError(error)}`);
  }
  if (!(ttlMs > 0)) throw new Error(`the lock bucket ${LOCK_BUCKET} keeps its entries for good: a crashed run would hold a lock forever; give it a max age`);
  let logged = '';
  // Bounded by the deadline: each pass takes the lock, throws, or pauses.
  for (; ;) {
    const result = await tryTake(kv, store, me, ttlMs);
    if ('taken' in result) return result.taken;
    const holder = result.heldBy;
    const stop = holder && options.giveUp(holder);
    if (stop !== undefined) throw stop;
    const held = holder ? `the lock of store "${store}" is held by ${holder.holder} (generation ${holder.generation}) since ${holder.since}`
      : `the lock of store "${store}" changed hands`;
    if (Date.now() + RETRY_MS > options.deadline) throw new Error(`gave up waiting: ${held}`);
    if (holder && held !== logged) options.log(`waiting: ${held}`);
    logged = held;
    await sleep(RETRY_MS);
  }
}

async function tryTake(kv: KV, store: string, me: LockHolder, ttlMs: number): Promise<TakeResult> {
  const value = JSON.stringify(me);
  try {
    const sentAt = performance.now();
    const revision = await kv.create(store, value);
    return { taken: heldLock(kv, store, value, revision, ttlMs, sentAt) };
  } catch (error) {
    if (!isWrongLastSequence(error)) throw new Error(`cannot take the lock of store "${store}": ${describeNatsError(error)}`);
  }
  const entry = await kv.get(store);
  // Released or expired in between: the next pass takes it.
  return entry && entry.operation === 'PUT' ? { heldBy: readHolder(entry.string()) } : {};
}

/**
 * Renews the lock every third of its lifetime, each renewal conditional on the last, until released
 * or lost. `confirmedAt` is when the last write of the lock that succeeded was sent, on the monotonic
 * clock: the server counts the lifetime from a moment after it.
 */
function heldLock(kv: KV, store: string, value: string, revision: number, ttlMs: number, sentAt: number): StoreLock {
  let lostReason: string | undefined;
  let current = revision;
  let confirmedAt = sentAt;
  let renewing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    renewing = renewing.then(async () => {
      if (lostReason !== undefined) return;
      const renewalSentAt = performance.now();
      try {
        current = await kv.update(store, value, current);
        confirmedAt = renewalSentAt;
      } catch (error) {
        lostReason = `lost the lock of store "${store}" (it expired or another run took it): ${describeNatsError(error)}`;
      }
    });
  }, Math.max(1, Math.floor(ttlMs / 3)));
  timer.unref();
  const lost = () => {
    const age = performance.now() - confirmedAt;
    // Latched: once the lock may have been another run's, a later renewal does not make this run's writes safe again.
    if (lostReason === undefined && age > (2 * ttlMs) / 3) {
      lostReason = `the lock of store "${store}" was last renewed ${Math.round(age)}ms ago, too close to its lifetime of ${ttlMs}ms `
        + '(the run stalled, or the server did not answer): it may be another run\'s by now';
    }
    return lostReason;
  };
  return {
    lost,
    release: async () => {
      clearInterval(timer);
      await renewing;
      if (lostReason !== undefined) return;
      lostReason = 'released';
      // Conditional: a lock that expired and was taken by another run is theirs.
      await kv.delete(store, { previousSeq: current }).catch(() => undefined);
    },
  };
}

function readHolder(text: string): LockHolder {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    return {
      holder: String(value.holder ?? 'an unknown run'), since: String(value.since ?? 'an unknown time'),
      generation: typeof value.generation === 'number' ? value.generation : 0, digest: value.digest,
    };
  } catch {
    return { holder: 'an unknown run', since: 'an unknown time', generation: 0 };
  }
}

/** True when a JetStream write failed because the key's last sequence was not the one expected. */
export function isWrongLastSequence(error: unknown): boolean {
  return (error as { api_error?: { err_code?: number } }).api_error?.err_code === WRONG_LAST_SEQUENCE;
}
