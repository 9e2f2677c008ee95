/**
 * The keys and entries of a store's ownership record: what it manages, streams by name and consumers
 * by `<stream>/<consumer>` (neither name can contain `/`).
 */

/** What the ownership record keeps for each stream or consumer this store manages. */
export interface ManagedEntry {
  /** The policy it was last declared with; decides its fate once it leaves the app. */
  readonly retentionPolicy: 'Retain' | 'Delete';
}

/** The ownership key of a consumer. */
export function consumerKey(stream: string, consumer: string): string {
  return `${stream}/${consumer}`;
}

/** The stream and consumer of a consumer's ownership key; undefined for a stream's key. */
export function consumerOfKey(key: string): { readonly stream: string; readonly consumer: string } | undefined {
  const slash = key.indexOf('/');
  return slash < 0 ? undefined : { stream: key.slice(0, slash), consumer: key.slice(slash + 1) };
}

/**
 * What becomes of a managed stream or consumer that left the app: kept with retention policy
 * `Retain`; kept by a repair, which deletes nothing; else deleted.
 */
export function removedFate(entry: ManagedEntry, repair: boolean): { readonly action: 'orphaned' | 'delete'; readonly keptBecause?: string } {
  if (entry.retentionPolicy === 'Retain') return { action: 'orphaned' };
  return repair ? { action: 'orphaned', keptBecause: 'a repair deletes nothing; the apply Job deletes it' } : { action: 'delete' };
}
