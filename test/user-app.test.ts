import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import {
  PackedLibrary, Run, copyWorkingTree, describeRun, expectSuccess, installedCopies, packLibrary, readOutput, resolvedFrom, run,
  userEnvironment, writeFiles,
} from './support/user-app';
import { DEFAULT_RELEASE, startNatsServer } from './support/nats-server';

// What a new user does: a fresh app outside this repository installs the packed library beside
// cdk8s-cli and an older cdk8s, and runs the real `cdk8s synth`. It guards against the library
// loading a cdk8s of its own ("can't render non-simple object of type 'Lazy'" at synth).

const repo = path.resolve(__dirname, '..');
const manifest = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'));

/**
 * Older than our dev dependencies (cdk8s 2.70.106), and the oldest this library runs on: it calls
 * `Size.asString()`, new in cdk8s 2.69.0 (cdk8s-core #1494), and `kplus.SeccompProfileType`, new in
 * cdk8s-plus-28 2.5.0 (cdk8s-plus #4521); 2.5.6 is the oldest 2.5 the registry serves.
 */
const CDK8S = '2.69.0';
const CDK8S_PLUS_28 = '2.5.6';
const CONSTRUCTS = '10.3.0';
/** The first releases with every API the library calls, and what breaks before them. */
const OLDEST_WORKING: Record<string, { version: string; before: string }> = {
  'cdk8s': { version: '2.69.0', before: 'StreamStore throws "invalid size {"amount":10,"unit":{"label":"gibibytes",...}}" (no Size.asString)' },
  'cdk8s-plus-28': { version: '2.5.0', before: 'synth throws "Cannot read properties of undefined (reading \'RUNTIME_DEFAULT\')" (no SeccompProfileType)' },
};

const STORE = 'events';
const STREAMS = ['coredns', 'jobs', 'orders', 'telemetry'];

/** README's worked example as a user's plain JavaScript app, its storage class a parameter. */
function mainJs(storageClassName: string): string {
  return `const { App, Chart, Size } = require('cdk8s');
const { Retention, StorageType, StreamRetentionPolicy, StreamStore, VolumeRetention } = require('jetstream-cdk8s');

const app = new App();
const chart = new Chart(app, 'shop', { namespace: 'messaging' });

const store = new StreamStore(chart, '${STORE}', {
  storage: { size: '100Gi', storageClassName: '${storageClassName}', retention: { whenDeleted: VolumeRetention.RETAIN } },
  resources: { memory: { request: Size.gibibytes(4), limit: Size.gibibytes(4) } },
  defaults: { maxAge: '72h', maxBytes: '5Gi' },
  limits: { maxAge: '720h', maxBytes: '40Gi', maxStreams: 100 },
  metrics: {},
});

store.addStream('orders', { subjects: ['orders.>'], maxBytes: '20Gi', duplicateWindow: '10m' });
store.addStream('jobs', { subjects: ['jobs.*'], retention: Retention.WORK_QUEUE });
store.addStream('telemetry', { subjects: ['telemetry.*.*'], storage: StorageType.MEMORY, maxBytes: '512Mi', maxAge: '1h' });
store.addStream('coredns', { maxAge: '6h', retentionPolicy: StreamRetentionPolicy.DELETE });

app.synth();
`;
}

let work: string;
let packed: PackedLibrary;
let app: string;
let installMs: number;
const synthMs: number[] = [];

/** The user's app files, around an installed or linked node_modules. */
function appFiles(storageClassName: string): Record<string, string> {
  return {
    'package.json': `${JSON.stringify({
      name: 'user-app',
      version: '0.0.0',
      private: true,
      dependencies: {
        'jetstream-cdk8s': `file:${packed.tarball}`,
        'cdk8s-cli': manifest.devDependencies['cdk8s-cli'],
        'cdk8s': CDK8S,
        'cdk8s-plus-28': CDK8S_PLUS_28,
        'constructs': CONSTRUCTS,
      },
    }, null, 2)}\n`,
    'cdk8s.yaml': 'app: node main.js\noutput: dist\n',
    'main.js': mainJs(storageClassName),
    '.gitignore': 'node_modules\n',
  };
}

/** `npx cdk8s synth` in `dir`; the CLI's upgrade check (a request to registry.npmjs.org) is off. */
function synth(dir: string, extra: Record<string, string> = {}): Run {
  const result = run('npx', ['cdk8s', 'synth'], dir, { env: userEnvironment({ CDK8S_CHECK_UPGRADE: 'false', ...extra }) });
  synthMs.push(result.ms);
  return result;
}

function objectsOf(files: Map<string, string>): any[] {
  return [...files.values()].flatMap((text) => parseAllDocuments(text).map((document) => document.toJS()))
    .filter((object) => object !== null && object !== undefined);
}

function storageClassOf(objects: readonly any[]): unknown {
  const statefulSet = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === STORE);
  return statefulSet?.spec.volumeClaimTemplates?.[0]?.spec.storageClassName;
}

function git(dir: string, ...args: string[]): Run {
  const identity = ['-c', 'user.name=User App Test', '-c', 'user.email=user-app@example.invalid', '-c', 'commit.gpgsign=false', '-c', 'init.defaultBranch=main'];
  return expectSuccess(run('git', [...identity, ...args], dir), `git ${args.join(' ')}`);
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstream-cdk8s-user-app-'));
  const source = path.join(work, 'source');
  copyWorkingTree(repo, source);
  const destination = path.join(work, 'pack');
  fs.mkdirSync(destination);
  packed = packLibrary(source, destination);
  app = path.join(work, 'app');
  writeFiles(app, appFiles('ssd-csi'));
  installMs = expectSuccess(run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], app, { timeoutMs: 280_000 }), 'npm install').ms;
}, 600_000);

afterAll(() => {
  if (packed) {
    console.log(`user app: npm pack ${packed.ms} ms (${packed.bytes} bytes, ${packed.files.length} files), `
      + `npm install ${installMs} ms, cdk8s synth ${synthMs.join(', ')} ms`);
  }
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the built library and its program, and no sources, tests, examples or output', () => {
  const { files } = packed;
  expect(files).toEqual(expect.arrayContaining([
    'package/package.json', 'package/README.md', 'package/lib/src/index.js', 'package/lib/src/index.d.ts',
  ]));
  expect(files.some((file) => file.startsWith('package/lib/bundle/'))).toBe(true);
  const misplaced = files.filter((file) => /^package\/(lib\/)?(test|bench|dist|charts)\//.test(file)
    || (file.endsWith('.ts') && !file.endsWith('.d.ts')));
  expect(misplaced).toEqual([]);
});

test('the library, cdk8s-plus-28 and the app load one and the same cdk8s and constructs: the app\'s', () => {
  const library = path.join(app, 'node_modules', 'jetstream-cdk8s');
  const plus = path.join(app, 'node_modules', 'cdk8s-plus-28');
  for (const name of ['cdk8s', 'constructs']) {
    const own = resolvedFrom(app, name);
    expect({ name, library: resolvedFrom(library, name), plus: resolvedFrom(plus, name) }).toEqual({ name, library: own, plus: own });
    // cdk8s-cli may keep its own newer copy: it runs the app as a child process and never shares objects with it.
    const others = installedCopies(app, name)
      .filter((copy) => copy !== path.join(app, 'node_modules', name))
      .filter((copy) => !copy.startsWith(path.join(app, 'node_modules', 'cdk8s-cli', 'node_modules') + path.sep));
    expect({ name, others }).toEqual({ name, others: [] });
  }
  expect(JSON.parse(fs.readFileSync(path.join(app, 'node_modules', 'cdk8s', 'package.json'), 'utf8')).version).toBe(CDK8S);
});

test('cdk8s synth of README\'s example writes the store\'s StatefulSet, Services, ConfigMaps and apply Job', () => {
  const result = synth(app);
  expectSuccess(result, 'cdk8s synth');
  expect(`${result.stdout}${result.stderr}`).not.toContain('Lazy');
  const objects = objectsOf(readOutput(app));
  const named = (kind: string) => objects.filter((o) => o.kind === kind).map((o) => o.metadata.name).sort();

  expect(named('StatefulSet')).toEqual([STORE]);
  expect(storageClassOf(objects)).toBe('ssd-csi');
  expect(named('Service')).toEqual(expect.arrayContaining([STORE, `${STORE}-headless`]));
  expect(objects.find((o) => o.kind === 'Service' && o.metadata.name === `${STORE}-headless`).spec.clusterIP).toBe('None');
  const jobs = named('Job');
  expect(jobs).toHaveLength(1);
  expect(jobs[0].startsWith(`${STORE}-apply-`)).toBe(true);
  const configMaps = objects.filter((o) => o.kind === 'ConfigMap');
  // Which ConfigMap carries the definitions is the store's business; that one carries them all is the contract.
  const definitions = configMaps.filter((o) => STREAMS.every((stream) => JSON.stringify(o.data ?? {}).includes(stream)));
  expect(definitions.map((o) => o.metadata.name)).not.toEqual([]);
  expect(objects.every((o) => o.metadata.namespace === 'messaging')).toBe(true);
});

test('npx jetstream-cdk8s streams ls reads the app\'s dist/ and a real server, with the YAML parser of the installed library', async () => {
  expectSuccess(synth(app), 'cdk8s synth');
  const server = await startNatsServer({ release: DEFAULT_RELEASE });
  try {
    const result = expectSuccess(run('npx', ['jetstream-cdk8s', 'streams', 'ls', '--dist', 'dist', '--store', STORE, '--json', '--server', server.url], app,
      { env: userEnvironment({}) }), 'npx jetstream-cdk8s streams ls');
    const rows = JSON.parse(result.stdout) as Array<{ name: string; state: string }>;
    expect(rows.map((row) => [row.name, row.state])).toEqual(STREAMS.map((name) => [name, 'missing']));
  } finally {
    await server.stop();
  }
});

test('an app with the events forwarder: cdk8s synth writes its Deployment running the installed program, and the command answers', () => {
  fs.writeFileSync(path.join(app, 'events.js'), `const { App, Chart } = require('cdk8s');
const { KubernetesEvents, NatsAuth, StreamStore } = require('jetstream-cdk8s');
const app = new App();
const chart = new Chart(app, 'cluster-events', { namespace: 'cluster-events' });
const password = (key) => ({ secretName: 'users', key });
const store = new StreamStore(chart, 'events', { auth: NatsAuth.users([{ name: 'admin', password: password('admin') }]), applyJob: { password: password('apply') } });
const stream = store.addStream('k8s-events', { subjects: ['k8s.events.>'], duplicateWindow: '1h' });
new KubernetesEvents(chart, 'forwarder', { stream, password: password('forwarder') });
app.synth();
`);
  expectSuccess(run('npx', ['cdk8s', 'synth', '--app', 'node events.js', '--output', 'dist-events'], app,
    { env: userEnvironment({ CDK8S_CHECK_UPGRADE: 'false' }) }), 'cdk8s synth of the events app');
  const objects = objectsOf(new Map(fs.readdirSync(path.join(app, 'dist-events')).map((file) => [file, fs.readFileSync(path.join(app, 'dist-events', file), 'utf8')])));
  const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'forwarder');
  expect(deployment.spec.template.spec.containers[0].command).toEqual(['node', '/opt/jetstream-apply/run.js', 'events', 'forward']);
  const program = deployment.spec.template.spec.volumes.find((v: any) => v.name === 'program').configMap.name;
  expect(objects.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name)).toContain(program);
  expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding']));
  const help = expectSuccess(run('npx', ['jetstream-cdk8s', 'events', '--help'], app, { env: userEnvironment({}) }), 'npx jetstream-cdk8s events --help');
  expect(help.stdout).toContain('Usage: jetstream-cdk8s events forward');
});

test('cdk8s synth writes the same bytes twice', () => {
  expectSuccess(synth(app), 'the first cdk8s synth');
  const first = readOutput(app);
  expectSuccess(synth(app), 'the second cdk8s synth');
  expect(first.size).toBeGreaterThan(0);
  expect(readOutput(app)).toEqual(first);
});

test('the peer ranges admit no cdk8s or cdk8s-plus-28 older than the first release with every API the library calls', () => {
  const floor = (range: string) => (/(\d+)\.(\d+)\.(\d+)/.exec(range) ?? []).slice(1).map(Number);
  const older = (a: number[], b: number[]) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
  const tooWide = Object.entries(OLDEST_WORKING)
    .filter(([name, { version }]) => older(floor(manifest.peerDependencies[name]), floor(version)) < 0)
    .map(([name, { version, before }]) => `${name} "${manifest.peerDependencies[name]}" admits releases before ${version}, where ${before}`);
  expect(tooWide).toEqual([]);
});

test('under cdk8s synth, a storage class change against the committed dist/ is refused, and written with JETSTREAM_CDK8S_MIGRATING=1', () => {
  // The app's own git repository, node_modules linked from the installed app: no second install.
  const dir = path.join(work, 'migrating-app');
  writeFiles(dir, appFiles('ssd-csi'));
  fs.symlinkSync(path.join(app, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  expectSuccess(synth(dir), 'the first cdk8s synth');
  git(dir, 'init', '-q');
  git(dir, 'add', '.');
  git(dir, 'commit', '-q', '-m', 'The first synthesis');

  writeFiles(dir, { 'main.js': mainJs('fast-csi') });
  const refused = synth(dir);
  const refusedOutput = `${refused.stdout}${refused.stderr}`;
  if (refused.status === 0 || !refusedOutput.includes('storageClassName') || !refusedOutput.includes('--cascade=orphan')) {
    throw new Error('the migration guard did not refuse the change: after storage.storageClassName went from "ssd-csi" to '
      + '"fast-csi", with dist/ committed at git HEAD, cdk8s synth should exit non-zero and print the changed field '
      + `(storageClassName) and the migration steps (--cascade=orphan); dist/ now holds storageClassName ${JSON.stringify(storageClassOf(objectsOf(readOutput(dir))))}.\n`
      + describeRun(refused));
  }

  const migrated = expectSuccess(synth(dir, { JETSTREAM_CDK8S_MIGRATING: '1' }), 'cdk8s synth with JETSTREAM_CDK8S_MIGRATING=1');
  const migratedOutput = `${migrated.stdout}${migrated.stderr}`;
  expect(storageClassOf(objectsOf(readOutput(dir)))).toBe('fast-csi');
  if (!/warning/i.test(migratedOutput) || !migratedOutput.includes('--cascade=orphan')) {
    throw new Error(`with JETSTREAM_CDK8S_MIGRATING=1 the migration steps (--cascade=orphan) should be printed as a warning.\n${describeRun(migrated)}`);
  }
}, 120_000);
