import { Problem, showValue } from './problems';
import { ResolvedLimits, StorageType, StreamDefinition, UNLIMITED } from './stream-definition';
import { SubjectTree, checkSubject, checkSubjects, subjectsOverlap } from './subjects';
import { formatBytes, formatBytesReadable, formatBytesReadablePair, formatDuration } from './units';
import { NatsServerVersion } from './versions';

/** A stream as the store's cross-stream rules see it. */
export interface HostedStream {
  /** Construct path, to tell two streams of the same name apart. */
  readonly path: string;
  readonly definition: StreamDefinition;
  /** The streams of the app it mirrors or sources from. */
  readonly origins?: readonly HostedOrigin[];
}

/** A stream of the app that a hosted stream mirrors or sources from. */
export interface HostedOrigin {
  /** `mirror` or `sources[i]`. */
  readonly field: string;
  readonly path: string;
  readonly definition: StreamDefinition;
  /** The name of the store that hosts it, when that is another store. */
  readonly store?: string;
}

/** Storage the streams of a store share. */
export interface StoreCapacity {
  /** Servers in the store; each stream replica lives on one of them. */
  readonly replicas: number;
  readonly maxFileStoreBytes: number;
  readonly maxMemoryStoreBytes: number;
}

/** How many streams a capacity message names before it summarizes the rest. */
const LISTED_STREAMS = 10;
/** How many subject overlaps are reported: n streams on one wildcard make n^2/2 of them. */
const LISTED_OVERLAPS = 100;

/** Two streams of one store with the same name: the server would keep only one. */
export function duplicateNameProblems(streams: readonly HostedStream[]): Problem[] {
  const firstByName = new Map<string, HostedStream>();
  const problems: Problem[] = [];
  for (const stream of streams) {
    const first = firstByName.get(stream.definition.name);
    if (first) {
      problems.push({
        field: 'name',
        value: JSON.stringify(stream.definition.name),
        rule: `is used by both ${first.path} and ${stream.path}: stream names must be unique on a store`,
      });
    } else {
      firstByName.set(stream.definition.name, stream);
    }
  }
  return problems;
}

/**
 * Subjects that two streams of one store both capture; JetStream refuses the second
 * stream at runtime. Uses a subject tree, so the cost grows with the number of subjects
 * and the overlaps found, not with the number of pairs.
 */
export function overlapProblems(streams: readonly HostedStream[]): Problem[] {
  const tree = new SubjectTree<{ stream: HostedStream; index: number }>();
  for (const stream of streams) {
    // Checked when the stream checked its own subjects: checkSubjects remembers the list.
    const checked = checkSubjects(stream.definition.subjects);
    stream.definition.subjects.forEach((subject, index) => {
      const c = checked[index];
      // A malformed subject is reported by its stream; it cannot be placed in the tree.
      if ('tokens' in c) tree.insert(subject, { stream, index }, c.tokens);
    });
  }
  const problems: Problem[] = [];
  for (const { a, b } of tree.overlaps()) {
    // A subject a stream lists twice is its own problem, reported with the stream.
    if (a.owner.stream === b.owner.stream && a.subject === b.subject) continue;
    if (problems.length === LISTED_OVERLAPS) {
      problems.push({
        field: 'subjects',
        value: `(${streams.length} streams)`,
        rule: `overlap in more than ${LISTED_OVERLAPS} places; the first ${LISTED_OVERLAPS} are listed: fix those and synthesize again`,
      });
      break;
    }
    problems.push({
      field: `stream "${a.owner.stream.definition.name}" subjects[${a.owner.index}]`,
      value: JSON.stringify(a.subject),
      rule: a.owner.stream === b.owner.stream
        ? `overlaps its own subjects[${b.owner.index}] ${JSON.stringify(b.subject)}`
        : `overlaps stream "${b.owner.stream.definition.name}" subjects[${b.owner.index}] ${JSON.stringify(b.subject)} (${b.owner.stream.path}): JetStream refuses overlapping subjects on one server`,
    });
  }
  return problems;
}

/**
 * Streams whose reserved bytes (max bytes times replicas) add up to more than the store
 * holds across its servers, and single streams larger than one server's store: the server
 * would refuse them.
 */
export function capacityProblems(streams: readonly HostedStream[], capacity: StoreCapacity): Problem[] {
  return [
    ...oversizedStreamProblems(streams, StorageType.FILE, capacity.maxFileStoreBytes, 'maxFileStore'),
    storageProblem(streams, StorageType.FILE, capacity.maxFileStoreBytes, capacity.replicas, 'maxFileStore'),
    ...oversizedStreamProblems(streams, StorageType.MEMORY, capacity.maxMemoryStoreBytes, 'maxMemoryStore'),
    storageProblem(streams, StorageType.MEMORY, capacity.maxMemoryStoreBytes, capacity.replicas, 'maxMemoryStore'),
  ].filter((p): p is Problem => p !== undefined);
}

/** Each replica of a stream lives whole on one server, so no stream may reserve more than one server holds. */
function oversizedStreamProblems(streams: readonly HostedStream[], storage: StorageType, perServer: number, field: string): Problem[] {
  return streams
    .filter((s) => s.definition.storage === storage && s.definition.maxBytes > perServer)
    .map((s) => {
      const [maxBytes, limit] = formatBytesReadablePair(s.definition.maxBytes, perServer);
      return {
        field: `stream "${s.definition.name}" maxBytes`,
        value: maxBytes,
        rule: `exceeds ${field} ${limit}: each replica of a stream is stored whole on one server`,
      };
    });
}

function storageProblem(
  streams: readonly HostedStream[], storage: StorageType, perServer: number, servers: number, field: string,
): Problem | undefined {
  const reserving = streams
    .filter((s) => s.definition.storage === storage && s.definition.maxBytes > 0)
    .map((s) => ({ name: s.definition.name, bytes: s.definition.maxBytes, replicas: s.definition.replicas }));
  const needed = reserving.reduce((sum, s) => sum + s.bytes * s.replicas, 0);
  const available = perServer * servers;
  if (needed <= available) return undefined;
  const largest = [...reserving]
    .sort((x, y) => y.bytes * y.replicas - x.bytes * x.replicas || (x.name < y.name ? -1 : 1))
    .slice(0, LISTED_STREAMS)
    .map((s) => `"${s.name}" ${formatBytes(s.bytes)} x${s.replicas}`);
  const more = reserving.length > LISTED_STREAMS ? ` and ${reserving.length - LISTED_STREAMS} more` : '';
  // The sums in units a person reads; exact where rounding would make them look alike, the per-server size with them.
  const [reserved, total] = formatBytesReadablePair(needed, available);
  const each = total === formatBytesReadable(available) ? formatBytesReadable(perServer) : formatBytes(perServer);
  return {
    field,
    value: `${each} x${servers} server(s) = ${total}`,
    rule: `is too small: the ${storage} streams reserve ${reserved} (maxBytes x replicas: ${largest.join(', ')}${more})`,
  };
}

/**
 * Every rule between the streams of one store: unique names, no overlapping subjects, the
 * capacity when it is known, and the stream count limit.
 */
export function hostedStreamProblems(
  hosted: readonly HostedStream[], maxStreams: number | undefined, capacity: StoreCapacity | undefined, version: NatsServerVersion,
): Problem[] {
  const problems = [
    ...duplicateNameProblems(hosted),
    ...overlapProblems(hosted),
    ...originProblems(hosted, version),
    ...cycleProblems(hosted, version),
    ...(capacity ? capacityProblems(hosted, capacity) : []),
  ];
  if (maxStreams !== undefined && hosted.length > maxStreams) {
    problems.push({ field: 'limits.maxStreams', value: String(maxStreams), rule: `is exceeded: the store hosts ${hosted.length} streams` });
  }
  return problems;
}

/**
 * Mirrors and sources whose origin the store's server cannot copy from, or would refuse: an origin
 * on another store, a larger max message size than the copy takes, a mirror's direct gets unlike
 * its origin's (the server copies the origin's), an external source's delivery prefix under
 * which a local origin's subjects would arrive again, and before 2.10 a filter outside the origin's subjects.
 */
export function originProblems(streams: readonly HostedStream[], version: NatsServerVersion): Problem[] {
  const problems: Problem[] = [];
  for (const stream of streams) {
    problems.push(...deliverPrefixProblems(stream));
    if (!version.atLeast('2.10.0')) problems.push(...filterOutsideOriginProblems(stream, version));
    for (const origin of stream.origins ?? []) {
      const field = `stream "${stream.definition.name}" ${origin.field}`;
      const value = `${JSON.stringify(origin.definition.name)} (${origin.path})`;
      if (origin.store !== undefined) {
        problems.push({
          field, value,
          rule: `is on store "${origin.store}": a stream copies only from streams its own server reaches. Declare both on one `
            + 'store, or connect the stores (leaf nodes with JetStream domains) and name the origin with '
            + 'ExternalStream.of(name, { apiPrefix: "$JS.<domain>.API" })',
        });
        continue;
      }
      const [own, theirs] = [stream.definition.maxMsgSize, origin.definition.maxMsgSize];
      if (own > 0 && theirs > 0 && own < theirs) {
        problems.push({ field, value, rule: `takes messages up to maxMsgSize ${formatBytes(theirs)}, more than this stream's ${formatBytes(own)}` });
      }
      if (origin.field === 'mirror' && stream.definition.mirrorDirect !== origin.definition.allowDirect) {
        problems.push({
          field: `stream "${stream.definition.name}" mirrorDirect`, value: String(stream.definition.mirrorDirect),
          rule: `differs from allowDirect ${origin.definition.allowDirect} of its origin ${value}, which the server copies onto the mirror`,
        });
      }
    }
  }
  return problems;
}

/**
 * nats-server before 2.10 refuses a mirror's or source's filter that no subject of its local origin
 * matches; for sources, of the local origins listed up to it, as it collects them.
 */
function filterOutsideOriginProblems(stream: HostedStream, version: NatsServerVersion): Problem[] {
  const { definition } = stream;
  const problems: Problem[] = [];
  const seen: string[] = [];
  for (const origin of stream.origins ?? []) {
    if (origin.store !== undefined) continue;
    seen.push(...origin.definition.subjects);
    const config = origin.field === 'mirror' ? definition.mirror : definition.sources[Number(/\d+/.exec(origin.field)?.[0])];
    const filter = config?.filter_subject;
    if (filter === undefined || filter === '' || 'problem' in checkSubject(filter)) continue;
    const subjects = origin.field === 'mirror' ? origin.definition.subjects : seen;
    if (subjects.some((subject) => !('problem' in checkSubject(subject)) && subjectsOverlap(subject, filter))) continue;
    problems.push({
      field: `stream "${definition.name}" ${origin.field}.filterSubject`, value: JSON.stringify(filter),
      rule: `matches no subject of its origin ${JSON.stringify(origin.definition.name)}: NATS server ${version.version} refuses it (2.10 takes it)`,
    });
  }
  return problems;
}

/** nats-server refuses an external delivery prefix that, put before a local origin's subject, still overlaps it. */
function deliverPrefixProblems(stream: HostedStream): Problem[] {
  const { definition } = stream;
  const copies = [...(definition.mirror ? [{ field: 'mirror', config: definition.mirror }] : []),
    ...definition.sources.map((config, i) => ({ field: `sources[${i}]`, config }))];
  const localSubjects = (stream.origins ?? []).filter((o) => o.store === undefined).flatMap((o) => o.definition.subjects)
    .filter((subject) => 'tokens' in checkSubject(subject));
  const problems: Problem[] = [];
  for (const { field, config } of copies) {
    const prefix = config.external?.deliver;
    if (!prefix || 'problem' in checkSubject(prefix)) continue;
    const overlapped = localSubjects.find((subject) => subjectsOverlap(subject, `${prefix}.${subject}`));
    if (overlapped !== undefined) {
      problems.push({
        field: `stream "${definition.name}" ${field}.stream.deliverPrefix`, value: JSON.stringify(prefix),
        rule: `overlaps the subject ${JSON.stringify(overlapped)} of a local origin once it is prefixed: choose a prefix outside it`,
      });
    }
  }
  return problems;
}

/**
 * Streams that would copy their own messages back to themselves, as nats-server detects it: from
 * each stream, along sources and mirrors within the store, a source back to a stream already
 * reached whose filter overlaps that stream's subjects, or a mirror back to one.
 */
export function cycleProblems(streams: readonly HostedStream[], version: NatsServerVersion): Problem[] {
  // nats-server 2.9.10, the 2.9 release the tests run, counts a source back as a cycle whatever its filter.
  const filtersApart = version.atLeast('2.10.0');
  const byName = new Map(streams.map((s) => [s.definition.name, s.definition]));
  const problems: Problem[] = [];
  for (const start of streams) {
    const visited = new Set<string>();
    const queue: StreamDefinition[] = [start.definition];
    let cycle: string | undefined;
    // Each stream enters the queue at most once per start, so the walk ends.
    for (let next = queue.shift(); next && cycle === undefined; next = queue.shift()) {
      visited.add(next.name);
      for (const source of next.sources) {
        if (source.external) continue;
        if (visited.has(source.name)) {
          if (!filtersApart || filterOverlaps(next.subjects, source.filter_subject)) cycle = `${next.name} sources ${source.name}`;
        } else if (byName.has(source.name) && !queue.includes(byName.get(source.name)!)) {
          queue.push(byName.get(source.name)!);
        }
      }
      const mirror = next.mirror;
      if (mirror && !mirror.external && cycle === undefined) {
        if (visited.has(mirror.name)) cycle = `${next.name} mirrors ${mirror.name}`;
        else if (byName.has(mirror.name) && !queue.includes(byName.get(mirror.name)!)) queue.push(byName.get(mirror.name)!);
      }
    }
    if (cycle !== undefined) {
      problems.push({
        field: `stream "${start.definition.name}" sources`, value: cycle,
        rule: 'closes a cycle: the stream would copy its own messages back; nats-server refuses it',
      });
    }
  }
  return problems;
}

function filterOverlaps(subjects: readonly string[], filter: string | undefined): boolean {
  if (filter === undefined || filter === '') return true;
  if ('problem' in checkSubject(filter)) return false;
  return subjects.some((subject) => !('problem' in checkSubject(subject)) && subjectsOverlap(subject, filter));
}

/**
 * Placements a store this app deploys cannot satisfy: its servers carry no tags, and a cluster of
 * them is named after the store (a single server has no cluster).
 */
export function placementProblems(streams: readonly HostedStream[], store: string, clustered: boolean): Problem[] {
  const problems: Problem[] = [];
  for (const { definition } of streams) {
    const { placement } = definition;
    if (!placement) continue;
    const field = `stream "${definition.name}" placement`;
    if (placement.tags !== undefined && placement.tags.length > 0) {
      problems.push({ field: `${field}.tags`, value: showValue(placement.tags), rule: `cannot be met: the servers of store "${store}" carry no tags` });
    }
    if (placement.cluster !== undefined && (!clustered || placement.cluster !== store)) {
      problems.push({
        field: `${field}.cluster`, value: showValue(placement.cluster),
        rule: clustered ? `is not the cluster of store "${store}", which is named "${store}"` : `cannot be met: store "${store}" is a single server, not a cluster`,
      });
    }
  }
  return problems;
}

/** A store default above the store's own limit. */
export function defaultsAboveLimitsProblems(defaults: ResolvedLimits, limits: ResolvedLimits): Problem[] {
  const checks: Array<[keyof ResolvedLimits, string, (n: number) => string, number]> = [
    ['maxMsgs', 'maxMsgs', String, UNLIMITED],
    ['maxBytes', 'maxBytes', formatBytes, UNLIMITED],
    ['maxAgeMs', 'maxAge', formatDuration, 0],
    ['maxMsgSize', 'maxMsgSize', formatBytes, UNLIMITED],
  ];
  const problems: Problem[] = [];
  for (const [key, field, show, unlimited] of checks) {
    const value = defaults[key];
    const limit = limits[key];
    if (value === undefined || limit === undefined || limit === unlimited) continue;
    if (value === unlimited || value > limit) {
      problems.push({ field: `defaults.${field}`, value: value === unlimited ? 'unlimited' : show(value), rule: `exceeds limits.${field} ${show(limit)}` });
    }
  }
  return problems;
}
