/**
 * A chat's messages as a reader shows them, folded from its events: each `message.created`
 * by its `n` (with its `replyTo`), and what later events do to it, whatever order the
 * events arrive in (a live event about a message loaded later from an old page, or the
 * reverse):
 *
 * - a `message.deleted` turns its target into the deleted form history returns
 *   (`deleted: true`, no body; `erasedMessage` in protocol); a deleted message never gets
 *   a body back, nor shows edits or reactions;
 * - a `message.edited` gives its target the edit's body: the newest edit's (by `n`), with
 *   `edited` saying which and when;
 * - `reaction.added` / `reaction.removed` set one (user, emoji) of the target: the newest
 *   event of each pair wins, so the fold is the server's state in any order.
 *
 * A client keeps one per open chat and renders `list()`; `apply` says which message changed.
 */
import { type ChatEvent, erasedMessage, type MessageCreatedEvent } from "@natter/protocol";

/** One emoji on a message and who reacted with it, in the order they did. */
export interface ReactionSummary {
  emoji: string;
  users: string[];
}

/** A message as shown: the created event with its edits and reactions folded in. */
export interface ChatMessage extends MessageCreatedEvent {
  /** The newest edit: its `n` and time (`body` is its body). */
  edited?: { n: number; ts: number };
  /** The active reactions, each emoji once, in the order first added; absent for none. */
  reactions?: ReactionSummary[];
}

interface Edit {
  n: number;
  ts: number;
  body: string;
}
interface ReactionState {
  n: number;
  active: boolean;
  user: string;
  emoji: string;
}

export class ChatMessages {
  readonly #byN = new Map<number, MessageCreatedEvent>();
  /** Deletes seen, by target: the delete's n (applied to the target whenever it arrives). */
  readonly #deleted = new Map<number, number>();
  /** The newest edit seen of each target. */
  readonly #edits = new Map<number, Edit>();
  /** Each target's reactions by `user\nemoji`: the newest event of the pair. */
  readonly #reactions = new Map<number, Map<string, ReactionState>>();

  /** Folds one event in; returns the message it added or changed (none for other kinds, or a target not held). */
  apply(e: ChatEvent): ChatMessage | undefined {
    switch (e.kind) {
      case "message.deleted": {
        this.#deleted.set(e.target, e.n);
        const target = this.#byN.get(e.target);
        if (!target || target.deleted) return undefined;
        this.#byN.set(e.target, erasedMessage(target, e.n));
        return this.get(e.target);
      }
      case "message.edited": {
        // An erased edit (its message deleted) has no body to show.
        const known = this.#edits.get(e.target);
        if (e.body !== undefined && (!known || e.n > known.n)) {
          this.#edits.set(e.target, { n: e.n, ts: e.ts, body: e.body });
        }
        return this.get(e.target);
      }
      case "reaction.added":
      case "reaction.removed": {
        let pairs = this.#reactions.get(e.target);
        if (!pairs) this.#reactions.set(e.target, (pairs = new Map()));
        const key = `${e.from}\n${e.emoji}`;
        const known = pairs.get(key);
        if (!known || e.n > known.n) {
          pairs.set(key, { n: e.n, active: e.kind === "reaction.added", user: e.from, emoji: e.emoji });
        }
        return this.get(e.target);
      }
      case "message.created": {
        // Once deleted, a message stays as it is: no copy of the same n changes it again.
        if (this.#byN.get(e.n)?.deleted) return undefined;
        const by = this.#deleted.get(e.n);
        this.#byN.set(e.n, by !== undefined && !e.deleted ? erasedMessage(e, by) : e);
        return this.get(e.n);
      }
      default:
        return undefined;
    }
  }

  /** The message at `n`, as it stands. */
  get(n: number): ChatMessage | undefined {
    const message = this.#byN.get(n);
    if (!message || message.deleted) return message;
    const edit = this.#edits.get(n);
    const reactions = this.#summary(n);
    return {
      ...message,
      ...(edit ? { body: edit.body, edited: { n: edit.n, ts: edit.ts } } : {}),
      ...(reactions.length > 0 ? { reactions } : {}),
    };
  }

  /** Every message held, ascending by n (deleted ones included, without their body). */
  list(): ChatMessage[] {
    return [...this.#byN.keys()].sort((a, b) => a - b).map((n) => this.get(n)!);
  }

  /** The active reactions of message `n`, each emoji once, ordered by its first active add. */
  #summary(n: number): ReactionSummary[] {
    const pairs = this.#reactions.get(n);
    if (!pairs) return [];
    const active = [...pairs.values()].filter((r) => r.active).sort((a, b) => a.n - b.n);
    const byEmoji = new Map<string, string[]>();
    for (const r of active) {
      const users = byEmoji.get(r.emoji);
      if (users) users.push(r.user);
      else byEmoji.set(r.emoji, [r.user]);
    }
    return [...byEmoji].map(([emoji, users]) => ({ emoji, users }));
  }
}
