import { PlanItem } from '../../src/apply/plan';
import {
  ItemResult, ReportMode, TERMINATION_MESSAGE_MAX_BYTES, countOutcomes, describeResult, progressLine, summaryTable,
  terminationMessage, terminationSummary,
} from '../../src/apply/report';
import { HOUR_NS, declaredConfig } from './fixtures';

const config = declaredConfig();
const maxAgeChange = { field: 'max_age', from: 6 * HOUR_NS, to: 12 * HOUR_NS };
const ITEMS = {
  create: { action: 'create', name: 'NEW', config },
  update: { action: 'update', name: 'ORDERS', config, changes: [maxAgeChange], adopt: false, after: [] },
  updateTwo: {
    action: 'update', name: 'ORDERS', config, adopt: false, after: [],
    changes: [maxAgeChange, { field: 'subjects', from: ['a'], to: ['a', 'b'] }],
  },
  adoptUpdate: { action: 'update', name: 'LEGACY', config, changes: [maxAgeChange], adopt: true, after: [] },
  unchanged: { action: 'unchanged', name: 'SAME', adopt: false },
  adoptUnchanged: { action: 'unchanged', name: 'LEGACY', adopt: true },
  delete: { action: 'delete', name: 'GONE' },
  orphaned: { action: 'orphaned', name: 'OLD' },
  foreign: { action: 'foreign', name: 'THEIRS' },
  refused: { action: 'refused', name: 'Z', reasons: ['first reason', 'second reason'], changes: [] },
} satisfies Record<string, PlanItem>;

describe('describeResult', () => {
  test.each<[string, ItemResult, ReportMode, string]>([
    ['create', { item: ITEMS.create }, 'apply', 'created NEW'],
    ['create', { item: ITEMS.create }, 'plan', 'create NEW'],
    ['update', { item: ITEMS.update }, 'apply', 'updated ORDERS: max_age 6h -> 12h'],
    ['update', { item: ITEMS.update }, 'plan', 'update ORDERS: max_age 6h -> 12h'],
    ['two changes', { item: ITEMS.updateTwo }, 'apply', 'updated ORDERS: max_age 6h -> 12h; subjects ["a"] -> ["a","b"]'],
    ['adopting update', { item: ITEMS.adoptUpdate }, 'apply', 'updated LEGACY (adopted): max_age 6h -> 12h'],
    ['adopting update', { item: ITEMS.adoptUpdate }, 'plan', 'update LEGACY (adopting): max_age 6h -> 12h'],
    ['unchanged', { item: ITEMS.unchanged }, 'apply', 'unchanged SAME'],
    ['adopting unchanged', { item: ITEMS.adoptUnchanged }, 'apply', 'unchanged LEGACY (adopted)'],
    ['delete', { item: ITEMS.delete }, 'apply', 'deleted GONE'],
    ['delete', { item: ITEMS.delete }, 'plan', 'delete GONE'],
    ['orphaned', { item: ITEMS.orphaned }, 'apply', 'orphaned OLD (kept: retentionPolicy Retain)'],
    ['foreign', { item: ITEMS.foreign }, 'plan', 'foreign THEIRS (not managed, left untouched)'],
    ['refused', { item: ITEMS.refused }, 'apply', 'refused Z: first reason; second reason'],
    ['failed create', { item: ITEMS.create, error: 'insufficient resources' }, 'apply', 'failed to create NEW: insufficient resources'],
    ['failed update', { item: ITEMS.update, error: 'boom' }, 'apply', 'failed to update ORDERS: boom'],
  ])('%s (%s)', (_, result, mode, line) => {
    expect(describeResult(result, mode)).toBe(line);
  });
});

test('progressLine numbers the line', () => {
  expect(progressLine(3, 40, { item: ITEMS.update })).toBe('[3/40] updated ORDERS: max_age 6h -> 12h');
});

describe('countOutcomes', () => {
  test('lists every outcome of the mode, in report order', () => {
    const results = [{ item: ITEMS.create }, { item: ITEMS.create, error: 'x' }, { item: ITEMS.unchanged }];
    expect(countOutcomes(results, 'apply')).toEqual({
      created: 1, updated: 0, unchanged: 1, deleted: 0, orphaned: 0, foreign: 0, refused: 0, failed: 1,
    });
    expect(Object.keys(countOutcomes([], 'plan'))).toEqual(['create', 'update', 'unchanged', 'delete', 'orphaned', 'foreign', 'refused']);
  });
});

describe('summaryTable', () => {
  test('counts the outcomes that occurred, then a row per stream that is not plainly unchanged', () => {
    const results: ItemResult[] = [
      { item: ITEMS.create, error: 'insufficient resources' },
      { item: ITEMS.adoptUnchanged },
      { item: ITEMS.update },
      { item: ITEMS.orphaned },
      { item: ITEMS.unchanged },
      { item: ITEMS.refused },
    ];
    expect(summaryTable(results, 'apply')).toEqual([
      'outcome    streams',
      'updated          1',
      'unchanged        2',
      'orphaned         1',
      'refused          1',
      'failed           1',
      'total            6',
      '',
      'stream  outcome    detail',
      'NEW     failed     insufficient resources',
      'LEGACY  unchanged  adopted',
      'ORDERS  updated    max_age 6h -> 12h',
      'OLD     orphaned   kept: retentionPolicy Retain',
      'Z       refused    first reason; second reason',
    ]);
  });

  test('counts streams and consumers apart once there are consumers, each consumer named after its stream', () => {
    const consumer = (action: 'create' | 'refused', name: string) => ({
      kind: 'consumer' as const, action, name: `ORDERS/${name}`, stream: 'ORDERS', consumer: name, adopt: false, changes: [],
      reasons: action === 'refused' ? ['ack_policy "explicit" -> "all": JetStream cannot change the ack policy of a consumer'] : [],
    });
    expect(summaryTable([{ item: ITEMS.update }, { item: consumer('create', 'audit') }, { item: consumer('refused', 'billing') }, { item: ITEMS.unchanged }], 'apply')).toEqual([
      'outcome    streams  consumers',
      'created          0          1',
      'updated          1          0',
      'unchanged        1          0',
      'refused          0          1',
      'total            2          2',
      '',
      'stream/consumer  outcome  detail',
      'ORDERS           updated  max_age 6h -> 12h',
      'ORDERS/audit     created',
      'ORDERS/billing   refused  ack_policy "explicit" -> "all": JetStream cannot change the ack policy of a consumer',
    ]);
  });

  test('has only counts when everything is unchanged', () => {
    expect(summaryTable([{ item: ITEMS.unchanged }], 'plan')).toEqual(['outcome    streams', 'unchanged        1', 'total            1']);
  });
});

describe('terminationMessage', () => {
  const bytes = (text: string) => Buffer.byteLength(text);

  test('is the summary as JSON', () => {
    const summary = terminationSummary('refused', [{ item: ITEMS.refused }, { item: ITEMS.create }, { item: ITEMS.update, error: 'x' }], 'apply');
    expect(JSON.parse(terminationMessage(summary))).toEqual({
      result: 'refused',
      counts: { created: 1, updated: 0, unchanged: 0, deleted: 0, orphaned: 0, foreign: 0, refused: 1, failed: 1 },
      refused: ['Z'],
      failed: ['ORDERS'],
    });
  });

  test('keeps an error as it is when short', () => {
    const message = terminationMessage({ result: 'failed', counts: {}, refused: [], failed: [], error: 'gave up' });
    expect(message).toBe('{"result":"failed","counts":{},"refused":[],"failed":[],"error":"gave up"}');
  });

  test.each([
    ['1,000 refused names', 1000, 0],
    ['refused and failed names', 600, 700],
    ['failed names only', 0, 2000],
  ])('stays within 4096 bytes with %s, saying how many were left out', (_, refusedCount, failedCount) => {
    const name = (prefix: string, i: number) => `${prefix}-${String(i).padStart(4, '0')}-${'x'.repeat(40)}`;
    const refused = Array.from({ length: refusedCount }, (_unused, i) => name('refused', i));
    const failed = Array.from({ length: failedCount }, (_unused, i) => name('failed', i));
    const message = terminationMessage({ result: 'failed', counts: { refused: refusedCount, failed: failedCount }, refused, failed });
    expect(bytes(message)).toBeLessThanOrEqual(TERMINATION_MESSAGE_MAX_BYTES);
    const parsed = JSON.parse(message);
    expect(parsed.refused).toEqual(refused.slice(0, parsed.refused.length));
    expect(parsed.failed).toEqual(failed.slice(0, parsed.failed.length));
    expect(parsed.refused.length + parsed.omitted.refused).toBe(refusedCount);
    expect(parsed.failed.length + parsed.omitted.failed).toBe(failedCount);
    // As many names as fit: one more name in each list would not.
    const oneMoreEach = 2 * (JSON.stringify(name('refused', 0)).length + 1);
    expect(bytes(message)).toBeGreaterThan(TERMINATION_MESSAGE_MAX_BYTES - oneMoreEach);
  });

  test('truncates a long error', () => {
    const message = terminationMessage({ result: 'failed', counts: {}, refused: [], failed: [], error: 'é'.repeat(5000) });
    expect(bytes(message)).toBeLessThanOrEqual(TERMINATION_MESSAGE_MAX_BYTES);
    expect(JSON.parse(message).error).toMatch(/^é+…$/);
  });
});
