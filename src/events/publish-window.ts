import type { EventMessage } from './event-message';
import { abortableSleep } from './retry';

/** What the server answered to one stored message. */
export interface PublishAck {
  /** True when the server already had a message of this `Nats-Msg-Id` and dropped this one. */
  readonly duplicate: boolean;
}

/** What a window reports as it goes. */
export interface PublishWindowHooks {
  /** A message is stored (or was already). */
  acknowledged(message: EventMessage, ack: PublishAck): void;
  /** A publish failed; it is sent again, in order, once everything in flight has settled. */
  failed(message: EventMessage, error: unknown, attempt: number): void;
  /** Every failed publish is stored again: new messages flow. */
  resumed(): void;
}

/** One message in flight, or a position reached without one (a filtered event, a bookmark, the end of a list). */
interface Entry {
  readonly message?: EventMessage;
  position?: string;
  done: boolean;
}

/** First pause before a failed publish is sent again; doubled after each failure. */
const FIRST_RETRY_MS = 250;
/** Longest pause between two attempts. */
const MAX_RETRY_MS = 5_000;

/**
 * The messages sent and not yet stored, across every window that shares it: one bound on what the
 * forwarder holds, however many namespaces it watches. Its waiters are every window's.
 */
export class InFlightBudget {
  /** Messages sent and not yet stored, failed ones included. */
  public used = 0;
  private waiters: (() => void)[] = [];

  constructor(public readonly max: number) {}

  /** True when no message may be sent until one is stored. */
  public get full(): boolean {
    return this.used >= this.max;
  }

  /** Resolves at the next change of any window that shares it. */
  public change(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Wakes everything waiting for a change. */
  public wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}

/**
 * Publishes messages with a bounded number of acknowledgements awaited at once, and knows the
 * position (a resourceVersion) up to which everything is stored. `send` waits for room in the
 * budget it shares with the other windows: a caller that awaits it stops reading while the server
 * is slow or away, so memory stays bounded by the budget's messages.
 *
 * A failed publish stops new sends; once everything in flight has settled, the failed messages are
 * sent again one at a time, in the order they were first sent, until each is stored (their
 * `Nats-Msg-Id` makes a message that was stored after all count as a duplicate, not a second copy).
 */
export class PublishWindow {
  private readonly entries: Entry[] = [];
  private readonly failures: Entry[] = [];
  private inFlightCount = 0;
  private retrying = false;
  private readonly stopping = new AbortController();
  private closed = false;
  private failedAt?: number;
  private committedPosition: string | undefined;

  constructor(
    private readonly publish: (message: EventMessage) => Promise<PublishAck>,
    private readonly budget: InFlightBudget,
    private readonly hooks: PublishWindowHooks,
    committed?: string,
  ) {
    this.committedPosition = committed;
  }

  /** Messages sent and not yet acknowledged, failed ones included. */
  public get inFlight(): number {
    return this.inFlightCount + this.failures.length;
  }

  /** The latest position before which every message is stored. */
  public get committed(): string | undefined {
    return this.committedPosition;
  }

  /** Since when a failed publish holds new sends back; undefined while messages flow. */
  public get stalledSince(): number | undefined {
    return this.failedAt;
  }

  /**
   * Sends `message` once there is room; `position` is committed once it and everything before it
   * are stored. False when the window was closed first: the message is not sent, and the caller
   * must stop, since no later position may be committed past it.
   */
  public async send(message: EventMessage, position?: string): Promise<boolean> {
    while (!this.closed && (this.retrying || this.budget.full)) await this.change();
    if (this.closed) return false;
    const entry: Entry = { message, position, done: false };
    this.entries.push(entry);
    this.dispatch(entry);
    return true;
  }

  /** Records that `position` is reached with nothing more to store; nothing once closed. */
  public mark(position: string): void {
    if (this.closed) return;
    const last = this.entries[this.entries.length - 1];
    if (last === undefined) {
      this.committedPosition = position;
    } else if (last.message === undefined) {
      // Consecutive positions without messages keep one entry: the list stays bounded by the messages in it.
      last.position = position;
    } else {
      this.entries.push({ position, done: true });
    }
  }

  /** Resolves once nothing is in flight, or when `stop` is called. */
  public async drain(): Promise<void> {
    while (!this.stopping.signal.aborted && this.inFlight > 0) await this.change();
  }

  /** Sends nothing more: `send` returns at once; what is in flight goes on being stored. */
  public close(): void {
    this.closed = true;
    this.wake();
  }

  /** Ends the retries and the waits as well; what is not stored stays uncommitted. */
  public stop(): void {
    this.closed = true;
    this.stopping.abort();
    this.wake();
  }

  private dispatch(entry: Entry): void {
    this.inFlightCount++;
    this.budget.used++;
    const message = entry.message as EventMessage;
    this.publish(message).then((ack) => {
      this.inFlightCount--;
      this.settle(entry, ack);
    }, (error: unknown) => {
      this.inFlightCount--;
      this.hooks.failed(message, error, 1);
      this.failures.push(entry);
      if (!this.retrying) {
        this.retrying = true;
        this.failedAt = Date.now();
        void this.retryFailures();
      }
      this.wake();
    });
  }

  private settle(entry: Entry, ack: PublishAck): void {
    entry.done = true;
    this.budget.used--;
    this.hooks.acknowledged(entry.message as EventMessage, ack);
    while (this.entries.length > 0 && this.entries[0].done) {
      const first = this.entries.shift() as Entry;
      if (first.position !== undefined) this.committedPosition = first.position;
    }
    this.wake();
  }

  /** Waits for the rest to settle, then stores the failed messages in their first order. */
  private async retryFailures(): Promise<void> {
    while (!this.stopping.signal.aborted && this.inFlightCount > 0) await this.change();
    const order = new Map(this.entries.map((entry, index) => [entry, index]));
    while (!this.stopping.signal.aborted && this.failures.length > 0) {
      this.failures.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
      const entry = this.failures[0];
      const message = entry.message as EventMessage;
      let pause = FIRST_RETRY_MS;
      // Bounded by stop(): a server away for good keeps the window waiting until the process ends.
      for (let attempt = 2; !this.stopping.signal.aborted; attempt++) {
        await abortableSleep(pause, this.stopping.signal);
        if (this.stopping.signal.aborted) return;
        try {
          const ack = await this.publish(message);
          this.failures.shift();
          this.settle(entry, ack);
          break;
        } catch (error) {
          this.hooks.failed(message, error, attempt);
          pause = Math.min(pause * 2, MAX_RETRY_MS);
        }
      }
    }
    if (this.stopping.signal.aborted) return;
    this.retrying = false;
    this.failedAt = undefined;
    this.hooks.resumed();
    this.wake();
  }

  private change(): Promise<void> {
    return this.budget.change();
  }

  private wake(): void {
    this.budget.wake();
  }
}
