/**
 * The program's stream list against real nats-servers: it asks for every page at once from the
 * account's stream count read when it connected, and still lists every stream, no more and no
 * fewer, when streams were created or deleted since; streams created and deleted while it reads
 * never make it miss one: it reads again, or says the list changed.
 */
import { JetStreamManager, NatsConnection, connect } from 'nats';
import { JetStreamConnection, connectJetStream, readServerStreams } from '../../src/apply/nats-io';
import { DEFAULT_RELEASE, NatsServerHandle, startNatsServer, stopAll } from '../support/nats-server';

afterAll(stopAll);

/** Stream names `<prefix>-000` and on, `count` of them from `from`. */
function names(prefix: string, from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(from + i).padStart(3, '0')}`);
}

describe.each(['2.9.10', DEFAULT_RELEASE] as const)('the stream list on nats-server %s', (release) => {
  let server: NatsServerHandle;
  let admin: NatsConnection;
  let jsm: JetStreamManager;
  let program: JetStreamConnection;

  beforeAll(async () => {
    server = await startNatsServer({ release });
    admin = await connect({ servers: server.url });
    jsm = await admin.jetstreamManager({ timeout: 60_000 });
  });

  afterAll(async () => {
    await program?.nc.close();
    await admin?.close();
    await server?.stop();
  });

  const create = (list: string[]) => Promise.all(list.map((name) => jsm.streams.add({ name, subjects: [`${name}.>`], storage: 'memory' as any })));

  /** The JetStream API requests the server has answered, from its monitoring endpoint. */
  async function apiRequests(): Promise<number> {
    const jsz = await (await fetch(`http://127.0.0.1:${server.monitorPort}/jsz`)).json() as { api: { total: number } };
    return jsz.api.total;
  }

  /** The program's list, and how many pages it asked for. */
  async function listed(): Promise<{ streams: string[]; pages: number }> {
    const before = await apiRequests();
    const streams = [...(await readServerStreams(program)).keys()].sort();
    return { streams, pages: await apiRequests() - before };
  }

  test('every page is asked for once; streams created or deleted after connecting are listed as they are', async () => {
    await create(names('s', 0, 300));
    program = await connectJetStream(server.url, 10_000, () => undefined);
    expect(program.streamCount).toBe(300);

    // As counted: two pages of 256, asked for together.
    expect(await listed()).toEqual({ streams: names('s', 0, 300), pages: 2 });

    // 300 more since the count: the third page comes after the first said how many there are.
    await create(names('s', 300, 300));
    expect(await listed()).toEqual({ streams: names('s', 0, 600), pages: 3 });

    // 500 gone since: the second page asked for is empty.
    await Promise.all(names('s', 100, 500).map((name) => jsm.streams.delete(name)));
    expect(await listed()).toEqual({ streams: names('s', 0, 100), pages: 2 });
    await Promise.all(names('s', 0, 100).map((name) => jsm.streams.delete(name)));
  }, 120_000);

  test('while streams are created and deleted during the list, every stream left alone is listed, or the run says the list changed', async () => {
    // Churned names sort first: each one created or deleted moves every kept stream to another page offset.
    const kept = names('k', 0, 300);
    const churned = names('a', 0, 300);
    await create([...kept, ...churned]);
    const reader = await connectJetStream(server.url, 10_000, () => undefined);
    let churning = true;
    const churn = (async () => {
      // Bounded by the reads below, which end it.
      for (let i = 0; churning; i++) {
        const name = churned[i % churned.length];
        await jsm.streams.delete(name);
        await create([name]);
      }
    })();
    const outcomes: string[] = [];
    try {
      for (let read = 0; read < 20; read++) {
        const listed = await readServerStreams(reader).catch((error: Error) => error);
        if (listed instanceof Error) {
          expect(listed.message).toMatch(/the list changed while it was read, 3 times \(last: .+\); try again/);
          outcomes.push('changed');
        } else {
          expect(kept.filter((name) => !listed.has(name))).toEqual([]);
          outcomes.push('listed');
        }
      }
    } finally {
      churning = false;
      await churn;
      await reader.nc.close();
    }
    // Most reads find a moment between two writes (about half on 2.9.10, most on 2.15.3).
    expect(outcomes).toContain('listed');
  }, 120_000);
});
