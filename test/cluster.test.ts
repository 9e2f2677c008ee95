/**
 * A three-server store run from its own synthesized nats.conf (ports, routes and paths rewritten
 * to loopback): the cluster forms, the apply Job's program creates a stream with three replicas,
 * and the stream keeps every acknowledged message while a server is down and after it comes back.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import { JetStreamClient, JetStreamManager, NatsConnection, StreamInfo, connect } from 'nats';
import { ApplyOutcome, ExitCode, runApply } from '../src/apply/apply';
import { parseCli } from '../src/apply/cli';
import { PersistMode, StreamOptions, toJetStreamConfig } from '../src/stream-definition';
import { StreamStore } from '../src/stream-store';
import { validationErrors } from './support/validation-errors';
import { NatsServerHandle, makeTempDir, rewriteConfigForLocal, startNatsServer, stopAll } from './support/nats-server';
import { freePort } from './support/ports';

const STORE = 'events';
const STREAM = 'orders';
/** Messages published in each phase. */
const BATCH = 50;
/** Upper bound of every wait for the cluster: elections take a few seconds in 2.9. */
const WAIT_MS = 30_000;

let servers: NatsServerHandle[];
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
/** Messages acknowledged so far; message i (from 1) has sequence i and payload `message i`. */
let published = 0;
/** The apply program's run at startup. */
let apply: Awaited<ReturnType<typeof runApplyJob>>;

/** The store's synthesized objects: a three-server store of the default version, which the local servers run. */
function synthesizeStore(): any[] {
  const chart = new Chart(Testing.app(), 'test');
  const store = new StreamStore(chart, STORE, { replicas: 3 });
  store.addStream(STREAM, { subjects: [`${STREAM}.>`], replicas: 3 });
  return Testing.synth(chart);
}

function configMapData(objects: any[], name: string, key: string): string {
  return objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name).data[key];
}

/** One cluster member's local ports, store and name. */
interface Member {
  readonly name: string;
  readonly clientPort: number;
  readonly monitorPort: number;
  readonly clusterPort: number;
  readonly storeDir: string;
}

async function allocateMembers(): Promise<Member[]> {
  return Promise.all([0, 1, 2].map(async (i) => ({
    name: `${STORE}-${i}`, clientPort: await freePort(), monitorPort: await freePort(), clusterPort: await freePort(), storeDir: makeTempDir(),
  })));
}

/** Starts one server per member from the store's nats.conf, all at once: a member turns healthy only with a meta leader. */
function startCluster(natsConf: string, members: readonly Member[]): Promise<NatsServerHandle[]> {
  const routes = members.map((m) => `nats://127.0.0.1:${m.clusterPort}`);
  return Promise.all(members.map((m) => startNatsServer({
    config: rewriteConfigForLocal(natsConf, { ...m, serverName: m.name, routes }),
    storeDir: m.storeDir,
    clusterPort: m.clusterPort,
    timeoutMs: WAIT_MS,
  })));
}

/** Runs the apply Job's program in-process with the Job's own arguments and settings, pointed at a local member. */
async function runApplyJob(objects: any[], url: string): Promise<ApplyOutcome & { out: string[]; err: string[] }> {
  const dir = makeTempDir();
  const definitions = path.join(dir, 'streams.json');
  fs.writeFileSync(definitions, configMapData(objects, `${STORE}-streams`, 'streams.json'));
  const container = objects.find((o) => o.kind === 'Job').spec.template.spec.containers[0];
  const env: Record<string, string> = Object.fromEntries(
    container.env.filter((v: any) => v.value !== undefined).map((v: any) => [v.name, v.value]));
  const request = parseCli(container.command.slice(2), {
    ...env, NATS_URL: url, STREAMS_FILE: definitions, WAIT_TIMEOUT: `${WAIT_MS / 1000}s`, TERMINATION_LOG: path.join(dir, 'termination-log'),
  });
  if (request.help) throw new Error('the Job asks for --help');
  const out: string[] = [];
  const err: string[] = [];
  const outcome = await runApply(request.options, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { ...outcome, out, err };
}

/** Polls `probe` until it returns a value, at most `WAIT_MS`; fails with what it waited for and the last answer. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`gave up after ${WAIT_MS} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

/** Stream info once a leader and both followers are current, each named `events-<i>`. */
function streamCurrent(): Promise<StreamInfo> {
  return waitFor('a stream leader with two current followers', async () => {
    const info = await jsm.streams.info(STREAM);
    const replicas = info.cluster?.replicas ?? [];
    return info.cluster?.leader && replicas.length === 2 && replicas.every((r) => r.current) ? info : undefined;
  });
}

/**
 * Publishes the next `count` messages, each acknowledged before the next. A publish that fails
 * (no leader yet, a lost connection) is retried with the same message id, so the stream's
 * duplicate window stores it once even when the first attempt was stored but not acknowledged.
 */
async function publishBatch(count: number): Promise<void> {
  for (let n = 0; n < count; n++) {
    const i = published + 1;
    const ack = await waitFor(`the ack of message ${i}`, () =>
      js.publish(`${STREAM}.created`, new TextEncoder().encode(`message ${i}`), { msgID: `message-${i}`, timeout: 1_000 }));
    expect(ack.seq).toBe(i);
    published = i;
  }
}

/** Reads every message back by sequence: all there, in order, none twice. */
async function expectAllMessages(): Promise<void> {
  const info = await jsm.streams.info(STREAM);
  expect(info.state).toMatchObject({ messages: published, first_seq: 1, last_seq: published });
  for (let seq = 1; seq <= published; seq++) {
    const message = await jsm.streams.getMessage(STREAM, { seq });
    expect(new TextDecoder().decode(message.data)).toBe(`message ${seq}`);
  }
}

/** The stream's state as a server's own monitoring port reports its replica. */
async function replicaState(server: NatsServerHandle): Promise<{ messages: number; last_seq: number } | undefined> {
  const jsz = JSON.parse(await httpGet(`http://127.0.0.1:${server.monitorPort}/jsz?accounts=true&streams=true`));
  const streams = (jsz.account_details ?? []).flatMap((a: any) => a.stream_detail ?? []);
  return streams.find((s: any) => s.name === STREAM)?.state;
}

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false, timeout: 1_000 }, (res) => {
      const chunks: string[] = [];
      res.setEncoding('utf8').on('data', (c: string) => chunks.push(c)).on('end', () => resolve(chunks.join('')));
    }).on('error', reject).on('timeout', function (this: http.ClientRequest) { this.destroy(new Error('timeout')); });
  });
}

/** Waits until the server that came back reports the stream current and holding every message. */
async function expectCaughtUp(server: NatsServerHandle, name: string): Promise<void> {
  await waitFor(`${name} to catch up to sequence ${published}`, async () => {
    const info = await jsm.streams.info(STREAM);
    const replica = info.cluster?.replicas?.find((r) => r.name === name);
    const state = await replicaState(server);
    return replica?.current && state?.messages === published && state.last_seq === published ? true : undefined;
  });
}

function serverNamed(name: string): NatsServerHandle {
  return servers[Number(name.slice(`${STORE}-`.length))];
}

/** SIGTERM, as Kubernetes stops a pod's container, and waits for the process to exit. */
async function stopGracefully(server: NatsServerHandle): Promise<void> {
  let exited = false;
  server.process.once('close', () => (exited = true));
  server.process.kill('SIGTERM');
  await waitFor('the server to exit', async () => (exited ? true : undefined));
}

beforeAll(async () => {
  const objects = synthesizeStore();
  const members = await allocateMembers();
  // The Job starts with the servers, as after a first deploy: it must wait for the meta leader.
  [servers, apply] = await Promise.all([
    startCluster(configMapData(objects, `${STORE}-config`, 'nats.conf'), members),
    runApplyJob(objects, `nats://127.0.0.1:${members[1].clientPort}`),
  ]);
  // Publishing goes on through whichever member is up.
  nc = await connect({ servers: servers.map((s) => s.url), reconnectTimeWait: 100, maxReconnectAttempts: 100 });
  js = nc.jetstream({ timeout: 2_000 });
  jsm = await nc.jetstreamManager({ timeout: 2_000 });
}, 40_000);

afterAll(async () => {
  await nc?.close();
  await stopAll();
});

describe('a three-server store', () => {
  test('forms a cluster on which the apply Job, once there is a meta leader, creates the stream with three replicas', async () => {
    // It may or may not have had to wait, depending on how fast the members found each other; it never failed.
    expect(apply.err.filter((line) => !line.startsWith('waiting for '))).toEqual([]);
    expect([apply.exitCode, apply.results.map((r) => [r.item.name, r.item.action, r.error])]).toEqual([ExitCode.OK, [[STREAM, 'create', undefined]]]);
    const info = await streamCurrent();
    expect(info.cluster?.name).toBe(STORE);
    expect(info.config.num_replicas).toBe(3);
    const members = [info.cluster?.leader, ...(info.cluster?.replicas ?? []).map((r) => r.name)].sort();
    expect(members).toEqual(['events-0', 'events-1', 'events-2']);
  });

  test('keeps every message while a follower is down, and the follower catches up when it returns', async () => {
    await publishBatch(BATCH);
    const { cluster } = await streamCurrent();
    const follower = cluster?.replicas?.[0].name as string;
    // A crash: SIGKILL, nothing flushed or handed over.
    await serverNamed(follower).kill();

    await publishBatch(BATCH);
    await expectAllMessages();

    await serverNamed(follower).restart();
    await expectCaughtUp(serverNamed(follower), follower);
    await expectAllMessages();
  }, 30_000);

  test('keeps every message when the stream leader stops: another member leads, and the old leader catches up', async () => {
    const { cluster } = await streamCurrent();
    const leader = cluster?.leader as string;
    await stopGracefully(serverNamed(leader));

    await publishBatch(BATCH);
    await waitFor('another stream leader', async () => {
      const info = await jsm.streams.info(STREAM);
      return info.cluster?.leader && info.cluster.leader !== leader ? true : undefined;
    });
    await expectAllMessages();

    await serverNamed(leader).restart();
    await expectCaughtUp(serverNamed(leader), leader);
    await expectAllMessages();
  }, 30_000);
});

describe('rules only a cluster can hold', () => {
  test('placement and async persistence: synth refuses exactly what the cluster refuses', async () => {
    const cases: Array<[string, StreamOptions, boolean]> = [
      ['placement in the store\'s own cluster', { placement: { cluster: STORE } }, false],
      ['placement in another cluster', { placement: { cluster: 'east' } }, true],
      ['placement by tags the servers do not carry', { placement: { tags: ['az:1'] } }, true],
      ['async persistence of three replicas', { persistMode: PersistMode.ASYNC, replicas: 3 }, true],
      ['async persistence of one replica', { persistMode: PersistMode.ASYNC }, false],
    ];
    const verdicts = [];
    for (const [i, [what, options]] of cases.entries()) {
      const chart = new Chart(Testing.app(), 'test');
      const stream = new StreamStore(chart, STORE, { replicas: 3 }).addStream(`rule${i}`, { subjects: [`rule${i}.>`], ...options });
      const synth = validationErrors(() => Testing.synth(chart));
      const config = toJetStreamConfig(stream.definition);
      const reply = await nc.request(`$JS.API.STREAM.CREATE.${config.name}`, JSON.stringify(config), { timeout: WAIT_MS });
      const error = JSON.parse(new TextDecoder().decode(reply.data)).error?.description;
      if (error === undefined) await jsm.streams.delete(config.name);
      verdicts.push([what, { synth: synth.length > 0, server: error !== undefined }]);
    }
    expect(verdicts).toEqual(cases.map(([what, , refused]) => [what, { synth: refused, server: refused }]));
  }, 60_000);
});
