/**
 * Names the apply program and the store's nats.conf must agree on. This module imports nothing,
 * so synth reads them without loading the nats client.
 */

/** The key-value bucket that records, per store, the streams the store manages. */
export const OWNERSHIP_BUCKET = 'jetstream-cdk8s';

/**
 * The program's reply subjects. Its own prefix, so that its user may subscribe to its replies only
 * and never to other clients' (`_INBOX.>` would let it read what they fetch from their consumers).
 */
export const APPLY_INBOX_PREFIX = '_INBOX_jetstream-apply';

/**
 * The key-value bucket of the stores' locks, one key per store: an apply holds it while it runs, so
 * two applies of one store never interleave. Its entries expire, so a crashed run cannot hold it.
 */
export const LOCK_BUCKET = 'jetstream-cdk8s-locks';

/** The program's exit code when its definitions are older than the ones its store last applied: the Job fails without retrying. */
export const STALE_EXIT_CODE = 4;

/**
 * What max_payload counts of a JetStream request besides its body: the subject, the reply inbox and
 * the headers of a conditional write, well within this.
 */
export const MESSAGE_OVERHEAD_BYTES = 512;
