import { CLOSE_CODES, closeReason, type ErrorFrame, type NatterError, type ServerFrame } from "@natter/protocol";
import type { WebSocket } from "ws";
import type { GatewayMetrics } from "../metrics.ts";

/** What a transport needs from its gateway: one object shared by every socket. */
export interface TransportDeps {
  metrics: GatewayMetrics;
  /** Bytes the socket may have queued for the client; beyond it the client is a slow consumer (4009). */
  maxBufferedBytes: number;
  /** How long `drained()` waits for the client to read before 4009. */
  drainTimeoutMs: number;
}

/** Who hears that the socket closed (the `Connection`: itself, not a closure per socket). */
export interface TransportOwner {
  transportClosed(): void;
}

/**
 * The I/O of one WebSocket, and nothing else: frames out with a bounded send buffer
 * (a client that lets it fill is closed as a slow consumer), writes of one tick corked
 * into one system call, waiting for the client to read, closes with the reason of the
 * close-code table, and the heartbeat's liveness flag. Authentication and what frames
 * mean are the `Connection`'s.
 */
export class Transport {
  readonly #ws: WebSocket;
  readonly #deps: TransportDeps;
  readonly #owner: TransportOwner;
  #corked = false;
  /** Heard from since the last ping: a frame or a pong. */
  alive = true;

  /** `owner.transportClosed()` runs on our close and on the peer's (the owner makes it idempotent). */
  constructor(ws: WebSocket, deps: TransportDeps, owner: TransportOwner) {
    this.#ws = ws;
    this.#deps = deps;
    this.#owner = owner;
  }

  get open(): boolean {
    return this.#ws.readyState === this.#ws.OPEN;
  }

  get closing(): boolean {
    return this.#ws.readyState >= this.#ws.CLOSING;
  }

  /** Writes a frame unless the socket is gone; false if it is, or if it was just closed as a slow consumer. */
  send(frame: ServerFrame): boolean {
    if (this.#ws.readyState !== this.#ws.OPEN) return false;
    if (this.#ws.bufferedAmount > this.#deps.maxBufferedBytes) {
      this.close(CLOSE_CODES.slowConsumer);
      return false;
    }
    this.#cork();
    this.#ws.send(JSON.stringify(frame));
    this.#deps.metrics.wsFramesOut.inc({ type: frame.type });
    return true;
  }

  /** An `error` frame for `err`, echoing `ref`, naming `chat` (a `sync` error). */
  sendError(err: NatterError, ref: string | undefined, chat?: string): void {
    this.#deps.metrics.errors.inc({ code: err.code, via: "ws" });
    const frame: ErrorFrame = {
      type: "error",
      ...(ref === undefined ? {} : { ref }),
      code: err.code,
      message: err.message,
      ...(err.field === undefined ? {} : { field: err.field }),
      ...(chat === undefined ? {} : { chat }),
      ...(err.retryAfterMs === undefined ? {} : { retryAfterMs: err.retryAfterMs }),
    };
    this.send(frame);
  }

  /** Closes with `code` and its reason (idempotent); a peer that does not finish the close handshake is cut after 1 s. */
  close(code: number): void {
    if (this.closing) return;
    const { metrics } = this.#deps;
    metrics.wsCloses.inc({ code: String(code) });
    if (code === CLOSE_CODES.slowConsumer) metrics.slowConsumerCloses.inc();
    this.#ws.close(code, closeReason(code));
    setTimeout(() => this.#ws.terminate(), 1000).unref();
    this.#owner.transportClosed();
  }

  /** The peer closed (or the connection dropped): counted, then the same teardown as ours. */
  closedByPeer(code: number): void {
    this.#deps.metrics.wsCloses.inc({ code: String(code) });
    this.#owner.transportClosed();
  }

  /** Waits (bounded) until the client has read enough of a replay to send the next page. */
  async drained(): Promise<boolean> {
    const low = this.#deps.maxBufferedBytes / 4;
    const deadline = Date.now() + this.#deps.drainTimeoutMs;
    while (this.#ws.readyState === this.#ws.OPEN && this.#ws.bufferedAmount > low) {
      if (Date.now() > deadline) {
        this.close(CLOSE_CODES.slowConsumer);
        return false;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.#ws.readyState === this.#ws.OPEN;
  }

  /** One heartbeat: a peer silent since the last one is closed (4010), else pinged. */
  beat(): void {
    if (!this.alive) {
      this.close(CLOSE_CODES.idleTimeout);
      return;
    }
    this.alive = false;
    try {
      this.#ws.ping();
    } catch {
      // Closing already.
    }
  }

  /** Stops reading the socket (TCP backpressure on a client with too many frames in flight). */
  pause(): void {
    this.#ws.pause();
  }

  resume(): void {
    if (this.#ws.isPaused) this.#ws.resume();
  }

  get paused(): boolean {
    return this.#ws.isPaused;
  }

  /**
   * Holds the TCP socket's writes until the end of this tick, so the frames one burst of
   * events produces leave in one write system call rather than one each. `ws` keeps the
   * TCP socket in a private field; without it (a test double), writes are not corked.
   */
  #cork(): void {
    if (this.#corked) return;
    const raw = (this.#ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (!raw) return;
    this.#corked = true;
    raw.cork();
    process.nextTick(() => {
      this.#corked = false;
      raw.uncork();
    });
  }
}
