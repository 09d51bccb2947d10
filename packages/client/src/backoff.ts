/**
 * Reconnect delays: exponential backoff with FULL jitter (AWS Architecture Blog,
 * "Exponential Backoff And Jitter"): `delay = random(0, min(cap, base · 2^attempt))`.
 * Full jitter spreads a crowd of clients that lost the same gateway over the whole window,
 * so they do not come back in waves (the thundering herd).
 */
export interface BackoffOptions {
  /** First window, ms (attempt 0). Default 500. */
  baseMs: number;
  /** Largest window, ms. Default 30 000. */
  capMs: number;
}

export const BACKOFF_DEFAULTS: BackoffOptions = { baseMs: 500, capMs: 30_000 };

/** The window for `attempt` (0, 1, 2, …): `min(cap, base · 2^attempt)`. */
export function backoffWindow(attempt: number, opts: BackoffOptions = BACKOFF_DEFAULTS): number {
  // 2^attempt overflows to Infinity for huge attempts; min() keeps it at the cap.
  return Math.min(opts.capMs, opts.baseMs * 2 ** Math.max(0, attempt));
}

/** A delay drawn uniformly from `[0, window(attempt))`; `random` is injectable for tests. */
export function fullJitter(
  attempt: number,
  opts: BackoffOptions = BACKOFF_DEFAULTS,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * backoffWindow(attempt, opts));
}
