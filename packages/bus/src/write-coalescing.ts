import type { NatsConnection } from "@nats-io/transport-node";

/** The part of nats.js's protocol handler this touches (nats-core `ProtocolHandler`). */
interface Protocol {
  flushPending(): void;
  close(err?: Error): Promise<void>;
  outbound: { size(): number };
  pendingLimit: number;
}

/**
 * Makes the connection write what it has queued once per turn of the event loop instead of
 * once per microtask checkpoint. nats.js flushes its outbound buffer in a microtask queued
 * by the first command after a flush; a gateway's publishes each start from a different
 * socket's `data` callback, and Node drains microtasks after every callback, so each send
 * cost one `write` system call to nats-server. Deferred to `setImmediate`, every publish
 * made while the poll phase handles the sockets that are readable together leaves in one
 * write (and nats-server reads them in one). The added delay is the rest of that poll
 * phase. Past nats.js's own threshold (32 KiB queued) it writes at once, as nats.js does.
 *
 * It replaces `flushPending` and `close` on the connection's protocol handler, which lives as long as
 * the connection (reconnects included). A nats.js without that shape is left as it is.
 */
export function coalesceWrites(nc: NatsConnection): boolean {
  const protocol = (nc as unknown as { protocol?: Partial<Protocol> }).protocol;
  if (
    !protocol ||
    typeof protocol.flushPending !== "function" ||
    typeof protocol.close !== "function" ||
    typeof protocol.outbound?.size !== "function" ||
    typeof protocol.pendingLimit !== "number"
  ) {
    return false;
  }
  const p = protocol as Protocol;
  const flushNow = p.flushPending.bind(p);
  let scheduled = false;
  p.flushPending = () => {
    if (p.outbound.size() >= p.pendingLimit) return flushNow();
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      flushNow();
    });
  };
  // nats.js closes without a flush of its own (its microtask had always run by then): what
  // is queued goes first, so a publish right before `close()` is not lost.
  const closeNow = p.close.bind(p);
  p.close = (err?: Error) => {
    flushNow();
    return closeNow(err);
  };
  return true;
}
