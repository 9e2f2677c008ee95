import { DeclaredStream } from '../../src/apply/definitions';
import {
  decodeOwnership, describeOwnershipChange, encodeOwnership, intendedOwnership, ownershipAfterWrites, sameOwnership,
} from '../../src/apply/ownership';
import { ManagedEntry } from '../../src/apply/managed';
import { Plan } from '../../src/apply/plan';
import { declaredConfig } from './fixtures';

const RETAIN: ManagedEntry = { retentionPolicy: 'Retain' };
const DELETE: ManagedEntry = { retentionPolicy: 'Delete' };

function declared(name: string, retentionPolicy: 'Retain' | 'Delete'): DeclaredStream {
  return { config: declaredConfig({ name, subjects: [`${name}.>`] }), retentionPolicy, allowDataLoss: false, adopt: false, allowSeal: false, consumers: [] };
}

describe('intendedOwnership', () => {
  const config = declaredConfig();
  const plan: Plan = {
    items: [
      { action: 'create', name: 'new', config },
      { action: 'update', name: 'changed', config, changes: [], adopt: false, after: [] },
      { action: 'unchanged', name: 'adopted', adopt: true },
      { action: 'unchanged', name: 'same', adopt: false },
      { action: 'refused', name: 'refused-managed', reasons: ['r'], changes: [] },
      { action: 'refused', name: 'refused-foreign', reasons: ['r'], changes: [] },
      { action: 'delete', name: 'removed-delete' },
      { action: 'orphaned', name: 'removed-retain' },
      { action: 'foreign', name: 'theirs' },
    ],
  };
  const app = ['new', 'changed', 'adopted', 'same', 'refused-managed', 'refused-foreign'].map((name) => declared(name, 'Delete'));
  const managed = new Map<string, ManagedEntry>([
    ['changed', RETAIN], ['same', DELETE], ['refused-managed', RETAIN],
    ['removed-delete', DELETE], ['removed-retain', RETAIN], ['vanished', DELETE],
  ]);

  test('records created, managed and adopted streams with their declared policy, and keeps the removed until deleted', () => {
    expect(intendedOwnership(plan, app, managed)).toEqual(new Map([
      ['new', DELETE], ['changed', DELETE], ['adopted', DELETE], ['same', DELETE], ['refused-managed', DELETE],
      ['removed-delete', DELETE], ['removed-retain', RETAIN],
    ]));
  });

  const resultOf = (name: string) => plan.items.find((item) => item.name === name) as Plan['items'][number];

  test('drops deleted streams afterwards, and keeps one whose delete failed', () => {
    const after = ownershipAfterWrites(intendedOwnership(plan, app, managed), [
      { item: resultOf('removed-delete') }, { item: resultOf('new') }, { item: resultOf('changed'), error: 'e', rejected: true },
    ]);
    expect([...after.keys()]).toEqual(['new', 'changed', 'adopted', 'same', 'refused-managed', 'removed-retain']);
    const failedDelete = ownershipAfterWrites(intendedOwnership(plan, app, managed), [{ item: resultOf('removed-delete'), error: 'e', rejected: true }]);
    expect(failedDelete.has('removed-delete')).toBe(true);
  });

  test('drops a create the server refused, and keeps one whose outcome is unknown', () => {
    const intended = intendedOwnership(plan, app, managed);
    expect(ownershipAfterWrites(intended, [{ item: resultOf('new'), error: 'subjects overlap', rejected: true }]).has('new')).toBe(false);
    expect(ownershipAfterWrites(intended, [{ item: resultOf('new'), error: 'lost the connection', rejected: false }]).has('new')).toBe(true);
  });
});

describe('sameOwnership', () => {
  test.each<[string, Array<[string, ManagedEntry]>, Array<[string, ManagedEntry]>, boolean]>([
    ['empty', [], [], true],
    ['same streams in another order', [['a', RETAIN], ['b', DELETE]], [['b', DELETE], ['a', RETAIN]], true],
    ['a policy changed', [['a', RETAIN]], [['a', DELETE]], false],
    ['a stream added', [['a', RETAIN]], [['a', RETAIN], ['b', RETAIN]], false],
    ['a stream replaced', [['a', RETAIN]], [['b', RETAIN]], false],
  ])('%s', (_, a, b, same) => {
    expect(sameOwnership(new Map(a), new Map(b))).toBe(same);
  });
});

test('describeOwnershipChange counts only what changes', () => {
  const before = new Map([['a', RETAIN], ['b', RETAIN], ['c', RETAIN]]);
  const after = new Map([['a', DELETE], ['c', RETAIN], ['d', RETAIN], ['e', DELETE]]);
  const record = (managed: Map<string, ManagedEntry>, generation = 0) => ({ managed, applied: { generation } });
  expect(describeOwnershipChange(record(before), record(after))).toBe('2 added, 1 removed, 1 policy changed');
  expect(describeOwnershipChange(record(new Map()), record(new Map([['a', RETAIN]])))).toBe('1 added');
  expect(describeOwnershipChange(record(before, 2), record(before, 3))).toBe('generation 2 -> 3');
});

describe('ownership record value', () => {
  test('is the documented JSON, names sorted, and reads back', () => {
    const content = { managed: new Map([['ORDERS', RETAIN], ['AUDIT', DELETE]]), applied: { generation: 3, digest: 'ab12' } };
    const text = encodeOwnership(content);
    expect(text).toBe('{"generation":3,"digest":"ab12","streams":{"AUDIT":{"retentionPolicy":"Delete"},"ORDERS":{"retentionPolicy":"Retain"}}}');
    expect(decodeOwnership(text, 'record')).toEqual(content);
  });

  test('written before generations, it reads as generation 0 without a digest', () => {
    expect(decodeOwnership('{"streams":{"A":{"retentionPolicy":"Retain"}}}', 'record'))
      .toEqual({ managed: new Map([['A', RETAIN]]), applied: { generation: 0, digest: undefined } });
  });

  test.each([
    ['not JSON', '{', 'record is not JSON: '],
    ['without streams', '{"stream":{}}', 'record has no "streams" object: "{\\"stream\\":{}}"'],
    ['with streams as a list', '{"streams":[]}', 'record has no "streams" object'],
    ['with an unknown policy', '{"streams":{"A":{"retentionPolicy":"Keep"}}}', 'record: stream "A" has retentionPolicy "Keep"; expected "Retain" or "Delete"'],
    ['with an entry that is no object', '{"streams":{"A":null}}', 'record: stream "A" has retentionPolicy undefined'],
    ['with a generation that is no whole number', '{"generation":1.5,"streams":{}}', 'record has generation 1.5; expected a whole number'],
  ])('fails %s', (_, text, message) => {
    expect(() => decodeOwnership(text, 'record')).toThrow(message);
  });
});
