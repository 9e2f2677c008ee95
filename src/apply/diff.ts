import { showValue } from '../problems';
import { DURATION_FIELDS, type JetStreamStreamConfig } from '../stream-definition';
import { formatBytes, formatNanoseconds } from '../units';
import type { JetStreamConsumerConfig } from '../consumer-options';
import { CONSUMER_DURATION_FIELDS } from '../consumer-options';
import {
  CONSUMER_FIELDS, MANAGED_FIELDS, MANAGED_FIELD_LIST, NormalizedConsumerConfig, NormalizedStreamConfig, canonicalConsumerValue, canonicalValue, serverMayChoose,
} from './normalize';

/** One field whose server value differs from the declared one. */
export interface FieldChange {
  /** JetStream API field name, such as `max_age`. */
  readonly field: string;
  /** The server's current value; `undefined` when unset. */
  readonly from: unknown;
  /** The declared value; `undefined` when unset. */
  readonly to: unknown;
}

/** Limits where -1 means "no limit". */
const COUNT_LIMITS: ReadonlySet<string> = new Set(['max_consumers', 'max_msgs', 'max_msgs_per_subject', 'max_bytes', 'max_msg_size']);
const BYTE_FIELDS: ReadonlySet<string> = new Set(['max_bytes', 'max_msg_size']);
const NANOSECOND_FIELDS: ReadonlySet<string> = new Set([...DURATION_FIELDS, ...CONSUMER_DURATION_FIELDS]);

/**
 * Every field whose declared value differs from the server's, sorted by field name.
 *
 * Compares every field of the desired configuration type (a field left unset on either side
 * takes the server's default), every extra field the desired configuration carries, and every
 * setting the normalized server configuration holds beyond them: the update sends the full
 * desired configuration, so such a setting would be cleared and must show in the plan.
 *
 * @param desired the declared configuration
 * @param current the server's configuration, as {@link normalizeServerConfig} returns it
 */
export function diffStreamConfig(desired: JetStreamStreamConfig, current: NormalizedStreamConfig): FieldChange[] {
  const wanted = desired as unknown as Record<string, unknown>;
  const changes: FieldChange[] = [];
  const compare = (field: string) => {
    // The same value on both sides is the same canonical value: most fields of an unchanged stream.
    if (current[field] === wanted[field] || (wanted[field] === undefined && serverMayChoose(field, current[field]))) return;
    const from = canonicalValue(field, current[field]);
    const to = canonicalValue(field, wanted[field]);
    const same = field === 'subjects' ? sameSet(from, to) : deepEqual(from, to);
    if (!same) changes.push({ field, from, to });
  };
  // Each field once, in plain loops: an unchanged re-apply diffs every declared stream, and this runs cold.
  for (const field of MANAGED_FIELD_LIST) compare(field);
  for (const field in wanted) if (!MANAGED_FIELDS.has(field)) compare(field);
  for (const field in current) if (!MANAGED_FIELDS.has(field) && !Object.prototype.hasOwnProperty.call(wanted, field)) compare(field);
  return changes.sort((a, b) => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0));
}

/** Every compared field whose declared consumer value differs from the server's, sorted by field name. */
export function diffConsumerConfig(desired: JetStreamConsumerConfig, current: NormalizedConsumerConfig): FieldChange[] {
  const wanted = desired as unknown as Record<string, unknown>;
  const changes: FieldChange[] = [];
  for (const field of [...CONSUMER_FIELDS].sort()) {
    const from = current[field];
    const to = canonicalConsumerValue(field, wanted[field]);
    if (!deepEqual(from, to)) changes.push({ field, from, to });
  }
  return changes;
}

/** Renders a change for people: `max_age 6h -> 12h`, `max_bytes 1GiB -> 2GiB`, `storage "file" -> "memory"`. */
export function formatChange(change: FieldChange): string {
  return `${change.field} ${formatFieldValue(change.field, change.from)} -> ${formatFieldValue(change.field, change.to)}`;
}

/** Renders one value of a field in its unit: Go durations, byte sizes, "unlimited", else JSON. */
export function formatFieldValue(field: string, value: unknown): string {
  if (Array.isArray(value) && NANOSECOND_FIELDS.has(field)) return `[${value.map((v) => formatFieldValue(field, v)).join(', ')}]`;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) {
    if (field === 'max_age' && value === 0) return 'unlimited';
    if (NANOSECOND_FIELDS.has(field)) return formatNanoseconds(value);
    if (BYTE_FIELDS.has(field)) return formatBytes(value);
  }
  if (COUNT_LIMITS.has(field) && value === -1) return 'unlimited';
  return showValue(value);
}

/** Subject lists are sets to JetStream: order and repeats do not matter. */
function sameSet(a: unknown, b: unknown): boolean {
  if (!Array.isArray(a) || !Array.isArray(b)) return deepEqual(a, b);
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((item) => right.has(item));
}

/** Structural equality where object key order does not matter (metadata is a map) but array order does. */
function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left);
  return keys.length === Object.keys(right).length
    && keys.every((key) => Object.prototype.hasOwnProperty.call(right, key) && deepEqual(left[key], right[key]));
}
