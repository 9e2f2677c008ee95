/**
 * What the `KubernetesEvents` construct and the events forwarder (`jetstream-cdk8s events forward`)
 * must agree on: the APIs, the environment the construct sets, and the kinds it may enrich with.
 * This module imports only names, so synth reads it without loading the program's clients.
 */

import { MESSAGE_OVERHEAD_BYTES } from '../apply/names';

/** The two APIs Kubernetes serves its Events through: two views of the same objects. */
export enum KubernetesEventsApi {
  /** `events.k8s.io/v1`: `regarding`, `note`, `reportingController`, series. */
  EVENTS_V1 = 'events.k8s.io/v1',
  /** The core `v1` Event: `involvedObject`, `message`, `source`, `count`. */
  CORE_V1 = 'v1',
}

/** A kind of object whose labels and annotations the forwarder adds to its events, and where the API serves it. */
export interface EnrichedKind {
  /** The object's kind, as an event's `regarding` (or `involvedObject`) names it: `Pod`. */
  readonly kind: string;
  /** The API group, `""` for the core group. */
  readonly group: string;
  /** The version the forwarder reads it with. */
  readonly version: string;
  /** The resource's plural name in URLs and RBAC rules: `pods`. */
  readonly resource: string;
  /** False for cluster-scoped kinds, such as `Node`. */
  readonly namespaced: boolean;
}

/** Kinds the construct knows where to find; others are given as an {@link EnrichedKind}. */
export const WELL_KNOWN_KINDS: Readonly<Record<string, EnrichedKind>> = Object.fromEntries(([
  ['Pod', '', 'v1', 'pods', true],
  ['Service', '', 'v1', 'services', true],
  ['PersistentVolumeClaim', '', 'v1', 'persistentvolumeclaims', true],
  ['Node', '', 'v1', 'nodes', false],
  ['Namespace', '', 'v1', 'namespaces', false],
  ['Deployment', 'apps', 'v1', 'deployments', true],
  ['ReplicaSet', 'apps', 'v1', 'replicasets', true],
  ['StatefulSet', 'apps', 'v1', 'statefulsets', true],
  ['DaemonSet', 'apps', 'v1', 'daemonsets', true],
  ['Job', 'batch', 'v1', 'jobs', true],
  ['CronJob', 'batch', 'v1', 'cronjobs', true],
  ['HorizontalPodAutoscaler', 'autoscaling', 'v2', 'horizontalpodautoscalers', true],
] as const).map(([kind, group, version, resource, namespaced]) => [kind, { kind, group, version, resource, namespaced }]));

/** The kinds enriched by default: the workloads and their pods, all namespaced. */
export const DEFAULT_ENRICHED_KINDS = ['Pod', 'Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'];

/** The version of the message body's layout; a consumer reads `schemaVersion` before anything else. */
export const EVENT_MESSAGE_SCHEMA_VERSION = 1;

/** The annotation that holds a copy of the whole object kubectl applied: never copied into a message. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/** The port of `/healthz` and `/metrics`. */
export const EVENTS_HTTP_PORT = 8080;
/** Where they listen by default: every address, IPv6 and IPv4. */
export const ANY_ADDRESS = '::';

/** Each environment variable the construct sets for the forwarder, by what it holds. */
export const EVENTS_ENV = {
  api: 'EVENTS_API',
  subjectPrefix: 'EVENTS_SUBJECT_PREFIX',
  namespaces: 'EVENTS_NAMESPACES',
  types: 'EVENTS_TYPES',
  reasons: 'EVENTS_REASONS',
  involvedKinds: 'EVENTS_INVOLVED_KINDS',
  enrich: 'EVENTS_ENRICH',
  resumeBucket: 'EVENTS_RESUME_BUCKET',
  lease: 'EVENTS_LEASE',
  maxInFlight: 'EVENTS_MAX_IN_FLIGHT',
  maxMessageBytes: 'EVENTS_MAX_MESSAGE_BYTES',
  httpListen: 'EVENTS_HTTP_LISTEN',
  kubernetesApi: 'KUBERNETES_API_URL',
  kubernetesToken: 'KUBERNETES_TOKEN_FILE',
  kubernetesCa: 'KUBERNETES_CA_FILE',
  podName: 'POD_NAME',
  podNamespace: 'POD_NAMESPACE',
} as const;

/** Acknowledgements awaited at once by default: enough to keep a server a few milliseconds away busy. */
export const DEFAULT_MAX_IN_FLIGHT = 256;

/** The smallest message budget the construct allows: an event cut down to what identifies and routes it fits well inside. */
export const MIN_MESSAGE_BYTES = 2_048;
/** The budget when none is given: NATS' default max payload, less room for the subject and headers. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024 - MESSAGE_OVERHEAD_BYTES;
