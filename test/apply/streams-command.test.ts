/**
 * The `streams` commands (ls, info, sub, dump, rm) against a real nats-server, through the program's
 * own command line (`run`), as `npx jetstream-cdk8s streams ...` runs them.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PassThrough } from 'stream';
import { JetStreamManager, NatsConnection, RetentionPolicy, StringCodec, connect, headers } from 'nats';
import { ExitCode, runApply } from '../../src/apply/apply';
import { OWNERSHIP_BUCKET } from '../../src/apply/names';
import { decodeOwnership } from '../../src/apply/ownership';
import { ask, run } from '../../src/apply/main';
import { StreamsIO } from '../../src/apply/streams-command';
import type { JetStreamStreamConfig } from '../../src/stream-definition';
import { DEFAULT_RELEASE, NatsServerHandle, makeTempDir, startNatsServer, stopAll, versionOf } from '../support/nats-server';
import { HOUR_NS, declaredConfig } from './fixtures';

// Typed here: the package ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pcapParser = require('pcap-parser') as { parse(file: string): NodeJS.EventEmitter };

const STORE = 'shop';
const codec = StringCodec();
let server: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;
let dir: string;

/** What a command printed and wrote, and the answers it was given. */
interface Session {
  readonly exitCode: number;
  readonly out: string[];
  readonly err: string[];
  readonly bytes: Buffer;
  readonly questions: string[];
}

/** Runs `jetstream-cdk8s streams <args>` in-process against the test's server; `answers` reply to its questions. */
async function streams(args: string[], options: { answers?: boolean[]; stop?: AbortSignal; env?: Record<string, string> } = {}): Promise<Session> {
  const out: string[] = [];
  const err: string[] = [];
  const chunks: Buffer[] = [];
  const questions: string[] = [];
  const answers = [...(options.answers ?? [])];
  const io: StreamsIO = {
    out: (line) => out.push(line), err: (line) => err.push(line), write: (bytes) => chunks.push(Buffer.from(bytes)),
    confirm: async (question) => {
      questions.push(question);
      return answers.shift() ?? false;
    },
  };
  const exitCode = await run(['node', 'jetstream-cdk8s', 'streams', ...args], { NATS_URL: server.url, ...options.env }, io, options.stop ?? new AbortController().signal);
  return { exitCode, out, err, bytes: Buffer.concat(chunks), questions };
}

/** One entry of a streams document. */
const entry = (name: string, config: Partial<JetStreamStreamConfig> = {}) => ({
  retentionPolicy: 'Retain', config: declaredConfig({ name, subjects: [`${name.toLowerCase()}.>`], ...config }),
});

/** Writes the store's definitions with `entries` and returns their path. */
function definitions(file: string, entries: ReturnType<typeof entry>[]): string {
  const location = path.join(dir, file);
  fs.writeFileSync(location, JSON.stringify({ store: STORE, version: versionOf(DEFAULT_RELEASE).version, generation: 0, streams: entries }));
  return location;
}

async function apply(location: string): Promise<void> {
  const { exitCode } = await runApply(
    { command: 'apply', server: server.url, definitions: location, waitMs: 5_000, concurrency: 8, ownerReplicas: 1, lockTtlMs: 30_000 },
    { out: () => undefined, err: () => undefined },
  );
  expect(exitCode).toBe(ExitCode.OK);
}

/** Waits until `condition` holds, checking every 20ms, at most 5s. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('condition not met within 5s');
}

// The app: ORDERS (in sync), PAYMENTS (changed by hand), GONE (left the app), NEW (not applied yet); THEIRS made by someone else.
let declared: string;

beforeAll(async () => {
  server = await startNatsServer({ release: DEFAULT_RELEASE });
  nc = await connect({ servers: server.url });
  jsm = await nc.jetstreamManager();
  dir = makeTempDir();
  await apply(definitions('first.json', [entry('ORDERS'), entry('PAYMENTS', { max_age: HOUR_NS }), entry('GONE')]));
  declared = definitions('declared.json', [entry('ORDERS'), entry('PAYMENTS', { max_age: HOUR_NS }), entry('NEW')]);
  await jsm.streams.update('PAYMENTS', { max_age: 2 * HOUR_NS });
  await jsm.streams.add({ name: 'THEIRS', subjects: ['theirs.>'] });
  const js = nc.jetstream();
  for (let i = 1; i <= 3; i++) {
    const h = headers();
    h.set('Nats-Msg-Id', `order-${i}`);
    await js.publish(`orders.created.${i}`, codec.encode(`order ${i}`), { headers: h });
  }
});

afterAll(async () => {
  await nc?.close();
  await stopAll();
});

describe('streams ls', () => {
  test('lists every stream with its counts, and with definitions where each stands', async () => {
    const session = await streams(['ls', '--definitions', declared]);
    expect(session.exitCode).toBe(ExitCode.OK);
    const [header, ...rows] = session.out;
    expect(header.split(/\s{2,}/)).toEqual(['NAME', 'SUBJECTS', 'MESSAGES', 'BYTES', 'FIRST', 'LAST', 'CONSUMERS', 'REPLICAS', 'STATE']);
    const byName = Object.fromEntries(rows.map((row) => [row.split(/\s+/)[0], row.split(/\s{2,}/)]));
    expect(Object.keys(byName)).toEqual(['GONE', 'NEW', 'ORDERS', 'PAYMENTS', 'THEIRS']);
    expect(byName.ORDERS[0]).toBe('ORDERS');
    expect(byName.ORDERS.slice(1, 3)).toEqual(['orders.>', '3']);
    expect(byName.ORDERS[4]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(byName.ORDERS.slice(-3)).toEqual(['0', '1', 'in sync']);
    expect(byName.PAYMENTS.at(-1)).toBe('drifted (max_age)');
    expect(byName.GONE.at(-1)).toBe('orphaned');
    expect(byName.THEIRS.at(-1)).toBe('foreign');
    expect(byName.NEW).toEqual(['NEW', 'new.>', '-', '-', '-', '-', '-', '-', 'missing']);
  });

  test('a declared stream the store does not manage is foreign, as an apply refuses it; with adopt it is judged as declared', async () => {
    const adopting = (adopt: boolean) => definitions(`theirs-${adopt}.json`, [{ ...entry('THEIRS'), ...(adopt ? { adopt: true } : {}) } as ReturnType<typeof entry>]);
    const state = async (file: string) => JSON.parse((await streams(['ls', '--json', '--definitions', file])).out.join('\n'))
      .find((r: { name: string }) => r.name === 'THEIRS').state;
    expect(await state(adopting(false))).toBe('foreign');
    expect(await state(adopting(true))).toBe('in sync');
  });

  test('--dist and --store read a store\'s definitions as synthesized into dist/', async () => {
    const rows = JSON.parse((await streams(['ls', '--json', '--dist', path.join(__dirname, '..', '..', 'dist'), '--store', 'events'])).out.join('\n'));
    // The example app's events store, none of whose streams this server has.
    expect(rows.filter((r: { state: string }) => r.state === 'missing').map((r: { name: string }) => r.name)).toEqual(['jobs', 'k8s-events', 'orders', 'payments', 'telemetry']);
  });

  test('--json gives the same as data; without definitions there is no state', async () => {
    const rows = JSON.parse((await streams(['ls', '--json', '--definitions', declared])).out.join('\n'));
    expect(rows.find((r: { name: string }) => r.name === 'PAYMENTS')).toMatchObject({
      name: 'PAYMENTS', subjects: ['payments.>'], messages: 0, bytes: 0, consumers: 0, replicas: 1, state: 'drifted', drifted: ['max_age'],
    });
    expect(rows.find((r: { name: string }) => r.name === 'ORDERS')).toMatchObject({ messages: 3, state: 'in sync' });
    const plain = JSON.parse((await streams(['ls', '--json'])).out.join('\n'));
    expect(plain.map((r: { name: string }) => r.name)).toEqual(['GONE', 'ORDERS', 'PAYMENTS', 'THEIRS']);
    expect(plain.every((r: { state?: string }) => r.state === undefined)).toBe(true);
  });
});

describe('streams info', () => {
  test('shows the stored configuration and state, and what an apply would change', async () => {
    const session = await streams(['info', 'PAYMENTS', '--definitions', declared]);
    expect(session.exitCode).toBe(ExitCode.OK);
    expect(session.out[0]).toBe('stream PAYMENTS');
    expect(session.out).toContain('    "max_age": "2h",');
    // The declared configuration follows the stored one, then what an apply would change.
    expect(session.out).toContain('declared configuration:');
    expect(session.out).toContain('    "max_age": "1h",');
    expect(session.out.slice(-2)).toEqual(['an apply would change', '  max_age 2h -> 1h']);
    expect((await streams(['info', 'ORDERS', '--definitions', declared])).out.at(-1)).toBe('in sync');
    expect((await streams(['info', 'NEW', '--definitions', declared])).out.at(-1)).toBe('an apply would create it');
    expect((await streams(['info', 'THEIRS', '--definitions', declared])).out.at(-1)).toBe('foreign: the store does not manage it');
    const json = JSON.parse((await streams(['info', 'PAYMENTS', '--json', '--definitions', declared])).out.join('\n'));
    expect(json).toMatchObject({ name: 'PAYMENTS', declared: { max_age: '1h' }, stored: { max_age: '2h' }, foreign: false, changes: [{ field: 'max_age', from: 2 * HOUR_NS, to: HOUR_NS }] });
    expect(await streams(['info', 'NOWHERE'])).toMatchObject({ exitCode: ExitCode.ERROR, err: ['error: stream "NOWHERE" is neither on the server nor declared'] });
  });
});

describe('streams sub', () => {
  test('from the first message with --all: subject, sequence, time, headers and payload; --raw writes the payloads only', async () => {
    const session = await streams(['sub', 'ORDERS', '--all', '--count', '2']);
    expect(session.exitCode).toBe(ExitCode.OK);
    expect(session.out[0]).toMatch(/^\[1\] orders\.created\.1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(session.out.slice(1, 3)).toEqual(['  Nats-Msg-Id: order-1', 'order 1']);
    expect(session.out[3]).toMatch(/^\[2\] orders\.created\.2 /);
    expect(session.out).toHaveLength(6);
    const raw = await streams(['sub', 'ORDERS', '--all', '--count', '3', '--raw', '--subject', 'orders.created.*']);
    expect([raw.out, raw.bytes.toString()]).toEqual([[], 'order 1order 2order 3']);
  });

  test('refuses a work queue, which an ordered consumer cannot read, and a malformed subject, at once', async () => {
    await jsm.streams.add({ name: 'QUEUE', subjects: ['queue.>'], retention: RetentionPolicy.Workqueue });
    expect(await streams(['sub', 'QUEUE', '--all'])).toMatchObject({
      exitCode: ExitCode.ERROR, err: ['error: stream "QUEUE" is a work queue: the server gives its messages to one consumer each, and refuses one that only reads them'],
    });
    expect(await streams(['sub', 'ORDERS', '--subject', 'orders..x'])).toMatchObject({ exitCode: ExitCode.ERROR, err: ['error: --subject "orders..x" has an empty token'] });
  });

  test('without --all only new messages, until stopped; it leaves no consumer on the server', async () => {
    const stop = new AbortController();
    const consumers = async () => (await jsm.streams.info('ORDERS')).state.consumer_count;
    // Each earlier run removed its consumer when it ended.
    expect(await consumers()).toBe(0);
    const running = streams(['sub', 'ORDERS'], { stop: stop.signal });
    await until(async () => (await consumers()) === 1);
    await nc.jetstream().publish('orders.created.4', codec.encode('order 4'));
    await until(async () => (await jsm.streams.info('ORDERS')).state.messages === 4);
    // Delivered before the stop: the ordered consumer fetches as messages come.
    await new Promise((resolve) => setTimeout(resolve, 300));
    stop.abort();
    const session = await running;
    expect(session.exitCode).toBe(ExitCode.OK);
    expect(session.out.filter((line) => line.startsWith('['))).toEqual([expect.stringMatching(/^\[4\] orders\.created\.4 /)]);
    expect(await consumers()).toBe(0);
  });
});

test('sub --subject on nats-server 2.9.10, which knows one filter subject only', async () => {
  const old = await startNatsServer({ release: '2.9.10' });
  const oldNc = await connect({ servers: old.url });
  try {
    await (await oldNc.jetstreamManager()).streams.add({ name: 'OLD', subjects: ['old.>'] });
    for (const subject of ['old.a', 'old.b', 'old.b']) await oldNc.jetstream().publish(subject, codec.encode(subject));
    const session = await streams(['sub', 'OLD', '--all', '--subject', 'old.b', '--count', '2', '--raw', '--server', old.url]);
    expect([session.exitCode, session.bytes.toString()]).toEqual([ExitCode.OK, 'old.bold.b']);
  } finally {
    await oldNc.close();
    await old.stop();
  }
});

describe('streams dump', () => {
  test('writes every stored payload with --all, then stops', async () => {
    const out = path.join(dir, 'orders.bin');
    const session = await streams(['dump', 'ORDERS', '--all', '--out', out]);
    expect([session.exitCode, session.out]).toEqual([ExitCode.OK, [`wrote 4 payloads (28B) to ${out}`]]);
    expect(fs.readFileSync(out, 'utf8')).toBe('order 1order 2order 3order 4');
  });

  test('a stream that is not there leaves the output file as it was; a filter matching nothing dumps nothing', async () => {
    const out = path.join(dir, 'precious.txt');
    fs.writeFileSync(out, 'precious');
    expect((await streams(['dump', 'NOPE', '--all', '--out', out])).exitCode).toBe(ExitCode.ERROR);
    expect(fs.readFileSync(out, 'utf8')).toBe('precious');
    expect((await streams(['dump', 'ORDERS', '--all', '--subject', 'orders.none', '--out', out])).out).toEqual([`wrote 0 payloads (0B) to ${out}`]);
  });

  test('--pcap joins payloads of pcap records into one pcap file with one global header, which a pcap parser reads back', async () => {
    await jsm.streams.add({ name: 'CAPTURE', subjects: ['capture.>'] });
    const packet = (n: number) => Buffer.alloc(60 + n, n);
    const record = (n: number) => {
      const header = Buffer.alloc(16);
      header.writeUInt32LE(1_700_000_000 + n, 0);
      header.writeUInt32LE(n, 4);
      header.writeUInt32LE(packet(n).length, 8);
      header.writeUInt32LE(packet(n).length, 12);
      return Buffer.concat([header, packet(n)]);
    };
    const globalHeader = Buffer.from('d4c3b2a1020004000000000000000000ffff000001000000', 'hex');
    const js = nc.jetstream();
    // A header alone, a capture agent's whole capture, bare records (two in one message), and something else.
    await js.publish('capture.eth0', globalHeader);
    await js.publish('capture.eth0', Buffer.concat([globalHeader, record(1)]));
    await js.publish('capture.eth0', Buffer.concat([record(2), record(3)]));
    await js.publish('capture.eth0', codec.encode('not a capture'));
    await js.publish('capture.eth0', record(4));
    const out = path.join(dir, 'capture.pcap');
    const session = await streams(['dump', 'CAPTURE', '--all', '--pcap', '--out', out]);
    expect(session.out).toEqual([`wrote 4 payloads (${24 + [1, 2, 3, 4].reduce((sum, n) => sum + 16 + 60 + n, 0)}B) to ${out}; skipped 1 that is not pcap records of the file's format`]);
    const parsed = await new Promise<{ headers: number; packets: Array<{ seconds: number; data: Buffer }> }>((resolve, reject) => {
      const parser = pcapParser.parse(out);
      const result = { headers: 0, packets: [] as Array<{ seconds: number; data: Buffer }> };
      parser.on('globalHeader', (header: { linkLayerType: number; majorVersion: number }) => {
        expect([header.majorVersion, header.linkLayerType]).toEqual([2, 1]);
        result.headers++;
      });
      parser.on('packet', (p: { header: { timestampSeconds: number }; data: Buffer }) => result.packets.push({ seconds: p.header.timestampSeconds, data: p.data }));
      parser.on('end', () => resolve(result));
      parser.on('error', reject);
    });
    expect(parsed.headers).toBe(1);
    expect(parsed.packets).toEqual([1, 2, 3, 4].map((n) => ({ seconds: 1_700_000_000 + n, data: packet(n) })));
  });
});

describe('streams rm', () => {
  test('refuses a stream still declared, and a foreign one', async () => {
    expect(await streams(['rm', 'ORDERS', '--yes', '--definitions', declared])).toMatchObject({
      exitCode: 3,
      err: ['refused: stream "ORDERS": it is declared in the definitions of store "shop": the next apply would create it again; remove it from the app first; --force deletes it anyway'],
    });
    expect(await streams(['rm', 'THEIRS', '--yes', '--definitions', declared])).toMatchObject({
      exitCode: 3, err: ['refused: stream "THEIRS": store "shop" does not manage it (foreign); --force deletes it anyway'],
    });
    expect((await jsm.streams.info('ORDERS')).config.name).toBe('ORDERS');
    expect((await jsm.streams.info('THEIRS')).config.name).toBe('THEIRS');
  });

  test('asks first, showing the message count; deletes on yes, and the stream leaves the store\'s ownership record', async () => {
    await nc.jetstream().publish('gone.x', codec.encode('kept until asked'));
    const declined = await streams(['rm', 'GONE', '--definitions', declared], { answers: [false] });
    expect([declined.exitCode, declined.questions, declined.out]).toEqual([ExitCode.OK, ['delete stream "GONE" and its 1 messages? [y/N] '], ['not deleted: stream "GONE"']]);
    expect((await jsm.streams.info('GONE')).state.messages).toBe(1);
    const accepted = await streams(['rm', 'GONE', '--definitions', declared], { answers: [true] });
    expect([accepted.exitCode, accepted.out]).toEqual([ExitCode.OK, ['deleted stream "GONE" (1 messages)', 'removed from the ownership record of store "shop"']]);
    await expect(jsm.streams.info('GONE')).rejects.toThrow('stream not found');
    const record = decodeOwnership((await (await nc.jetstream().views.kv(OWNERSHIP_BUCKET, { bindOnly: true })).get(STORE))?.string() ?? '', STORE);
    expect([...record.managed.keys()].sort()).toEqual(['ORDERS', 'PAYMENTS']);
  });

  test('never deletes the ownership or the lock bucket, not even with --force', async () => {
    expect(await streams(['rm', 'KV_jetstream-cdk8s', '--force', '--yes'])).toMatchObject({
      exitCode: 3, err: ['refused: stream "KV_jetstream-cdk8s" holds every store\'s ownership records: never deleted, not even with --force'],
    });
    expect((await jsm.streams.info('KV_jetstream-cdk8s')).config.name).toBe('KV_jetstream-cdk8s');
  });

  test('asks on the terminal: "y" or "yes" deletes, anything else or no answer does not', async () => {
    const answer = async (typed: string | undefined) => {
      const input = new PassThrough();
      const output = new PassThrough();
      const asked = ask('delete? [y/N] ', input, output);
      if (typed === undefined) input.end();
      else input.write(typed);
      return asked;
    };
    expect(await answer('y\n')).toBe(true);
    expect(await answer('YES\n')).toBe(true);
    expect(await answer('n\n')).toBe(false);
    expect(await answer('yess\n')).toBe(false);
    expect(await answer(undefined)).toBe(false);
  });

  test('--force with --yes deletes a foreign stream without asking', async () => {
    const session = await streams(['rm', 'THEIRS', '--force', '--yes']);
    expect([session.exitCode, session.questions, session.out]).toEqual([ExitCode.OK, [], ['deleted stream "THEIRS" (0 messages)']]);
    await expect(jsm.streams.info('THEIRS')).rejects.toThrow('stream not found');
  });
});

describe('connecting', () => {
  test('--connection reads the URL from a store\'s connection ConfigMap and says which credentials it needs', async () => {
    const file = path.join(dir, 'connection.yaml');
    const configMap = (auth: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-connection\ndata:\n  NATS_URL: ${server.url}\n  NATS_AUTH: ${auth}\n`;
    fs.writeFileSync(file, configMap('none'));
    const lines: string[] = [];
    const session = await run(['node', 'x', 'streams', 'ls', '--connection', file, '--json'], {}, {
      out: (line) => lines.push(line), err: () => undefined, write: () => undefined, confirm: async () => false,
    }, new AbortController().signal);
    expect(session).toBe(ExitCode.OK);
    expect(JSON.parse(lines.join('\n')).map((r: { name: string }) => r.name)).toContain('ORDERS');
    fs.writeFileSync(file, configMap('users'));
    const errors: string[] = [];
    expect(await run(['node', 'x', 'streams', 'ls', '--connection', file], {}, {
      out: () => undefined, err: (line) => errors.push(line), write: () => undefined, confirm: async () => false,
    })).toBe(ExitCode.ERROR);
    expect(errors).toEqual(['error: the store has users: set NATS_USER and NATS_PASSWORD']);
  });

  test.each<[string[], string]>([
    [['sub'], 'error: streams sub needs the stream\'s name (see streams --help)'],
    [['dump', 'ORDERS'], 'error: streams dump needs --out FILE (see streams --help)'],
    [['rm', 'ORDERS'], 'error: streams rm needs the store\'s definitions (--definitions, or --dist and --store), or --force (see streams --help)'],
    [['ls', '--dist', 'dist'], 'error: --dist needs --store: the store whose definitions to read (see streams --help)'],
    [['watch'], 'error: expected a streams command, ls, info, sub, dump, rm; got "watch" (see streams --help)'],
    [['sub', 'ORDERS', '--count', '0'], 'error: --count "0" must be a whole number of at least 1 (see streams --help)'],
  ])('refuses %j', async (args, error) => {
    expect(await streams(args)).toMatchObject({ exitCode: ExitCode.ERROR, err: [error] });
  });
});
