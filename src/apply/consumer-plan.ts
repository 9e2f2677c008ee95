import type { JetStreamConsumerConfig } from '../consumer-options';
import { consumerFilters, sharedFilter } from '../consumer-rules';
import { subjectIsSubset } from '../subjects';
import { consumerFieldsNewerThan } from '../versions';
import { circleWording, takersBack } from './write-order';
import { DeclaredConsumer, DeclaredStream } from './definitions';
import { FieldChange, diffConsumerConfig, formatChange } from './diff';
import { ManagedEntry, consumerKey, consumerOfKey, removedFate } from './managed';
import { NormalizedConsumerConfig } from './normalize';

/** A consumer that exists on the server: its configuration, as {@link normalizeServerConsumerConfig} returns it. */
export interface ServerConsumer {
  readonly config: NormalizedConsumerConfig;
}

/** What the consumers' plan reads of a stream on the server. */
export interface StreamOnServer {
  readonly config: Readonly<Record<string, unknown>>;
  readonly state: { readonly messages: number };
}

/** What the program does with one consumer; `name` is `<stream>/<consumer>`, the key of its ownership. */
export interface ConsumerItem {
  readonly kind: 'consumer';
  readonly action: 'create' | 'update' | 'unchanged' | 'delete' | 'orphaned' | 'refused';
  readonly name: string;
  readonly stream: string;
  readonly consumer: string;
  /** What is sent, for a create or an update. */
  readonly config?: JetStreamConsumerConfig;
  readonly changes: FieldChange[];
  /** Why it is refused. */
  readonly reasons: string[];
  /** True when the consumer was not ours and its definition adopts it. */
  readonly adopt: boolean;
  /** Why an orphan is kept, when not for its retention policy. */
  readonly keptBecause?: string;
  /** For an update on a work queue: the updates of the stream's consumers that give up filters it takes; they are written first. */
  readonly after?: readonly string[];
  /**
   * For an update that only lowers its own limits while its stream's consumer limits change: it is
   * written before the stream, which the server would refuse new limits below what the consumer has.
   */
  readonly beforeStream?: boolean;
}

/** Everything the consumers' plan is made from. */
export interface ConsumerPlanInput {
  readonly declared: readonly DeclaredStream[];
  /** The streams on the server, by name. */
  readonly streams: ReadonlyMap<string, StreamOnServer>;
  /** The consumers of the streams that declare or managed some, by stream, then by name. */
  readonly server: ReadonlyMap<string, ReadonlyMap<string, ServerConsumer>>;
  /** What the store manages, by ownership key (see `managed.ts`). */
  readonly managed: ReadonlyMap<string, ManagedEntry>;
  readonly serverVersion: string;
  readonly clustered: boolean;
  readonly repair: boolean;
}

/** Changes JetStream cannot make to an existing consumer, by field, and why. */
const FIXED_FIELDS: Readonly<Record<string, string>> = {
  deliver_policy: 'JetStream cannot change the deliver policy of a consumer',
  opt_start_seq: 'JetStream cannot change the start sequence of a consumer',
  opt_start_time: 'JetStream cannot change the start time of a consumer',
  ack_policy: 'JetStream cannot change the ack policy of a consumer',
  replay_policy: 'JetStream cannot change the replay policy of a consumer',
  idle_heartbeat: 'JetStream cannot change the heartbeat of a consumer',
  flow_control: 'JetStream cannot change the flow control of a consumer',
  max_waiting: 'JetStream cannot change max_waiting of a consumer',
  // From 2.14 the server refuses it; before, it takes the change and keeps the storage it has.
  mem_storage: 'JetStream cannot change the storage of a consumer',
};

/** Stream actions under which the stream is this store's after the run, so its consumers may be written. */
const OURS: ReadonlySet<string> = new Set(['create', 'update', 'unchanged']);

/**
 * Decides, for every consumer declared, or managed on a stream the server still has, what applying
 * would do. Pure.
 *
 * - A consumer is written only on a stream that is the store's after the run: created, updated,
 *   unchanged, or managed and refused a change of its own. Others' consumers wait, refused.
 * - Consumers the store never created are left alone and not listed; one declared is refused unless adopted.
 * - On a work-queue stream a create (or filter change) whose filters overlap a consumer that stays
 *   (orphaned, foreign) is refused, as the server would refuse it; so are creates past the stream's
 *   max_consumers counting the consumers that stay.
 * - A managed consumer that left the app is deleted by its policy, but not on an interest stream
 *   holding messages (they may be only its) unless the stream allows data loss.
 * - On an interest stream holding messages, a filter change that leaves out subjects the consumer
 *   took is refused unless the stream allows data loss, and always in a repair: the server removes
 *   the messages no consumer is interested in any more.
 * - On a work queue, an update whose filters take subjects another update gives up is written after
 *   it; updates that take from each other are refused, and so is one taking from a refused one.
 * - An update that only lowers max_ack_pending or inactive_threshold goes before its stream when the
 *   stream's consumer limits change, so limits lowered on both apply in one run.
 *
 * @param streamItems the streams' plan, for what happens to each consumer's stream
 */
export function planConsumers(
  input: ConsumerPlanInput, streamItems: ReadonlyArray<{ readonly name: string; readonly action: string; readonly changes?: readonly FieldChange[] }>,
): ConsumerItem[] {
  const streamAction = new Map(streamItems.map((item) => [item.name, item.action]));
  const limitsChange = new Set(streamItems.filter((item) => item.action === 'update' && item.changes?.some((c) => c.field === 'consumer_limits')).map((item) => item.name));
  const declaredKeys = new Set(input.declared.flatMap((s) => s.consumers.map((c) => consumerKey(s.config.name, c.config.durable_name))));
  const removed = removedConsumers(input, declaredKeys, streamAction);
  const items: ConsumerItem[] = [...removed];
  const deleted = new Set(removed.filter((item) => item.action === 'delete').map((item) => item.name));
  for (const stream of input.declared) {
    const name = stream.config.name;
    const current = input.server.get(name);
    // The consumers that stay on the stream without a declaration: orphaned and foreign ones.
    const staying = [...(current ?? new Map<string, ServerConsumer>())]
      .filter(([consumer]) => !declaredKeys.has(consumerKey(name, consumer)) && !deleted.has(consumerKey(name, consumer)));
    const onServer = input.streams.get(name);
    const limit = maxConsumersProblem(onServer, staying.length, stream.consumers.length);
    const planned = stream.consumers.map((declared) => beforeStreamLimits(withInterestRule(
      withStreamRules(planDeclaredConsumer(declared, name, streamAction.get(name), input), onServer, staying, limit),
      onServer, current?.get(declared.config.durable_name), stream.allowDataLoss, input.repair,
    ), limitsChange.has(name)));
    items.push(...(onServer?.config.retention === 'workqueue' ? orderFilterMoves(planned, current) : planned));
  }
  return items;
}

/** Managed consumers that left the app, on streams that stay on the server: deleted, orphaned or kept by the interest rule. */
function removedConsumers(input: ConsumerPlanInput, declaredKeys: ReadonlySet<string>, streamAction: ReadonlyMap<string, string>): ConsumerItem[] {
  const items: ConsumerItem[] = [];
  const allowsDataLoss = new Set(input.declared.filter((s) => s.allowDataLoss).map((s) => s.config.name));
  for (const [key, managed] of input.managed) {
    const parts = consumerOfKey(key);
    if (parts === undefined || declaredKeys.has(key)) continue;
    const { stream, consumer } = parts;
    // Deleted with its stream, or gone: the record drops it.
    if (streamAction.get(stream) === 'delete' || !input.server.get(stream)?.has(consumer)) continue;
    const base = { kind: 'consumer' as const, name: key, stream, consumer, changes: [], reasons: [], adopt: false };
    const onServer = input.streams.get(stream);
    const fate = removedFate(managed, input.repair);
    if (fate.action === 'delete' && onServer?.config.retention === 'interest' && onServer.state.messages > 0 && !allowsDataLoss.has(stream)) {
      items.push({ ...base, action: 'refused', reasons: [`deleting it would lose data: ${onlyItsMessages(stream, onServer)}; ${dataLossRemedy(false, ' on the stream')}`] });
    } else items.push({ ...base, ...fate });
  }
  return items;
}

function planDeclaredConsumer(declared: DeclaredConsumer, stream: string, streamAction: string | undefined, input: ConsumerPlanInput): ConsumerItem {
  const { config } = declared;
  const key = consumerKey(stream, config.durable_name);
  const base = { kind: 'consumer' as const, name: key, stream, consumer: config.durable_name };
  const onServer = input.server.get(stream);
  const current = onServer?.get(config.durable_name);
  const changes = current ? diffConsumerConfig(config, current.config) : [];
  const adopt = current !== undefined && !input.managed.has(key);
  const reasons = consumerFieldsNewerThan(config, input.serverVersion).map(({ field, needs }) => `field ${field} needs NATS server ${needs}; the server runs ${input.serverVersion}`);
  if (!input.clustered && config.num_replicas > 1) {
    reasons.push(`num_replicas ${config.num_replicas}: the server is a single server, not a cluster, and keeps 1 replica`);
  }
  const streamIsOurs = streamAction !== undefined && (OURS.has(streamAction) || (streamAction === 'refused' && input.streams.has(stream) && input.managed.has(stream)));
  if (!streamIsOurs) {
    reasons.push(`its stream "${stream}" is ${!input.streams.has(stream) ? 'not on the server' : 'not managed by this store'}${streamAction === 'refused' ? ' (refused in this run)' : ''}`);
  } else if (current && adopt && !declared.adopt) {
    reasons.push('exists on the stream and is not managed by this store; set adopt to manage it');
  } else if (current) {
    for (const change of changes) {
      const fixed = FIXED_FIELDS[change.field];
      if (fixed !== undefined) reasons.push(`${formatChange(change)}: ${fixed}`);
      if (change.field === 'deliver_subject' && (change.from === undefined || change.to === undefined)) {
        reasons.push(`${formatChange(change)}: JetStream cannot turn a ${change.from === undefined ? 'pull' : 'push'} consumer into a ${change.from === undefined ? 'push' : 'pull'} consumer`);
      }
    }
  }
  if (reasons.length > 0) return { ...base, action: 'refused', changes, reasons, adopt: false };
  if (!current) return { ...base, action: 'create', config, changes: [], reasons: [], adopt: false };
  return changes.length === 0
    ? { ...base, action: 'unchanged', changes, reasons: [], adopt }
    : { ...base, action: 'update', config, changes, reasons: [], adopt };
}

/** Why creates on `stream` would pass its max_consumers, counting the consumers that stay; undefined when they fit. */
function maxConsumersProblem(stream: StreamOnServer | undefined, staying: number, declared: number): string | undefined {
  const max = stream?.config.max_consumers;
  if (typeof max !== 'number' || max <= 0 || staying + declared <= max) return undefined;
  return `the stream allows ${max} consumers and would have ${staying + declared}: ${declared} declared and ${staying} kept on it (orphaned or foreign)`;
}

/**
 * A create or filter change refused by the rules of its stream on the server: its max consumers,
 * and on a work queue, filters that overlap those of a consumer that stays (which the server refuses).
 */
function withStreamRules(item: ConsumerItem, stream: StreamOnServer | undefined, staying: ReadonlyArray<[string, ServerConsumer]>, limit: string | undefined): ConsumerItem {
  const filtersChange = item.action === 'update' && item.changes.some((c) => c.field === 'filter_subject' || c.field === 'filter_subjects');
  if (item.action !== 'create' && !filtersChange) return item;
  const reasons: string[] = item.action === 'create' && limit !== undefined ? [limit] : [];
  if (stream?.config.retention === 'workqueue' && item.config !== undefined) {
    const mine = consumerFilters(item.config);
    for (const [name, other] of staying) {
      if (sharedFilter(mine, consumerFilters(other.config)) !== undefined) {
        reasons.push(`its filters overlap those of consumer "${name}", which stays on the work-queue stream (orphaned or foreign): `
          + 'a work queue gives each subject to one consumer; delete that consumer first');
      }
    }
  }
  return reasons.length === 0 ? item : { ...item, action: 'refused', reasons, config: undefined };
}

/**
 * A filter change refused on an interest stream holding messages when the new filters leave out
 * subjects the old ones took: the server then removes the messages no consumer is interested in
 * any more, which may be only this one's. Whether another consumer still takes them is not
 * weighed: the refusal errs on the side of the messages. The stream's allowDataLoss lifts it,
 * except in a repair.
 */
function withInterestRule(item: ConsumerItem, stream: StreamOnServer | undefined, current: ServerConsumer | undefined, allowDataLoss: boolean, repair: boolean): ConsumerItem {
  if (item.action !== 'update' || item.config === undefined || current === undefined || (allowDataLoss && !repair)) return item;
  if (stream?.config.retention !== 'interest' || stream.state.messages === 0) return item;
  const left = filtersLeftOut(consumerFilters(current.config), consumerFilters(item.config));
  if (left.length === 0) return item;
  return {
    ...item, action: 'refused', config: undefined,
    reasons: [`its filters would no longer take ${left.map((f) => JSON.stringify(f)).join(', ')}, which would lose data: `
      + `${onlyItsMessages(item.stream, stream)}; ${dataLossRemedy(repair, ' on the stream')}`],
  };
}

/** The filters of `before` that no filter of `after` covers; no filters is every subject. */
function filtersLeftOut(before: readonly string[], after: readonly string[]): string[] {
  const orEverything = (filters: readonly string[]) => (filters.length === 0 ? ['>'] : filters);
  return orEverything(before).filter((old) => !orEverything(after).some((filter) => subjectIsSubset(old, filter)));
}

function onlyItsMessages(stream: string, onServer: StreamOnServer): string {
  return `the interest stream "${stream}" holds ${onServer.state.messages} messages, and those only this consumer was interested in would be removed`;
}

/** What lifts a refusal that guards stored messages: allowDataLoss (set `on` what), which a repair ignores. */
export function dataLossRemedy(repair: boolean, on = ''): string {
  return repair ? 'a repair never discards messages: the apply Job applies it as allowDataLoss allows' : `set allowDataLoss${on} to allow it`;
}

/**
 * The writes of one work-queue stream's consumers, ordered: a work queue gives each subject to one
 * consumer, so the server refuses new filters that another consumer still holds. An update taking
 * filters another update gives up comes after it. Updates that take from each other, directly or
 * around a circle, cannot be ordered and are refused; so is a create or update taking filters that a
 * consumer refused in this run keeps (repeated until none is refused more): the server would refuse
 * them on every run.
 */
function orderFilterMoves(items: ConsumerItem[], current: ReadonlyMap<string, ServerConsumer> | undefined): ConsumerItem[] {
  const writes = (list: readonly ConsumerItem[]) => list.filter((item) => (item.action === 'update' || item.action === 'create') && item.config !== undefined);
  // For each write, the stream's other declared consumers whose filters on the server it takes;
  // for each update, those of them that are updates too, which it comes after.
  const holders = new Map<string, ConsumerItem[]>();
  const givers = new Map<string, string[]>();
  for (const item of writes(items)) {
    const wanted = consumerFilters(item.config as JetStreamConsumerConfig);
    const from = items.filter((other) => {
      const held = current?.get(other.consumer);
      return other !== item && held !== undefined && sharedFilter(wanted, consumerFilters(held.config)) !== undefined;
    });
    if (from.length > 0) holders.set(item.name, from);
    const updates = from.filter((other) => other.action === 'update').map((other) => other.name);
    if (item.action === 'update' && updates.length > 0) givers.set(item.name, updates);
  }
  let ordered = items.map((item): ConsumerItem => {
    const from = givers.get(item.name);
    if (from === undefined) return item;
    const circle = takersBack(givers, item.name);
    if (circle.length === 0) return { ...item, after: from };
    return {
      ...item, action: 'refused', config: undefined,
      reasons: [`its filters take subjects from ${consumersNamed(circle)}, whose new filters take subjects from it`
        + `${circleWording(givers, item.name, circle)}: a work queue gives each subject to one consumer, so the server refuses either `
        + 'update while the other holds the subjects. Move them in two deployments: first out of one of these consumers, then into the other'],
    };
  });
  // Bounded: each pass that goes on refuses one more of the finitely many writes.
  for (; ;) {
    const refused = new Set(ordered.filter((item) => item.action === 'refused').map((item) => item.name));
    const kept = (item: ConsumerItem) => (holders.get(item.name) ?? []).map((other) => other.name).filter((name) => refused.has(name));
    const taking = writes(ordered).find((item) => kept(item).length > 0);
    if (taking === undefined) return ordered;
    ordered = ordered.map((item) => (item !== taking ? item : {
      ...item, action: 'refused', config: undefined, after: undefined,
      reasons: [`its filters take subjects that ${consumersNamed(kept(item))} keeps, refused in this run`],
    }));
  }
}

/** Consumers by their ownership keys, named as a reason names them: `consumer "c1" and consumer "c2"`. */
function consumersNamed(keys: readonly string[]): string {
  return keys.map((key) => `consumer ${JSON.stringify(consumerOfKey(key)?.consumer ?? key)}`).join(' and ');
}

/** The limits a stream's consumer_limits bound: lowering them on a consumer never needs the stream's change first. */
const STREAM_BOUNDED_FIELDS: ReadonlySet<string> = new Set(['max_ack_pending', 'inactive_threshold']);

/** Marks an update that only lowers stream-bounded limits, on a stream whose consumer limits change, to go before the stream. */
function beforeStreamLimits(item: ConsumerItem, streamLimitsChange: boolean): ConsumerItem {
  if (!streamLimitsChange || item.action !== 'update') return item;
  const lowersOnly = item.changes.every((c) => STREAM_BOUNDED_FIELDS.has(c.field) && typeof c.from === 'number' && typeof c.to === 'number' && c.to > 0 && c.to < c.from);
  return lowersOnly ? { ...item, beforeStream: true } : item;
}
