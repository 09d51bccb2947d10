import type { ChatLog } from "@natter/bus";
import type { Config, Logger } from "@natter/config";
import {
  type ChatEvent,
  type ChatView,
  chatHome,
  homedPrefix,
  isNatterError,
  isUnavailable,
  NatterError,
} from "@natter/protocol";
import { type ChatRequest, type Member, projectEvents, type Store } from "@natter/store";
import { msgId } from "@natter/subjects";
import { directChatId, newId } from "../ids.ts";
import type { HomeCalls } from "../edge/home-calls.ts";
import type { GatewayMetrics } from "../metrics.ts";
import type { Contacts } from "../presence/contacts.ts";
import type { RateLimiter } from "../rate-limit.ts";
import { accepted, type ChatAccess } from "./access.ts";
import type { HistoryLag } from "./history-lag.ts";
import type { MembersCache } from "./members-cache.ts";
import type { Signals } from "./signals.ts";
import { NotMemberError, type Published, type Sequencer } from "./sequencer.ts";
import { liveMessage } from "./target.ts";
import type { Attachments } from "./attachments.ts";

export type { ChatView };

export interface SendOptions {
  /** The `n` of the earlier message this one replies to. */
  replyTo?: number;
  /** Ids of attachments the sender uploaded into the chat (`Attachments.take`); the body may then be empty. */
  attachments?: readonly string[];
  /**
   * The client says this id was never sent before (a socket `send` without `retry`): the
   * client-message index is not read, so the send touches only NATS. A resend inside the
   * JetStream dedup window is answered by the stream either way; one after it is answered
   * by the index only when it says `retry` (docs/protocol.md, "Resends"). HTTP sends leave
   * this off: they always read the index.
   */
  firstSend?: boolean;
}

export interface SendResult {
  chat: string;
  id: string;
  seq: number;
  n: number;
  ts: number;
  /** True for a retry of an earlier send with the same id. */
  duplicate: boolean;
}

/**
 * Chat operations shared by the HTTP routes and the WebSocket frames: membership rules,
 * limits and the sequencer. Every method checks the caller's rights itself and throws a
 * `NatterError` with a stable code; nothing is published or stored when a check fails.
 */
export class ChatService {
  readonly #store: Store;
  readonly #chatLog: ChatLog;
  readonly #seq: Sequencer;
  readonly #config: Config;
  readonly #sendLimiter: RateLimiter;
  readonly #log: Logger;
  readonly #access: ChatAccess;
  readonly #signals: Signals;
  readonly #members: MembersCache;
  readonly #historyLag: Pick<HistoryLag, "admit">;
  readonly #contacts: Contacts;
  readonly #edge: HomeCalls | undefined;
  readonly #metrics: Pick<GatewayMetrics, "sendLatency">;
  readonly #attachments: Pick<Attachments, "take" | "release">;

  constructor(opts: {
    store: Store;
    chatLog: ChatLog;
    access: ChatAccess;
    /** Sending marks the chat read for the sender. */
    signals: Signals;
    /** Forgotten for a chat whose membership changes here. */
    members: MembersCache;
    /** Back-pressure: sends wait while history is too far behind. */
    historyLag: Pick<HistoryLag, "admit">;
    /** Whether a new chat or an add is a message request; told when relationships change. */
    contacts: Contacts;
    sequencer: Sequencer;
    config: Config;
    sendLimiter: RateLimiter;
    logger: Logger;
    /** Edge sites (`NATTER_SITE` set): operations on chats homed elsewhere go to their home. */
    edge?: HomeCalls;
    metrics: Pick<GatewayMetrics, "sendLatency">;
    /** A send's attachments: checked and claimed for the message before it is published. */
    attachments: Pick<Attachments, "take" | "release">;
  }) {
    this.#attachments = opts.attachments;
    this.#store = opts.store;
    this.#chatLog = opts.chatLog;
    this.#access = opts.access;
    this.#signals = opts.signals;
    this.#members = opts.members;
    this.#historyLag = opts.historyLag;
    this.#contacts = opts.contacts;
    this.#seq = opts.sequencer;
    this.#config = opts.config;
    this.#sendLimiter = opts.sendLimiter;
    this.#log = opts.logger;
    this.#edge = opts.edge;
    this.#metrics = opts.metrics;
  }

  /** The home site of a chat when it is not this gateway's (edge sites only), else undefined. */
  #elsewhere(chatId: string): string | undefined {
    return this.#edge?.elsewhere(chatId);
  }

  /**
   * The direct chat of the pair: created once, then returned as it is (`created` false).
   * Opening it is consent: an open of an existing chat accepts the caller's request in it.
   * A new chat with someone the caller has no accepted relationship with is a message
   * request for the peer (written before the chat exists, so the peer is never a member
   * without it); a new chat between users where either blocks the other is refused.
   */
  async openDirect(me: string, peer: string): Promise<{ view: ChatView; created: boolean }> {
    if (peer === me) throw new NatterError("invalid_input", "a direct chat needs another user", { field: "userId" });
    // Homed elsewhere (a peer at another site): opened by the home, which knows both users.
    const home = this.#elsewhere(directChatId(me, peer));
    if (home) return this.#edge!.call(home, { op: "openDirect", me, peer });
    if (!(await this.#store.getUser(peer))) throw new NatterError("not_found", "no such user", { field: "userId" });
    const chatId = directChatId(me, peer);
    if (await this.#store.getChat(chatId)) {
      await this.#acceptOwn(me, chatId);
      return { view: await this.view(chatId), created: false };
    }
    if (await this.#access.blockedEitherWay(me, peer)) {
      throw new NatterError("forbidden", "messages between you and this user are blocked", { field: "userId" });
    }
    await this.#ask(peer, chatId, me, !(await this.#contacts.related(me, peer)));
    try {
      const { event } = await this.#seq.publish(
        chatId,
        (n, ts) => ({ chat: chatId, n, ts, from: me, kind: "chat.created", chatKind: "direct", members: [me, peer] }),
        { expectEmpty: true },
      );
      await projectEvents(this.#store, [event]);
      return { view: await this.view(chatId), created: true };
    } catch (err) {
      // The peer created it at the same moment: theirs won the position, return it. Both
      // opened it, so neither is asked: undo the request written for the peer above, and
      // accept the one the peer's open wrote for me.
      if (err instanceof NatterError && err.code === "conflict") {
        await this.#waitForChat(chatId);
        await Promise.all([this.#acceptOwn(peer, chatId), this.#acceptOwn(me, chatId)]);
        return { view: await this.view(chatId), created: false };
      }
      throw err;
    }
  }

  async createGroup(me: string, title: string, members: string[]): Promise<ChatView> {
    const unique = [me, ...new Set(members.filter((m) => m !== me))];
    if (unique.length > this.#config.memberLimit) {
      throw new NatterError("member_limit", `a group has at most ${this.#config.memberLimit} members`, {
        field: "members",
      });
    }
    // Edge sites: homed at the members' site when they share one, else at the hub.
    const home = this.#edge ? chatHome(unique) : undefined;
    if (home !== undefined && home !== this.#edge!.site) {
      return this.#edge!.call(home, { op: "createGroup", me, title, members });
    }
    const users = await Promise.all(unique.map((u) => this.#store.getUser(u)));
    const missing = unique.find((_, i) => !users[i]);
    if (missing) throw new NatterError("not_found", `no such user: ${missing}`, { field: "members" });
    const others = unique.slice(1);
    const blocks = await Promise.all(others.map((u) => this.#store.getBlock(u, me)));
    if (blocks.some((b) => b?.blocked)) {
      throw new NatterError("forbidden", "a user you named does not accept groups from you", { field: "members" });
    }
    const chatId = newId(homedPrefix("g", home));
    // Everyone the creator has no accepted relationship with is asked (before the chat exists).
    const contacts = others.length > 0 ? await this.#contacts.load(me) : new Set<string>();
    await Promise.all(others.map((u) => this.#ask(u, chatId, me, !contacts.has(u))));
    const { event } = await this.#seq.publish(
      chatId,
      (n, ts) => ({ chat: chatId, n, ts, from: me, kind: "chat.created", chatKind: "group", title, members: unique }),
      { expectEmpty: true },
    );
    await projectEvents(this.#store, [event]);
    return this.view(chatId);
  }

  /** The chat as a member sees it; 404 for an unknown chat, 403 for a non-member. */
  async getForMember(me: string, chatId: string): Promise<ChatView> {
    await this.requireMember(me, chatId);
    return this.view(chatId);
  }

  async addMember(me: string, chatId: string, userId: string): Promise<number> {
    const home = this.#elsewhere(chatId);
    if (home) return this.#edge!.call(home, { op: "addMember", me, chatId, userId });
    const mine = await this.requireMember(me, chatId);
    const chat = await this.#store.getChat(chatId);
    if (chat?.kind !== "group") throw new NatterError("invalid_input", "members can only be added to groups");
    if (mine.role !== "admin") throw new NatterError("forbidden", "only admins add members");
    if (!(await this.#store.getUser(userId))) throw new NatterError("not_found", "no such user", { field: "userId" });
    const existing = await this.#store.getMember(chatId, userId);
    if (existing?.active) return existing.joinedN;
    const count = (await this.#store.listMembers(chatId)).length;
    if (count >= this.#config.memberLimit) {
      throw new NatterError("member_limit", `a group has at most ${this.#config.memberLimit} members`);
    }
    if ((await this.#store.getBlock(userId, me))?.blocked) {
      throw new NatterError("forbidden", "this user does not accept groups from you", { field: "userId" });
    }
    // Added by someone they have no accepted relationship with: a request (written before the add).
    await this.#ask(userId, chatId, me, !(await this.#contacts.related(me, userId)));
    return this.#publishMembership(me, chatId, "member.added", userId);
  }

  /**
   * Admins remove anyone; anyone may remove themselves (leave), except the sole admin of a
   * group that still has other members (409 `last_admin`).
   */
  async removeMember(me: string, chatId: string, userId: string): Promise<number> {
    const home = this.#elsewhere(chatId);
    if (home) return this.#edge!.call(home, { op: "removeMember", me, chatId, userId });
    const mine = await this.requireMember(me, chatId);
    const chat = await this.#store.getChat(chatId);
    if (chat?.kind !== "group") throw new NatterError("invalid_input", "direct chats have no member changes");
    if (userId !== me && mine.role !== "admin") throw new NatterError("forbidden", "only admins remove other members");
    return this.#remove(me, chatId, userId);
  }

  /**
   * An operator's removal (the admin API): the rules and the event of an admin's removal,
   * made by someone who need not be a member. The event's `from` is the operator, so the
   * log says who did it; G3 holds as for any removal (fanout and feeds fold it in order).
   */
  async removeMemberAsOperator(operator: string, chatId: string, userId: string): Promise<number> {
    const chat = await this.#store.getChat(chatId);
    if (!chat) throw new NatterError("not_found", "no such chat", { field: "chatId" });
    if (chat.kind !== "group") throw new NatterError("invalid_input", "direct chats have no member changes");
    return this.#remove(operator, chatId, userId);
  }

  /** `by` removes `userId` from the group, once the caller's right to is checked. */
  async #remove(by: string, chatId: string, userId: string): Promise<number> {
    const target = await this.#store.getMember(chatId, userId);
    if (!target?.active) throw new NatterError("not_found", "not a member of this chat", { field: "userId" });
    if (target.role === "admin") {
      // Refused rather than promoting someone: only admins add and remove members, so a group
      // whose last admin left would be stuck as it is. The admin of a group with nobody else
      // in it may leave (nothing is left to manage).
      const members = await this.#store.listMembers(chatId);
      const othersRemain = members.some((m) => m.userId !== userId);
      const otherAdmin = members.some((m) => m.userId !== userId && m.role === "admin");
      if (othersRemain && !otherAdmin) {
        throw new NatterError("last_admin", "the sole admin cannot leave while the group has other members", {
          field: "userId",
        });
      }
    }
    const n = await this.#publishMembership(by, chatId, "member.removed", userId);
    // The removed user and the members may no longer share an accepted chat: their open
    // watches of each other are re-checked.
    await this.#contacts.changed([userId, ...(await this.#members.members(chatId))]);
    return n;
  }

  /**
   * Publishes `me`'s add or removal of `user` and applies it to the store at once, so this
   * gateway's own reads see it; the cached members of the chat are dropped. Returns its `n`.
   */
  async #publishMembership(
    me: string,
    chatId: string,
    kind: "member.added" | "member.removed",
    user: string,
  ): Promise<number> {
    const { event } = await this.#seq.publish(chatId, (n, ts) => ({ chat: chatId, n, ts, from: me, kind, user }));
    await projectEvents(this.#store, [event]);
    this.#members.forget(chatId);
    return event.n;
  }

  /**
   * A message into the chat (`#send`), timed from arrival to answer in `natter_send_seconds` by outcome.
   * `opts.replyTo`: the `n` of an earlier message of the chat it replies to (v1.1).
   */
  async send(me: string, chatId: string, id: string, body: string, opts: SendOptions = {}): Promise<SendResult> {
    const end = this.#metrics.sendLatency.startTimer();
    try {
      const r = await this.#send(me, chatId, id, body, opts);
      end({ outcome: r.duplicate ? "duplicate" : "ok" });
      return r;
    } catch (err) {
      end({ outcome: isNatterError(err) ? err.code : "internal" });
      throw err;
    }
  }

  async #send(me: string, chatId: string, id: string, body: string, opts: SendOptions): Promise<SendResult> {
    if (Buffer.byteLength(body, "utf8") > this.#config.bodyLimit) {
      throw new NatterError("too_large", `the body is over ${this.#config.bodyLimit} bytes`, { field: "body" });
    }
    const attachmentIds = opts.attachments ?? [];
    if (body.trim() === "" && (body !== "" || attachmentIds.length === 0)) {
      throw new NatterError("invalid_input", "the body is empty (send a body, attachments, or both)", {
        field: "body",
      });
    }
    // A chat homed at another site is sequenced there (G4: one sequence per chat).
    const home = this.#elsewhere(chatId);
    if (home) return this.#edge!.call(home, { op: "send", me, chatId, id, body, opts });
    // A retry after the JetStream dedup window: the history store knows where it landed
    // (told to members only, like everything in a chat). Not asked for a first send: one
    // store read per send was ~10 % of the sending gateway's CPU (BENCHMARKS.md, issue 18).
    const earlier = opts.firstSend ? undefined : await this.#earlierSend(chatId, me, id);
    if (earlier) {
      await this.requireMember(me, chatId);
      return { chat: chatId, id, seq: earlier.seq, n: earlier.n, ts: earlier.ts, duplicate: true };
    }
    // Blocks and declines of a direct chat refuse before anything else is spent.
    const mine = await this.#access.checkSend(me, chatId);
    const { replyTo } = opts;
    if (replyTo !== undefined) await this.#replyTarget(me, chatId, replyTo);
    this.#historyLag.admit();
    const wait = this.#sendLimiter.take(me);
    if (wait > 0) throw new NatterError("rate_limited", "sending too fast", { retryAfterMs: wait });
    const dedupId = msgId(chatId, me, id);
    // Claimed for this message before it is published (so no other message, and no sweep,
    // can have them), given back if the publish is refused.
    const taken = attachmentIds.length
      ? await this.#attachments.take(me, chatId, attachmentIds, dedupId)
      : { descriptors: [], claimed: [] };
    let published: Published;
    try {
      // The sequencer checks membership as of the position the message takes (G3, exact in
      // log order): a removal anywhere before it, even one the store has not projected yet,
      // refuses the send.
      published = await this.#seq.publish(
        chatId,
        (n, ts) => ({
          chat: chatId,
          n,
          ts,
          from: me,
          kind: "message.created",
          id,
          body,
          ...(replyTo === undefined ? {} : { replyTo }),
          ...(taken.descriptors.length ? { attachments: taken.descriptors } : {}),
        }),
        { dedupId, sender: me },
      );
    } catch (err) {
      // Refused for sure (not a member, or an answer of JetStream's): nothing was published.
      // An unknown outcome (a timeout) keeps the claims: a retry with the same id takes them.
      if (err instanceof NotMemberError || (isNatterError(err) && err.code !== "unavailable")) {
        await this.#attachments.release(taken.claimed);
      }
      if (err instanceof NotMemberError) throw await this.#access.notMember(me, chatId);
      throw err;
    }
    const { event, duplicate } = published;
    if (event.kind !== "message.created" || event.from !== me || event.id !== id) {
      this.#log.error({ chatId, id, seq: event.seq }, "dedup id matched a different event");
      throw new NatterError("internal", "message id collision");
    }
    // Replying accepts a request: before the read mark below, so that its receipt is told.
    // The message is sent whatever happens here: a store that cannot be written leaves the
    // request pending (the next reply, or an accept, answers it).
    if (!accepted(mine)) {
      await this.#accept(me, chatId, mine!).catch((err: unknown) =>
        this.#log.warn({ err: String(err), chatId }, "accepting a request by reply failed; it stays pending"),
      );
    }
    // Sending marks the chat read up to the message for the sender (after `sent`, not before).
    if (!duplicate) this.#signals.markSent(me, chatId, event.n);
    // No projection here: a message changes only the chat head, which the history consumer
    // advances milliseconds later; a store write per send would halve the gateway's rate.
    return { chat: chatId, id, seq: event.seq, n: event.n, ts: event.ts, duplicate };
  }

  /**
   * A reply's message (v1.1): an earlier message of the chat the sender can see (from the
   * event that added them), not deleted: `not_found` / `invalid_input` on `replyTo`
   * otherwise (`liveMessage`). A reply to a message deleted later keeps its `replyTo`;
   * clients show the quote as deleted. Read only for replies: a plain send costs nothing more.
   */
  async #replyTarget(me: string, chatId: string, replyTo: number): Promise<void> {
    const member = await this.requireMember(me, chatId);
    await liveMessage(this.#chatLog, chatId, replyTo, member.joinedN, "replyTo");
  }

  /**
   * Where an earlier send with this id landed, from the store's client-message index; none
   * when the store cannot be read. A send never fails for the store's absence: inside the
   * JetStream dedup window (`NATTER_DEDUP_WINDOW`) the stream itself answers a retry with
   * the original; only a retry older than that, while the store is down, could be stored
   * twice (RELIABILITY.md).
   */
  async #earlierSend(chatId: string, me: string, id: string) {
    try {
      return await this.#store.findClientMsg(chatId, me, id);
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      this.#log.warn(
        { err: String(err), chatId },
        "client-message index unreadable; the stream's dedup window answers retries",
      );
      return undefined;
    }
  }

  /**
   * `GET /v1/chats/:chatId/receipts`: each active member's pointers. A member who does not
   * speak in the chat (`ChatAccess.speaks`: a request not accepted, a blocked direct chat)
   * gives nothing away: 0 to others, as for pointers never moved; their own stay theirs.
   */
  async receipts(
    me: string,
    chatId: string,
  ): Promise<{ members: { userId: string; deliveredN: number; readN: number }[] }> {
    await this.requireMember(me, chatId);
    const [members, states] = await Promise.all([this.#store.listMembers(chatId), this.#store.listReadStates(chatId)]);
    const byUser = new Map(states.map((s) => [s.userId, s]));
    const speaks = await Promise.all(members.map((m) => m.userId === me || this.#access.speaks(m.userId, chatId)));
    return {
      members: members.map((m, i) => ({
        userId: m.userId,
        deliveredN: speaks[i] ? (byUser.get(m.userId)?.deliveredN ?? 0) : 0,
        readN: speaks[i] ? (byUser.get(m.userId)?.readN ?? 0) : 0,
      })),
    };
  }

  /** `POST /v1/chats/:chatId/accept`: members only; accepting an accepted chat changes nothing. */
  async accept(me: string, chatId: string): Promise<void> {
    await this.requireMember(me, chatId);
    await this.#acceptOwn(me, chatId);
  }

  /**
   * `POST /v1/chats/:chatId/decline`: only a request (409 `conflict` for a chat the caller
   * accepted; leaving a group is `DELETE …/members/<me>`). A group is left (a
   * `member.removed` of the caller). A direct chat, which nobody leaves, is marked
   * declined: it leaves the caller's list and the requester's sends are refused until the
   * caller opens it (`POST /v1/chats`), replies or accepts.
   */
  async decline(me: string, chatId: string): Promise<void> {
    await this.requireMember(me, chatId);
    const mine = await this.#access.requestOf(me, chatId);
    if (accepted(mine)) throw new NatterError("conflict", "not a message request: nothing to decline");
    const chat = await this.#store.getChat(chatId);
    await this.#store.putChatRequest({ ...mine!, state: "declined" });
    this.#access.forget(chatId);
    if (chat?.kind === "group") await this.removeMember(me, chatId, me);
    else await this.#contacts.changed([me, mine!.from]);
  }

  /**
   * `POST /v1/users/:userId/block` (`blocked` true) and `DELETE` (false): idempotent. While
   * blocked, the direct chat of the two refuses sends both ways and no new one can be
   * opened; groups from the blocked user are refused; the blocked user's requests leave
   * the blocker's list; presence, typing and receipts stop both ways (watches re-checked).
   */
  async setBlocked(me: string, userId: string, blocked: boolean): Promise<void> {
    if (userId === me) throw new NatterError("invalid_input", "you cannot block yourself", { field: "userId" });
    if (!(await this.#store.getUser(userId))) throw new NatterError("not_found", "no such user", { field: "userId" });
    await this.#store.putBlock({ userId: me, blockedId: userId, blocked, at: Date.now() });
    this.#access.forget(directChatId(me, userId));
    await this.#contacts.changed([me, userId]);
  }

  /** The users `me` blocks, newest block first. */
  async blocked(me: string): Promise<{ userId: string; at: number }[]> {
    const list = await this.#store.listBlocked(me);
    return list.map((b) => ({ userId: b.blockedId, at: b.at })).sort((a, b) => b.at - a.at);
  }

  /**
   * Writes `userId`'s request row for a chat they are being brought into by `from`:
   * `pending` when `asking`; otherwise only an earlier unanswered row is set accepted (an
   * add by a contact is no request, even where a stranger's earlier add left one).
   */
  async #ask(userId: string, chatId: string, from: string, asking: boolean): Promise<void> {
    this.#access.forget(chatId);
    if (asking) {
      await this.#store.putChatRequest({ userId, chatId, from, at: Date.now(), state: "pending" });
      return;
    }
    const earlier = await this.#store.getChatRequest(userId, chatId);
    if (!accepted(earlier)) await this.#store.putChatRequest({ ...earlier!, state: "accepted" });
  }

  /** Accepts `me`'s request in the chat, if there is one not yet accepted. */
  async #acceptOwn(me: string, chatId: string): Promise<void> {
    const mine = await this.#access.requestOf(me, chatId);
    if (!accepted(mine)) await this.#accept(me, chatId, mine!);
  }

  /** The request becomes accepted; the members' watches are re-checked (they may now see each other). */
  async #accept(me: string, chatId: string, request: ChatRequest): Promise<void> {
    await this.#store.putChatRequest({ ...request, state: "accepted" });
    this.#access.forget(chatId);
    await this.#contacts.changed([me, ...(await this.#members.members(chatId))]);
  }

  /**
   * History page for a member, from the event that added them. A removed member reads up to
   * and including their removal, nothing after (the same rule as `sync`). Read from the
   * store and the stream's tail beyond it, so every event acked `sent` is in it at once.
   */
  async history(
    me: string,
    chatId: string,
    q: { before?: number; after?: number; limit: number },
  ): Promise<{ events: ChatEvent[]; hasMore: boolean }> {
    const member = await this.#access.requireMemberRow(me, chatId);
    return this.#chatLog.page(chatId, {
      ...(q.before === undefined ? {} : { before: q.before }),
      ...(q.after === undefined ? {} : { after: q.after }),
      limit: q.limit,
      minN: member.joinedN,
      ...(member.active ? {} : { maxN: member.changedN }),
    });
  }

  /** The caller's active membership; 404 for an unknown chat, 403 otherwise (`ChatAccess`). */
  requireMember(me: string, chatId: string): Promise<Member> {
    return this.#access.requireMember(me, chatId);
  }

  async view(chatId: string): Promise<ChatView> {
    const [chat, members, head] = await Promise.all([
      this.#store.getChat(chatId),
      this.#store.listMembers(chatId),
      this.#store.getChatHead(chatId),
    ]);
    if (!chat) throw new NatterError("not_found", "no such chat");
    return {
      chatId,
      kind: chat.kind,
      ...(chat.title === undefined ? {} : { title: chat.title }),
      members: members.map((m) => ({ userId: m.userId, role: m.role, joinedN: m.joinedN })),
      lastN: head?.lastN ?? 0,
    };
  }

  async #waitForChat(chatId: string): Promise<void> {
    for (let i = 0; i < 50; i++) {
      if (await this.#store.getChat(chatId)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new NatterError("unavailable", "the chat is being created; retry");
  }
}
