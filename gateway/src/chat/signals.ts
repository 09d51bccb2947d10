import type { ChatLog } from "@natter/bus";
import { setNewest } from "@natter/collections";
import type { Logger } from "@natter/config";
import type { ReceiptFrame, TypingSignalFrame } from "@natter/protocol";
import type { ReadState, Store } from "@natter/store";
import { userSignalSubject } from "@natter/subjects";
import type { NatsConnection } from "@nats-io/transport-node";
import type { GatewayMetrics } from "../metrics.ts";
import { RateLimiter } from "../rate-limit.ts";
import type { MembersCache } from "./members-cache.ts";
import type { ChatAccess } from "./access.ts";

/**
 * Typing signals and receipts: ephemeral frames published on core NATS to
 * `user.<member>.signal` for each member of the chat, which the gateways holding a member
 * forward to its sockets (the same interest routing as the inbox). Nothing here is in the
 * chat log; receipts' pointers are stored (read state), the signals themselves never are.
 */
/** How long a sender's own read mark may wait to be coalesced with the next ones. */
const SENT_FLUSH_MS = 50;
/** (chat, user) read pointers remembered to tell which send marks say something new. */
const KNOWN_READ_MAX = 100_000;

/** A sender's coalesced read mark, and whether it tells the members anything the event does not. */
interface PendingMark {
  state: ReadState;
  news: boolean;
}

export class Signals {
  readonly #pendingSent = new Map<string, PendingMark>();
  /** The read pointer this gateway last stored per `chat\nuser` (bounded, oldest dropped first). */
  readonly #knownRead = new Map<string, number>();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #nc: NatsConnection;
  readonly #chatLog: ChatLog;
  readonly #store: Store;
  readonly #access: ChatAccess;
  readonly #members: MembersCache;
  readonly #metrics: GatewayMetrics;
  readonly #log: Logger;
  readonly #typing: RateLimiter;

  constructor(opts: {
    nc: NatsConnection;
    chatLog: ChatLog;
    store: Store;
    access: ChatAccess;
    members: MembersCache;
    metrics: GatewayMetrics;
    logger: Logger;
    typingIntervalMs: number;
  }) {
    this.#nc = opts.nc;
    this.#chatLog = opts.chatLog;
    this.#store = opts.store;
    this.#access = opts.access;
    this.#members = opts.members;
    this.#metrics = opts.metrics;
    this.#log = opts.logger;
    // One token per interval, no burst: the second `typing` inside the interval is dropped.
    this.#typing = new RateLimiter({ burst: 1, perSecond: 1000 / opts.typingIntervalMs });
  }

  /**
   * `typing {chat}` from `me`: members only (403/404 otherwise, from the store when the
   * cached member list does not name `me`); at most one per user and chat per interval,
   * extra ones dropped silently (returns false); reaches the other members' devices, only
   * once `me` has accepted the chat (`ChatAccess.speaks`; dropped silently before: a
   * requester learns nothing from the one they asked).
   */
  async typing(me: string, chatId: string): Promise<boolean> {
    let members = await this.#members.members(chatId);
    if (!members.includes(me)) {
      await this.#access.requireMember(me, chatId);
      this.#members.forget(chatId);
      members = await this.#members.members(chatId);
    }
    if (this.#typing.take(`${me}\u0000${chatId}`) > 0) {
      this.#metrics.typingDropped.inc();
      return false;
    }
    if (!(await this.#access.speaks(me, chatId))) return false;
    const frame: TypingSignalFrame = { type: "typing", chat: chatId, user: me };
    this.#publish(
      members.filter((m) => m !== me),
      frame,
    );
    return true;
  }

  /**
   * `ack` / `read` from `me`: moves the stored pointers forward (read implies delivered)
   * and, only when one moved, sends `receipt` to every member (my other devices included).
   */
  async advance(me: string, chatId: string, deliveredN: number, readN: number): Promise<void> {
    await this.#access.requireMember(me, chatId);
    const before = await this.#store.getReadState(chatId, me);
    // A repeated or older mark moves nothing: answered before reading the chat's head.
    if (deliveredN <= (before?.deliveredN ?? 0) && readN <= (before?.readN ?? 0)) return;
    // Pointers never pass the chat's head: `read n=2^53` must not mark every future message read.
    const head = await this.#headAtLeast(chatId, Math.max(deliveredN, readN));
    deliveredN = Math.min(deliveredN, head);
    readN = Math.min(readN, head);
    const next: ReadState = {
      chatId,
      userId: me,
      deliveredN: Math.max(before?.deliveredN ?? 0, deliveredN, readN),
      readN: Math.max(before?.readN ?? 0, readN),
    };
    if (before && next.deliveredN === before.deliveredN && next.readN === before.readN) return;
    if (!before && next.deliveredN === 0 && next.readN === 0) return;
    await this.#store.advanceReadState(next);
    this.#remember(`${chatId}\n${me}`, next.readN);
    await this.#receipt(next);
  }

  /**
   * A message `n` sent by `me`: the chat is read (and delivered) up to it for the sender.
   * The pointer is stored by the history consumer with the message (`projectionWrites`);
   * here only its receipt, when it is news. Runs after `sent` without delaying it.
   */
  markSent(me: string, chatId: string, n: number): void {
    // Coalesced: a burst of sends to a chat costs at most one receipt per flush interval,
    // not one per message (pointers only move forward, so the last one wins).
    const key = `${chatId}\n${me}`;
    const prev = this.#pendingSent.get(key);
    const known = prev ? prev.state.readN : this.#knownRead.get(key);
    if (known !== undefined && n <= known) return;
    // A sender already read up to n-1 whose message n moves the pointer to n tells the
    // members nothing the event itself (from the sender, at n) does not: store the
    // pointer, skip the receipt. A send that also covers others' unread messages
    // (known < n-1, or unknown here) is news: "read by sending" reaches the members.
    const news = known === undefined || known < n - 1 || (prev?.news ?? false);
    this.#pendingSent.set(key, { state: { chatId, userId: me, deliveredN: n, readN: n }, news });
    if (this.#flushTimer === undefined) this.#flushTimer = setTimeout(() => this.#flushSent(), SENT_FLUSH_MS);
  }

  #flushSent(): void {
    this.#flushTimer = undefined;
    const batch = [...this.#pendingSent.values()];
    this.#pendingSent.clear();
    for (const { state } of batch) this.#remember(`${state.chatId}\n${state.userId}`, state.readN);
    this.#metrics.receiptsSkipped.inc(batch.filter((m) => !m.news).length);
    Promise.all(batch.filter((m) => m.news).map((m) => this.#receipt(m.state))).catch((err: unknown) =>
      this.#log.warn({ err, marks: batch.length }, "receipts of sent messages failed"),
    );
  }

  /**
   * `n` when the chat has reached it, else the chat's head. The store's head answers the
   * common case (acks of events the history consumer wrote); the stream's head, which is
   * ahead of it, the rest.
   */
  async #headAtLeast(chatId: string, n: number): Promise<number> {
    if (n === 0) return 0;
    const stored = await this.#store.getChatHead(chatId);
    if (stored && stored.lastN >= n) return n;
    return Math.min(n, (await this.#chatLog.head(chatId)).n);
  }

  #remember(key: string, readN: number): void {
    if ((this.#knownRead.get(key) ?? 0) > readN) return;
    setNewest(this.#knownRead, key, readN, KNOWN_READ_MAX);
  }

  /**
   * To every member, or, while the mover has not accepted the chat (or a block stands in a
   * direct chat), to the mover's own devices only: their pointers still move, nobody
   * else learns of them.
   */
  async #receipt(s: ReadState): Promise<void> {
    const frame: ReceiptFrame = {
      type: "receipt",
      chat: s.chatId,
      user: s.userId,
      deliveredN: s.deliveredN,
      readN: s.readN,
    };
    const speaks = await this.#access.speaks(s.userId, s.chatId);
    this.#publish(speaks ? await this.#members.members(s.chatId) : [s.userId], frame);
  }

  #publish(users: string[], frame: TypingSignalFrame | ReceiptFrame): void {
    const payload = JSON.stringify(frame);
    for (const u of users) this.#nc.publish(userSignalSubject(u), payload);
    this.#metrics.signalsPublished.inc({ type: frame.type }, users.length);
  }
}
