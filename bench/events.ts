/**
 * The events forwarder from a real kube-apiserver into a local nats-server, next to plain
 * `js.publish` loops of the same messages, in one run:
 *
 *   npm run build && node lib/bench/events.js          # 5,000 events
 *   npm run build && node lib/bench/events.js 2000     # another count
 *
 * N events about one Deployment are created through the API server first. Each round then starts
 * on a fresh stream: (a) the forwarder as its pod runs it, a process (node start, list, publish,
 * acknowledgements), timed from its start to the stream holding N messages, with its peak RSS;
 * (b) a process publishing the same N messages (subjects, bodies, message ids, read from a file)
 * with the forwarder's window of acknowledgements in flight; (c) the same with one `await
 * js.publish` at a time. Median of three rounds, alternating which goes first; events per second
 * and the ratio against (b). Then (d): the forwarder watching while N more events are created
 * through the API server, 32 requests at a time: how long the creates took, and how much later
 * the last one was stored.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { JetStreamManager, NatsConnection, connect } from 'nats';
import { eventMessage, involvedMetadata } from '../src/events/event-message';
import { DEFAULT_MAX_IN_FLIGHT, EVENTS_ENV, KubernetesEventsApi } from '../src/events/settings';
import { AdminApi, PROGRAM, createEvents } from '../test/support/events';
import { nodeOfImage } from '../test/support/job-node';
import { KUBERNETES_VERSIONS, startKubernetes } from '../test/support/kubernetes';
import { makeTempDir, startNatsServer, stopAll } from '../test/support/nats-server';

const DEFAULT_EVENTS = 5_000;
const ROUNDS = 3;
const STREAM = 'bench-events';
const PREFIX = 'k8s.events';
const BUCKET = 'bench-positions';
const POLL_MS = 20;
const RUN_TIMEOUT_MS = 120_000;

/** A process that publishes a file of messages with `inFlight` acknowledgements awaited at once, then exits. */
const PUBLISHER = `
const fs = require('fs');
const { connect } = require(${JSON.stringify(require.resolve('nats'))});
(async () => {
  const [url, file, inFlight] = process.argv.slice(2);
  const messages = JSON.parse(fs.readFileSync(file, 'utf8'));
  const nc = await connect({ servers: url });
  const js = nc.jetstream();
  const window = new Set();
  for (const m of messages) {
    const sent = js.publish(m.subject, Buffer.from(m.body, 'base64'), { msgID: m.msgId }).then(() => window.delete(sent));
    window.add(sent);
    if (window.size >= Number(inFlight)) await Promise.race(window);
  }
  await Promise.all(window);
  await nc.close();
})();
`;

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? DEFAULT_EVENTS);
  const version = KUBERNETES_VERSIONS[KUBERNETES_VERSIONS.length - 1];
  console.log(`starting kube-apiserver ${version} and nats-server`);
  const [kube, server] = await Promise.all([startKubernetes(version), startNatsServer()]);
  const admin = new AdminApi(kube);
  let nc: NatsConnection | undefined;
  try {
    await kube.kubectl(['create', 'serviceaccount', 'bench']);
    // What the construct's ClusterRole allows, for the events and the kind it enriches with.
    await kube.kubectl(['create', 'clusterrole', 'bench', '--verb=get,list,watch', '--resource=events.events.k8s.io,deployments.apps']);
    await kube.kubectl(['create', 'clusterrolebinding', 'bench', '--clusterrole=bench', '--serviceaccount=default:bench']);
    const dir = makeTempDir();
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, (await kube.kubectl(['create', 'token', 'bench', '--duration=2h'])).stdout.trim());
    const deployment = await admin.request('POST', '/apis/apps/v1/namespaces/default/deployments', {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', labels: { app: 'web', team: 'shop' } },
      spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'example.com/web:1' }] } } },
    });
    console.log(`creating ${count} events through the API server`);
    await createEvents(admin, { kind: 'Deployment', apiVersion: 'apps/v1', namespace: 'default', name: 'web', uid: deployment.metadata.uid }, 'Bench', count, { concurrency: 32 });
    // The same messages the forwarder makes, for the plain loops.
    const listed = await admin.request('GET', '/apis/events.k8s.io/v1/events');
    const labels = involvedMetadata(deployment);
    const messages = listed.items.map((event: any) => eventMessage(PREFIX, KubernetesEventsApi.EVENTS_V1, event, labels));
    const messagesFile = path.join(dir, 'messages.json');
    fs.writeFileSync(messagesFile, JSON.stringify(messages.map((m: any) => ({ subject: m.subject, msgId: m.msgId, body: Buffer.from(m.body).toString('base64') }))));
    const publisherFile = path.join(dir, 'publisher.js');
    fs.writeFileSync(publisherFile, PUBLISHER);

    nc = await connect({ servers: server.url });
    const jsm = await nc.jetstreamManager();
    const fresh = () => freshStream(jsm);
    const forwarderEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin', NATS_URL: server.url,
      [EVENTS_ENV.subjectPrefix]: PREFIX, [EVENTS_ENV.resumeBucket]: BUCKET, [EVENTS_ENV.httpListen]: 'off',
      [EVENTS_ENV.enrich]: JSON.stringify([{ kind: 'Deployment', group: 'apps', version: 'v1', resource: 'deployments', namespaced: true }]),
      KUBERNETES_API_URL: kube.server, KUBERNETES_TOKEN_FILE: tokenFile, KUBERNETES_CA_FILE: kube.caFile,
    };
    const runs: Record<'forwarder' | 'window' | 'sequential', number[]> = { forwarder: [], window: [], sequential: [] };
    const peakRss: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order: (keyof typeof runs)[] = round % 2 === 0 ? ['forwarder', 'window', 'sequential'] : ['sequential', 'window', 'forwarder'];
      for (const run of order) {
        await fresh();
        if (run === 'forwarder') {
          const { ms, peakRssBytes } = await timedProcess(nodeOfImage(), [PROGRAM, 'events', 'forward'], forwarderEnv, jsm, count);
          runs.forwarder.push(ms);
          peakRss.push(peakRssBytes);
        } else {
          const inFlight = run === 'window' ? DEFAULT_MAX_IN_FLIGHT : 1;
          runs[run].push((await timedProcess(nodeOfImage(), [publisherFile, server.url, messagesFile, String(inFlight)], { PATH: forwarderEnv.PATH }, jsm, count)).ms);
        }
      }
    }
    // (d) live: the forwarder watching while the API server takes new events.
    await fresh();
    const live = spawn(nodeOfImage(), [PROGRAM, 'events', 'forward'], { env: forwarderEnv, stdio: 'ignore' });
    let createMs = 0;
    let storedAfterMs = 0;
    try {
      await waitForMessages(jsm, count, RUN_TIMEOUT_MS);
      const start = Date.now();
      await createEvents(admin, { kind: 'Deployment', apiVersion: 'apps/v1', namespace: 'default', name: 'web', uid: deployment.metadata.uid }, 'Live', count, { concurrency: 32 });
      createMs = Date.now() - start;
      await waitForMessages(jsm, 2 * count, RUN_TIMEOUT_MS);
      storedAfterMs = Date.now() - start - createMs;
    } finally {
      live.kill('SIGTERM');
      await new Promise((resolve) => (live.exitCode !== null ? resolve(undefined) : live.once('close', resolve)));
    }
    const window = median(runs.window);
    const line = (label: string, ms: number) => `| ${label} | ${Math.round(ms)} | ${Math.round(count / (ms / 1000))} | ${(ms / window).toFixed(2)}x |`;
    console.log(`\n${count} events, median of ${ROUNDS} rounds, each a process from its start to the stream holding every message:\n`);
    console.log('| run | ms | events/s | against (b) |\n|---|---:|---:|---:|');
    console.log(line('(a) the forwarder: list from the API server, labels, publish, acknowledgements', median(runs.forwarder)));
    console.log(line(`(b) plain js.publish loop, ${DEFAULT_MAX_IN_FLIGHT} in flight`, window));
    console.log(line('(c) plain js.publish loop, one await at a time', median(runs.sequential)));
    console.log(`\nthe forwarder's peak RSS: ${(median(peakRss) / 1024 / 1024).toFixed(0)} MB (median of ${ROUNDS})`);
    console.log(`(d) live: ${count} events created through the API server in ${createMs} ms (${Math.round(count / (createMs / 1000))}/s); `
      + `the last stored ${storedAfterMs} ms after the last create`);
  } finally {
    await nc?.close();
    admin.close();
    await kube.stop();
    await stopAll();
  }
}

/** Deletes and creates the stream (a purge keeps its duplicate ids) and the positions bucket. */
async function freshStream(jsm: JetStreamManager): Promise<void> {
  for (const name of [STREAM, `KV_${BUCKET}`]) await jsm.streams.delete(name).catch(() => false);
  await jsm.streams.add({ name: STREAM, subjects: [`${PREFIX}.>`], duplicate_window: 3_600_000_000_000 });
  await jsm.streams.add({ name: `KV_${BUCKET}`, subjects: [`$KV.${BUCKET}.>`], max_msgs_per_subject: 1, allow_rollup_hdrs: true, allow_direct: true, discard: 'new' as any, deny_delete: true });
}

/** Runs a process until the stream holds `count` messages (then stops it): its wall time and peak RSS. */
async function timedProcess(command: string, args: string[], env: NodeJS.ProcessEnv, jsm: JetStreamManager, count: number): Promise<{ ms: number; peakRssBytes: number }> {
  const start = process.hrtime.bigint();
  const child: ChildProcess = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const errors: string[] = [];
  for (const output of [child.stdout, child.stderr]) output?.setEncoding('utf8').on('data', (chunk: string) => errors.push(chunk));
  let peakRssBytes = 0;
  try {
    // Bounded by RUN_TIMEOUT_MS.
    for (const deadline = Date.now() + RUN_TIMEOUT_MS; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, POLL_MS))) {
      peakRssBytes = Math.max(peakRssBytes, rss(child.pid as number));
      if ((await jsm.streams.info(STREAM)).state.messages >= count) return { ms: Number(process.hrtime.bigint() - start) / 1e6, peakRssBytes };
      if (child.exitCode !== null && child.exitCode !== 0) throw new Error(`${args[0]} exited ${child.exitCode}: ${errors.join('')}`);
    }
    throw new Error(`${args[0]} did not store ${count} messages in ${RUN_TIMEOUT_MS} ms: ${errors.join('').slice(-3000)}`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('close', resolve)));
  }
}

/** Waits until the stream holds `count` messages. */
async function waitForMessages(jsm: JetStreamManager, count: number, timeoutMs: number): Promise<void> {
  // Bounded by timeoutMs.
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, POLL_MS))) {
    if ((await jsm.streams.info(STREAM)).state.messages >= count) return;
  }
  throw new Error(`the stream did not hold ${count} messages in ${timeoutMs} ms`);
}

function rss(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
