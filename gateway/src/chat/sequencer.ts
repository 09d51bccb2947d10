import { chatEventAt, JsPublishError, type JsPublisher, lastChatEvent } from "@natter/bus";
import type { Logger } from "@natter/config";
import { type ChatEvent, type ChatEventPayload, NatterError } from "@natter/protocol";
import type { Store } from "@natter/store";
import { chatSubject, HEADERS, JS_ERR_WRONG_LAST_SEQUENCE } from "@natter/subjects";
import type { JetStreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { GatewayMetrics } from "../metrics.ts";

export interface Published {
  event: ChatEvent;
  /** True when JetStream recognised the message id: this is the original event, not a new one. */
  duplicate: boolean;
}

interface Head {
  n: number;
  seq: number;
}

const MAX_ATTEMPTS = 20;
const MAX_CACHED_HEADS = 50_000;

/**
 * JetStream is the sequencer. Event `n` of a chat is published with
 * `Nats-Expected-Last-Subject-Sequence` = the stream seq of event `n-1`, so the stream
 * accepts exactly one event per position across all gateways. On a conflict (10071) the
 * head is re-read with a direct get and the publish retried. Publishes to one chat are
 * serialized in this process (a promise chain per chat); different chats run in parallel.
 */
export class Sequencer {
  readonly #publisher: JsPublisher;
  readonly #jsm: JetStreamManager;
  readonly #store: Store;
  readonly #metrics: GatewayMetrics;
  readonly #log: Logger;
  readonly #heads = new Map<string, Head>();
  readonly #tails = new Map<string, Promise<unknown>>();

  constructor(opts: {
    /** The lean publisher (one reply subscription), not `js.publish`: see `JsPublisher`. */
    publisher: JsPublisher;
    jsm: JetStreamManager;
    store: Store;
    metrics: GatewayMetrics;
    logger: Logger;
  }) {
    this.#publisher = opts.publisher;
    this.#jsm = opts.jsm;
    this.#store = opts.store;
    this.#metrics = opts.metrics;
    this.#log = opts.logger;
  }

  /**
   * Publishes the next event of `chatId`. `build` receives the position and time and
   * returns the payload; `dedupId` (a `Nats-Msg-Id`) makes retries return the original.
   * `expectEmpty` publishes only if the chat has no event yet (chat creation).
   */
  publish(
    chatId: string,
    build: (n: number, ts: number) => ChatEventPayload,
    opts: { dedupId?: string; expectEmpty?: boolean } = {},
  ): Promise<Published> {
    const prev = this.#tails.get(chatId) ?? Promise.resolve();
    const run = prev.then(
      () => this.#publishNow(chatId, build, opts),
      () => this.#publishNow(chatId, build, opts),
    );
    this.#tails.set(chatId, run);
    // Drop the chain once idle so the map does not grow with every chat ever seen.
    run
      .finally(() => {
        if (this.#tails.get(chatId) === run) this.#tails.delete(chatId);
      })
      .catch(() => {});
    return run;
  }

  async #publishNow(
    chatId: string,
    build: (n: number, ts: number) => ChatEventPayload,
    opts: { dedupId?: string; expectEmpty?: boolean },
  ): Promise<Published> {
    const started = performance.now();
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const head = this.#heads.get(chatId) ?? (await this.#loadHead(chatId));
      if (opts.expectEmpty && head.n > 0) throw new NatterError("conflict", "the chat already exists");
      const n = head.n + 1;
      const payload = build(n, Date.now());
      const h = natsHeaders();
      h.set(HEADERS.n, String(n));
      h.set(HEADERS.kind, payload.kind);
      try {
        const ack = await this.#publisher.publish(chatSubject(chatId), JSON.stringify(payload), {
          headers: h,
          expectLastSubjectSequence: head.seq,
          ...(opts.dedupId ? { msgId: opts.dedupId } : {}),
          timeoutMs: 5000,
        });
        this.#metrics.publishLatency.observe((performance.now() - started) / 1000);
        if (ack.duplicate) {
          // The original is in the stream (the dedup window is far shorter than max age).
          this.#heads.delete(chatId);
          const original = await chatEventAt(this.#jsm, ack.seq);
          if (!original) throw new NatterError("unavailable", "the original message is no longer in the stream");
          this.#metrics.publishes.inc({ kind: payload.kind, outcome: "duplicate" });
          return { event: original, duplicate: true };
        }
        this.#rememberHead(chatId, { n, seq: ack.seq });
        this.#metrics.publishes.inc({ kind: payload.kind, outcome: "ok" });
        return { event: { ...payload, seq: ack.seq } as ChatEvent, duplicate: false };
      } catch (err) {
        if (err instanceof JsPublishError && err.errCode === JS_ERR_WRONG_LAST_SEQUENCE) {
          this.#metrics.conflicts.inc();
          this.#heads.delete(chatId);
          continue;
        }
        if (err instanceof NatterError) throw err;
        this.#heads.delete(chatId);
        this.#log.error({ err, chatId }, "publish failed");
        throw new NatterError("unavailable", "could not publish the event; retry with the same id", { cause: err });
      }
    }
    throw new NatterError("unavailable", "the chat is too contended right now; retry with the same id");
  }

  /**
   * The chat's head: its last event in the stream (direct get), else, when the stream has
   * aged every event of the chat out, the last `n` from the history store with expected
   * subject sequence 0 ("no message on this subject").
   */
  async #loadHead(chatId: string): Promise<Head> {
    const last = await lastChatEvent(this.#jsm, chatId);
    if (last) return { n: last.n, seq: last.seq };
    const stored = await this.#store.getChatHead(chatId);
    return { n: stored?.lastN ?? 0, seq: 0 };
  }

  #rememberHead(chatId: string, head: Head): void {
    if (this.#heads.size >= MAX_CACHED_HEADS) {
      const oldest = this.#heads.keys().next().value;
      if (oldest !== undefined) this.#heads.delete(oldest);
    }
    this.#heads.delete(chatId);
    this.#heads.set(chatId, head);
  }
}
