import { ChatLog } from "@natter/bus";
import { LruMap } from "@natter/collections";
import { KEYS, type Logger } from "@natter/config";
import type { ChatEvent } from "@natter/protocol";
import type { Store } from "@natter/store";
import { CHAT_STREAM, CHAT_STREAM_SUBJECTS, CONSUMERS, HEADERS, userInboxSubject } from "@natter/subjects";
import { jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { Counter, Gauge, Histogram, type Registry, register } from "prom-client";
import { parseChatEvent } from "./chat-event.ts";
import { ChatMembership, recipientsOf } from "./fanout-membership.ts";
import { perRegistry } from "./metrics.ts";
import { ConsumerRunner, type RunnerOptions } from "./runner.ts";

export interface FanoutConsumerOptions {
  nc: NatsConnection;
  store: Store;
  logger: Logger;
  /** Events per batch (one ack round per batch). Default 256. */
  batchSize?: number;
  /** Chats whose membership is kept in memory (least recently used evicted). Default 100 000. */
  maxChats?: number;
  registry?: Registry;
  /** Passed through to the runner (tests shorten the timings). */
  runner?: Partial<
    Pick<
      RunnerOptions<ChatEvent>,
      "ackWaitMs" | "maxAckPending" | "nakBaseMs" | "checkIntervalMs" | "retryBaseMs" | "heartbeatMs" | "stallMs"
    >
  >;
}

/** Defaults of `NATTER_FANOUT_BATCH` and `NATTER_FANOUT_MAX_CHATS`, for callers without a config. */
export const FANOUT_BATCH = Number(KEYS.fanoutBatch.default);
export const FANOUT_MAX_CHATS = Number(KEYS.fanoutMaxChats.default);
/** Like history: a crash delays delivery by at most this; slow batches are kept alive with `working()`. */
const FANOUT_ACK_WAIT_MS = 10_000;
/** Chats rebuilt at once when a batch meets many chats the fanout has no state for (cold start). */
const REBUILD_CONCURRENCY = 16;
/** Events read per page when rebuilding membership from the log. */
const REBUILD_PAGE = 1000;
const UTF8 = new TextEncoder();

type LoadReason = "cold" | "gap" | "stale";

function createMetrics(registry: Registry) {
  const registers = [registry];
  return {
    deliveries: new Counter({
      name: "natter_fanout_deliveries_total",
      help: "Events published to user inboxes (one per event and member)",
      registers,
    }),
    events: new Counter({
      name: "natter_fanout_events_total",
      help: "Chat events fanned out to their members",
      registers,
    }),
    members: new Histogram({
      name: "natter_fanout_members",
      help: "Inboxes one event was published to (the chat's members as of the event)",
      buckets: [1, 2, 3, 5, 10, 20, 50, 100, 250, 500, 1000, 5000],
      registers,
    }),
    loads: new Counter({
      name: "natter_fanout_membership_loads_total",
      help: "Membership read from the log (store, then stream): cold = chat not in memory, gap = events skipped, stale = redelivered event older than the state",
      labelNames: ["reason"] as const,
      registers,
    }),
    chats: new Gauge({
      name: "natter_fanout_chats",
      help: "Chats whose membership the fanout holds in memory",
      registers,
    }),
  };
}
type FanoutMetrics = ReturnType<typeof createMetrics>;
const fanoutMetrics = perRegistry(createMetrics);

/**
 * The fanout's state and batch handler: per-chat membership folded from the log in n
 * order, and the publishing of every event to the inbox of every member as of that event.
 * `ConsumerRunner` drives it (see `createFanoutConsumer`); it is separate so it can be
 * reasoned about (and tested) without the loop.
 *
 * Membership of a chat the fanout holds no state for is rebuilt from the log itself, not
 * from the store's membership rows: `readChatEvents` (store first, the stream for what the
 * history consumer has not written yet) gives events 1..n-1 and they are folded exactly as
 * live events are. The store's projection is written by the history consumer, which may be
 * ahead of the fanout (it would include later joins and leaves: a user removed after event
 * n would miss it, a user added after n would see it) or behind it (missing recent changes);
 * the log as of n-1 is the membership as of n, whatever either consumer has done.
 */
export class Fanout {
  readonly #nc: NatsConnection;
  readonly #store: Store;
  readonly #log: Logger;
  readonly #metrics: FanoutMetrics;
  readonly #chats: LruMap<string, ChatMembership>;
  /** The chat log (store, then the stream), made on the first catch-up. */
  #chatLog: ChatLog | undefined;

  constructor(opts: { nc: NatsConnection; store: Store; logger: Logger; registry?: Registry; maxChats?: number }) {
    this.#nc = opts.nc;
    this.#store = opts.store;
    this.#log = opts.logger;
    this.#metrics = fanoutMetrics(opts.registry ?? register);
    this.#chats = new LruMap(opts.maxChats ?? FANOUT_MAX_CHATS);
  }

  /**
   * Publishes every event of the batch, in stream order, to its members' inboxes. The runner
   * acks after this resolves, on the same connection: NATS handles one connection's protocol
   * in order, so the server has taken every publish before it sees the ack, and a round trip
   * (flush) per batch would only add latency. A connection lost first loses the acks too, so
   * the batch is redelivered and published again (duplicates, which receivers drop by n).
   */
  async handle(events: readonly ChatEvent[]): Promise<void> {
    await this.#preload(events);
    for (const e of events) {
      // The common case (the chat's next event) is answered without an await: nats.js writes
      // what is queued at the next microtask, so an await per event would cost a socket write
      // per event instead of one per batch (BENCHMARKS.md, issue 18).
      const to = this.#nextRecipients(e) ?? (await this.#recipients(e));
      if (to.size > 0) {
        // Encoded once for all the members' publishes (a string would be encoded per publish).
        const data = UTF8.encode(JSON.stringify(e));
        const h = headers();
        h.set(HEADERS.n, String(e.n));
        h.set(HEADERS.kind, e.kind);
        for (const user of to) this.#nc.publish(userInboxSubject(user), data, { headers: h });
      }
      this.#metrics.events.inc();
      this.#metrics.deliveries.inc(to.size);
      this.#metrics.members.observe(to.size);
    }
    this.#metrics.chats.set(this.#chats.size);
  }

  /** The members as of `e` when it is the next event of a chat held in memory (applied to the state), else undefined. */
  #nextRecipients(e: ChatEvent): Set<string> | undefined {
    const state = this.#chats.get(e.chat);
    if (!state || e.n !== state.n + 1) return undefined;
    const to = recipientsOf(state.members, e);
    state.apply(e);
    return to;
  }

  /** The members as of the event (before or after it), applying it to the chat's state when it is the next one. */
  async #recipients(e: ChatEvent): Promise<Set<string>> {
    let state = this.#chats.get(e.chat);
    if (!state) {
      state = e.n === 1 ? new ChatMembership() : await this.#load(e.chat, e.n - 1, "cold");
      this.#chats.set(e.chat, state);
    }
    if (e.n > state.n + 1) {
      // Events in between were not seen here yet (an earlier batch naked and not yet
      // redelivered, or another instance took them): read them from the log first.
      this.#metrics.loads.inc({ reason: "gap" });
      await this.#catchUp(state, e.chat, e.n - 1);
    }
    const next = this.#nextRecipients(e);
    if (next) return next;
    // A redelivery of an event older than the state: the members as of that event, rolled
    // back from the state's recent changes, or rebuilt from the log when they reach further.
    let before = state.asOf(e.n - 1);
    before ??= (await this.#load(e.chat, e.n - 1, "stale")).members;
    return recipientsOf(before, e);
  }

  /** Rebuilds, concurrently, the chats this batch starts with that have no state (cold start, LRU eviction). */
  async #preload(events: readonly ChatEvent[]): Promise<void> {
    const cold = new Map<string, number>();
    for (const e of events) {
      if (!cold.has(e.chat) && e.n > 1 && !this.#chats.get(e.chat)) cold.set(e.chat, e.n - 1);
    }
    if (cold.size < 2) return; // one chat: loaded in line
    const queue = [...cold];
    await Promise.all(
      Array.from({ length: Math.min(REBUILD_CONCURRENCY, queue.length) }, async () => {
        for (let item = queue.shift(); item; item = queue.shift()) {
          const [chatId, asOf] = item;
          this.#chats.set(chatId, await this.#load(chatId, asOf, "cold"));
        }
      }),
    );
  }

  /** The chat's membership as of event `asOf`, folded from its events 1..asOf. */
  async #load(chatId: string, asOf: number, reason: LoadReason): Promise<ChatMembership> {
    this.#metrics.loads.inc({ reason });
    const state = new ChatMembership();
    await this.#catchUp(state, chatId, asOf);
    this.#log.debug({ chat: chatId, asOf, members: state.members.size, reason }, "membership rebuilt from the log");
    return state;
  }

  /** Applies the chat's events state.n+1..toN from the log (store first, then the stream). */
  async #catchUp(state: ChatMembership, chatId: string, toN: number): Promise<void> {
    this.#chatLog ??= new ChatLog(await jetstreamManager(this.#nc), this.#store);
    while (state.n < toN) {
      const page = await this.#chatLog.range(chatId, {
        afterN: state.n,
        toN,
        limit: REBUILD_PAGE,
      });
      if (page.length === 0) {
        // Neither the store nor the stream has it (yet): hold the batch rather than guess.
        throw new Error(`chat ${chatId}: event n=${state.n + 1} is in neither the store nor the stream`);
      }
      for (const e of page) state.apply(e);
    }
  }
}

/**
 * The fanout consumer: durable `fanout` on the chat stream; publishes each event (with its
 * stream `seq`, the shape history pages return) to `user.<id>.inbox` of every member as of
 * that event, acked after the batch's publishes (ordered behind them on one connection).
 */
export function createFanoutConsumer(opts: FanoutConsumerOptions): ConsumerRunner<ChatEvent> {
  const registry = opts.registry ?? register;
  const fanout = new Fanout({
    nc: opts.nc,
    store: opts.store,
    logger: opts.logger.child({ consumer: CONSUMERS.fanout }),
    registry,
    ...(opts.maxChats === undefined ? {} : { maxChats: opts.maxChats }),
  });
  return new ConsumerRunner<ChatEvent>({
    nc: opts.nc,
    logger: opts.logger,
    stream: CHAT_STREAM,
    durable: CONSUMERS.fanout,
    filterSubject: CHAT_STREAM_SUBJECTS[0]!,
    batchSize: opts.batchSize ?? FANOUT_BATCH,
    ackWaitMs: FANOUT_ACK_WAIT_MS,
    registry,
    ...opts.runner,
    parse: parseChatEvent,
    onBatch: (events) => fanout.handle(events),
  });
}
