/**
 * The apply program against local nats-servers, next to plain client calls, in one run:
 *
 *   npm run build && node lib/bench/apply.js         # 1,000 streams
 *   npm run build && node lib/bench/apply.js 300     # another count
 *
 * In this process, on the default release: (a) floor: every `jsm.streams.add` at once
 * (Promise.all); (b) one `add` at a time; (c) the program applying from empty; (d) re-applying
 * unchanged; (e) updating 100 streams. Each create is measured on an empty server; (a) and (c)
 * take the median of five rounds, alternating which goes first.
 * As the Job runs it: (f) the program as a process creating from empty, and (g) re-applying
 * unchanged, median of five rounds each, under /usr/bin/time for the peak memory, on the default
 * release and on Debian's 2.9.10. Each run is the Job's container of a store of these streams
 * synthesized by the library: its command (`node` on the loader, which unpacks the program), its
 * ConfigMaps as files, its environment with this shell's PATH and nothing else, pointed at the server.
 * (h) is the same command with `--help`: what every run costs before it does anything.
 *
 * Goals: (c) within 1.3x of (a); (g) at most 0.2 of (f); peak memory under 150 MB.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Chart, Size, Testing } from 'cdk8s';
import { JetStreamManager, NatsConnection, StreamConfig, connect } from 'nats';
import { ApplyOptions, ExitCode, runApply } from '../src/apply/apply';
import type { JetStreamStreamConfig } from '../src/stream-definition';
import { StreamStore } from '../src/stream-store';
import { localContainer } from '../test/support/kubelet';
import { DEFAULT_RELEASE, NatsServerRelease, makeTempDir, startNatsServer, stopAll, versionOf } from '../test/support/nats-server';
import { fakeSecrets } from '../test/support/store-from-manifests';

const DEFAULT_STREAMS = 1000;
const UPDATED_STREAMS = 100;
const ROUNDS = 5;
const HOUR_NS = 3_600_000_000_000;
const TIME_BIN = '/usr/bin/time';
const RSS_SAMPLE_MS = 20;

/** A small file stream, as the synth writes it. */
function streamConfig(i: number, maxAgeHours = 1): JetStreamStreamConfig {
  return {
    name: `bench-${String(i).padStart(4, '0')}`, subjects: [`bench.${i}.>`], retention: 'limits', storage: 'file',
    num_replicas: 1, max_consumers: -1, max_msgs: 1000, max_bytes: 1024 * 1024, max_age: maxAgeHours * HOUR_NS,
    max_msg_size: -1, max_msgs_per_subject: -1, discard: 'old', discard_new_per_subject: false, duplicate_window: 60_000_000_000,
    deny_delete: false, deny_purge: false, allow_rollup_hdrs: false, allow_direct: false, mirror_direct: false, sealed: false, no_ack: false,
  };
}

function writeDocument(file: string, configs: JetStreamStreamConfig[]): void {
  const streams = configs.map((config) => ({ retentionPolicy: 'Delete', config }));
  fs.writeFileSync(file, JSON.stringify({ store: 'bench', version: '2.9.25', streams }));
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

/** Deletes every stream, the ownership bucket's too, so the next create starts from an empty server. */
async function deleteAll(jsm: JetStreamManager): Promise<void> {
  const names: string[] = [];
  for await (const name of jsm.streams.names()) names.push(name);
  await Promise.all(names.map((name) => jsm.streams.delete(name)));
}

async function applyInProcess(options: ApplyOptions): Promise<void> {
  const errors: string[] = [];
  const { exitCode } = await runApply(options, { out: () => undefined, err: (line) => errors.push(line) });
  if (exitCode !== ExitCode.OK) throw new Error(`the program exited ${exitCode}: ${errors.join('\n')}`);
}

/** A process to run: its command and its whole environment. */
interface JobProcess {
  readonly command: readonly string[];
  readonly env: Record<string, string>;
}

/**
 * The apply Job of a store of `count` streams like {@link streamConfig}'s, synthesized for `release`,
 * as the kubelet would run its container here (its ConfigMaps written under `dir`), pointed at `url`.
 */
function synthesizedJob(release: NatsServerRelease, count: number, url: string, dir: string): JobProcess {
  const chart = new Chart(Testing.app(), 'bench');
  const store = new StreamStore(chart, 'bench', { version: versionOf(release), storage: { size: Size.gibibytes(100) } });
  for (let i = 0; i < count; i++) {
    store.addStream(`bench-${String(i).padStart(4, '0')}`, { subjects: [`bench.${i}.>`], maxMsgs: 1000, maxBytes: '1Mi', maxAge: '1h' });
  }
  const objects = Testing.synth(chart);
  const { command, env } = localContainer(objects, objects.find((o) => o.kind === 'Job').spec.template.spec, dir, fakeSecrets(objects));
  return { command, env: { ...env, NATS_URL: url, TERMINATION_LOG: path.join(dir, 'termination-log') } };
}

/**
 * (f), (g) and (h): the program as the Job runs it, a process per run, against a server of
 * `release`: the median wall time of creating `count` streams from empty, of re-applying them
 * unchanged and of its usage text alone, and the largest max RSS of all runs.
 */
async function asProcesses(release: NatsServerRelease, count: number) {
  const server = await startNatsServer({ release });
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await nc.jetstreamManager({ timeout: 60_000 });
    // `npm run bench:apply` builds first: the ConfigMap holds the program the package ships.
    const job = synthesizedJob(release, count, server.url, makeTempDir());
    // (h): node starting, the loader unpacking the program, the program loading, and nothing else.
    const usage = { ...job, command: [...job.command, '--help'] };
    const create: number[] = [];
    const unchanged: number[] = [];
    const fixed: number[] = [];
    let maxRssMb = 0;
    for (let round = 0; round < ROUNDS; round++) {
      await deleteAll(jsm);
      for (const [times, run] of [[create, job], [unchanged, job], [fixed, usage]] as const) {
        const measured = await runJobTimed(run);
        times.push(measured.ms);
        maxRssMb = Math.max(maxRssMb, measured.maxRssMb);
      }
    }
    return { version: nc.info?.version, createMs: median(create), unchangedMs: median(unchanged), fixedMs: median(fixed), maxRssMb };
  } finally {
    await nc.close();
    await server.stop();
  }
}

/** Runs the Job's command under /usr/bin/time -v; its wall time and max RSS. */
function runJobTimed(job: JobProcess): Promise<{ ms: number; maxRssMb: number }> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    execFile(TIME_BIN, ['-v', ...job.command], { env: job.env, maxBuffer: 64 * 1024 * 1024 }, (error, _stdout, stderr) => {
      if (error) return reject(new Error(`the Job's command failed: ${error.message}\n${stderr.slice(-2000)}`));
      const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
      if (!kb) return reject(new Error(`no max RSS in ${TIME_BIN} output`));
      resolve({ ms: Date.now() - start, maxRssMb: Number(kb[1]) / 1024 });
    });
  });
}

/** Peak RSS of this process while `work` runs, sampled. */
async function peakRssMb(work: () => Promise<unknown>): Promise<number> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), RSS_SAMPLE_MS);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, process.memoryUsage().rss) / 1024 / 1024;
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? DEFAULT_STREAMS);
  const dir = makeTempDir();
  const server = await startNatsServer();
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: server.url });
    const jsm = await nc.jetstreamManager({ timeout: 60_000 });
    const configs = Array.from({ length: count }, (_, i) => streamConfig(i));
    const definitions = path.join(dir, 'streams.json');
    writeDocument(definitions, configs);
    const options: ApplyOptions = { command: 'apply', server: server.url, definitions, waitMs: 10_000, concurrency: 32, ownerReplicas: 1, lockTtlMs: 30_000 };
    const add = (config: JetStreamStreamConfig) => jsm.streams.add({ ...config } as unknown as Partial<StreamConfig>);

    const floor: number[] = [];
    const program: number[] = [];
    const runs = [
      async () => floor.push(await timed(() => Promise.all(configs.map(add)))),
      async () => program.push(await timed(() => applyInProcess(options))),
    ];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating which goes first, since the server slows down a little as streams come and go.
      for (const measure of round % 2 === 0 ? runs : [...runs].reverse()) {
        await measure();
        await deleteAll(jsm);
      }
    }
    const serial = await timed(async () => {
      for (const config of configs) await add(config);
    });
    await deleteAll(jsm);

    let inProcessPeak = 0;
    const create = await timed(async () => (inProcessPeak = await peakRssMb(() => applyInProcess(options))));
    const unchanged = await timed(() => applyInProcess(options));
    writeDocument(definitions, configs.map((config, i) => (i < UPDATED_STREAMS ? streamConfig(i, 2) : config)));
    const updated = await timed(() => applyInProcess(options));

    const processes = fs.existsSync(TIME_BIN) ? [await asProcesses(DEFAULT_RELEASE, count), await asProcesses('2.9.10', count)] : [];

    const floorMs = median(floor);
    const createMs = median(program);
    const rows: Array<[string, number]> = [
      [`(a) floor: ${count} concurrent jsm.streams.add`, floorMs],
      [`(b) ${count} jsm.streams.add one at a time`, serial],
      [`(c) program: apply ${count} from empty`, createMs],
      [`(d) program: re-apply ${count} unchanged`, unchanged],
      [`(e) program: update ${UPDATED_STREAMS} of ${count}`, updated],
    ];
    const width = Math.max(...rows.map(([label]) => label.length));
    console.log(`nats-server ${nc.info?.version}, ${count} file streams, median of ${ROUNDS} rounds for (a) and (c)`);
    console.log(`${'run'.padEnd(width)}  ${'ms'.padStart(8)}  vs floor`);
    for (const [label, ms] of rows) console.log(`${label.padEnd(width)}  ${ms.toFixed(0).padStart(8)}  ${(ms / floorMs).toFixed(2)}x`);
    console.log(`rounds (a): ${floor.map((ms) => ms.toFixed(0)).join(', ')} ms; (c): ${program.map((ms) => ms.toFixed(0)).join(', ')} ms; (c) single run ${create.toFixed(0)} ms`);
    console.log(`goal: create ${(createMs / floorMs).toFixed(2)}x of floor (<= 1.3x); in this process, unchanged is ${(unchanged / createMs).toFixed(2)} of create`);
    if (processes.length === 0) console.log(`peak memory: ${inProcessPeak.toFixed(0)} MB (RSS of this process, sampled during (c)); no ${TIME_BIN} for (f) and (g)`);
    for (const p of processes) {
      console.log(`as the Job runs it, nats-server ${p.version}: (f) create ${p.createMs.toFixed(0)} ms, (g) unchanged ${p.unchangedMs.toFixed(0)} ms, `
        + `${(p.unchangedMs / p.createMs).toFixed(2)} of create (goal <= 0.2); (h) start and load alone (--help) ${p.fixedMs.toFixed(0)} ms, `
        + `${(p.fixedMs / p.createMs).toFixed(2)} of create; peak memory ${p.maxRssMb.toFixed(0)} MB (goal < 150 MB)`);
    }
  } finally {
    await nc?.close();
    await stopAll();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
