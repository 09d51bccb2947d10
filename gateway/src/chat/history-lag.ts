import type { Logger } from "@natter/config";
import { NatterError } from "@natter/protocol";
import { CHAT_STREAM, CONSUMERS } from "@natter/subjects";
import type { JetStreamManager } from "@nats-io/jetstream";

/** How often the history consumer's backlog is read. */
const CHECK_MS = 2_000;

/**
 * Back-pressure when history falls behind. The chat stream keeps events for its max age
 * only; if the history consumer (the store's writer) were to fall further behind than
 * that, events would leave the stream before the store had them. So a gateway reads the
 * `history` durable's backlog every two seconds and, while it is over `maxLag` events,
 * refuses new sends with 503 `unavailable` (the client retries with the same id): the
 * backlog drains, nothing acked is ever at risk. Reading fails (the durable does not exist
 * yet, NATS is away): no back-pressure, as before.
 */
export class HistoryLag {
  readonly #jsm: JetStreamManager;
  readonly #maxLag: number;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  /** The history durable's backlog when last read (events not yet written). */
  pending = 0;

  constructor(opts: { jsm: JetStreamManager; maxLag: number; logger: Logger; checkMs?: number }) {
    this.#jsm = opts.jsm;
    this.#maxLag = opts.maxLag;
    this.#log = opts.logger;
    this.#timer = setInterval(() => void this.check(), opts.checkMs ?? CHECK_MS);
    this.#timer.unref();
  }

  /** Reads the backlog now. */
  async check(): Promise<void> {
    const was = this.behind;
    try {
      const info = await this.#jsm.consumers.info(CHAT_STREAM, CONSUMERS.history);
      this.pending = info.num_pending + info.num_ack_pending;
    } catch {
      this.pending = 0;
    }
    if (this.behind !== was) {
      this.#log.warn(
        { pending: this.pending, maxLag: this.#maxLag },
        this.behind ? "history is behind: sends refused until it catches up" : "history caught up: sends accepted",
      );
    }
  }

  get behind(): boolean {
    return this.pending > this.#maxLag;
  }

  /** Throws `unavailable` while history is too far behind. */
  admit(): void {
    if (this.behind) {
      throw new NatterError("unavailable", "history is behind; retry with the same id", { retryAfterMs: CHECK_MS });
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
