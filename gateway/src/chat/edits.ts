import type { ChatLog } from "@natter/bus";
import type { Logger } from "@natter/config";
import { isUnavailable, NatterError } from "@natter/protocol";
import { editClientKey, type Store } from "@natter/store";
import { editMsgId } from "@natter/subjects";
import type { RateLimiter } from "../rate-limit.ts";
import type { ChatAccess } from "./access.ts";
import type { HistoryLag } from "./history-lag.ts";
import { NotMemberError, type Sequencer } from "./sequencer.ts";
import { liveMessage } from "./target.ts";
import type { HomeCalls } from "../edge/home-calls.ts";

/** The `message.edited` event an edit answers with (`PATCH …/messages/:n`, the `edit` frame). */
export interface EditResult {
  chat: string;
  /** The client's id of the edit. */
  id: string;
  seq: number;
  n: number;
  ts: number;
  /** True for a retry of the same edit (same id) inside the dedup window: no new event. */
  duplicate: boolean;
}

/** Events read past the target to tell whether it is still the newest message (`latest`). */
const LATEST_WINDOW = 100;

/**
 * Edits (`message.edited`, v1.1): the author gives a message a new body, as an event of its
 * own in the log, so every device and history see it in `n` order.
 *
 * - Only the author, while a member and allowed to send there (a block or decline of a
 *   direct chat refuses edits as it refuses sends: `forbidden`) (G3: the sequencer checks membership at the edit's
 *   position, as for a send). No time limit: every edit stays in the log (clients show
 *   "edited"), so a late edit hides nothing from anyone who kept the chat open.
 * - `not_found`: no such message (or one from before the caller joined); `invalid_input`:
 *   the target is no message, or is deleted; the body's rules are a send's (`too_large`,
 *   `invalid_input` for a blank one); `forbidden`: someone else's message.
 * - A retry with the same `id` answers the same event: inside the JetStream dedup window
 *   by the stream (`editMsgId`), after it by the store's client-message index (the edit's
 *   `editClientKey`), as a send's retry.
 * - `latest`: set when the target is the chat's newest message as the edit lands (no
 *   message after it, and nothing published between that read and the edit): the chat
 *   list's preview then follows the edit. An edit that races another event conservatively
 *   leaves it off (the preview keeps the original body until the next message).
 *
 * Nothing is published when a check fails. A delete racing an edit is handled by the
 * history consumer: an edit whose target is deleted is erased with it (`erasure.ts`).
 */
export class MessageEdits {
  readonly #store: Pick<Store, "findClientMsg">;
  readonly #chatLog: Pick<ChatLog, "range" | "head">;
  readonly #access: Pick<ChatAccess, "requireMember" | "notMember" | "checkSend">;
  readonly #seq: Pick<Sequencer, "publish">;
  readonly #bodyLimit: number;
  readonly #limiter: Pick<RateLimiter, "take">;
  readonly #historyLag: Pick<HistoryLag, "admit">;
  readonly #log: Logger;
  /** Edge sites: the home of a chat homed elsewhere, where the operation goes. */
  readonly #edge: HomeCalls | undefined;

  constructor(opts: {
    /** The client-message index: a retry after the dedup window answers the edit it repeats. */
    store: Pick<Store, "findClientMsg">;
    chatLog: Pick<ChatLog, "range" | "head">;
    access: Pick<ChatAccess, "requireMember" | "notMember" | "checkSend">;
    sequencer: Pick<Sequencer, "publish">;
    /** `NATTER_BODY_LIMIT`: an edit's body has a message's limit. */
    bodyLimit: number;
    /** The send limiter: an edit costs the log what a message does. */
    limiter: Pick<RateLimiter, "take">;
    historyLag: Pick<HistoryLag, "admit">;
    logger: Logger;
    /** Edge sites: an edit of a chat homed elsewhere goes to its home (`edge/home-calls.ts`). */
    edge?: HomeCalls;
  }) {
    this.#edge = opts.edge;
    this.#store = opts.store;
    this.#chatLog = opts.chatLog;
    this.#access = opts.access;
    this.#seq = opts.sequencer;
    this.#bodyLimit = opts.bodyLimit;
    this.#limiter = opts.limiter;
    this.#historyLag = opts.historyLag;
    this.#log = opts.logger;
  }

  async edit(me: string, chatId: string, target: number, id: string, body: string): Promise<EditResult> {
    const home = this.#edge?.elsewhere(chatId);
    if (home) return this.#edge!.call(home, { op: "edit", me, chatId, target, id, body });
    if (Buffer.byteLength(body, "utf8") > this.#bodyLimit) {
      throw new NatterError("too_large", `the body is over ${this.#bodyLimit} bytes`, { field: "body" });
    }
    if (body.trim() === "") throw new NatterError("invalid_input", "the body is empty", { field: "body" });
    // A retry after the JetStream dedup window: the history store knows where it landed.
    const earlier = await this.#earlierEdit(chatId, me, id);
    if (earlier) {
      await this.#access.requireMember(me, chatId);
      return { chat: chatId, id, seq: earlier.seq, n: earlier.n, ts: earlier.ts, duplicate: true };
    }
    const member = await this.#access.requireMember(me, chatId);
    // Blocks and declines of a direct chat refuse an edit as they refuse a send (new content).
    await this.#access.checkSend(me, chatId);
    const message = await liveMessage(this.#chatLog, chatId, target, member.joinedN, "n");
    if (message.from !== me) throw new NatterError("forbidden", "only its author may edit a message", { field: "n" });
    this.#historyLag.admit();
    const wait = this.#limiter.take(me);
    if (wait > 0) throw new NatterError("rate_limited", "sending too fast", { retryAfterMs: wait });
    const newestAt = await this.#newestAt(chatId, target);
    let published;
    try {
      published = await this.#seq.publish(
        chatId,
        (n, ts) => ({
          chat: chatId,
          n,
          ts,
          from: me,
          kind: "message.edited",
          id,
          target,
          body,
          ...(newestAt !== undefined && n === newestAt + 1 ? { latest: true as const } : {}),
        }),
        { dedupId: editMsgId(chatId, me, id), sender: me },
      );
    } catch (err) {
      if (err instanceof NotMemberError) throw await this.#access.notMember(me, chatId);
      throw err;
    }
    const { event, duplicate } = published;
    if (event.kind !== "message.edited" || event.from !== me || event.id !== id) {
      this.#log.error({ chatId, id, seq: event.seq }, "edit dedup id matched a different event");
      throw new NatterError("internal", "edit id collision");
    }
    return { chat: chatId, id, seq: event.seq, n: event.n, ts: event.ts, duplicate };
  }

  /** Where an earlier edit with this id landed (the store's client-message index); none when it cannot be read. */
  async #earlierEdit(chatId: string, me: string, id: string) {
    try {
      return await this.#store.findClientMsg(chatId, me, editClientKey(id));
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      return undefined;
    }
  }

  /**
   * The chat's head `n` when message `target` is its newest message (no message after it
   * up to the head), else undefined. Reads at most `LATEST_WINDOW` events past the target.
   */
  async #newestAt(chatId: string, target: number): Promise<number | undefined> {
    const head = await this.#chatLog.head(chatId);
    if (head.n === target) return head.n;
    if (head.n - target > LATEST_WINDOW) return undefined;
    const after = await this.#chatLog.range(chatId, { afterN: target, toN: head.n, limit: LATEST_WINDOW });
    if (after.length !== head.n - target || after.some((e) => e.kind === "message.created")) return undefined;
    return head.n;
  }
}
