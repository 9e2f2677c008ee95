import { Construct } from 'constructs';
import type * as kplus from 'cdk8s-plus-28';
import type { Permissions } from './auth';
import { GrantOptions } from './grants';
import type { Stream } from './stream';
import {
  Compression, DiscardPolicy, StorageType, StreamOptions, StreamPlacement, StreamRetentionPolicy, UNLIMITED,
} from './stream-definition';
import type { DurationInput, SizeInput } from './units';

/** The props a key-value bucket and an object store share. */
export interface StreamViewProps {
  /**
   * A description shown by `nats kv info` or `nats object info`.
   * @default - none
   */
  readonly description?: string;
  /**
   * How long a value or an object lives: a cdk8s `Duration` or a Go duration string such as "24h".
   * @default - they never expire, whatever the store's default max age
   */
  readonly ttl?: DurationInput;
  /**
   * Most bytes it holds (an object store's chunks and metadata); when full it refuses new values or objects.
   * @default - the store's default for a stream's max bytes, else its limit, else unlimited
   */
  readonly maxBytes?: SizeInput;
  /**
   * File or memory storage.
   * @default StorageType.FILE
   */
  readonly storage?: StorageType;
  /**
   * Copies across the store's servers: 1, 3 or 5.
   * @default 1
   */
  readonly replicas?: number;
  /**
   * Compress it on disk with S2 (NATS 2.10+).
   * @default false
   */
  readonly compression?: boolean;
  /**
   * Where its replicas go in a NATS cluster.
   * @default - wherever the server places them
   */
  readonly placement?: StreamPlacement;
  /**
   * Free-form string metadata kept with it (NATS 2.10+).
   * @default - none
   */
  readonly metadata?: Record<string, string>;
  /**
   * What happens to it when it is removed from the app.
   * @default StreamRetentionPolicy.RETAIN
   */
  readonly retentionPolicy?: StreamRetentionPolicy;
  /**
   * Let the post-deploy Job apply changes that drop values or objects it holds (a shorter ttl, or a
   * bucket's lower history); without it the Job refuses them.
   * @default false
   */
  readonly allowDataLoss?: boolean;
  /**
   * Let the post-deploy Job take over one of this name it did not create.
   * @default false
   */
  readonly adopt?: boolean;
}

/**
 * The stream options of those shared props, with the settings the NATS clients give both (discard
 * new, roll-ups, direct gets, no message count limit): values kept for good unless a ttl says otherwise.
 */
export function streamViewOptions(props: StreamViewProps): StreamOptions {
  return {
    description: props.description,
    maxAge: props.ttl ?? 0,
    maxMsgs: UNLIMITED,
    maxBytes: props.maxBytes,
    storage: props.storage,
    replicas: props.replicas,
    compression: props.compression ? Compression.S2 : undefined,
    placement: props.placement,
    metadata: props.metadata,
    discard: DiscardPolicy.NEW,
    allowRollup: true,
    allowDirect: true,
    retentionPolicy: props.retentionPolicy,
    allowDataLoss: props.allowDataLoss,
    adopt: props.adopt,
  };
}

/**
 * What key-value buckets and object stores share: a stream of their own underneath, read by some
 * workloads and written by others, each through a user whose permissions the subclass says.
 */
export abstract class StreamView extends Construct {
  /** The stream that holds it. */
  public abstract readonly stream: Stream;
  /** What it is, for messages: `key-value bucket "settings"`. */
  protected abstract readonly displayName: string;

  /** Lets `workload` read it, with a user of its own on the store. */
  public grantRead(workload: kplus.AbstractPod | kplus.Workload, options: GrantOptions): void {
    this.grant(workload, false, options);
  }

  /** Lets `workload` read and write it, with a user of its own on the store. */
  public grantWrite(workload: kplus.AbstractPod | kplus.Workload, options: GrantOptions): void {
    this.grant(workload, true, options);
  }

  /** What a reader (or with `write`, a writer) needs, given the inbox prefix its client uses. */
  protected abstract permissions(write: boolean, inboxPrefix: string): Permissions;

  private grant(workload: kplus.AbstractPod | kplus.Workload, write: boolean, options: GrantOptions): void {
    this.stream.store.grantAccess(workload, { target: this.displayName, permissions: (inboxPrefix) => this.permissions(write, inboxPrefix) }, options);
  }
}
