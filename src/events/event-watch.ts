import { KubeApi, KubeApiError, WATCH_TIMEOUT_SECONDS, apiError } from './kube-api';
import { KubernetesEventsApi } from './settings';
import { abortableSleep } from './retry';

/** What a watch of events yields, in the order the API server gives it. */
export type WatchedItem =
  /** An event added or changed; `position` is its resourceVersion, none for an event of a list. */
  | { readonly kind: 'event'; readonly object: any; readonly position?: string }
  /** A position reached with no event to forward: a bookmark, a deletion, the end of a list. */
  | { readonly kind: 'position'; readonly position: string };

/** What a watch reports besides its items. */
export interface EventWatchHooks {
  /** The watch's position is gone from the API server's history (410): everything is listed again. */
  relisting(reason: string): void;
  /** The watch ended or failed, and starts again from its position after `pauseMs`. */
  rewatching(reason: string, pauseMs: number): void;
  /** A list is read to its end: `count` events, up to `position`; watching follows. */
  listed(count: number, position: string): void;
}

/** Objects asked for per page of a list. */
const LIST_PAGE_SIZE = 500;
/** First pause before watching again after a failure; doubled after each failure in a row. */
const FIRST_RETRY_MS = 250;
/** Longest pause between two attempts. */
const MAX_RETRY_MS = 5_000;
/** A watch that ends sooner than this having given nothing is paused before the next. */
const EMPTY_WATCH_MS = 1_000;

/** The URL path of the events of `namespace` (all namespaces when `""`) in `api`. */
export function eventsPath(api: KubernetesEventsApi, namespace: string): string {
  const base = api === KubernetesEventsApi.CORE_V1 ? '/api/v1' : `/apis/${api}`;
  return namespace === '' ? `${base}/events` : `${base}/namespaces/${encodeURIComponent(namespace)}/events`;
}

/**
 * Every event of `path` from `from` on, with list-then-watch semantics: without a position (or
 * once the API server no longer has it: 410 Gone) every event it keeps is listed, then watched from
 * the list's resourceVersion. A watch that ends or fails is started again from the last position
 * seen, with bookmarks keeping that position fresh while filtered events pass. Ends when `signal`
 * aborts; a caller that stops asking for items stops the reading.
 */
export async function* watchEvents(
  kube: KubeApi, path: string, from: string | undefined, hooks: EventWatchHooks, signal: AbortSignal,
): AsyncGenerator<WatchedItem> {
  let position = from;
  let resuming = from !== undefined;
  let listing = false;
  let pause = FIRST_RETRY_MS;
  // Bounded by signal: every pass reads, pauses or ends.
  while (!signal.aborted) {
    try {
      if (resuming) {
        const ahead = await positionAhead(kube, path, position as string, signal);
        resuming = false;
        if (ahead !== undefined) {
          hooks.relisting(`the stored position ${position} is ahead of the API server's ${ahead} (a restored or rebuilt cluster?)`);
          position = undefined;
        }
      }
      if (position === undefined) {
        listing = true;
        let count = 0;
        for await (const item of listEvents(kube, path, signal)) {
          if (item.kind === 'position') position = item.position;
          else count++;
          yield item;
        }
        listing = false;
        hooks.listed(count, position as string);
      }
      const query = `?watch=1&allowWatchBookmarks=true&timeoutSeconds=${WATCH_TIMEOUT_SECONDS}&resourceVersion=${encodeURIComponent(position as string)}`;
      const started = Date.now();
      let read = 0;
      for await (const change of kube.watch(`${path}${query}`, signal)) {
        pause = FIRST_RETRY_MS;
        read++;
        if (change.type === 'ERROR') throw apiError(Number(change.object?.code ?? 0), change.object, `watch ${path}`);
        const rv = String(change.object?.metadata?.resourceVersion ?? '');
        if (rv === '') continue;
        position = rv;
        yield change.type === 'ADDED' || change.type === 'MODIFIED' ? { kind: 'event', object: change.object, position } : { kind: 'position', position };
      }
      // A watch ended at once with nothing in it (a proxy, an overloaded server) is not asked for again at once.
      const empty = read === 0 && Date.now() - started < EMPTY_WATCH_MS;
      if (!signal.aborted) hooks.rewatching(empty ? 'the API server ended the watch at once' : 'the API server ended the watch', empty ? pause : 0);
      if (empty) {
        await abortableSleep(pause, signal);
        pause = Math.min(pause * 2, MAX_RETRY_MS);
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof KubeApiError && error.status === 410) {
        hooks.relisting(listing ? `a page of the list expired before it was read (${error.message})` : `the watch position is gone (${error.message})`);
        position = undefined;
        continue;
      }
      hooks.rewatching(describe(error), pause);
      await abortableSleep(pause, signal);
      pause = Math.min(pause * 2, MAX_RETRY_MS);
    }
  }
}

/**
 * The API server's current resourceVersion when `position` is past it; undefined otherwise. A watch
 * from a position the server has not reached waits silently for it: after an etcd restore the
 * forwarder would forward nothing. resourceVersions are opaque to clients, but every API server
 * stores etcd revisions in them; one that is not a whole number is never called ahead.
 */
async function positionAhead(kube: KubeApi, path: string, position: string, signal: AbortSignal): Promise<string | undefined> {
  const current = String((await kube.expect('GET', `${path}?limit=1`, signal)).metadata?.resourceVersion ?? '');
  const whole = /^\d+$/;
  return whole.test(position) && whole.test(current) && BigInt(position) > BigInt(current) ? current : undefined;
}

/** Every event of `path`, page by page, then the list's resourceVersion; a page continued too late (410) starts over. */
async function* listEvents(kube: KubeApi, path: string, signal: AbortSignal): AsyncGenerator<WatchedItem> {
  let next = '';
  // Bounded by the list's length: every page moves `continue` on, or ends.
  do {
    if (signal.aborted) return;
    const page = await kube.expect('GET', `${path}?limit=${LIST_PAGE_SIZE}${next === '' ? '' : `&continue=${encodeURIComponent(next)}`}`, signal);
    for (const object of page.items ?? []) yield { kind: 'event', object };
    next = String(page.metadata?.continue ?? '');
    if (next === '') yield { kind: 'position', position: String(page.metadata?.resourceVersion ?? '') };
  } while (next !== '');
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
