/**
 * Declared consumers applied by the program to a real nats-server of every release: synthesized by
 * the library as a user's app would, created after their streams, updated in place where JetStream
 * can, refused where it cannot with their delivery state kept, and removed by their retention policy.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import { AckPolicy as NatsAckPolicy, ConsumerInfo, JetStreamManager, NatsConnection, StringCodec, connect } from 'nats';
import { ExitCode, runApply } from '../../src/apply/apply';
import { AckPolicy, ConsumerOptions, DeliverPolicy, PriorityPolicy } from '../../src/consumer-options';
import { Stream } from '../../src/stream';
import { Retention, StreamRetentionPolicy } from '../../src/stream-definition';
import { StreamStore } from '../../src/stream-store';
import { NatsServerVersion } from '../../src/versions';
import { NATS_SERVER_RELEASES, NatsServerHandle, makeTempDir, startNatsServer, stopAll, versionOf } from '../support/nats-server';
import { declaredStreams } from '../support/streams-document';

const codec = StringCodec();
type Command = 'apply' | 'plan' | 'repair';

afterAll(async () => {
  await stopAll();
});

describe.each(NATS_SERVER_RELEASES)('consumers on nats-server %s', (release) => {
  const version = versionOf(release);
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let dir: string;
  let runs = 0;

  beforeAll(async () => {
    server = await startNatsServer({ release });
    nc = await connect({ servers: server.url });
    jsm = await nc.jetstreamManager();
    dir = makeTempDir();
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  /**
   * Synthesizes a store of this release with one stream `name` on `<name>.>` and the consumers
   * `declare` adds, then runs the program on its definitions as the Job would.
   */
  async function apply(name: string, declare: (stream: Stream) => void, command: Command = 'apply', synthesizedFor = version) {
    // A store per stream, so each test sees only its own.
    return applyStore(name.toLowerCase(), (store) => declare(store.addStream(name, { subjects: [`${name.toLowerCase()}.>`] })), command, synthesizedFor);
  }

  /** Synthesizes store `storeName` of this release with what `declare` adds, then runs the program on its definitions as the Job would. */
  async function applyStore(storeName: string, declare: (store: StreamStore) => void, command: Command = 'apply', synthesizedFor = version) {
    const chart = new Chart(Testing.app(), 'app');
    const store = new StreamStore(chart, storeName, { version: synthesizedFor });
    declare(store);
    const document = declaredStreams(Testing.synth(chart), storeName);
    // Unnumbered (generation 0): each synthesis here replaces the last, as before generations.
    const definitions = path.join(dir, `streams-${++runs}.json`);
    fs.writeFileSync(definitions, JSON.stringify({ ...document, generation: 0 }));
    const out: string[] = [];
    const { exitCode } = await runApply(
      { command, server: server.url, definitions, waitMs: 5_000, concurrency: 8, ownerReplicas: 1, lockTtlMs: 30_000 },
      { out: (line) => out.push(line), err: (line) => out.push(line) },
    );
    return { exitCode, out };
  }

  const info = (stream: string, consumer: string): Promise<ConsumerInfo> => jsm.consumers.info(stream, consumer);
  /** The progress lines of a run about stream `name` and its consumers, without their counters, sorted. */
  const linesOf = (out: readonly string[], name: string) => out
    .map((l) => /^\[\d+\/\d+\] (.*)$/.exec(l)?.[1])
    .filter((l): l is string => l !== undefined && new RegExp(`^\\S+ ${name}(/|$| |:)`).test(l))
    .sort();
  /** What a refused change must keep: where delivery and acknowledgement stand. */
  const position = (i: ConsumerInfo) => ({ delivered: i.delivered.stream_seq, ackFloor: i.ack_floor.stream_seq, pending: i.num_ack_pending });

  /** Publishes `count` messages to `subject` and has `consumer` fetch `fetch` of them, acknowledging `ack`. */
  async function consume(stream: string, consumer: string, subject: string, counts: { publish: number; fetch: number; ack: number }) {
    const js = nc.jetstream();
    for (let i = 0; i < counts.publish; i++) await js.publish(subject, codec.encode(`m${i}`));
    const pull = await js.consumers.get(stream, consumer);
    let n = 0;
    for await (const m of await pull.fetch({ max_messages: counts.fetch, expires: 2_000 })) {
      if (n++ < counts.ack) await m.ackAck();
      if (n === counts.fetch) break;
    }
  }

  const PUSH: ConsumerOptions = { deliverSubject: 'deliver.mirror', idleHeartbeat: '5s', flowControl: true, ackPolicy: AckPolicy.NONE };

  test('pull and push consumers are created after their stream, as declared, and a second run changes nothing', async () => {
    const declare = (stream: Stream) => {
      stream.addConsumer('auditor', { description: 'reads every order', filterSubjects: ['made.>'] });
      stream.addConsumer('mirror', PUSH);
      stream.addConsumer('retrier', { backoff: ['1s', '5s'], maxDeliver: 3, maxAckPending: 10 });
    };
    const first = await apply('MADE', declare);
    expect(first.exitCode).toBe(ExitCode.OK);
    // The stream first, then its consumers, which are written at once.
    const progressLines = first.out.filter((l) => /^\[\d+\/4\]/.test(l));
    expect(progressLines[0]).toBe('[1/4] created MADE');
    expect(progressLines.slice(1).map((l) => l.slice(6)).sort()).toEqual(['created MADE/auditor', 'created MADE/mirror', 'created MADE/retrier']);
    expect((await info('MADE', 'auditor')).config).toMatchObject({ durable_name: 'auditor', filter_subject: 'made.>', description: 'reads every order', ack_policy: NatsAckPolicy.Explicit });
    expect((await info('MADE', 'mirror')).config).toMatchObject({ deliver_subject: 'deliver.mirror', flow_control: true, idle_heartbeat: 5_000_000_000 });
    expect((await info('MADE', 'retrier')).config).toMatchObject({ backoff: [1_000_000_000, 5_000_000_000], max_deliver: 3, ack_wait: 1_000_000_000 });

    const second = await apply('MADE', declare);
    expect(second.exitCode).toBe(ExitCode.OK);
    expect(linesOf(second.out, 'MADE')).toEqual(['unchanged MADE', 'unchanged MADE/auditor', 'unchanged MADE/mirror', 'unchanged MADE/retrier']);
    expect(second.out.some((l) => l.startsWith('ownership record'))).toBe(false);
  });

  test('an allowed change updates the consumer in place: its delivered and ack floor stay', async () => {
    await apply('KEPT', (s) => { s.addConsumer('auditor', { maxAckPending: 100 }); });
    await consume('KEPT', 'auditor', 'kept.a', { publish: 10, fetch: 4, ack: 3 });
    const before = position(await info('KEPT', 'auditor'));
    expect(before).toEqual({ delivered: 4, ackFloor: 3, pending: 1 });
    const changed = await apply('KEPT', (s) => { s.addConsumer('auditor', { maxAckPending: 200, description: 'audits', ackWait: '1m', filterSubjects: ['kept.>'] }); });
    expect(changed.exitCode).toBe(ExitCode.OK);
    expect(linesOf(changed.out, 'KEPT')).toContain('updated KEPT/auditor: ack_wait 30s -> 1m; description (unset) -> "audits"; filter_subject (unset) -> "kept.>"; max_ack_pending 100 -> 200');
    const after = await info('KEPT', 'auditor');
    expect(position(after)).toEqual(before);
    expect(after.config).toMatchObject({ max_ack_pending: 200, description: 'audits', ack_wait: 60_000_000_000, filter_subject: 'kept.>' });
  });

  test('a change JetStream cannot make is refused, exit 3, and the consumer keeps its configuration and delivery state', async () => {
    await apply('FIXED', (s) => { s.addConsumer('auditor'); s.addConsumer('mirror', PUSH); });
    await consume('FIXED', 'auditor', 'fixed.a', { publish: 6, fetch: 3, ack: 2 });
    const before = await info('FIXED', 'auditor');
    const refused = await apply('FIXED', (s) => {
      s.addConsumer('auditor', { deliverPolicy: DeliverPolicy.NEW, ackPolicy: AckPolicy.ALL });
      s.addConsumer('mirror', { ackPolicy: AckPolicy.NONE });
    });
    expect(refused.exitCode).toBe(ExitCode.REFUSED);
    expect(linesOf(refused.out, 'FIXED').filter((l) => l.startsWith('refused'))).toEqual([
      'refused FIXED/auditor: ack_policy "explicit" -> "all": JetStream cannot change the ack policy of a consumer; '
        + 'deliver_policy "all" -> "new": JetStream cannot change the deliver policy of a consumer',
      'refused FIXED/mirror: deliver_subject "deliver.mirror" -> (unset): JetStream cannot turn a push consumer into a pull consumer; '
        + 'flow_control true -> (unset): JetStream cannot change the flow control of a consumer; '
        + 'idle_heartbeat 5s -> (unset): JetStream cannot change the heartbeat of a consumer; max_waiting (unset) -> 512: JetStream cannot change max_waiting of a consumer',
    ]);
    const after = await info('FIXED', 'auditor');
    expect([position(after), after.config.deliver_policy, after.config.ack_policy]).toEqual([position(before), 'all', 'explicit']);
    expect((await info('FIXED', 'mirror')).config.deliver_subject).toBe('deliver.mirror');
  });

  test('a removed consumer is deleted or kept by its retention policy; a consumer the store did not create is left alone, and refused unless adopted', async () => {
    await apply('GONE', (s) => {
      s.addConsumer('dropped', { retentionPolicy: StreamRetentionPolicy.DELETE });
      s.addConsumer('kept');
    });
    await jsm.consumers.add('GONE', { durable_name: 'foreign', ack_policy: NatsAckPolicy.Explicit });
    const removed = await apply('GONE', () => undefined);
    expect(removed.exitCode).toBe(ExitCode.OK);
    expect(linesOf(removed.out, 'GONE')).toEqual(['deleted GONE/dropped', 'orphaned GONE/kept (kept: retentionPolicy Retain)', 'unchanged GONE']);
    const names: string[] = [];
    for await (const c of jsm.consumers.list('GONE')) names.push(c.name);
    expect(names.sort()).toEqual(['foreign', 'kept']);

    const taken = await apply('GONE', (s) => { s.addConsumer('foreign'); });
    expect(taken.exitCode).toBe(ExitCode.REFUSED);
    expect(linesOf(taken.out, 'GONE')).toContain('refused GONE/foreign: exists on the stream and is not managed by this store; set adopt to manage it');
    const adopted = await apply('GONE', (s) => { s.addConsumer('foreign', { adopt: true }); });
    expect(adopted.exitCode).toBe(ExitCode.OK);
    expect(linesOf(adopted.out, 'GONE')).toContain('unchanged GONE/foreign (adopted)');
  });

  test('the newer fields are created as declared and stay unchanged where the release knows them, and are refused where it does not', async () => {
    const declare = (stream: Stream) => {
      stream.addConsumer('grouped', {
        filterSubjects: ['newer.a', 'newer.b'], metadata: { team: 'audit' }, priorityGroups: ['jobs'], priorityPolicy: PriorityPolicy.PINNED_CLIENT,
        pauseUntil: '2030-01-01T00:00:00Z',
      });
    };
    // Synthesized for the newest release, applied to this one, as a store upgraded before its server would be.
    const first = await apply('NEWER', declare, 'apply', NatsServerVersion.V2_15_3);
    if (!version.atLeast('2.11.0')) {
      expect(first.exitCode).toBe(ExitCode.REFUSED);
      const [line] = linesOf(first.out, 'NEWER').filter((l) => l.startsWith('refused'));
      expect(line).toMatch(new RegExp(`^refused NEWER/grouped: .*field priority_groups needs NATS server 2\\.11\\.0; the server runs ${release.replace(/\./g, '\\.')}`));
      await expect(info('NEWER', 'grouped')).rejects.toThrow('consumer not found');
      return;
    }
    expect(first.exitCode).toBe(ExitCode.OK);
    expect((await info('NEWER', 'grouped')).config).toMatchObject({
      filter_subjects: ['newer.a', 'newer.b'], priority_groups: ['jobs'], priority_policy: 'pinned_client', priority_timeout: 120_000_000_000,
    });
    const second = await apply('NEWER', declare, 'apply', NatsServerVersion.V2_15_3);
    expect([second.exitCode, linesOf(second.out, 'NEWER')]).toEqual([ExitCode.OK, ['unchanged NEWER', 'unchanged NEWER/grouped']]);
  });

  test('the consumers of a stream the store does not manage are refused with it and not created', async () => {
    await jsm.streams.add({ name: 'THEIRS', subjects: ['theirs.>'] });
    const run = await apply('THEIRS', (s) => { s.addConsumer('mine'); });
    expect(run.exitCode).toBe(ExitCode.REFUSED);
    expect(linesOf(run.out, 'THEIRS')).toEqual([
      'refused THEIRS/mine: its stream "THEIRS" is not managed by this store (refused in this run)',
      'refused THEIRS: exists on the server and is not managed by this store; set adopt to manage it',
    ]);
    await expect(info('THEIRS', 'mine')).rejects.toThrow('consumer not found');
  });

  test('renaming a consumer of a work queue is refused while the old one stays; deleting the old one lets the new one in', async () => {
    const workQueue = (consumer: string, retentionPolicy = StreamRetentionPolicy.RETAIN) => (store: StreamStore) => {
      store.addStream('QUEUE', { subjects: ['queue.>'], retention: Retention.WORK_QUEUE }).addConsumer(consumer, { retentionPolicy });
    };
    expect((await applyStore('queue', workQueue('workers'))).exitCode).toBe(ExitCode.OK);
    const renamed = await applyStore('queue', workQueue('workers-v2'));
    expect(renamed.exitCode).toBe(ExitCode.REFUSED);
    expect(linesOf(renamed.out, 'QUEUE')).toEqual([
      'orphaned QUEUE/workers (kept: retentionPolicy Retain)',
      'refused QUEUE/workers-v2: its filters overlap those of consumer "workers", which stays on the work-queue stream (orphaned or foreign): '
        + 'a work queue gives each subject to one consumer; delete that consumer first',
      'unchanged QUEUE',
    ]);
    // Declared again with Delete, then removed: deleted in the run that creates its successor.
    expect((await applyStore('queue', workQueue('workers', StreamRetentionPolicy.DELETE))).exitCode).toBe(ExitCode.OK);
    const replaced = await applyStore('queue', workQueue('workers-v2'));
    expect([replaced.exitCode, linesOf(replaced.out, 'QUEUE')]).toEqual([ExitCode.OK, ['created QUEUE/workers-v2', 'deleted QUEUE/workers', 'unchanged QUEUE']]);
  });

  test('a consumer removed from an interest stream that holds messages is kept unless the stream allows data loss', async () => {
    const interest = (allowDataLoss: boolean, consumers: string[]) => (store: StreamStore) => {
      const stream = store.addStream('INTEREST', { subjects: ['interest.>'], retention: Retention.INTEREST, allowDataLoss });
      for (const name of consumers) stream.addConsumer(name, { retentionPolicy: StreamRetentionPolicy.DELETE });
    };
    expect((await applyStore('interest', interest(false, ['a', 'b']))).exitCode).toBe(ExitCode.OK);
    await nc.jetstream().publish('interest.x', codec.encode('kept for b'));
    await consume('INTEREST', 'a', 'interest.y', { publish: 0, fetch: 1, ack: 1 });
    const removed = await applyStore('interest', interest(false, ['a']));
    expect(removed.exitCode).toBe(ExitCode.REFUSED);
    expect(linesOf(removed.out, 'INTEREST')).toContain('refused INTEREST/b: deleting it would lose data: the interest stream "INTEREST" holds 1 messages, '
      + 'and those only this consumer was interested in would be removed; set allowDataLoss on the stream to allow it');
    expect((await jsm.streams.info('INTEREST')).state.messages).toBe(1);
    const allowed = await applyStore('interest', interest(true, ['a']));
    expect([allowed.exitCode, linesOf(allowed.out, 'INTEREST').filter((l) => l.includes('/b'))]).toEqual([ExitCode.OK, ['deleted INTEREST/b']]);
  });

  test('filters that leave out subjects on an interest stream holding messages are refused unless the stream allows data loss, and never repaired', async () => {
    const narrow = (allowDataLoss: boolean, filterOfB: string) => (store: StreamStore) => {
      const stream = store.addStream('NARROW', { subjects: ['narrow.>'], retention: Retention.INTEREST, allowDataLoss });
      stream.addConsumer('a', { filterSubjects: ['narrow.a'] });
      stream.addConsumer('b', { filterSubjects: [filterOfB] });
    };
    const messages = async () => (await jsm.streams.info('NARROW')).state.messages;
    const filterOfB = async () => (await info('NARROW', 'b')).config.filter_subject;
    expect((await applyStore('narrow', narrow(false, 'narrow.b'))).exitCode).toBe(ExitCode.OK);
    for (const subject of ['narrow.a', 'narrow.b', 'narrow.b']) await nc.jetstream().publish(subject, codec.encode(subject));
    const lose = (filter: string, count: number, remedy: string) => `refused NARROW/b: its filters would no longer take "${filter}", which would lose data: `
      + `the interest stream "NARROW" holds ${count} messages, and those only this consumer was interested in would be removed; ${remedy}`;

    const narrowed = await applyStore('narrow', narrow(false, 'narrow.c'));
    expect([narrowed.exitCode, linesOf(narrowed.out, 'NARROW')]).toEqual([ExitCode.REFUSED,
      [lose('narrow.b', 3, 'set allowDataLoss on the stream to allow it'), 'unchanged NARROW', 'unchanged NARROW/a']]);
    expect([await messages(), await filterOfB()]).toEqual([3, 'narrow.b']);

    // Changed by hand (from 2.10 the server drops the messages only narrow.b took), then a message only
    // b takes: the drift check must not bring its filter back, even with allowDataLoss.
    await jsm.consumers.update('NARROW', 'b', { filter_subject: 'narrow.c' });
    await nc.jetstream().publish('narrow.c', codec.encode('only b'));
    const held = await messages();
    const repair = await applyStore('narrow', narrow(true, 'narrow.b'), 'repair');
    expect([repair.exitCode, linesOf(repair.out, 'NARROW').filter((l) => l.includes('/b'))]).toEqual([ExitCode.REFUSED,
      [lose('narrow.c', held, 'a repair never discards messages: the apply Job applies it as allowDataLoss allows')]]);
    expect([await messages(), await filterOfB()]).toEqual([held, 'narrow.c']);

    const allowed = await applyStore('narrow', narrow(true, 'narrow.b'));
    expect([allowed.exitCode, linesOf(allowed.out, 'NARROW').filter((l) => l.includes('/b')), await filterOfB()])
      .toEqual([ExitCode.OK, ['updated NARROW/b: filter_subject "narrow.c" -> "narrow.b"'], 'narrow.b']);
  });

  test('on a work queue, a filter moved between consumers applies in one run; filters swapped between them are refused and kept', async () => {
    const queue = (filterOfA: string, filterOfB: string, optionsOfA: ConsumerOptions = {}) => (store: StreamStore) => {
      const stream = store.addStream('MOVES', { subjects: ['moves.>'], retention: Retention.WORK_QUEUE });
      stream.addConsumer('a', { ...optionsOfA, filterSubjects: [filterOfA] });
      stream.addConsumer('b', { filterSubjects: [filterOfB] });
    };
    const filters = async () => [(await info('MOVES', 'a')).config.filter_subject, (await info('MOVES', 'b')).config.filter_subject];
    expect((await applyStore('moves', queue('moves.a', 'moves.c'))).exitCode).toBe(ExitCode.OK);
    // a takes moves.c, which b gives up: b is written first.
    const moved = await applyStore('moves', queue('moves.c', 'moves.d'));
    expect([moved.exitCode, moved.out.filter((l) => /^\[\d+\/\d+\] updated MOVES\//.test(l)).map((l) => l.replace(/^\[\d+\/\d+\] /, '').replace(/:.*$/, ''))])
      .toEqual([ExitCode.OK, ['updated MOVES/b', 'updated MOVES/a']]);
    expect(await filters()).toEqual(['moves.c', 'moves.d']);
    const swapped = await applyStore('moves', queue('moves.d', 'moves.c'));
    expect([swapped.exitCode, linesOf(swapped.out, 'MOVES').filter((l) => l.includes('/'))]).toEqual([ExitCode.REFUSED, [
      expect.stringMatching(/^refused MOVES\/a: its filters take subjects from consumer "b", whose new filters take subjects from it: /),
      expect.stringMatching(/^refused MOVES\/b: its filters take subjects from consumer "a", whose new filters take subjects from it: /),
    ]]);
    expect(await filters()).toEqual(['moves.c', 'moves.d']);
    // A consumer refused a change of its own keeps its filters: one taking them is refused with it, not failed by the server.
    const kept = await applyStore('moves', queue('moves.e', 'moves.c', { maxWaiting: 100 }));
    expect([kept.exitCode, linesOf(kept.out, 'MOVES').filter((l) => l.includes('/'))]).toEqual([ExitCode.REFUSED, [
      expect.stringMatching(/^refused MOVES\/a: max_waiting 512 -> 100: /),
      'refused MOVES/b: its filters take subjects that consumer "a" keeps, refused in this run',
    ]]);
    expect(await filters()).toEqual(['moves.c', 'moves.d']);
  });

  test('consumer limits lowered on a stream and on its consumer apply in one run, the consumer first (2.10+)', async () => {
    if (!version.atLeast('2.10.0')) return;
    const limited = (maxAckPending: number | undefined) => (s: Stream) => { s.addConsumer('c', { maxAckPending: maxAckPending ?? 1000 }); };
    expect((await apply('LOWERED', limited(undefined))).exitCode).toBe(ExitCode.OK);
    const lowered = await applyStore('lowered', (store) => {
      store.addStream('LOWERED', { subjects: ['lowered.>'], consumerLimits: { maxAckPending: 500 } }).addConsumer('c', { maxAckPending: 500 });
    });
    expect([lowered.exitCode, linesOf(lowered.out, 'LOWERED')]).toEqual([ExitCode.OK, [
      'updated LOWERED/c: max_ack_pending 1000 -> 500', 'updated LOWERED: consumer_limits (unset) -> {"max_ack_pending":500}',
    ]]);
    expect([(await jsm.streams.info('LOWERED')).config.consumer_limits, (await info('LOWERED', 'c')).config.max_ack_pending]).toEqual([{ max_ack_pending: 500 }, 500]);
  });

  test('a pause added to an existing consumer pauses it, and removing it resumes it (2.11+)', async () => {
    if (!version.atLeast('2.11.0')) return;
    expect((await apply('PAUSED', (s) => { s.addConsumer('c'); })).exitCode).toBe(ExitCode.OK);
    const paused = await apply('PAUSED', (s) => { s.addConsumer('c', { pauseUntil: '2030-01-01T00:00:00Z' }); });
    expect([paused.exitCode, linesOf(paused.out, 'PAUSED')]).toEqual([ExitCode.OK, ['unchanged PAUSED', 'updated PAUSED/c: pause_until (unset) -> "2030-01-01T00:00:00.000Z"']]);
    expect((await info('PAUSED', 'c')) as unknown as { paused: boolean }).toMatchObject({ paused: true });
    expect((await apply('PAUSED', (s) => { s.addConsumer('c', { pauseUntil: '2030-01-01T00:00:00Z' }); })).exitCode).toBe(ExitCode.OK);
    const resumed = await apply('PAUSED', (s) => { s.addConsumer('c'); });
    expect([resumed.exitCode, linesOf(resumed.out, 'PAUSED')]).toEqual([ExitCode.OK, ['unchanged PAUSED', 'updated PAUSED/c: pause_until "2030-01-01T00:00:00.000Z" -> (unset)']]);
    expect(((await info('PAUSED', 'c')) as unknown as { paused?: boolean }).paused ?? false).toBe(false);
  });
});
