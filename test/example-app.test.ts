import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { connect } from 'nats';
import { buildApp } from '../charts/app';
import { canonicalValue } from '../src/apply/normalize';
import { PREVIOUS_VARIABLE } from '../src/previous-manifests';
import { validateManifests } from './support/k8s-schema';
import { kubeletEnvironment } from './support/kubelet';
import { checkConfig, stopAll } from './support/nats-server';
import { adminCredentials, fakeSecrets, startStoreFromManifests } from './support/store-from-manifests';
import { declaredStreams } from './support/streams-document';

/** Every object of the example app, as `npm run synth` renders it. */
function exampleObjects(): any[] {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'example-app-'));
  try {
    return buildApp(outdir).charts.flatMap((chart) => chart.toJson());
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

const objects = exampleObjects();
const configMaps = (key: string) => objects.filter((o) => o.kind === 'ConfigMap' && o.data?.[key] !== undefined);

afterAll(stopAll);

test('every object of every example validates against the Kubernetes schemas', () => {
  expect(objects.filter((o) => o.kind === 'StatefulSet').map((o) => o.metadata.name).sort()).toEqual(['backbone', 'cluster-events', 'events', 'mystreamstore']);
  expect(validateManifests(objects)).toEqual([]);
});

test('the committed dist/ holds exactly what the example app synthesizes', () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'example-synth-'));
  const dist = path.join(__dirname, '..', 'dist');
  // As npm run synth reads the committed dist/: the generations of the definitions follow from it.
  const saved = process.env[PREVIOUS_VARIABLE];
  process.env[PREVIOUS_VARIABLE] = dist;
  try {
    buildApp(outdir).synth();
    const files = fs.readdirSync(outdir).sort();
    expect(files).toEqual(fs.readdirSync(path.join(__dirname, '..', 'dist')).sort());
    for (const file of files) {
      expect(fs.readFileSync(path.join(outdir, file), 'utf8'))
        .toEqual(fs.readFileSync(path.join(__dirname, '..', 'dist', file), 'utf8'));
    }
  } finally {
    if (saved === undefined) delete process.env[PREVIOUS_VARIABLE];
    else process.env[PREVIOUS_VARIABLE] = saved;
    fs.rmSync(outdir, { recursive: true, force: true });
  }
});

test('synth is deterministic: two builds give identical bytes', () => {
  const render = () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'example-twice-'));
    try {
      return buildApp(outdir).synthYaml();
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  };
  expect(render()).toEqual(render());
});

describe.each(configMaps('nats.conf').map((cm) => [cm.metadata.name, cm.data['nats.conf']]))('%s', (name, natsConf) => {
  test('passes nats-server -t with the pod\'s environment', async () => {
    const statefulSet = objects.find((o) => o.kind === 'StatefulSet' && `${o.metadata.name}-config` === name);
    const env = kubeletEnvironment(statefulSet.spec.template.spec.containers[0].env, fakeSecrets(objects), { 'metadata.name': 'store-0' });
    const result = await checkConfig(natsConf, { env });
    expect(result.output).not.toMatch(/error/i);
    expect(result.ok).toBe(true);
  });
});

describe.each(objects.filter((o) => o.kind === 'StatefulSet').map((s) => [s.metadata.name]))('%s', (store) => {
  test('a server started from the store\'s nats.conf accepts every declared stream as declared', async () => {
    const name = `${store}-streams`;
    const secrets = fakeSecrets(objects);
    const servers = await startStoreFromManifests(objects, store, secrets);
    const nc = await connect({ servers: servers[0].url, ...adminCredentials(objects, store, secrets) });
    try {
      const jsm = await nc.jetstreamManager();
      const declared = declaredStreams(objects, store).streams;
      expect(declared.length).toBeGreaterThan(0);
      for (const { config: stream } of declared) {
        const info = await jsm.streams.add(stream as any);
        // The server echoes the configuration it stored: every field we sent must come back unchanged.
        for (const [field, value] of Object.entries(stream)) {
          // Compared as the apply program compares them: a value the server leaves out is its default.
          const stored = canonicalValue(field, (info.config as any)[field]);
          expect([name, stream.name, field, stored]).toEqual([name, stream.name, field, canonicalValue(field, value)]);
        }
      }
      expect((await jsm.streams.names().next()).sort()).toEqual(declared.map((s) => s.config.name).sort());
    } finally {
      await nc.close();
      await Promise.all(servers.map((server) => server.stop()));
    }
  });
});
