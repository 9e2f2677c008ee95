import { InvolvedMetadata, InvolvedObject, involvedMetadata } from './event-message';
import type { KubeApi } from './kube-api';
import type { EnrichedKind } from './settings';

/** Objects whose labels are kept at once: a burst about many pods reads each pod once. */
export const CACHE_ENTRIES = 10_000;
/** How long a lookup is reused: labels change rarely, and an event names the object's uid. */
export const CACHE_TTL_MS = 60_000;

/**
 * The URL path of `object`, or undefined when its kind is not enriched, its reference names another
 * API group (a `Job` of another group is not batch's), or the reference is incomplete. Pure.
 */
export function objectPath(kinds: ReadonlyMap<string, EnrichedKind>, object: InvolvedObject): string | undefined {
  const kind = object.kind === undefined ? undefined : kinds.get(object.kind);
  if (!kind || !object.name || (kind.namespaced && !object.namespace)) return undefined;
  const group = object.apiVersion?.includes('/') ? object.apiVersion.split('/')[0] : '';
  if (object.apiVersion !== undefined && group !== kind.group) return undefined;
  const base = kind.group === '' ? `/api/${kind.version}` : `/apis/${kind.group}/${kind.version}`;
  const namespace = kind.namespaced ? `/namespaces/${encodeURIComponent(object.namespace as string)}` : '';
  return `${base}${namespace}/${kind.resource}/${encodeURIComponent(object.name)}`;
}

interface CacheEntry {
  readonly at: number;
  readonly metadata: Promise<InvolvedMetadata | undefined>;
}

/** How a lookup went, for the metrics. */
export interface LookupHooks {
  /** An answer from the API server rather than the cache. */
  fetched(): void;
  /**
   * A lookup that found nothing usable: the object is gone (404) or was made again (another uid),
   * the forwarder may not read it (403), or the server failed (status undefined).
   */
  failed(kind: string, path: string, status: number | undefined, message: string): void;
}

/**
 * The labels and annotations of the objects events are about, looked up through the API server and
 * kept in a bounded cache (least recently used out, entries older than a minute read again), as
 * k8stream does. Lookups of one object at the same time share one request. An object that cannot be
 * read gives no labels: its events are forwarded all the same.
 */
export class InvolvedObjects {
  private readonly entries = new Map<string, CacheEntry>();

  constructor(
    private readonly kube: KubeApi,
    private readonly kinds: ReadonlyMap<string, EnrichedKind>,
    /** Ends the lookups in flight: the run is stopping. */
    private readonly signal: AbortSignal,
    private readonly hooks: LookupHooks,
    private readonly maxEntries = CACHE_ENTRIES,
    private readonly ttlMs = CACHE_TTL_MS,
  ) {}

  /** Objects held. */
  public get size(): number {
    return this.entries.size;
  }

  /** The labels and annotations of `object`; undefined when its kind is not enriched or it cannot be read. */
  public lookup(object: InvolvedObject): Promise<InvolvedMetadata | undefined> {
    const path = objectPath(this.kinds, object);
    if (path === undefined) return Promise.resolve(undefined);
    const key = object.uid || path;
    const cached = this.entries.get(key);
    const now = Date.now();
    if (cached && now - cached.at < this.ttlMs) {
      // Most recently used last: Map keeps insertion order.
      this.entries.delete(key);
      this.entries.set(key, cached);
      return cached.metadata;
    }
    const metadata = this.fetch(object, path);
    this.entries.delete(key);
    this.entries.set(key, { at: now, metadata });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    return metadata;
  }

  private async fetch(object: InvolvedObject, path: string): Promise<InvolvedMetadata | undefined> {
    this.hooks.fetched();
    const kind = object.kind as string;
    try {
      const response = await this.kube.request('GET', path, undefined, undefined, this.signal);
      const uid = response.body?.metadata?.uid;
      // The same name, another object: its labels are not those of the object the event is about.
      if (response.status === 200 && object.uid && uid !== object.uid) {
        this.hooks.failed(kind, path, 404, `the object now has uid ${uid}, the event names ${object.uid}`);
      } else if (response.status === 200) {
        return involvedMetadata(response.body);
      } else {
        this.hooks.failed(kind, path, response.status, String(response.body?.message ?? `HTTP ${response.status}`));
      }
    } catch (error) {
      this.hooks.failed(kind, path, undefined, (error as Error).message);
    }
    return undefined;
  }
}
