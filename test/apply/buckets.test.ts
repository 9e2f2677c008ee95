/**
 * Key-value buckets and object stores declared with the library, applied by the program to a real
 * nats-server of every release, then used by the nats.js client: created as the clients expect them,
 * unchanged by a second run, and a lowered history or ttl that would drop values refused unless allowed.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import { NatsConnection, StringCodec, connect } from 'nats';
import { ExitCode, runApply } from '../../src/apply/apply';
import { StreamStore } from '../../src/stream-store';
import { NATS_SERVER_RELEASES, NatsServerHandle, makeTempDir, startNatsServer, stopAll, versionOf } from '../support/nats-server';
import { declaredStreams } from '../support/streams-document';

const codec = StringCodec();

afterAll(async () => {
  await stopAll();
});

describe.each(NATS_SERVER_RELEASES)('buckets on nats-server %s', (release) => {
  const version = versionOf(release);
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let dir: string;
  let runs = 0;

  beforeAll(async () => {
    server = await startNatsServer({ release });
    nc = await connect({ servers: server.url });
    dir = makeTempDir();
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  /** Synthesizes store `name` of this release with what `declare` adds, and runs the program on its definitions. */
  async function apply(name: string, declare: (store: StreamStore) => void) {
    const chart = new Chart(Testing.app(), 'app');
    const store = new StreamStore(chart, name, { version });
    declare(store);
    const definitions = path.join(dir, `streams-${++runs}.json`);
    // Unnumbered (generation 0): each synthesis here replaces the last, as before generations.
    fs.writeFileSync(definitions, JSON.stringify({ ...declaredStreams(Testing.synth(chart), name), generation: 0 }));
    const out: string[] = [];
    const { exitCode } = await runApply(
      { command: 'apply', server: server.url, definitions, waitMs: 5_000, concurrency: 8, ownerReplicas: 1, lockTtlMs: 30_000 },
      { out: (line) => out.push(line), err: (line) => out.push(line) },
    );
    return { exitCode, lines: out.map((l) => /^\[\d+\/\d+\] (.*)$/.exec(l)?.[1]).filter((l): l is string => l !== undefined).sort() };
  }

  test('a bucket and an object store are created as the clients use them, written and read, and a second run changes nothing', async () => {
    const declare = (store: StreamStore) => {
      store.addKeyValue('settings', { history: 5, ttl: '1h' });
      store.addObjectStore('files', { maxBytes: '64Mi' });
    };
    expect(await apply('used', declare)).toEqual({ exitCode: ExitCode.OK, lines: ['created KV_settings', 'created OBJ_files'] });

    const js = nc.jetstream();
    const kv = await js.views.kv('settings');
    await kv.put('theme', codec.encode('dark'));
    await kv.put('theme', codec.encode('light'));
    expect((await kv.get('theme'))?.string()).toBe('light');
    expect((await kv.status()).history).toBe(5);
    let revisions = 0;
    for await (const _ of await kv.history({ key: 'theme' })) revisions++;
    expect(revisions).toBe(2);
    const files = await js.views.os('files');
    await files.putBlob({ name: 'report.csv' }, codec.encode('a,b\n1,2\n'));
    expect(codec.decode((await files.getBlob('report.csv')) ?? new Uint8Array())).toBe('a,b\n1,2\n');

    expect(await apply('used', declare)).toEqual({ exitCode: ExitCode.OK, lines: ['unchanged KV_settings', 'unchanged OBJ_files'] });
  });

  test('a lowered history or ttl on a bucket holding values is refused; with allowDataLoss it is applied', async () => {
    expect((await apply('lowered', (store) => { store.addKeyValue('sessions', { history: 5, ttl: '2h' }); })).exitCode).toBe(ExitCode.OK);
    const kv = await nc.jetstream().views.kv('sessions');
    for (let i = 0; i < 5; i++) await kv.put('user1', codec.encode(`v${i}`));

    const refused = await apply('lowered', (store) => { store.addKeyValue('sessions', { history: 2, ttl: '1h' }); });
    expect(refused.exitCode).toBe(ExitCode.REFUSED);
    // The first test's store is foreign to this one: left untouched.
    expect(refused.lines.filter((line) => line.includes('KV_sessions'))).toEqual([
      'refused KV_sessions: max_age 2h -> 1h would lose data: messages older than 1h would be removed and the stream holds 5 messages; set allowDataLoss to allow it; '
        + 'max_msgs_per_subject 5 -> 2 would lose data: subjects holding more than 2 messages would be trimmed and the stream holds 5 messages; set allowDataLoss to allow it',
    ]);
    let revisions = 0;
    for await (const _ of await kv.history({ key: 'user1' })) revisions++;
    expect(revisions).toBe(5);

    const allowed = await apply('lowered', (store) => { store.addKeyValue('sessions', { history: 2, ttl: '1h', allowDataLoss: true }); });
    expect(allowed.exitCode).toBe(ExitCode.OK);
    expect(allowed.lines.find((line) => line.includes('KV_sessions'))).toMatch(/^updated KV_sessions: max_age 2h -> 1h; max_msgs_per_subject 5 -> 2/);
    revisions = 0;
    for await (const _ of await kv.history({ key: 'user1' })) revisions++;
    expect(revisions).toBe(2);
  });
});
