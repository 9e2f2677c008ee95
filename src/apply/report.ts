import { formatChange } from './diff';
import { PlanItem, isConsumerItem } from './plan';

/** A plan item once the program is done with it. */
export interface ItemResult {
  readonly item: PlanItem;
  /** The server's error when the item's write failed. */
  readonly error?: string;
  /** The server answered the write with an error, so it did not happen (a lost connection leaves that unknown). */
  readonly rejected?: boolean;
}

/** `plan` reports what would happen; `apply` what happened. */
export type ReportMode = 'plan' | 'apply';

/** What happened to a stream, by plan action, in the order counts are reported. */
const APPLIED = {
  create: 'created', update: 'updated', unchanged: 'unchanged', delete: 'deleted',
  orphaned: 'orphaned', foreign: 'foreign', refused: 'refused',
} as const;

/** What a dry run reports for each plan action: the action itself. */
const PLANNED = {
  create: 'create', update: 'update', unchanged: 'unchanged', delete: 'delete',
  orphaned: 'orphaned', foreign: 'foreign', refused: 'refused',
} as const;

const FAILED = 'failed';

/** The outcome names of a mode, in report order. */
function outcomeNames(mode: ReportMode): string[] {
  const names: string[] = Object.values(mode === 'plan' ? PLANNED : APPLIED);
  return mode === 'plan' ? names : [...names, FAILED];
}

/** The outcome of one result: `created`, `failed`..., or in a dry run the action, `create`. */
export function outcomeOf(result: ItemResult, mode: ReportMode): string {
  if (result.error !== undefined) return FAILED;
  return (mode === 'plan' ? PLANNED : APPLIED)[result.item.action];
}

/** What is said about a result besides its outcome: a note in parentheses and the detail after a colon. */
interface Remarks {
  readonly note?: string;
  readonly detail?: string;
}

function remarksOf(result: ItemResult, mode: ReportMode): Remarks {
  const { item } = result;
  if (result.error !== undefined) return { detail: result.error };
  const adopting = (item.action === 'update' || item.action === 'unchanged') && item.adopt;
  const note = adopting ? (mode === 'plan' ? 'adopting' : 'adopted') : undefined;
  switch (item.action) {
    case 'update': return { note, detail: item.changes.map(formatChange).join('; ') };
    case 'unchanged': return { note };
    case 'refused': return { detail: item.reasons.join('; ') };
    case 'orphaned': return { note: `kept: ${item.keptBecause ?? 'retentionPolicy Retain'}` };
    case 'foreign': return { note: 'not managed, left untouched' };
    default: return {};
  }
}

/**
 * One line for a result: `updated ORDERS: max_age 6h -> 12h`, `orphaned OLD (kept: retentionPolicy Retain)`,
 * `failed to create X: <server error>`; in a dry run `update ORDERS: max_age 6h -> 12h`.
 */
export function describeResult(result: ItemResult, mode: ReportMode): string {
  const { note, detail } = remarksOf(result, mode);
  const what = result.error !== undefined ? `failed to ${result.item.action}` : outcomeOf(result, mode);
  return `${what} ${result.item.name}${note ? ` (${note})` : ''}${detail ? `: ${detail}` : ''}`;
}

/** A progress line of an apply: `[3/40] updated ORDERS: max_age 6h -> 12h`. */
export function progressLine(done: number, total: number, result: ItemResult): string {
  return `[${done}/${total}] ${describeResult(result, 'apply')}`;
}

/** How many results had each outcome of the mode, every outcome listed, in report order. */
export function countOutcomes(results: readonly ItemResult[], mode: ReportMode): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(outcomeNames(mode).map((name) => [name, 0]));
  for (const result of results) counts[outcomeOf(result, mode)] += 1;
  return counts;
}

/**
 * The summary table printed at the end: the count of every outcome that occurred (streams and
 * consumers apart once there are consumers), then one row per stream or consumer that was not
 * unchanged, with what changed or why not.
 */
export function summaryTable(results: readonly ItemResult[], mode: ReportMode): string[] {
  const isConsumer = (result: ItemResult) => isConsumerItem(result.item);
  const groups = results.some(isConsumer)
    ? [['streams', results.filter((r) => !isConsumer(r))], ['consumers', results.filter(isConsumer)]] as const
    : [['streams', results]] as const;
  const countsOf = groups.map(([, group]) => countOutcomes(group, mode));
  const outcomes = Object.keys(countsOf[0]).filter((outcome) => countsOf.some((counts) => counts[outcome] > 0));
  const countRows = [
    ['outcome', ...groups.map(([label]) => label)],
    ...outcomes.map((outcome) => [outcome, ...countsOf.map((counts) => String(counts[outcome]))]),
    ['total', ...groups.map(([, group]) => String(group.length))],
  ];
  const itemRows = results
    .filter((result) => outcomeOf(result, mode) !== 'unchanged' || remarksOf(result, mode).note !== undefined)
    .map((result) => {
      const { note, detail } = remarksOf(result, mode);
      return [result.item.name, outcomeOf(result, mode), [note, detail].filter(Boolean).join(': ')];
    });
  const lines = alignColumns(countRows, countRows[0].map((_, column) => column > 0));
  const nameHeader = groups.length > 1 ? 'stream/consumer' : 'stream';
  if (itemRows.length > 0) lines.push('', ...alignColumns([[nameHeader, 'outcome', 'detail'], ...itemRows], [false, false, false]));
  return lines;
}

/** Pads every column but the last to its widest cell; `right` aligns a column to the right. */
export function alignColumns(rows: string[][], right: boolean[]): string[] {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row
    .map((cell, column) => {
      if (column === row.length - 1 && !right[column]) return cell;
      return right[column] ? cell.padStart(widths[column]) : cell.padEnd(widths[column]);
    })
    .join('  ')
    .trimEnd());
}

/** The result of a run, as its termination message says it. */
export type RunResult = 'applied' | 'pending' | 'refused' | 'failed' | 'stale';

/** What the termination message reports. */
export interface TerminationSummary {
  readonly result: RunResult;
  /** Streams and consumers per outcome, together; empty when the run failed before planning. */
  readonly counts: Readonly<Record<string, number>>;
  /** Streams and consumers (`<stream>/<consumer>`) refused, by name. */
  readonly refused: readonly string[];
  /** Streams and consumers whose write failed, by name. */
  readonly failed: readonly string[];
  /** Why the run failed, when it failed as a whole. */
  readonly error?: string;
}

/** Kubernetes keeps at most this many bytes of a container's termination message. */
export const TERMINATION_MESSAGE_MAX_BYTES = 4096;
/** Longest error kept in the termination message, in characters (at most 4 bytes each). */
const MAX_ERROR_CHARS = 512;

/** The summary of a run's results; `refused` and `failed` list names in result order. */
export function terminationSummary(result: RunResult, results: readonly ItemResult[], mode: ReportMode): TerminationSummary {
  return {
    result,
    counts: countOutcomes(results, mode),
    refused: results.filter((r) => r.error === undefined && r.item.action === 'refused').map((r) => r.item.name),
    failed: results.filter((r) => r.error !== undefined).map((r) => r.item.name),
  };
}

/**
 * The termination message: the summary as JSON, at most 4096 bytes. When the name lists do not
 * fit, each keeps as many leading names as fit and `omitted` says how many were left out.
 */
export function terminationMessage(summary: TerminationSummary): string {
  const error = summary.error === undefined ? undefined : truncate(summary.error, MAX_ERROR_CHARS);
  const render = (kept: number) => {
    const refused = summary.refused.slice(0, kept);
    const failed = summary.failed.slice(0, kept);
    const omitted = { refused: summary.refused.length - refused.length, failed: summary.failed.length - failed.length };
    const truncated = omitted.refused > 0 || omitted.failed > 0;
    return JSON.stringify({ result: summary.result, counts: summary.counts, refused, failed, ...(truncated ? { omitted } : {}), ...(error ? { error } : {}) });
  };
  const fits = (kept: number) => Buffer.byteLength(render(kept)) <= TERMINATION_MESSAGE_MAX_BYTES;
  let low = 0;
  let high = Math.max(summary.refused.length, summary.failed.length);
  if (fits(high)) return render(high);
  // Binary search for the most names per list that fit; 0 always fits (names, error and counts are bounded).
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (fits(middle)) low = middle;
    else high = middle;
  }
  return render(low);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
