/**
 * Two runs of one store at once, rollbacks and crashed runs, against a real nats-server: the store's
 * lock lets one run at a time, and the generation of the definitions lets only the newest win.
 */
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { App, Chart } from 'cdk8s';
import { JetStreamManager, NatsConnection, connect } from 'nats';
import { ApplyOptions, ExitCode, runApply } from '../../src/apply/apply';
import { streamsDigest } from '../../src/apply/definitions';
import { LOCK_BUCKET, OWNERSHIP_BUCKET } from '../../src/apply/names';
import { RecordPieces, decodeOwnership, readOwnership, writeOwnership } from '../../src/apply/ownership';
import { PREVIOUS_VARIABLE, parseObjects } from '../../src/previous-manifests';
import type { JetStreamStreamConfig, StreamOptions } from '../../src/stream-definition';
import { StreamStore } from '../../src/stream-store';
import { nodeOfImage } from '../support/job-node';
import { DEFAULT_RELEASE, NatsServerHandle, makeTempDir, startNatsServer, stopAll, versionOf } from '../support/nats-server';
import { sleep } from '../support/io';
import { freePort } from '../support/ports';
import { HOUR_NS, declaredConfig } from './fixtures';

interface Entry {
  readonly retentionPolicy: 'Retain' | 'Delete';
  readonly config: JetStreamStreamConfig;
}

const entry = (name: string, config: Partial<JetStreamStreamConfig> = {}, retentionPolicy: Entry['retentionPolicy'] = 'Retain'): Entry => ({
  retentionPolicy, config: declaredConfig({ name, subjects: [`${name}.>`], ...config }),
});

let server: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;
let dir: string;

beforeAll(async () => {
  server = await startNatsServer({ release: DEFAULT_RELEASE });
  nc = await connect({ servers: server.url });
  jsm = await nc.jetstreamManager();
});

afterAll(async () => {
  await nc?.close();
  await stopAll();
});

beforeEach(() => {
  dir = makeTempDir();
});

/** Writes a store's streams document of `generation` and returns its path. */
function document(store: string, generation: number, streams: readonly Entry[], file = `${store}-${generation}-${Math.random()}.json`): string {
  const definitions = path.join(dir, file);
  fs.writeFileSync(definitions, JSON.stringify({ store, version: versionOf(DEFAULT_RELEASE).version, generation, streams }));
  return definitions;
}

/** Runs the program in-process; its lines are kept for the assertions. */
async function run(definitions: string, options: Partial<ApplyOptions> = {}): Promise<{ exitCode: ExitCode; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const { exitCode } = await runApply(
    { command: 'apply', server: server.url, definitions, waitMs: 20_000, concurrency: 8, ownerReplicas: 1, lockTtlMs: 30_000, ...options },
    { out: (line) => out.push(line), err: (line) => err.push(line) },
  );
  return { exitCode, out, err };
}

/** The streams on the server whose names start with `prefix`, with their max age. */
async function streamsOf(prefix: string): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  for await (const info of jsm.streams.list()) {
    if (info.config.name.startsWith(prefix)) found[info.config.name] = info.config.max_age;
  }
  return found;
}

async function recordOf(store: string): Promise<{ generation: number; streams: string[] }> {
  const kv = await nc.jetstream().views.kv(OWNERSHIP_BUCKET, { bindOnly: true });
  const e = await kv.get(store);
  const content = decodeOwnership(e?.string() ?? '{"streams":{}}', store);
  return { generation: content.applied.generation, streams: [...content.managed.keys()].sort() };
}

const TRIALS = 20;

test(`an older and a newer run started together, ${TRIALS} times: the newer definitions always win, and the older run changes nothing`, async () => {
  const endings: string[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const store = `race${trial}`;
    const name = (stream: string) => `R${trial}_${stream}`;
    // The state both start from: generation 1 applied, with B.
    expect((await run(document(store, 1, [entry(name('A')), entry(name('B'), {}, 'Delete')]))).exitCode).toBe(ExitCode.OK);
    const older = document(store, 2, [entry(name('A'), { max_age: HOUR_NS }), entry(name('B'), {}, 'Delete')]);
    const newer = document(store, 3, [entry(name('A'), { max_age: 2 * HOUR_NS }), entry(name('C'), {}, 'Delete')]);
    // Which starts first alternates, so each order of arrival is tried.
    const [first, second] = trial % 2 === 0 ? [older, newer] : [newer, older];
    const results = await Promise.all([run(first), run(second)]);
    const [olderRun, newerRun] = trial % 2 === 0 ? results : [results[1], results[0]];
    const state = await streamsOf(`R${trial}_`);
    expect({ trial, newer: newerRun.exitCode, state, record: await recordOf(store) }).toEqual({
      trial, newer: ExitCode.OK, state: { [name('A')]: 2 * HOUR_NS, [name('C')]: 0 }, record: { generation: 3, streams: [name('A'), name('C')] },
    });
    // The older run either came first and was then undone, or came second and was refused whole.
    expect([ExitCode.OK, ExitCode.STALE]).toContain(olderRun.exitCode);
    if (olderRun.exitCode === ExitCode.STALE) expect(olderRun.out.filter((line) => /^\[\d+\/\d+\]/.test(line))).toEqual([]);
    endings.push(olderRun.exitCode === ExitCode.STALE ? 'older refused' : 'older first');
  }
  // Both orders of arrival happened: the test tried the race, not one order twenty times.
  expect(new Set(endings)).toEqual(new Set(['older refused', 'older first']));
});

test('a run older than what was applied exits 4 with the reason, and changes nothing', async () => {
  const store = 'stale';
  expect((await run(document(store, 5, [entry('STALE_A', { max_age: 2 * HOUR_NS })]))).exitCode).toBe(ExitCode.OK);
  const older = await run(document(store, 4, [entry('STALE_A', { max_age: HOUR_NS }), entry('STALE_B')]));
  expect(older.exitCode).toBe(ExitCode.STALE);
  expect(older.err).toEqual(['stale: these definitions are generation 4, older than generation 5, which was applied already: '
    + 'a newer Job applies newer definitions']);
  expect(await streamsOf('STALE_')).toEqual({ STALE_A: 2 * HOUR_NS });
  expect((await recordOf(store)).generation).toBe(5);
  // Unnumbered definitions (synthesized without the previous output) say how to number them.
  const unnumbered = await run(document(store, 0, [entry('STALE_A')]));
  expect(unnumbered.exitCode).toBe(ExitCode.STALE);
  expect(unnumbered.err[0]).toContain('synthesize again with the committed output (git) or JETSTREAM_CDK8S_PREVIOUS');
});

test('the same generation with other definitions is refused; the same definitions again (a new program) apply', async () => {
  const store = 'twins';
  const applied = [entry('TWIN_A')];
  expect((await run(document(store, 3, applied, 'a.json'))).exitCode).toBe(ExitCode.OK);
  const twin = await run(document(store, 3, [entry('TWIN_A'), entry('TWIN_B')]));
  expect(twin.exitCode).toBe(ExitCode.STALE);
  expect(twin.err[0]).toMatch(/^stale: generation 3 was applied with other definitions \(digest [0-9a-f]{12}, these are [0-9a-f]{12}\)/);
  expect(await streamsOf('TWIN_')).toEqual({ TWIN_A: 0 });
  expect((await run(document(store, 3, applied, 'a.json'))).exitCode).toBe(ExitCode.OK);
});

test('unnumbered definitions (generation 0) replace each other, as before generations', async () => {
  const store = 'plain';
  expect((await run(document(store, 0, [entry('PLAIN_A')]))).exitCode).toBe(ExitCode.OK);
  expect((await run(document(store, 0, [entry('PLAIN_A', { max_age: HOUR_NS })]))).exitCode).toBe(ExitCode.OK);
  expect(await streamsOf('PLAIN_')).toEqual({ PLAIN_A: HOUR_NS });
});

test('a lock left by a crashed run expires: the next run waits for it, saying who holds it, then applies', async () => {
  // A server of its own: the lock bucket's lifetime is set when the first run creates it.
  const own = await startNatsServer({ release: DEFAULT_RELEASE });
  const ownNc = await connect({ servers: own.url });
  try {
    const store = 'crashed';
    const kv = await ownNc.jetstream().views.kv(LOCK_BUCKET, { ttl: 1_000, history: 1, allow_direct: false });
    await kv.create(store, JSON.stringify({ holder: 'crashed-pod pid 1', since: '2026-12-06T00:00:00.000Z', generation: 1 }));
    const started = Date.now();
    const result = await run(document(store, 1, [entry('CRASHED_A')]), { server: own.url, lockTtlMs: 1_000 });
    expect(result.exitCode).toBe(ExitCode.OK);
    expect(result.err).toEqual(['waiting: the lock of store "crashed" is held by crashed-pod pid 1 (generation 1) since 2026-12-06T00:00:00.000Z']);
    expect((await (await ownNc.jetstreamManager()).streams.info('CRASHED_A')).config.name).toBe('CRASHED_A');
    // It waited for the server to expire the lock.
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    // Released: the key is deleted, so the next run with something to write takes it at once.
    const next = await run(document(store, 2, [entry('CRASHED_A'), entry('CRASHED_B')]), { server: own.url, lockTtlMs: 1_000 });
    expect([next.exitCode, next.err]).toEqual([ExitCode.OK, []]);
    expect((await (await ownNc.jetstreamManager()).streams.info('CRASHED_B')).config.name).toBe('CRASHED_B');
  } finally {
    await ownNc.close();
    await own.stop();
  }
});

test('a run finding the lock held by a newer generation is stale at once, without waiting', async () => {
  const store = 'overtaken';
  const kv = await nc.jetstream().views.kv(LOCK_BUCKET, { ttl: 1_000, history: 1, allow_direct: false });
  await kv.create(store, JSON.stringify({ holder: 'newer-pod pid 1', since: '2026-12-06T00:00:00.000Z', generation: 7, digest: 'f'.repeat(64) }));
  const result = await run(document(store, 6, [entry('OVERTAKEN_A')]), { lockTtlMs: 1_000 });
  expect(result.exitCode).toBe(ExitCode.STALE);
  expect(result.err).toEqual(['stale: these definitions are generation 6, older than generation 7, which was applied already: '
    + 'a newer Job applies newer definitions']);
  expect(await streamsOf('OVERTAKEN_')).toEqual({});
});

test('a run with nothing to write ends at once, without the lock another run holds; one with something to write waits', async () => {
  const store = 'idle';
  const applied = document(store, 1, [entry('IDLE_A')]);
  expect((await run(applied)).exitCode).toBe(ExitCode.OK);
  const kv = await nc.jetstream().views.kv(LOCK_BUCKET, { bindOnly: true });
  await kv.create(store, JSON.stringify({ holder: 'busy-pod pid 1', since: '2026-12-06T00:00:00.000Z', generation: 1 }));
  try {
    const unchanged = await run(applied, { waitMs: 1_000 });
    expect([unchanged.exitCode, unchanged.err]).toEqual([ExitCode.OK, []]);
    expect(unchanged.out.filter((line) => line.includes('IDLE_'))).toEqual([expect.stringMatching(/^\[\d+\/\d+\] unchanged IDLE_A$/)]);
    // The same server with a change to write: it waits for the lock until its deadline, and writes nothing.
    const changed = await run(document(store, 2, [entry('IDLE_A'), entry('IDLE_B')]), { waitMs: 1_000 });
    expect(changed.exitCode).toBe(ExitCode.ERROR);
    expect(changed.err[0]).toBe('waiting: the lock of store "idle" is held by busy-pod pid 1 (generation 1) since 2026-12-06T00:00:00.000Z');
    expect(Object.keys(await streamsOf('IDLE_'))).toEqual(['IDLE_A']);
  } finally {
    await kv.delete(store);
  }
});

test('the digest a run records is the one of its files', async () => {
  const store = 'digest';
  const definitions = document(store, 2, [entry('DIGEST_A')]);
  expect((await run(definitions)).exitCode).toBe(ExitCode.OK);
  const kv = await nc.jetstream().views.kv(OWNERSHIP_BUCKET, { bindOnly: true });
  const content = decodeOwnership((await kv.get(store))?.string() ?? '', store);
  expect(content.applied).toEqual({ generation: 2, digest: streamsDigest([fs.readFileSync(definitions, 'utf8')]) });
});

describe('rollbacks', () => {
  /**
   * Synthesizes store `store` of `streams` into `outdir` and returns the objects it wrote. The previous
   * output is `previous` (a file or directory), or with 'git' the output committed in git, as npm run synth reads it.
   */
  function synthesizeStore(outdir: string, store: string, streams: Record<string, StreamOptions>, previous: string): any[] {
    const saved = process.env[PREVIOUS_VARIABLE];
    if (previous === 'git') delete process.env[PREVIOUS_VARIABLE];
    else process.env[PREVIOUS_VARIABLE] = previous;
    try {
      const app = new App({ outdir });
      const host = new StreamStore(new Chart(app, 'shop'), store);
      for (const [name, options] of Object.entries(streams)) host.addStream(name, options);
      app.synth();
    } finally {
      if (saved === undefined) delete process.env[PREVIOUS_VARIABLE];
      else process.env[PREVIOUS_VARIABLE] = saved;
    }
    return parseObjects(fs.readFileSync(path.join(outdir, 'shop.k8s.yaml'), 'utf8'));
  }

  /** Synthesizes a store of `streams` into a new directory, after the synthesis in `previous` as its committed output would be. */
  function synthesize(streams: Record<string, StreamOptions>, previous?: string): { outdir: string; job: any; documents: string[] } {
    const outdir = makeTempDir();
    const nothing = path.join(makeTempDir(), 'none.yaml');
    fs.writeFileSync(nothing, '');
    const objects = synthesizeStore(outdir, 'rollback', streams, previous ?? nothing);
    const job = objects.find((o) => o.kind === 'Job');
    const documents = objects.filter((o) => o.kind === 'ConfigMap' && o.data?.['streams.json']).map((o) => o.data['streams.json']);
    return { outdir, job, documents };
  }

  test('definitions A, then B, then A again: three Jobs of three generations, and the third applies A', async () => {
    const A = { 'RB_ORDERS': { subjects: ['rb.orders.>'], maxAge: '1h' } };
    const B = { 'RB_ORDERS': { subjects: ['rb.orders.>'], maxAge: '2h' }, 'RB_AUDIT': { subjects: ['rb.audit.>'] } };
    const first = synthesize(A);
    const second = synthesize(B, first.outdir);
    const third = synthesize(A, second.outdir);
    // The same definitions synthesized again keep their generation, and their Job.
    const again = synthesize(A, third.outdir);
    const generations = [first, second, third, again].map((s) => JSON.parse(s.documents[0]).generation);
    expect(generations).toEqual([0, 1, 2, 2]);
    const names = [first, second, third, again].map((s) => s.job.metadata.name);
    expect(new Set(names.slice(0, 3)).size).toBe(3);
    expect(names[3]).toBe(names[2]);

    for (const synthesis of [first, second, third]) {
      const definitions = path.join(synthesis.outdir, 'streams.json');
      fs.writeFileSync(definitions, synthesis.documents[0]);
      expect((await run(definitions)).exitCode).toBe(ExitCode.OK);
    }
    expect(await streamsOf('RB_')).toEqual({ RB_ORDERS: HOUR_NS, RB_AUDIT: 0 });
    // The first Job, still retrying somewhere, can no longer apply its (equal) definitions over the third's.
    const late = path.join(first.outdir, 'streams.json');
    expect((await run(late)).exitCode).toBe(ExitCode.STALE);
  });

  test('a git revert of the output itself: the reverted definitions are numbered past the reverted ones, and apply', async () => {
    const repo = makeTempDir();
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], {
      encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' },
    });
    git('init', '-q');
    const outdir = path.join(repo, 'dist');
    /** Synthesizes into the repository's dist/, reading the committed output as npm run synth does; the Job name and document. */
    const synthesizeCommitted = (streams: Record<string, StreamOptions>) => {
      const objects = synthesizeStore(outdir, 'reverted', streams, 'git');
      const text = objects.find((o) => o.kind === 'ConfigMap' && o.data?.['streams.json']).data['streams.json'] as string;
      return { job: objects.find((o) => o.kind === 'Job').metadata.name as string, text, generation: JSON.parse(text).generation as number };
    };
    const A = { RV_ORDERS: { subjects: ['rv.orders.>'], maxAge: '1h' } };
    const B = { RV_ORDERS: { subjects: ['rv.orders.>'], maxAge: '2h' } };
    const first = synthesizeCommitted(A);
    git('add', '-A');
    git('commit', '-q', '-m', 'A');
    const second = synthesizeCommitted(B);
    git('add', '-A');
    git('commit', '-q', '-m', 'B');
    git('revert', '--no-edit', 'HEAD');
    const third = synthesizeCommitted(A);
    expect([first.generation, second.generation, third.generation]).toEqual([0, 1, 2]);
    expect(new Set([first.job, second.job, third.job]).size).toBe(3);
    // Committed, it stays: the output at HEAD has the highest number seen.
    git('add', '-A');
    git('commit', '-q', '-m', 'A again');
    expect(synthesizeCommitted(A)).toEqual(third);

    for (const [i, synthesis] of [first, second, third].entries()) {
      const definitions = path.join(repo, `streams-${i}.json`);
      fs.writeFileSync(definitions, synthesis.text);
      expect((await run(definitions)).exitCode).toBe(ExitCode.OK);
    }
    expect(await streamsOf('RV_')).toEqual({ RV_ORDERS: HOUR_NS });
  });
});

describe('an ownership record larger than one message', () => {
  test('1,000 streams on a server with max_payload 16KiB apply, and a second run changes nothing', async () => {
    const [port, monitorPort] = [await freePort(), await freePort()];
    const own = await startNatsServer({
      release: DEFAULT_RELEASE,
      config: `listen: "127.0.0.1:${port}"\nhttp: "127.0.0.1:${monitorPort}"\nmax_payload: 16384\njetstream { store_dir: "${makeTempDir()}" }\n`,
    });
    try {
      const streams = Array.from({ length: 1_000 }, (_, i) => entry(`BIG_${String(i).padStart(4, '0')}`));
      const definitions = document('big', 1, streams);
      const first = await run(definitions, { server: own.url, concurrency: 32 });
      expect([first.exitCode, first.err]).toEqual([ExitCode.OK, []]);
      const second = await run(definitions, { server: own.url });
      expect([second.exitCode, second.out.filter((line) => /^\[\d+\/\d+\] (?!unchanged)/.test(line))]).toEqual([ExitCode.OK, []]);
      const ownNc = await connect({ servers: own.url });
      try {
        const record = await readOwnership(ownNc, 'big', true);
        expect([record.managed.size, record.applied.generation, record.pieces?.count]).toEqual([1_000, 1, expect.any(Number)]);
        expect(record.pieces?.count).toBeGreaterThan(1);
      } finally {
        await ownNc.close();
      }
    } finally {
      await own.stop();
    }
  });

  test('a record of 10,000 streams is written in pieces under max_payload 16KiB, read back whole, and its old pieces removed', async () => {
    const [port, monitorPort] = [await freePort(), await freePort()];
    const own = await startNatsServer({
      release: DEFAULT_RELEASE,
      config: `listen: "127.0.0.1:${port}"\nhttp: "127.0.0.1:${monitorPort}"\nmax_payload: 16384\njetstream { store_dir: "${makeTempDir()}" }\n`,
    });
    const ownNc = await connect({ servers: own.url });
    try {
      // Names of several bytes a character: a piece may end inside one.
      const managed = (n: number) => new Map(Array.from({ length: n }, (_, i) => [`strøm-${i}`, { retentionPolicy: 'Retain' as const }]));
      const first = await writeOwnership(ownNc, 'huge', { managed: managed(10_000), applied: { generation: 4 } }, { revision: 0 }, 1);
      const read = await readOwnership(ownNc, 'huge', true);
      expect([read.managed, read.applied.generation, read.revision]).toEqual([managed(10_000), 4, first.revision]);
      const pieces = read.pieces as RecordPieces;
      expect(pieces.count).toBeGreaterThan(10);
      // Smaller again: one message, and the pieces are gone.
      await writeOwnership(ownNc, 'huge', { managed: managed(3), applied: { generation: 5 } }, read, 1);
      expect((await readOwnership(ownNc, 'huge', true)).managed).toEqual(managed(3));
      const kv = await ownNc.jetstream().views.kv(OWNERSHIP_BUCKET, { bindOnly: true });
      expect((await kv.get(`huge.${pieces.epoch}.0`))?.operation).toBe('PURGE');
    } finally {
      await ownNc.close();
      await own.stop();
    }
  });
});

describe('a run that stalls while holding the lock', () => {
  test('sends no write once it may have lost the lock; what it had in flight, the drift check repairs', async () => {
    const own = await startNatsServer({ release: DEFAULT_RELEASE });
    const ownNc = await connect({ servers: own.url });
    try {
      const streams = (hours: number) => Array.from({ length: 300 }, (_, i) => entry(`ST_${String(i).padStart(3, '0')}`, { max_age: hours * HOUR_NS }));
      const ages = async () => {
        const count: Record<number, number> = {};
        for await (const info of (await ownNc.jetstreamManager()).streams.list()) {
          if (info.config.name.startsWith('ST_')) count[info.config.max_age / HOUR_NS] = (count[info.config.max_age / HOUR_NS] ?? 0) + 1;
        }
        return count;
      };
      // Every run on a lock lifetime of three seconds, the bucket's: long enough that a run writing 300
      // streams on a loaded machine keeps renewing it, short enough to wait out.
      const options = { server: own.url, lockTtlMs: 3_000 };
      expect((await run(document('stall', 1, streams(1)), options)).exitCode).toBe(ExitCode.OK);

      // The older run, as the Job runs it with 4 writes in flight, stopped (SIGSTOP) partway through its writes.
      const bundle = path.join(__dirname, '../../lib/bundle/jetstream-apply.js');
      const args = ['apply', '--server', own.url, '--definitions', document('stall', 2, streams(2)), '--lock-ttl', '3s', '--concurrency', '4'];
      const older = spawn(nodeOfImage(), [bundle, ...args]);
      let [stdout, stderr] = ['', ''];
      older.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const exited = new Promise<number | null>((resolve) => older.once('close', resolve));
      await new Promise<void>((resolve) => {
        older.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          stdout += chunk;
          if (/\[30\/300\]/.test(stdout) && !older.killed) {
            older.kill('SIGSTOP');
            resolve();
          }
        });
      });
      // Longer than the lock's lifetime: the newer run takes it over and applies.
      await sleep(4_000);
      const newer = await run(document('stall', 3, streams(3)), options);
      older.kill('SIGCONT');
      const olderExit = await exited;

      expect(newer.exitCode).toBe(ExitCode.OK);
      expect([olderExit, stderr]).toEqual([ExitCode.ERROR, expect.stringMatching(/lost the lock of store "stall"|it may be another run's by now/)]);
      // After it resumed, it sent nothing. Counted on the server, not in its output: it prints a turn's lines
      // together, so updates that completed just before the stall are printed after it. A stream still at the
      // older age was written after the newer run: at most the 4 writes it had in flight when it stalled.
      expect((stdout.match(/failed to update ST_\d+: not written: /g) ?? []).length).toBeGreaterThan(200);
      const after = await ages();
      expect(after[2] ?? 0).toBeLessThanOrEqual(4);
      // The drift check finds those and repairs them.
      const repair = await run(document('stall', 3, streams(3)), { ...options, command: 'repair' });
      expect([repair.exitCode, await ages()]).toEqual([ExitCode.OK, { 3: 300 }]);
    } finally {
      await ownNc.close();
      await own.stop();
    }
  }, 30_000);
});
