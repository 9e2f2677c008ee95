/** Resolves after `ms`, or at once when `signal` aborts; the timer never outlives the wait. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/**
 * `attempt`'s result, tried again after each failure until it succeeds, pausing `firstPauseMs`
 * doubled up to `maxPauseMs` (equal for a fixed pause); undefined when `signal` aborted first.
 * Each failure goes to `failed`, for the log.
 */
export async function untilStopped<T>(
  attempt: () => Promise<T>, failed: (error: unknown) => void, signal: AbortSignal, firstPauseMs: number, maxPauseMs = firstPauseMs,
): Promise<T | undefined> {
  // Bounded by signal: every pass succeeds or pauses.
  for (let pause = firstPauseMs; !signal.aborted; pause = Math.min(pause * 2, maxPauseMs)) {
    try {
      return await attempt();
    } catch (error) {
      failed(error);
      await abortableSleep(pause, signal);
    }
  }
  return undefined;
}
