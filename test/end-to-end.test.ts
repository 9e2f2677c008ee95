/**
 * The example app end to end: its synthesized manifests, run as the cluster would run them.
 * A nats-server starts from the store's own nats.conf (paths and ports rewritten to this
 * machine), and the apply Job's own command runs with its own ConfigMap files materialized
 * on disk and its own environment, pointed at that server.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { connect } from 'nats';
import { parse } from 'yaml';
import { normalizeServerConfig } from '../src/apply/normalize';
import { diffStreamConfig } from '../src/apply/diff';
import { parseStreamsDocuments } from '../src/apply/definitions';
import { LocalContainer, localContainer } from './support/kubelet';
import { makeTempDir, stopAll } from './support/nats-server';
import { adminCredentials, fakeSecrets, startStoreFromManifests } from './support/store-from-manifests';

const run = promisify(execFile);
const DIST = path.join(__dirname, '..', 'dist');

/** The objects of one committed dist/ file. */
function distObjects(file: string): any[] {
  return fs.readFileSync(path.join(DIST, file), 'utf8').split(/^---$/m).map((doc) => parse(doc)).filter(Boolean);
}

/** The Job's own command with its own environment, pointed at the server. */
async function runJob(job: LocalContainer, url: string, terminationLog: string) {
  const [command, ...args] = job.command;
  try {
    const { stdout } = await run(command, args, { env: { ...job.env, TERMINATION_LOG: terminationLog, NATS_URL: url }, timeout: 90_000 });
    return { code: 0, stdout };
  } catch (error: any) {
    return { code: error.code as number, stdout: `${error.stdout}\n${error.stderr}` };
  }
}

afterAll(stopAll);

const DIST_FILES = fs.readdirSync(DIST).filter((f) => f.endsWith('.yaml')).sort();

describe.each(DIST_FILES)('%s', (file) => {
  test('the apply Job brings a server started from the store\'s nats.conf to the declared streams, and a second run changes nothing', async () => {
    const objects = distObjects(file);
    const job = objects.find((o) => o.kind === 'Job');
    const storeName = job.metadata.labels['app.kubernetes.io/instance'];
    const root = makeTempDir();
    const secrets = fakeSecrets(objects);
    // The namespace holds every file's objects: the apply program's ConfigMap is in the first chart's.
    const container = localContainer(DIST_FILES.flatMap(distObjects), job.spec.template.spec, root, secrets);
    const definitionsDir = container.mounts.get('/etc/jetstream-streams') as string;
    const declared = parseStreamsDocuments(fs.readdirSync(definitionsDir).sort()
      .map((name) => ({ source: name, text: fs.readFileSync(path.join(definitionsDir, name), 'utf8') }))).streams;
    const servers = await startStoreFromManifests(objects, storeName, secrets);
    const url = servers[0].url;
    const terminationLog = path.join(root, 'termination-log');

    const first = await runJob(container, url, terminationLog);
    expect(first.stdout).toContain('created');
    expect(first.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(terminationLog, 'utf8'))).toMatchObject({ result: 'applied' });

    const nc = await connect({ servers: url, ...adminCredentials(objects, storeName, secrets) });
    try {
      const jsm = await nc.jetstreamManager();
      for (const { config: stream } of declared) {
        const info = await jsm.streams.info(stream.name);
        expect([stream.name, diffStreamConfig(stream, normalizeServerConfig(info.config as any))]).toEqual([stream.name, []]);
      }
      const created = await Promise.all(declared.map(async (s) => (await jsm.streams.info(s.config.name)).created));

      const second = await runJob(container, url, terminationLog);
      expect(second.code).toBe(0);
      expect(second.stdout).not.toMatch(/\b(created|updated|deleted)\b/);
      expect(await Promise.all(declared.map(async (s) => (await jsm.streams.info(s.config.name)).created))).toEqual(created);
    } finally {
      await nc.close();
      await Promise.all(servers.map((server) => server.stop()));
    }
  });
});
