import { OrderedUpdate, circleWording, takersBack, updateWaves } from '../../src/apply/write-order';

describe('updateWaves', () => {
  const update = (name: string, after: string[] = []): OrderedUpdate => ({ name, after });
  const names = (waves: OrderedUpdate[][]) => waves.map((wave) => wave.map((u) => u.name));

  test.each<[string, OrderedUpdate[], string[][]]>([
    ['independent updates in one wave', [update('A'), update('B'), { name: 'C' }], [['A', 'B', 'C']]],
    ['a taker after the giver', [update('A', ['Z']), update('Z')], [['Z'], ['A']]],
    ['a chain in order', [update('A', ['B']), update('B', ['C']), update('C')], [['C'], ['B'], ['A']]],
    ['a giver that is no update: nothing to wait for', [update('A', ['GONE'])], [['A']]],
    ['a swap, which no order makes work, last', [update('A', ['B']), update('B', ['A']), update('C')], [['C'], ['A', 'B']]],
  ])('%s', (_, updates, expected) => {
    expect(names(updateWaves(updates))).toEqual(expected);
  });
});

describe('takersBack', () => {
  test('names the givers on a circle through the update, directly or around it, and none off one', () => {
    const givers = new Map([['A', ['B', 'Z']], ['B', ['A']], ['C', ['D']], ['D', ['E']], ['E', ['C']], ['F', ['C']]]);
    expect(takersBack(givers, 'A')).toEqual(['B']);
    expect(circleWording(givers, 'A', ['B'])).toBe('');
    expect(takersBack(givers, 'C')).toEqual(['D']);
    expect(circleWording(givers, 'C', ['D'])).toBe(' through others');
    // Takes from a circle without being on it; takes from nothing.
    expect(takersBack(givers, 'F')).toEqual([]);
    expect(takersBack(givers, 'Z')).toEqual([]);
  });
});
