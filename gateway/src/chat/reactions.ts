import type { ChatLog } from "@natter/bus";
import type { Logger } from "@natter/config";
import {
  type ChatEvent,
  isEmoji,
  MAX_REACTION_EMOJI_PER_MESSAGE,
  MAX_REACTIONS_PER_USER_PER_MESSAGE,
  NatterError,
} from "@natter/protocol";
import type { Reaction, Store } from "@natter/store";
import { reactionMsgId } from "@natter/subjects";
import type { RateLimiter } from "../rate-limit.ts";
import type { ChatAccess } from "./access.ts";
import { NotMemberError, type Sequencer } from "./sequencer.ts";
import { eventAt, liveMessage } from "./target.ts";
import type { HomeCalls } from "../edge/home-calls.ts";

/**
 * What a reaction change answers: the event that added the reaction (`react`; the earlier
 * one when it was already there) or removed it (`unreact`); all 0 for an `unreact` of a
 * reaction the caller never had (nothing to remove, nothing appended).
 */
export interface ReactionResult {
  chat: string;
  seq: number;
  n: number;
  ts: number;
}

/**
 * Reactions (`reaction.added` / `reaction.removed`, v1.1): a member adds or takes back an
 * emoji on a message; each change is an event in the log, in `n` order with the messages.
 *
 * - Idempotent per (user, message, emoji): the store's reactions row (projected from the
 *   log; written here right after the publish, before the answer) says whether it is
 *   there. Adding what is there, or removing what is not, appends nothing and answers the
 *   event that made it so.
 * - Concurrent adds of the same reaction on two gateways (two devices, a retry) read the
 *   same row, so they publish with the same dedup id (`reactionMsgId`: the row's `n` is its
 *   version): the stream keeps one event, the other gateway gets its answer.
 * - Bounded (`@natter/protocol` limits): at most `MAX_REACTION_EMOJI_PER_MESSAGE` distinct
 *   emoji on a message and `MAX_REACTIONS_PER_USER_PER_MESSAGE` per user; checked against
 *   the store's rows, so adds racing on two gateways can pass a bound by the racing few.
 * - `invalid_input`: not one emoji (`isEmoji`), a bound reached, a target that is no
 *   message or is deleted; `not_found`: no such message; `forbidden`: no longer a member,
 *   or a direct chat with a block or a decline (as for a send) (G3: checked by the sequencer at the event's position, as for a send).
 */
export class MessageReactions {
  readonly #store: Pick<Store, "getReaction" | "listReactions" | "applyReaction">;
  readonly #chatLog: Pick<ChatLog, "range">;
  readonly #access: Pick<ChatAccess, "requireMember" | "notMember" | "checkSend">;
  readonly #seq: Pick<Sequencer, "publish">;
  readonly #limiter: Pick<RateLimiter, "take">;
  readonly #log: Logger;
  /** Edge sites: the home of a chat homed elsewhere, where the operation goes. */
  readonly #edge: HomeCalls | undefined;

  constructor(opts: {
    store: Pick<Store, "getReaction" | "listReactions" | "applyReaction">;
    chatLog: Pick<ChatLog, "range">;
    access: Pick<ChatAccess, "requireMember" | "notMember" | "checkSend">;
    sequencer: Pick<Sequencer, "publish">;
    /** The send limiter: a reaction is an event in the log like a message. */
    limiter: Pick<RateLimiter, "take">;
    logger: Logger;
    /** Edge sites: a reaction in a chat homed elsewhere goes to its home (`edge/home-calls.ts`). */
    edge?: HomeCalls;
  }) {
    this.#edge = opts.edge;
    this.#store = opts.store;
    this.#chatLog = opts.chatLog;
    this.#access = opts.access;
    this.#seq = opts.sequencer;
    this.#limiter = opts.limiter;
    this.#log = opts.logger;
  }

  /** `me` reacts to message `target` with `emoji` (`PUT …/reactions/:emoji`, the `react` frame). */
  async add(me: string, chatId: string, target: number, emoji: string): Promise<ReactionResult> {
    const home = this.#edge?.elsewhere(chatId);
    if (home) return this.#edge!.call(home, { op: "react", me, chatId, target, emoji });
    const row = await this.#check(me, chatId, target, emoji);
    if (row?.active) return this.#answerOf(chatId, row.n);
    const all = await this.#store.listReactions(chatId, target);
    const emojis = new Set(all.map((r) => r.emoji));
    if (!emojis.has(emoji) && emojis.size >= MAX_REACTION_EMOJI_PER_MESSAGE) {
      throw new NatterError("invalid_input", `a message has at most ${MAX_REACTION_EMOJI_PER_MESSAGE} distinct emoji`, {
        field: "emoji",
      });
    }
    if (all.filter((r) => r.userId === me).length >= MAX_REACTIONS_PER_USER_PER_MESSAGE) {
      throw new NatterError(
        "invalid_input",
        `at most ${MAX_REACTIONS_PER_USER_PER_MESSAGE} reactions of yours on one message`,
        { field: "emoji" },
      );
    }
    return this.#publish(me, chatId, target, emoji, "reaction.added", row?.n ?? 0);
  }

  /** `me` takes back their `emoji` on message `target` (`DELETE …/reactions/:emoji`, the `unreact` frame). */
  async remove(me: string, chatId: string, target: number, emoji: string): Promise<ReactionResult> {
    const home = this.#edge?.elsewhere(chatId);
    if (home) return this.#edge!.call(home, { op: "unreact", me, chatId, target, emoji });
    const row = await this.#check(me, chatId, target, emoji);
    if (!row) return { chat: chatId, seq: 0, n: 0, ts: 0 };
    if (!row.active) return this.#answerOf(chatId, row.n);
    return this.#publish(me, chatId, target, emoji, "reaction.removed", row.n);
  }

  /** The checks both share; the caller's row for (message, emoji), if any. */
  async #check(me: string, chatId: string, target: number, emoji: string): Promise<Reaction | undefined> {
    if (!isEmoji(emoji)) throw new NatterError("invalid_input", "emoji must be one emoji", { field: "emoji" });
    const member = await this.#access.requireMember(me, chatId);
    // A block or decline of a direct chat refuses reactions as it refuses sends.
    await this.#access.checkSend(me, chatId);
    await liveMessage(this.#chatLog, chatId, target, member.joinedN, "n");
    return this.#store.getReaction(chatId, target, me, emoji);
  }

  async #publish(
    me: string,
    chatId: string,
    target: number,
    emoji: string,
    kind: "reaction.added" | "reaction.removed",
    version: number,
  ): Promise<ReactionResult> {
    const wait = this.#limiter.take(me);
    if (wait > 0) throw new NatterError("rate_limited", "reacting too fast", { retryAfterMs: wait });
    let event: ChatEvent;
    try {
      ({ event } = await this.#seq.publish(
        chatId,
        (n, ts) => ({ chat: chatId, n, ts, from: me, kind, target, emoji }),
        {
          dedupId: reactionMsgId(chatId, me, target, emoji, kind === "reaction.added" ? "+" : "-", version),
          sender: me,
        },
      ));
    } catch (err) {
      if (err instanceof NotMemberError) throw await this.#access.notMember(me, chatId);
      throw err;
    }
    if (event.kind !== kind || event.from !== me || event.target !== target || event.emoji !== emoji) {
      this.#log.error({ chatId, target, seq: event.seq }, "reaction dedup id matched a different event");
      throw new NatterError("internal", "reaction id collision");
    }
    // The row before the answer: the next change of this reaction, on any gateway, sees it
    // (history writes it again in log order; the row only moves forward by n).
    await this.#store.applyReaction({
      chatId,
      target,
      userId: me,
      emoji,
      n: event.n,
      active: kind === "reaction.added",
    });
    return { chat: chatId, seq: event.seq, n: event.n, ts: event.ts };
  }

  /** The answer for the event at `n` (a repeat): its seq and ts from the log. */
  async #answerOf(chatId: string, n: number): Promise<ReactionResult> {
    const e = await eventAt(this.#chatLog, chatId, n);
    return { chat: chatId, seq: e?.seq ?? 0, n, ts: e?.ts ?? 0 };
  }
}
