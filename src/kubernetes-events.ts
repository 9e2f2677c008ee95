import { ApiObject, Chart, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import * as k8s from 'cdk8s-plus-28/lib/imports/k8s';
import { Construct } from 'constructs';
import { deliverProgram } from './apply-program';
import { DEFAULT_APPLY_IMAGE } from './apply-job';
import type { SecretKeyReference } from './auth';
import {
  DEFAULT_ENRICHED_KINDS, DEFAULT_MAX_IN_FLIGHT, EVENTS_ENV, EVENTS_HTTP_PORT, EnrichedKind, KubernetesEventsApi, MIN_MESSAGE_BYTES, WELL_KNOWN_KINDS,
} from './events/settings';
import { MESSAGE_OVERHEAD_BYTES } from './apply/names';
import { KeyValue } from './key-value';
import { withoutConstructPathLabel } from './labels';
import { RUN_AS, hardenedContainer, hardenedPodPatches } from './pod-security';
import { Problem, compileSchema, formatProblem, schemaProblems, showValue } from './problems';
import { afterRendering } from './rendering';
import { renderStoredForm } from './stored-form';
import type { Stream } from './stream';
import { LIMIT_PROPERTIES } from './stream-definition';
import { literalSubjectProblem, subjectIsSubset } from './subjects';
import { DurationInput, formatBytes, formatDuration, parseDuration } from './units';

export { KubernetesEventsApi, WELL_KNOWN_KINDS, DEFAULT_ENRICHED_KINDS } from './events/settings';
export type { EnrichedKind } from './events/settings';

/** Props of `KubernetesEvents`. */
export interface KubernetesEventsProps {
  /** The stream the events go into; it must capture `<subjectPrefix>.>` and be on a store of this app with users. */
  readonly stream: Stream;
  /** The Secret key holding the password of the forwarder's NATS user. */
  readonly password: SecretKeyReference;
  /**
   * Name of the Deployment, its ServiceAccount, Lease and RBAC objects, and of the NATS user.
   * @default - the construct id
   */
  readonly name?: string;
  /**
   * Subjects are `<subjectPrefix>.<namespace>.<involved kind>.<reason>`.
   * @default - the stream's first subject without its final `.>`, when it ends so
   */
  readonly subjectPrefix?: string;
  /**
   * The API the events are read from: each is a view of the same events, so one is watched.
   * @default KubernetesEventsApi.EVENTS_V1
   */
  readonly api?: KubernetesEventsApi;
  /**
   * The namespaces watched, one watch each, with Roles in each; RBAC is then namespaced.
   * @default - every namespace, with one cluster-wide watch and a ClusterRole
   */
  readonly namespaces?: string[];
  /**
   * Event types forwarded, such as `Warning`.
   * @default - every type
   */
  readonly types?: string[];
  /**
   * Event reasons forwarded, such as `BackOff` or `FailedScheduling`.
   * @default - every reason
   */
  readonly reasons?: string[];
  /**
   * Kinds of involved objects whose events are forwarded, such as `Pod`.
   * @default - every kind
   */
  readonly involvedKinds?: string[];
  /**
   * Kinds whose labels and annotations are added to their events: names of
   * `WELL_KNOWN_KINDS`, or where the API serves a kind. The forwarder may `get` these and no others.
   * @default DEFAULT_ENRICHED_KINDS: Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob
   */
  readonly enrichWith?: (string | EnrichedKind)[];
  /**
   * Replicas; with more than one, they elect a leader through a Lease and one forwards at a time.
   * @default 1
   */
  readonly replicas?: number;
  /**
   * How long the API server keeps events (its `--event-ttl`): a relist after the watch's position
   * expired sends them all again, so the stream's duplicate window must be at least this long.
   * @default 1h, Kubernetes' default
   */
  readonly eventTtl?: DurationInput;
  /**
   * Acknowledgements awaited at once; what is read beyond them waits, so this bounds memory.
   * @default 256
   */
  readonly maxInFlight?: number;
  /**
   * Node image that runs the program, pinned to an exact tag.
   * @default node:24.22.3-alpine, as the apply Job
   */
  readonly image?: string;
  /**
   * Path of the program (`lib/bundle/jetstream-apply.js` of this package) inside `image`, for an image of your own.
   * @default - the program comes from the ConfigMap the namespace's apply Jobs share
   */
  readonly programPath?: string;
  /**
   * Resources of the container.
   * @default - 50m CPU and 128Mi memory requested, 256Mi memory limit
   */
  readonly resources?: kplus.ContainerResources;
}

/** Kubernetes' longest label value, which the pod names made from the Deployment's name must fit. */
const MAX_NAME_LENGTH = 47;
const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const LEADER_ELECTION_THRESHOLD = 1;
/** Kubernetes' default `--event-ttl`. */
const DEFAULT_EVENT_TTL_MS = 3_600_000;
/** The shortest `--event-ttl` worth the name. */
const MIN_EVENT_TTL_MS = 60_000;

const PROPS_SCHEMA = {
  type: 'object',
  properties: {
    subjectPrefix: { type: 'string', minLength: 1 },
    api: { enum: Object.values(KubernetesEventsApi) },
    namespaces: { type: 'array', uniqueItems: true, items: { type: 'string', pattern: DNS_LABEL, maxLength: 63 } },
    types: { type: 'array', uniqueItems: true, items: { type: 'string', minLength: 1, pattern: '^[^,]+$' } },
    reasons: { type: 'array', uniqueItems: true, items: { type: 'string', minLength: 1, pattern: '^[^,]+$' } },
    involvedKinds: { type: 'array', uniqueItems: true, items: { type: 'string', minLength: 1, pattern: '^[^,]+$' } },
    enrichWith: {
      type: 'array',
      items: {
        description: `the name of a well-known kind (${Object.keys(WELL_KNOWN_KINDS).join(', ')}), or {kind, group, version, resource, namespaced}`,
        anyOf: [
          { enum: Object.keys(WELL_KNOWN_KINDS) },
          {
            type: 'object',
            required: ['kind', 'group', 'version', 'resource', 'namespaced'],
            additionalProperties: false,
            properties: {
              kind: { type: 'string', pattern: '^[A-Z][A-Za-z0-9]*$' },
              group: { type: 'string', pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$' },
              version: { type: 'string', pattern: '^v[0-9]+((alpha|beta)[0-9]+)?$' },
              resource: { type: 'string', pattern: '^[a-z][a-z0-9]*$' },
              namespaced: { type: 'boolean' },
            },
          },
        ],
      },
    },
    replicas: { type: 'integer', minimum: 1, maximum: 5 },
    eventTtl: LIMIT_PROPERTIES.maxAge,
    maxInFlight: { type: 'integer', minimum: 1, maximum: 65_536 },
    image: { type: 'string', minLength: 1 },
    programPath: { type: 'string', pattern: '^/' },
  },
};
const validateProps = compileSchema(PROPS_SCHEMA);

/**
 * Kubernetes Events into a stream: a Deployment running the forwarder of this package
 * (`jetstream-cdk8s events forward`, from the same program ConfigMap as the apply Job) that lists
 * and watches Events and publishes each, with its involved object's labels and annotations, to
 * `<subjectPrefix>.<namespace>.<involved kind>.<reason>`.
 *
 * Each message's `Nats-Msg-Id` is the event's uid and resourceVersion, so what a restart or a
 * relist sends again is dropped by the stream within its duplicate window. The forwarder resumes
 * from the position it writes, once acknowledged, to a key-value bucket of its own
 * (`<name>-positions`), and stops reading while NATS does not acknowledge.
 *
 * It synthesizes a ServiceAccount whose token only this pod mounts, RBAC that allows listing and
 * watching events (cluster-wide, or in the chosen namespaces) and getting the enriched kinds, a
 * Lease's rights when it has replicas, and its NATS user through the stream's `grantPublish`,
 * limited to its subjects.
 */
export class KubernetesEvents extends Construct {
  /** The name of the Deployment and the objects beside it. */
  public readonly name: string;
  /** The subject prefix of its messages. */
  public readonly subjectPrefix: string;
  /** The bucket of its watch positions. */
  public readonly positions: KeyValue;
  public readonly deployment: kplus.Deployment;
  public readonly serviceAccount: kplus.ServiceAccount;

  constructor(scope: Construct, id: string, props: KubernetesEventsProps) {
    super(scope, id);
    const problems = schemaProblems(validateProps, props);
    const valid = (field: keyof KubernetesEventsProps) => !problems.some((p) => p.field === field || p.field.startsWith(`${field}[`));
    this.name = props.name ?? id;
    if (!new RegExp(DNS_LABEL).test(this.name) || this.name.length > MAX_NAME_LENGTH) {
      problems.push({ field: props.name === undefined ? 'id' : 'name', value: showValue(this.name), rule: `must be a DNS label (lowercase letters, digits and "-") of at most ${MAX_NAME_LENGTH} characters: it names the Deployment, whose pod names must fit 63` });
    }
    const stream = props.stream;
    this.subjectPrefix = props.subjectPrefix ?? defaultPrefix(stream.definition.subjects);
    const prefixProblem = prefixProblems(this.subjectPrefix, props.subjectPrefix !== undefined, stream);
    problems.push(...prefixProblem);
    const eventTtlMs = valid('eventTtl') && props.eventTtl !== undefined ? parseDuration(props.eventTtl) : DEFAULT_EVENT_TTL_MS;
    if (eventTtlMs < MIN_EVENT_TTL_MS) {
      problems.push({ field: 'eventTtl', value: formatDuration(eventTtlMs), rule: `must be at least ${formatDuration(MIN_EVENT_TTL_MS)}: it is how long the API server keeps events` });
    }
    problems.push(...streamProblems(stream, eventTtlMs));
    const maxMessageBytes = messageBudget(stream);
    const namespace = Chart.of(this).namespace;
    if (namespace === undefined) {
      problems.push({ field: 'scope', value: showValue(Chart.of(this).node.id), rule: 'must be a chart with a namespace: the forwarder\'s RoleBindings name its ServiceAccount by namespace' });
    }
    const enriched = valid('enrichWith') ? (props.enrichWith ?? DEFAULT_ENRICHED_KINDS).map((kind) => (typeof kind === 'string' ? WELL_KNOWN_KINDS[kind] : kind)) : [];
    const replicas = valid('replicas') ? props.replicas ?? 1 : 1;
    this.node.addValidation({ validate: () => problems.map((p) => `events forwarder "${this.name}": ${formatProblem(p)}`) });

    const labels = {
      'app.kubernetes.io/name': 'jetstream-events',
      'app.kubernetes.io/instance': this.name,
      'app.kubernetes.io/component': 'events-forwarder',
      'app.kubernetes.io/managed-by': 'jetstream-cdk8s',
    };
    this.positions = new KeyValue(this, 'Positions', {
      store: stream.store,
      bucket: `${this.name}-positions`,
      description: `Where the events forwarder "${this.name}" resumes watching, per namespace`,
      replicas: stream.definition.replicas,
      maxValueSize: '1Ki',
      maxBytes: '1Mi',
    });
    this.serviceAccount = new kplus.ServiceAccount(this, 'ServiceAccount', { metadata: { name: this.name, labels }, automountToken: false });
    this.deployment = new kplus.Deployment(this, 'Deployment', {
      metadata: { name: this.name, labels },
      select: false,
      replicas,
      // One replica without a lease: never two at once, which their position writes would refuse anyway.
      strategy: replicas > LEADER_ELECTION_THRESHOLD ? kplus.DeploymentStrategy.rollingUpdate() : kplus.DeploymentStrategy.recreate(),
      serviceAccount: this.serviceAccount,
      automountServiceAccountToken: true,
      securityContext: { ensureNonRoot: true, user: RUN_AS, group: RUN_AS },
      podMetadata: { labels },
    });
    const program = deliverProgram(this, this.deployment, props.programPath);
    this.deployment.podMetadata.addAnnotation('prometheus.io/scrape', 'true');
    this.deployment.podMetadata.addAnnotation('prometheus.io/port', String(EVENTS_HTTP_PORT));
    const leaseName = replicas > LEADER_ELECTION_THRESHOLD ? this.name : undefined;
    const list = (name: string, values: string[] | undefined) => (values ? { [name]: kplus.EnvValue.fromValue(values.join(',')) } : {});
    this.deployment.addContainer({
      name: 'forwarder',
      image: props.image ?? DEFAULT_APPLY_IMAGE,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      command: program.command('events', 'forward'),
      ports: [{ name: 'http', number: EVENTS_HTTP_PORT }],
      envVariables: {
        [EVENTS_ENV.api]: kplus.EnvValue.fromValue(props.api ?? KubernetesEventsApi.EVENTS_V1),
        [EVENTS_ENV.subjectPrefix]: kplus.EnvValue.fromValue(this.subjectPrefix),
        ...list(EVENTS_ENV.namespaces, props.namespaces),
        ...list(EVENTS_ENV.types, props.types),
        ...list(EVENTS_ENV.reasons, props.reasons),
        ...list(EVENTS_ENV.involvedKinds, props.involvedKinds),
        [EVENTS_ENV.enrich]: kplus.EnvValue.fromValue(JSON.stringify(enriched)),
        [EVENTS_ENV.resumeBucket]: kplus.EnvValue.fromValue(this.positions.bucket),
        [EVENTS_ENV.maxInFlight]: kplus.EnvValue.fromValue(String(props.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT)),
        [EVENTS_ENV.maxMessageBytes]: kplus.EnvValue.fromValue(String(maxMessageBytes)),
        ...(leaseName ? {
          [EVENTS_ENV.lease]: kplus.EnvValue.fromValue(leaseName),
          [EVENTS_ENV.podName]: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAME),
          [EVENTS_ENV.podNamespace]: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAMESPACE),
        } : {}),
      },
      resources: props.resources ?? { cpu: { request: kplus.Cpu.millis(50) }, memory: { request: Size.mebibytes(128), limit: Size.mebibytes(256) } },
      securityContext: hardenedContainer(),
      // Alive while the process answers: an API server or NATS away is waited out, not cured by a restart.
      liveness: kplus.Probe.fromHttpGet('/healthz', { port: EVENTS_HTTP_PORT, periodSeconds: Duration.seconds(30), failureThreshold: 3, timeoutSeconds: Duration.seconds(5) }),
      volumeMounts: program.volumeMounts,
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: { 'app.kubernetes.io/name': labels['app.kubernetes.io/name'], 'app.kubernetes.io/instance': this.name } }));
    const user = { user: this.name, password: props.password };
    // A prefix outside the stream is reported once, as the forwarder's.
    if (prefixProblem.length === 0) stream.grantPublish(this.deployment, { ...user, subjects: [`${this.subjectPrefix}.*.*.*`] });
    this.positions.grantWrite(this.deployment, user);
    const deployment = ApiObject.of(this.deployment);
    afterRendering(deployment, (json) => JsonPatch.apply(withoutConstructPathLabel(json), ...hardenedPodPatches('/spec/template/spec')));
    renderStoredForm(deployment);
    if (namespace !== undefined) this.createRbac(namespace, props, enriched, leaseName, labels);
  }

  /** Roles (or a ClusterRole) with exactly what the forwarder does, bound to its ServiceAccount. */
  private createRbac(namespace: string, props: KubernetesEventsProps, enriched: readonly EnrichedKind[], leaseName: string | undefined, labels: Record<string, string>): void {
    const subject = { kind: 'ServiceAccount', name: this.name, namespace };
    const eventsRule = { apiGroups: [props.api === KubernetesEventsApi.CORE_V1 ? '' : 'events.k8s.io'], resources: ['events'], verbs: ['list', 'watch'] };
    const getRules = (kinds: readonly EnrichedKind[]) => [...new Set(kinds.map((kind) => kind.group))].sort().map((group) => ({
      apiGroups: [group], resources: [...new Set(kinds.filter((kind) => kind.group === group).map((kind) => kind.resource))].sort(), verbs: ['get'],
    }));
    const namespaced = enriched.filter((kind) => kind.namespaced);
    const clusterScoped = enriched.filter((kind) => !kind.namespaced);
    // ClusterRoles are cluster-wide objects: their names carry the namespace, so two apps never share one.
    const clusterName = `jetstream-events:${namespace}:${this.name}`;
    const clusterRules = [...(props.namespaces ? [] : [eventsRule, ...getRules(namespaced)]), ...getRules(clusterScoped)];
    if (clusterRules.length > 0) {
      const role = new k8s.KubeClusterRole(this, 'ClusterRole', { metadata: { name: clusterName, labels }, rules: clusterRules });
      const binding = new k8s.KubeClusterRoleBinding(this, 'ClusterRoleBinding', {
        metadata: { name: clusterName, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.name },
        subjects: [subject],
      });
      // The chart's namespace would be written into them too: cluster-wide objects have none.
      for (const object of [role, binding]) afterRendering(object, ({ metadata: { namespace: _namespace, ...metadata }, ...rest }) => ({ ...rest, metadata }));
    }
    for (const watched of props.namespaces ?? []) {
      // Named as the ClusterRole: forwarders of two apps may watch the same namespace.
      const role = new k8s.KubeRole(this, `Role-${watched}`, { metadata: { name: clusterName, namespace: watched, labels }, rules: [eventsRule, ...getRules(namespaced)] });
      new k8s.KubeRoleBinding(this, `RoleBinding-${watched}`, {
        metadata: { name: clusterName, namespace: watched, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.name },
        subjects: [subject],
      });
    }
    if (leaseName !== undefined) {
      const lease = `${this.name}-lease`;
      const role = new k8s.KubeRole(this, 'LeaseRole', {
        metadata: { name: lease, labels },
        // Creating cannot be limited to one name; reading and renewing can.
        rules: [
          { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
          { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [leaseName], verbs: ['get', 'update'] },
        ],
      });
      new k8s.KubeRoleBinding(this, 'LeaseRoleBinding', {
        metadata: { name: lease, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.name },
        subjects: [subject],
      });
    }
  }
}

/** The prefix of `<prefix>.>`, the usual subject of an events stream; `""` (a problem) otherwise. */
function defaultPrefix(subjects: readonly string[]): string {
  const first = subjects[0] ?? '';
  return first.endsWith('.>') ? first.slice(0, -2) : '';
}

/** The prefix must be a subject without wildcards, under which the stream captures every event's four tokens. */
function prefixProblems(prefix: string, given: boolean, stream: Stream): Problem[] {
  const field = 'subjectPrefix';
  if (!given && prefix === '') {
    return [{ field, value: '(unset)', rule: `must be set: the first subject of stream "${stream.name}" does not end in ".>"` }];
  }
  const problem = literalSubjectProblem(prefix);
  if (problem !== undefined) return [{ field, value: showValue(prefix), rule: problem }];
  const subjects = `${prefix}.*.*.*`;
  if (!stream.definition.subjects.some((subject) => subjectIsSubset(subjects, subject))) {
    return [{ field, value: showValue(prefix), rule: `must lead to subjects stream "${stream.name}" captures: its subjects ${JSON.stringify(stream.definition.subjects)} do not cover "${subjects}"` }];
  }
  return [];
}

/** The largest body the stream and the server take, less room for the subject and headers: what the forwarder cuts events down to. */
function messageBudget(stream: Stream): number {
  const { maxMsgSize } = stream.definition;
  const payload = stream.store.streamPolicy.maxPayloadBytes;
  return Math.max(0, (maxMsgSize > 0 ? Math.min(maxMsgSize, payload) : payload) - MESSAGE_OVERHEAD_BYTES);
}

/**
 * What the stream must do for the forwarder: acknowledge (a position is recorded only once
 * everything before it is stored), take an event cut down to what identifies it, and keep a
 * duplicate window as long as the events live (a relist sends every event the API server keeps again).
 */
function streamProblems(stream: Stream, eventTtlMs: number): Problem[] {
  const problem = (rule: string): Problem => ({ field: 'stream', value: showValue(stream.name), rule });
  const problems: Problem[] = [];
  const windowMs = stream.definition.duplicateWindowMs;
  if (windowMs < eventTtlMs) {
    problems.push(problem(`has a duplicate window of ${formatDuration(windowMs)}, shorter than the events' lifetime (eventTtl) ${formatDuration(eventTtlMs)}: `
      + `after a relist the stream would store again events it dropped from its window; set the stream's duplicateWindow to at least ${formatDuration(eventTtlMs)}`));
  }
  if (stream.definition.noAck) problems.push(problem('has noAck: the forwarder records a position only once the stream acknowledged everything before it'));
  const budget = messageBudget(stream);
  if (budget < MIN_MESSAGE_BYTES) {
    problems.push(problem(`takes messages of ${formatBytes(budget + MESSAGE_OVERHEAD_BYTES)} (its maxMsgSize, or the store's maxPayload): `
      + `the forwarder needs ${formatBytes(MIN_MESSAGE_BYTES + MESSAGE_OVERHEAD_BYTES)} for an event cut down to what identifies it`));
  }
  return problems;
}
