import { DeclaredStream } from '../../src/apply/definitions';
import { normalizeServerConfig } from '../../src/apply/normalize';
import {
  NOT_MANAGED_REASON, Plan, PlanExitCode, PlanInput, PlanItem, ServerStream, StreamState,
  buildPlan, isConsumerItem, hasRefusals, pendingChanges, planExitCode,
} from '../../src/apply/plan';
import { ManagedEntry } from '../../src/apply/managed';
import type { JetStreamStreamConfig } from '../../src/stream-definition';
import { GIB, HOUR_NS, declaredConfig, serverAnswer210 } from './fixtures';

const EMPTY: StreamState = { messages: 0, bytes: 0, first_seq: 0, last_seq: 0 };
const HOLDS_500: StreamState = { messages: 500, bytes: 5 * 1024 * 1024, first_seq: 1, last_seq: 500, num_subjects: 50 };
const WITH_CONSUMERS: StreamState = { ...EMPTY, consumer_count: 2 };

function declared(config: Partial<JetStreamStreamConfig> = {}, options: Partial<DeclaredStream> = {}): DeclaredStream {
  return { config: declaredConfig(config), retentionPolicy: 'Retain', allowDataLoss: false, adopt: false, allowSeal: false, consumers: [], ...options };
}

function onServer(answer: Record<string, unknown> = {}, state: StreamState = EMPTY): ServerStream {
  return { config: normalizeServerConfig(serverAnswer210(answer)), state };
}

function input(parts: Partial<PlanInput>): PlanInput {
  return { declared: [], server: new Map(), managed: new Map(), consumers: new Map(), serverVersion: '2.10.24', clustered: false, ...parts };
}

/** The plan item for one managed stream "orders" declared as `desired` and held by the server as `answer`. */
function planOne(
  desired: Partial<JetStreamStreamConfig>, answer: Record<string, unknown>,
  { state = EMPTY, allowDataLoss = false, allowSeal = false, serverVersion = '2.10.24' } = {},
): PlanItem {
  const plan = buildPlan(input({
    declared: [declared(desired, { allowDataLoss, allowSeal })],
    server: new Map([['orders', onServer(answer, state)]]),
    managed: new Map([['orders', { retentionPolicy: 'Retain' }]]),
    serverVersion,
  }));
  expect(plan.items).toHaveLength(1);
  return plan.items[0];
}

function reasons(item: PlanItem): string[] {
  return item.action === 'refused' ? item.reasons : [];
}

describe('buildPlan', () => {
  test('gives one item per stream and action, sorted by name', () => {
    const managed = new Map<string, ManagedEntry>([
      ['changed', { retentionPolicy: 'Retain' }],
      ['same', { retentionPolicy: 'Delete' }],
      ['removed-delete', { retentionPolicy: 'Delete' }],
      ['removed-retain', { retentionPolicy: 'Retain' }],
      ['vanished', { retentionPolicy: 'Delete' }],
      ['recreate', { retentionPolicy: 'Retain' }],
      ['memory', { retentionPolicy: 'Retain' }],
    ]);
    const named = (name: string, config: Partial<JetStreamStreamConfig> = {}, options: Partial<DeclaredStream> = {}) =>
      declared({ name, subjects: [`${name}.>`], ...config }, options);
    const server = (name: string, answer: Record<string, unknown> = {}) =>
      [name, onServer({ name, subjects: [`${name}.>`], ...answer })] as [string, ServerStream];

    const plan = buildPlan(input({
      declared: [
        named('new'),
        named('recreate'),
        named('changed', { max_age: 12 * HOUR_NS }),
        named('same'),
        named('adopted', { max_msgs: 10 }, { adopt: true }),
        named('adopted-same', {}, { adopt: true }),
        named('theirs'),
        named('memory', { storage: 'memory' }),
      ],
      server: new Map([
        server('changed', { max_age: 6 * HOUR_NS }),
        server('same'),
        server('adopted'),
        server('adopted-same'),
        server('theirs'),
        server('memory'),
        server('removed-delete'),
        server('removed-retain'),
        server('KV_settings'),
      ]),
      managed,
    }));

    expect(plan.items).toEqual([
      { action: 'foreign', name: 'KV_settings' },
      { action: 'update', name: 'adopted', config: declaredConfig({ name: 'adopted', subjects: ['adopted.>'], max_msgs: 10 }),
        changes: [{ field: 'max_msgs', from: -1, to: 10 }], adopt: true, after: [] },
      { action: 'unchanged', name: 'adopted-same', adopt: true },
      { action: 'update', name: 'changed', config: declaredConfig({ name: 'changed', subjects: ['changed.>'], max_age: 12 * HOUR_NS }),
        changes: [{ field: 'max_age', from: 6 * HOUR_NS, to: 12 * HOUR_NS }], adopt: false, after: [] },
      { action: 'refused', name: 'memory', reasons: ['storage "file" -> "memory": JetStream cannot change the storage type of a stream'],
        changes: [{ field: 'storage', from: 'file', to: 'memory' }] },
      { action: 'create', name: 'new', config: declaredConfig({ name: 'new', subjects: ['new.>'] }) },
      { action: 'create', name: 'recreate', config: declaredConfig({ name: 'recreate', subjects: ['recreate.>'] }) },
      { action: 'delete', name: 'removed-delete' },
      { action: 'orphaned', name: 'removed-retain' },
      { action: 'unchanged', name: 'same', adopt: false },
      { action: 'refused', name: 'theirs', reasons: [NOT_MANAGED_REASON], changes: [] },
    ]);
  });

  test('refuses a declared stream that exists and is not ours, showing what adopting would change', () => {
    const plan = buildPlan(input({ declared: [declared({ max_msgs: 10 })], server: new Map([['orders', onServer()]]) }));
    expect(plan.items).toEqual([{
      action: 'refused',
      name: 'orders',
      reasons: ['exists on the server and is not managed by this store; set adopt to manage it'],
      changes: [{ field: 'max_msgs', from: -1, to: 10 }],
    }]);
  });

  test('adopting a stream is still subject to the refusal rules', () => {
    const plan = buildPlan(input({
      declared: [declared({ storage: 'memory' }, { adopt: true })],
      server: new Map([['orders', onServer()]]),
    }));
    expect(reasons(plan.items[0])).toEqual(['storage "file" -> "memory": JetStream cannot change the storage type of a stream']);
  });

  test('a renamed stream is a new stream plus an orphan; while the orphan holds its subjects, the new one is refused', () => {
    const renamed = (subjects: string[]) => buildPlan(input({
      declared: [declared({ name: 'orders-v2', subjects })],
      server: new Map([['orders', onServer()]]),
      managed: new Map([['orders', { retentionPolicy: 'Retain' }]]),
    }));
    expect(renamed(['orders-v2.>']).items.map((i) => [i.action, i.name])).toEqual([['orphaned', 'orders'], ['create', 'orders-v2']]);
    expect(renamed(['orders.>']).items.map((i) => [i.action, i.name])).toEqual([['orphaned', 'orders'], ['refused', 'orders-v2']]);
  });

  test('an update taking subjects another update gives up comes after it; one keeping its subjects waits for none', () => {
    const plan = buildPlan(input({
      declared: [declared({ name: 'a', subjects: ['a.>', 'c.>'] }), declared({ name: 'z', subjects: ['z.>'] }), declared({ name: 'm', subjects: ['m.>'], max_age: HOUR_NS })],
      server: new Map([['a', onServer({ name: 'a', subjects: ['a.>'] })], ['z', onServer({ name: 'z', subjects: ['z.>', 'c.*'] })], ['m', onServer({ name: 'm', subjects: ['m.>'] })]]),
      managed: new Map(['a', 'z', 'm'].map((name) => [name, { retentionPolicy: 'Retain' as const }])),
    }));
    expect(plan.items.map((i) => [i.name, i.action === 'update' && !isConsumerItem(i) ? i.after : i.action])).toEqual([['a', ['z']], ['m', []], ['z', []]]);
  });

  test('refuses updates that take subjects from each other, and one taking subjects from them; orders the others', () => {
    const subjects = (name: string, now: string[], wanted: string[]) => ({ name, now, wanted });
    const planOf = (...streams: Array<{ name: string; now: string[]; wanted: string[] }>) => buildPlan(input({
      declared: streams.map((s) => declared({ name: s.name, subjects: s.wanted })),
      server: new Map(streams.map((s) => [s.name, onServer({ name: s.name, subjects: s.now })])),
      managed: new Map(streams.map((s) => [s.name, { retentionPolicy: 'Retain' as const }])),
    }));
    const swap = planOf(subjects('a', ['x.a'], ['x.b']), subjects('b', ['x.b'], ['x.a']), subjects('m', ['m.>'], ['m.>', 'n.>']));
    expect(swap.items.map((i) => [i.name, i.action])).toEqual([['a', 'refused'], ['b', 'refused'], ['m', 'update']]);
    expect(reasons(swap.items[0])).toEqual(['it takes subjects from stream "b", which takes subjects from it: the server refuses either write while the other holds '
      + 'the subjects, and no order moves them without a moment when a subject has no stream. Move them in two deployments: '
      + 'first out of one of these streams (to none, or to a stream of their own), then into the other']);
    // Around a circle of three; and a fourth stream taking subjects one of them keeps.
    const circle = planOf(subjects('a', ['a.>'], ['b.>']), subjects('b', ['b.>'], ['c.>']), subjects('c', ['c.>', 'd.>'], ['a.>']), subjects('d', ['z.>'], ['d.>']));
    expect(circle.items.map((i) => [i.name, i.action])).toEqual([['a', 'refused'], ['b', 'refused'], ['c', 'refused'], ['d', 'refused']]);
    expect(reasons(circle.items[0])[0]).toMatch(/^it takes subjects from stream "b", which takes subjects from it through others: /);
    expect(reasons(circle.items[3])).toEqual(['subject "d.>" overlaps "d.>" of stream "c", which is refused in this run, so it keeps its subjects']);
  });

  test('leaves out a managed stream that is gone from both the app and the server', () => {
    const plan = buildPlan(input({ managed: new Map([['gone', { retentionPolicy: 'Delete' }]]) }));
    expect(plan.items).toEqual([]);
  });

  describe('server version', () => {
    test.each<[string, Partial<JetStreamStreamConfig>, string[]]>([
      ['metadata', { metadata: { team: 'shop' } }, ['field metadata needs NATS server 2.10.0; the server runs 2.9.10']],
      ['compression', { compression: 'none' }, ['field compression needs NATS server 2.10.0; the server runs 2.9.10']],
      ['first_seq', { first_seq: 5 }, ['field first_seq needs NATS server 2.10.0; the server runs 2.9.10']],
      ['all of them', { metadata: { a: 'b' }, compression: 's2', first_seq: 5 }, [
        'field metadata needs NATS server 2.10.0; the server runs 2.9.10',
        'field compression needs NATS server 2.10.0; the server runs 2.9.10',
        'field first_seq needs NATS server 2.10.0; the server runs 2.9.10',
      ]],
    ])('refuses to create a stream with %s on 2.9.10', (_, config, expected) => {
      const plan = buildPlan(input({ declared: [declared(config)], serverVersion: '2.9.10' }));
      expect(plan.items).toEqual([{ action: 'refused', name: 'orders', reasons: expected, changes: [] }]);
    });

    test('refuses to update a stream with a field newer than the server', () => {
      const item = planOne({ metadata: { team: 'shop' } }, {}, { serverVersion: '2.9.10' });
      expect(item).toEqual({
        action: 'refused',
        name: 'orders',
        reasons: ['field metadata needs NATS server 2.10.0; the server runs 2.9.10'],
        changes: [{ field: 'metadata', from: undefined, to: { team: 'shop' } }],
      });
    });

    test('refuses a source\'s subject transforms on 2.9.10, which would copy every message untransformed', () => {
      const sources = [{ name: 'a' }, { name: 'b', subject_transforms: [{ src: 'b.>', dest: 'x.>' }] }];
      const plan = buildPlan(input({ declared: [declared({ sources })], serverVersion: '2.9.10' }));
      expect(plan.items).toEqual([{
        action: 'refused', name: 'orders', changes: [],
        reasons: ['field sources[1].subject_transforms needs NATS server 2.10.0; the server runs 2.9.10'],
      }]);
    });

    test('refuses to create a sealed stream, which JetStream cannot do', () => {
      const plan = buildPlan(input({ declared: [declared({ sealed: true }, { allowSeal: true })] }));
      expect(plan.items).toEqual([{
        action: 'refused', name: 'orders', changes: [],
        reasons: ['sealed true: JetStream cannot create a sealed stream; create it unsealed, then seal it'],
      }]);
    });

    test('creates the same stream on 2.10.0', () => {
      const plan = buildPlan(input({ declared: [declared({ metadata: { team: 'shop' } })], serverVersion: '2.10.0' }));
      expect(plan.items.map((i) => i.action)).toEqual(['create']);
    });
  });

  describe('refusal rules', () => {
    test.each<[string, Partial<JetStreamStreamConfig>, Record<string, unknown>, { state?: StreamState; serverVersion?: string }, string[]]>([
      ['a storage change', { storage: 'memory' }, {}, {},
        ['storage "file" -> "memory": JetStream cannot change the storage type of a stream']],
      ['retention to workqueue', { retention: 'workqueue' }, {}, {},
        ['retention "limits" -> "workqueue": JetStream cannot change retention to or from workqueue']],
      ['retention from workqueue', {}, { retention: 'workqueue' }, {},
        ['retention "workqueue" -> "limits": JetStream cannot change retention to or from workqueue']],
      ['any retention change on 2.9', { retention: 'interest' }, {}, { serverVersion: '2.9.10' },
        ['retention "limits" -> "interest": NATS server 2.9.10 cannot change retention; 2.10.0 can']],
      ['unsealing', {}, { sealed: true }, {}, ['sealed true -> false: JetStream cannot unseal a sealed stream']],
      ['sealing without allowSeal', { sealed: true }, {}, {},
        ['sealed false -> true: sealing is for good (JetStream cannot unseal a stream); a definition seals only with allowSeal, which the Stream prop sealed writes']],
      ['adding a mirror to a stream', { mirror: { name: 'A' } } as Partial<JetStreamStreamConfig>, {}, {},
        ['mirror (unset) -> {"name":"A"}: JetStream cannot change the mirror of a stream']],
      ['turning deny_delete off', {}, { deny_delete: true }, {},
        ['deny_delete true -> false: JetStream cannot turn deny_delete off once set']],
      ['turning deny_purge off', {}, { deny_purge: true }, {},
        ['deny_purge true -> false: JetStream cannot turn deny_purge off once set']],
      ['changing the mirror', { mirror: { name: 'B' } } as Partial<JetStreamStreamConfig>, { mirror: { name: 'A' } }, {},
        ['mirror {"name":"A"} -> {"name":"B"}: JetStream cannot change the mirror of a stream']],
      ['removing the mirror before 2.12', {}, { mirror: { name: 'A' } }, {},
        ['mirror {"name":"A"} -> (unset): NATS server 2.10.24 cannot remove a mirror; 2.12.0 can']],
      ['a first sequence on an existing stream', { first_seq: 100 }, {}, {},
        ['first_seq (unset) -> 100: the first sequence only applies when a stream is created']],
      ['a max_consumers change before 2.12.5', { max_consumers: 10 }, {}, {},
        ['max_consumers unlimited -> 10: NATS server 2.10.24 cannot change max_consumers; 2.12.5 can']],
      ['consumer limits without max_ack_pending on a stream with consumers, where the server takes it for 0',
        {}, { consumer_limits: { max_ack_pending: 50 } }, { state: WITH_CONSUMERS },
        ['consumer_limits {"max_ack_pending":50} -> (unset): NATS server 2.10.24 checks the stream\'s 2 consumers against an unset max_ack_pending '
          + 'as a limit of 0 and refuses the change (2.12.12 and 2.14.3 take it for no limit): set consumerLimits.maxAckPending, '
          + 'at least the largest of the consumers\', or upgrade the server']],
      ['consumer limits of an inactive threshold alone on 2.14.2, where the server takes the unset max_ack_pending for 0',
        { consumer_limits: { inactive_threshold: HOUR_NS } }, {}, { state: WITH_CONSUMERS, serverVersion: '2.14.2' },
        [`consumer_limits (unset) -> {"inactive_threshold":${HOUR_NS}}: NATS server 2.14.2 checks the stream's 2 consumers against an unset `
          + 'max_ack_pending as a limit of 0 and refuses the change (2.12.12 and 2.14.3 take it for no limit): set consumerLimits.maxAckPending, '
          + 'at least the largest of the consumers\', or upgrade the server']],
      ['max_msgs below the stored messages', { max_msgs: 100 }, {}, { state: HOLDS_500 },
        ['max_msgs unlimited -> 100 would lose data: the stream holds 500 messages; set allowDataLoss to allow it']],
      ['max_bytes below the stored bytes', { max_bytes: 1024 * 1024 }, { max_bytes: GIB }, { state: HOLDS_500 },
        ['max_bytes 1GiB -> 1MiB would lose data: the stream holds 5MiB; set allowDataLoss to allow it']],
      ['a shorter max_age on a stream with messages', { max_age: HOUR_NS }, { max_age: 6 * HOUR_NS }, { state: HOLDS_500 },
        ['max_age 6h -> 1h would lose data: messages older than 1h would be removed and the stream holds 500 messages; set allowDataLoss to allow it']],
      ['a first max_age on a stream with messages', { max_age: HOUR_NS }, {}, { state: HOLDS_500 },
        ['max_age unlimited -> 1h would lose data: messages older than 1h would be removed and the stream holds 500 messages; set allowDataLoss to allow it']],
      ['a lower max_msgs_per_subject on a stream with messages', { max_msgs_per_subject: 5 }, { max_msgs_per_subject: 10 }, { state: HOLDS_500 },
        ['max_msgs_per_subject 10 -> 5 would lose data: subjects holding more than 5 messages would be trimmed and the stream holds 500 messages; set allowDataLoss to allow it']],
      ['retention to interest on a stream with messages', { retention: 'interest' }, {}, { state: HOLDS_500 },
        ['retention "limits" -> "interest" would lose data: messages no consumer is interested in would be removed and the stream holds 500 messages; set allowDataLoss to allow it']],
      ['every problem at once', { storage: 'memory', max_msgs: 100, deny_delete: false }, { deny_delete: true }, { state: HOLDS_500 }, [
        'deny_delete true -> false: JetStream cannot turn deny_delete off once set',
        'max_msgs unlimited -> 100 would lose data: the stream holds 500 messages; set allowDataLoss to allow it',
        'storage "file" -> "memory": JetStream cannot change the storage type of a stream',
      ]],
    ])('refuses %s', (_, desired, answer, options, expected) => {
      const item = planOne(desired, answer, options);
      expect(item.action).toBe('refused');
      expect(reasons(item)).toEqual(expected);
    });

    test.each<[string, Partial<JetStreamStreamConfig>, Record<string, unknown>, { state?: StreamState; serverVersion?: string; allowSeal?: boolean }]>([
      ['limits to interest on 2.10 when the stream is empty', { retention: 'interest' }, {}, {}],
      ['interest to limits on a stream with messages', { retention: 'limits' }, { retention: 'interest' }, { state: HOLDS_500 }],
      ['removing a mirror on 2.12', {}, { mirror: { name: 'A' } }, { serverVersion: '2.12.0' }],
      ['a max_consumers change on 2.12.5', { max_consumers: 10 }, {}, { serverVersion: '2.12.5' }],
      ['consumer limits removed on 2.12.12', {}, { consumer_limits: { max_ack_pending: 50 } }, { state: WITH_CONSUMERS, serverVersion: '2.12.12' }],
      ['consumer limits removed on 2.14.3', {}, { consumer_limits: { max_ack_pending: 50 } }, { state: WITH_CONSUMERS, serverVersion: '2.14.3' }],
      ['consumer limits removed from a stream without consumers', {}, { consumer_limits: { max_ack_pending: 50 } }, {}],
      ['consumer limits changed to another max_ack_pending', { consumer_limits: { max_ack_pending: 100 } }, { consumer_limits: { max_ack_pending: 50 } },
        { state: WITH_CONSUMERS }],
      ['sealing with allowSeal', { sealed: true }, {}, { allowSeal: true }],
      ['turning deny_delete on', { deny_delete: true }, {}, {}],
      ['max_msgs lowered but above the stored messages', { max_msgs: 1000 }, { max_msgs: 2000 }, { state: HOLDS_500 }],
      ['max_msgs lowered to exactly the stored messages', { max_msgs: 500 }, {}, { state: HOLDS_500 }],
      ['max_bytes lowered but above the stored bytes', { max_bytes: GIB }, {}, { state: HOLDS_500 }],
      ['max_age lowered on an empty stream', { max_age: HOUR_NS }, { max_age: 6 * HOUR_NS }, {}],
      ['max_age raised', { max_age: 12 * HOUR_NS }, { max_age: 6 * HOUR_NS }, { state: HOLDS_500 }],
      ['max_age removed', { max_age: 0 }, { max_age: 6 * HOUR_NS }, { state: HOLDS_500 }],
      ['max_msgs_per_subject lowered on an empty stream', { max_msgs_per_subject: 5 }, { max_msgs_per_subject: 10 }, {}],
      ['a limit removed', { max_msgs: -1 }, { max_msgs: 100 }, { state: HOLDS_500 }],
      ['a subject removed from a stream with messages', { subjects: ['orders.eu.>'] }, {}, { state: HOLDS_500 }],
      ['max_msg_size lowered', { max_msg_size: 1024 }, {}, { state: HOLDS_500 }],
      ['the discard policy', { discard: 'new' }, {}, { state: HOLDS_500 }],
    ])('updates %s', (_, desired, answer, options) => {
      expect(planOne(desired, answer, options).action).toBe('update');
    });

    test('applies data-loss changes when the definition allows data loss', () => {
      const item = planOne({ max_msgs: 100, max_age: HOUR_NS }, { max_age: 6 * HOUR_NS }, { state: HOLDS_500, allowDataLoss: true });
      expect(item).toMatchObject({ action: 'update', changes: [{ field: 'max_age' }, { field: 'max_msgs' }] });
    });

    test('still refuses what JetStream cannot change when data loss is allowed', () => {
      const item = planOne({ storage: 'memory', max_msgs: 100 }, {}, { state: HOLDS_500, allowDataLoss: true });
      expect(reasons(item)).toEqual(['storage "file" -> "memory": JetStream cannot change the storage type of a stream']);
    });
  });
});

describe('plan outcome', () => {
  const plan = (...actions: Array<PlanItem>): Plan => ({ items: actions });
  const create: PlanItem = { action: 'create', name: 'a', config: declaredConfig() };
  const update: PlanItem = { action: 'update', name: 'a', config: declaredConfig(), changes: [], adopt: false, after: [] };
  const unchanged: PlanItem = { action: 'unchanged', name: 'a', adopt: false };
  const adopted: PlanItem = { action: 'unchanged', name: 'a', adopt: true };
  const remove: PlanItem = { action: 'delete', name: 'a' };
  const orphaned: PlanItem = { action: 'orphaned', name: 'a' };
  const foreign: PlanItem = { action: 'foreign', name: 'a' };
  const refused: PlanItem = { action: 'refused', name: 'a', reasons: ['no'], changes: [] };

  test.each<[string, Plan, boolean, boolean, PlanExitCode]>([
    ['nothing', plan(), false, false, PlanExitCode.UP_TO_DATE],
    ['unchanged, orphaned and foreign streams', plan(unchanged, orphaned, foreign), false, false, PlanExitCode.UP_TO_DATE],
    ['a create', plan(unchanged, create), true, false, PlanExitCode.PENDING],
    ['an update', plan(update), true, false, PlanExitCode.PENDING],
    ['a delete', plan(remove), true, false, PlanExitCode.PENDING],
    ['an unchanged stream to adopt', plan(adopted), true, false, PlanExitCode.PENDING],
    ['a refusal', plan(refused), false, true, PlanExitCode.REFUSED],
    ['a refusal next to a create', plan(create, refused), true, true, PlanExitCode.REFUSED],
  ])('%s', (_, p, pending, refusals, exitCode) => {
    expect(pendingChanges(p)).toBe(pending);
    expect(hasRefusals(p)).toBe(refusals);
    expect(planExitCode(p)).toBe(exitCode);
  });
});

describe('subjects kept on the server', () => {
  test('a stream refused for an orphan\'s subjects keeps its own, so one taking them is refused too, not failed by the server', () => {
    const stream = (name: string, subjects: string[]) => declared({ name, subjects });
    const plan = buildPlan(input({
      declared: [stream('bb', ['c.>']), stream('aa', ['b.>'])],
      server: new Map([['o', onServer({ name: 'o', subjects: ['c.>'] })], ['bb', onServer({ name: 'bb', subjects: ['b.>'] })], ['aa', onServer({ name: 'aa', subjects: ['a.>'] })]]),
      managed: new Map(['o', 'bb', 'aa'].map((name) => [name, { retentionPolicy: 'Retain' as const }])),
    }));
    expect(plan.items.map((i) => [i.name, i.action])).toEqual([['aa', 'refused'], ['bb', 'refused'], ['o', 'orphaned']]);
    expect(reasons(plan.items[0])).toEqual(['subject "b.>" overlaps "b.>" of stream "bb", which is refused in this run, so it keeps its subjects']);
  });
});
