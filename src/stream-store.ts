import { createHash } from 'crypto';
import { ApiObject, Chart, Duration, JsonPatch, Lazy, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import * as k8s from 'cdk8s-plus-28/lib/imports/k8s';
import { Construct, IConstruct } from 'constructs';
import {
  APPLY_JOB_OPTIONS_SCHEMA, APPLY_JOB_USER, ApplyJob, ApplyJobOptions, LABEL_VALUE_LIMIT, MAX_STORE_NAME_LENGTH, ResolvedApplyJob, applyJobProblems,
  resolveApplyJob,
} from './apply-job';
import {
  AuthEnvVariable, AuthKind, NatsAuth, NatsUser, SecretKeyReference, StoreTlsOptions, TLS_FILES, TLS_MOUNT_PATHS, applyJobPermissions,
  authEnvironment, authProblems, natsAuthorization, natsTls, sameSecretKey,
  tlsProblems, unionOfAllowed,
} from './auth';
import { ExistingStreamStore, ExistingStreamStoreProps } from './existing-stream-store';
import { GrantOptions, GrantedAccess } from './grants';
import { annotationProblems, labelProblems, storeLabels, withoutConstructPathLabel } from './labels';
import { migrationGuardErrors } from './migration-guard';
import { NatsConfigOptions, renderNatsConfig } from './nats-config';
import { RUN_AS, caVolume, hardenedContainer, secretByName, secretEnvValue } from './pod-security';
import { Problem, compileSchema, formatProblem, schemaProblems, showValue, withoutBrokenFields } from './problems';
import { defaultsAboveLimitsProblems, hostedStreamProblems, placementProblems } from './store-rules';
import { afterRendering, sortKeysDeep } from './rendering';
import { renderStoredForm } from './stored-form';
import { streamsPartProblems } from './streams-config';
import { IStream, Stream } from './stream';
import {
  LIMIT_PROPERTIES, ResolvedLimits, SIZE_SHAPE, StreamLimitOptions, StreamOptions, StreamPolicy, readUnit, resolveLimits, unitRule,
} from './stream-definition';
import { StreamHost } from './stream-host';
import { DurationInput, SizeInput, formatBytes, formatBytesReadablePair, formatDuration, parseDuration, parseSize } from './units';
import { DEFAULT_NATS_SERVER_VERSION, NatsServerVersion } from './versions';

/** What happens to a store's volumes when the StatefulSet is deleted or scaled down. */
export enum VolumeRetention {
  /** Keep the PersistentVolumeClaims and their data. */
  RETAIN = 'Retain',
  /** Delete the PersistentVolumeClaims and their data. */
  DELETE = 'Delete',
}

/** The store's persistent volume, one per server. */
export interface StreamStoreStorage {
  /**
   * Volume size: a number of bytes, a cdk8s `Size` or a string such as "10Gi".
   * @default 10Gi
   */
  readonly size?: SizeInput;
  /**
   * Storage class of the volume claims.
   * @default - the cluster's default storage class
   */
  readonly storageClassName?: string;
  /**
   * Access modes of the volume claims.
   * @default [ReadWriteOnce]
   */
  readonly accessModes?: kplus.PersistentVolumeAccessMode[];
  /**
   * Share of the volume kept free of JetStream data, in percent, for the filesystem and compaction.
   * @default 10
   */
  readonly headroomPercent?: number;
  /**
   * Whether the volume claims are deleted with the StatefulSet or when it scales down.
   * @default - Retain in both cases
   */
  readonly retention?: {
    /** @default VolumeRetention.RETAIN */
    readonly whenDeleted?: VolumeRetention;
    /** @default VolumeRetention.RETAIN */
    readonly whenScaled?: VolumeRetention;
  };
}

/** How a cluster's servers spread over nodes and zones, as pod anti-affinity. */
export interface StreamStoreSpread {
  /**
   * Refuse to schedule two servers on one node (or zone), instead of only preferring not to:
   * safer, but a server stays pending while no node is free.
   * @default false
   */
  readonly required?: boolean;
  /**
   * Spread over zones (`topology.kubernetes.io/zone`) as well as nodes.
   * @default false
   */
  readonly zones?: boolean;
}

/** Hard maxima a store allows its streams. */
export interface StreamStoreLimits extends StreamLimitOptions {
  /**
   * Most streams the store hosts.
   * @default - no limit
   */
  readonly maxStreams?: number;
}

/** The prometheus-nats-exporter sidecar. */
export interface StreamStoreMetrics {
  /**
   * Exporter image, pinned to an exact tag.
   * @default natsio/prometheus-nats-exporter:0.15.0
   */
  readonly image?: string;
  /**
   * Port the exporter serves `/metrics` on.
   * @default 7777
   */
  readonly port?: number;
}

/** Props of `StreamStore`. */
export interface StreamStoreProps {
  /**
   * Name of the store: a DNS label of at most 48 characters (the apply Job's name adds 15) that names
   * its StatefulSet, Services, ConfigMaps and apply Job.
   * @default - the construct id
   */
  readonly name?: string;
  /**
   * NATS server release; fields the release does not know are synth errors.
   * @default NatsServerVersion.V2_15_3
   */
  readonly version?: NatsServerVersion;
  /**
   * Server image, for a mirror or a private registry; it must hold `version`.
   * @default - the official image of `version`, such as nats:2.15.3-alpine
   */
  readonly image?: string;
  /**
   * Servers in the store: 1, or 3 or 5 for a cluster.
   * @default 1
   */
  readonly replicas?: number;
  /**
   * The persistent volume of each server.
   * @default - 10Gi, ReadWriteOnce, the default storage class, retained
   */
  readonly storage?: StreamStoreStorage;
  /**
   * JetStream file store size per server.
   * @default - the volume size minus its headroom
   */
  readonly maxFileStore?: SizeInput;
  /**
   * JetStream memory store size per server.
   * @default - half the container memory limit
   */
  readonly maxMemoryStore?: SizeInput;
  /**
   * Largest message payload the server accepts; at most 64MiB (the server's max_pending).
   * @default 1MiB (the server's own default)
   */
  readonly maxPayload?: SizeInput;
  /**
   * Limits given to streams that set none.
   * @default - none: a stream without a value gets the store's limit, or no limit
   */
  readonly defaults?: StreamLimitOptions;
  /**
   * Hard maxima no stream may exceed.
   * @default - none
   */
  readonly limits?: StreamStoreLimits;
  /**
   * CPU and memory of the NATS container.
   * @default - requests 500m CPU and 1Gi memory, limit 1Gi memory, no CPU limit
   */
  readonly resources?: kplus.ContainerResources;
  /**
   * How long lame-duck mode spreads client disconnects over when a server stops; at least 30s.
   * @default 30s
   */
  readonly lameDuckDuration?: DurationInput;
  /**
   * How long a stopping server waits before lame-duck mode starts disconnecting clients.
   * @default 10s
   */
  readonly lameDuckGracePeriod?: DurationInput;
  /**
   * Pod termination grace period; must cover lame-duck grace period + duration + 10s.
   * @default - lame-duck grace period + duration + 20s
   */
  readonly terminationGracePeriod?: DurationInput;
  /**
   * Prometheus metrics through the prometheus-nats-exporter sidecar, JetStream metrics on.
   * @default - no metrics sidecar
   */
  readonly metrics?: StreamStoreMetrics;
  /**
   * Node labels the pods must run on.
   * @default - none
   */
  readonly nodeSelector?: Record<string, string>;
  /**
   * Tolerations of the pods.
   * @default - none
   */
  readonly tolerations?: k8s.Toleration[];
  /**
   * Affinity of the pods; replaces the anti-affinity that `spread` renders.
   * @default - for a cluster, the anti-affinity of `spread`; none for a single server
   */
  readonly affinity?: k8s.Affinity;
  /**
   * How a cluster's servers spread over nodes and zones; ignored for a single server.
   * @default - preferred (best effort) one server per node
   */
  readonly spread?: StreamStoreSpread;
  /**
   * Priority class of the pods.
   * @default - none
   */
  readonly priorityClassName?: string;
  /**
   * Names of Secrets used to pull the images.
   * @default - none
   */
  readonly imagePullSecrets?: string[];
  /**
   * Service account of the pods.
   * @default - the namespace's default service account
   */
  readonly serviceAccountName?: string;
  /**
   * Mount the service account token; NATS does not use it.
   * @default false
   */
  readonly automountServiceAccountToken?: boolean;
  /**
   * Extra labels on every object and pod of the store.
   * @default - none
   */
  readonly labels?: Record<string, string>;
  /**
   * Extra annotations on every object and pod of the store.
   * @default - none
   */
  readonly annotations?: Record<string, string>;
  /**
   * How clients authenticate; secrets stay in the Kubernetes Secrets named here.
   * @default NatsAuth.none()
   */
  readonly auth?: NatsAuth;
  /**
   * TLS for clients and routes, from Secrets in the cert-manager layout (tls.crt, tls.key, ca.crt).
   * @default - plain text
   */
  readonly tls?: StoreTlsOptions;
  /**
   * A NetworkPolicy that admits route connections only from the store's own servers, and clients,
   * monitoring and metrics from anywhere. Routes carry no credentials: without it (or route TLS),
   * any pod that reaches the route port joins the cluster and bypasses `auth`.
   * @default true
   */
  readonly networkPolicy?: boolean;
  /**
   * The post-deploy Job that applies the streams to the running server.
   * @default - node:24.22.3-alpine, 5m wait, 32 streams at once, kept 24h, 3 retries
   */
  readonly applyJob?: ApplyJobOptions;
}

/** A store that streams can be declared on. */
export interface IStreamStore extends IConstruct {
  /** Name of the store. */
  readonly name: string;
  /** What the store imposes on its streams. */
  readonly streamPolicy: StreamPolicy;
  /** Declares a stream on this store. */
  addStream(id: string, options?: StreamOptions): Stream;
  /** Records a stream declared elsewhere in the tree; `Stream` calls this. */
  registerStream(stream: IStream): void;
  /** Tells the store a consumer was declared on one of its streams: its definitions are rendered again. */
  consumersChanged(): void;
  /** Gives a workload its own user for a stream; `Stream.grantPublish` and `grantConsume` call this. */
  grantAccess(workload: kplus.AbstractPod | kplus.Workload, access: GrantedAccess, options: GrantOptions): void;
  /** The streams declared on this store, in declaration order. */
  readonly streams: readonly IStream[];
}

/** Ports of the NATS container; fixed, as every NATS client and tool expects them. */
export const NATS_PORTS = { client: 4222, cluster: 6222, monitor: 8222 } as const;
/** Where a granted workload finds the store's CA when the store has client TLS. */
const GRANT_CA_DIR = '/etc/nats-ca';
/** Where the pod mounts its parts. */
const PATHS = { config: '/etc/nats-config', data: '/data', run: '/var/run/nats' } as const;
const DATA_VOLUME = 'data';
const DEFAULT_VOLUME_SIZE = Size.gibibytes(10);
const DEFAULT_MEMORY = Size.gibibytes(1);
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** nats-server's max_pending, which it requires max_payload not to exceed. */
const MAX_PENDING_BYTES = 64 * 1024 * 1024;
const DEFAULT_EXPORTER_IMAGE = 'natsio/prometheus-nats-exporter:0.15.0';
/** nats-server refuses a shorter lame_duck_duration. */
const MIN_LAME_DUCK_DURATION_MS = 30_000;
/** The least the termination grace period must exceed lame-duck mode by; the default adds twice that. */
const LAME_DUCK_MARGIN_MS = 10_000;

/** The store's labels that never change: its selector, and the only ones its volume claim template carries. */
const STABLE_LABELS = ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/component', 'app.kubernetes.io/managed-by'];
const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** The labels that never change for a store: its pod selector and its claim template's labels. */
function stableLabels(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([key]) => STABLE_LABELS.includes(key)));
}

const STORE_PROPS_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    version: { type: 'object' },
    image: { type: 'string', minLength: 1 },
    replicas: { type: 'integer' },
    storage: {
      type: 'object',
      additionalProperties: false,
      properties: {
        size: SIZE_SHAPE,
        storageClassName: { type: 'string' },
        accessModes: { type: 'array', items: { type: 'string' }, minItems: 1 },
        headroomPercent: { type: 'number', minimum: 0, maximum: 90 },
        retention: {
          type: 'object',
          additionalProperties: false,
          properties: {
            whenDeleted: { enum: Object.values(VolumeRetention) },
            whenScaled: { enum: Object.values(VolumeRetention) },
          },
        },
      },
    },
    maxFileStore: SIZE_SHAPE,
    maxMemoryStore: SIZE_SHAPE,
    maxPayload: SIZE_SHAPE,
    defaults: { type: 'object', additionalProperties: false, properties: LIMIT_PROPERTIES },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: { ...LIMIT_PROPERTIES, maxStreams: { type: 'integer', minimum: 1 } },
    },
    resources: { type: 'object' },
    lameDuckDuration: LIMIT_PROPERTIES.maxAge,
    lameDuckGracePeriod: LIMIT_PROPERTIES.maxAge,
    terminationGracePeriod: LIMIT_PROPERTIES.maxAge,
    metrics: {
      type: 'object',
      additionalProperties: false,
      properties: { image: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 1, maximum: 65535 } },
    },
    nodeSelector: { type: 'object', additionalProperties: { type: 'string' } },
    tolerations: { type: 'array', items: { type: 'object' } },
    affinity: { type: 'object' },
    spread: {
      type: 'object',
      additionalProperties: false,
      properties: { required: { type: 'boolean' }, zones: { type: 'boolean' } },
    },
    priorityClassName: { type: 'string' },
    imagePullSecrets: { type: 'array', items: { type: 'string' } },
    serviceAccountName: { type: 'string' },
    automountServiceAccountToken: { type: 'boolean' },
    networkPolicy: { type: 'boolean' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    auth: { type: 'object' },
    tls: {
      type: 'object',
      additionalProperties: false,
      properties: {
        client: {
          type: 'object',
          additionalProperties: false,
          required: ['secretName'],
          properties: { secretName: { type: 'string' } },
        },
        routes: { type: 'object', additionalProperties: false, required: ['secretName'], properties: { secretName: { type: 'string' } } },
      },
    },
    applyJob: APPLY_JOB_OPTIONS_SCHEMA,
  },
  additionalProperties: false,
};
const validateStoreProps = compileSchema(STORE_PROPS_SCHEMA);

/** The store's props with every default applied, in bytes and milliseconds. */
export interface ResolvedStore {
  readonly name: string;
  readonly version: NatsServerVersion;
  readonly image: string;
  readonly replicas: number;
  readonly volumeBytes: number;
  readonly headroomPercent: number;
  readonly maxFileStoreBytes: number;
  readonly maxMemoryStoreBytes: number;
  readonly maxPayloadBytes: number;
  readonly memoryLimitBytes?: number;
  readonly defaults: ResolvedLimits;
  readonly limits: ResolvedLimits;
  readonly maxStreams?: number;
  readonly lameDuckDurationMs: number;
  readonly lameDuckGracePeriodMs: number;
  readonly terminationGracePeriodMs: number;
  readonly applyJob: ResolvedApplyJob;
  /** The store's authentication, the apply Job's own user included. */
  readonly auth: NatsAuth;
  readonly tls?: StoreTlsOptions;
  readonly networkPolicy: boolean;
}

/**
 * A NATS server with JetStream that hosts many streams: a StatefulSet with a persistent
 * volume per server, its nats.conf in a ConfigMap, a headless and a client Service, a
 * PodDisruptionBudget when clustered, and the stream definitions for the post-deploy Job.
 *
 * Like Tawon's StreamStore, it sets defaults for the streams it hosts and hard limits
 * they may not exceed; every rule is checked when the app is synthesized.
 */
export class StreamStore extends StreamHost {
  public readonly name: string;
  public readonly streamPolicy: StreamPolicy;
  /** The resolved settings: every default applied. */
  public readonly settings: ResolvedStore;
  /** The nats.conf the servers run, granted users included. */
  public get natsConfig(): string {
    return renderNatsConfig(natsConfigOptions({ ...this.settings, auth: this.auth() }));
  }
  /** The ConfigMap holding nats.conf. */
  public readonly config: kplus.ConfigMap;
  /** The ConfigMap holding the stream definitions the post-deploy Job applies. */
  public readonly streamsConfig: k8s.KubeConfigMap;
  /** How clients reach the store, as environment-style keys (`envFrom` works): URL, auth kind, Secret and CA names. */
  public readonly connectionConfig: kplus.ConfigMap;
  /** The headless Service that gives each server a stable DNS name. */
  public readonly headlessService: kplus.Service;
  /** The Service clients connect through. */
  public readonly clientService: kplus.Service;
  /** The servers. */
  public readonly statefulSet: kplus.StatefulSet;
  /** The post-deploy Job that applies the streams. */
  public readonly applyJob: ApplyJob;

  /** Users added by stream grants after the store was built, each with the workload it was made for. */
  private readonly grantedUsers: Array<NatsUser & { readonly workload: Construct }> = [];
  private readonly grantProblems: Problem[] = [];
  private natsContainer!: kplus.Container;
  private readonly propProblems: Problem[];
  /** The rules between the streams, for the number of streams they were checked with (streams are only ever added). */
  private streamRules?: { readonly streams: number; readonly problems: Problem[] };

  constructor(scope: Construct, id: string, props: StreamStoreProps = {}) {
    super(scope, id);
    const resolution = resolveStore(props, id);
    this.propProblems = resolution.problems;
    this.settings = resolution.value;
    this.name = this.settings.name;
    this.streamPolicy = {
      storeName: this.name,
      replicas: this.settings.replicas,
      version: this.settings.version,
      maxPayloadBytes: this.settings.maxPayloadBytes,
      defaults: this.settings.defaults,
      limits: this.settings.limits,
    };

    const labels = { ...props.labels, ...storeLabels(this.name, 'stream-store', this.settings.version.version) };
    const metadata = (name: string) => ({ name, labels, annotations: props.annotations });

    this.config = new kplus.ConfigMap(this, 'Config', {
      metadata: metadata(`${this.name}-config`),
      // Rendered at synth: grants made after the store add users.
      data: { 'nats.conf': Lazy.any({ produce: () => this.natsConfig }) as unknown as string },
    });
    this.streamsConfig = this.createStreamsConfigs(metadata, () => this.applyJob.job);
    this.connectionConfig = new kplus.ConfigMap(this, 'ConnectionConfig', {
      metadata: metadata(`${this.name}-connection`),
      data: connectionInfo(this.settings, Chart.of(this).namespace),
    });
    this.headlessService = new kplus.Service(this, 'HeadlessService', {
      metadata: metadata(`${this.name}-headless`),
      clusterIP: 'None',
      // Routes and the post-deploy Job need every server's address before it is ready.
      publishNotReadyAddresses: true,
      ports: servicePorts(this.settings.replicas > 1, props.metrics),
    });
    this.statefulSet = this.createStatefulSet(props, metadata(this.name));
    this.clientService = new kplus.Service(this, 'ClientService', {
      metadata: metadata(this.name),
      ports: [{ name: 'client', port: NATS_PORTS.client, targetPort: NATS_PORTS.client }],
    });
    for (const [key, value] of Object.entries(this.statefulSet.matchLabels)) this.clientService.selectLabel(key, value);
    renderStoredForm(ApiObject.of(this.clientService));
    this.statefulSet.node.addDependency(this.config, this.streamsConfig, this.headlessService, this.clientService);
    this.clientService.node.addDependency(this.config, this.streamsConfig, this.connectionConfig);
    this.headlessService.node.addDependency(this.config, this.streamsConfig, this.connectionConfig);

    if (this.settings.replicas > 1) {
      const pdb = new k8s.KubePodDisruptionBudget(this, 'PodDisruptionBudget', {
        metadata: metadata(this.name),
        spec: {
          // One server down at a time keeps the JetStream quorum of every replicated stream.
          maxUnavailable: k8s.IntOrString.fromNumber(1),
          selector: { matchLabels: this.statefulSet.matchLabels },
        },
      });
      pdb.node.addDependency(this.statefulSet);
    }
    if (this.settings.networkPolicy) {
      const policy = new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
        metadata: metadata(this.name),
        spec: networkPolicySpec(this.statefulSet.matchLabels, this.settings.replicas > 1, props.metrics),
      });
      // In force before the first server starts, so no route is ever open.
      policy.node.addDependency(this.config, this.streamsConfig, this.connectionConfig);
      this.statefulSet.node.addDependency(policy);
    }

    this.applyJob = new ApplyJob(this, 'ApplyJob', {
      ...this.settings.applyJob,
      storeName: this.name,
      storeReplicas: this.settings.replicas,
      natsUrl: `nats://${this.name}:${NATS_PORTS.client}`,
      streams: () => this.streamsVolume(),
      credentials: applyJobCredentials(this.settings, props.applyJob?.password),
      labels: { ...labels, 'app.kubernetes.io/component': 'stream-apply' },
      annotations: props.annotations,
    });
    // The Job applies streams to the running server: it goes last.
    this.applyJob.node.addDependency(this.statefulSet, this.clientService, this.streamsConfig);

    this.node.addValidation({ validate: () => this.problems().map((p) => `store "${this.name}": ${formatProblem(p)}`) });
    // Kubernetes refuses most StatefulSet changes: compared with what the previous synthesis wrote.
    this.node.addValidation({ validate: () => migrationGuardErrors(ApiObject.of(this.statefulSet)).map((e) => `store "${this.name}": ${e}`) });
  }

  /**
   * A NATS server with JetStream that this app does not deploy, by URL and credentials: its
   * streams are validated and applied by the same post-deploy Job; nothing else is synthesized.
   */
  public static fromExisting(scope: Construct, id: string, props: ExistingStreamStoreProps): ExistingStreamStore {
    return new ExistingStreamStore(scope, id, props);
  }

  /**
   * Gives `workload` its own user for `stream`: the user's permissions come from `kind`, its
   * password from the Secret key in `options`. Every container of the workload gets `NATS_URL`,
   * `NATS_USER`, `NATS_PASSWORD` (from the Secret) and `NATS_INBOX_PREFIX`, the inbox prefix its
   * client must use; with client TLS also the store's CA, mounted, and `NATS_CA_FILE`. A workload
   * has one user: its further grants must name the same user and password, and add their
   * permissions to it.
   */
  public grantAccess(workload: kplus.AbstractPod | kplus.Workload, access: GrantedAccess, options: GrantOptions): void {
    const inboxPrefix = `_INBOX_${options.user.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const permissions = access.permissions(inboxPrefix);
    if (this.settings.auth.kind !== AuthKind.USERS) {
      this.grantProblems.push({
        field: 'auth', value: JSON.stringify(this.settings.auth.kind),
        rule: `must be NatsAuth.users to grant ${workload.node.path} access to ${access.target}: a grant is a user with its own permissions`,
      });
      return;
    }
    const earlier = this.grantedUsers.findIndex((user) => user.workload === workload);
    if (earlier !== -1) {
      const user = this.grantedUsers[earlier];
      if (user.name !== options.user || !sameSecretKey(user.password, options.password)) {
        this.grantProblems.push({
          field: 'grants', value: `user "${options.user}"`,
          rule: `must be the user "${user.name}" with the same password, which ${workload.node.path} was granted first: a workload has one NATS user`,
        });
      } else {
        this.grantedUsers[earlier] = { ...user, permissions: unionOfAllowed(user.permissions ?? {}, permissions) };
      }
      return;
    }
    this.grantedUsers.push({ name: options.user, password: options.password, permissions, workload });
    for (const variable of authEnvironment(NatsAuth.users([{ name: options.user, password: options.password }]))) {
      this.natsContainer.env.addVariable(variable.name, this.envValue(variable));
    }
    const caSecret = this.settings.tls?.client?.secretName;
    // One volume per workload: its containers all trust the store's CA.
    const ca = caSecret === undefined ? undefined : caVolume(workload, `${this.name}-nats-ca`, caSecret, `${this.name}-nats-ca`);
    for (const container of workload.containers) {
      container.env.addVariable('NATS_URL', kplus.EnvValue.fromValue(connectionInfo(this.settings, Chart.of(this).namespace).NATS_URL));
      container.env.addVariable('NATS_USER', kplus.EnvValue.fromValue(options.user));
      container.env.addVariable('NATS_PASSWORD', secretEnvValue(this, options.password));
      container.env.addVariable('NATS_INBOX_PREFIX', kplus.EnvValue.fromValue(inboxPrefix));
      if (ca) {
        container.mount(GRANT_CA_DIR, ca, { readOnly: true });
        container.env.addVariable('NATS_CA_FILE', kplus.EnvValue.fromValue(`${GRANT_CA_DIR}/${TLS_FILES.ca}`));
      }
    }
  }

  /** The store's users: its own, the apply Job's and the granted ones. */
  private auth(): NatsAuth {
    const granted = this.grantedUsers.map(({ name, password, permissions }) => ({ name, password, permissions }));
    return granted.length === 0 ? this.settings.auth : NatsAuth.users([...this.settings.auth.users, ...granted]);
  }

  /** The auth secrets as environment variables of the NATS container, in the order Kubernetes expands them. */
  private secretEnvironment(): Record<string, kplus.EnvValue> {
    return Object.fromEntries(authEnvironment(this.settings.auth).map((variable) => [variable.name, this.envValue(variable)]));
  }

  private envValue(variable: AuthEnvVariable): kplus.EnvValue {
    return 'value' in variable
      ? kplus.EnvValue.fromValue(variable.value)
      : secretEnvValue(this, variable.valueFrom);
  }

  private tlsMounts(): kplus.VolumeMount[] {
    const tls = this.settings.tls;
    const mount = (path: string, secretName: string, name: string): kplus.VolumeMount => ({
      path, readOnly: true, volume: kplus.Volume.fromSecret(this, `${name}-volume`, secretByName(this, secretName), { name }),
    });
    return [
      ...(tls?.client ? [mount(TLS_MOUNT_PATHS.client, tls.client.secretName, 'tls-client')] : []),
      ...(tls?.routes ? [mount(TLS_MOUNT_PATHS.routes, tls.routes.secretName, 'tls-routes')] : []),
    ];
  }

  private problems(): Problem[] {
    return [
      ...this.propProblems,
      ...this.grantProblems,
      ...(this.grantedUsers.length > 0 ? authProblems(this.auth()) : []),
      ...this.streamRuleProblems(),
      ...streamsPartProblems(this.streamsParts()),
    ];
  }

  /** cdk8s validates the whole app once more for each chart it renders: the streams are checked once per set of them. */
  private streamRuleProblems(): Problem[] {
    if (this.streamRules?.streams !== this.streams.length) {
      const hosted = this.hostedStreams();
      const problems = [
        ...hostedStreamProblems(hosted, this.settings.maxStreams, this.settings, this.settings.version),
        ...placementProblems(hosted, this.name, this.settings.replicas > 1),
      ];
      this.streamRules = { streams: this.streams.length, problems };
    }
    return this.streamRules.problems;
  }

  private createStatefulSet(props: StreamStoreProps, metadata: { name: string; labels: Record<string, string> }): kplus.StatefulSet {
    const s = this.settings;
    const statefulSet = new kplus.StatefulSet(this, 'StatefulSet', {
      metadata,
      // Selected by the store's stable labels, not by the construct path: moving the store in the
      // tree or renaming its chart must not change a selector Kubernetes never lets change.
      select: false,
      service: this.headlessService,
      replicas: s.replicas,
      // A cluster's servers must all start to elect a leader; one at a time would deadlock.
      podManagementPolicy: s.replicas > 1 ? kplus.PodManagementPolicy.PARALLEL : kplus.PodManagementPolicy.ORDERED_READY,
      terminationGracePeriod: Duration.seconds(Math.ceil(s.terminationGracePeriodMs / 1000)),
      automountServiceAccountToken: props.automountServiceAccountToken ?? false,
      serviceAccount: props.serviceAccountName
        ? kplus.ServiceAccount.fromServiceAccountName(this, 'ServiceAccount', props.serviceAccountName)
        : undefined,
      securityContext: {
        ensureNonRoot: true,
        user: RUN_AS,
        group: RUN_AS,
        fsGroup: RUN_AS,
        // Large volumes: only walk the tree to fix ownership when the root does not match.
        fsGroupChangePolicy: kplus.FsGroupChangePolicy.ON_ROOT_MISMATCH,
      },
      podMetadata: { labels: metadata.labels },
    });
    const pidVolume = kplus.Volume.fromEmptyDir(this, 'RunVolume', 'run');
    const configVolume = kplus.Volume.fromConfigMap(this, 'ConfigVolume', this.config, { name: 'config' });
    this.natsContainer = statefulSet.addContainer({
      name: 'nats',
      image: s.image,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      command: ['nats-server', '--config', `${PATHS.config}/nats.conf`],
      ports: [
        { name: 'client', number: NATS_PORTS.client },
        ...(s.replicas > 1 ? [{ name: 'cluster', number: NATS_PORTS.cluster }] : []),
        { name: 'monitor', number: NATS_PORTS.monitor },
      ],
      envVariables: {
        POD_NAME: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAME),
        ...this.secretEnvironment(),
        ...(s.memoryLimitBytes
          // Let the Go runtime collect garbage before the kernel kills the container.
          ? { GOMEMLIMIT: kplus.EnvValue.fromValue(`${Math.floor((s.memoryLimitBytes * 0.9) / (1024 * 1024))}MiB`) }
          : {}),
      },
      resources: props.resources ?? {
        cpu: { request: kplus.Cpu.millis(500) },
        memory: { request: DEFAULT_MEMORY, limit: DEFAULT_MEMORY },
      },
      securityContext: hardenedContainer(),
      volumeMounts: [
        { path: PATHS.config, volume: configVolume, readOnly: true },
        { path: PATHS.run, volume: pidVolume },
        ...this.tlsMounts(),
      ],
      // Start-up only needs JetStream running: one broken stream must not restart the server forever.
      startup: kplus.Probe.fromHttpGet('/healthz?js-enabled-only=true', {
        port: NATS_PORTS.monitor, periodSeconds: Duration.seconds(10), failureThreshold: 90, timeoutSeconds: Duration.seconds(5),
      }),
      // Ready once this server's JetStream is current with the cluster; stream catch-up does not gate clients.
      readiness: kplus.Probe.fromHttpGet('/healthz?js-server-only=true', {
        port: NATS_PORTS.monitor, periodSeconds: Duration.seconds(10), failureThreshold: 3, timeoutSeconds: Duration.seconds(5),
      }),
      // Alive while the process answers with JetStream on: a server catching up is never killed.
      liveness: kplus.Probe.fromHttpGet('/healthz?js-enabled-only=true', {
        port: NATS_PORTS.monitor, periodSeconds: Duration.seconds(30), failureThreshold: 3, timeoutSeconds: Duration.seconds(5),
      }),
      lifecycle: {
        preStop: kplus.Handler.fromCommand(['nats-server', `--signal=ldm=${PATHS.run}/nats.pid`]),
      },
    });
    if (props.metrics) {
      const port = props.metrics.port ?? 7777;
      statefulSet.addContainer({
        name: 'metrics',
        image: props.metrics.image ?? DEFAULT_EXPORTER_IMAGE,
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        args: ['-connz', '-routez', '-subz', '-varz', '-healthz', '-jsz=all', `-port=${port}`, `http://localhost:${NATS_PORTS.monitor}`],
        ports: [{ name: 'metrics', number: port }],
        resources: { cpu: { request: kplus.Cpu.millis(10) }, memory: { request: Size.mebibytes(32), limit: Size.mebibytes(64) } },
        securityContext: hardenedContainer(),
      });
      statefulSet.podMetadata.addAnnotation('prometheus.io/scrape', 'true');
      statefulSet.podMetadata.addAnnotation('prometheus.io/port', String(port));
    }
    for (const [key, value] of Object.entries(props.annotations ?? {})) statefulSet.podMetadata.addAnnotation(key, value);
    // A changed nats.conf must roll the pods: the server reads it only at start.
    statefulSet.podMetadata.addAnnotation('jetstream-cdk8s/config-checksum',
      Lazy.any({ produce: () => sha256(this.natsConfig) }) as unknown as string);
    statefulSet.select(kplus.LabelSelector.of({ labels: stableLabels(metadata.labels) }));
    patchAfterConversion(ApiObject.of(statefulSet), statefulSetPatches(this.settings, props, metadata.labels, statefulSet.matchLabels));
    afterRendering(ApiObject.of(statefulSet), withoutConstructPathLabel);
    renderStoredForm(ApiObject.of(statefulSet));
    // cdk8s-plus points the StatefulSet's Service at the construct-path label: use the stable selector.
    const headless = ApiObject.of(this.headlessService);
    afterRendering(headless, (service) => ({ ...service, spec: { ...service.spec, selector: statefulSet.matchLabels } }));
    renderStoredForm(headless);
    return statefulSet;
  }
}

/**
 * Applies JSON patches to an object's final JSON. `addJsonPatch` runs before cdk8s-plus's
 * typed k8s 1.28 conversion, which drops fields it has no type for (such as `apiVersion`
 * and `kind` of volume claim templates); this runs after it. Patched values get their
 * keys sorted by `statefulSetPatches`, like the rest of the output.
 */
export function patchAfterConversion(object: ApiObject, patches: JsonPatch[]): void {
  afterRendering(object, (json) => JsonPatch.apply(json, ...patches));
}

/**
 * What cdk8s-plus-28 cannot express on a StatefulSet, as JSON patches: volume claim
 * templates and their retention policy, the data volume mount, and raw scheduling fields.
 */
export function statefulSetPatches(
  s: ResolvedStore, props: StreamStoreProps, labels: Record<string, string>, selector: Record<string, string>,
): JsonPatch[] {
  const podSpec = '/spec/template/spec';
  const add = (path: string, value: unknown) => JsonPatch.add(path, sortKeysDeep(value));
  const claimLabels = stableLabels(labels);
  const patches = [
    add('/spec/volumeClaimTemplates', [{
      // Written out so GitOps tools do not see the StatefulSet drift from what the API server stores.
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      // Only labels that never change: Kubernetes refuses any change to a claim template.
      metadata: { name: DATA_VOLUME, labels: claimLabels },
      spec: {
        accessModes: props.storage?.accessModes ?? [kplus.PersistentVolumeAccessMode.READ_WRITE_ONCE],
        ...(props.storage?.storageClassName !== undefined ? { storageClassName: props.storage.storageClassName } : {}),
        resources: { requests: { storage: toQuantity(s.volumeBytes) } },
      },
    }]),
    add('/spec/persistentVolumeClaimRetentionPolicy', {
      whenDeleted: props.storage?.retention?.whenDeleted ?? VolumeRetention.RETAIN,
      whenScaled: props.storage?.retention?.whenScaled ?? VolumeRetention.RETAIN,
    }),
    add(`${podSpec}/containers/0/volumeMounts/-`, { name: DATA_VOLUME, mountPath: PATHS.data }),
    // Service links inject an env variable per Service in the namespace; NATS reads none.
    add(`${podSpec}/enableServiceLinks`, false),
  ];
  if (props.nodeSelector) patches.push(add(`${podSpec}/nodeSelector`, props.nodeSelector));
  if (props.tolerations) patches.push(add(`${podSpec}/tolerations`, props.tolerations.map((t) => k8s.toJson_Toleration(t))));
  const affinity = props.affinity ? k8s.toJson_Affinity(props.affinity) : spreadAffinity(s.replicas, props.spread ?? {}, selector);
  if (affinity) patches.push(add(`${podSpec}/affinity`, affinity));
  if (props.priorityClassName) patches.push(add(`${podSpec}/priorityClassName`, props.priorityClassName));
  if (props.imagePullSecrets) {
    patches.push(add(`${podSpec}/imagePullSecrets`, props.imagePullSecrets.map((name) => ({ name }))));
  }
  return patches;
}

/**
 * Pod anti-affinity that keeps a cluster's servers apart, so one node (or zone) lost takes
 * one server, and the JetStream quorum of every replicated stream survives it.
 */
export function spreadAffinity(replicas: number, spread: StreamStoreSpread, selector: Record<string, string>): object | undefined {
  if (replicas === 1) return undefined;
  const topologies = ['kubernetes.io/hostname', ...(spread.zones ? ['topology.kubernetes.io/zone'] : [])];
  const terms = topologies.map((topologyKey) => ({ labelSelector: { matchLabels: selector }, topologyKey }));
  return {
    podAntiAffinity: spread.required
      ? { requiredDuringSchedulingIgnoredDuringExecution: terms }
      : { preferredDuringSchedulingIgnoredDuringExecution: terms.map((podAffinityTerm) => ({ podAffinityTerm, weight: 100 })) },
  };
}

/** Applies every store default once and collects a problem per unreadable or inconsistent prop. */
export function resolveStore(input: StreamStoreProps, id: string): { value: ResolvedStore; problems: Problem[] } {
  const problems = schemaProblems(validateStoreProps, input);
  const props = withoutBrokenFields(input, problems);
  const size = (field: string, input: SizeInput | undefined, fallback: number): number =>
    readUnit(problems, field, input, fallback, parseSize);
  const duration = (field: string, input: DurationInput | undefined, fallback: number): number =>
    readUnit(problems, field, input, fallback, parseDuration);
  // A size of 0 is reported, then treated as unset like any broken prop, so the streams are checked with the default.
  const positive = (field: string, input: SizeInput | undefined, fallback: number, why: string): number => {
    const bytes = size(field, input, fallback);
    if (bytes !== 0) return bytes;
    problems.push({ field, value: formatBytes(0), rule: `must be more than 0: ${why}` });
    return fallback;
  };

  const name = props.name ?? id;
  const version = props.version ?? DEFAULT_NATS_SERVER_VERSION;
  const replicas = props.replicas ?? 1;
  const volumeBytes = positive('storage.size', props.storage?.size, parseSize(DEFAULT_VOLUME_SIZE),
    'Kubernetes takes the StatefulSet, then refuses each volume claim of 0 bytes, so no server starts');
  const headroomPercent = props.storage?.headroomPercent ?? 10;
  const usableVolume = Math.floor((volumeBytes * (100 - headroomPercent)) / 100);
  const memoryLimit = (props.resources ? props.resources.memory?.limit : DEFAULT_MEMORY);
  // Reported, not thrown: a throw here would stop the app before it declares its streams, hiding their problems.
  let memoryLimitBytes: number | undefined;
  try {
    memoryLimitBytes = memoryLimit === undefined ? undefined : parseSize(memoryLimit);
  } catch (error) {
    problems.push({ field: 'resources.memory.limit', value: showValue(memoryLimit), rule: unitRule(error) });
  }
  const lameDuckDurationMs = duration('lameDuckDuration', props.lameDuckDuration, 30_000);
  const lameDuckGracePeriodMs = duration('lameDuckGracePeriod', props.lameDuckGracePeriod, 10_000);
  const minimumGraceMs = lameDuckDurationMs + lameDuckGracePeriodMs + LAME_DUCK_MARGIN_MS;
  const defaults = resolveLimits(props.defaults ?? {}, 'defaults');
  const limits = resolveLimits(props.limits ?? {}, 'limits');
  problems.push(...defaults.problems, ...limits.problems);

  const value: ResolvedStore = {
    name,
    version,
    image: props.image ?? version.image,
    // Fewer than one server is reported, then treated as unset: the streams' rules and the capacity count servers.
    replicas: replicas >= 1 ? replicas : 1,
    volumeBytes,
    headroomPercent,
    maxFileStoreBytes: size('maxFileStore', props.maxFileStore, floorToMebibytes(usableVolume)),
    maxMemoryStoreBytes: size('maxMemoryStore', props.maxMemoryStore, floorToMebibytes((memoryLimitBytes ?? 0) / 2)),
    maxPayloadBytes: positive('maxPayload', props.maxPayload, DEFAULT_MAX_PAYLOAD,
      `nats-server reads max_payload 0 as its default, ${formatBytes(DEFAULT_MAX_PAYLOAD)}`),
    memoryLimitBytes,
    defaults: defaults.value,
    limits: limits.value,
    maxStreams: props.limits?.maxStreams,
    lameDuckDurationMs,
    lameDuckGracePeriodMs,
    applyJob: resolveApplyJob(props.applyJob ?? {}, duration),
    auth: withApplyJobUser(props.auth ?? NatsAuth.none(), name, props.applyJob?.password),
    tls: props.tls,
    networkPolicy: props.networkPolicy ?? true,
    // Kubernetes takes whole seconds: the default rounds up.
    terminationGracePeriodMs: duration('terminationGracePeriod', props.terminationGracePeriod,
      Math.ceil((minimumGraceMs + LAME_DUCK_MARGIN_MS) / 1000) * 1000),
  };
  problems.push(...storeRuleProblems(value, props, usableVolume, minimumGraceMs));
  problems.push(...labelProblems(props.labels ?? {}, Object.keys(storeLabels(value.name, 'stream-store', value.version.version))));
  problems.push(...annotationProblems(props.annotations ?? {}));
  problems.push(...applyJobProblems(value.applyJob, value.name));
  problems.push(...authProblems(value.auth), ...(value.tls ? tlsProblems(value.tls) : []));
  if (value.auth.kind === AuthKind.USERS && props.applyJob?.password === undefined) {
    problems.push({
      field: 'applyJob.password', value: '(unset)',
      rule: `must name the Secret key of the apply Job's password when the store authenticates users: the Job logs in as "${APPLY_JOB_USER}"`,
    });
  }
  return { value, problems };
}

function storeRuleProblems(s: ResolvedStore, props: StreamStoreProps, usableVolume: number, minimumGraceMs: number): Problem[] {
  const problems: Problem[] = [];
  const add = (field: string, value: string, rule: string) => problems.push({ field, value, rule });

  if (!DNS_LABEL.test(s.name)) {
    add('name', showValue(s.name), 'must be a DNS label: lower-case letters, digits and "-", starting with a letter');
  }
  if (s.name.length > MAX_STORE_NAME_LENGTH) {
    add('name', showValue(s.name), `must be at most ${MAX_STORE_NAME_LENGTH} characters (it has ${s.name.length}): the longest name made from it, `
      + `the apply Job's "<store>-apply-<8 hex>", is also a label of the Job's pods, and a label value has at most ${LABEL_VALUE_LIMIT} characters; `
      + 'names are never truncated');
  }
  const replicas = props.replicas ?? 1;
  if (![1, 3, 5].includes(replicas)) {
    add('replicas', String(replicas), 'must be 1, or 3 or 5 for a cluster: JetStream needs a quorum, so even sizes add no safety');
  }
  if (s.replicas > 1 && s.auth.kind !== AuthKind.NONE && s.tls?.routes === undefined && !s.networkPolicy) {
    add('networkPolicy', 'false', 'needs tls.routes in an authenticated cluster: routes carry no credentials, so any pod that reaches the route port would join the cluster and bypass auth');
  }
  if (s.tls?.routes !== undefined && s.replicas === 1) {
    add('tls.routes', showValue(s.tls.routes.secretName), 'needs replicas 3 or 5: a single server has no routes');
  }
  if (s.maxPayloadBytes > MAX_PENDING_BYTES) {
    add('maxPayload', formatBytes(s.maxPayloadBytes), `must be at most ${formatBytes(MAX_PENDING_BYTES)}, the server's max_pending: a larger one stops the server at startup`);
  }
  if (s.maxFileStoreBytes > usableVolume) {
    const [maxFileStore, usable] = formatBytesReadablePair(s.maxFileStoreBytes, usableVolume);
    add('maxFileStore', maxFileStore, `exceeds the volume ${formatBytes(s.volumeBytes)} minus its ${s.headroomPercent}% headroom (${usable})`);
  }
  if (props.resources !== undefined && props.resources.memory?.limit === undefined && props.maxMemoryStore === undefined) {
    add('maxMemoryStore', '(unset)', 'must be set when the container has no memory limit');
  } else if (s.memoryLimitBytes !== undefined && s.maxMemoryStoreBytes > s.memoryLimitBytes) {
    add('maxMemoryStore', formatBytes(s.maxMemoryStoreBytes), `exceeds the container memory limit ${formatBytes(s.memoryLimitBytes)}`);
  }
  if (s.lameDuckDurationMs < MIN_LAME_DUCK_DURATION_MS) {
    add('lameDuckDuration', formatDuration(s.lameDuckDurationMs), `must be at least ${formatDuration(MIN_LAME_DUCK_DURATION_MS)}, the server's minimum`);
  }
  if (s.terminationGracePeriodMs % 1000 !== 0) {
    add('terminationGracePeriod', formatDuration(s.terminationGracePeriodMs), 'must be a whole number of seconds, as Kubernetes takes it');
  } else if (s.terminationGracePeriodMs < minimumGraceMs) {
    add('terminationGracePeriod', formatDuration(s.terminationGracePeriodMs),
      `must be at least lameDuckGracePeriod ${formatDuration(s.lameDuckGracePeriodMs)} + lameDuckDuration ${formatDuration(s.lameDuckDurationMs)} + ${formatDuration(LAME_DUCK_MARGIN_MS)} = ${formatDuration(minimumGraceMs)}, or the server is killed before lame-duck mode ends`);
  }
  problems.push(...defaultsAboveLimitsProblems(s.defaults, s.limits));
  return problems;
}

/** With users, the apply Job logs in as its own user, allowed only the JetStream management it does. */
function withApplyJobUser(auth: NatsAuth, storeName: string, password: SecretKeyReference | undefined): NatsAuth {
  if (auth.kind !== AuthKind.USERS || password === undefined) return auth;
  return NatsAuth.users([...auth.users, { name: APPLY_JOB_USER, password, permissions: applyJobPermissions(storeName) }]);
}

/**
 * How clients reach the store, as the Argo EventBus publishes in its status: the URL, the auth
 * kind, and the names (never the values) of the Secrets to read.
 */
export function connectionInfo(s: ResolvedStore, namespace: string | undefined): Record<string, string> {
  const host = namespace ? `${s.name}.${namespace}.svc` : s.name;
  return {
    NATS_URL: `nats://${host}:${NATS_PORTS.client}`,
    NATS_AUTH: s.auth.kind,
    ...(s.auth.token ? { NATS_TOKEN_SECRET_NAME: s.auth.token.secretName, NATS_TOKEN_SECRET_KEY: s.auth.token.key } : {}),
    ...(s.tls?.client ? { NATS_CA_SECRET_NAME: s.tls.client.secretName, NATS_CA_SECRET_KEY: TLS_FILES.ca } : {}),
  };
}

function applyJobCredentials(s: ResolvedStore, password: SecretKeyReference | undefined) {
  return {
    user: s.auth.kind === AuthKind.USERS ? APPLY_JOB_USER : undefined,
    password: s.auth.kind === AuthKind.USERS ? password : undefined,
    token: s.auth.kind === AuthKind.TOKEN ? s.auth.token : undefined,
    caSecretName: s.tls?.client?.secretName,
  };
}

function natsConfigOptions(s: ResolvedStore): NatsConfigOptions {
  return {
    clientPort: NATS_PORTS.client,
    monitorPort: NATS_PORTS.monitor,
    serverNameVariable: 'POD_NAME',
    pidFile: `${PATHS.run}/nats.pid`,
    maxPayloadBytes: s.maxPayloadBytes,
    lameDuckDurationMs: s.lameDuckDurationMs,
    lameDuckGracePeriodMs: s.lameDuckGracePeriodMs,
    jetStream: { storeDir: PATHS.data, maxFileStoreBytes: s.maxFileStoreBytes, maxMemoryStoreBytes: s.maxMemoryStoreBytes },
    authorization: natsAuthorization(s.auth),
    tls: s.tls ? natsTls(s.tls) : undefined,
    cluster: s.replicas > 1
      ? {
        name: s.name,
        port: NATS_PORTS.cluster,
        routes: Array.from({ length: s.replicas }, (_, i) => `nats://${s.name}-${i}.${s.name}-headless:${NATS_PORTS.cluster}`),
      }
      : undefined,
  };
}

/**
 * Ingress to the store's servers: the route port only from the servers themselves (routes carry
 * no credentials), every other port from anywhere. Pure.
 */
export function networkPolicySpec(
  selector: Record<string, string>, clustered: boolean, metrics: StreamStoreMetrics | undefined,
): k8s.NetworkPolicySpec {
  const port = (number: number) => ({ port: k8s.IntOrString.fromNumber(number), protocol: 'TCP' });
  const open = servicePorts(false, metrics).map((p) => port(p.port));
  return {
    podSelector: { matchLabels: selector },
    policyTypes: ['Ingress'],
    ingress: [
      { ports: open },
      ...(clustered ? [{ from: [{ podSelector: { matchLabels: selector } }], ports: [port(NATS_PORTS.cluster)] }] : []),
    ],
  };
}

function servicePorts(clustered: boolean, metrics: StreamStoreMetrics | undefined): kplus.ServicePort[] {
  return [
    { name: 'client', port: NATS_PORTS.client, targetPort: NATS_PORTS.client },
    ...(clustered ? [{ name: 'cluster', port: NATS_PORTS.cluster, targetPort: NATS_PORTS.cluster }] : []),
    { name: 'monitor', port: NATS_PORTS.monitor, targetPort: NATS_PORTS.monitor },
    ...(metrics ? [{ name: 'metrics', port: metrics.port ?? 7777, targetPort: metrics.port ?? 7777 }] : []),
  ];
}

/** Renders bytes as a Kubernetes quantity, in the largest binary unit that is exact. */
export function toQuantity(bytes: number): string {
  const units: Array<[string, number]> = [['Ti', 2 ** 40], ['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]];
  const unit = units.find(([, size]) => bytes % size === 0 && bytes >= size);
  return unit ? `${bytes / unit[1]}${unit[0]}` : String(bytes);
}

function floorToMebibytes(bytes: number): number {
  return Math.floor(bytes / 2 ** 20) * 2 ** 20;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
