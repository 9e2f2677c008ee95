import { LIST_PAGE_SIZE, firstPageOffsets, followUpPages, listChange } from '../../src/apply/list-pages';

describe('firstPageOffsets', () => {
  test.each([
    [0, [0]],
    [1, [0]],
    [256, [0]],
    [257, [0, 256]],
    [1002, [0, 256, 512, 768]],
  ])('%i entries expected: pages at %j', (expected, offsets) => {
    expect(firstPageOffsets(expected)).toEqual(offsets);
  });
});

describe('followUpPages', () => {
  test('pages of the size guessed are all kept; what the total adds beyond them is asked for', () => {
    expect(LIST_PAGE_SIZE).toBe(256);
    expect(followUpPages(4, 256, 1002)).toEqual({ kept: 4, offsets: [] });
    expect(followUpPages(2, 256, 600)).toEqual({ kept: 2, offsets: [512] });
    expect(followUpPages(1, 256, 1002)).toEqual({ kept: 1, offsets: [256, 512, 768] });
    // Fewer than expected: the pages beyond the total came back empty and are kept as such.
    expect(followUpPages(2, 256, 100)).toEqual({ kept: 2, offsets: [] });
  });

  test('pages of another size would overlap or leave gaps: only the first is kept, and the rest asked for by that size', () => {
    expect(followUpPages(4, 100, 350)).toEqual({ kept: 1, offsets: [100, 200, 300] });
    expect(followUpPages(4, 1024, 3000)).toEqual({ kept: 1, offsets: [1024, 2048] });
    expect(followUpPages(2, 0, 5)).toEqual({ kept: 1, offsets: [] });
  });
});

describe('listChange', () => {
  test('one state: every page counted the same total, and the names are that many, each once', () => {
    expect(listChange([3, 3], ['a', 'b', 'c'])).toBeUndefined();
    expect(listChange([0], [])).toBeUndefined();
  });

  test('a stream created or deleted between two pages shows', () => {
    expect(listChange([300, 299], ['a'])).toBe('its pages counted 300, 299 entries');
    expect(listChange([3, 3], ['a', 'b', 'b'])).toBe('1 of its 3 entries came twice');
    expect(listChange([3, 3], ['a', 'b'])).toBe('it held 2 entries of the 3 counted');
  });
});
