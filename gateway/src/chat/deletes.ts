import type { ChatLog } from "@natter/bus";
import type { Logger } from "@natter/config";
import { erasedMessage, isUnavailable, type MessageCreatedEvent, NatterError } from "@natter/protocol";
import type { Store } from "@natter/store";
import { deleteMsgId } from "@natter/subjects";
import type { ChatAccess } from "./access.ts";
import type { HistoryLag } from "./history-lag.ts";
import { NotMemberError, type Sequencer } from "./sequencer.ts";
import type { HomeCalls } from "../edge/home-calls.ts";

/** The `message.deleted` event a delete answers with (`DELETE …/messages/:n`, the `delete` frame). */
export interface DeleteResult {
  chat: string;
  seq: number;
  n: number;
  ts: number;
  /** True for a repeat: the caller's earlier delete of the same message, no new event. */
  duplicate: boolean;
}

/**
 * Deletes for everyone (`message.deleted`, v1.1): who may, and what a repeat answers.
 *
 * - A member deletes their own messages; a group's admins delete anyone's. An operator
 *   (the admin API) deletes any message of any chat.
 * - `not_found`: no such message (or one from before the caller joined, which they cannot
 *   see); `invalid_input`: the target is not a message, or someone else already deleted
 *   it; `forbidden`: not the author nor a group admin (not a member: `ChatAccess`).
 * - A repeat, the same caller deleting the same message again, answers the same event
 *   again and appends nothing: inside the dedup window by the stream (one `Nats-Msg-Id`
 *   per target), after it by the erased row, which names its delete (`deletedN`). One dedup
 *   id per target, whoever asks, so two deletes racing append one event; the loser is told
 *   "already deleted".
 *
 * Erasure: before answering, the gateway erases the message's row where history has
 * written it, so from the answer on no read returns the body (`ChatLog` prefers the
 * store's erased row to the stream's copy, and a message it takes from the stream is
 * folded with the delete further along it), nor an edit's (`ChatLog` erases a deleted
 * message's edits in every read); the history consumer writes the erased rows, the edits'
 * too, in log order, then erases the stream's copies (`consumers/src/erasure.ts`). Nothing
 * is published when a check fails.
 */
export class MessageDeletes {
  readonly #store: Pick<Store, "getChat" | "getEvents" | "eraseMessage">;
  readonly #chatLog: Pick<ChatLog, "range">;
  readonly #access: Pick<ChatAccess, "requireMember" | "notMember">;
  readonly #seq: Pick<Sequencer, "publish">;
  readonly #historyLag: Pick<HistoryLag, "admit">;
  readonly #log: Logger;
  /** Edge sites: the home of a chat homed elsewhere, where the operation goes. */
  readonly #edge: HomeCalls | undefined;

  constructor(opts: {
    store: Pick<Store, "getChat" | "getEvents" | "eraseMessage">;
    chatLog: Pick<ChatLog, "range">;
    access: Pick<ChatAccess, "requireMember" | "notMember">;
    sequencer: Pick<Sequencer, "publish">;
    /** Back-pressure: a delete is an event for history to apply, refused (503) as sends are while it lags. */
    historyLag: Pick<HistoryLag, "admit">;
    logger: Logger;
    /** Edge sites: a member's delete in a chat homed elsewhere goes to its home (`edge/home-calls.ts`). */
    edge?: HomeCalls;
  }) {
    this.#edge = opts.edge;
    this.#store = opts.store;
    this.#chatLog = opts.chatLog;
    this.#access = opts.access;
    this.#seq = opts.sequencer;
    this.#historyLag = opts.historyLag;
    this.#log = opts.logger;
  }

  /** A member's delete: of their own message, or as an admin of a group, of anyone's. */
  async byMember(me: string, chatId: string, target: number): Promise<DeleteResult> {
    const home = this.#edge?.elsewhere(chatId);
    if (home) return this.#edge!.call(home, { op: "delete", me, chatId, target });
    const member = await this.#access.requireMember(me, chatId);
    const message = await this.#target(chatId, target, member.joinedN);
    if (message.from !== me) {
      const chat = await this.#store.getChat(chatId);
      if (chat?.kind !== "group" || member.role !== "admin") {
        throw new NatterError("forbidden", "only its author or an admin of the group may delete this message", {
          field: "n",
        });
      }
    }
    return this.#delete(me, chatId, message, true);
  }

  /** An operator's delete (`DELETE /v1/admin/chats/:chatId/messages/:n`): any message of any chat. */
  async byOperator(operator: string, chatId: string, target: number): Promise<DeleteResult> {
    if (!(await this.#store.getChat(chatId))) throw new NatterError("not_found", "no such chat", { field: "chatId" });
    return this.#delete(operator, chatId, await this.#target(chatId, target, 1), false);
  }

  /** Message `n` of the chat as the log has it now; `minN`: the lowest `n` the caller may see. */
  async #target(chatId: string, n: number, minN: number): Promise<MessageCreatedEvent> {
    const [e] = n >= minN ? await this.#chatLog.range(chatId, { afterN: n - 1, toN: n, limit: 1 }) : [];
    if (!e || e.n !== n) throw new NatterError("not_found", "no such message", { field: "n" });
    if (e.kind !== "message.created")
      throw new NatterError("invalid_input", "the target is not a message", { field: "n" });
    return e;
  }

  async #delete(me: string, chatId: string, message: MessageCreatedEvent, asMember: boolean): Promise<DeleteResult> {
    if (message.deleted) return this.#repeat(me, chatId, message);
    this.#historyLag.admit();
    let published;
    try {
      // A member must still be one at the position the delete takes (G3), as for a send.
      published = await this.#seq.publish(
        chatId,
        (n, ts) => ({
          chat: chatId,
          n,
          ts,
          from: me,
          kind: "message.deleted",
          target: message.n,
          // Its files, for the history consumer to purge (it needs nothing else to find them).
          ...(message.attachments?.length ? { attachmentIds: message.attachments.map((a) => a.attachmentId) } : {}),
        }),
        { dedupId: deleteMsgId(chatId, message.n), ...(asMember ? { sender: me } : {}) },
      );
    } catch (err) {
      if (err instanceof NotMemberError) throw await this.#access.notMember(me, chatId);
      throw err;
    }
    const { event, duplicate } = published;
    if (event.kind !== "message.deleted" || event.target !== message.n) {
      this.#log.error({ chatId, target: message.n, seq: event.seq }, "delete dedup id matched a different event");
      throw new NatterError("internal", "delete id collision");
    }
    if (duplicate && event.from !== me) throw alreadyDeleted();
    try {
      // Only rows history has written already: a row written ahead of it would stand beyond
      // the store's contiguous run, which the chat list's unread count relies on. A message
      // history has not written yet gets its erased row from history (in log order, the
      // delete right behind it), and meanwhile every read that takes it from the stream
      // finds the delete further along the stream (`readChatEvents`).
      // Its edits need no write here (no scan of the events since the message before the
      // answer): every read through `ChatLog` erases the edits of a deleted message, and
      // history erases their copies in log order (`consumers/src/erasure.ts`).
      if (await this.#stored(chatId, message.n)) await this.#store.eraseMessage(erasedMessage(message, event.n));
    } catch (err) {
      // The delete is in the log: history erases the message in its next batch.
      if (!isUnavailable(err)) throw err;
      this.#log.warn({ chatId, target: message.n }, "store unavailable: the erasure waits for the history consumer");
    }
    return { chat: chatId, seq: event.seq, n: event.n, ts: event.ts, duplicate };
  }

  /** Whether the store holds event `n` of the chat (history has written it). */
  async #stored(chatId: string, n: number): Promise<boolean> {
    const [e] = await this.#store.getEvents(chatId, { afterN: n - 1, limit: 1 });
    return e?.n === n;
  }

  /** An erased message: the caller's own delete again (the same answer), or someone else's. */
  async #repeat(me: string, chatId: string, message: MessageCreatedEvent): Promise<DeleteResult> {
    const by = message.deletedN;
    const [d] = by === undefined ? [] : await this.#chatLog.range(chatId, { afterN: by - 1, toN: by, limit: 1 });
    if (d?.kind !== "message.deleted" || d.target !== message.n || d.from !== me) throw alreadyDeleted();
    return { chat: chatId, seq: d.seq, n: d.n, ts: d.ts, duplicate: true };
  }
}

function alreadyDeleted(): NatterError {
  return new NatterError("invalid_input", "the message is already deleted", { field: "n" });
}
