import type { KV } from 'nats';
import { isWrongLastSequence } from '../apply/lock';
import { describeNatsError } from '../apply/nats-io';
import { untilStopped } from './retry';

/** How often a position that cannot be read is read again. */
const READ_RETRY_MS = 5_000;

/** The key of one watch's position: one per namespace, or one for all of them. */
export function positionKey(namespace: string): string {
  return namespace === '' ? 'all-namespaces' : `namespace.${namespace}`;
}

/** What a write of the position found. */
export type PositionWrite = 'written' | 'unchanged' | 'unreachable' | 'taken';

/**
 * One watch's position in the key-value bucket, written only over the revision this process last
 * read or wrote: a write that finds another revision means another forwarder writes the same key
 * (two leaders, or one replica started twice), and this one must stop.
 */
export class PositionRecord {
  private revision = 0;
  private writtenValue?: string;
  private attempted?: string;
  /** The write in progress, if any. */
  private writing?: Promise<PositionWrite>;

  constructor(private readonly bucket: KV, readonly key: string) {}

  /** The last position written (or read at the start). */
  public get written(): string | undefined {
    return this.writtenValue;
  }

  /** Reads the stored position, again and again until NATS answers; false when `signal` aborted first. */
  public async read(signal: AbortSignal, failed: (message: string) => void): Promise<boolean> {
    // An entry, or null for none: undefined only when stopped first.
    const entry = await untilStopped(() => this.bucket.get(this.key), (error) => failed(describeNatsError(error)), signal, READ_RETRY_MS);
    if (entry === undefined) return false;
    this.revision = entry?.revision ?? 0;
    this.writtenValue = entry?.string();
    return true;
  }

  /** Writes `position` when it moved; one write at a time. */
  public async write(position: string | undefined): Promise<PositionWrite> {
    if (this.writing || position === undefined || position === this.writtenValue) return 'unchanged';
    this.writing = this.store(position);
    try {
      return await this.writing;
    } finally {
      this.writing = undefined;
    }
  }

  /** Waits out a write in progress, for at most `ms`. */
  public async settled(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.writing, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  private async store(position: string): Promise<PositionWrite> {
    this.attempted = position;
    try {
      this.revision = this.revision === 0 ? await this.bucket.create(this.key, position) : await this.bucket.update(this.key, position, this.revision);
      this.writtenValue = position;
      return 'written';
    } catch (error) {
      return isWrongLastSequence(error) ? this.recover() : 'unreachable';
    }
  }

  /**
   * After a refused write: if the stored value is the one this process last tried to write, an
   * earlier write went through and only its answer was lost; then carry on from its revision.
   */
  private async recover(): Promise<PositionWrite> {
    const entry = await this.bucket.get(this.key).catch(() => null);
    if (entry && entry.string() === this.attempted) {
      this.revision = entry.revision;
      this.writtenValue = this.attempted;
      return 'written';
    }
    return 'taken';
  }
}
