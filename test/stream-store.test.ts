import { createHash } from 'crypto';
import { ApiObject, Chart, JsonPatch, Size, Testing, Yaml } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { NatsServerVersion } from '../src/versions';
import { Stream } from '../src/stream';
import { StreamStore, StreamStoreProps, VolumeRetention, patchAfterConversion, resolveStore, statefulSetPatches } from '../src/stream-store';

/** Synthesizes one store with `props`; `build` declares its streams. */
function synth(props: StreamStoreProps = {}, build: (store: StreamStore, chart: Chart) => void = () => {}): any[] {
  const chart = new Chart(Testing.app(), 'test');
  const store = new StreamStore(chart, 'events', props);
  build(store, chart);
  return Testing.synth(chart);
}

function ofKind(objects: any[], kind: string): any[] {
  return objects.filter((o) => o.kind === kind);
}

function only(objects: any[], kind: string, name?: string): any {
  const found = ofKind(objects, kind).filter((o) => name === undefined || o.metadata.name === name);
  expect(found).toHaveLength(1);
  return found[0];
}

const statefulSet = (objects: any[]) => only(objects, 'StatefulSet');
const podSpec = (objects: any[]) => statefulSet(objects).spec.template.spec;
const natsContainer = (objects: any[]) => podSpec(objects).containers.find((c: any) => c.name === 'nats');
const natsConf = (objects: any[]): string => only(objects, 'ConfigMap', 'events-config').data['nats.conf'];
const streamsJson = (objects: any[]) => JSON.parse(only(objects, 'ConfigMap', 'events-streams').data['streams.json']);
const checksum = (objects: any[]): string =>
  statefulSet(objects).spec.template.metadata.annotations['jetstream-cdk8s/config-checksum'];

describe('StreamStore', () => {
  test('synthesizes the defaults with one stream', () => {
    // The bundled program changes with every build of src/apply: its own tests cover it.
    const objects = synth({}, (store) => store.addStream('orders')).map((o) => {
      if (o.data?.['apply.js'] !== undefined) return { ...o, data: { 'apply.js': '<bundled apply program>' } };
      if (o.kind === 'Job') return { ...o, metadata: { ...o.metadata, name: o.metadata.name.replace(/-[0-9a-f]{8}$/, '-<hash>') } };
      return o;
    });
    expect(objects).toMatchSnapshot();
  });

  describe('nats.conf', () => {
    test('gives JetStream the default 10Gi volume minus 10% headroom', () => {
      expect(natsConf(synth()).split('\n')).toContain('  max_file_store: 9663676416');
    });

    test('floors the file store of a custom volume and headroom to whole mebibytes', () => {
      const conf = natsConf(synth({ storage: { size: '100Gi', headroomPercent: 25 } })).split('\n');
      expect(conf).toContain(`  max_file_store: ${75 * 2 ** 30}`);
    });

    test('uses an explicit maxFileStore', () => {
      expect(natsConf(synth({ maxFileStore: '5Gi' })).split('\n')).toContain(`  max_file_store: ${5 * 2 ** 30}`);
    });

    test.each<[string, StreamStoreProps, number]>([
      ['half the default 1Gi memory limit', {}, 2 ** 29],
      ['half a 4Gi memory limit', { resources: { memory: { limit: Size.gibibytes(4) } } }, 2 ** 31],
      ['an explicit maxMemoryStore', { maxMemoryStore: '256Mi' }, 2 ** 28],
    ])('sets max_memory_store to %s', (_what, props, bytes) => {
      expect(natsConf(synth(props)).split('\n')).toContain(`  max_memory_store: ${bytes}`);
    });

    test('sets max_payload from maxPayload, 1MiB by default', () => {
      expect(natsConf(synth()).split('\n')).toContain('max_payload: 1048576');
      expect(natsConf(synth({ maxPayload: '8Mi' })).split('\n')).toContain('max_payload: 8388608');
    });

    test('renders the lame-duck settings as Go durations', () => {
      const conf = natsConf(synth({ lameDuckDuration: '1m', lameDuckGracePeriod: '1500ms', terminationGracePeriod: '2m' })).split('\n');
      expect(conf).toContain('lame_duck_duration: "1m"');
      expect(conf).toContain('lame_duck_grace_period: "1.5s"');
    });

    test('has no cluster block for a single server', () => {
      expect(natsConf(synth())).not.toContain('cluster {');
    });
  });

  describe('StatefulSet', () => {
    test('has a v1 PersistentVolumeClaim template of 10Gi, ReadWriteOnce, on the default storage class', () => {
      expect(statefulSet(synth()).spec.volumeClaimTemplates).toEqual([{
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'data', labels: expect.objectContaining({ 'app.kubernetes.io/instance': 'events' }) },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } }, volumeMode: 'Filesystem' },
        // As the API server stores the template, so a second kubectl apply finds nothing to change.
        status: { phase: 'Pending' },
      }]);
    });

    test('follows the storage props in the volume claim template', () => {
      const [template] = statefulSet(synth({
        storage: {
          size: '100Gi',
          storageClassName: 'ssd-csi',
          accessModes: [kplus.PersistentVolumeAccessMode.READ_WRITE_ONCE_POD],
        },
      })).spec.volumeClaimTemplates;
      expect(template.spec).toEqual({
        accessModes: ['ReadWriteOncePod'],
        resources: { requests: { storage: '100Gi' } },
        storageClassName: 'ssd-csi',
        volumeMode: 'Filesystem',
      });
    });

    test('mounts the data volume at /data', () => {
      expect(natsContainer(synth()).volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });
    });

    test('retains the volume claims by default', () => {
      expect(statefulSet(synth()).spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
    });

    test.each<[VolumeRetention | undefined, VolumeRetention | undefined, string, string]>([
      [VolumeRetention.DELETE, undefined, 'Delete', 'Retain'],
      [undefined, VolumeRetention.DELETE, 'Retain', 'Delete'],
      [VolumeRetention.DELETE, VolumeRetention.DELETE, 'Delete', 'Delete'],
      [VolumeRetention.RETAIN, VolumeRetention.RETAIN, 'Retain', 'Retain'],
    ])('follows retention whenDeleted %p and whenScaled %p', (whenDeleted, whenScaled, deleted, scaled) => {
      const objects = synth({ storage: { retention: { whenDeleted, whenScaled } } });
      expect(statefulSet(objects).spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: deleted, whenScaled: scaled });
    });

    test('probes the monitor port: start-up and liveness need JetStream enabled, readiness needs this server current', () => {
      const nats = natsContainer(synth());
      expect(nats.startupProbe.httpGet).toEqual({ path: '/healthz?js-enabled-only=true', port: 8222, scheme: 'HTTP' });
      expect(nats.livenessProbe.httpGet).toEqual({ path: '/healthz?js-enabled-only=true', port: 8222, scheme: 'HTTP' });
      expect(nats.readinessProbe.httpGet).toEqual({ path: '/healthz?js-server-only=true', port: 8222, scheme: 'HTTP' });
    });

    test('enters lame-duck mode before the pod stops', () => {
      expect(natsContainer(synth()).lifecycle.preStop).toEqual({
        exec: { command: ['nats-server', '--signal=ldm=/var/run/nats/nats.pid'] },
      });
    });

    test('starts nats-server with the mounted nats.conf', () => {
      const objects = synth();
      expect(natsContainer(objects).command).toEqual(['nats-server', '--config', '/etc/nats-config/nats.conf']);
      expect(podSpec(objects).volumes).toContainEqual({ name: 'config', configMap: { name: 'events-config' } });
    });

    test('gives the pods 60s to stop by default: grace period 10s + lame duck 30s + 20s', () => {
      expect(podSpec(synth()).terminationGracePeriodSeconds).toBe(60);
    });

    test('derives the default termination grace period from the lame-duck settings', () => {
      expect(podSpec(synth({ lameDuckDuration: '2m', lameDuckGracePeriod: '15s' })).terminationGracePeriodSeconds).toBe(155);
      expect(podSpec(synth({ terminationGracePeriod: '5m' })).terminationGracePeriodSeconds).toBe(300);
    });

    test('changes the config checksum annotation when nats.conf changes', () => {
      const oneMi = synth({ maxPayload: '1Mi' });
      const twoMi = synth({ maxPayload: '2Mi' });
      expect(checksum(oneMi)).not.toBe(checksum(twoMi));
      expect(checksum(oneMi)).toBe(checksum(synth({ maxPayload: 1024 * 1024 })));
      expect(checksum(oneMi)).toBe(createHash('sha256').update(natsConf(oneMi)).digest('hex'));
    });

    test('keeps the config checksum when only the streams change', () => {
      expect(checksum(synth({}, (store) => store.addStream('a')))).toBe(checksum(synth({}, (store) => store.addStream('b'))));
    });

    test('runs hardened: non-root, read-only root filesystem, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
      const objects = synth();
      const spec = podSpec(objects);
      expect(spec.automountServiceAccountToken).toBe(false);
      expect(spec.enableServiceLinks).toBe(false);
      expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 });
      expect(natsContainer(objects).securityContext).toEqual({
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        privileged: false,
        readOnlyRootFilesystem: true,
        runAsGroup: 1000,
        runAsNonRoot: true,
        runAsUser: 1000,
        seccompProfile: { type: 'RuntimeDefault' },
      });
    });

    test('mounts the service account token only when asked', () => {
      expect(podSpec(synth({ automountServiceAccountToken: true })).automountServiceAccountToken).toBe(true);
    });

    test('requests 500m CPU and 1Gi memory with a 1Gi memory limit, and sets GOMEMLIMIT below it', () => {
      const nats = natsContainer(synth());
      // Written as the API server stores quantities: 1Gi, not 1024Mi.
      expect(nats.resources).toEqual({ limits: { memory: '1Gi' }, requests: { cpu: '500m', memory: '1Gi' } });
      expect(nats.env).toContainEqual({ name: 'GOMEMLIMIT', value: '921MiB' });
    });

    test('sets no GOMEMLIMIT without a memory limit', () => {
      const nats = natsContainer(synth({ resources: { cpu: { request: kplus.Cpu.millis(100) } }, maxMemoryStore: '1Gi' }));
      expect(nats.env.map((e: any) => e.name)).toEqual(['POD_NAME']);
    });

    test('places the pods with the scheduling props', () => {
      const affinity = {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [{
            topologyKey: 'kubernetes.io/hostname',
            labelSelector: { matchLabels: { 'app.kubernetes.io/instance': 'events' } },
          }],
        },
      };
      const spec = podSpec(synth({
        nodeSelector: { pool: 'nats' },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'nats', effect: 'NoSchedule' }],
        affinity,
        priorityClassName: 'high',
        imagePullSecrets: ['regcred', 'mirror'],
        serviceAccountName: 'nats-sa',
      }));
      expect(spec.nodeSelector).toEqual({ pool: 'nats' });
      expect(spec.tolerations).toEqual([{ effect: 'NoSchedule', key: 'dedicated', operator: 'Equal', value: 'nats' }]);
      expect(spec.affinity).toEqual(affinity);
      expect(spec.priorityClassName).toBe('high');
      expect(spec.imagePullSecrets).toEqual([{ name: 'regcred' }, { name: 'mirror' }]);
      expect(spec.serviceAccountName).toBe('nats-sa');
    });

    test('sets no scheduling fields by default', () => {
      const spec = podSpec(synth());
      for (const field of ['nodeSelector', 'tolerations', 'affinity', 'priorityClassName', 'imagePullSecrets', 'serviceAccountName']) {
        expect(spec).not.toHaveProperty(field);
      }
    });

    test('runs the official image of the version unless image is set', () => {
      expect(natsContainer(synth()).image).toBe('nats:2.15.3-alpine');
      expect(natsContainer(synth({ version: NatsServerVersion.V2_9_25 })).image).toBe('nats:2.9.25-alpine');
      expect(natsContainer(synth({ image: 'mirror.example.com/nats:2.10.24-alpine' })).image).toBe('mirror.example.com/nats:2.10.24-alpine');
    });

    test('runs one server, started in order, without a cluster port', () => {
      const objects = synth();
      expect(statefulSet(objects).spec.replicas).toBe(1);
      expect(statefulSet(objects).spec.podManagementPolicy).toBe('OrderedReady');
      expect(statefulSet(objects).spec.serviceName).toBe('events-headless');
      expect(natsContainer(objects).ports).toEqual([
        { containerPort: 4222, name: 'client' },
        { containerPort: 8222, name: 'monitor' },
      ]);
    });
  });

  describe('labels and annotations', () => {
    test('puts the extra labels and annotations on every object and the pods', () => {
      const objects = synth({ labels: { team: 'platform' }, annotations: { owner: 'me' } });
      // The apply program's ConfigMap is the chart's, shared by its stores: none of their labels.
      for (const object of objects.filter((o) => !o.metadata.name.startsWith('jetstream-apply-'))) {
        expect(object.metadata.labels).toMatchObject({ 'team': 'platform', 'app.kubernetes.io/instance': 'events' });
        expect(object.metadata.annotations).toEqual({ owner: 'me' });
      }
      const template = statefulSet(objects).spec.template.metadata;
      expect(template.labels).toMatchObject({ team: 'platform' });
      expect(template.annotations).toMatchObject({ owner: 'me' });
    });

    test('labels the volume claims only with labels that never change, as Kubernetes refuses claim template changes', () => {
      const objects = synth({ labels: { team: 'platform' } });
      expect(statefulSet(objects).spec.volumeClaimTemplates[0].metadata.labels).toEqual({
        'app.kubernetes.io/component': 'stream-store',
        'app.kubernetes.io/instance': 'events',
        'app.kubernetes.io/managed-by': 'jetstream-cdk8s',
        'app.kubernetes.io/name': 'nats',
      });
    });

    test('labels every object with the standard recommended labels, the apply Job as its own component', () => {
      const [program, ...objects] = synth().sort((a) => (a.metadata.name.startsWith('jetstream-apply-') ? -1 : 1));
      expect(program.metadata.labels).toEqual({
        'app.kubernetes.io/component': 'apply-program',
        'app.kubernetes.io/managed-by': 'jetstream-cdk8s',
        'app.kubernetes.io/name': 'jetstream-apply',
      });
      for (const object of objects) {
        const component = object.metadata.name.startsWith('events-apply') ? 'stream-apply'
          : object.kind === 'CronJob' ? 'stream-drift' : 'stream-store';
        expect(object.metadata.labels).toEqual({
          'app.kubernetes.io/component': component,
          'app.kubernetes.io/instance': 'events',
          'app.kubernetes.io/managed-by': 'jetstream-cdk8s',
          'app.kubernetes.io/name': 'nats',
          'app.kubernetes.io/version': '2.15.3',
        });
      }
    });

    test('names the objects after the name prop instead of the construct id', () => {
      const objects = synth({ name: 'backbone' });
      expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
        'ConfigMap/backbone-config',
        'ConfigMap/backbone-connection',
        'ConfigMap/backbone-streams',
        expect.stringMatching(/^ConfigMap\/jetstream-apply-[0-9a-f]{10}$/),
        'CronJob/backbone-drift',
        expect.stringMatching(/^Job\/backbone-apply-[0-9a-f]{8}$/),
        'NetworkPolicy/backbone',
        'Service/backbone',
        'Service/backbone-headless',
        'StatefulSet/backbone',
      ]);
    });
  });

  describe('Services', () => {
    test('has a headless Service that publishes not-ready servers', () => {
      const headless = only(synth(), 'Service', 'events-headless');
      expect(headless.spec.clusterIP).toBe('None');
      expect(headless.spec.publishNotReadyAddresses).toBe(true);
      expect(headless.spec.ports).toEqual([
        { name: 'client', port: 4222, targetPort: 4222 },
        { name: 'monitor', port: 8222, targetPort: 8222 },
      ]);
    });

    test('has a client Service on 4222 that selects the servers', () => {
      const objects = synth();
      const client = only(objects, 'Service', 'events');
      expect(client.spec.ports).toEqual([{ name: 'client', port: 4222, targetPort: 4222 }]);
      expect(client.spec.clusterIP).toBeUndefined();
      expect(client.spec.selector).toEqual(statefulSet(objects).spec.selector.matchLabels);
    });
  });

  describe('metrics', () => {
    test('adds no exporter by default', () => {
      const objects = synth();
      expect(podSpec(objects).containers.map((c: any) => c.name)).toEqual(['nats']);
      expect(statefulSet(objects).spec.template.metadata.annotations).not.toHaveProperty('prometheus.io/scrape');
    });

    test('adds the exporter sidecar, a metrics port and the prometheus annotations with metrics: {}', () => {
      const objects = synth({ metrics: {} });
      const exporter = podSpec(objects).containers.find((c: any) => c.name === 'metrics');
      expect(exporter.image).toBe('natsio/prometheus-nats-exporter:0.15.0');
      expect(exporter.args).toEqual(['-connz', '-routez', '-subz', '-varz', '-healthz', '-jsz=all', '-port=7777', 'http://localhost:8222']);
      expect(exporter.ports).toEqual([{ containerPort: 7777, name: 'metrics' }]);
      expect(exporter.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(only(objects, 'Service', 'events-headless').spec.ports).toContainEqual({ name: 'metrics', port: 7777, targetPort: 7777 });
      expect(statefulSet(objects).spec.template.metadata.annotations).toMatchObject({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': '7777',
      });
    });

    test('uses the exporter image and port props', () => {
      const objects = synth({ metrics: { image: 'mirror.example.com/exporter:1.0.0', port: 9100 } });
      const exporter = podSpec(objects).containers.find((c: any) => c.name === 'metrics');
      expect(exporter.image).toBe('mirror.example.com/exporter:1.0.0');
      expect(exporter.args).toContain('-port=9100');
      expect(only(objects, 'Service', 'events-headless').spec.ports).toContainEqual({ name: 'metrics', port: 9100, targetPort: 9100 });
      expect(statefulSet(objects).spec.template.metadata.annotations['prometheus.io/port']).toBe('9100');
    });
  });

  describe('cluster', () => {
    describe('spread', () => {
      const affinity = (props: StreamStoreProps) => statefulSet(synth(props)).spec.template.spec.affinity;
      const selector = (props: StreamStoreProps) => statefulSet(synth(props)).spec.selector.matchLabels;

      test('a single server has no anti-affinity', () => {
        expect(affinity({})).toBeUndefined();
      });

      test('a cluster prefers one server per node by default', () => {
        expect(affinity({ replicas: 3 })).toEqual({
          podAntiAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [{
              podAffinityTerm: { labelSelector: { matchLabels: selector({ replicas: 3 }) }, topologyKey: 'kubernetes.io/hostname' },
              weight: 100,
            }],
          },
        });
      });

      test('required spreading over nodes and zones', () => {
        const props: StreamStoreProps = { replicas: 3, spread: { required: true, zones: true } };
        expect(affinity(props)).toEqual({
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [
              { labelSelector: { matchLabels: selector(props) }, topologyKey: 'kubernetes.io/hostname' },
              { labelSelector: { matchLabels: selector(props) }, topologyKey: 'topology.kubernetes.io/zone' },
            ],
          },
        });
      });

      test('an affinity prop replaces the spread', () => {
        const own = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['nats'] }] }] } } };
        expect(affinity({ replicas: 3, affinity: own })).toEqual(own);
      });
    });

    test('has no PodDisruptionBudget for a single server', () => {
      expect(ofKind(synth(), 'PodDisruptionBudget')).toEqual([]);
    });

    test('with 3 replicas: a PodDisruptionBudget of 1, routes to every server, parallel start and cluster ports', () => {
      const objects = synth({ replicas: 3 });
      const pdb = only(objects, 'PodDisruptionBudget');
      expect(pdb.apiVersion).toBe('policy/v1');
      expect(pdb.metadata.name).toBe('events');
      expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: statefulSet(objects).spec.selector });
      expect(statefulSet(objects).spec.replicas).toBe(3);
      expect(statefulSet(objects).spec.podManagementPolicy).toBe('Parallel');
      expect(natsConf(objects)).toContain([
        'cluster {',
        '  name: "events"',
        '  port: 6222',
        '  connect_retries: 120',
        '  routes: [',
        '    "nats://events-0.events-headless:6222"',
        '    "nats://events-1.events-headless:6222"',
        '    "nats://events-2.events-headless:6222"',
        '  ]',
        '}',
      ].join('\n'));
      expect(natsContainer(objects).ports).toContainEqual({ containerPort: 6222, name: 'cluster' });
      expect(only(objects, 'Service', 'events-headless').spec.ports).toContainEqual({ name: 'cluster', port: 6222, targetPort: 6222 });
    });

    test('admits clients and monitoring from anywhere and routes only from its own servers', () => {
      const objects = synth({ replicas: 3, metrics: {} });
      const policy = only(objects, 'NetworkPolicy');
      const selector = statefulSet(objects).spec.selector.matchLabels;
      expect(policy.spec).toEqual({
        podSelector: { matchLabels: selector },
        policyTypes: ['Ingress'],
        ingress: [
          { ports: [{ port: 4222, protocol: 'TCP' }, { port: 8222, protocol: 'TCP' }, { port: 7777, protocol: 'TCP' }] },
          { from: [{ podSelector: { matchLabels: selector } }], ports: [{ port: 6222, protocol: 'TCP' }] },
        ],
      });
      expect(only(synth(), 'NetworkPolicy').spec.ingress).toEqual([{ ports: [{ port: 4222, protocol: 'TCP' }, { port: 8222, protocol: 'TCP' }] }]);
      expect(ofKind(synth({ networkPolicy: false }), 'NetworkPolicy')).toEqual([]);
    });

    test('with 5 replicas routes to all five servers', () => {
      const conf = natsConf(synth({ replicas: 5 }));
      expect(conf.match(/nats:\/\/events-\d\.events-headless:6222/g)).toEqual(
        [0, 1, 2, 3, 4].map((i) => `nats://events-${i}.events-headless:6222`));
    });
  });

  describe('object order', () => {
    test('renders the ConfigMaps, then the Services and the NetworkPolicy, then the StatefulSet, then the PodDisruptionBudget and the apply Job', () => {
      const kinds = synth({ replicas: 3 }).map((o) => o.kind);
      expect(kinds.slice(0, 3)).toEqual(['ConfigMap', 'ConfigMap', 'ConfigMap']);
      expect(kinds.slice(3, 6).sort()).toEqual(['NetworkPolicy', 'Service', 'Service']);
      expect(kinds[6]).toBe('StatefulSet');
      // The program's ConfigMap has no order of its own; the Job comes after the StatefulSet.
      expect(kinds.indexOf('Job')).toBeGreaterThan(kinds.indexOf('StatefulSet'));
      expect(kinds.indexOf('PodDisruptionBudget')).toBeGreaterThan(kinds.indexOf('StatefulSet'));
      expect(kinds.indexOf('CronJob')).toBeGreaterThan(kinds.indexOf('Job'));
      expect(kinds.sort()).toEqual(['ConfigMap', 'ConfigMap', 'ConfigMap', 'ConfigMap', 'CronJob', 'Job', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'Service', 'StatefulSet']);
    });

    test('keeps the order when other objects of the chart are declared first', () => {
      const chart = new Chart(Testing.app(), 'test');
      new kplus.ConfigMap(chart, 'Unrelated', { data: { a: 'b' } });
      new StreamStore(chart, 'events');
      const kinds = Testing.synth(chart).filter((o) => o.metadata.name !== undefined && o.metadata.name.startsWith('events'))
        .map((o) => o.kind);
      expect(kinds.slice(0, 3)).toEqual(['ConfigMap', 'ConfigMap', 'ConfigMap']);
      expect(kinds.slice(3, 6).sort()).toEqual(['NetworkPolicy', 'Service', 'Service']);
      expect(kinds[6]).toBe('StatefulSet');
      expect(kinds.indexOf('Job')).toBeGreaterThan(kinds.indexOf('StatefulSet'));
    });
  });

  describe('streams ConfigMap', () => {
    test('holds the store, its version and every stream sorted by name, including one added after other constructs', () => {
      const objects = synth({}, (store, chart) => {
        store.addStream('orders');
        new Stream(chart, 'Payments', { store, name: 'payments' });
        new kplus.ConfigMap(chart, 'Unrelated');
        store.addStream('audit');
      });
      const json = streamsJson(objects);
      expect(json.store).toBe('events');
      expect(json.version).toBe('2.15.3');
      expect(json.streams.map((s: any) => s.config.name)).toEqual(['audit', 'orders', 'payments']);
      expect(json.streams[0]).toEqual({
        retentionPolicy: 'Retain',
        config: expect.objectContaining({ name: 'audit', subjects: ['audit'] }),
      });
    });

    test('holds an empty list for a store without streams', () => {
      expect(streamsJson(synth()).streams).toEqual([]);
    });

    test('writes JSON sorted by name, one field a line, durations and sizes in units people read, with a final newline', () => {
      const objects = synth({}, (store) => {
        store.addStream('b', { maxAge: '6h', maxBytes: '2Gi' });
        store.addStream('a');
      });
      const text = only(objects, 'ConfigMap', 'events-streams').data['streams.json'] as string;
      const document = JSON.parse(text);
      expect(document.streams.map((s: any) => s.config.name)).toEqual(['a', 'b']);
      expect(document.streams[1].config).toMatchObject({ max_age: '6h', max_bytes: '2GiB', subjects: ['b'] });
      expect(text).toContain('\n        "max_age": "6h",\n');
      expect(text).toContain('\n        "subjects": ["b"],\n');
      expect(document.streams[0].config).toMatchObject({ max_age: 0, max_bytes: -1 });
      expect(text.endsWith('}\n')).toBe(true);
    });

    test('a one-field change to one stream changes four short lines of the YAML: the field, the Job name and the digest in the Job and its drift check', () => {
      const yaml = (maxAge: string) => Yaml.stringify(...synth({}, (store) => {
        for (let i = 0; i < 20; i++) store.addStream(`s${i}`, { maxAge: i === 7 ? maxAge : '1h' });
      })).split('\n');
      const before = yaml('6h');
      const after = yaml('12h');
      expect(after).toHaveLength(before.length);
      expect(after.filter((line, i) => line !== before[i])).toEqual([
        '            "max_age": "12h",',
        expect.stringMatching(/^ {2}name: events-apply-[0-9a-f]{8}$/),
        expect.stringMatching(/^ {14}value: [0-9a-f]{64}$/),
        expect.stringMatching(/^ {18}value: [0-9a-f]{64}$/),
      ]);
    });

    test('a one-field change to one stream changes one line of its ConfigMap', () => {
      const text = (maxAge: string) => only(synth({}, (store) => {
        for (let i = 0; i < 20; i++) store.addStream(`s${i}`, { maxAge: i === 7 ? maxAge : '1h' });
      }), 'ConfigMap', 'events-streams').data['streams.json'] as string;
      const before = text('6h').split('\n');
      const after = text('12h').split('\n');
      expect(after).toHaveLength(before.length);
      expect(after.filter((line, i) => line !== before[i])).toEqual(['        "max_age": "12h",']);
    });
  });

  describe('determinism', () => {
    test('two apps built the same way synthesize to identical JSON', () => {
      const build = () => synth({ replicas: 3, metrics: {}, labels: { b: '2', a: '1' } }, (store, chart) => {
        store.addStream('orders', { subjects: ['orders.>'], metadata: { z: '1', a: '2' }, replicas: 3 });
        store.addStream('audit', { maxAge: '240h', maxBytes: '1Gi' });
        new Stream(chart, 'late', { store, subjects: ['late.*'] });
      });
      expect(JSON.stringify(build())).toBe(JSON.stringify(build()));
    });
  });

  describe('resolved settings', () => {
    test('exposes the defaults in bytes and milliseconds', () => {
      const store = new StreamStore(new Chart(Testing.app(), 'test'), 'events');
      expect(store.name).toBe('events');
      expect(store.settings).toMatchObject({
        replicas: 1,
        image: 'nats:2.15.3-alpine',
        volumeBytes: 10 * 2 ** 30,
        headroomPercent: 10,
        maxFileStoreBytes: 9 * 2 ** 30,
        maxMemoryStoreBytes: 2 ** 29,
        maxPayloadBytes: 2 ** 20,
        memoryLimitBytes: 2 ** 30,
        lameDuckDurationMs: 30_000,
        lameDuckGracePeriodMs: 10_000,
        terminationGracePeriodMs: 60_000,
      });
      expect(store.streams).toEqual([]);
    });
  });
});

describe('statefulSetPatches', () => {
  /** What cdk8s-plus-28 renders for a StatefulSet, reduced to the paths the patches touch. */
  const rendered = () => ({ spec: { template: { spec: { containers: [{ name: 'nats', volumeMounts: [{ name: 'config', mountPath: '/etc/nats-config' }] }] } } } });
  const patched = (props: StreamStoreProps) =>
    JsonPatch.apply(rendered(), ...statefulSetPatches(resolveStore(props, 'events').value, props, { 'app.kubernetes.io/name': 'nats', 'app.kubernetes.io/version': '2.10.24' }, { app: 'nats' }));

  test('adds the claim template with stable labels only, its retention policy and the data mount', () => {
    const spec = patched({ storage: { size: '20Gi', storageClassName: 'ssd', retention: { whenScaled: VolumeRetention.DELETE } } }).spec;
    expect(spec.volumeClaimTemplates).toEqual([{
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { labels: { 'app.kubernetes.io/name': 'nats' }, name: 'data' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } }, storageClassName: 'ssd' },
    }]);
    expect(spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Delete' });
    expect(spec.template.spec.containers[0].volumeMounts).toEqual([
      { name: 'config', mountPath: '/etc/nats-config' }, { mountPath: '/data', name: 'data' },
    ]);
    expect(spec.template.spec.enableServiceLinks).toBe(false);
    expect(spec.template.spec.affinity).toBeUndefined();
  });

  test('adds the scheduling fields given, and the spread of a cluster', () => {
    const pod = patched({ replicas: 3, nodeSelector: { pool: 'nats' }, priorityClassName: 'high', imagePullSecrets: ['registry'] }).spec.template.spec;
    expect([pod.nodeSelector, pod.priorityClassName, pod.imagePullSecrets]).toEqual([{ pool: 'nats' }, 'high', [{ name: 'registry' }]]);
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution).toEqual([
      { podAffinityTerm: { labelSelector: { matchLabels: { app: 'nats' } }, topologyKey: 'kubernetes.io/hostname' }, weight: 100 },
    ]);
  });

  test('patchAfterConversion applies them to the rendered object, after the typed conversion', () => {
    const chart = new Chart(Testing.app(), 'test');
    const object = new ApiObject(chart, 'o', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'o' } });
    patchAfterConversion(object, [JsonPatch.add('/data', { untyped: 'kept' })]);
    expect(object.toJson()).toMatchObject({ data: { untyped: 'kept' } });
  });
});
