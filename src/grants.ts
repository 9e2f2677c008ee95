import type { SecretKeyReference } from './auth';

/** What a grant lets a workload do with a stream. */
export enum StreamGrant {
  /** Publish to the stream's subjects and read the acknowledgements. */
  PUBLISH = 'publish',
  /** Read the stream through consumers; no publishing. */
  CONSUME = 'consume',
}

/** The user a grant creates. */
export interface GrantOptions {
  /** User name, unique on the store: letters, digits, `.`, `_` and `-`. */
  readonly user: string;
  /** The Secret key holding the user's password. */
  readonly password: SecretKeyReference;
}
