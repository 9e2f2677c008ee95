import { Construct } from 'constructs';
import type * as kplus from 'cdk8s-plus-28';
import type { Permissions } from './auth';
import { GrantOptions } from './grants';
import type { Stream } from './stream';

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
