import { ChatLog, isWrongLastSequence, JsApiCodes, JsPublishError, type JsPublisher } from "@natter/bus";
import { setNewest } from "@natter/collections";
import type { Logger } from "@natter/config";
import { applyMembership, type ChatEvent, type ChatEventPayload, homeOf, NatterError } from "@natter/protocol";
import type { Store } from "@natter/store";
import { CHAT_STREAM, chatSubject, HEADERS } from "@natter/subjects";
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

type Build = (n: number, ts: number) => ChatEventPayload;
type PublishOpts = {
  dedupId?: string;
  expectEmpty?: boolean;
  /** Publish only if this user is an active member as of the event right before the new one (G3). */
  sender?: string;
};

/** The sender is not an active member as of the chat's head: nothing was published. */
export class NotMemberError extends Error {
  override name = "NotMemberError";
}

/** A chat's active members as of the event at stream seq `seq`. */
interface MembersAt {
  seq: number;
  ids: Set<string>;
}

/** A publish waiting in its chat's queue. */
interface Request {
  build: Build;
  opts: PublishOpts;
  resolve(p: Published): void;
  reject(err: unknown): void;
}

const MAX_ATTEMPTS = 20;
const MAX_CACHED_HEADS = 50_000;
const PUBLISH_TIMEOUT_MS = 5000;

/**
 * JetStream is the sequencer. Event `n` of a chat is published with
 * `Nats-Expected-Last-Subject-Sequence` = the stream seq of event `n-1`, so the stream
 * accepts exactly one event per position across all gateways. On a conflict (10071) the
 * head is re-read with a direct get and the publish retried. Publishes to one chat are
 * serialized in this process (a queue per chat); different chats run in parallel.
 *
 * Group commit: the sends that queue up for a chat while its publish is in flight go
 * together as one atomic batch (nats-server 2.12+, `allow_atomic` on the stream): the
 * expectation on the first holds for all, the server stores all with consecutive
 * sequences or none, and one PubAck answers them. A busy chat then costs one round trip
 * per batch, not per message. Only on a replicated stream: nats-server stages an R1
 * stream's batch on disk before the commit, so there a batch costs many single
 * publishes, while on R3 it costs about what one publish does (figures and the command
 * that measures them: BENCHMARKS.md, "Group commit").
 */
export class Sequencer {
  readonly #publisher: JsPublisher;
  readonly #jsm: JetStreamManager;
  /** Heads, members as of a head, and events read back: the chat log over stream and store. */
  readonly #chatLog: ChatLog;
  readonly #metrics: GatewayMetrics;
  readonly #log: Logger;
  readonly #maxBatch: number;
  readonly #heads = new Map<string, Head>();
  /**
   * Members as of a chat's cached head, for the send check: exact in log order, because a
   * publish succeeds only at the head the members are known for (any event in between, a
   * removal included, fails it with 10071 and the members are worked out again).
   */
  readonly #members = new Map<string, MembersAt>();
  /** Chats with publishes queued or in flight; the entry goes when its queue drains. */
  readonly #queues = new Map<string, Request[]>();
  /** Whether the chat stream takes atomic batches (asked once; a failed answer is asked again). */
  #atomic: Promise<boolean> | undefined;

  constructor(opts: {
    /** The lean publisher (one reply subscription), not `js.publish`: see `JsPublisher`. */
    publisher: JsPublisher;
    jsm: JetStreamManager;
    store: Store;
    metrics: GatewayMetrics;
    logger: Logger;
    /** Most queued events of one chat published as one atomic batch (replicated streams only); 1 turns batching off. Default 64. */
    maxBatch?: number;
    /**
     * Edge sites: this gateway's site. Only chats homed here are sequenced here; a chat homed
     * elsewhere on this domain's `CHATS` would get a second, diverging order (G4).
     */
    site?: string;
  }) {
    this.#publisher = opts.publisher;
    this.#jsm = opts.jsm;
    this.#chatLog = new ChatLog(opts.jsm, opts.store);
    this.#metrics = opts.metrics;
    this.#log = opts.logger;
    this.#maxBatch = opts.maxBatch ?? 64;
    this.#site = opts.site;
  }

  readonly #site: string | undefined;

  /**
   * Publishes the next event of `chatId`. `build` receives the position and time and
   * returns the payload; `dedupId` (a `Nats-Msg-Id`) makes retries return the original.
   * `expectEmpty` publishes only if the chat has no event yet (chat creation).
   */
  publish(chatId: string, build: Build, opts: PublishOpts = {}): Promise<Published> {
    if (this.#site !== undefined && homeOf(chatId) !== this.#site) {
      return Promise.reject(
        new NatterError("forbidden", `chat ${chatId} is homed at ${homeOf(chatId)}: it is sequenced there`),
      );
    }
    return new Promise<Published>((resolve, reject) => {
      const request: Request = { build, opts, resolve, reject };
      const queue = this.#queues.get(chatId);
      if (queue) {
        queue.push(request);
        return;
      }
      this.#queues.set(chatId, [request]);
      void this.#drain(chatId);
    });
  }

  /** Publishes the chat's queue in order, batching what waits, until it is empty. */
  async #drain(chatId: string): Promise<void> {
    const queue = this.#queues.get(chatId)!;
    while (queue.length > 0) {
      // A chat creation ("no event yet") goes alone, and so does everything when batching is off.
      let take = 1;
      if (queue.length > 1 && !queue[0]!.opts.expectEmpty && (await this.#atomicAllowed())) {
        const most = Math.min(queue.length, this.#maxBatch);
        while (take < most && !queue[take]!.opts.expectEmpty) take++;
      }
      const batch = queue.splice(0, take);
      if (batch.length === 1) await this.#publishOne(chatId, batch[0]!);
      else await this.#publishBatch(chatId, batch);
    }
    // No await since the loop saw the queue empty: nothing was added in between.
    this.#queues.delete(chatId);
  }

  #atomicAllowed(): Promise<boolean> {
    if (this.#maxBatch <= 1) return Promise.resolve(false);
    // Replicated streams only: an R1 stream stages a batch on disk before the commit, while
    // an R3 one takes a batch for about the price of one publish (BENCHMARKS.md).
    this.#atomic ??= this.#jsm.streams.info(CHAT_STREAM).then(
      (info) => (info.config as { allow_atomic?: boolean }).allow_atomic === true && info.config.num_replicas > 1,
      () => {
        this.#atomic = undefined;
        return false;
      },
    );
    return this.#atomic;
  }

  async #publishOne(chatId: string, r: Request): Promise<void> {
    try {
      r.resolve(await this.#publishNow(chatId, r.build, r.opts));
    } catch (err) {
      r.reject(err);
    }
  }

  async #publishNow(chatId: string, build: Build, opts: PublishOpts): Promise<Published> {
    const started = performance.now();
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const head = this.#heads.get(chatId) ?? (await this.#loadHead(chatId));
      if (opts.expectEmpty && head.n > 0) throw new NatterError("conflict", "the chat already exists");
      if (opts.sender !== undefined && !(await this.#membersAt(chatId, head)).has(opts.sender)) {
        throw new NotMemberError(`${opts.sender} is not a member of ${chatId}`);
      }
      const n = head.n + 1;
      const payload = build(n, Date.now());
      try {
        const ack = await this.#publisher.publish(chatSubject(chatId), JSON.stringify(payload), {
          headers: eventHeaders(payload),
          expectLastSubjectSequence: head.seq,
          ...(opts.dedupId ? { msgId: opts.dedupId } : {}),
          timeoutMs: PUBLISH_TIMEOUT_MS,
        });
        this.#metrics.publishLatency.observe((performance.now() - started) / 1000);
        this.#metrics.publishBatch.observe(1);
        if (ack.duplicate) {
          // The original is in the stream (the dedup window is far shorter than max age).
          this.#heads.delete(chatId);
          const original = await this.#chatLog.eventAt(ack.seq);
          if (!original) throw new NatterError("unavailable", "the original message is no longer in the stream");
          this.#metrics.publishes.inc({ kind: payload.kind, outcome: "duplicate" });
          return { event: original, duplicate: true };
        }
        const event = { ...payload, seq: ack.seq } as ChatEvent;
        this.#advance(chatId, head, [event]);
        this.#metrics.publishes.inc({ kind: payload.kind, outcome: "ok" });
        return { event, duplicate: false };
      } catch (err) {
        if (isWrongLastSequence(err)) {
          this.#metrics.conflicts.inc();
          this.#heads.delete(chatId);
          continue;
        }
        if (err instanceof NatterError || err instanceof NotMemberError) throw err;
        throw this.#failed(chatId, err);
      }
    }
    throw new NatterError("unavailable", "the chat is too contended right now; retry with the same id");
  }

  /**
   * Publishes `requests` (2 or more, in queue order) as one atomic batch at the chat's head.
   * Nothing of a refused batch is stored, so a conflict rebuilds it at the new head, and a
   * batch the server will not take as one (a message id it already has, a batch limit)
   * goes one by one, where each publish handles its own duplicate.
   */
  async #publishBatch(chatId: string, batch: Request[]): Promise<void> {
    let requests = batch;
    const started = performance.now();
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let head: Head;
      let members: Set<string> | undefined;
      try {
        head = this.#heads.get(chatId) ?? (await this.#loadHead(chatId));
        if (requests.some((r) => r.opts.sender !== undefined)) members = await this.#membersAt(chatId, head);
      } catch (err) {
        const failure = err instanceof NatterError ? err : this.#failed(chatId, err);
        for (const r of requests) r.reject(failure);
        return;
      }
      // Senders who are not members as of the head are refused here; the rest go on.
      const refused = requests.filter((r) => r.opts.sender !== undefined && !members?.has(r.opts.sender));
      if (refused.length > 0) {
        for (const r of refused) r.reject(new NotMemberError(`${r.opts.sender} is not a member of ${chatId}`));
        requests = requests.filter((r) => !refused.includes(r));
        if (requests.length === 1) return this.#publishOne(chatId, requests[0]!);
        if (requests.length === 0) return;
      }
      const ts = Date.now();
      const payloads = requests.map((r, i) => r.build(head.n + 1 + i, ts));
      const messages = payloads.map((payload, i) => {
        const dedupId = requests[i]!.opts.dedupId;
        return {
          data: JSON.stringify(payload),
          headers: eventHeaders(payload),
          ...(dedupId ? { msgId: dedupId } : {}),
        };
      });
      try {
        const ack = await this.#publisher.publishBatch(chatSubject(chatId), messages, {
          expectLastSubjectSequence: head.seq,
          timeoutMs: PUBLISH_TIMEOUT_MS,
        });
        if (ack.count !== requests.length) {
          // Not an atomic batch after all: where each event landed is unknown. Stop batching;
          // the senders retry with their ids, and dedup returns the originals.
          this.#atomic = Promise.resolve(false);
          this.#log.error(
            { chatId, stored: ack.count, sent: requests.length },
            "atomic batch miscounted; batching off",
          );
          throw new Error(`atomic batch stored ${ack.count} of ${requests.length} events`);
        }
        const first = ack.seq - ack.count + 1;
        const seconds = (performance.now() - started) / 1000;
        const events = payloads.map((payload, i) => ({ ...payload, seq: first + i }) as ChatEvent);
        this.#advance(chatId, head, events);
        this.#metrics.publishBatch.observe(requests.length);
        requests.forEach((r, i) => {
          this.#metrics.publishLatency.observe(seconds);
          this.#metrics.publishes.inc({ kind: events[i]!.kind, outcome: "ok" });
          r.resolve({ event: events[i]!, duplicate: false });
        });
        return;
      } catch (err) {
        if (isWrongLastSequence(err)) {
          this.#metrics.conflicts.inc();
          this.#heads.delete(chatId);
          continue;
        }
        if (err instanceof JsPublishError) {
          if (err.errCode !== JsApiCodes.BatchDuplicateMsgId) {
            this.#log.warn({ chatId, err: err.message, events: requests.length }, "atomic batch refused; one by one");
          }
          for (const r of requests) await this.#publishOne(chatId, r);
          return;
        }
        const failure = this.#failed(chatId, err);
        for (const r of requests) r.reject(failure);
        return;
      }
    }
    const contended = new NatterError("unavailable", "the chat is too contended right now; retry with the same id");
    for (const r of requests) r.reject(contended);
  }

  /** A publish whose outcome is unknown (no answer, connection lost): the sender retries with the same id. */
  #failed(chatId: string, err: unknown): NatterError {
    this.#heads.delete(chatId);
    this.#members.delete(chatId);
    this.#log.error({ err, chatId }, "publish failed");
    return new NatterError("unavailable", "could not publish the event; retry with the same id", { cause: err });
  }

  /** After our own events landed right after `head`: the new head, and the members carried along. */
  #advance(chatId: string, head: Head, events: ChatEvent[]): void {
    const last = events.at(-1)!;
    this.#rememberHead(chatId, { n: last.n, seq: last.seq });
    const members = this.#members.get(chatId);
    if (!members) return;
    if (members.seq !== head.seq) {
      this.#members.delete(chatId);
      return;
    }
    for (const e of events) applyMembership(members.ids, e);
    members.seq = last.seq;
  }

  /**
   * The chat's active members as of `head` (exact in log order): cached while the head is
   * ours, else read from the chat log (`ChatLog.membersAt`).
   */
  async #membersAt(chatId: string, head: Head): Promise<Set<string>> {
    const cached = this.#members.get(chatId);
    if (cached && cached.seq === head.seq) return cached.ids;
    const ids = await this.#chatLog.membersAt(chatId, head.n);
    setNewest(this.#members, chatId, { seq: head.seq, ids }, MAX_CACHED_HEADS);
    return ids;
  }

  /**
   * The chat's head: its last event in the stream (direct get), else, when the stream has
   * aged every event of the chat out, the last `n` from the history store with expected
   * subject sequence 0 ("no message on this subject").
   */
  #loadHead(chatId: string): Promise<Head> {
    return this.#chatLog.head(chatId);
  }

  #rememberHead(chatId: string, head: Head): void {
    setNewest(this.#heads, chatId, head, MAX_CACHED_HEADS);
  }
}

/** `Natter-N` and `Natter-Kind`: the event's position and kind where `nats sub` shows them. */
function eventHeaders(payload: ChatEventPayload) {
  const h = natsHeaders();
  h.set(HEADERS.n, String(payload.n));
  h.set(HEADERS.kind, payload.kind);
  return h;
}
