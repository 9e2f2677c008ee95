/**
 * The order of updates that move subjects: between streams (their subjects) and between the
 * consumers of a work-queue stream (their filters). The server refuses a write whose subjects
 * another still holds, so the one giving them up is written first. Pure.
 */

/** An update that may have to wait for others: `after` names the updates that give up what it takes. */
export interface OrderedUpdate {
  readonly name: string;
  readonly after?: readonly string[];
}

/**
 * The updates in the order they are written, as waves: each update comes in a wave after those of
 * the updates it takes from. Updates that take from each other, which the plans refuse, cannot be
 * ordered: given some, they come in the last wave.
 */
export function updateWaves<T extends OrderedUpdate>(updates: readonly T[]): T[][] {
  const waves: T[][] = [];
  const written = new Set<string>();
  const names = new Set(updates.map((u) => u.name));
  let left = [...updates];
  while (left.length > 0) {
    const ready = left.filter((u) => (u.after ?? []).every((name) => written.has(name) || !names.has(name)));
    const wave = ready.length > 0 ? ready : left;
    waves.push(wave);
    for (const u of wave) written.add(u.name);
    left = left.filter((u) => !written.has(u.name));
  }
  return waves;
}

/**
 * Of the updates `name` takes from (`givers`: each update's), those that take from it in turn,
 * directly or through others: an update on such a circle waits for one that waits for it.
 */
export function takersBack(givers: ReadonlyMap<string, readonly string[]>, name: string): string[] {
  const reaches = (from: string): boolean => {
    const seen = new Set<string>();
    const stack = [from];
    while (stack.length > 0) {
      const next = stack.pop() as string;
      if (next === name) return true;
      if (seen.has(next)) continue;
      seen.add(next);
      stack.push(...(givers.get(next) ?? []));
    }
    return false;
  };
  return (givers.get(name) ?? []).filter(reaches).sort();
}

/** Says how a circle's member takes from `circle`: directly, or through others too. */
export function circleWording(givers: ReadonlyMap<string, readonly string[]>, name: string, circle: readonly string[]): string {
  return circle.some((giver) => !(givers.get(giver) ?? []).includes(name)) ? ' through others' : '';
}
