import { Chart, Testing } from 'cdk8s';
import { ApplyJobHook, StreamOptions, StreamStore, StreamStoreProps } from '../src';
import { finishJob } from '../src/apply-job';
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
  test('runs the bundled program from its ConfigMap against the store\'s client Service', () => {
    const objects = synth();
    const program = objects.find((o) => o.metadata.name === 'events-apply-program');
    expect(program.data['apply.js'].length).toBeGreaterThan(0);
    const container = job(objects).spec.template.spec.containers[0];
    expect(container.command).toEqual(['node', '/opt/jetstream-apply/apply.js', 'apply']);
    expect(env(objects)).toEqual({
      NATS_URL: 'nats://events:4222',
      STREAMS_FILE: '/etc/jetstream-streams/streams.json',
      WAIT_TIMEOUT: '300s',
      CONCURRENCY: '32',
      OWNER_REPLICAS: '1',
      // The container's default terminationMessagePath, which kubectl shows.
      TERMINATION_LOG: '/dev/termination-log',
    });
    expect(container.terminationMessagePath).toBeUndefined();
    expect(job(objects).spec.template.spec.volumes).toEqual([
      { configMap: { name: 'events-apply-program' }, name: 'program' },
      { configMap: { name: 'events-streams' }, name: 'streams' },
    ]);
  });

  test('fails at once when streams are refused, and retries a pod a node drain evicted without counting it', () => {
    expect(job(synth()).spec.podFailurePolicy).toEqual({
      rules: [
        { action: 'FailJob', onExitCodes: { containerName: 'apply', operator: 'In', values: [3] } },
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

    test('changes with the program, and only with what the Job applies', () => {
      const rendered = () => ({ metadata: { name: 'events-apply' }, spec: { template: { spec: { securityContext: {}, containers: [{ name: 'apply' }] } } } });
      const named = (document: string, bundle: string) => finishJob(rendered(), 'events', document, bundle).metadata.name;
      expect(named('{"streams":[]}', 'program v1')).toBe(named('{"streams":[]}', 'program v1'));
      expect(named('{"streams":[]}', 'program v2')).not.toBe(named('{"streams":[]}', 'program v1'));
      expect(named('{"streams":[1]}', 'program v1')).not.toBe(named('{"streams":[]}', 'program v1'));
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
