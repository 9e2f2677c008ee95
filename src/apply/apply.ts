import * as fs from 'fs';
import * as os from 'os';
import type { JetStreamStreamConfig } from '../stream-definition';
import { StreamsDocument, parseStreamsDocuments, streamsDigest } from './definitions';
import { readDefinitionsFiles } from './definitions-files';
import type { JetStreamConsumerConfig } from '../consumer-options';
import { diffConsumerConfig, diffStreamConfig, formatFieldValue } from './diff';
import { DefinitionsVersion, staleReason } from './generation';
import { StoreLock, takeStoreLock } from './lock';
import { consumerOfKey } from './managed';
import { runPool } from './pool';
import { STALE_EXIT_CODE } from './names';
import {
  ConnectionAuth, JetStreamConnection, PlanWriter, connectJetStream, describeNatsError, isServerRejection, planWriter, readServerConsumers,
} from './nats-io';
import {
  Ownership, OwnershipContent, OwnershipRecord, describeOwnershipChange, intendedOwnership, ownershipAfterWrites, readOwnership, readStoreStreams,
  sameRecord, writeOwnership,
} from './ownership';
import { normalizeServerConfig, normalizeServerConsumerConfig } from './normalize';
import { Plan, PlanExitCode, PlanItem, buildPlan, hasRefusals, isConsumerItem, pendingChanges } from './plan';
import { OrderedUpdate, updateWaves } from './write-order';
import {
  ItemResult, ReportMode, RunResult, TerminationSummary, describeResult, progressLine, summaryTable, terminationMessage,
  terminationSummary,
} from './report';

/** What the program does: show the plan only, apply it, or apply only what is safe to repair unattended. */
export type Command = 'plan' | 'apply' | 'repair';

/** Everything a run needs, resolved from flags and environment by `parseCli`. */
export interface ApplyOptions {
  readonly command: Command;
  /** NATS server URL, such as `nats://events:4222`. */
  readonly server: string;
  /** Path of the streams document the synth wrote: a file, or a directory of its files. */
  readonly definitions: string;
  /** The digest of the definitions files the run was made for; unchecked when unset. */
  readonly definitionsDigest?: string;
  /** How long to wait for the server and its JetStream, in milliseconds. */
  readonly waitMs: number;
  /** Most stream writes in flight at once. */
  readonly concurrency: number;
  /** Replicas of the ownership and lock buckets when this run creates them. */
  readonly ownerReplicas: number;
  /** How long the store's lock outlives a run that stopped renewing it, in milliseconds. */
  readonly lockTtlMs: number;
  /** Where to write the termination message (the Job names its container's); none when unset. */
  readonly terminationLog?: string;
  /** Credentials and CA, from the environment only: secrets never go on a command line. */
  readonly auth?: ConnectionAuth;
}

/** Where a run's lines go. */
export interface ApplyIO {
  /** Plan, progress and summary lines (stdout). */
  out(line: string): void;
  /** Waits, warnings and errors (stderr). */
  err(line: string): void;
}

/** The program's exit codes. */
export enum ExitCode {
  /** Applied, or up to date; for `plan`, nothing pending. */
  OK = 0,
  /** Bad input, server unreachable past the deadline, or a write failed. */
  ERROR = 1,
  /** `plan` only: applying would change something. */
  PENDING = PlanExitCode.PENDING,
  /** Some streams were refused; the others were applied. */
  REFUSED = PlanExitCode.REFUSED,
  /** The definitions are older than the ones the store last applied: nothing was changed. */
  STALE = STALE_EXIT_CODE,
}

/** A run whose definitions must not be applied over the store's: it changes nothing. */
class StaleDefinitions extends Error {}

/** How a run ended. */
export interface ApplyOutcome {
  readonly exitCode: ExitCode;
  /** One result per plan item, sorted by stream name; empty when the run failed before planning. */
  readonly results: readonly ItemResult[];
  /** Why the run failed as a whole, after its writes (the final ownership record could not be written). */
  readonly error?: string;
}

const RESULT_OF_EXIT_CODE: Record<ExitCode, RunResult> = {
  [ExitCode.OK]: 'applied',
  [ExitCode.ERROR]: 'failed',
  [ExitCode.PENDING]: 'pending',
  [ExitCode.REFUSED]: 'refused',
  [ExitCode.STALE]: 'stale',
};

/**
 * Runs `plan` or `apply` for one streams document against one server, reporting through `io`
 * and writing the termination message. Never throws: an error is one line on `io.err` and
 * exit code 1.
 */
export async function runApply(options: ApplyOptions, io: ApplyIO): Promise<ApplyOutcome> {
  const mode: ReportMode = options.command === 'plan' ? 'plan' : 'apply';
  let outcome: ApplyOutcome;
  let summary: TerminationSummary;
  try {
    outcome = await planAndApply(options, io);
    summary = { ...terminationSummary(RESULT_OF_EXIT_CODE[outcome.exitCode], outcome.results, mode), error: outcome.error };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const stale = error instanceof StaleDefinitions;
    io.err(`${stale ? 'stale' : 'error'}: ${message}`);
    outcome = { exitCode: stale ? ExitCode.STALE : ExitCode.ERROR, results: [] };
    summary = { result: stale ? 'stale' : 'failed', counts: {}, refused: [], failed: [], error: message };
  }
  if (options.terminationLog !== undefined) writeTerminationMessage(options.terminationLog, terminationMessage(summary), io);
  return outcome;
}

/**
 * Reads the definitions, connects and plans. A run with something to write takes the store's lock
 * and plans again under it, so the record and the streams it reads stay as read until it is done;
 * a run with nothing to write ends as it would under the lock without taking it, since it changes
 * nothing another run could rely on. Definitions older than the ones the record says were applied
 * are refused before anything is written.
 */
async function planAndApply(options: ApplyOptions, io: ApplyIO): Promise<ApplyOutcome> {
  const deadline = Date.now() + options.waitMs;
  const { document, digest } = readDocument(options.definitions, options.definitionsDigest);
  const run: DefinitionsVersion = { generation: document.generation, digest };
  const connection = await connectJetStream(options.server, options.waitMs, io.err, options.auth);
  let lock: StoreLock | undefined;
  try {
    const consumers = document.streams.reduce((sum, stream) => sum + stream.consumers.length, 0);
    io.out(`store "${document.store}": ${streamCount(document.streams.length, consumers)} declared (generation ${document.generation}); `
      + `NATS server ${connection.serverVersion} at ${options.server}`);
    const unlocked = await readAndPlan(connection, document, run, options.command === 'repair');
    if (options.command === 'plan') return showPlan(unlocked, io);
    if (!unlocked.writes) return await applyPlan(unlocked, connection, () => undefined, options, io);
    lock = await takeStoreLock(connection.nc, document.store, { holder: `${os.hostname()} pid ${process.pid}`, since: new Date().toISOString(), ...run }, {
      ttlMs: options.lockTtlMs, replicas: options.ownerReplicas, deadline, log: io.err,
      // A newer run holds it: by the time it is free, these definitions are stale.
      giveUp: (holder) => (holder.generation > run.generation ? new StaleDefinitions(staleReason(run, holder)) : undefined),
    });
    return await applyPlan(await readAndPlan(connection, document, run, options.command === 'repair'), connection, lock.lost, options, io);
  } finally {
    await lock?.release();
    await connection.nc.close();
  }
}

/** A plan with what it was made from, and the ownership record applying it would write first. */
interface PlannedRun {
  readonly plan: Plan;
  readonly document: StreamsDocument;
  readonly run: DefinitionsVersion;
  readonly record: OwnershipRecord;
  /** What the store manages once the plan is applied, deletions aside, and these definitions as applied. */
  readonly intended: OwnershipContent;
  /** True when applying writes a stream or the ownership record. */
  readonly writes: boolean;
}

/**
 * Reads the server's streams and the store's ownership record, and plans.
 *
 * @throws StaleDefinitions when the record says newer definitions were applied
 */
async function readAndPlan(connection: JetStreamConnection, document: StreamsDocument, run: DefinitionsVersion, repair: boolean): Promise<PlannedRun> {
  const { streams: server, bucketExists } = await readStoreStreams(connection);
  const record = await readOwnership(connection.nc, document.store, bucketExists);
  const stale = staleReason(run, record.applied);
  if (stale !== undefined) throw new StaleDefinitions(stale);
  // Only the consumers of streams that declare some or had some managed: others' are not this store's.
  const withConsumers = new Set([
    ...document.streams.filter((s) => s.consumers.length > 0).map((s) => s.config.name),
    ...[...record.managed.keys()].flatMap((key) => consumerOfKey(key)?.stream ?? []),
  ]);
  const consumers = await readServerConsumers(connection, [...withConsumers].filter((stream) => server.has(stream)).sort());
  const plan = buildPlan({
    declared: document.streams, server, managed: record.managed, consumers, serverVersion: connection.serverVersion, clustered: connection.clustered, repair,
  });
  const intended: OwnershipContent = { managed: intendedOwnership(plan, document.streams, record.managed), applied: run };
  return { plan, document, run, record, intended, writes: pendingChanges(plan) || !sameRecord(intended, record) };
}

/**
 * Reads the streams document: one file, or every `.json` file of a directory (the Job mounts a
 * store's definitions ConfigMaps as one directory), sorted by name. With `digest`, the files must
 * be the ones the Job was made for: a ConfigMap changed since (by a newer synth) is never applied
 * by an older Job.
 */
function readDocument(location: string, expectedDigest: string | undefined): { document: StreamsDocument; digest: string } {
  const files = readDefinitionsFiles(location);
  const digest = streamsDigest(files.map((f) => f.text));
  if (expectedDigest !== undefined && digest !== expectedDigest) {
    throw new StaleDefinitions(`the streams document in ${location} (digest ${digest.slice(0, 12)}) is not the one this run was made for `
      + `(${expectedDigest.slice(0, 12)}): its ConfigMaps were changed by a newer synth, whose own Job applies them`);
  }
  return { document: parseStreamsDocuments(files), digest };
}

/** A dry run: prints every item and the summary; pending includes an ownership record that would change. */
function showPlan({ plan, document, record, intended, writes }: PlannedRun, io: ApplyIO): ApplyOutcome {
  const results = plan.items.map((item) => ({ item }));
  for (const result of results) io.out(describeResult(result, 'plan'));
  if (!sameRecord(intended, record)) io.out(`ownership record "${document.store}" would change: ${describeOwnershipChange(record, intended)}`);
  for (const line of ['', ...summaryTable(results, 'plan')]) io.out(line);
  // As planExitCode, with the ownership record counted as a pending change.
  const exitCode = hasRefusals(plan) ? ExitCode.REFUSED : writes ? ExitCode.PENDING : ExitCode.OK;
  return { exitCode, results };
}

/**
 * Records the intended ownership, runs the writes, then records the final ownership; each record
 * is written only when it changes, so an unchanged re-apply writes nothing at all.
 *
 * @param lost why the store's lock may no longer be this run's (see {@link StoreLock.lost}); no write is sent after it says so
 */
async function applyPlan(
  { plan, document, run, record: read, intended }: PlannedRun, connection: JetStreamConnection, lost: () => string | undefined,
  options: ApplyOptions, io: ApplyIO,
): Promise<ApplyOutcome> {
  const { nc } = connection;
  const store = document.store;
  let record = read;
  const lostBeforeWrites = lost();
  if (lostBeforeWrites !== undefined) throw new Error(`${lostBeforeWrites}; nothing was written`);
  // Recorded before any write: a run of older definitions that comes after this one, even if this one dies, is refused.
  if (!sameRecord(intended, record)) {
    record = await writeOwnership(nc, store, intended, record, options.ownerReplicas, io.err);
  }

  let done = 0;
  const report = (result: ItemResult) => io.out(progressLine(++done, plan.items.length, result));
  const results = await executePlan(plan, planWriter(connection), options.concurrency, report, lost);

  const final: OwnershipContent = { managed: ownershipAfterWrites(intended.managed, results), applied: run };
  let recordError: string | undefined;
  try {
    const lostAfterWrites = lost();
    if (lostAfterWrites !== undefined) throw new Error(`${lostAfterWrites}; the ownership record was not updated`);
    if (!sameRecord(final, record)) record = await writeOwnership(nc, store, final, record, options.ownerReplicas, io.err);
  } catch (error) {
    // The writes are done: their results still go into the summary and the termination message.
    recordError = (error as Error).message;
    io.err(`error: ${recordError}`);
  }
  if (record !== read) io.out(`ownership record "${store}": ${managedCount(record.managed)} managed (revision ${record.revision})`);

  for (const line of ['', ...summaryTable(results, 'apply')]) io.out(line);
  const failed = recordError !== undefined || results.some((r) => r.error !== undefined);
  const refused = results.some((r) => r.item.action === 'refused');
  return { exitCode: failed ? ExitCode.ERROR : refused ? ExitCode.REFUSED : ExitCode.OK, results, error: recordError };
}

/** Write phases, in order: deletes free their subjects first, updates then release or take theirs (see {@link updateWaves}), creates last. */
const WRITE_PHASES = ['delete', 'update', 'create'] as const;

/**
 * The writes a plan needs, phase by phase (see {@link WRITE_PHASES}) so that subjects can move
 * between streams. Items without a write are reported first. Within a phase at most
 * `concurrency` writes are in flight; a failed write is that item's result and the others still run.
 *
 * @param report called once per item as it completes
 * @returns one result per plan item, in plan order
 */
async function executePlan(
  plan: Plan, writer: PlanWriter, concurrency: number, report: (result: ItemResult) => void, stopped: () => string | undefined,
): Promise<ItemResult[]> {
  const results = new Map<PlanItem, ItemResult>();
  const finish = (result: ItemResult) => {
    results.set(result.item, result);
    report(result);
  };
  const phases: ReadonlyArray<PlanItem['action']> = WRITE_PHASES;
  for (const item of plan.items) if (!phases.includes(item.action)) finish({ item });
  // Consumers that lower their own limits ahead of their stream's lowered consumer limits go first.
  const first = plan.items.filter((item) => isConsumerItem(item) && item.beforeStream === true);
  const inPhase = (phase: PlanItem['action'], consumers: boolean) => plan.items.filter((item) => item.action === phase && isConsumerItem(item) === consumers && !first.includes(item));
  // Updates that move subjects between streams, or filters between the consumers of a work queue,
  // go in waves: the one giving them up first. Other consumers come after every stream write.
  const waves = (consumers: boolean) => WRITE_PHASES.flatMap((phase) => (phase === 'update'
    ? updateWaves(inPhase(phase, consumers) as Array<PlanItem & OrderedUpdate>) : [inPhase(phase, consumers)]));
  const batches = [first, ...waves(false), ...waves(true)];
  for (const batch of batches) {
    await runPool(batch, concurrency, async (item) => {
      const stop = stopped();
      if (stop !== undefined) {
        finish({ item, error: `not written: ${stop}`, rejected: true });
        return;
      }
      try {
        await write(item, writer);
        finish({ item });
      } catch (error) {
        finish({ item, error: describeNatsError(error), rejected: isServerRejection(error) });
      }
    });
  }
  return plan.items.map((item) => results.get(item) as ItemResult);
}

async function write(item: PlanItem, writer: PlanWriter): Promise<void> {
  if (isConsumerItem(item)) {
    switch (item.action) {
      case 'delete': return writer.deleteConsumer(item.stream, item.consumer);
      case 'update': {
        const config = item.config as JetStreamConsumerConfig;
        const stored = await writer.updateConsumer(item.stream, config);
        // An update leaves a pause as it is (2.11+): pausing and resuming have a request of their own.
        if (!item.changes.some((c) => c.field === 'pause_until')) return checkStoredConsumer(config, stored);
        return checkStoredConsumer(config, { ...stored, pause_until: (await writer.pauseConsumer(item.stream, item.consumer, config.pause_until)).pause_until });
      }
      case 'create': return checkStoredConsumer(item.config as JetStreamConsumerConfig, await writer.createConsumer(item.stream, item.config as JetStreamConsumerConfig));
      default: throw new Error(`no write for a ${item.action} item`);
    }
  }
  switch (item.action) {
    case 'delete': return writer.delete(item.name);
    case 'update': return checkStored(item.config, await writer.update(item.config));
    case 'create': return checkStored(item.config, await writer.create(item.config));
    default: throw new Error(`no write for a ${item.action} item`);
  }
}

/**
 * Fails a write whose stream the server stored otherwise than sent: it dropped a field it does not
 * know, or changed a value. Left alone, every later run would plan the same update again.
 */
function checkStored(sent: JetStreamStreamConfig, stored: Record<string, unknown>): void {
  const drift = diffStreamConfig(sent, normalizeServerConfig(stored));
  if (drift.length === 0) return;
  const fields = drift.map((c) => `${c.field} sent ${formatFieldValue(c.field, c.to)}, stored ${formatFieldValue(c.field, c.from)}`);
  throw new Error(`the server stored the stream otherwise than sent (it may not know a field): ${fields.join('; ')}`);
}

/** As {@link checkStored}, for a consumer. */
function checkStoredConsumer(sent: JetStreamConsumerConfig, stored: Record<string, unknown>): void {
  const drift = diffConsumerConfig(sent, normalizeServerConsumerConfig(stored));
  if (drift.length === 0) return;
  const fields = drift.map((c) => `${c.field} sent ${formatFieldValue(c.field, c.to)}, stored ${formatFieldValue(c.field, c.from)}`);
  throw new Error(`the server stored the consumer otherwise than sent (it may not know a field): ${fields.join('; ')}`);
}

/** `3 streams`, or `3 streams and 2 consumers` once there are consumers. */
function streamCount(streams: number, consumers = 0): string {
  const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;
  return consumers === 0 ? plural(streams, 'stream') : `${plural(streams, 'stream')} and ${plural(consumers, 'consumer')}`;
}

/** What an ownership record manages, as {@link streamCount} says it (consumers' keys are `<stream>/<consumer>`). */
function managedCount(managed: Ownership): string {
  const consumers = [...managed.keys()].filter((key) => consumerOfKey(key) !== undefined).length;
  return streamCount(managed.size - consumers, consumers);
}

/** A file Kubernetes shows as the container's termination message; failing to write it is only a warning. */
function writeTerminationMessage(file: string, message: string, io: ApplyIO): void {
  try {
    fs.writeFileSync(file, message);
  } catch (error) {
    io.err(`warning: cannot write the termination message to ${file}: ${(error as Error).message}`);
  }
}
