import * as kplus from 'cdk8s-plus-28';
import * as k8s from 'cdk8s-plus-28/lib/imports/k8s';
import { Construct } from 'constructs';
import {
  APPLY_JOB_OPTIONS_SCHEMA, ApplyJob, ApplyJobCredentials, ApplyJobOptions, applyJobProblems, resolveApplyJob,
} from './apply-job';
import { storeLabels } from './labels';
import { Problem, compileSchema, formatProblem, schemaProblems, withoutBrokenFields } from './problems';
import { defaultsAboveLimitsProblems, hostedStreamProblems } from './store-rules';
import { streamsPartProblems } from './streams-config';
import { LIMIT_PROPERTIES, StreamLimitOptions, StreamPolicy, readUnit, resolveLimits } from './stream-definition';
import { StreamHost } from './stream-host';
import type { GrantOptions, GrantedAccess } from './grants';
import type { StreamStoreLimits } from './stream-store';
import { DurationInput, SizeInput, parseDuration, parseSize } from './units';
import { DEFAULT_NATS_SERVER_VERSION, NatsServerVersion } from './versions';

/** Props of `StreamStore.fromExisting`: a NATS server with JetStream that this app does not deploy. */
export interface ExistingStreamStoreProps {
  /** URL the apply Job connects to, such as `nats://nats.messaging:4222`. */
  readonly url: string;
  /**
   * Name of the store: names its streams ConfigMap and apply Job, and its ownership record on the server.
   * @default - the construct id
   */
  readonly name?: string;
  /**
   * Release the server runs; stream fields newer than it are synth errors.
   * @default NatsServerVersion.V2_15_3
   */
  readonly version?: NatsServerVersion;
  /**
   * Servers in the cluster, the most replicas a stream may have.
   * @default 1
   */
  readonly replicas?: number;
  /**
   * How the apply Job logs in: user and password or token from Secrets, and the CA Secret for TLS.
   * @default - no credentials, plain text
   */
  readonly credentials?: ApplyJobCredentials;
  /**
   * Largest message payload the server accepts.
   * @default 1MiB (the server's own default)
   */
  readonly maxPayload?: SizeInput;
  /**
   * Limits given to streams that set none.
   * @default - none
   */
  readonly defaults?: StreamLimitOptions;
  /**
   * Hard maxima no stream may exceed.
   * @default - none
   */
  readonly limits?: StreamStoreLimits;
  /**
   * The apply Job's settings; its `password` is `credentials.password`.
   * @default - as for a StreamStore
   */
  readonly applyJob?: Omit<ApplyJobOptions, 'password'>;
}

const EXISTING_PROPS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    url: { type: 'string', pattern: '^(nats|tls)://[^\\s]+$' },
    name: { type: 'string', pattern: '^[a-z]([-a-z0-9]*[a-z0-9])?$', maxLength: 48 },
    version: { type: 'object' },
    replicas: { enum: [1, 3, 5] },
    credentials: {
      type: 'object',
      additionalProperties: false,
      properties: {
        user: { type: 'string', minLength: 1 },
        password: { type: 'object', required: ['secretName', 'key'], properties: { secretName: { type: 'string' }, key: { type: 'string' } } },
        token: { type: 'object', required: ['secretName', 'key'], properties: { secretName: { type: 'string' }, key: { type: 'string' } } },
        caSecretName: { type: 'string', minLength: 1 },
      },
    },
    maxPayload: LIMIT_PROPERTIES.maxBytes,
    defaults: { type: 'object', additionalProperties: false, properties: LIMIT_PROPERTIES },
    limits: { type: 'object', additionalProperties: false, properties: { ...LIMIT_PROPERTIES, maxStreams: { type: 'integer', minimum: 1 } } },
    applyJob: { ...APPLY_JOB_OPTIONS_SCHEMA, properties: { ...APPLY_JOB_OPTIONS_SCHEMA.properties, password: false } },
  },
};
const validateExistingProps = compileSchema(EXISTING_PROPS_SCHEMA);

/**
 * Streams on a NATS server this app does not deploy (the Argo EventBus "exotic" case): they are
 * validated as on any store and applied by the same post-deploy Job, and nothing else is
 * synthesized. Its capacity is unknown here, so no capacity rule applies.
 */
export class ExistingStreamStore extends StreamHost {
  public readonly name: string;
  public readonly streamPolicy: StreamPolicy;
  /** The ConfigMap holding the stream definitions the apply Job reads. */
  public readonly streamsConfig: k8s.KubeConfigMap;
  /** The post-deploy Job. */
  public readonly applyJob: ApplyJob;

  private readonly propProblems: Problem[];
  private readonly maxStreams?: number;

  constructor(scope: Construct, id: string, input: ExistingStreamStoreProps) {
    super(scope, id);
    const problems = schemaProblems(validateExistingProps, input);
    const props = withoutBrokenFields(input, problems);
    const defaults = resolveLimits(props.defaults ?? {}, 'defaults');
    const limits = resolveLimits(props.limits ?? {}, 'limits');
    problems.push(...defaults.problems, ...limits.problems, ...defaultsAboveLimitsProblems(defaults.value, limits.value));
    const maxPayloadBytes = readUnit(problems, 'maxPayload', props.maxPayload, 1024 * 1024, parseSize);
    const job = resolveApplyJob(props.applyJob ?? {},
      (field: string, value: DurationInput | undefined, fallback: number) => readUnit(problems, field, value, fallback, parseDuration));
    this.name = props.name ?? id;
    problems.push(...applyJobProblems(job, this.name), ...credentialProblems(props.credentials ?? {}));
    this.propProblems = problems;
    this.maxStreams = props.limits?.maxStreams;
    const version = props.version ?? DEFAULT_NATS_SERVER_VERSION;
    this.streamPolicy = {
      storeName: this.name, replicas: props.replicas ?? 1, version, maxPayloadBytes, defaults: defaults.value, limits: limits.value,
    };
    const labels = storeLabels(this.name, 'stream-apply', version.version);
    this.streamsConfig = this.createStreamsConfigs((name) => ({ name, labels }), () => this.applyJob.job);
    this.applyJob = new ApplyJob(this, 'ApplyJob', {
      ...job,
      storeName: this.name,
      storeReplicas: props.replicas ?? 1,
      natsUrl: props.url,
      streams: () => this.streamsVolume(),
      labels,
      credentials: props.credentials ?? {},
    });
    this.applyJob.node.addDependency(this.streamsConfig);
    this.node.addValidation({ validate: () => this.problems().map((p) => `store "${this.name}": ${formatProblem(p)}`) });
  }

  /** Grants need users this app configures on the server: not possible on a server it does not deploy. */
  public grantAccess(workload: kplus.AbstractPod | kplus.Workload, access: GrantedAccess, _options: GrantOptions): void {
    this.propProblems.push({
      field: 'grant', value: access.target,
      rule: `cannot give ${workload.node.path} a user on an existing server this app does not deploy: create the user on that server and wire its credentials yourself`,
    });
  }

  private problems(): Problem[] {
    return [
      ...this.propProblems,
      ...hostedStreamProblems(this.hostedStreams(), this.maxStreams, undefined, this.streamPolicy.version),
      ...streamsPartProblems(this.streamsParts()),
    ];
  }
}

/** Credentials the apply Job could not log in with: a user without a password or the reverse, or both a token and a user. */
function credentialProblems(credentials: ApplyJobCredentials): Problem[] {
  const problems: Problem[] = [];
  if ((credentials.user === undefined) !== (credentials.password === undefined)) {
    const [given, missing] = credentials.user === undefined ? ['password', 'user'] : ['user', 'password'];
    problems.push({ field: `credentials.${given}`, value: '(set)', rule: `needs credentials.${missing}: the Job logs in with both` });
  }
  if (credentials.token !== undefined && (credentials.user !== undefined || credentials.password !== undefined)) {
    problems.push({ field: 'credentials.token', value: '(set)', rule: 'cannot be combined with a user and password: the server takes one or the other' });
  }
  return problems;
}
