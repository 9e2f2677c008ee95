import type { JetStreamStreamConfig } from '../stream-definition';
import { SubjectTree, checkSubject } from '../subjects';
import { formatBytes } from '../units';
import { compareVersions, fieldsNewerThan } from '../versions';
import { DeclaredStream } from './definitions';
import { FieldChange, diffStreamConfig, formatChange, formatFieldValue } from './diff';
import { NormalizedStreamConfig } from './normalize';
import { ConsumerItem, ServerConsumer, dataLossRemedy, planConsumers } from './consumer-plan';
import { ManagedEntry, removedFate } from './managed';
import { circleWording, takersBack } from './write-order';

/** A stream's content as the server's stream info reports it. */
export interface StreamState {
  readonly messages: number;
  readonly bytes: number;
  readonly first_seq: number;
  readonly last_seq: number;
  readonly num_subjects?: number;
  readonly consumer_count?: number;
  /** When the first and last stored messages were stored (RFC 3339); the zero time when the stream is empty. */
  readonly first_ts?: string;
  readonly last_ts?: string;
}

/** A stream that exists on the server. */
export interface ServerStream {
  /** Its configuration, as {@link normalizeServerConfig} returns it. */
  readonly config: NormalizedStreamConfig;
  readonly state: StreamState;
}

/** Everything a plan is made from; reading it from the server is the caller's job. */
export interface PlanInput {
  /** The streams the app declares. */
  readonly declared: readonly DeclaredStream[];
  /** The streams on the server, by name. */
  readonly server: ReadonlyMap<string, ServerStream>;
  /** What this store manages, from its ownership record: streams by name, consumers by `<stream>/<consumer>`. */
  readonly managed: ReadonlyMap<string, ManagedEntry>;
  /** The consumers of the streams that declare or managed some, by stream and name. */
  readonly consumers: ReadonlyMap<string, ReadonlyMap<string, ServerConsumer>>;
  /** The server's release, such as "2.9.10". */
  readonly serverVersion: string;
  /** False for a single server, which keeps streams of one replica only. */
  readonly clustered: boolean;
  /**
   * Plan a repair: only what is safe unattended. No stream is deleted (the apply Job deletes it),
   * and no change discards messages, whatever `allowDataLoss` says.
   */
  readonly repair?: boolean;
}

/** Create a declared stream the server lacks. */
export interface CreateItem {
  readonly action: 'create';
  readonly name: string;
  readonly config: JetStreamStreamConfig;
}

/**
 * Update a stream in place with the full declared configuration. `adopt` is true when the
 * stream was not ours and its definition asks to adopt it: applying it records it as managed.
 */
export interface UpdateItem {
  readonly action: 'update';
  readonly name: string;
  readonly config: JetStreamStreamConfig;
  readonly changes: FieldChange[];
  readonly adopt: boolean;
  /** Updates of other streams that give up subjects this one takes: they are written first. */
  readonly after: string[];
}

/** A stream already as declared: nothing is sent. `adopt` as for {@link UpdateItem}. */
export interface UnchangedItem {
  readonly action: 'unchanged';
  readonly name: string;
  readonly adopt: boolean;
}

/** A managed stream that left the app with retention policy `Delete`: delete it and its messages. */
export interface DeleteItem {
  readonly action: 'delete';
  readonly name: string;
}

/** A managed stream that left the app with retention policy `Retain`: kept, reported, still managed. */
export interface OrphanedItem {
  readonly action: 'orphaned';
  readonly name: string;
  /** Why it is kept, when not for its retention policy: a repair deletes nothing. */
  readonly keptBecause?: string;
}

/** A stream on the server that this store never managed and the app does not declare: left untouched. */
export interface ForeignItem {
  readonly action: 'foreign';
  readonly name: string;
}

/** A declared stream the program will not touch; `changes` is empty when the stream does not exist yet. */
export interface RefusedItem {
  readonly action: 'refused';
  readonly name: string;
  /** Every reason, each naming the field and values involved. */
  readonly reasons: string[];
  readonly changes: FieldChange[];
}

/** What the program does with one stream. */
export type StreamItem = CreateItem | UpdateItem | UnchangedItem | DeleteItem | OrphanedItem | ForeignItem | RefusedItem;

/** What the program does with one stream or consumer. */
export type PlanItem = StreamItem | ConsumerItem;

/** True for a consumer's item. */
export function isConsumerItem(item: PlanItem): item is ConsumerItem {
  return 'kind' in item && item.kind === 'consumer';
}

/** The program's decision for every stream and consumer involved, sorted by name (a consumer's is `<stream>/<consumer>`). */
export interface Plan {
  readonly items: PlanItem[];
}

/** Exit codes of a plan; 1 is left for errors such as an unreachable server. */
export enum PlanExitCode {
  /** The server matches the declarations. */
  UP_TO_DATE = 0,
  /** Applying would change the server or the ownership record. */
  PENDING = 2,
  /** Some declared streams cannot be applied. */
  REFUSED = 3,
}

/** The reason given for a declared stream that exists but is neither managed nor adopted. */
export const NOT_MANAGED_REASON = 'exists on the server and is not managed by this store; set adopt to manage it';

interface RuleContext {
  readonly change: FieldChange;
  readonly state: StreamState;
  readonly serverVersion: string;
  readonly allowSeal: boolean;
}

/**
 * A refusal rule: for a change of `field`, why it cannot be applied, or undefined when it can.
 * A `dataLoss` rule guards stored messages and is lifted by the definition's allowDataLoss;
 * the others are changes JetStream cannot make to an existing stream at all.
 */
interface RefusalRule {
  readonly field: string;
  readonly dataLoss: boolean;
  readonly check: (ctx: RuleContext) => string | undefined;
}

/** Every refusal rule, in the order reasons are reported for one change. */
const REFUSAL_RULES: readonly RefusalRule[] = [
  { field: 'storage', dataLoss: false, check: () => 'JetStream cannot change the storage type of a stream' },
  { field: 'retention', dataLoss: false, check: ({ change }) => (change.from === 'workqueue' || change.to === 'workqueue'
    ? 'JetStream cannot change retention to or from workqueue' : undefined) },
  { field: 'retention', dataLoss: false, check: ({ serverVersion }) => (olderThan(serverVersion, '2.10.0')
    ? `NATS server ${serverVersion} cannot change retention; 2.10.0 can` : undefined) },
  { field: 'retention', dataLoss: true, check: ({ change, state }) => (change.to === 'interest' && state.messages > 0
    ? `messages no consumer is interested in would be removed and the stream holds ${state.messages} messages` : undefined) },
  { field: 'sealed', dataLoss: false, check: ({ change }) => turnedOff(change, 'JetStream cannot unseal a sealed stream') },
  { field: 'sealed', dataLoss: false, check: ({ change, allowSeal }) => (change.to === true && !allowSeal
    ? 'sealing is for good (JetStream cannot unseal a stream); a definition seals only with allowSeal, which the Stream prop sealed writes' : undefined) },
  { field: 'deny_delete', dataLoss: false, check: ({ change }) => turnedOff(change, 'JetStream cannot turn deny_delete off once set') },
  { field: 'deny_purge', dataLoss: false, check: ({ change }) => turnedOff(change, 'JetStream cannot turn deny_purge off once set') },
  { field: 'allow_msg_ttl', dataLoss: false, check: ({ change }) => turnedOff(change, 'JetStream cannot turn allow_msg_ttl off once set') },
  { field: 'allow_msg_schedules', dataLoss: false, check: ({ change }) => turnedOff(change, 'JetStream cannot turn allow_msg_schedules off once set') },
  { field: 'allow_msg_counter', dataLoss: false, check: () => 'JetStream cannot turn a stream into a counter or a counter back into a stream' },
  { field: 'persist_mode', dataLoss: false, check: () => 'JetStream cannot change the persist mode of a stream' },
  { field: 'mirror', dataLoss: false, check: ({ change, serverVersion }) => {
    if (change.to !== undefined) return 'JetStream cannot change the mirror of a stream';
    // Removing the mirror promotes the stream to a normal one; servers before 2.12.0 refuse it.
    return olderThan(serverVersion, '2.12.0') ? `NATS server ${serverVersion} cannot remove a mirror; 2.12.0 can` : undefined;
  } },
  { field: 'first_seq', dataLoss: false, check: () => 'the first sequence only applies when a stream is created' },
  // nats-server pull request 7724 made it editable.
  { field: 'max_consumers', dataLoss: false, check: ({ serverVersion }) => (olderThan(serverVersion, '2.12.5')
    ? `NATS server ${serverVersion} cannot change max_consumers; 2.12.5 can` : undefined) },
  // nats-server pull request 8286 (2.12.12, 2.14.3): before, a change of consumer limits that leaves
  // max_ack_pending unset is checked as a limit of 0, which every consumer that acknowledges passes.
  { field: 'consumer_limits', dataLoss: false, check: ({ change, state, serverVersion }) => (takesUnsetLimitForZero(serverVersion)
    && (state.consumer_count ?? 0) > 0 && !(((change.to as { max_ack_pending?: number } | undefined)?.max_ack_pending ?? 0) > 0)
    ? `NATS server ${serverVersion} checks the stream's ${state.consumer_count} consumers against an unset max_ack_pending as a limit of 0 `
      + 'and refuses the change (2.12.12 and 2.14.3 take it for no limit): set consumerLimits.maxAckPending, at least the largest of '
      + 'the consumers\', or upgrade the server' : undefined) },
  { field: 'max_msgs', dataLoss: true, check: ({ change, state }) => (lowered(change, -1) && (change.to as number) < state.messages
    ? `the stream holds ${state.messages} messages` : undefined) },
  { field: 'max_bytes', dataLoss: true, check: ({ change, state }) => (lowered(change, -1) && (change.to as number) < state.bytes
    ? `the stream holds ${formatBytes(state.bytes)}` : undefined) },
  { field: 'max_age', dataLoss: true, check: ({ change, state }) => (lowered(change, 0) && state.messages > 0
    ? `messages older than ${formatFieldValue('max_age', change.to)} would be removed and the stream holds ${state.messages} messages` : undefined) },
  { field: 'max_msgs_per_subject', dataLoss: true, check: ({ change, state }) => (lowered(change, -1) && state.messages > 0
    ? `subjects holding more than ${change.to} messages would be trimmed and the stream holds ${state.messages} messages` : undefined) },
];

/**
 * Decides, for every stream declared, on the server or managed, what applying would do.
 * Pure: the caller reads the server and the ownership record, and applies the plan.
 *
 * A managed stream that is neither declared nor on the server any more gets no item: there is
 * nothing to do, and the ownership record written after the apply simply no longer lists it.
 */
export function buildPlan(input: PlanInput): Plan {
  const declaredNames = new Set(input.declared.map((d) => d.config.name));
  const items: StreamItem[] = input.declared.map((declared) => planDeclared(declared, input));
  for (const name of input.server.keys()) {
    if (declaredNames.has(name)) continue;
    const managed = input.managed.get(name);
    items.push(managed ? { ...removedFate(managed, input.repair ?? false), name } : { action: 'foreign', name });
  }
  // Who takes subjects from whom, once: refusals only drop writes, whose names the write order then ignores.
  const givers = subjectGivers(items, input.server);
  const streams = orderSubjectMoves(refuseKeptSubjects(refuseSubjectCycles(items, givers), input.server), givers);
  const consumers = planConsumers({ ...input, streams: input.server, server: input.consumers, repair: input.repair ?? false }, streams);
  return { items: [...streams, ...consumers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
}

/** What stays on the server as it is after the apply, and why, for the reason of a refusal. */
const KEPT_AS: Partial<Record<PlanItem['action'], string>> = {
  orphaned: 'orphaned: it left the app with retentionPolicy Retain, so it is kept. Delete it, or declare it again with retentionPolicy DELETE and then remove it',
  foreign: 'foreign: it is not managed by this store. Delete it, or declare it with adopt and other subjects',
  refused: 'refused in this run, so it keeps its subjects',
};

/**
 * Creates and subject-changing updates whose subjects overlap those of a stream that keeps its own
 * on the server (an orphan, a foreign stream, a refused one): the server would refuse the write on
 * every run, so the plan refuses it, saying which stream holds the subject and what to do. A stream
 * refused so keeps its subjects too, so this repeats until no more are refused.
 */
function refuseKeptSubjects(items: StreamItem[], server: ReadonlyMap<string, ServerStream>): StreamItem[] {
  // The subjects of the writes, checked once; the server refuses an invalid one with its own words.
  const taking = new Map(items.filter((item) => takesSubjects(item, server)).map((item) => [item.name, validSubjects((item as CreateItem | UpdateItem).config.subjects)]));
  let current = items;
  // Bounded: each pass that goes on refuses at least one more of the finitely many items.
  for (; ;) {
    // One tree of what stays on the server, so each write's subjects are one lookup, not one per kept stream.
    const kept = new SubjectTree<{ readonly name: string; readonly why: string }>();
    for (const item of current) {
      const why = KEPT_AS[item.action];
      if (why === undefined) continue;
      for (const [subject, tokens] of validSubjects(serverSubjects(server, item.name))) kept.insert(subject, { name: item.name, why }, tokens);
    }
    let refused = 0;
    const next = current.map((item): StreamItem => {
      const subjects = item.action === 'create' || item.action === 'update' ? taking.get(item.name) : undefined;
      if (subjects === undefined) return item;
      const reasons: string[] = [];
      const named = new Set<string>();
      for (const [subject, tokens] of subjects) {
        for (const clash of kept.matching(subject, tokens)) {
          if (clash.owner.name === item.name || named.has(clash.owner.name)) continue;
          named.add(clash.owner.name);
          reasons.push(`subject ${JSON.stringify(subject)} overlaps ${JSON.stringify(clash.subject)} of stream ${JSON.stringify(clash.owner.name)}, which is ${clash.owner.why}`);
        }
      }
      if (reasons.length === 0) return item;
      refused++;
      return { action: 'refused', name: item.name, reasons, changes: item.action === 'update' ? item.changes : [] };
    });
    if (refused === 0) return current;
    current = next;
  }
}

/** The valid subjects of a list, with their tokens. */
function validSubjects(subjects: readonly string[]): Array<[string, readonly string[]]> {
  return subjects.flatMap((subject): Array<[string, readonly string[]]> => {
    const checked = checkSubject(subject);
    return 'tokens' in checked ? [[subject, checked.tokens]] : [];
  });
}

/**
 * For each update that changes its subjects, the other updates that give up subjects it takes:
 * the streams it must come after.
 */
function subjectGivers(items: readonly StreamItem[], server: ReadonlyMap<string, ServerStream>): Map<string, string[]> {
  // The subjects the updated streams hold now, in one tree, as refuseKeptSubjects looks them up.
  const held = new SubjectTree<string>();
  for (const item of items) {
    if (item.action !== 'update') continue;
    for (const [subject, tokens] of validSubjects(serverSubjects(server, item.name))) held.insert(subject, item.name, tokens);
  }
  const givers = new Map<string, string[]>();
  for (const item of items) {
    if (item.action !== 'update' || !takesSubjects(item, server)) continue;
    const from = new Set(validSubjects(item.config.subjects).flatMap(([subject, tokens]) => held.matching(subject, tokens).map((m) => m.owner)));
    from.delete(item.name);
    if (from.size > 0) givers.set(item.name, [...from]);
  }
  return givers;
}

/**
 * Updates that take subjects from each other, directly (a swap) or around a circle: whichever is
 * written first, the server refuses it while the other holds the subjects, on every run, and moving
 * them in steps would leave a subject with no stream for a while, where what is published is lost.
 * The plan refuses them, saying what to do.
 */
function refuseSubjectCycles(items: StreamItem[], givers: ReadonlyMap<string, readonly string[]>): StreamItem[] {
  return items.map((item) => {
    const circle = takersBack(givers, item.name);
    if (item.action !== 'update' || circle.length === 0) return item;
    return {
      action: 'refused', name: item.name, changes: item.changes,
      reasons: [`it takes subjects from ${circle.map((name) => `stream ${JSON.stringify(name)}`).join(' and ')}, which takes subjects from it`
        + `${circleWording(givers, item.name, circle)}: the server refuses either write while the other `
        + 'holds the subjects, and no order moves them without a moment when a subject has no stream. Move them in two deployments: '
        + 'first out of one of these streams (to none, or to a stream of their own), then into the other'],
    };
  });
}

/**
 * Orders updates that move subjects between streams: an update taking a subject another update
 * gives up runs after it, so one run converges (the server refuses overlapping subjects).
 */
function orderSubjectMoves(items: StreamItem[], givers: ReadonlyMap<string, readonly string[]>): StreamItem[] {
  const position = new Map(items.map((item, i) => [item.name, i]));
  return items.map((item) => {
    const from = givers.get(item.name);
    if (item.action !== 'update' || from === undefined) return item;
    // In plan order; updateWaves reads it as a set.
    return { ...item, after: [...from].sort((a, b) => (position.get(a) ?? 0) - (position.get(b) ?? 0)) };
  });
}

/** A create, or an update that changes the stream's subjects: a write that may take subjects the server gives another stream. */
function takesSubjects(item: StreamItem, server: ReadonlyMap<string, ServerStream>): item is CreateItem | UpdateItem {
  if (item.action === 'create') return true;
  return item.action === 'update' && item.changes.some((c) => c.field === 'subjects') && server.has(item.name);
}

function serverSubjects(server: ReadonlyMap<string, ServerStream>, name: string): readonly string[] {
  const subjects = server.get(name)?.config.subjects;
  return Array.isArray(subjects) ? subjects : [];
}


function planDeclared(declared: DeclaredStream, input: PlanInput): StreamItem {
  const { config } = declared;
  const name = config.name;
  const current = input.server.get(name);
  const changes = current ? diffStreamConfig(config, current.config) : [];
  const adopt = current !== undefined && !input.managed.has(name);
  const reasons = [...versionProblems(config, input.serverVersion), ...replicaProblems(config, input.clustered)];
  if (current && adopt && !declared.adopt) reasons.push(NOT_MANAGED_REASON);
  else if (current) reasons.push(...updateProblems(changes, current.state, declared, input.serverVersion, input.repair ?? false));
  else if (config.sealed) reasons.push('sealed true: JetStream cannot create a sealed stream; create it unsealed, then seal it');
  if (reasons.length > 0) return { action: 'refused', name, reasons, changes };
  if (!current) return { action: 'create', name, config };
  return changes.length === 0
    ? { action: 'unchanged', name, adopt }
    : { action: 'update', name, config, changes, adopt, after: [] };
}

/**
 * A single server refuses to create a stream of more than one replica, but takes an update to more
 * and then loses the stream at its next restart ("replicas > 1 not supported in non-clustered mode").
 */
function replicaProblems(config: JetStreamStreamConfig, clustered: boolean): string[] {
  if (clustered || config.num_replicas <= 1) return [];
  return [`num_replicas ${config.num_replicas}: the server is a single server, not a cluster, and keeps 1 replica; `
    + 'a single server would take the change and lose the stream at its next restart'];
}

/** Fields the server is too old to know would be dropped silently: refuse instead. */
function versionProblems(config: JetStreamStreamConfig, serverVersion: string): string[] {
  return fieldsNewerThan(config, serverVersion).map(({ field, needs }) => `field ${field} needs NATS server ${needs}; the server runs ${serverVersion}`);
}

function updateProblems(changes: FieldChange[], state: StreamState, declared: DeclaredStream, serverVersion: string, repair: boolean): string[] {
  const reasons: string[] = [];
  const remedy = dataLossRemedy(repair);
  for (const change of changes) {
    for (const rule of REFUSAL_RULES) {
      if (rule.field !== change.field || (rule.dataLoss && declared.allowDataLoss && !repair)) continue;
      const why = rule.check({ change, state, serverVersion, allowSeal: declared.allowSeal });
      if (why === undefined) continue;
      reasons.push(rule.dataLoss
        ? `${formatChange(change)} would lose data: ${why}; ${remedy}`
        : `${formatChange(change)}: ${why}`);
    }
  }
  return reasons;
}

function olderThan(version: string, required: string): boolean {
  return compareVersions(version, required) < 0;
}

/** The releases without nats-server pull request 8286: before 2.12.12, and 2.14.0 to 2.14.2. */
function takesUnsetLimitForZero(version: string): boolean {
  return olderThan(version, '2.12.12') || (!olderThan(version, '2.14.0') && olderThan(version, '2.14.3'));
}

function turnedOff(change: FieldChange, why: string): string | undefined {
  return change.from === true && change.to !== true ? why : undefined;
}

/** True when a limit becomes stricter: from `unlimited` to a value, or to a smaller value. */
function lowered(change: FieldChange, unlimited: number): boolean {
  const { from, to } = change;
  if (typeof to !== 'number' || to === unlimited) return false;
  return from === unlimited || (typeof from === 'number' && to < from);
}

/** True when applying would change the server or the ownership record. */
export function pendingChanges(plan: Plan): boolean {
  return plan.items.some((item) => item.action === 'create' || item.action === 'update' || item.action === 'delete'
    || (item.action === 'unchanged' && item.adopt));
}

/** True when some declared stream cannot be applied. */
export function hasRefusals(plan: Plan): boolean {
  return plan.items.some((item) => item.action === 'refused');
}

/** The exit code of a dry run: refusals first, then pending changes. */
export function planExitCode(plan: Plan): PlanExitCode {
  if (hasRefusals(plan)) return PlanExitCode.REFUSED;
  return pendingChanges(plan) ? PlanExitCode.PENDING : PlanExitCode.UP_TO_DATE;
}
