import { AckPolicy, ConsumerDefinition, ConsumerOptions, DeliverPolicy, JetStreamConsumerConfig, PriorityPolicy } from './consumer-options';
import { Problem, showValue } from './problems';
import { Retention, StreamDefinition } from './stream-definition';
import { checkSubject, streamNameProblem, subjectIsSubset, subjectsOverlap } from './subjects';
import { NANOSECONDS_PER_MS, formatDuration, formatNanoseconds } from './units';
import { NatsServerVersion, consumerFieldsNewerThan } from './versions';

const MIN_HEARTBEAT_MS = 100;
/** The server's pattern for a priority group name. */
const PRIORITY_GROUP = /^[a-zA-Z0-9/_=-]{1,16}$/;

/** Adds one problem: the prop, its value as people read it, and the rule it breaks. */
type AddProblem = (field: string, value: string, rule: string) => void;

/** Every rule one resolved consumer breaks, on its own and against its stream and release. */
export function consumerProblems(options: ConsumerOptions, def: ConsumerDefinition, stream: StreamDefinition, version: NatsServerVersion): Problem[] {
  const problems: Problem[] = [];
  const add: AddProblem = (field, value, rule) => problems.push({ field, value, rule });
  const { config } = def;
  const ofStream = `stream "${stream.name}"`;
  const nameProblem = streamNameProblem(def.name);
  if (nameProblem) add('name', showValue(def.name), nameProblem);

  startProblems(config, add);
  acknowledgementProblems(options, config, version, add);
  filterProblems(config, stream, version, add);
  streamBoundProblems(config, stream, add);
  if (config.deliver_subject !== undefined) pushProblems(options, config, stream, add);
  else pullProblems(options, config, add);

  for (const { field, needs } of consumerFieldsNewerThan(config, version.version)) {
    add(CONSUMER_PROPS[field] ?? field, showValue((config as unknown as Record<string, unknown>)[field]), `needs NATS server ${needs} or newer; ${ofStream} runs on ${version.version}`);
  }
  if (config.priority_policy === PriorityPolicy.PRIORITIZED && version.atLeast('2.11.0') && !version.atLeast('2.12.0')) {
    add('priorityPolicy', '"prioritized"', `needs NATS server 2.12.0 or newer; ${ofStream} runs on ${version.version}`);
  }
  return problems;
}


/** Where the consumer starts, and when it is paused: each policy with its time or sequence, and times as RFC 3339. */
function startProblems(config: JetStreamConsumerConfig, add: AddProblem): void {
  const policy = config.deliver_policy;
  if (config.opt_start_seq !== undefined && policy !== DeliverPolicy.BY_START_SEQUENCE) {
    add('startSequence', String(config.opt_start_seq), `needs deliverPolicy "${DeliverPolicy.BY_START_SEQUENCE}", not "${policy}"`);
  }
  if (policy === DeliverPolicy.BY_START_SEQUENCE && config.opt_start_seq === undefined) add('deliverPolicy', showValue(policy), 'needs startSequence');
  if (config.opt_start_time !== undefined) {
    if (!isRfc3339(config.opt_start_time)) add('startTime', showValue(config.opt_start_time), 'must be an RFC 3339 time such as "2026-01-01T00:00:00Z"');
    if (policy !== DeliverPolicy.BY_START_TIME) add('startTime', showValue(config.opt_start_time), `needs deliverPolicy "${DeliverPolicy.BY_START_TIME}", not "${policy}"`);
  }
  if (policy === DeliverPolicy.BY_START_TIME && config.opt_start_time === undefined) add('deliverPolicy', showValue(policy), 'needs startTime');
  if (policy === DeliverPolicy.LAST_PER_SUBJECT && config.filter_subject === undefined && config.filter_subjects === undefined) {
    add('deliverPolicy', showValue(policy), 'needs filterSubjects: the server delivers the last message of each subject they match');
  }
  if (config.pause_until !== undefined && !isRfc3339(config.pause_until)) {
    add('pauseUntil', showValue(config.pause_until), 'must be an RFC 3339 time such as "2026-01-01T00:00:00Z"');
  }
}

/** Acknowledgements: the ack wait, the pending limit and the backoff, by release. */
function acknowledgementProblems(options: ConsumerOptions, config: JetStreamConsumerConfig, version: NatsServerVersion, add: AddProblem): void {
  const acks = config.ack_policy !== AckPolicy.NONE;
  if (acks && options.ackWait !== undefined && config.ack_wait === undefined) {
    add('ackWait', showValue(options.ackWait), 'must be longer than 0: the server takes 0 for its default 30s');
  }
  if (!acks && options.ackWait !== undefined) add('ackWait', showValue(options.ackWait), 'needs acknowledgements: ackPolicy is "none"');
  if (!acks && options.maxAckPending !== undefined) add('maxAckPending', String(options.maxAckPending), 'needs acknowledgements: ackPolicy is "none"');
  if (config.backoff !== undefined) {
    if (!acks) add('backoff', formatList(config.backoff), 'needs acknowledgements: ackPolicy is "none"');
    if (options.ackWait !== undefined && config.ack_wait !== config.backoff[0]) {
      add('ackWait', formatNanoseconds(config.ack_wait ?? 0), `must be unset or the first backoff entry ${formatNanoseconds(config.backoff[0])}: the server sets it so`);
    }
    config.backoff.forEach((entry, i) => {
      if (entry <= 0) add(`backoff[${i}]`, formatNanoseconds(entry), 'must be longer than 0');
    });
    // 2.9 wants more deliveries than waits; 2.10 and newer at least as many.
    const count = config.backoff.length;
    if (config.max_deliver === -1 && !version.atLeast('2.10.0')) {
      add('backoff', formatList(config.backoff), `needs maxDeliver above its ${count} entries on NATS server ${version.version}`);
    } else if (config.max_deliver !== -1 && (version.atLeast('2.10.0') ? count > config.max_deliver : count >= config.max_deliver)) {
      add('backoff', formatList(config.backoff), `has ${count} entries, more than maxDeliver ${config.max_deliver} allows`);
    }
  }
}

/** Filter subjects: well-formed, within the stream's subjects and apart from each other, as each release requires. */
function filterProblems(config: JetStreamConsumerConfig, stream: StreamDefinition, version: NatsServerVersion, add: AddProblem): void {
  const ofStream = `stream "${stream.name}"`;
  const checkedFilters = consumerFilters(config);
  const fieldOf = (i: number) => `filterSubjects[${i}]`;
  // A mirror's or a transformed stream's stored subjects are not its declared ones: only the form is checked.
  // Before 2.12 the server refuses filters that share any subject; from 2.12 only one inside another.
  const filtersClash = (a: string, b: string) => (version.atLeast('2.12.0') ? subjectIsSubset(a, b) || subjectIsSubset(b, a) : subjectsOverlap(a, b));
  const ownSubjects = stream.mirror === undefined && stream.sources.length === 0 && stream.subjectTransform === undefined;
  checkedFilters.forEach((filter, i) => {
    const checked = checkSubject(filter);
    if ('problem' in checked) {
      add(fieldOf(i), showValue(filter), checked.problem);
      return;
    }
    // Before 2.10 the server wants each filter inside one of the stream's subjects; from 2.10 it takes any, and synth still refuses one that matches nothing.
    const inside = version.atLeast('2.10.0')
      ? stream.subjects.some((subject) => subjectsOverlap(filter, subject))
      : stream.subjects.some((subject) => subjectIsSubset(filter, subject));
    if (ownSubjects && !inside) {
      add(fieldOf(i), showValue(filter), version.atLeast('2.10.0')
        ? `matches none of the subjects of ${ofStream} (${stream.subjects.join(', ')})`
        : `is not inside one of the subjects of ${ofStream} (${stream.subjects.join(', ')}), which NATS server ${version.version} requires`);
    }
    checkedFilters.slice(0, i).forEach((other, j) => {
      if ('tokens' in checkSubject(other) && filtersClash(filter, other)) {
        add(fieldOf(i), showValue(filter), `overlaps filterSubjects[${j}] ${JSON.stringify(other)}: the server refuses overlapping filters`);
      }
    });
  });
}

/** What the stream bounds: replicas, its consumer limits, and on a work queue, acks and where to start. */
function streamBoundProblems(config: JetStreamConsumerConfig, stream: StreamDefinition, add: AddProblem): void {
  const ofStream = `stream "${stream.name}"`;
  const policy = config.deliver_policy;
  if (config.num_replicas > stream.replicas) {
    add('replicas', String(config.num_replicas), `exceeds the ${stream.replicas} replica(s) of ${ofStream}`);
  } else if (config.num_replicas !== 0 && config.num_replicas !== stream.replicas && stream.retention !== Retention.LIMITS) {
    add('replicas', String(config.num_replicas), `must be the ${stream.replicas} replica(s) of ${ofStream}, whose retention is "${stream.retention}"`);
  }
  const { inactiveThresholdMs, maxAckPending } = stream.consumerLimits;
  if (maxAckPending > 0 && (config.max_ack_pending === -1 || (config.max_ack_pending ?? 0) > maxAckPending)) {
    add('maxAckPending', String(config.max_ack_pending), `exceeds the consumer limit ${maxAckPending} of ${ofStream}`);
  }
  if (inactiveThresholdMs > 0 && (config.inactive_threshold ?? 0) > inactiveThresholdMs * NANOSECONDS_PER_MS) {
    add('inactiveThreshold', formatNanoseconds(config.inactive_threshold ?? 0), `exceeds the consumer limit ${formatDuration(inactiveThresholdMs)} of ${ofStream}`);
  }
  if (stream.retention === Retention.WORK_QUEUE) {
    if (config.ack_policy !== AckPolicy.EXPLICIT) add('ackPolicy', showValue(config.ack_policy), `must be "explicit": ${ofStream} is a work queue`);
    if (policy !== DeliverPolicy.ALL) add('deliverPolicy', showValue(policy), `must be "all": ${ofStream} is a work queue`);
  }
}

function pushProblems(options: ConsumerOptions, config: JetStreamConsumerConfig, stream: StreamDefinition, add: AddProblem): void {
  const subject = config.deliver_subject as string;
  const checked = checkSubject(subject);
  if ('problem' in checked) add('deliverSubject', showValue(subject), checked.problem);
  else if (checked.tokens.some((t) => t === '*' || t === '>')) add('deliverSubject', showValue(subject), 'must not have wildcards');
  else if (isReservedDeliverSubject(subject)) add('deliverSubject', showValue(subject), `is a subject the server reserves (${RESERVED_PREFIXES.join(' ')})`);
  else {
    const cycle = stream.subjects.find((s) => subjectsOverlap(s, subject));
    if (cycle !== undefined) add('deliverSubject', showValue(subject), `is captured by the stream's subject ${JSON.stringify(cycle)}: deliveries would be stored again`);
  }
  const pullOnly = 'is for pull consumers; deliverSubject makes this a push consumer';
  if (options.maxWaiting !== undefined) add('maxWaiting', String(options.maxWaiting), pullOnly);
  if (options.maxBatch !== undefined) add('maxBatch', String(options.maxBatch), pullOnly);
  if (options.maxExpires !== undefined) add('maxExpires', showValue(options.maxExpires), pullOnly);
  if (options.maxBytes !== undefined) add('maxBytes', showValue(options.maxBytes), pullOnly);
  if (options.priorityGroups !== undefined) add('priorityGroups', showValue(options.priorityGroups), pullOnly);
  if (options.priorityPolicy !== undefined) add('priorityPolicy', showValue(options.priorityPolicy), pullOnly);
  if (config.flow_control && config.idle_heartbeat === undefined) add('flowControl', 'true', 'needs idleHeartbeat');
  if (config.idle_heartbeat !== undefined && config.idle_heartbeat < MIN_HEARTBEAT_MS * NANOSECONDS_PER_MS) {
    add('idleHeartbeat', formatNanoseconds(config.idle_heartbeat), 'must be at least 100ms');
  }
}

function pullProblems(options: ConsumerOptions, config: JetStreamConsumerConfig, add: AddProblem): void {
  const pushOnly = 'is for push consumers: set deliverSubject';
  if (options.deliverGroup !== undefined) add('deliverGroup', showValue(options.deliverGroup), pushOnly);
  if (options.flowControl !== undefined) add('flowControl', String(options.flowControl), pushOnly);
  if (options.idleHeartbeat !== undefined) add('idleHeartbeat', showValue(options.idleHeartbeat), pushOnly);
  if (options.rateLimit !== undefined) add('rateLimit', String(options.rateLimit), pushOnly);
  if (config.max_expires !== undefined && config.max_expires < NANOSECONDS_PER_MS) add('maxExpires', formatNanoseconds(config.max_expires), 'must be 0 (none) or at least 1ms');
  const groups = config.priority_groups ?? [];
  groups.forEach((group, i) => {
    if (!PRIORITY_GROUP.test(group)) add(`priorityGroups[${i}]`, showValue(group), 'must be 1 to 16 letters, digits, "/", "_", "=" or "-"');
  });
  if (config.priority_policy !== undefined && groups.length === 0) add('priorityPolicy', showValue(config.priority_policy), 'needs priorityGroups');
  if (config.priority_policy === undefined && groups.length > 0) add('priorityGroups', showValue(groups), 'needs priorityPolicy');
  if (options.pinnedTtl !== undefined && config.priority_policy !== PriorityPolicy.PINNED_CLIENT) {
    add('pinnedTtl', showValue(options.pinnedTtl), `needs priorityPolicy "${PriorityPolicy.PINNED_CLIENT}"`);
  }
}

/** The prop of each API field the release table names, for its error. */
const CONSUMER_PROPS: Readonly<Record<string, string>> = {
  filter_subjects: 'filterSubjects', metadata: 'metadata', priority_groups: 'priorityGroups', priority_policy: 'priorityPolicy',
  priority_timeout: 'pinnedTtl', pause_until: 'pauseUntil',
};

/**
 * The rules between the consumers of one stream: how many it allows, and on a work queue, that
 * no two consumers take the same subject (the server gives each message to one consumer).
 */
export function streamConsumersProblems(stream: StreamDefinition, consumers: readonly ConsumerDefinition[]): Problem[] {
  const problems: Problem[] = [];
  if (stream.maxConsumers >= 0 && consumers.length > stream.maxConsumers) {
    problems.push({ field: 'maxConsumers', value: String(stream.maxConsumers), rule: `is fewer than the ${consumers.length} consumers declared on the stream` });
  }
  const seen = new Map<string, number>();
  consumers.forEach((consumer, i) => {
    const first = seen.get(consumer.name);
    if (first !== undefined) problems.push({ field: `consumers[${i}].name`, value: showValue(consumer.name), rule: `is also the name of consumers[${first}]` });
    else seen.set(consumer.name, i);
  });
  if (stream.retention !== Retention.WORK_QUEUE) return problems;
  consumers.forEach((consumer, i) => {
    consumers.slice(0, i).forEach((other, j) => {
      const mine = consumerFilters(consumer.config);
      if (sharedFilter(mine, consumerFilters(other.config)) !== undefined) {
        problems.push({
          field: `consumers[${i}].filterSubjects`, value: mine.length === 0 ? '(every subject)' : showValue(mine),
          rule: `overlaps the filters of consumer "${other.name}" (consumers[${j}]): a work queue gives each subject to one consumer`,
        });
      }
    });
  });
  return problems;
}

/** A consumer's filter subjects, from either field; none means every subject of its stream. */
export function consumerFilters(config: { readonly filter_subject?: unknown; readonly filter_subjects?: unknown }): string[] {
  const one = typeof config.filter_subject === 'string' && config.filter_subject !== '' ? [config.filter_subject] : [];
  const many = Array.isArray(config.filter_subjects) ? config.filter_subjects.filter((f): f is string => typeof f === 'string') : [];
  return [...one, ...many];
}

/**
 * The first of `mine` that shares a subject with `theirs`, as a work queue sees two consumers
 * (no filters is every subject); undefined when they share none. Malformed filters share nothing.
 */
export function sharedFilter(mine: readonly string[], theirs: readonly string[]): string | undefined {
  if (mine.length === 0) return '(every subject)';
  if (theirs.length === 0) return mine[0];
  const valid = (subject: string) => 'tokens' in checkSubject(subject);
  return mine.find((f) => valid(f) && theirs.some((t) => valid(t) && subjectsOverlap(f, t)));
}

/** Prefixes of the subjects the server answers or routes itself: never a place to deliver to. */
const RESERVED_PREFIXES = ['$JS.', '$JSC.', '$NRG.', '$SYS.', '$GR.', '$GNR.'];

function isReservedDeliverSubject(subject: string): boolean {
  return RESERVED_PREFIXES.some((prefix) => subject.startsWith(prefix));
}

function isRfc3339(text: string): boolean {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text) && !Number.isNaN(Date.parse(text));
}

function formatList(nanoseconds: readonly number[]): string {
  return `[${nanoseconds.map(formatNanoseconds).join(', ')}]`;
}
