import * as fs from 'fs';
import * as path from 'path';
import { AckPolicy, JetStreamManager, NatsConnection, connect, headers as natsHeaders } from 'nats';
import { ApplyOptions, Command, ExitCode, runApply } from '../../src/apply/apply';
import { diffStreamConfig } from '../../src/apply/diff';
import { normalizeServerConfig } from '../../src/apply/normalize';
import { OWNERSHIP_BUCKET } from '../../src/apply/names';
import { LOCK_STREAM, OWNERSHIP_STREAM, decodeOwnership, writeOwnership } from '../../src/apply/ownership';
import { NOT_MANAGED_REASON } from '../../src/apply/plan';
import { ItemResult, ReportMode, outcomeOf } from '../../src/apply/report';
import type { JetStreamStreamConfig } from '../../src/stream-definition';
import {
  DEFAULT_RELEASE, NATS_SERVER_RELEASES, NatsServerHandle, NatsServerRelease, makeTempDir, startNatsServer, stopAll, versionOf,
} from '../support/nats-server';
import { httpGet, sleep } from '../support/io';
import { freePort } from '../support/ports';
import { HOUR_NS, declaredConfig } from './fixtures';

const STORE = 'events';

/** One entry of a streams document. */
interface Entry {
  readonly retentionPolicy: 'Retain' | 'Delete';
  readonly allowDataLoss?: boolean;
  readonly adopt?: boolean;
  readonly allowSeal?: boolean;
  readonly config: JetStreamStreamConfig;
}

function entry(name: string, config: Partial<JetStreamStreamConfig> = {}, switches: Partial<Omit<Entry, 'config'>> = {}): Entry {
  return { retentionPolicy: 'Retain', ...switches, config: declaredConfig({ name, subjects: [`${name}.>`], ...config }) };
}

interface Run {
  readonly exitCode: ExitCode;
  readonly results: readonly ItemResult[];
  readonly out: string[];
  readonly err: string[];
}

/** The nats-server release each test starts; a describe block sets another with {@link onRelease}. */
let release: NatsServerRelease = DEFAULT_RELEASE;
let server: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;
let dir: string;

/** Runs the program in-process on a streams document holding `streams`. */
async function run(command: Command, streams: readonly Entry[], options: Partial<ApplyOptions> = {}, onOut?: (line: string) => void): Promise<Run> {
  const definitions = path.join(dir, 'streams.json');
  fs.writeFileSync(definitions, JSON.stringify({ store: STORE, version: versionOf(release).version, streams }));
  const out: string[] = [];
  const err: string[] = [];
  const { exitCode, results } = await runApply(
    { command, server: server.url, definitions, waitMs: 5_000, concurrency: 32, ownerReplicas: 1, lockTtlMs: 30_000, ...options },
    { out: (line) => { out.push(line); onOut?.(line); }, err: (line) => err.push(line) },
  );
  return { exitCode, results, out, err };
}

/** Each stream's outcome, by name. */
function outcomes(result: Run, mode: ReportMode = 'apply'): Record<string, string> {
  return Object.fromEntries(result.results.map((r) => [r.item.name, outcomeOf(r, mode)]));
}

/** Publishes `count` messages; to a counter stream, increments of 1 (a header, no payload). */
async function publish(subject: string, count: number, counter = false): Promise<void> {
  const js = nc.jetstream();
  const headers = natsHeaders();
  if (counter) headers.set('Nats-Incr', '1');
  for (let i = 0; i < count; i++) {
    await js.publish(subject, counter ? new Uint8Array() : new TextEncoder().encode(`message ${i}`), { headers });
  }
}

/**
 * The server's own verdict on an update from `before` to `after`, tried on a stream of its own
 * (`PROBE`, created directly, so foreign to the program): its error, or undefined when it takes it.
 */
async function serverUpdateError(before: Partial<JetStreamStreamConfig>, after: Partial<JetStreamStreamConfig>): Promise<string | undefined> {
  const request = async (verb: string, config: Partial<JetStreamStreamConfig>) => {
    const body = JSON.stringify(declaredConfig({ name: 'PROBE', subjects: ['PROBE.>'], ...config }));
    const reply = await nc.request(`$JS.API.STREAM.${verb}.PROBE`, body, { timeout: 5_000 });
    return JSON.parse(new TextDecoder().decode(reply.data)).error?.description as string | undefined;
  };
  const created = await request('CREATE', before);
  if (created !== undefined) throw new Error(`PROBE: the server refused the create: ${created}`);
  return request('UPDATE', after);
}

async function ownershipRecord(): Promise<{ streams: string[]; revision: number }> {
  const kv = await nc.jetstream().views.kv(OWNERSHIP_BUCKET, { bindOnly: true });
  const e = await kv.get(STORE);
  if (!e) return { streams: [], revision: 0 };
  return { streams: [...decodeOwnership(e.string(), 'record').managed.keys()].sort(), revision: e.revision };
}

async function connectTest(): Promise<void> {
  // No reconnect: the kill test would leave the client's reconnect delay running.
  nc = await connect({ servers: server.url, reconnect: false });
  jsm = await nc.jetstreamManager();
}

beforeEach(async () => {
  dir = makeTempDir();
  server = await startNatsServer({ release });
  await connectTest();
});

afterEach(async () => {
  await nc?.close();
  await server?.stop();
});

afterAll(stopAll);

/** Runs the tests of the enclosing describe block on `chosen`. */
function onRelease(chosen: NatsServerRelease): void {
  beforeAll(() => {
    release = chosen;
  });
  afterAll(() => {
    release = DEFAULT_RELEASE;
  });
}

test('creates from empty; a second run sends nothing and reports everything unchanged', async () => {
  const streams = [entry('ORDERS', { max_age: 6 * HOUR_NS }), entry('AUDIT', { max_msgs: 1000 }), entry('EMAILS')];
  const first = await run('apply', streams);
  expect(first.exitCode).toBe(ExitCode.OK);
  expect(outcomes(first)).toEqual({ AUDIT: 'created', EMAILS: 'created', ORDERS: 'created' });
  expect(first.out).toEqual(expect.arrayContaining([expect.stringMatching(/^\[\d\/3\] created ORDERS$/)]));
  const before = await Promise.all(['AUDIT', 'EMAILS', 'ORDERS'].map((name) => jsm.streams.info(name)));
  const record = await ownershipRecord();
  expect(record.streams).toEqual(['AUDIT', 'EMAILS', 'ORDERS']);

  // Everything the second run sends to the stream API or the ownership bucket.
  const writes: string[] = [];
  const watch = nc.subscribe('$JS.API.STREAM.>', { callback: (_, msg) => writes.push(msg.subject) });
  const watchKv = nc.subscribe(`$KV.${OWNERSHIP_BUCKET}.>`, { callback: (_, msg) => writes.push(msg.subject) });
  const plan = await run('plan', streams);
  const second = await run('apply', streams);
  await nc.flush();
  watch.unsubscribe();
  watchKv.unsubscribe();

  expect(plan.exitCode).toBe(ExitCode.OK);
  expect(plan.out.slice(1, 4)).toEqual(['unchanged AUDIT', 'unchanged EMAILS', 'unchanged ORDERS']);
  expect(second.exitCode).toBe(ExitCode.OK);
  expect(outcomes(second)).toEqual({ AUDIT: 'unchanged', EMAILS: 'unchanged', ORDERS: 'unchanged' });
  expect(writes.filter((subject) => !/^\$JS\.API\.STREAM\.(LIST|INFO|MSG\.GET)\b/.test(subject))).toEqual([]);
  const after = await Promise.all(['AUDIT', 'EMAILS', 'ORDERS'].map((name) => jsm.streams.info(name)));
  expect(after.map((i) => [i.created, i.config])).toEqual(before.map((i) => [i.created, i.config]));
  expect(await ownershipRecord()).toEqual(record);
  // The bucket's own stream is neither planned nor touched.
  expect(second.results.map((r) => r.item.name)).not.toContain(OWNERSHIP_STREAM);
});

test('updates in place with the full configuration; the plan shows the field-level diff', async () => {
  await run('apply', [entry('ORDERS', { max_age: 6 * HOUR_NS, description: 'all orders' })]);
  await publish('ORDERS.created', 5);
  const created = (await jsm.streams.info('ORDERS')).created;
  // The description is left out: only a full update removes it.
  const changed = [entry('ORDERS', { max_age: 12 * HOUR_NS })];

  const plan = await run('plan', changed);
  expect(plan.exitCode).toBe(ExitCode.PENDING);
  expect(plan.out).toContain('update ORDERS: description "all orders" -> (unset); max_age 6h -> 12h');
  const applied = await run('apply', changed);
  expect(applied.exitCode).toBe(ExitCode.OK);
  expect(applied.out).toContain('[1/1] updated ORDERS: description "all orders" -> (unset); max_age 6h -> 12h');

  const info = await jsm.streams.info('ORDERS');
  expect(info.config.max_age).toBe(12 * HOUR_NS);
  expect(info.config.description).toBeUndefined();
  expect(info.state.messages).toBe(5);
  expect(info.created).toBe(created);
  expect((await run('plan', changed)).exitCode).toBe(ExitCode.OK);
});

describe.each(NATS_SERVER_RELEASES)('refusals on nats-server %s', (chosen) => {
  onRelease(chosen);

  test('refuses more replicas than a single server keeps; servers before 2.14 would take the update and lose the stream at restart', async () => {
    await run('apply', [entry('ORDERS')]);
    await publish('ORDERS.created', 3);
    const serverError = await serverUpdateError({}, { num_replicas: 3 });
    expect(serverError).toBe(versionOf(chosen).atLeast('2.14.0') ? 'replicas > 1 not supported in non-clustered mode' : undefined);
    const result = await run('apply', [entry('ORDERS', { num_replicas: 3 }), entry('NEW', { num_replicas: 3 })]);
    expect([result.exitCode, outcomes(result)]).toEqual([ExitCode.REFUSED, { NEW: 'refused', ORDERS: 'refused', PROBE: 'foreign' }]);
    expect(result.out).toContain('[2/3] refused ORDERS: num_replicas 3: the server is a single server, not a cluster, and keeps 1 replica; '
      + 'a single server would take the change and lose the stream at its next restart');
    const orders = await jsm.streams.info('ORDERS');
    expect([orders.config.num_replicas, orders.state.messages]).toEqual([1, 3]);
  });

  test('refuses a storage type change and keeps the messages; the other streams still apply', async () => {
    await run('apply', [entry('ORDERS'), entry('AUDIT')]);
    await publish('ORDERS.created', 10);
    expect((await jsm.streams.info('ORDERS')).state.messages).toBe(10);

    const result = await run('apply', [entry('ORDERS', { storage: 'memory' }), entry('AUDIT', { max_age: HOUR_NS })]);
    expect(result.exitCode).toBe(ExitCode.REFUSED);
    expect(outcomes(result)).toEqual({ AUDIT: 'updated', ORDERS: 'refused' });
    expect(result.out).toContain('[1/2] refused ORDERS: storage "file" -> "memory": JetStream cannot change the storage type of a stream');
    const orders = await jsm.streams.info('ORDERS');
    expect([orders.config.storage, orders.state.messages]).toEqual(['file', 10]);
    expect((await jsm.streams.info('AUDIT')).config.max_age).toBe(HOUR_NS);
  });

  test('refuses a max_consumers change where the server itself refuses it (before 2.12.5), updates it where the server can', async () => {
    await run('apply', [entry('ORDERS')]);
    const serverError = await serverUpdateError({}, { max_consumers: 10 });

    const result = await run('apply', [entry('ORDERS', { max_consumers: 10 })]);
    const stored = (await jsm.streams.info('ORDERS')).config.max_consumers;
    const observed = { serverError, exitCode: result.exitCode, ORDERS: outcomes(result).ORDERS, stored };
    if (versionOf(release).atLeast('2.12.5')) {
      expect(observed).toEqual({ serverError: undefined, exitCode: ExitCode.OK, ORDERS: 'updated', stored: 10 });
    } else {
      expect(observed).toEqual({
        serverError: 'stream configuration update can not change MaxConsumers', exitCode: ExitCode.REFUSED, ORDERS: 'refused', stored: -1,
      });
      expect(result.out).toEqual(expect.arrayContaining([
        expect.stringMatching(new RegExp(`^\\[\\d/2\\] refused ORDERS: max_consumers unlimited -> 10: NATS server ${release.replace(/\./g, '\\.')} cannot change max_consumers; 2\\.12\\.5 can$`)),
      ]));
    }
  });

  test('refuses turning message TTLs off (from 2.11), or the field itself on a server too old for it', async () => {
    const withTtl = await run('apply', [entry('TTL', { allow_msg_ttl: true })]);
    if (!versionOf(release).atLeast('2.11.0')) {
      expect([withTtl.exitCode, outcomes(withTtl)]).toEqual([ExitCode.REFUSED, { TTL: 'refused' }]);
      expect(withTtl.out).toEqual(expect.arrayContaining([expect.stringMatching(
        new RegExp(`^\\[1/1\\] refused TTL: field allow_msg_ttl needs NATS server 2\\.11\\.0; the server runs ${release.replace(/\./g, '\\.')}$`))]));
      await expect(jsm.streams.info('TTL')).rejects.toThrow('stream not found');
      return;
    }
    expect([withTtl.exitCode, outcomes(withTtl)]).toEqual([ExitCode.OK, { TTL: 'created' }]);
    await publish('TTL.created', 3);
    const off = await run('apply', [entry('TTL')]);
    expect([off.exitCode, outcomes(off)]).toEqual([ExitCode.REFUSED, { TTL: 'refused' }]);
    expect(off.out).toContain('[1/1] refused TTL: allow_msg_ttl true -> false: JetStream cannot turn allow_msg_ttl off once set');
    const info = await jsm.streams.info('TTL');
    expect([(info.config as unknown as Record<string, unknown>).allow_msg_ttl, info.state.messages]).toEqual([true, 3]);
  });

  test('creates a mirror and a sourced stream as declared; adding a mirror to a stream is refused, as by the server', async () => {
    const streams = [
      entry('ORDERS'),
      entry('COPY', { subjects: [], duplicate_window: 0, sources: [{ name: 'ORDERS', filter_subject: 'ORDERS.eu.>' }] }),
      entry('ARCHIVE', { subjects: [], duplicate_window: 0, mirror: { name: 'ORDERS' } }),
      entry('PLAIN'),
    ];
    // The server sets a duplicate window on a sourced stream before 2.14, as synth declares it.
    if (!versionOf(release).atLeast('2.14.0')) streams[1] = entry('COPY', { subjects: [], sources: [{ name: 'ORDERS', filter_subject: 'ORDERS.eu.>' }] });
    const created = await run('apply', streams);
    expect([created.exitCode, outcomes(created)]).toEqual([ExitCode.OK, { ARCHIVE: 'created', COPY: 'created', ORDERS: 'created', PLAIN: 'created' }]);
    await publish('ORDERS.eu.1', 2);
    await publish('ORDERS.us.1', 3);
    const again = await run('apply', streams);
    expect([again.exitCode, outcomes(again)]).toEqual([ExitCode.OK, { ARCHIVE: 'unchanged', COPY: 'unchanged', ORDERS: 'unchanged', PLAIN: 'unchanged' }]);

    const serverError = await serverUpdateError({}, { subjects: [], mirror: { name: 'ORDERS' } });
    const mirrored = await run('apply', [...streams.slice(0, 3), entry('PLAIN', { subjects: [], mirror: { name: 'ORDERS' } })]);
    expect({ serverRefuses: serverError !== undefined, exitCode: mirrored.exitCode, PLAIN: outcomes(mirrored).PLAIN })
      .toEqual({ serverRefuses: true, exitCode: ExitCode.REFUSED, PLAIN: 'refused' });
    // PROBE, the server's own verdict, is the fifth stream the program sees.
    expect(mirrored.out).toContain('[4/5] refused PLAIN: mirror (unset) -> {"name":"ORDERS"}: JetStream cannot change the mirror of a stream');
  });

  test('refuses each field newer than the server, naming it and the release that has it; a server that has them all takes them', async () => {
    const fields: Array<[string, string, unknown]> = [
      ['metadata', '2.10.0', { team: 'shop' }], ['allow_msg_ttl', '2.11.0', true], ['allow_atomic', '2.12.0', true], ['allow_batched', '2.14.0', true],
    ];
    const result = await run('apply', [entry('NEWER', Object.fromEntries(fields.map(([field, , value]) => [field, value])))]);
    const tooNew = fields.filter(([, needs]) => !versionOf(chosen).atLeast(needs));
    if (tooNew.length === 0) {
      expect([result.exitCode, outcomes(result)]).toEqual([ExitCode.OK, { NEWER: 'created' }]);
    } else {
      expect([result.exitCode, outcomes(result)]).toEqual([ExitCode.REFUSED, { NEWER: 'refused' }]);
      expect(result.out[1]).toBe(`[1/1] refused NEWER: ${tooNew.map(([field, needs]) => `field ${field} needs NATS server ${needs}; the server runs ${chosen}`).join('; ')}`);
      await expect(jsm.streams.info('NEWER')).rejects.toThrow('stream not found');
    }
  });

  test('refuses changing the first sequence, which the server stores to no effect (2.10+) or does not know', async () => {
    if (!versionOf(chosen).atLeast('2.10.0')) {
      expect(outcomes(await run('apply', [entry('SEQ', { first_seq: 100 })]))).toEqual({ SEQ: 'refused' });
      return;
    }
    expect((await run('apply', [entry('SEQ', { first_seq: 100 })])).exitCode).toBe(ExitCode.OK);
    const js = nc.jetstream();
    expect((await js.publish('SEQ.a')).seq).toBe(100);
    // The server's own verdict on the change, on a stream of its own: it takes it, and the next message still follows the last.
    expect(await serverUpdateError({ first_seq: 100 }, { first_seq: 500 })).toBeUndefined();
    expect((await js.publish('PROBE.a')).seq).toBe(100);
    const changed = await run('apply', [entry('SEQ', { first_seq: 500 })]);
    expect([changed.exitCode, outcomes(changed).SEQ]).toEqual([ExitCode.REFUSED, 'refused']);
    expect(changed.out).toContainEqual(expect.stringContaining('refused SEQ: first_seq 100 -> 500: the first sequence only applies when a stream is created'));
  });

  test('removes a mirror from 2.12, where the server promotes the stream with its messages; refuses it before, as the server does', async () => {
    const mirror = { subjects: [], duplicate_window: 0, mirror: { name: 'ORDERS' } };
    expect((await run('apply', [entry('ORDERS'), entry('ARCHIVE', mirror)])).exitCode).toBe(ExitCode.OK);
    await publish('ORDERS.created', 3);
    // The mirror copies in the background: bounded wait for its three messages.
    for (let i = 0; i < 50 && (await jsm.streams.info('ARCHIVE')).state.messages < 3; i++) await sleep(100);
    const serverError = await serverUpdateError(mirror, {});
    const promoted = await run('apply', [entry('ORDERS'), entry('ARCHIVE')]);
    const archive = await jsm.streams.info('ARCHIVE');
    if (versionOf(chosen).atLeast('2.12.0')) {
      expect({ serverError, exitCode: promoted.exitCode, ARCHIVE: outcomes(promoted).ARCHIVE, mirror: archive.config.mirror, messages: archive.state.messages })
        .toEqual({ serverError: undefined, exitCode: ExitCode.OK, ARCHIVE: 'updated', mirror: undefined, messages: 3 });
    } else {
      expect({ serverError, exitCode: promoted.exitCode, ARCHIVE: outcomes(promoted).ARCHIVE, mirror: archive.config.mirror?.name, messages: archive.state.messages })
        .toEqual({ serverError: 'stream mirror configuration can not be updated', exitCode: ExitCode.REFUSED, ARCHIVE: 'refused', mirror: 'ORDERS', messages: 3 });
      expect(promoted.out).toContainEqual(expect.stringContaining(`NATS server ${chosen} cannot remove a mirror; 2.12.0 can`));
    }
  });

  test('seals an existing stream only when the definition allows it, never on create, and keeps its messages', async () => {
    const sealed = { sealed: true, max_age: 0, discard: 'new', deny_delete: true, deny_purge: true } as const;
    const onCreate = await run('apply', [entry('S', sealed, { allowSeal: true })]);
    expect([onCreate.exitCode, outcomes(onCreate)]).toEqual([ExitCode.REFUSED, { S: 'refused' }]);
    expect(onCreate.out).toContain('[1/1] refused S: sealed true: JetStream cannot create a sealed stream; create it unsealed, then seal it');
    await expect(jsm.streams.info('S')).rejects.toThrow('stream not found');

    await run('apply', [entry('S', { max_age: HOUR_NS })]);
    await publish('S.created', 3);
    const withoutConsent = await run('apply', [entry('S', sealed)]);
    expect([withoutConsent.exitCode, outcomes(withoutConsent)]).toEqual([ExitCode.REFUSED, { S: 'refused' }]);
    expect((await jsm.streams.info('S')).config.sealed).toBe(false);

    const withConsent = await run('apply', [entry('S', sealed, { allowSeal: true })]);
    expect([withConsent.exitCode, outcomes(withConsent)]).toEqual([ExitCode.OK, { S: 'updated' }]);
    const info = await jsm.streams.info('S');
    expect([info.config.sealed, info.state.messages]).toEqual([true, 3]);
    expect(outcomes(await run('apply', [entry('S', sealed, { allowSeal: true })]))).toEqual({ S: 'unchanged' });
    const unseal = await run('apply', [entry('S', { max_age: HOUR_NS })]);
    expect(unseal.out[1]).toMatch(/^\[1\/1\] refused S: .*; sealed true -> false: JetStream cannot unseal a sealed stream$/);
  });

  test('refuses a limit below the stored messages unless the stream allows data loss', async () => {
    await run('apply', [entry('ORDERS')]);
    await publish('ORDERS.created', 20);

    const refused = await run('apply', [entry('ORDERS', { max_msgs: 5 })]);
    expect(refused.exitCode).toBe(ExitCode.REFUSED);
    expect(refused.out).toContain(
      '[1/1] refused ORDERS: max_msgs unlimited -> 5 would lose data: the stream holds 20 messages; set allowDataLoss to allow it');
    expect((await jsm.streams.info('ORDERS')).state.messages).toBe(20);

    const allowed = await run('apply', [entry('ORDERS', { max_msgs: 5 }, { allowDataLoss: true })]);
    expect(allowed.exitCode).toBe(ExitCode.OK);
    expect(outcomes(allowed)).toEqual({ ORDERS: 'updated' });
    const info = await jsm.streams.info('ORDERS');
    expect([info.config.max_msgs, info.state.messages]).toEqual([5, 5]);
  });
});

describe.each(NATS_SERVER_RELEASES.filter((r) => versionOf(r).atLeast('2.10.0')))('consumer limits on nats-server %s', (chosen) => {
  onRelease(chosen);

  test('a change leaving max_ack_pending unset on a stream with consumers is refused where the server checks it as 0, and applied where it can', async () => {
    await run('apply', [entry('LIMITED', { consumer_limits: { max_ack_pending: 50 } })]);
    await jsm.consumers.add('LIMITED', { durable_name: 'c1', ack_policy: AckPolicy.Explicit, max_ack_pending: 50 });
    const version = versionOf(chosen);
    const checksUnsetAsZero = !version.atLeast('2.12.12') || (version.atLeast('2.14.0') && !version.atLeast('2.14.3'));
    const removed = await run('apply', [entry('LIMITED')]);
    const stored = async () => (await jsm.streams.info('LIMITED')).config.consumer_limits ?? {};
    if (!checksUnsetAsZero) {
      expect([removed.exitCode, outcomes(removed).LIMITED, await stored()]).toEqual([ExitCode.OK, 'updated', {}]);
      return;
    }
    expect([removed.exitCode, outcomes(removed).LIMITED, await stored()]).toEqual([ExitCode.REFUSED, 'refused', { max_ack_pending: 50 }]);
    expect(removed.out).toContainEqual(expect.stringContaining(
      `refused LIMITED: consumer_limits {"max_ack_pending":50} -> (unset): NATS server ${chosen} checks the stream's 1 consumers against an unset max_ack_pending as a limit of 0`));
    // The server itself refuses it; it takes what the refusal advises.
    const { consumer_limits: _limits, ...without } = (await jsm.streams.info('LIMITED')).config;
    const answer = JSON.parse(new TextDecoder().decode((await nc.request('$JS.API.STREAM.UPDATE.LIMITED', JSON.stringify(without))).data));
    expect(answer.error?.err_code).toBe(10069);
    const raised = await run('apply', [entry('LIMITED', { consumer_limits: { max_ack_pending: 1000 } })]);
    expect([raised.exitCode, await stored()]).toEqual([ExitCode.OK, { max_ack_pending: 1000 }]);
  });
});

describe.each(NATS_SERVER_RELEASES.filter((r) => versionOf(r).atLeast('2.12.0')))('the 2.12 settings on nats-server %s', (chosen) => {
  onRelease(chosen);

  test.each<[string, Partial<JetStreamStreamConfig>, Partial<JetStreamStreamConfig>, string]>([
    ['a counter turned back into a stream', { allow_msg_counter: true }, {},
      'allow_msg_counter true -> false: JetStream cannot turn a stream into a counter or a counter back into a stream'],
    ['a stream turned into a counter', {}, { allow_msg_counter: true },
      'allow_msg_counter false -> true: JetStream cannot turn a stream into a counter or a counter back into a stream'],
    ['message schedules turned off', { allow_msg_schedules: true, allow_rollup_hdrs: true }, { allow_rollup_hdrs: true },
      'allow_msg_schedules true -> false: JetStream cannot turn allow_msg_schedules off once set'],
    ['the persist mode changed', {}, { persist_mode: 'async' }, 'persist_mode "default" -> "async": JetStream cannot change the persist mode of a stream'],
  ])('refuses %s, which the server refuses too, and keeps the messages', async (_what, before, after, reason) => {
    expect(outcomes(await run('apply', [entry('S', before)]))).toEqual({ S: 'created' });
    await publish('S.created', 3, before.allow_msg_counter === true);
    const serverError = await serverUpdateError(before, after);

    const result = await run('apply', [entry('S', after)]);
    expect({ serverRefuses: serverError !== undefined, exitCode: result.exitCode, S: outcomes(result).S, messages: (await jsm.streams.info('S')).state.messages })
      .toEqual({ serverRefuses: true, exitCode: ExitCode.REFUSED, S: 'refused', messages: 3 });
    expect(result.out).toEqual(expect.arrayContaining([expect.stringMatching(/^\[\d\/2\] refused S: /)]));
    expect(result.out.find((line) => / refused S: /.test(line))?.replace(/^\[\d\/2\] refused S: /, '')).toBe(reason);
  });
});

test('deletes removed Delete streams, keeps Retain ones as orphans, leaves foreign ones and adopts on request', async () => {
  await jsm.streams.add({ name: 'THEIRS', subjects: ['THEIRS.>'] });
  const first = await run('apply', [entry('TEMP', {}, { retentionPolicy: 'Delete' }), entry('KEEP')]);
  expect(outcomes(first)).toEqual({ KEEP: 'created', TEMP: 'created', THEIRS: 'foreign' });
  expect(first.out).toContain('[1/3] foreign THEIRS (not managed, left untouched)');
  const theirs = await jsm.streams.info('THEIRS');

  const plan = await run('plan', []);
  expect(plan.exitCode).toBe(ExitCode.PENDING);
  expect(plan.out.slice(1, 4)).toEqual(['orphaned KEEP (kept: retentionPolicy Retain)', 'delete TEMP', 'foreign THEIRS (not managed, left untouched)']);
  const removed = await run('apply', []);
  expect(removed.exitCode).toBe(ExitCode.OK);
  expect(outcomes(removed)).toEqual({ KEEP: 'orphaned', TEMP: 'deleted', THEIRS: 'foreign' });
  const names = (await jsm.streams.names().next()).sort();
  expect(names).toEqual(['KEEP', OWNERSHIP_STREAM, LOCK_STREAM, 'THEIRS']);
  expect((await ownershipRecord()).streams).toEqual(['KEEP']);
  expect(await jsm.streams.info('THEIRS')).toMatchObject({ created: theirs.created, config: theirs.config });

  const notOurs = await run('apply', [entry('THEIRS', { max_msgs: 10 })]);
  expect(notOurs.exitCode).toBe(ExitCode.REFUSED);
  expect(notOurs.out).toContain(`[2/2] refused THEIRS: ${NOT_MANAGED_REASON}`);
  const adopted = await run('apply', [entry('THEIRS', { max_msgs: 10 }, { adopt: true })]);
  expect(adopted.exitCode).toBe(ExitCode.OK);
  expect(adopted.out).toContain('[2/2] updated THEIRS (adopted): max_msgs unlimited -> 10');
  expect((await ownershipRecord()).streams).toEqual(['KEEP', 'THEIRS']);
  // Ours now: without the adopt switch it is simply managed.
  expect(outcomes(await run('apply', [entry('THEIRS', { max_msgs: 10 })]))).toEqual({ KEEP: 'orphaned', THEIRS: 'unchanged' });
});

test('a renamed stream is a new stream plus an orphan', async () => {
  await run('apply', [entry('ORDERS')]);
  const renamed = await run('apply', [entry('ORDERS_V2')]);
  expect(renamed.exitCode).toBe(ExitCode.OK);
  expect(outcomes(renamed)).toEqual({ ORDERS: 'orphaned', ORDERS_V2: 'created' });
  expect((await ownershipRecord()).streams).toEqual(['ORDERS', 'ORDERS_V2']);
});

test('a changed retention policy is pending in the plan and recorded by the apply', async () => {
  await run('apply', [entry('ORDERS')]);
  const plan = await run('plan', [entry('ORDERS', {}, { retentionPolicy: 'Delete' })]);
  expect(plan.exitCode).toBe(ExitCode.PENDING);
  expect(plan.out).toContainEqual(expect.stringMatching(/^ownership record "events" would change: 1 policy changed, digest [0-9a-f]{12} -> [0-9a-f]{12}$/));
  const applied = await run('apply', [entry('ORDERS', {}, { retentionPolicy: 'Delete' })]);
  expect([applied.exitCode, outcomes(applied)]).toEqual([ExitCode.OK, { ORDERS: 'unchanged' }]);
  // Now that the record says Delete, leaving the app deletes it.
  expect(outcomes(await run('apply', []))).toEqual({ ORDERS: 'deleted' });
  expect((await ownershipRecord()).streams).toEqual([]);
});

test('keeps the results of its writes in the termination message when the final ownership record cannot be written', async () => {
  await run('apply', [entry('OLD', {}, { retentionPolicy: 'Delete' }), entry('KEEP')]);
  const terminationLog = path.join(dir, 'termination-log');
  // The delete is done when its line is printed; the server dies before the record is updated.
  const result = await run('apply', [entry('KEEP')], { terminationLog }, (line) => {
    if (line.includes('deleted OLD')) void server.kill();
  });
  expect(result.exitCode).toBe(ExitCode.ERROR);
  expect(result.err.at(-1)).toMatch(/^error: cannot write ownership record "events" in bucket jetstream-cdk8s: /);
  expect(JSON.parse(fs.readFileSync(terminationLog, 'utf8'))).toMatchObject({
    result: 'failed',
    counts: { deleted: 1, unchanged: 1 },
    error: expect.stringMatching(/^cannot write ownership record "events"/),
  });
});

test('reports a failed write with the server\'s error; the other streams still apply', async () => {
  await jsm.streams.add({ name: 'THEIRS', subjects: ['shared.>'] });
  // A hand-written definition synth would refuse: a duplicate window longer than the max age.
  const clash = { max_age: 60_000_000_000, duplicate_window: 120_000_000_000 };
  const result = await run('apply', [entry('CLASH', clash, { retentionPolicy: 'Delete' }), entry('FINE')]);
  expect(result.exitCode).toBe(ExitCode.ERROR);
  expect(outcomes(result)).toEqual({ CLASH: 'failed', FINE: 'created', THEIRS: 'foreign' });
  expect(result.out.find((line) => line.includes('CLASH'))).toMatch(
    /^\[\d\/3\] failed to create CLASH: duplicates window can not be larger then max age \(JetStream error \d+\)$/);
  // The server refused the create: CLASH is not ours, so a CLASH someone makes later is never deleted as ours.
  expect((await ownershipRecord()).streams).toEqual(['FINE']);
  await jsm.streams.add({ name: 'CLASH', subjects: ['clash.>'] });
  const removed = await run('apply', [entry('FINE')]);
  expect(outcomes(removed)).toEqual({ CLASH: 'foreign', FINE: 'unchanged', THEIRS: 'foreign' });
});

test('a renamed Retain stream keeps its subjects: the new name is refused with the reason and what to do, not failed on every run', async () => {
  await run('apply', [entry('S', { subjects: ['s.>'] })]);
  const renamed = [entry('S2', { subjects: ['s.>'] })];
  for (const command of ['plan', 'apply'] as const) {
    const result = await run(command, renamed);
    expect([command, result.exitCode, outcomes(result, command)]).toEqual([command, ExitCode.REFUSED, {
      S: 'orphaned', S2: 'refused',
    }]);
    expect(result.out).toContain(`${command === 'plan' ? '' : '[2/2] '}refused S2: subject "s.>" overlaps "s.>" of stream "S", which is orphaned: `
      + 'it left the app with retentionPolicy Retain, so it is kept. Delete it, or declare it again with retentionPolicy DELETE and then remove it');
  }
  await expect(jsm.streams.info('S2')).rejects.toThrow('stream not found');
  // Done as it says: declared again with Delete, then removed, the rename goes through.
  await run('apply', [entry('S', { subjects: ['s.>'] }, { retentionPolicy: 'Delete' })]);
  expect(outcomes(await run('apply', renamed))).toEqual({ S: 'deleted', S2: 'created' });
});

test('a stream taking the subjects of a foreign stream is refused, naming it', async () => {
  await jsm.streams.add({ name: 'THEIRS', subjects: ['shared.>'] });
  const result = await run('apply', [entry('MINE', { subjects: ['shared.orders'] })]);
  expect([result.exitCode, outcomes(result)]).toEqual([ExitCode.REFUSED, { MINE: 'refused', THEIRS: 'foreign' }]);
  expect(result.out).toContainEqual(expect.stringContaining('refused MINE: subject "shared.orders" overlaps "shared.>" of stream "THEIRS", which is foreign'));
});

test('a subject moved from one stream to another applies in one run: the stream giving it up is updated first', async () => {
  await run('apply', [entry('A', { subjects: ['a.>'] }), entry('Z', { subjects: ['z.>', 'c.>'] })]);
  const moved = await run('apply', [entry('A', { subjects: ['a.>', 'c.>'] }), entry('Z', { subjects: ['z.>'] })]);
  expect([moved.exitCode, outcomes(moved)]).toEqual([ExitCode.OK, { A: 'updated', Z: 'updated' }]);
  expect(moved.out.filter((line) => line.startsWith('['))).toEqual([
    '[1/2] updated Z: subjects ["z.>","c.>"] -> ["z.>"]', '[2/2] updated A: subjects ["a.>"] -> ["a.>","c.>"]',
  ]);
  expect((await jsm.streams.info('A')).config.subjects).toEqual(['a.>', 'c.>']);
});

test('a placement by tags removed from the definition is removed from the stream, not taken for one the server chose', async () => {
  await run('apply', [entry('PLACED', { placement: { tags: ['zone-a'] } })]);
  expect((await jsm.streams.info('PLACED')).config.placement).toEqual({ tags: ['zone-a'] });
  const removed = await run('apply', [entry('PLACED', {})]);
  expect([removed.exitCode, removed.out.filter((line) => line.startsWith('['))]).toEqual([ExitCode.OK, ['[1/1] updated PLACED: placement {"tags":["zone-a"]} -> (unset)']]);
  expect((await jsm.streams.info('PLACED')).config.placement).toBeUndefined();
});

test('subjects swapped between two streams are refused, exit 3, and both keep theirs', async () => {
  await run('apply', [entry('SA', { subjects: ['x.a'] }), entry('SB', { subjects: ['x.b'] })]);
  const swapped = [entry('SA', { subjects: ['x.b'] }), entry('SB', { subjects: ['x.a'] })];
  for (const command of ['plan', 'apply'] as const) {
    const result = await run(command, swapped);
    expect([result.exitCode, outcomes(result, command)]).toEqual([ExitCode.REFUSED, { SA: 'refused', SB: 'refused' }]);
  }
  const refused = await run('apply', swapped);
  expect(refused.out).toContainEqual(expect.stringContaining('refused SA: it takes subjects from stream "SB", which takes subjects from it: '));
  expect([(await jsm.streams.info('SA')).config.subjects, (await jsm.streams.info('SB')).config.subjects]).toEqual([['x.a'], ['x.b']]);
});

test('drift: a plan reports it, and a repair re-creates lost memory streams and undoes hand edits, never losing messages or deleting', async () => {
  const declared = [
    entry('MEM', { storage: 'memory' }), entry('EDITED', { max_age: HOUR_NS }),
    entry('CAPPED', { max_msgs: 10 }, { allowDataLoss: true }), entry('LEAVING', {}, { retentionPolicy: 'Delete' }),
  ];
  expect((await run('apply', declared)).exitCode).toBe(ExitCode.OK);
  await publish('MEM.x', 2);
  // Every server restarts: the memory stream is gone. Someone edits two streams by hand.
  await nc.close();
  await server.restart();
  await connectTest();
  await jsm.streams.update('EDITED', { ...(await jsm.streams.info('EDITED')).config, max_age: 2 * HOUR_NS });
  await jsm.streams.update('CAPPED', { ...(await jsm.streams.info('CAPPED')).config, max_msgs: -1 });
  await publish('CAPPED.x', 20);
  const now = declared.slice(0, 3);

  const plan = await run('plan', now);
  // The plan is what the apply Job would do: CAPPED allows data loss.
  expect([plan.exitCode, outcomes(plan, 'plan')]).toEqual([ExitCode.PENDING, {
    CAPPED: 'update', EDITED: 'update', LEAVING: 'delete', MEM: 'create',
  }]);
  const repair = await run('repair', now);
  expect([repair.exitCode, outcomes(repair)]).toEqual([ExitCode.REFUSED, {
    CAPPED: 'refused', EDITED: 'updated', LEAVING: 'orphaned', MEM: 'created',
  }]);
  expect(repair.out).toContainEqual(expect.stringMatching(/refused CAPPED: max_msgs unlimited -> 10 would lose data: the stream holds 20 messages; a repair never discards messages: the apply Job applies it as allowDataLoss allows$/));
  expect(repair.out).toContainEqual(expect.stringMatching(/orphaned LEAVING \(kept: a repair deletes nothing; the apply Job deletes it\)$/));
  expect((await jsm.streams.info('EDITED')).config.max_age).toBe(HOUR_NS);
  expect((await jsm.streams.info('CAPPED')).state.messages).toBe(20);
  expect((await jsm.streams.info('MEM')).config.storage).toBe('memory');
  // What is left is what only the apply Job does, as the definitions allow it.
  expect(outcomes(await run('apply', now))).toEqual({ CAPPED: 'updated', EDITED: 'unchanged', LEAVING: 'deleted', MEM: 'unchanged' });
});

test('a field the program does not know is refused with the document: nothing is created', async () => {
  const result = await run('apply', [entry('FINE'), entry('ODD', { future_field: 7 } as Partial<JetStreamStreamConfig>)]);
  expect([result.exitCode, result.results]).toEqual([ExitCode.ERROR, []]);
  expect(result.err[0]).toContain('streams[1].config.future_field 7 is not a known property');
  expect(await jsm.streams.names().next()).toEqual([]);
});

test('fails a write the server stored otherwise than sent, so it never loops on the same update', async () => {
  // A hand-written definition synth would refuse: the server turns message TTLs on for delete markers.
  const config = { subject_delete_marker_ttl: 300_000_000_000, allow_rollup_hdrs: true } as Partial<JetStreamStreamConfig>;
  const result = await run('apply', [entry('ODD', config)]);
  expect(result.exitCode).toBe(ExitCode.ERROR);
  expect(result.out).toContain('[1/1] failed to create ODD: the server stored the stream otherwise than sent (it may not know a field): '
    + 'allow_msg_ttl sent false, stored true');
});

// 2.9.10 knows no 2.10 field, and creates a stream with a field it does not know, dropping it.
describe('on nats-server 2.9.10', () => {
  onRelease('2.9.10');

  test('refuses a field newer than the server, naming the field and the version', async () => {
    const streams = [entry('ORDERS', { metadata: { team: 'shop' } }), entry('AUDIT')];
    const plan = await run('plan', streams);
    expect(plan.exitCode).toBe(ExitCode.REFUSED);
    const result = await run('apply', streams);
    expect(result.exitCode).toBe(ExitCode.REFUSED);
    expect(result.out).toContain('[1/2] refused ORDERS: field metadata needs NATS server 2.10.0; the server runs 2.9.10');
    expect(outcomes(result)).toEqual({ AUDIT: 'created', ORDERS: 'refused' });
    await expect(jsm.streams.info('ORDERS')).rejects.toThrow('stream not found');
  });

  test('writes the termination message', async () => {
    const terminationLog = path.join(dir, 'termination-log');
    await run('apply', [entry('ORDERS', { storage: 'memory' }), entry('AUDIT', { metadata: { a: 'b' } })], { terminationLog });
    expect(JSON.parse(fs.readFileSync(terminationLog, 'utf8'))).toEqual({
      result: 'refused',
      counts: { created: 1, updated: 0, unchanged: 0, deleted: 0, orphaned: 0, foreign: 0, refused: 1, failed: 0 },
      refused: ['AUDIT'],
      failed: [],
    });
  });
});

test('a stale ownership revision is a conflict, never an overwrite', async () => {
  const managed = { managed: new Map([['A', { retentionPolicy: 'Retain' as const }]]), applied: { generation: 0 } };
  const first = await writeOwnership(nc, STORE, managed, { revision: 0 }, 1);
  // Another store's record moves the bucket's revisions on.
  await writeOwnership(nc, 'other-store', managed, { revision: 0 }, 1);
  // The same record sent again at the same revision (a write whose answer was lost) is that write.
  expect((await writeOwnership(nc, STORE, managed, { revision: 0 }, 1)).revision).toBe(first.revision);
  const other = { ...managed, applied: { generation: 1 } };
  await expect(writeOwnership(nc, STORE, other, { revision: 0 }, 1)).rejects.toThrow(
    'ownership record "events" in bucket jetstream-cdk8s was changed by another run since this one read it (revision 0); '
    + 'two applies for one store ran at once: run again');
  const second = await writeOwnership(nc, STORE, { managed: new Map(), applied: { generation: 0 } }, first, 1);
  await expect(writeOwnership(nc, STORE, managed, first, 1)).rejects.toThrow(`(revision ${first.revision})`);
  expect(await ownershipRecord()).toEqual({ streams: [], revision: second.revision });
});

test('waits for a server that comes up after the program started', async () => {
  await nc.close();
  await server.stop();
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const started = run('apply', [entry('ORDERS')], { server: url, waitMs: 15_000 });
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  server = await startNatsServer({ port });
  const result = await started;
  expect(result.exitCode).toBe(ExitCode.OK);
  expect(result.err[0]).toBe(`waiting for ${url}: connection refused (attempt 1)`);
  expect(outcomes(result)).toEqual({ ORDERS: 'created' });
  await connectTest();
});

test('fails after the deadline when the server never comes up', async () => {
  const url = `nats://127.0.0.1:${await freePort()}`;
  const startedAt = Date.now();
  const result = await run('apply', [entry('ORDERS')], { server: url, waitMs: 1_000 });
  expect(Date.now() - startedAt).toBeLessThan(3_000);
  expect(result.exitCode).toBe(ExitCode.ERROR);
  expect(result.err[result.err.length - 1]).toMatch(new RegExp(`^error: gave up after 1s waiting for ${url}: connection refused \\(\\d+ attempts\\)$`));
});

test('waits for JetStream, and names it when it never answers', async () => {
  const [port, monitorPort] = [await freePort(), await freePort()];
  await startNatsServer({ config: `listen: "127.0.0.1:${port}"\nhttp: "127.0.0.1:${monitorPort}"\n` });
  const url = `nats://127.0.0.1:${port}`;
  const result = await run('plan', [entry('ORDERS')], { server: url, waitMs: 1_000 });
  expect(result.exitCode).toBe(ExitCode.ERROR);
  expect(result.err[0]).toBe(`waiting for JetStream at ${url}: no responders (JetStream is not enabled or not ready) (attempt 1)`);
  expect(result.err[result.err.length - 1]).toMatch(/^error: gave up after 1s waiting for JetStream at nats:\/\/127.0.0.1:\d+: no responders/);
});

test('converges after the server is killed in the middle of applying 300 streams', async () => {
  const streams = Array.from({ length: 300 }, (_, i) => entry(`S${String(i).padStart(3, '0')}`, { max_msgs: 100 + i }));
  let killed: Promise<void> | undefined;
  // The killed run leaves its lock behind, which the server expires a second after its last renewal.
  const interrupted = await run('apply', streams, { lockTtlMs: 1_000 }, (line) => {
    if (!killed && line.startsWith('[60/300]')) killed = server.kill();
  });
  await killed;
  expect(killed).toBeDefined();
  expect(interrupted.exitCode).toBe(ExitCode.ERROR);
  expect(outcomes(interrupted)).toEqual(expect.objectContaining({ S299: 'failed' }));
  const failures = interrupted.out.filter((line) => / failed to create /.test(line));
  expect(failures.every((line) => line.endsWith(`: lost the connection to ${server.url}`))).toBe(true);

  await nc.close();
  // A stream the kill caught half-created fails the full health check (from 2.10) until it is written again.
  await server.restart({ jetStreamEnabledOnly: true });
  await connectTest();
  const rerun = await run('apply', streams, { lockTtlMs: 1_000 });
  expect(rerun.err.filter((line) => !line.startsWith('waiting: the lock of store "events" is held by'))).toEqual([]);
  // Exit 0, nothing refused: the streams created before the kill are known as ours from the intent record.
  expect(rerun.exitCode).toBe(ExitCode.OK);
  expect(Object.values(outcomes(rerun)).filter((outcome) => outcome === 'unchanged').length).toBeGreaterThanOrEqual(60);

  const onServer = new Map<string, Record<string, unknown>>();
  for await (const info of jsm.streams.list()) onServer.set(info.config.name, info.config as unknown as Record<string, unknown>);
  expect([...onServer.keys()].sort()).toEqual([...streams.map((s) => s.config.name), OWNERSHIP_STREAM, LOCK_STREAM].sort());
  for (const { config } of streams) {
    expect([config.name, diffStreamConfig(config, normalizeServerConfig(onServer.get(config.name) ?? {}))]).toEqual([config.name, []]);
  }
  expect((await ownershipRecord()).streams).toHaveLength(300);
  expect((await httpGet(`http://127.0.0.1:${server.monitorPort}/healthz`, 2_000)).status).toBe(200);
}, 45_000);
