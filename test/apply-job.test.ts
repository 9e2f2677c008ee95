import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { Chart, Testing } from 'cdk8s';
import { Construct } from 'constructs';
import { ApplyJobHook, StreamOptions, StreamStore, StreamStoreProps } from '../src';
import { finishJob } from '../src/apply-job';
import { streamsDigest } from '../src/apply/definitions';
import { validationErrors } from './support/validation-errors';

function synth(props: StreamStoreProps = {}, streams: Array<[string, StreamOptions]> = [['orders', {}]]): any[] {
  const chart = new Chart(Testing.app(), 'test');
  const store = new StreamStore(chart, 'events', props);
  for (const [id, options] of streams) store.addStream(id, options);
  return Testing.synth(chart);
}

const job = (objects: any[]) => objects.find((o) => o.kind === 'Job');
const env = (objects: any[]) => Object.fromEntries(job(objects).spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));

const synthErrors = (props: StreamStoreProps) => validationErrors(() => synth(props));

describe('apply Job', () => {
  test('runs the compressed program from the namespace\'s program ConfigMap against the store\'s client Service', () => {
    const objects = synth();
    const program = objects.find((o) => o.metadata.name.startsWith('jetstream-apply-'));
    const compressed = Buffer.from(program.binaryData['jetstream-apply.js.gz'], 'base64');
    expect(gunzipSync(compressed).toString('utf8')).toBe(fs.readFileSync(path.join(__dirname, '../lib/bundle/jetstream-apply.js'), 'utf8'));
    expect(program.metadata.name).toBe(`jetstream-apply-${createHash('sha256').update(compressed).digest('hex').slice(0, 10)}`);
    expect(program.immutable).toBe(true);
    expect(program.data['run.js']).toContain("zlib.gunzipSync(fs.readFileSync(file + '.gz'))");
    const container = job(objects).spec.template.spec.containers[0];
    expect(container.command).toEqual(['node', '/opt/jetstream-apply/run.js', 'apply']);
    expect(env(objects)).toEqual({
      NATS_URL: 'nats://events:4222',
      STREAMS_FILE: '/etc/jetstream-streams',
      STREAMS_DIGEST: expect.stringMatching(/^[0-9a-f]{64}$/),
      WAIT_TIMEOUT: '300s',
      CONCURRENCY: '32',
      OWNER_REPLICAS: '1',
      // The container's default terminationMessagePath, which kubectl shows.
      TERMINATION_LOG: '/dev/termination-log',
    });
    expect(container.terminationMessagePath).toBeUndefined();
    expect(job(objects).spec.template.spec.volumes).toEqual([
      { configMap: { name: program.metadata.name }, name: 'program' },
      {
        name: 'streams',
        projected: { sources: [{ configMap: { name: 'events-streams', items: [{ key: 'streams.json', path: 'events-streams.json' }] } }] },
      },
    ]);
    // Before the program and definitions it reads, in apply order.
    const order = objects.map((o) => o.metadata.name);
    expect(order.indexOf(job(objects).metadata.name)).toBeGreaterThan(order.indexOf(program.metadata.name));
    expect(order.indexOf(job(objects).metadata.name)).toBeGreaterThan(order.indexOf('events-streams'));
  });

  test('shares one program ConfigMap among the stores of a chart', () => {
    const chart = new Chart(Testing.app(), 'test');
    new StreamStore(chart, 'a');
    new StreamStore(chart, 'b');
    const objects = Testing.synth(chart);
    const programs = objects.filter((o) => o.metadata.name.startsWith('jetstream-apply-'));
    expect(programs).toHaveLength(1);
    const mounted = objects.filter((o) => o.kind === 'Job').map((j) => j.spec.template.spec.volumes[0].configMap.name);
    expect(mounted).toEqual([programs[0].metadata.name, programs[0].metadata.name]);
  });

  test('runs the program from the image with programPath, shipping no program ConfigMap', () => {
    const objects = synth({ applyJob: { image: 'registry.example/jetstream-apply:1.0.0', programPath: '/app/jetstream-apply.js' } });
    expect(objects.filter((o) => o.metadata.name.startsWith('jetstream-apply-'))).toEqual([]);
    const pod = job(objects).spec.template.spec;
    expect(pod.containers[0].command).toEqual(['node', '/app/jetstream-apply.js', 'apply']);
    expect(pod.volumes.map((v: any) => v.name)).toEqual(['streams']);
  });

  test('fails on a programPath that is not absolute', () => {
    expect(synthErrors({ applyJob: { programPath: 'app/jetstream-apply.js' } })).toEqual([
      '[test/events] store "events": applyJob.programPath "app/jetstream-apply.js" must match pattern "^/"',
    ]);
  });

  test('mounts every definitions ConfigMap of a large store, and the digest of what they hold', () => {
    const objects = synth({}, Array.from({ length: 400 }, (_, i): [string, StreamOptions] => [`stream-${i}`, {}]));
    const parts = objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('events-streams'));
    expect(parts.length).toBeGreaterThan(2);
    const sources = job(objects).spec.template.spec.volumes.find((v: any) => v.name === 'streams').projected.sources;
    const files = parts.map((p) => `${p.metadata.name}.json`).sort();
    expect(sources.map((s: any) => s.configMap.items[0].path)).toEqual(files);
    const texts = files.map((file) => parts.find((p) => `${p.metadata.name}.json` === file).data['streams.json']);
    expect(env(objects).STREAMS_DIGEST).toBe(streamsDigest(texts));
  });

  test('fails at once when streams are refused, and retries a pod a node drain evicted without counting it', () => {
    expect(job(synth()).spec.podFailurePolicy).toEqual({
      rules: [
        { action: 'FailJob', onExitCodes: { containerName: 'apply', operator: 'In', values: [3, 4] } },
        { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      ],
    });
  });

  test('has a TTL, a backoff limit and a deadline, and no service account token', () => {
    const spec = job(synth()).spec;
    expect([spec.ttlSecondsAfterFinished, spec.backoffLimit, spec.activeDeadlineSeconds]).toEqual([86400, 3, 900]);
    expect(spec.template.spec.automountServiceAccountToken).toBe(false);
    expect(spec.template.spec.restartPolicy).toBe('Never');
  });

  test('runs hardened: non-root, read-only root filesystem, no capabilities, seccomp RuntimeDefault', () => {
    const pod = job(synth()).spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers[0].securityContext).toMatchObject({
      readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] },
    });
    expect(pod.containers[0].terminationMessagePolicy).toBe('FallbackToLogsOnError');
  });

  test('follows its props', () => {
    const objects = synth({
      replicas: 5,
      applyJob: { image: 'registry.local/node:20.18.1', waitTimeout: '2m', concurrency: 8, ttlAfterFinished: '1h', backoffLimit: 1, activeDeadline: '30m' },
    });
    const spec = job(objects).spec;
    expect([spec.ttlSecondsAfterFinished, spec.backoffLimit, spec.activeDeadlineSeconds]).toEqual([3600, 1, 1800]);
    expect(spec.template.spec.containers[0].image).toBe('registry.local/node:20.18.1');
    expect(env(objects)).toMatchObject({ WAIT_TIMEOUT: '120s', CONCURRENCY: '8', OWNER_REPLICAS: '3' });
  });

  test.each<[ApplyJobHook, Record<string, string>]>([
    [ApplyJobHook.ARGO_CD_POST_SYNC, { 'argocd.argoproj.io/hook': 'PostSync', 'argocd.argoproj.io/hook-delete-policy': 'BeforeHookCreation' }],
    [ApplyJobHook.HELM_POST_INSTALL_UPGRADE, { 'helm.sh/hook': 'post-install,post-upgrade', 'helm.sh/hook-delete-policy': 'before-hook-creation' }],
  ])('carries the %s hook annotations', (hook, annotations) => {
    expect(job(synth({ applyJob: { hook } })).metadata.annotations).toEqual(annotations);
  });

  test('has no hook annotations by default', () => {
    expect(job(synth()).metadata.annotations).toBeUndefined();
  });

  describe('name', () => {
    const name = (props: StreamStoreProps = {}, streams?: Array<[string, StreamOptions]>) => job(synth(props, streams)).metadata.name;

    test('is the store name and a short hash', () => {
      expect(name()).toMatch(/^events-apply-[0-9a-f]{8}$/);
    });

    test('is the same for the same definitions: re-applying is a no-op', () => {
      expect(name()).toBe(name());
    });

    test.each<[string, StreamStoreProps, Array<[string, StreamOptions]>]>([
      ['a changed stream', {}, [['orders', { maxAge: '1h' }]]],
      ['an added stream', {}, [['orders', {}], ['audit', {}]]],
      ['a changed image', { applyJob: { image: 'node:20.18.0-alpine' } }, [['orders', {}]]],
      ['changed connection settings', { applyJob: { waitTimeout: '1m' } }, [['orders', {}]]],
    ])('changes with %s', (_what, props, streams) => {
      expect(name(props, streams)).not.toBe(name());
    });

    test('changes with the program and the definitions, as both are named in its spec', () => {
      const rendered = (program: string) => ({
        metadata: { name: 'events-apply' },
        spec: { template: { spec: { securityContext: {}, volumes: [{ name: 'program', configMap: { name: program } }], containers: [{ name: 'apply', env: [], volumeMounts: [] }] } } },
      });
      const streams = (digest: string) => ({ configMaps: ['events-streams'], key: 'streams.json', digest });
      const named = (program: string, digest: string) => finishJob(rendered(program), 'events', streams(digest)).metadata.name;
      expect(named('jetstream-apply-1', 'a'.repeat(64))).toBe(named('jetstream-apply-1', 'a'.repeat(64)));
      expect(named('jetstream-apply-2', 'a'.repeat(64))).not.toBe(named('jetstream-apply-1', 'a'.repeat(64)));
      expect(named('jetstream-apply-1', 'b'.repeat(64))).not.toBe(named('jetstream-apply-1', 'a'.repeat(64)));
    });

    test('does not change when the store moves in the construct tree or its chart is renamed', () => {
      const jobOf = (chartId: string, nested: boolean) => {
        const chart = new Chart(Testing.app(), chartId);
        const scope = nested ? new Construct(chart, 'Messaging') : chart;
        new StreamStore(scope, 'events', { name: 'events' }).addStream('orders');
        return job(Testing.synth(chart));
      };
      const before = jobOf('test', false);
      const after = jobOf('renamed', true);
      expect(after.metadata.name).toBe(before.metadata.name);
      expect(after.spec.template.metadata.labels).toEqual(before.spec.template.metadata.labels);
      expect(Object.keys(after.spec.template.metadata.labels)).not.toContain('cdk8s.io/metadata.addr');
    });
  });

  test('fails on a deadline that does not outlast the wait for the server', () => {
    expect(synthErrors({ applyJob: { waitTimeout: '10m', activeDeadline: '10m' } })).toEqual([
      '[test/events] store "events": applyJob.activeDeadline 10m must be longer than applyJob.waitTimeout 10m, or the Job is stopped before the program gives up waiting',
    ]);
  });

  test('fails on unknown and malformed Job props', () => {
    expect(synthErrors({ applyJob: { concurrency: 0, hook: 'Flux', ttl: '1h' } as any })).toEqual([
      '[test/events] store "events": applyJob.ttl "1h" is not a known property',
      '[test/events] store "events": applyJob.concurrency 0 must be >= 1',
      '[test/events] store "events": applyJob.hook "Flux" must be one of "ArgoCdPostSync", "HelmPostInstallUpgrade"',
    ]);
  });
});

describe('streams document', () => {
  test('writes allowDataLoss and adopt only for the streams that set them', () => {
    const objects = synth({}, [['a', { allowDataLoss: true }], ['b', { adopt: true }], ['c', {}]]);
    const document = JSON.parse(objects.find((o) => o.metadata.name === 'events-streams').data['streams.json']);
    expect(document.streams.map(({ config, ...rest }: any) => [config.name, rest])).toEqual([
      ['a', { retentionPolicy: 'Retain', allowDataLoss: true }],
      ['b', { retentionPolicy: 'Retain', adopt: true }],
      ['c', { retentionPolicy: 'Retain' }],
    ]);
  });
});

describe('the apply program ConfigMap, one per namespace of the app', () => {
  const compressed = fs.readFileSync(path.join(__dirname, '../lib/bundle/jetstream-apply.js.gz'));
  const PROGRAM_NAME = `jetstream-apply-${createHash('sha256').update(compressed).digest('hex').slice(0, 10)}`;

  /** Each chart's program ConfigMaps, and the program ConfigMap its Job mounts. */
  function programs(charts: Array<[string, string | undefined]>) {
    const app = Testing.app();
    const built = charts.map(([id, namespace]) => {
      const chart = new Chart(app, id, { namespace });
      new StreamStore(chart, `${id}-store`, {}).addStream('orders', {});
      return chart;
    });
    return Object.fromEntries(built.map((chart) => {
      const objects = Testing.synth(chart);
      const job = objects.find((o) => o.kind === 'Job');
      const mounted = job.spec.template.spec.volumes.map((v: any) => v.configMap?.name).filter((n: string | undefined) => n?.startsWith('jetstream-apply-'));
      const own = objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('jetstream-apply-')).map((o) => o.metadata.name);
      return [chart.node.id, { own: own.length, mounts: mounted.length === 1 && mounted[0] === PROGRAM_NAME }];
    }));
  }

  test('the first chart of a namespace holds it, later charts of that namespace mount it, and no namespace is "default"', () => {
    expect(programs([['a', undefined], ['b', 'default'], ['c', 'shop'], ['d', 'shop']])).toEqual({
      a: { own: 1, mounts: true },
      b: { own: 0, mounts: true },
      c: { own: 1, mounts: true },
      d: { own: 0, mounts: true },
    });
  });

  test('two apps in one process each get their own', () => {
    expect(programs([['a', 'shop']])).toEqual({ a: { own: 1, mounts: true } });
    expect(programs([['a', 'shop']])).toEqual({ a: { own: 1, mounts: true } });
  });
});

describe('drift check', () => {
  const cronJob = (objects: any[]) => objects.find((o) => o.kind === 'CronJob');

  test('by default a CronJob runs the Job\'s pod with plan every 10 minutes, one at a time, without retries, after the Job', () => {
    const objects = synth();
    const check = cronJob(objects);
    expect(check.metadata).toMatchObject({ name: 'events-drift', labels: { 'app.kubernetes.io/component': 'stream-drift' } });
    expect(check.spec).toMatchObject({ schedule: '*/10 * * * *', concurrencyPolicy: 'Forbid', jobTemplate: { spec: { backoffLimit: 0 } } });
    const pod = check.spec.jobTemplate.spec.template.spec;
    const jobPod = job(objects).spec.template.spec;
    expect(pod.containers[0].command).toEqual(['node', '/opt/jetstream-apply/run.js', 'plan']);
    // The same pod otherwise: program, definitions and their digest, hardening.
    expect({ ...pod, containers: [{ ...pod.containers[0], command: undefined }] })
      .toEqual({ ...jobPod, containers: [{ ...jobPod.containers[0], command: undefined }] });
    expect(check.spec.jobTemplate.spec.template.metadata.labels['app.kubernetes.io/component']).toBe('stream-drift');
    const order = objects.map((o) => o.metadata.name);
    expect(order.indexOf('events-drift')).toBeGreaterThan(order.indexOf(job(objects).metadata.name));
  });

  test('repairs on its schedule when asked, and is left out with false', () => {
    const repairing = cronJob(synth({ applyJob: { drift: { schedule: '@hourly', repair: true } } }));
    expect([repairing.spec.schedule, repairing.spec.jobTemplate.spec.template.spec.containers[0].command[2]]).toEqual(['@hourly', 'repair']);
    expect(cronJob(synth({ applyJob: { drift: false } }))).toBeUndefined();
  });

  test('fails on a schedule that is not cron, and on a store name too long for a CronJob', () => {
    expect(synthErrors({ applyJob: { drift: { schedule: 'hourly' } } })).toEqual([
      '[test/events] store "events": applyJob.drift {"schedule":"hourly"} must be false, or { schedule, repair } with a schedule of five '
        + 'cron fields or a descriptor such as "@hourly"',
    ]);
    const chart = new Chart(Testing.app(), 'test');
    const name = 'a'.repeat(47);
    new StreamStore(chart, 'events', { name }).addStream('orders', {});
    expect(validationErrors(() => Testing.synth(chart))).toEqual([
      `[test/events] store "${name}": applyJob.drift "${name}-drift" names a CronJob of 53 characters, and Kubernetes allows 52: `
        + 'use a store name of at most 46 characters, or set applyJob.drift to false',
    ]);
  });
});
