/**
 * A chat's messages as a reader shows them, folded from its events: each `message.created`
 * by its `n`, and a `message.deleted` turns its target into the deleted form history
 * returns (`deleted: true`, no body; `erasedMessage` in protocol), whether the delete is
 * applied before or after the message itself (a live delete of a message loaded later
 * from an old page, or the reverse). A client keeps one per open chat and renders
 * `list()`; `apply` says which message changed.
 */
import { type ChatEvent, erasedMessage, type MessageCreatedEvent } from "@natter/protocol";

export class ChatMessages {
  readonly #byN = new Map<number, MessageCreatedEvent>();
  /** Deletes seen, by target: the delete's n (applied to the target whenever it arrives). */
  readonly #deleted = new Map<number, number>();

  /** Folds one event in; returns the message it added or changed (none for other kinds). */
  apply(e: ChatEvent): MessageCreatedEvent | undefined {
    if (e.kind === "message.deleted") {
      this.#deleted.set(e.target, e.n);
      const target = this.#byN.get(e.target);
      if (!target || target.deleted) return undefined;
      const erased = erasedMessage(target, e.n);
      this.#byN.set(e.target, erased);
      return erased;
    }
    if (e.kind !== "message.created") return undefined;
    // Once deleted, a message stays as it is: no copy of the same n changes it again.
    if (this.#byN.get(e.n)?.deleted) return undefined;
    const by = this.#deleted.get(e.n);
    const message = by !== undefined && !e.deleted ? erasedMessage(e, by) : e;
    this.#byN.set(e.n, message);
    return message;
  }

  /** The message at `n`, as it stands. */
  get(n: number): MessageCreatedEvent | undefined {
    return this.#byN.get(n);
  }

  /** Every message held, ascending by n (deleted ones included, without their body). */
  list(): MessageCreatedEvent[] {
    return [...this.#byN.values()].sort((a, b) => a.n - b.n);
  }
}
