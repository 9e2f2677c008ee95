/**
 * Which of two streams documents of one store is newer. Synth numbers a store's definitions: the
 * first synthesis is generation 0, and each synthesis whose definitions differ from the previous
 * one's (read from the committed output) takes the next number. A rollback is a change like any
 * other, so it gets a new, higher generation. The ownership record keeps the generation and digest
 * last applied, and a run applies only definitions at least as new.
 */

/** The definitions a run carries, or the ones a store's ownership record says were last applied. */
export interface DefinitionsVersion {
  /** 0 when the synthesis had no previous output to count from (and for documents of older synths). */
  readonly generation: number;
  /** {@link streamsDigest} of the definitions files; unknown for a record written before generations. */
  readonly digest?: string;
}

/**
 * Why a run must not apply its definitions over what the store last applied, or undefined when it
 * may: older definitions never replace newer ones, and two different definitions of one numbered
 * generation cannot be ordered. Generation 0 is unnumbered: it replaces only generation 0. Pure.
 */
export function staleReason(run: DefinitionsVersion, applied: DefinitionsVersion): string | undefined {
  if (run.generation < applied.generation) {
    return `these definitions are generation ${run.generation}, older than generation ${applied.generation}, which was applied already`
      + (run.generation === 0
        ? ': they were synthesized without the previous output to count from; synthesize again with the committed output '
          + '(git) or JETSTREAM_CDK8S_PREVIOUS naming the deployed manifests'
        : ': a newer Job applies newer definitions');
  }
  if (run.generation > 0 && run.generation === applied.generation && applied.digest !== undefined && run.digest !== applied.digest) {
    return `generation ${run.generation} was applied with other definitions (digest ${applied.digest.slice(0, 12)}, these are `
      + `${(run.digest ?? '').slice(0, 12)}): two syntheses numbered the same generation; synthesize again from the committed output`;
  }
  return undefined;
}
