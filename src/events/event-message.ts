import { EVENT_MESSAGE_SCHEMA_VERSION, KubernetesEventsApi, LAST_APPLIED_ANNOTATION } from './settings';

/** The object an event is about, as both APIs reference it. */
export interface InvolvedObject {
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly uid?: string;
  readonly apiVersion?: string;
}

/** What the forwarder reads of an event, whichever API served it. */
export interface EventView {
  readonly uid: string;
  readonly resourceVersion: string;
  /** The event's own namespace, `""` for one without. */
  readonly namespace: string;
  readonly type: string;
  readonly reason: string;
  readonly involved: InvolvedObject;
  /** When it last happened, in milliseconds since the epoch; undefined when the event carries no time. */
  readonly lastSeenMs?: number;
}

/** Which events to forward; an empty list lets every value through. */
export interface EventFilter {
  readonly types: readonly string[];
  readonly reasons: readonly string[];
  readonly involvedKinds: readonly string[];
}

/** The labels and annotations of the involved object, when it was looked up. */
export interface InvolvedMetadata {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

/** One message for the stream. */
export interface EventMessage {
  readonly subject: string;
  /** `Nats-Msg-Id`: the same event at the same resourceVersion is the same message, whenever it is sent. */
  readonly msgId: string;
  readonly body: Uint8Array;
  /** When the event last happened, for the lag the forwarder reports. */
  readonly lastSeenMs?: number;
}

/** Reads `object` (an Event of `api`) into the fields the forwarder routes by. Pure. */
export function eventView(api: KubernetesEventsApi, object: any): EventView {
  const metadata = object?.metadata ?? {};
  const v1 = api === KubernetesEventsApi.EVENTS_V1;
  const times = v1
    ? [object.series?.lastObservedTime, object.deprecatedLastTimestamp, object.eventTime, metadata.creationTimestamp]
    : [object.series?.lastObservedTime, object.lastTimestamp, object.eventTime, metadata.creationTimestamp];
  const time = times.find((t) => typeof t === 'string' && t !== '');
  return {
    uid: String(metadata.uid ?? ''),
    resourceVersion: String(metadata.resourceVersion ?? ''),
    namespace: String(metadata.namespace ?? ''),
    type: String(object.type ?? ''),
    reason: String(object.reason ?? ''),
    involved: (v1 ? object.regarding : object.involvedObject) ?? {},
    lastSeenMs: time === undefined ? undefined : Date.parse(time),
  };
}

/** True when `filter` lets `event` through. Pure. */
export function passesFilter(event: EventView, filter: EventFilter): boolean {
  const allows = (list: readonly string[], value: string) => list.length === 0 || list.includes(value);
  return allows(filter.types, event.type) && allows(filter.reasons, event.reason) && allows(filter.involvedKinds, event.involved.kind ?? '');
}

/**
 * One subject token from a value: characters other than letters, digits, `_` and `-` (dots,
 * wildcards, spaces) become `_`, and an empty value is `_`, so every event has four tokens. Pure.
 */
export function subjectToken(value: string): string {
  return value === '' ? '_' : value.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** `<prefix>.<namespace>.<involved kind>.<reason>`. Pure. */
export function eventSubject(prefix: string, event: EventView): string {
  return [prefix, subjectToken(event.namespace), subjectToken(event.involved.kind ?? ''), subjectToken(event.reason)].join('.');
}

/**
 * The message of `object`, as the stream keeps it: the event, and the involved object's labels and
 * annotations when known. A body over `maxBytes` is cut down until it fits, and says so
 * (`truncated: true`): first the annotations go, then the end of the event's text, and last
 * everything but what identifies and routes the event. Pure.
 *
 * The message id carries the subject prefix: two forwarders with different prefixes on one stream
 * are different messages, the same event seen twice by one of them is one.
 */
export function eventMessage(
  prefix: string, api: KubernetesEventsApi, object: any, involved: InvolvedMetadata | undefined, maxBytes = Number.POSITIVE_INFINITY,
): EventMessage {
  const event = eventView(api, object);
  // The server's bookkeeping of who wrote which field: noise for a reader, and the largest part of an event.
  const { managedFields: _managedFields, ...metadata } = object.metadata ?? {};
  // Listed events come without their kind: every message names it the same way.
  const whole = { apiVersion: api, kind: 'Event', ...object, metadata };
  const body = (eventBody: any, labels: InvolvedMetadata | undefined, truncated: boolean) => JSON.stringify({
    schemaVersion: EVENT_MESSAGE_SCHEMA_VERSION,
    api,
    ...(truncated ? { truncated: true } : {}),
    event: eventBody,
    involvedObject: { ...event.involved, ...(labels ? { labels: labels.labels, annotations: labels.annotations } : {}) },
  });
  const encoded = new TextEncoder().encode(body(whole, involved, false));
  const bytes = encoded.length <= maxBytes ? encoded : fitted(encoded.length - maxBytes, api, whole, involved, body, maxBytes);
  return { subject: eventSubject(prefix, event), msgId: `${prefix}:${event.uid}:${event.resourceVersion}`, body: bytes, lastSeenMs: event.lastSeenMs };
}

/** The event's free text, by API: what grows without bound. */
const TEXT_FIELD: Record<KubernetesEventsApi, string> = { [KubernetesEventsApi.EVENTS_V1]: 'note', [KubernetesEventsApi.CORE_V1]: 'message' };

/** The smaller bodies of an event too large for the stream, tried in turn; the last always fits a budget of a few KiB. */
function fitted(
  excess: number, api: KubernetesEventsApi, whole: any, involved: InvolvedMetadata | undefined,
  body: (event: any, labels: InvolvedMetadata | undefined, truncated: boolean) => string, maxBytes: number,
): Uint8Array {
  const encoder = new TextEncoder();
  const withoutAnnotations = { ...whole, metadata: { ...whole.metadata, annotations: undefined } };
  const labelsOnly = involved ? { labels: involved.labels, annotations: {} } : undefined;
  const text = String(whole[TEXT_FIELD[api]] ?? '');
  const shortened = { ...withoutAnnotations, [TEXT_FIELD[api]]: text.slice(0, Math.max(0, text.length - excess - 64)) };
  const { metadata } = whole;
  const essentials = {
    apiVersion: whole.apiVersion, kind: whole.kind, type: whole.type, reason: whole.reason,
    metadata: { name: metadata.name, namespace: metadata.namespace, uid: metadata.uid, resourceVersion: metadata.resourceVersion },
  };
  for (const candidate of [body(withoutAnnotations, labelsOnly, true), body(shortened, labelsOnly, true)]) {
    const bytes = encoder.encode(candidate);
    if (bytes.length <= maxBytes) return bytes;
  }
  return encoder.encode(body(essentials, undefined, true));
}

/** An object's labels and annotations as a message carries them: without kubectl's copy of the whole object. Pure. */
export function involvedMetadata(object: any): InvolvedMetadata {
  const { [LAST_APPLIED_ANNOTATION]: _copy, ...annotations } = object?.metadata?.annotations ?? {};
  return { labels: object?.metadata?.labels ?? {}, annotations };
}
