import { createHash } from 'crypto';
import { ApiObject, Duration, JsonPatch, Lazy, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { ApplyProgram, deliverProgram } from './apply-program';
import { STALE_EXIT_CODE } from './apply/names';
import { PlanExitCode } from './apply/plan';
import { SecretKeyReference, TLS_FILES } from './auth';
import { RUN_AS, caVolume, hardenedContainer, hardenedPodPatches, secretEnvValue } from './pod-security';
import { withoutConstructPathLabel } from './labels';
import { afterRendering } from './rendering';
import { storedForm } from './stored-form';
import { Problem } from './problems';
import { LIMIT_PROPERTIES } from './stream-definition';
import type { StreamsVolume } from './stream-host';
import { DurationInput, formatDuration } from './units';

/** Deployment tools that can run the apply Job as a hook after they sync. */
export enum ApplyJobHook {
  /** Argo CD runs the Job after every sync (`argocd.argoproj.io/hook: PostSync`). */
  ARGO_CD_POST_SYNC = 'ArgoCdPostSync',
  /** Helm runs the Job after install and upgrade (`helm.sh/hook: post-install,post-upgrade`). */
  HELM_POST_INSTALL_UPGRADE = 'HelmPostInstallUpgrade',
}

/** Settings of a store's drift check: a CronJob that compares the live server with the definitions. */
export interface DriftCheckOptions {
  /**
   * When it runs, as a CronJob schedule (five cron fields, or `@hourly` and the like).
   * @default "*\/10 * * * *": every 10 minutes
   */
  readonly schedule?: string;
  /**
   * Repair what is safe to repair unattended: re-create streams that are missing (memory streams
   * after every server restarted, a stream deleted by hand) and undo configuration changed by hand,
   * where no stored message is lost. It never deletes a stream, and ignores `allowDataLoss`.
   * @default false: report drift only (the check fails, with the drift in its log and termination message)
   */
  readonly repair?: boolean;
}

/** Settings of a store's post-deploy Job. */
export interface ApplyJobOptions {
  /**
   * Node image that runs the apply program, pinned to an exact tag.
   * @default node:24.22.3-alpine
   */
  readonly image?: string;
  /**
   * Path of the apply program (`lib/bundle/jetstream-apply.js` of this package) inside `image`, for
   * teams that publish the program in an image of their own; the chart then ships no program ConfigMap.
   * @default - the program comes from a ConfigMap shared by the stores of the namespace
   */
  readonly programPath?: string;
  /**
   * How long the program waits for the server and JetStream before it fails.
   * @default 5m
   */
  readonly waitTimeout?: DurationInput;
  /**
   * Streams changed at once.
   * @default 32
   */
  readonly concurrency?: number;
  /**
   * How long a finished Job is kept before Kubernetes deletes it.
   * @default 24h
   */
  readonly ttlAfterFinished?: DurationInput;
  /**
   * Retries of a failed pod.
   * @default 3
   */
  readonly backoffLimit?: number;
  /**
   * Deadline of the whole Job.
   * @default - the wait timeout plus 10 minutes
   */
  readonly activeDeadline?: DurationInput;
  /**
   * The Secret key of the password of the Job's own user, `jetstream-apply`; required when
   * the store authenticates users. The store gives that user only the JetStream management
   * rights the program uses.
   * @default - none: the Job connects as the store's auth allows (the token, or no credentials)
   */
  readonly password?: SecretKeyReference;
  /**
   * Run the Job as a hook of a deployment tool.
   * @default - a plain Job, run by `kubectl apply`
   */
  readonly hook?: ApplyJobHook;
  /**
   * The drift check: a CronJob `<store>-drift` in the Job's pod, that runs the program's `plan` (or
   * `repair`) on a schedule; `false` for none.
   * @default - a check every 10 minutes that reports drift only
   */
  readonly drift?: DriftCheckOptions | false;
}

/** The drift check with its defaults applied. */
export interface ResolvedDriftCheck {
  readonly schedule: string;
  readonly repair: boolean;
}

/** What the Job needs from its store, resolved. */
export interface ApplyJobSettings {
  /** The store name; the Job is named `<store>-apply-<hash>`. */
  readonly storeName: string;
  /** Servers in the store, for the ownership bucket's replicas. */
  readonly storeReplicas: number;
  /** The client URL of the store. */
  readonly natsUrl: string;
  /** The store's definitions ConfigMaps and their digest, known once the app has validated. */
  readonly streams: () => StreamsVolume;
  readonly waitTimeoutMs: number;
  readonly concurrency: number;
  readonly ttlAfterFinishedMs: number;
  readonly backoffLimit: number;
  readonly activeDeadlineMs: number;
  readonly image: string;
  readonly programPath?: string;
  readonly hook?: ApplyJobHook;
  readonly drift?: ResolvedDriftCheck;
  readonly labels: Record<string, string>;
  readonly annotations?: Record<string, string>;
  /** How the program logs in, and the Secret holding the CA it trusts. */
  readonly credentials: ApplyJobCredentials;
}

/** How the apply program logs in: from Secrets, never from values in the manifests. */
export interface ApplyJobCredentials {
  readonly user?: string;
  readonly password?: SecretKeyReference;
  readonly token?: SecretKeyReference;
  /** A Secret with `ca.crt`, the CA of the server's TLS certificate. */
  readonly caSecretName?: string;
}

/** The user the apply Job logs in as when the store authenticates users. */
export const APPLY_JOB_USER = 'jetstream-apply';

/** The official Node image the program runs in; no image of our own to build. */
export const DEFAULT_APPLY_IMAGE = 'node:24.22.3-alpine';
const STREAMS_DIR = '/etc/jetstream-streams';
const CA_DIR = '/etc/jetstream-ca';

const HOOK_ANNOTATIONS: Record<ApplyJobHook, Record<string, string>> = {
  [ApplyJobHook.ARGO_CD_POST_SYNC]: {
    'argocd.argoproj.io/hook': 'PostSync',
    'argocd.argoproj.io/hook-delete-policy': 'BeforeHookCreation',
  },
  [ApplyJobHook.HELM_POST_INSTALL_UPGRADE]: {
    'helm.sh/hook': 'post-install,post-upgrade',
    'helm.sh/hook-delete-policy': 'before-hook-creation',
  },
};

/**
 * The post-deploy Job of a store: runs the apply program, from the namespace's {@link ApplyProgram}
 * ConfigMap or from its own image, in a pinned Node image, on the store's definitions ConfigMaps.
 *
 * A Job's pod template cannot change under `kubectl apply`, so the Job's name carries a short hash
 * of its whole spec, which names the program's content-addressed ConfigMap and the digest of the
 * definitions: changed definitions or a new program make a new Job, unchanged ones re-apply the
 * same Job as a no-op.
 */
export class ApplyJob extends Construct {
  /** The program's ConfigMap, shared by the namespace's stores; none when the program is in the image. */
  public readonly program?: ApplyProgram;
  /** The Job. */
  public readonly job: kplus.Job;
  /** The drift check's CronJob, when the store has one. */
  public readonly driftCheck?: ApiObject;

  constructor(scope: Construct, id: string, settings: ApplyJobSettings) {
    super(scope, id);
    const metadata = (name: string) => ({ name, labels: settings.labels, annotations: settings.annotations });
    this.job = new kplus.Job(this, 'Job', {
      // The real name, with its hash, is set once every stream is known: see below.
      metadata: { ...metadata(`${settings.storeName}-apply`), annotations: { ...settings.annotations, ...hookAnnotations(settings.hook) } },
      podMetadata: { labels: settings.labels },
      backoffLimit: settings.backoffLimit,
      activeDeadline: Duration.seconds(Math.ceil(settings.activeDeadlineMs / 1000)),
      ttlAfterFinished: Duration.seconds(Math.ceil(settings.ttlAfterFinishedMs / 1000)),
      automountServiceAccountToken: false,
      securityContext: { ensureNonRoot: true, user: RUN_AS, group: RUN_AS },
    });
    const delivery = deliverProgram(this, this.job, settings.programPath);
    this.program = delivery.program;
    this.job.addContainer({
      name: 'apply',
      image: settings.image,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      command: delivery.command('apply'),
      envVariables: {
        NATS_URL: kplus.EnvValue.fromValue(settings.natsUrl),
        STREAMS_FILE: kplus.EnvValue.fromValue(STREAMS_DIR),
        WAIT_TIMEOUT: kplus.EnvValue.fromValue(`${Math.ceil(settings.waitTimeoutMs / 1000)}s`),
        CONCURRENCY: kplus.EnvValue.fromValue(String(settings.concurrency)),
        OWNER_REPLICAS: kplus.EnvValue.fromValue(String(Math.min(3, settings.storeReplicas))),
        // The container's terminationMessagePath, which kubectl shows as the terminated state's message.
        TERMINATION_LOG: kplus.EnvValue.fromValue('/dev/termination-log'),
        ...this.credentialEnvironment(settings.credentials),
      },
      resources: { cpu: { request: kplus.Cpu.millis(50) }, memory: { request: Size.mebibytes(128), limit: Size.mebibytes(256) } },
      securityContext: hardenedContainer(),
      volumeMounts: [
        ...delivery.volumeMounts,
        ...(settings.credentials.caSecretName ? [{
          path: CA_DIR,
          readOnly: true,
          volume: caVolume(this, 'CaVolume', settings.credentials.caSecretName, 'ca'),
        }] : []),
      ],
    });
    afterRendering(ApiObject.of(this.job), (job) => finishJob(job, settings.storeName, settings.streams()));
    const drift = settings.drift;
    if (drift) {
      const labels = { ...settings.labels, 'app.kubernetes.io/component': 'stream-drift' };
      this.driftCheck = new ApiObject(this, 'DriftCheck', {
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: { name: driftCheckName(settings.storeName), labels, annotations: settings.annotations },
        spec: Lazy.any({ produce: () => driftCheckSpec(ApiObject.of(this.job).toJson(), drift, labels) }),
      });
      // It mounts what the Job mounts: after the Job, so after everything the Job waits for.
      this.driftCheck.node.addDependency(this.job);
    }
  }

  /** The program's credentials as environment variables, the secrets read from their Secrets. */
  private credentialEnvironment(credentials: ApplyJobCredentials): Record<string, kplus.EnvValue> {
    return {
      ...(credentials.user ? { NATS_USER: kplus.EnvValue.fromValue(credentials.user) } : {}),
      ...(credentials.password ? { NATS_PASSWORD: secretEnvValue(this, credentials.password) } : {}),
      ...(credentials.token ? { NATS_TOKEN: secretEnvValue(this, credentials.token) } : {}),
      ...(credentials.caSecretName ? { NATS_CA_FILE: kplus.EnvValue.fromValue(`${CA_DIR}/${TLS_FILES.ca}`) } : {}),
    };
  }
}

/**
 * Mounts the definitions, names the rendered Job after a hash of its spec, and adds what
 * cdk8s-plus-28 cannot express: the pod's seccomp profile, no service links, the termination
 * message policy, and a pod failure policy (refused streams and stale definitions fail the Job at
 * once: a retry would end the same way; a pod evicted by a node drain is retried without counting
 * against the backoff limit).
 */
export function finishJob(job: any, storeName: string, streams: StreamsVolume): any {
  const podSpec = '/spec/template/spec';
  const pod = job.spec.template.spec;
  const container = pod.containers[0];
  const finished = JsonPatch.apply(job,
    ...hardenedPodPatches(podSpec),
    // The definitions ConfigMaps as one directory, one file each; the digest makes the program refuse any other content.
    JsonPatch.add(`${podSpec}/volumes`, [...(pod.volumes ?? []), {
      name: 'streams',
      projected: { sources: streams.configMaps.map((name) => ({ configMap: { name, items: [{ key: streams.key, path: `${name}.json` }] } })) },
    }]),
    JsonPatch.add(`${podSpec}/containers/0/volumeMounts`, [...(container.volumeMounts ?? []), { name: 'streams', mountPath: STREAMS_DIR, readOnly: true }]),
    JsonPatch.add(`${podSpec}/containers/0/env`, [...(container.env ?? []), { name: 'STREAMS_DIGEST', value: streams.digest }]),
    // The program writes a JSON summary there; logs are the fallback when it could not.
    JsonPatch.add(`${podSpec}/containers/0/terminationMessagePolicy`, 'FallbackToLogsOnError'),
    JsonPatch.add('/spec/podFailurePolicy', {
      rules: [
        { action: 'FailJob', onExitCodes: { containerName: 'apply', operator: 'In', values: [PlanExitCode.REFUSED, STALE_EXIT_CODE] } },
        { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      ],
    }));
  const stored = storedForm(withoutConstructPathLabel(finished));
  const hash = createHash('sha256')
    .update(JSON.stringify({ ...stored, metadata: { ...stored.metadata, name: undefined } }))
    .digest('hex');
  stored.metadata.name = `${storeName}-apply-${hash.slice(0, 8)}`;
  return stored;
}

/**
 * The drift check's CronJob spec, from the finished Job: the same pod (image, program, definitions
 * and their digest, credentials, hardening) running `plan` or `repair` once per schedule, one at a
 * time, without retries: a check that finds drift fails, and the next one runs on schedule. Pure.
 */
export function driftCheckSpec(job: any, drift: ResolvedDriftCheck, labels: Record<string, string>): any {
  const template = JSON.parse(JSON.stringify(job.spec.template));
  template.metadata = { ...template.metadata, labels };
  const container = template.spec.containers[0];
  container.command = [...container.command.slice(0, -1), drift.repair ? 'repair' : 'plan'];
  return {
    schedule: drift.schedule,
    concurrencyPolicy: 'Forbid',
    successfulJobsHistoryLimit: 1,
    failedJobsHistoryLimit: 3,
    jobTemplate: {
      metadata: { labels },
      spec: { backoffLimit: 0, activeDeadlineSeconds: job.spec.activeDeadlineSeconds, template },
    },
  };
}

/** Kubernetes' longest CronJob name: its Jobs add 11 characters, and a Job's name is a label of its pods. */
const MAX_CRON_JOB_NAME = 52;
/** Kubernetes' longest label value. */
export const LABEL_VALUE_LIMIT = 63;
/**
 * The longest store name: the longest name made from it, the apply Job's `<store>-apply-<8 hex>`, is also
 * a label of the Job's pods. The other names fit: the StatefulSet's (at most 52: its pods' revision label
 * adds 11 characters to it) and the headless Service's `<store>-headless` (a DNS label); the drift
 * check's CronJob `<store>-drift` needs two fewer, a rule of its own.
 */
export const MAX_STORE_NAME_LENGTH = LABEL_VALUE_LIMIT - '-apply-'.length - 8;

function driftCheckName(storeName: string): string {
  return `${storeName}-drift`;
}

function hookAnnotations(hook: ApplyJobHook | undefined): Record<string, string> {
  return hook === undefined ? {} : HOOK_ANNOTATIONS[hook];
}

/** JSON Schema of `ApplyJobOptions`. */
export const APPLY_JOB_OPTIONS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    password: {
      type: 'object',
      additionalProperties: false,
      required: ['secretName', 'key'],
      properties: { secretName: { type: 'string' }, key: { type: 'string' } },
    },
    image: { type: 'string', minLength: 1 },
    programPath: { type: 'string', pattern: '^/' },
    waitTimeout: LIMIT_PROPERTIES.maxAge,
    concurrency: { type: 'integer', minimum: 1, maximum: 256 },
    ttlAfterFinished: LIMIT_PROPERTIES.maxAge,
    backoffLimit: { type: 'integer', minimum: 0 },
    activeDeadline: LIMIT_PROPERTIES.maxAge,
    hook: { enum: Object.values(ApplyJobHook) },
    drift: {
      description: 'false, or { schedule, repair } with a schedule of five cron fields or a descriptor such as "@hourly"',
      anyOf: [
        { const: false },
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            // Five fields, or a descriptor such as @hourly: the API server checks the rest.
            schedule: { type: 'string', pattern: '^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|\\S+( +\\S+){4})$' },
            repair: { type: 'boolean' },
          },
        },
      ],
    },
  },
};

/** The apply Job's settings with every default applied. */
export interface ResolvedApplyJob {
  readonly image: string;
  readonly programPath?: string;
  readonly waitTimeoutMs: number;
  readonly concurrency: number;
  readonly ttlAfterFinishedMs: number;
  readonly backoffLimit: number;
  readonly activeDeadlineMs: number;
  readonly hook?: ApplyJobHook;
  /** Undefined when the store has no drift check. */
  readonly drift?: ResolvedDriftCheck;
}

/** Every 10 minutes: memory streams lost to a restart are back (with `repair`) well within an hour. */
const DEFAULT_DRIFT_SCHEDULE = '*/10 * * * *';

/** The apply Job's options with every default applied; `duration` reads a duration prop, collecting problems. */
export function resolveApplyJob(
  options: ApplyJobOptions, duration: (field: string, input: DurationInput | undefined, fallback: number) => number,
): ResolvedApplyJob {
  const waitTimeoutMs = duration('applyJob.waitTimeout', options.waitTimeout, 5 * 60_000);
  return {
    image: options.image ?? DEFAULT_APPLY_IMAGE,
    programPath: options.programPath,
    waitTimeoutMs,
    concurrency: options.concurrency ?? 32,
    ttlAfterFinishedMs: duration('applyJob.ttlAfterFinished', options.ttlAfterFinished, 24 * 3_600_000),
    backoffLimit: options.backoffLimit ?? 3,
    activeDeadlineMs: duration('applyJob.activeDeadline', options.activeDeadline, waitTimeoutMs + 10 * 60_000),
    hook: options.hook,
    drift: options.drift === false ? undefined : { schedule: options.drift?.schedule ?? DEFAULT_DRIFT_SCHEDULE, repair: options.drift?.repair ?? false },
  };
}

/** The apply Job's own rules: its deadline must outlast its wait for the server, and its CronJob's name fit. */
export function applyJobProblems(job: ResolvedApplyJob, storeName: string): Problem[] {
  const problems: Problem[] = [];
  if (job.activeDeadlineMs <= job.waitTimeoutMs) {
    problems.push({
      field: 'applyJob.activeDeadline',
      value: formatDuration(job.activeDeadlineMs),
      rule: `must be longer than applyJob.waitTimeout ${formatDuration(job.waitTimeoutMs)}, or the Job is stopped before the program gives up waiting`,
    });
  }
  const cronJob = driftCheckName(storeName);
  // A name over the store's own limit is reported once, by that rule.
  if (job.drift && cronJob.length > MAX_CRON_JOB_NAME && storeName.length <= MAX_STORE_NAME_LENGTH) {
    problems.push({
      field: 'applyJob.drift',
      value: JSON.stringify(cronJob),
      rule: `names a CronJob of ${cronJob.length} characters, and Kubernetes allows ${MAX_CRON_JOB_NAME}: `
        + `use a store name of at most ${MAX_CRON_JOB_NAME - cronJob.length + storeName.length} characters, or set applyJob.drift to false`,
    });
  }
  return problems;
}
