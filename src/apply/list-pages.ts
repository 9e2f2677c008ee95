/**
 * How the program reads the JetStream API's paged lists (`$JS.API.STREAM.LIST`,
 * `$JS.API.CONSUMER.LIST.<stream>`): which pages to ask for, and whether the pages read make one
 * state of the server. Pure; `nats-io.ts` sends the requests.
 */

/** The entries of a page of the JetStream API's lists, on every release (the server's JSApiListLimit). */
export const LIST_PAGE_SIZE = 256;

/** Offsets from `from` below `total`, `size` apart; none when `size` is not positive. */
function offsetsBelow(from: number, size: number, total: number): number[] {
  const offsets: number[] = [];
  for (let offset = from; size > 0 && offset < total; offset += size) offsets.push(offset);
  return offsets;
}

/** The pages asked for at once, before any answer: the first, and every other page `expected` entries fill. */
export function firstPageOffsets(expected: number): number[] {
  return [0, ...offsetsBelow(LIST_PAGE_SIZE, LIST_PAGE_SIZE, expected)];
}

/**
 * Once the first page gave the server's page size (`limit`) and the list's `total`: how many of the
 * `asked` pages to keep, and the offsets still to ask for. Pages of another size than guessed would
 * overlap or leave gaps, so then only the first is kept.
 */
export function followUpPages(asked: number, limit: number, total: number): { readonly kept: number; readonly offsets: number[] } {
  const kept = limit === LIST_PAGE_SIZE ? asked : 1;
  return { kept, offsets: offsetsBelow(limit * kept, limit, total) };
}

/**
 * Why the entries read page by page are not one state of the server, or undefined when they are: a
 * stream or consumer created or deleted between two pages changes the totals the pages count, and
 * shifts the others, so that one is read twice or not at all.
 *
 * @param totals the total each page counted
 * @param names the names of the entries of every page, in order
 */
export function listChange(totals: readonly number[], names: readonly string[]): string | undefined {
  const counted = [...new Set(totals)];
  if (counted.length > 1) return `its pages counted ${counted.join(', ')} entries`;
  const distinct = new Set(names).size;
  if (distinct < names.length) return `${names.length - distinct} of its ${names.length} entries came twice`;
  if (names.length !== counted[0]) return `it held ${names.length} entries of the ${counted[0]} counted`;
  return undefined;
}
