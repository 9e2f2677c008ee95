import type { Permissions, SecretKeyReference } from './auth';

/** What a grant lets a workload do: the permissions of its user on the store. */
export interface GrantedAccess {
  /** What is granted, for messages: `stream "orders"`, `consumer "auditor" of stream "orders"`. */
  readonly target: string;
  /** The user's permissions, given the inbox prefix its client uses. */
  readonly permissions: (inboxPrefix: string) => Permissions;
}

/** The user a grant creates. */
export interface GrantOptions {
  /** User name, unique on the store: letters, digits, `.`, `_` and `-`. */
  readonly user: string;
  /** The Secret key holding the user's password. */
  readonly password: SecretKeyReference;
}

/** A publisher's user, and the subjects it may publish to. */
export interface PublishGrantOptions extends GrantOptions {
  /**
   * The subjects it may publish to, each within the stream's subjects (wildcards allowed).
   * @default - every subject of the stream
   */
  readonly subjects?: string[];
}
