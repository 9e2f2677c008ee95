import { spawn } from 'child_process';
import { once } from 'events';
import * as net from 'net';
import { connect } from 'nats';
import * as fs from 'fs';
import * as path from 'path';
import { parseStreamsDocument } from '../../src/apply/definitions';
import { DEFAULT_NATS_SERVER_VERSION } from '../../src/versions';
import { nodeOfImage } from '../support/job-node';
import { NatsServerHandle, makeTempDir, startNatsServer, stopAll } from '../support/nats-server';
import { freePort } from '../support/ports';
import { declaredConfig } from './fixtures';

/** The Job's ConfigMap must hold the bundle: 1 MiB, with room for the definitions. */
const MAX_BUNDLE_BYTES = 512 * 1024;
/** Upper bound on one run of the program. */
const RUN_TIMEOUT_MS = 15_000;

let dir: string;
let bundle: string;
let definitions: string;
let server: NatsServerHandle;

interface ProcessRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs the bundle as the Job does, on its image's Node, with only the given environment; killed after 15 s. */
function runBundle(args: string[], env: Record<string, string> = {}): Promise<ProcessRun> {
  const startedAt = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(nodeOfImage(), [bundle, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - startedAt });
    });
  });
}

function writeDefinitions(maxAgeHours: number): void {
  const config = declaredConfig({ name: 'ORDERS', subjects: ['orders.>'], max_age: maxAgeHours * 3_600_000_000_000 });
  fs.writeFileSync(definitions, JSON.stringify({ store: 'events', version: DEFAULT_NATS_SERVER_VERSION.version, streams: [{ retentionPolicy: 'Retain', config }] }));
}

beforeAll(async () => {
  dir = makeTempDir();
  // The program as `npm run bundle` (run before the tests) builds it: the bin and the Job's program.
  bundle = path.join(__dirname, '../../lib/bundle/jetstream-apply.js');
  definitions = path.join(dir, 'streams.json');
  server = await startNatsServer();
});

afterAll(stopAll);

test('the bundle is small and carries no cdk8s, nor ajv\'s compiler: its validator is compiled ahead of time', () => {
  const text = fs.readFileSync(bundle, 'utf8');
  expect(text.length).toBeLessThan(MAX_BUNDLE_BYTES);
  expect(text).not.toMatch(/cdk8s-plus|constructs\/lib/);
  // The one require of "ajv" left is src/problems.ts's, which only compiling a schema reaches.
  expect(text.match(/require\("ajv"\)/g)).toHaveLength(1);
  expect(text).not.toContain('schema is invalid');
});

test('the precompiled validator reports a bad document as the library\'s does', async () => {
  const bad = path.join(dir, 'bad.json');
  const document = {
    store: 'events', version: '2.15', generation: -1,
    streams: [{ retentionPolicy: 'Keep', typo: true, config: { ...declaredConfig(), max_msgs: 'many', future_field: 1 } }],
  };
  fs.writeFileSync(bad, JSON.stringify(document));
  const result = await runBundle(['plan', '--server', server.url, '--definitions', bad]);
  let expected = '';
  try {
    parseStreamsDocument(JSON.stringify(document), bad);
  } catch (error) {
    expected = (error as Error).message;
  }
  expect(expected).toContain('streams[0].config.future_field 1 is not a known property');
  expect([result.code, result.stderr.trim()]).toEqual([1, `error: ${expected}`]);
});

test('applies with the Job\'s environment, writes the termination message, and plans from flags', async () => {
  writeDefinitions(6);
  const terminationLog = path.join(dir, 'termination-log');
  const applied = await runBundle(['apply'], {
    NATS_URL: server.url, STREAMS_FILE: definitions, WAIT_TIMEOUT: '10s', CONCURRENCY: '4', OWNER_REPLICAS: '1', TERMINATION_LOG: terminationLog,
  });
  expect([applied.code, applied.stderr]).toEqual([0, '']);
  expect(applied.stdout).toContain('[1/1] created ORDERS\n');
  expect(JSON.parse(fs.readFileSync(terminationLog, 'utf8'))).toMatchObject({ result: 'applied', counts: { created: 1 }, refused: [], failed: [] });

  const flags = ['--server', server.url, '--definitions', definitions, '--termination-log', terminationLog];
  const upToDate = await runBundle(['plan', ...flags]);
  expect([upToDate.code, upToDate.stdout.split('\n')[1]]).toEqual([0, 'unchanged ORDERS']);

  writeDefinitions(12);
  const pending = await runBundle(['plan', ...flags]);
  expect(pending.code).toBe(2);
  expect(pending.stdout).toContain('\nupdate ORDERS: max_age 6h -> 12h\n');
  expect(JSON.parse(fs.readFileSync(terminationLog, 'utf8'))).toMatchObject({ result: 'pending', counts: { update: 1 } });
});

test('fails after the wait when the server never comes up, with one clear line', async () => {
  const url = `nats://127.0.0.1:${await freePort()}`;
  const terminationLog = path.join(dir, 'failed-log');
  const result = await runBundle(['apply', '--server', url, '--definitions', definitions, '--wait', '2s', '--termination-log', terminationLog]);
  expect(result.code).toBe(1);
  expect(result.ms).toBeGreaterThanOrEqual(2_000);
  expect(result.ms).toBeLessThan(6_000);
  const lines = result.stderr.trim().split('\n');
  expect(lines[0]).toBe(`waiting for ${url}: connection refused (attempt 1)`);
  expect(lines[lines.length - 1]).toMatch(new RegExp(`^error: gave up after 2s waiting for ${url}: connection refused \\(\\d+ attempts\\)$`));
  expect(JSON.parse(fs.readFileSync(terminationLog, 'utf8'))).toEqual({
    result: 'failed', counts: {}, refused: [], failed: [], error: expect.stringMatching(/^gave up after 2s/),
  });
});

test.each<[string, string[], RegExp]>([
  ['an unreadable document', ['apply', '--definitions', '/nonexistent/streams.json'], /^error: cannot read streams document \/nonexistent\/streams.json: ENOENT/],
  ['a bad flag value', ['apply', '--definitions', 'streams.json', '--concurrency', 'many'], /^error: --concurrency "many" must be a whole number from 1 to 1024 \(see --help\)$/],
])('exits 1 with one line on %s', async (_, args, message) => {
  const result = await runBundle([...args, '--server', server.url, '--termination-log', path.join(dir, 'unused')]);
  expect(result.code).toBe(1);
  expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(message)]);
});

test('what no command catches is one line too, exit 1: events forward with its HTTP port taken', async () => {
  const port = await freePort();
  const taken = net.createServer().listen(port, '127.0.0.1');
  await once(taken, 'listening');
  const token = path.join(dir, 'token');
  fs.writeFileSync(token, 'unused');
  try {
    const result = await runBundle(['events', 'forward'], {
      NATS_URL: server.url, EVENTS_SUBJECT_PREFIX: 'k8s', EVENTS_RESUME_BUCKET: 'positions', EVENTS_HTTP_LISTEN: `127.0.0.1:${port}`,
      KUBERNETES_API_URL: `https://127.0.0.1:${await freePort()}`, KUBERNETES_TOKEN_FILE: token, KUBERNETES_CA_FILE: token,
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([`error: listen EADDRINUSE: address already in use 127.0.0.1:${port}`]);
  } finally {
    taken.close();
  }
});

test('--help prints the usage', async () => {
  const result = await runBundle(['--help']);
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/^Usage: jetstream-cdk8s <plan\|apply\|repair> \[options\]/);
});

describe('the streams commands as a process', () => {
  /** Starts the bundle with `args`, on this process's Node as on a user's machine (they are not the Job's); `input` goes to its stdin. */
  function startBundle(args: string[], input?: string) {
    const child = spawn(process.execPath, [bundle, ...args], { env: { PATH: process.env.PATH ?? '', NATS_URL: server.url } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    if (input !== undefined) child.stdin.end(input);
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }));
    return { child, done };
  }

  test('streams --help prints its usage', async () => {
    const { code, stdout } = await startBundle(['streams', '--help']).done;
    expect([code, stdout.split('\n')[0]]).toEqual([0, 'Usage: jetstream-cdk8s streams <ls|info|sub|dump|rm> [NAME] [options]']);
  });

  test('sub ends cleanly on Ctrl-C (SIGINT), and its consumer goes with it; rm deletes after a "y" on stdin', async () => {
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: 'SIGNALLED', subjects: ['signalled.>'] });
      const consumers = async () => (await jsm.streams.info('SIGNALLED')).state.consumer_count;
      const sub = startBundle(['streams', 'sub', 'SIGNALLED']);
      for (let i = 0; i < 250 && (await consumers()) === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await consumers()).toBe(1);
      sub.child.kill('SIGINT');
      expect((await sub.done).code).toBe(0);
      expect(await consumers()).toBe(0);

      const rm = await startBundle(['streams', 'rm', 'SIGNALLED', '--force'], 'y\n').done;
      expect([rm.code, rm.stdout.trim(), rm.stderr]).toEqual([0, 'deleted stream "SIGNALLED" (0 messages)', 'delete stream "SIGNALLED" and its 0 messages? [y/N] ']);
      await expect(jsm.streams.info('SIGNALLED')).rejects.toThrow('stream not found');
    } finally {
      await nc.close();
    }
  });
});
