// Types only: the apply program bundles this module and must not pull in cdk8s.
import type { Duration, Size } from 'cdk8s';

/** A byte size: a cdk8s `Size`, a quantity string such as `"10Gi"`, or a number of bytes. */
export type SizeInput = Size | string | number;

/** A length of time: a cdk8s `Duration`, a Go duration string such as `"240h"`, or a number of milliseconds. */
export type DurationInput = Duration | string | number;

/** Error thrown when a size or duration cannot be turned into an exact whole number. */
export class UnitError extends Error {
  constructor(
    /** What was read: `size` or `duration`. */
    kind: string,
    /** The value as given, quoted. */
    label: string,
    /** What is wrong with it and what is allowed, without the value. */
    public readonly rule: string,
  ) {
    super(`invalid ${kind} ${label}: ${rule}`);
    this.name = 'UnitError';
  }
}

// Map, not an object literal, so that keys like "constructor" are never units.
const SIZE_UNITS = new Map<string, bigint>([
  ['k', 10n ** 3n],
  ['M', 10n ** 6n],
  ['G', 10n ** 9n],
  ['T', 10n ** 12n],
  ['P', 10n ** 15n],
  ['Ki', 2n ** 10n],
  ['Mi', 2n ** 20n],
  ['Gi', 2n ** 30n],
  ['Ti', 2n ** 40n],
  ['Pi', 2n ** 50n],
  ['KB', 10n ** 3n],
  ['MB', 10n ** 6n],
  ['GB', 10n ** 9n],
  ['TB', 10n ** 12n],
  ['KiB', 2n ** 10n],
  ['MiB', 2n ** 20n],
  ['GiB', 2n ** 30n],
  ['TiB', 2n ** 40n],
  ['B', 1n],
]);

const SIZE_PATTERN = /^(\d+)(?:\.(\d+))?([A-Za-z]*)$/;

const SIZE_SYNTAX = `expected a whole number of bytes with an optional unit (${[...SIZE_UNITS.keys()].join(', ')}), for example "10Gi" or "1G"`;

// Largest factor first, so the first exact divisor gives the shortest output and a binary unit beats its
// slightly smaller decimal twin; it stops at TiB and TB, the largest units parseSize reads with a B suffix.
const FORMAT_UNITS: ReadonlyArray<[string, number]> = [
  ['TiB', 2 ** 40], ['TB', 1e12], ['GiB', 2 ** 30], ['GB', 1e9], ['MiB', 2 ** 20], ['MB', 1e6], ['KiB', 2 ** 10], ['KB', 1e3],
];

const NANOS_PER_MS = 1_000_000n;

// Both micro signs are accepted because Go accepts both U+00B5 and U+03BC.
const DURATION_UNITS_NS = new Map<string, bigint>([
  ['ns', 1n],
  ['us', 1_000n],
  ['\u00b5s', 1_000n],
  ['\u03bcs', 1_000n],
  ['ms', NANOS_PER_MS],
  ['s', 1_000n * NANOS_PER_MS],
  ['m', 60_000n * NANOS_PER_MS],
  ['h', 3_600_000n * NANOS_PER_MS],
  ['d', 86_400_000n * NANOS_PER_MS],
]);

// Sticky so terms must be adjacent; "ms" is listed before "m" so "1ms" is one term like in Go.
const DURATION_TERM = /(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h|d)/y;

const DURATION_SYNTAX = 'expected a Go duration such as "240h", "4h35m", "90s" or "100ms"';

// NATS stores durations as Go int64 nanoseconds, so anything longer cannot reach the server.
const MAX_DURATION_MS = Number((2n ** 63n - 1n) / NANOS_PER_MS);

/**
 * Converts a size to a whole number of bytes.
 *
 * Strings take Kubernetes quantity suffixes (`k M G T P` decimal, `Ki Mi Gi Ti Pi` binary)
 * or NATS spellings (`KB MB GB TB`, `KiB MiB GiB TiB`, `B`); a fraction such as `"1.5Gi"`
 * is allowed only when it comes to a whole number of bytes. Numbers are bytes.
 *
 * @throws UnitError when the input is malformed, negative, fractional in bytes or above `Number.MAX_SAFE_INTEGER`.
 */
export function parseSize(input: SizeInput): number {
  if (typeof input === 'number') {
    return checkSafeCount(input, String(input), 'size', 'bytes');
  }
  if (typeof input === 'string') {
    return parseSizeString(input);
  }
  // Plain JavaScript callers can pass any object; a cdk8s Size renders as a quantity we read.
  if (typeof (input as Partial<Size>)?.asString !== 'function') {
    throw new UnitError('size', describeObject(input), 'expected a number of bytes, a string such as "10Gi" or a cdk8s Size');
  }
  return parseSizeString(input.asString());
}

/**
 * Converts a duration to a whole number of milliseconds.
 *
 * Strings use Go's `time.ParseDuration` syntax (`"240h"`, `"4h35m"`, `"1.5h"`, `"100ms"`, `"0"`)
 * plus the unit `d` for 24 hours, because users write `"7d"`. Numbers are milliseconds.
 *
 * @throws UnitError when the input is malformed, negative, not a whole number of milliseconds or longer than a Go duration can hold.
 */
export function parseDuration(input: DurationInput): number {
  if (typeof input === 'number') {
    return checkMaxDuration(checkSafeCount(input, String(input), 'duration', 'milliseconds'), String(input));
  }
  if (typeof input === 'string') {
    return parseDurationString(input);
  }
  if (typeof (input as Partial<Duration>)?.toMilliseconds !== 'function') {
    throw new UnitError('duration', describeObject(input), 'expected milliseconds, a Go duration such as "240h" or a cdk8s Duration');
  }
  const label = JSON.stringify(input.toHumanString());
  const ms = input.toMilliseconds({ integral: false });
  if (!Number.isInteger(ms)) {
    throw new UnitError('duration', label, 'must come to a whole number of milliseconds');
  }
  return checkMaxDuration(ms, label);
}

/**
 * Formats a byte count exactly, in the largest unit that divides it, such as `"2GiB"`, `"1GB"` or `"1536B"`.
 *
 * Binary units are tried before their decimal twins and units stop at TiB and TB, so `2 ** 50` is `"1024TiB"`.
 *
 * @throws UnitError when `bytes` is not a non-negative safe integer.
 */
export function formatBytes(bytes: number): string {
  checkSafeCount(bytes, String(bytes), 'size', 'bytes');
  if (bytes === 0) {
    return '0B';
  }
  const unit = FORMAT_UNITS.find(([, factor]) => bytes % factor === 0);
  return unit === undefined ? `${bytes}B` : `${bytes / unit[1]}${unit[0]}`;
}

/** Binary units for rounded sizes, largest first; TiB is the largest formatBytes writes. */
const ROUNDED_UNITS: ReadonlyArray<[string, number]> = [['TiB', 2 ** 40], ['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]];

/**
 * Formats a byte count for people: exactly (`"1536MiB"`, `"5TiB"`) when {@link formatBytes} needs at most four
 * digits, else rounded to one decimal in the largest binary unit (`"5.0TiB"` for 5244416MiB). Exact forms
 * have no decimal point, so one marks a rounded value. Sums above `Number.MAX_SAFE_INTEGER` are rounded too.
 *
 * @throws UnitError when `bytes` is not a non-negative whole number.
 */
export function formatBytesReadable(bytes: number): string {
  checkWholeBytes(bytes);
  if (Number.isSafeInteger(bytes)) {
    const exact = formatBytes(bytes);
    if (/^\d{1,4}[A-Za-z]+$/.test(exact)) return exact;
  }
  return roundedBytes(bytes);
}

/**
 * Formats two byte counts a message compares: readable, unless rounding would make them look alike (5TiB
 * and 5TiB plus 1MiB are both about 5.0TiB), then both exact, so the difference shows.
 *
 * @throws UnitError when either is not a non-negative whole number.
 */
export function formatBytesReadablePair(a: number, b: number): [string, string] {
  checkWholeBytes(a);
  checkWholeBytes(b);
  const alike = roundedBytes(a) === roundedBytes(b) && Number.isSafeInteger(a) && Number.isSafeInteger(b);
  return alike ? [formatBytes(a), formatBytes(b)] : [formatBytesReadable(a), formatBytesReadable(b)];
}

function roundedBytes(bytes: number): string {
  const index = ROUNDED_UNITS.findIndex(([, factor]) => bytes >= factor);
  if (index === -1) return `${bytes}B`;
  const [unit, factor] = ROUNDED_UNITS[index];
  const shown = (bytes / factor).toFixed(1);
  // 1023.96GiB rounds to 1024.0GiB: one unit up reads better.
  return shown === '1024.0' && index > 0 ? `1.0${ROUNDED_UNITS[index - 1][0]}` : `${shown}${unit}`;
}

function checkWholeBytes(bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < 0) {
    throw new UnitError('size', String(bytes), 'expected a non-negative whole number of bytes');
  }
}

/** Nanoseconds in a millisecond: the JetStream API takes durations in nanoseconds. */
export const NANOSECONDS_PER_MS = 1_000_000;

/** Whole milliseconds as {@link formatDuration} writes them; anything finer as plain nanoseconds, which Go also reads. */
export function formatNanoseconds(ns: number): string {
  return ns % NANOSECONDS_PER_MS === 0 ? formatDuration(ns / NANOSECONDS_PER_MS) : `${ns}ns`;
}

/**
 * Formats milliseconds as an exact Go duration string such as `"4h35m"`, `"1.5s"` or `"100ms"`.
 *
 * Like Go it never uses days; unlike Go it leaves out zero components (`"24h"`, not `"24h0m0s"`).
 *
 * @throws UnitError when `ms` is not a non-negative safe integer.
 */
export function formatDuration(ms: number): string {
  checkSafeCount(ms, String(ms), 'duration', 'milliseconds');
  if (ms === 0) {
    return '0s';
  }
  if (ms < 1000) {
    return `${ms}ms`;
  }
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = Math.floor((ms % 60_000) / 1000);
  const millis = ms % 1000;
  const fraction = millis === 0 ? '' : `.${String(millis).padStart(3, '0').replace(/0+$/, '')}`;
  return (hours > 0 ? `${hours}h` : '')
    + (minutes > 0 ? `${minutes}m` : '')
    + (seconds > 0 || millis > 0 ? `${seconds}${fraction}s` : '');
}

function parseSizeString(text: string): number {
  const label = JSON.stringify(text);
  const match = SIZE_PATTERN.exec(text);
  const factor = match === null ? undefined : match[3] === '' ? 1n : SIZE_UNITS.get(match[3]);
  if (match === null || factor === undefined) {
    throw new UnitError('size', label, SIZE_SYNTAX);
  }
  const fraction = match[2] ?? '';
  // Exact decimal arithmetic: "1.5Gi" is 15 * 2^30 / 10, with no floating-point rounding.
  const scaled = BigInt(match[1] + fraction) * factor;
  const divisor = 10n ** BigInt(fraction.length);
  if (scaled % divisor !== 0n) {
    throw new UnitError('size', label, 'must come to a whole number of bytes');
  }
  const bytes = scaled / divisor;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw tooManyBytes(label);
  }
  return Number(bytes);
}

function parseDurationString(text: string): number {
  const label = JSON.stringify(text);
  if (text === '0') {
    return 0;
  }
  // The total is numerator / 10^scale nanoseconds, kept exact across terms like "2h45m30.5s".
  let numerator = 0n;
  let scale = 0;
  const terms = new RegExp(DURATION_TERM);
  do {
    const term = terms.exec(text);
    if (term === null) {
      throw new UnitError('duration', label, DURATION_SYNTAX);
    }
    const [whole, fraction = ''] = term[1].split('.');
    if (fraction.length > scale) {
      numerator *= 10n ** BigInt(fraction.length - scale);
      scale = fraction.length;
    }
    // The pattern only matches units that are in the map.
    const unitNs = DURATION_UNITS_NS.get(term[2]) as bigint;
    numerator += BigInt(whole + fraction) * unitNs * 10n ** BigInt(scale - fraction.length);
  } while (terms.lastIndex < text.length);
  const perMs = NANOS_PER_MS * 10n ** BigInt(scale);
  if (numerator % perMs !== 0n) {
    throw new UnitError('duration', label, 'must come to a whole number of milliseconds');
  }
  const ms = numerator / perMs;
  if (ms > BigInt(MAX_DURATION_MS)) {
    throw tooLong(label);
  }
  return Number(ms);
}

function checkSafeCount(value: number, label: string, kind: string, unit: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new UnitError(kind, label, `expected a non-negative safe integer number of ${unit}`);
  }
  return value;
}

function checkMaxDuration(ms: number, label: string): number {
  if (ms > MAX_DURATION_MS) {
    throw tooLong(label);
  }
  return ms;
}

function tooManyBytes(label: string): UnitError {
  return new UnitError('size', label, `must be at most ${Number.MAX_SAFE_INTEGER} bytes`);
}

function tooLong(label: string): UnitError {
  return new UnitError('duration', label, `must be at most "${formatDuration(MAX_DURATION_MS)}", the longest Go duration`);
}

function describeObject(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}
