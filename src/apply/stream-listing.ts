import { formatBytesReadable } from '../units';
import { DeclaredStream, documentConfig } from './definitions';
import { FieldChange, diffStreamConfig, formatChange } from './diff';
import { ManagedEntry } from './managed';
import type { ServerStream } from './plan';
import { alignColumns } from './report';
import type { JetStreamStreamConfig } from '../stream-definition';

/** Where a stream stands against a store's definitions. */
export type StreamStanding = 'in sync' | 'drifted' | 'missing' | 'orphaned' | 'foreign';

/** One stream as `streams ls` shows it; the counts are unset for a declared stream the server lacks. */
export interface StreamRow {
  readonly name: string;
  readonly subjects: readonly string[];
  readonly messages?: number;
  readonly bytes?: number;
  /** When its first and last messages were stored; unset when it holds none. */
  readonly first?: string;
  readonly last?: string;
  readonly consumers?: number;
  readonly replicas?: number;
  /** With definitions: where it stands, and for a drifted stream, the fields that differ. */
  readonly state?: StreamStanding;
  readonly drifted?: readonly string[];
}

/** A store's definitions and ownership record, which say where each stream stands. */
export interface StoreView {
  readonly declared: readonly DeclaredStream[];
  readonly managed: ReadonlyMap<string, ManagedEntry>;
}

/** Go's zero time: what the server reports as the first and last time of an empty stream. */
const ZERO_TIME = /^0001-01-01T/;

/** Every stream of the server, and with a store's view the declared ones it lacks, sorted by name. Pure. */
export function streamRows(server: ReadonlyMap<string, ServerStream>, view?: StoreView): StreamRow[] {
  const declared = new Map((view?.declared ?? []).map((d) => [d.config.name, d.config]));
  const adopts = new Set((view?.declared ?? []).filter((d) => d.adopt).map((d) => d.config.name));
  const rows: StreamRow[] = [...server].map(([name, stream]) => {
    const { state, config } = stream;
    const row: StreamRow = {
      name,
      subjects: Array.isArray(config.subjects) ? config.subjects as string[] : [],
      messages: state.messages,
      bytes: state.bytes,
      first: storedTime(state.first_ts),
      last: storedTime(state.last_ts),
      consumers: state.consumer_count,
      replicas: typeof config.num_replicas === 'number' ? config.num_replicas : undefined,
    };
    if (view === undefined) return row;
    const wanted = declared.get(name);
    // Declared but never the store's, and not adopted: an apply refuses it, as foreign.
    if (wanted === undefined || (!view.managed.has(name) && !adopts.has(name))) return { ...row, state: view.managed.has(name) ? 'orphaned' : 'foreign' };
    const changes = diffStreamConfig(wanted, stream.config);
    return changes.length === 0 ? { ...row, state: 'in sync' } : { ...row, state: 'drifted', drifted: changes.map((c) => c.field) };
  });
  for (const [name, config] of declared) {
    if (!server.has(name)) rows.push({ name, subjects: config.subjects, state: 'missing' });
  }
  return rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The rows as a table for people; a state column when they have one. */
export function streamTable(rows: readonly StreamRow[]): string[] {
  const withState = rows.some((row) => row.state !== undefined);
  const header = ['NAME', 'SUBJECTS', 'MESSAGES', 'BYTES', 'FIRST', 'LAST', 'CONSUMERS', 'REPLICAS', ...(withState ? ['STATE'] : [])];
  const cell = (value: number | string | undefined) => (value === undefined ? '-' : String(value));
  const body = rows.map((row) => [
    row.name, row.subjects.join(',') || '-', cell(row.messages), row.bytes === undefined ? '-' : formatBytesReadable(row.bytes),
    cell(row.first), cell(row.last), cell(row.consumers), cell(row.replicas),
    ...(withState ? [row.state === 'drifted' ? `drifted (${(row.drifted ?? []).join(', ')})` : cell(row.state)] : []),
  ]);
  return alignColumns([header, ...body], header.map((_, i) => i >= 2 && i <= 3 || i === 6 || i === 7));
}

/** What `streams info` shows of one stream: its stored configuration and state, and against its declaration, the plan's changes. */
export interface StreamDetail {
  readonly name: string;
  /** As the streams document writes it: durations and sizes in units. */
  readonly stored?: Record<string, unknown>;
  readonly state?: ServerStream['state'];
  /** As the definitions declare it, in the units of `stored`; unset when they do not (or none are given). */
  readonly declared?: Record<string, unknown>;
  /** With definitions: true when the stream is on the server and not the store's (an apply refuses it unless adopted). */
  readonly foreign?: boolean;
  /** What an apply would change, when both sides have it. */
  readonly changes?: readonly FieldChange[];
}

/** The detail of stream `name`, or undefined when neither the server nor the definitions have it. Pure. */
export function streamDetail(name: string, server: ReadonlyMap<string, ServerStream>, view?: StoreView): StreamDetail | undefined {
  const stream = server.get(name);
  const entry = view?.declared.find((d) => d.config.name === name);
  const wanted = entry?.config;
  if (stream === undefined && wanted === undefined) return undefined;
  return {
    name,
    stored: stream === undefined ? undefined : documentConfig(stream.config as unknown as JetStreamStreamConfig),
    state: stream?.state,
    declared: wanted === undefined ? undefined : documentConfig(wanted),
    foreign: view === undefined || stream === undefined ? undefined : !view.managed.has(name) && !entry?.adopt,
    changes: stream !== undefined && wanted !== undefined ? diffStreamConfig(wanted, stream.config) : undefined,
  };
}

/** The detail for people: the configuration one field a line, the state, then where it stands against the definitions. */
export function streamDetailLines(detail: StreamDetail): string[] {
  const lines = [`stream ${detail.name}`];
  if (detail.stored === undefined) lines.push('not on the server');
  else {
    lines.push('stored configuration:', ...JSON.stringify(detail.stored, null, 2).split('\n').map((line) => `  ${line}`));
    const state = detail.state;
    if (state) {
      lines.push(`state: ${state.messages} messages, ${formatBytesReadable(state.bytes)}, sequences ${state.first_seq} to ${state.last_seq}, `
        + `${state.consumer_count ?? 0} consumers; first ${storedTime(state.first_ts) ?? '-'}, last ${storedTime(state.last_ts) ?? '-'}`);
    }
  }
  if (detail.declared !== undefined) lines.push('declared configuration:', ...JSON.stringify(detail.declared, null, 2).split('\n').map((line) => `  ${line}`));
  if (detail.stored === undefined && detail.declared !== undefined) lines.push('an apply would create it');
  if (detail.foreign === undefined) return lines;
  if (detail.foreign) {
    lines.push(detail.declared === undefined ? 'foreign: the store does not manage it' : 'declared, but the store does not manage it: an apply refuses it unless the definition sets adopt');
  } else if (detail.declared === undefined) lines.push('orphaned: the store manages it, and the definitions no longer declare it');
  else {
    const changes = detail.changes ?? [];
    lines.push(changes.length === 0 ? 'in sync' : 'an apply would change', ...changes.map((c) => `  ${formatChange(c)}`));
  }
  return lines;
}

/** A stored time to the second, or undefined for Go's zero time (no message). */
function storedTime(time: string | undefined): string | undefined {
  if (time === undefined || ZERO_TIME.test(time)) return undefined;
  return new Date(time).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
