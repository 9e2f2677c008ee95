import type { JetStreamConsumerConfig } from '../consumer-definition';
import { compareVersions, consumerFieldsNewerThan } from '../versions';
import { DeclaredStream } from './definitions';
import { FieldChange, diffConsumerConfig, formatChange } from './diff';
import { NormalizedConsumerConfig } from './normalize';
import type { ManagedStream, PlanItem } from './plan';

/** A consumer's progress as the server's consumer info reports it: what a refused change keeps. */
export interface ConsumerState {
  /** Stream sequence of the last message delivered. */
  readonly delivered: number;
  /** Stream sequence below which every message is acknowledged. */
  readonly ackFloor: number;
  readonly numPending: number;
}

/** A consumer that exists on the server. */
export interface ServerConsumer {
  /** Its configuration, as {@link normalizeServerConsumerConfig} returns it. */
  readonly config: NormalizedConsumerConfig;
  readonly state: ConsumerState;
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
}

/** Everything the consumers' plan is made from. */
export interface ConsumerPlanInput {
  readonly declared: readonly DeclaredStream[];
  /** The consumers of the streams that declare or managed some, by stream, then by name; a stream absent here is not on the server. */
  readonly server: ReadonlyMap<string, ReadonlyMap<string, ServerConsumer>>;
  /** What the store manages, by ownership key: stream names, and `<stream>/<consumer>`. */
  readonly managed: ReadonlyMap<string, ManagedStream>;
  readonly serverVersion: string;
  readonly clustered: boolean;
  readonly repair: boolean;
}

/** The ownership key of a consumer: stream and consumer names cannot contain `/`. */
export function consumerKey(stream: string, consumer: string): string {
  return `${stream}/${consumer}`;
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

/**
 * Decides, for every consumer declared, or managed on a stream the server still has, what applying
 * would do. Consumers of a stream that is created are created; those of a stream refused or not on
 * the server wait for it. Consumers this store never managed are left alone and not listed. Pure.
 *
 * @param streamItems the streams' plan, for what happens to each consumer's stream
 */
export function planConsumers(input: ConsumerPlanInput, streamItems: readonly PlanItem[]): ConsumerItem[] {
  const streamAction = new Map(streamItems.map((item) => [item.name, item.action]));
  const items: ConsumerItem[] = [];
  const declaredKeys = new Set<string>();
  for (const stream of input.declared) {
    const name = stream.config.name;
    const onServer = input.server.get(name);
    for (const declared of stream.consumers) {
      const key = consumerKey(name, declared.config.durable_name);
      declaredKeys.add(key);
      items.push(planDeclaredConsumer(declared, name, key, onServer, streamAction.get(name), input));
    }
  }
  for (const [key, managed] of input.managed) {
    const slash = key.indexOf('/');
    if (slash < 0 || declaredKeys.has(key)) continue;
    const [stream, consumer] = [key.slice(0, slash), key.slice(slash + 1)];
    // Deleted with its stream, or gone: the record drops it.
    if (streamAction.get(stream) === 'delete' || !input.server.get(stream)?.has(consumer)) continue;
    const base = { kind: 'consumer' as const, name: key, stream, consumer, changes: [], reasons: [], adopt: false };
    if (managed.retentionPolicy === 'Retain') items.push({ ...base, action: 'orphaned' });
    else if (input.repair) items.push({ ...base, action: 'orphaned', keptBecause: 'a repair deletes nothing; the apply Job deletes it' });
    else items.push({ ...base, action: 'delete' });
  }
  return items;
}

function planDeclaredConsumer(
  declared: DeclaredStream['consumers'][number], stream: string, key: string, onServer: ReadonlyMap<string, ServerConsumer> | undefined,
  streamAction: PlanItem['action'] | undefined, input: ConsumerPlanInput,
): ConsumerItem {
  const { config } = declared;
  const base = { kind: 'consumer' as const, name: key, stream, consumer: config.durable_name };
  const current = onServer?.get(config.durable_name);
  const changes = current ? diffConsumerConfig(config, current.config) : [];
  const adopt = current !== undefined && !input.managed.has(key);
  const reasons = consumerFieldsNewerThan(config, input.serverVersion).map(({ field, needs }) => `field ${field} needs NATS server ${needs}; the server runs ${input.serverVersion}`);
  if (!input.clustered && config.num_replicas > 1) {
    reasons.push(`num_replicas ${config.num_replicas}: the server is a single server, not a cluster, and keeps 1 replica`);
  }
  if (onServer === undefined && streamAction !== 'create') {
    reasons.push(`its stream "${stream}" is ${streamAction === 'refused' ? 'refused in this run' : 'not on the server'}`);
  }
  if (current && adopt && !declared.adopt) reasons.push('exists on the stream and is not managed by this store; set adopt to manage it');
  else if (current) {
    for (const change of changes) {
      const fixed = FIXED_FIELDS[change.field];
      if (fixed !== undefined) reasons.push(`${formatChange(change)}: ${fixed}`);
      if (change.field === 'deliver_subject' && (change.from === undefined || change.to === undefined)) {
        reasons.push(`${formatChange(change)}: JetStream cannot turn a ${change.from === undefined ? 'pull' : 'push'} consumer into a ${change.from === undefined ? 'push' : 'pull'} consumer`);
      }
      if (change.field === 'filter_subjects' && compareVersions(input.serverVersion, '2.10.0') < 0) {
        reasons.push(`${formatChange(change)}: NATS server ${input.serverVersion} knows one filter subject only`);
      }
    }
  }
  if (reasons.length > 0) return { ...base, action: 'refused', changes, reasons, adopt: false };
  if (!current) return { ...base, action: 'create', config, changes: [], reasons: [], adopt: false };
  return changes.length === 0
    ? { ...base, action: 'unchanged', changes, reasons: [], adopt }
    : { ...base, action: 'update', config, changes, reasons: [], adopt };
}
