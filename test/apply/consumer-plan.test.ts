import { ConsumerItem, ConsumerPlanInput, ServerConsumer, StreamOnServer, planConsumers } from '../../src/apply/consumer-plan';
import { DeclaredConsumer, DeclaredStream } from '../../src/apply/definitions';
import type { FieldChange } from '../../src/apply/diff';
import { ManagedEntry } from '../../src/apply/managed';
import { normalizeServerConsumerConfig } from '../../src/apply/normalize';
import type { JetStreamConsumerConfig } from '../../src/consumer-options';
import { declaredConfig, declaredConsumerConfig } from './fixtures';

function consumer(name: string, config: Partial<JetStreamConsumerConfig> = {}, switches: Partial<DeclaredConsumer> = {}): DeclaredConsumer {
  return { retentionPolicy: 'Retain', adopt: false, ...switches, config: declaredConsumerConfig({ durable_name: name, ...config }) };
}

function stream(name: string, consumers: DeclaredConsumer[], allowDataLoss = false): DeclaredStream {
  return { config: declaredConfig({ name, subjects: [`${name}.>`] }), retentionPolicy: 'Retain', allowDataLoss, adopt: false, allowSeal: false, consumers };
}

const onServer = (config: Partial<JetStreamConsumerConfig> = {}, name = 'c'): ServerConsumer => ({
  config: normalizeServerConsumerConfig({ ...declaredConsumerConfig({ durable_name: name, ...config }) }),
});
const streamOnServer = (config: Record<string, unknown> = {}, messages = 0): StreamOnServer => ({ config: { retention: 'limits', max_consumers: -1, ...config }, state: { messages } });

function plan(parts: Partial<ConsumerPlanInput>, streamItems: Array<{ name: string; action: string }>): Array<[string, string, string[]]> {
  const input: ConsumerPlanInput = {
    declared: [], streams: new Map(), server: new Map(), managed: new Map(), serverVersion: '2.15.3', clustered: false, repair: false, ...parts,
  };
  return planConsumers(input, streamItems).map((item: ConsumerItem) => [item.name, item.action, item.reasons]);
}

describe('planConsumers', () => {
  test('creates the consumers of a stream created in the same run', () => {
    expect(plan({ declared: [stream('S', [consumer('a')])] }, [{ name: 'S', action: 'create' }])).toEqual([['S/a', 'create', []]]);
  });

  test('refuses the consumers of a stream the store does not manage, even when it exists; applies those of a managed stream refused a change of its own', () => {
    const declared = [stream('S', [consumer('a')])];
    const streams = new Map([['S', streamOnServer()]]);
    const server = new Map([['S', new Map()]]);
    expect(plan({ declared, streams, server }, [{ name: 'S', action: 'refused' }]))
      .toEqual([['S/a', 'refused', ['its stream "S" is not managed by this store (refused in this run)']]]);
    expect(plan({ declared, streams, server, managed: new Map([['S', { retentionPolicy: 'Retain' }]]) }, [{ name: 'S', action: 'refused' }]))
      .toEqual([['S/a', 'create', []]]);
    expect(plan({ declared }, [{ name: 'S', action: 'refused' }])).toEqual([['S/a', 'refused', ['its stream "S" is not on the server (refused in this run)']]]);
  });

  test('refuses what JetStream cannot change, and takes a pause as an update', () => {
    const declared = [stream('S', [consumer('c', { deliver_policy: 'new', pause_until: '2030-01-01T00:00:00Z' })])];
    const base = { declared, streams: new Map([['S', streamOnServer()]]), managed: new Map([['S', { retentionPolicy: 'Retain' as const }], ['S/c', { retentionPolicy: 'Retain' as const }]]) };
    expect(plan({ ...base, server: new Map([['S', new Map([['c', onServer()]])]]) }, [{ name: 'S', action: 'unchanged' }]))
      .toEqual([['S/c', 'refused', ['deliver_policy "all" -> "new": JetStream cannot change the deliver policy of a consumer']]]);
    const paused = [stream('S', [consumer('c', { pause_until: '2030-01-01T00:00:00Z' })])];
    expect(plan({ ...base, declared: paused, server: new Map([['S', new Map([['c', onServer()]])]]) }, [{ name: 'S', action: 'unchanged' }]))
      .toEqual([['S/c', 'update', []]]);
  });

  test('on a work queue, refuses a create whose filters overlap a consumer that stays there; one that does not overlap is created', () => {
    const streams = new Map([['Q', streamOnServer({ retention: 'workqueue' })]]);
    const server = new Map([['Q', new Map([['old', onServer({ filter_subject: 'Q.eu.>' }, 'old')]])]]);
    const managed = new Map([['Q', { retentionPolicy: 'Retain' as const }], ['Q/old', { retentionPolicy: 'Retain' as const }]]);
    const items = [{ name: 'Q', action: 'unchanged' }];
    expect(plan({ declared: [stream('Q', [consumer('new')])], streams, server, managed }, items)).toEqual([
      ['Q/old', 'orphaned', []],
      ['Q/new', 'refused', ['its filters overlap those of consumer "old", which stays on the work-queue stream (orphaned or foreign): '
        + 'a work queue gives each subject to one consumer; delete that consumer first']],
    ]);
    expect(plan({ declared: [stream('Q', [consumer('us', { filter_subject: 'Q.us.>' })])], streams, server, managed }, items))
      .toEqual([['Q/old', 'orphaned', []], ['Q/us', 'create', []]]);
    // Deleted in the same run, it no longer stays.
    const deleting = new Map<string, ManagedEntry>([...managed, ['Q/old', { retentionPolicy: 'Delete' }]]);
    expect(plan({ declared: [stream('Q', [consumer('new')])], streams, server, managed: deleting }, items)).toEqual([['Q/old', 'delete', []], ['Q/new', 'create', []]]);
  });

  test('refuses creates past the stream\'s max consumers, counting the consumers that stay', () => {
    const streams = new Map([['S', streamOnServer({ max_consumers: 1 })]]);
    const server = new Map([['S', new Map([['theirs', onServer({}, 'theirs')]])]]);
    expect(plan({ declared: [stream('S', [consumer('mine')])], streams, server, managed: new Map([['S', { retentionPolicy: 'Retain' }]]) }, [{ name: 'S', action: 'unchanged' }]))
      .toEqual([['S/mine', 'refused', ['the stream allows 1 consumers and would have 2: 1 declared and 1 kept on it (orphaned or foreign)']]]);
  });

  test('deletes a consumer that left the app by its policy, but not from an interest stream holding messages unless the stream allows data loss', () => {
    const managed = new Map([['S', { retentionPolicy: 'Retain' as const }], ['S/gone', { retentionPolicy: 'Delete' as const }]]);
    const server = new Map([['S', new Map([['gone', onServer({}, 'gone')]])]]);
    const items = [{ name: 'S', action: 'unchanged' }];
    expect(plan({ declared: [stream('S', [])], streams: new Map([['S', streamOnServer()]]), server, managed }, items)).toEqual([['S/gone', 'delete', []]]);
    const interest = new Map([['S', streamOnServer({ retention: 'interest' }, 7)]]);
    expect(plan({ declared: [stream('S', [])], streams: interest, server, managed }, items)).toEqual([['S/gone', 'refused', [
      'deleting it would lose data: the interest stream "S" holds 7 messages, and those only this consumer was interested in would be removed; set allowDataLoss on the stream to allow it',
    ]]]);
    expect(plan({ declared: [stream('S', [], true)], streams: interest, server, managed }, items)).toEqual([['S/gone', 'delete', []]]);
    expect(plan({ declared: [stream('S', [])], streams: interest, server, managed, repair: true }, items)).toEqual([['S/gone', 'orphaned', []]]);
    // Its stream deleted: the consumer goes with it, no item.
    expect(plan({ streams: new Map([['S', streamOnServer()]]), server, managed }, [{ name: 'S', action: 'delete' }])).toEqual([]);
  });

  test('on an interest stream holding messages, refuses filters that leave out subjects they took, unless the stream allows data loss; never in a repair', () => {
    const managed = new Map([['S', { retentionPolicy: 'Retain' as const }], ['S/c', { retentionPolicy: 'Retain' as const }]]);
    const items = [{ name: 'S', action: 'unchanged' }];
    const run = (from: Partial<JetStreamConsumerConfig>, to: Partial<JetStreamConsumerConfig>, options: { retention?: string; messages?: number; allowDataLoss?: boolean; repair?: boolean } = {}) => plan({
      declared: [stream('S', [consumer('c', to)], options.allowDataLoss)],
      streams: new Map([['S', streamOnServer({ retention: options.retention ?? 'interest' }, options.messages ?? 5)]]),
      server: new Map([['S', new Map([['c', onServer(from)]])]]), managed, repair: options.repair ?? false,
    }, items);
    const lost = (filters: string, remedy: string) => [['S/c', 'refused', [`its filters would no longer take ${filters}, which would lose data: the interest stream "S" holds 5 messages, `
      + `and those only this consumer was interested in would be removed; ${remedy}`]]];
    const allow = 'set allowDataLoss on the stream to allow it';
    expect(run({ filter_subject: 'S.a' }, { filter_subject: 'S.b' })).toEqual(lost('"S.a"', allow));
    // No filter is every subject: any filter narrows it.
    expect(run({}, { filter_subjects: ['S.a', 'S.b'] })).toEqual(lost('">"', allow));
    expect(run({ filter_subjects: ['S.a', 'S.b.*'] }, { filter_subjects: ['S.b.x'] })).toEqual(lost('"S.a", "S.b.*"', allow));
    // Wider or the same subjects, an empty stream, another retention, or allowDataLoss: updated.
    expect(run({ filter_subject: 'S.a' }, { filter_subject: 'S.*' })).toEqual([['S/c', 'update', []]]);
    expect(run({ filter_subjects: ['S.a', 'S.b'] }, {})).toEqual([['S/c', 'update', []]]);
    expect(run({ filter_subject: 'S.a' }, { filter_subject: 'S.b' }, { messages: 0 })).toEqual([['S/c', 'update', []]]);
    expect(run({ filter_subject: 'S.a' }, { filter_subject: 'S.b' }, { retention: 'limits' })).toEqual([['S/c', 'update', []]]);
    expect(run({ filter_subject: 'S.a' }, { filter_subject: 'S.b' }, { allowDataLoss: true })).toEqual([['S/c', 'update', []]]);
    expect(run({ filter_subject: 'S.a' }, { filter_subject: 'S.b' }, { allowDataLoss: true, repair: true }))
      .toEqual(lost('"S.a"', 'a repair never discards messages: the apply Job applies it as allowDataLoss allows'));
  });

  test('on a work queue, writes an update taking filters another gives up after it; refuses updates taking from each other, and one taking from those', () => {
    const queue = (now: Record<string, string[]>, wanted: Record<string, string[]>) => {
      const names = Object.keys(now);
      return planConsumers({
        declared: [stream('S', names.map((name) => consumer(name, { filter_subjects: wanted[name] })))],
        streams: new Map([['S', streamOnServer({ retention: 'workqueue' })]]),
        server: new Map([['S', new Map(names.map((name) => [name, onServer({ filter_subjects: now[name] }, name)]))]]),
        managed: new Map([['S', { retentionPolicy: 'Retain' as const }], ...names.map((name) => [`S/${name}`, { retentionPolicy: 'Retain' as const }] as const)]),
        serverVersion: '2.15.3', clustered: false, repair: false,
      }, [{ name: 'S', action: 'unchanged' }]).map((item) => [item.name, item.action, item.after ?? item.reasons]);
    };
    expect(queue({ a: ['S.c'], b: ['S.a', 'S.b'] }, { a: ['S.b', 'S.c'], b: ['S.a'] })).toEqual([['S/a', 'update', ['S/b']], ['S/b', 'update', []]]);
    expect(queue({ a: ['S.a'], b: ['S.b', 'S.x'], c: ['S.c'] }, { a: ['S.b'], b: ['S.a'], c: ['S.c', 'S.x'] })).toEqual([
      ['S/a', 'refused', ['its filters take subjects from consumer "b", whose new filters take subjects from it: a work queue gives each subject to one consumer, '
        + 'so the server refuses either update while the other holds the subjects. Move them in two deployments: first out of one of these consumers, then into the other']],
      ['S/b', 'refused', [expect.stringMatching(/^its filters take subjects from consumer "a", whose new filters take subjects from it: /)]],
      ['S/c', 'refused', ['its filters take subjects that consumer "b" keeps, refused in this run']],
    ]);
    // A consumer refused a change of its own keeps its filters: an update or a create taking them is refused too.
    const refusedKeeps = planConsumers({
      declared: [stream('S', [
        consumer('a', { filter_subjects: ['S.c'], deliver_policy: 'new' }), consumer('b', { filter_subjects: ['S.a'] }), consumer('c', { filter_subjects: ['S.a.>', 'S.a'] }),
      ])],
      streams: new Map([['S', streamOnServer({ retention: 'workqueue' })]]),
      server: new Map([['S', new Map([['a', onServer({ filter_subjects: ['S.a'] }, 'a')], ['b', onServer({ filter_subjects: ['S.b'] }, 'b')]])]]),
      managed: new Map([['S', { retentionPolicy: 'Retain' as const }], ['S/a', { retentionPolicy: 'Retain' as const }], ['S/b', { retentionPolicy: 'Retain' as const }]]),
      serverVersion: '2.15.3', clustered: false, repair: false,
    }, [{ name: 'S', action: 'unchanged' }]).map((item) => [item.name, item.action, item.reasons]);
    expect(refusedKeeps).toEqual([
      ['S/a', 'refused', ['deliver_policy "all" -> "new": JetStream cannot change the deliver policy of a consumer']],
      ['S/b', 'refused', ['its filters take subjects that consumer "a" keeps, refused in this run']],
      ['S/c', 'refused', ['its filters take subjects that consumer "a" keeps, refused in this run']],
    ]);
  });

  test('an update that only lowers its limits goes before its stream when the stream\'s consumer limits change', () => {
    const limits: FieldChange = { field: 'consumer_limits', from: undefined, to: { max_ack_pending: 100 } };
    const run = (to: Partial<JetStreamConsumerConfig>, streamChanges: FieldChange[] = [limits]) => planConsumers({
      declared: [stream('S', [consumer('c', to)])],
      streams: new Map([['S', streamOnServer()]]),
      server: new Map([['S', new Map([['c', onServer({ max_ack_pending: 1000 })]])]]),
      managed: new Map([['S', { retentionPolicy: 'Retain' as const }], ['S/c', { retentionPolicy: 'Retain' as const }]]),
      serverVersion: '2.15.3', clustered: false, repair: false,
    }, [{ name: 'S', action: 'update', changes: streamChanges }]).map((item) => [item.action, item.beforeStream ?? false]);
    expect(run({ max_ack_pending: 100 })).toEqual([['update', true]]);
    // Raised, lowered with another change, or on a stream whose consumer limits stay: after the stream, as every consumer.
    expect(run({ max_ack_pending: 2000 })).toEqual([['update', false]]);
    expect(run({ max_ack_pending: 100, description: 'lower' })).toEqual([['update', false]]);
    expect(run({ max_ack_pending: 100 }, [{ field: 'max_age', from: 0, to: 1 }])).toEqual([['update', false]]);
  });

  test('refuses a consumer the store did not create unless it adopts it, and more replicas than a single server keeps', () => {
    const base = { streams: new Map([['S', streamOnServer()]]), server: new Map([['S', new Map([['c', onServer()]])]]), managed: new Map([['S', { retentionPolicy: 'Retain' as const }]]) };
    const items = [{ name: 'S', action: 'unchanged' }];
    expect(plan({ ...base, declared: [stream('S', [consumer('c')])] }, items))
      .toEqual([['S/c', 'refused', ['exists on the stream and is not managed by this store; set adopt to manage it']]]);
    expect(plan({ ...base, declared: [stream('S', [consumer('c', {}, { adopt: true })])] }, items)).toEqual([['S/c', 'unchanged', []]]);
    expect(plan({ ...base, declared: [stream('S', [consumer('d', { num_replicas: 3 })])] }, items))
      .toEqual([['S/d', 'refused', ['num_replicas 3: the server is a single server, not a cluster, and keeps 1 replica']]]);
  });
});
