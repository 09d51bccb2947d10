/**
 * When the accept path's batched NATS work runs (subscriptions and their flush, the heads
 * syncs ask for, presence writes): at the end of a short window rather than of each turn of
 * the event loop. Under a burst of connections a turn of the loop holds the work of one or
 * two sockets, so batching per turn still wrote to the server several times per socket;
 * a window of a millisecond collects the sockets of several turns into one write and one
 * round trip, for at most that millisecond of latency on a socket's way to `ready`.
 */
export const BATCH_WINDOW_MS = 1;

/** Runs `fn` once the current batching window closes. */
export function atWindowEnd(fn: () => void): void {
  setTimeout(fn, BATCH_WINDOW_MS);
}
