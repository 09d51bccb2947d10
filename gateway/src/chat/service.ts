import type { ChatLog } from "@natter/bus";
import type { Config, Logger } from "@natter/config";
import { type ChatEvent, type ChatView, NatterError } from "@natter/protocol";
import { type Member, projectEvents, type Store } from "@natter/store";
import { msgId } from "@natter/subjects";
import { directChatId, newId } from "../ids.ts";
import type { RateLimiter } from "../rate-limit.ts";
import type { ChatAccess } from "./access.ts";
import type { MembersCache } from "./members-cache.ts";
import type { Signals } from "./signals.ts";
import { NotMemberError, type Published, type Sequencer } from "./sequencer.ts";

export type { ChatView };

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

  constructor(opts: {
    store: Store;
    chatLog: ChatLog;
    access: ChatAccess;
    /** Sending marks the chat read for the sender. */
    signals: Signals;
    /** Forgotten for a chat whose membership changes here. */
    members: MembersCache;
    sequencer: Sequencer;
    config: Config;
    sendLimiter: RateLimiter;
    logger: Logger;
  }) {
    this.#store = opts.store;
    this.#chatLog = opts.chatLog;
    this.#access = opts.access;
    this.#signals = opts.signals;
    this.#members = opts.members;
    this.#seq = opts.sequencer;
    this.#config = opts.config;
    this.#sendLimiter = opts.sendLimiter;
    this.#log = opts.logger;
  }

  /** The direct chat of the pair: created once, then returned as it is (`created` false). */
  async openDirect(me: string, peer: string): Promise<{ view: ChatView; created: boolean }> {
    if (peer === me) throw new NatterError("invalid_input", "a direct chat needs another user", { field: "userId" });
    if (!(await this.#store.getUser(peer))) throw new NatterError("not_found", "no such user", { field: "userId" });
    const chatId = directChatId(me, peer);
    if (await this.#store.getChat(chatId)) return { view: await this.view(chatId), created: false };
    try {
      const { event } = await this.#seq.publish(
        chatId,
        (n, ts) => ({ chat: chatId, n, ts, from: me, kind: "chat.created", chatKind: "direct", members: [me, peer] }),
        { expectEmpty: true },
      );
      await projectEvents(this.#store, [event]);
      return { view: await this.view(chatId), created: true };
    } catch (err) {
      // The peer created it at the same moment: theirs won the position, return it.
      if (err instanceof NatterError && err.code === "conflict") {
        await this.#waitForChat(chatId);
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
    const users = await Promise.all(unique.map((u) => this.#store.getUser(u)));
    const missing = unique.find((_, i) => !users[i]);
    if (missing) throw new NatterError("not_found", `no such user: ${missing}`, { field: "members" });
    const chatId = newId("g_");
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
    const { event } = await this.#seq.publish(chatId, (n, ts) => ({
      chat: chatId,
      n,
      ts,
      from: me,
      kind: "member.added",
      user: userId,
    }));
    await projectEvents(this.#store, [event]);
    this.#members.forget(chatId);
    return event.n;
  }

  /**
   * Admins remove anyone; anyone may remove themselves (leave), except the sole admin of a
   * group that still has other members (409 `last_admin`).
   */
  async removeMember(me: string, chatId: string, userId: string): Promise<number> {
    const mine = await this.requireMember(me, chatId);
    const chat = await this.#store.getChat(chatId);
    if (chat?.kind !== "group") throw new NatterError("invalid_input", "direct chats have no member changes");
    if (userId !== me && mine.role !== "admin") throw new NatterError("forbidden", "only admins remove other members");
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
    const { event } = await this.#seq.publish(chatId, (n, ts) => ({
      chat: chatId,
      n,
      ts,
      from: me,
      kind: "member.removed",
      user: userId,
    }));
    await projectEvents(this.#store, [event]);
    this.#members.forget(chatId);
    return event.n;
  }

  async send(me: string, chatId: string, id: string, body: string): Promise<SendResult> {
    if (Buffer.byteLength(body, "utf8") > this.#config.bodyLimit) {
      throw new NatterError("too_large", `the body is over ${this.#config.bodyLimit} bytes`, { field: "body" });
    }
    if (body.trim() === "") throw new NatterError("invalid_input", "the body is empty", { field: "body" });
    // A retry after the JetStream dedup window: the history store knows where it landed
    // (told to members only, like everything in a chat).
    const earlier = await this.#store.findClientMsg(chatId, me, id);
    if (earlier) {
      await this.requireMember(me, chatId);
      return { chat: chatId, id, seq: earlier.seq, n: earlier.n, ts: earlier.ts, duplicate: true };
    }
    const wait = this.#sendLimiter.take(me);
    if (wait > 0) throw new NatterError("rate_limited", "sending too fast", { retryAfterMs: wait });
    let published: Published;
    try {
      // The sequencer checks membership as of the position the message takes (G3, exact in
      // log order): a removal anywhere before it, even one the store has not projected yet,
      // refuses the send.
      published = await this.#seq.publish(
        chatId,
        (n, ts) => ({ chat: chatId, n, ts, from: me, kind: "message.created", id, body }),
        { dedupId: msgId(chatId, me, id), sender: me },
      );
    } catch (err) {
      if (err instanceof NotMemberError) throw await this.#access.notMember(me, chatId);
      throw err;
    }
    const { event, duplicate } = published;
    if (event.kind !== "message.created" || event.from !== me || event.id !== id) {
      this.#log.error({ chatId, id, seq: event.seq }, "dedup id matched a different event");
      throw new NatterError("internal", "message id collision");
    }
    // Sending marks the chat read up to the message for the sender (after `sent`, not before).
    if (!duplicate) this.#signals.markSent(me, chatId, event.n);
    // No projection here: a message changes only the chat head, which the history consumer
    // advances milliseconds later; a store write per send would halve the gateway's rate.
    return { chat: chatId, id, seq: event.seq, n: event.n, ts: event.ts, duplicate };
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
