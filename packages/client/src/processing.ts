/**
 * At-least-once processing: what moves a chat's stored cursor. The ordering hands each
 * chat's events over in `n` order; this hands them to the app's `event` listeners and
 * stores the cursor only once the app has processed the event, so a crash (SIGKILL,
 * a power cut) before that makes the event come again on the next start, and nothing is
 * lost.
 *
 * - `"after-handler"` (the default): a listener may return a promise. The cursor moves to
 *   the event's `n` when every listener has returned (for plain functions) or its promise
 *   has resolved, and the chat's next event is handed over only then: one event of a chat
 *   at a time, in order (chats run side by side). A listener that throws or rejects
 *   leaves the cursor where it was; the SDK emits a `HandlerError` and hands the same
 *   event over again after a backoff (100 ms doubling to 30 s), until it succeeds.
 * - `"on-done"`: events are handed over at once, as they come, and the cursor moves only
 *   when the app calls `client.done(event)` (everything of that chat up to `event.n`).
 *
 * Either way an event may come more than once (at least once); a reply made idempotent
 * with `replyId(event)` is sent at most once.
 */
import type { ChatEvent } from "@natter/protocol";
import type { CursorStore } from "./cursor-store.ts";
import { PerChat } from "./per-chat.ts";

export type CursorMoves = "after-handler" | "on-done";

/** An `event` listener failed; the event will be handed over again. */
export class HandlerError extends Error {
  override name = "HandlerError";
  readonly code = "handler_failed";
  readonly event: ChatEvent;
  readonly attempt: number;
  constructor(event: ChatEvent, attempt: number, cause: unknown) {
    super(`the event handler failed on ${event.chat} #${event.n} (attempt ${attempt}); it will be retried`, { cause });
    this.event = event;
    this.attempt = attempt;
  }
}

export interface ProcessingDeps {
  cursors: CursorStore;
  mode: CursorMoves;
  /** The app's `event` listeners, as they are now. */
  listeners(): ((event: ChatEvent) => unknown)[];
  /** The event is processed and its cursor stored. */
  processed(event: ChatEvent): void;
  onError(err: Error): void;
}

interface ChatQueue {
  queue: ChatEvent[];
  busy: boolean;
  /** Bumped by `reset`: a handler that finishes for an older generation moves nothing. */
  gen: number;
  attempt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class Processing {
  readonly #d: ProcessingDeps;
  readonly #chats = new PerChat<ChatQueue>(() => ({ queue: [], busy: false, gen: 0, attempt: 0, timer: undefined }));
  #stopped = false;

  constructor(deps: ProcessingDeps) {
    this.#d = deps;
  }

  /** An event, in n order for its chat, to hand to the app. */
  push(e: ChatEvent): void {
    if (this.#stopped) return;
    if (this.#d.mode === "on-done") {
      for (const fn of this.#d.listeners()) this.#call(fn, e).catch((err: unknown) => this.#d.onError(asError(err)));
      return;
    }
    const q = this.#chats.of(e.chat);
    q.queue.push(e);
    this.#pump(e.chat, q);
  }

  /** `client.done(event)`: everything of the chat up to `n` is processed. */
  done(chat: string, n: number): void {
    if (n > (this.#d.cursors.get(chat) ?? -1)) this.#d.cursors.set(chat, n);
  }

  /** Events handed over but not processed yet (queued or running), per chat. */
  pending(chat: string): number {
    return this.#chats.get(chat)?.queue.length ?? 0;
  }

  /** Drops what is queued for the chat (a rewind or forget); a running handler's end moves nothing. */
  reset(chat: string): void {
    const q = this.#chats.get(chat);
    if (!q) return;
    q.gen++;
    const running = q.busy && q.timer === undefined;
    clearTimeout(q.timer);
    q.timer = undefined;
    if (running) {
      // The running one stays first until it ends; then it is dropped with its generation.
      q.queue.length = 1;
      return;
    }
    q.busy = false;
    q.queue.length = 0;
    this.#chats.delete(chat);
  }

  stop(): void {
    this.#stopped = true;
    this.#chats.cancelAll();
  }

  /** Runs the chat's queue; synchronous while every listener is. */
  #pump(chat: string, q: ChatQueue): void {
    while (!q.busy && q.queue.length > 0 && !this.#stopped) {
      const e = q.queue[0]!;
      const pending: PromiseLike<unknown>[] = [];
      let failure: { err: unknown } | undefined;
      for (const fn of this.#d.listeners()) {
        try {
          const r = fn(e);
          if (isThenable(r)) pending.push(r);
        } catch (err) {
          failure = { err };
          break;
        }
      }
      if (failure) {
        this.#failed(chat, q, e, failure.err);
        return;
      }
      if (pending.length === 0) {
        this.#commit(q, e);
        continue;
      }
      q.busy = true;
      const gen = q.gen;
      Promise.all(pending).then(
        () => {
          q.busy = false;
          if (q.gen === gen) this.#commit(q, e);
          else q.queue.shift();
          this.#pumpOrDrop(chat, q);
        },
        (err: unknown) => {
          q.busy = false;
          if (q.gen !== gen) {
            q.queue.shift();
            this.#pumpOrDrop(chat, q);
            return;
          }
          this.#failed(chat, q, e, err);
        },
      );
      return;
    }
    this.#pumpOrDrop(chat, q, false);
  }

  #pumpOrDrop(chat: string, q: ChatQueue, pump = true): void {
    if (q.queue.length === 0 && !q.busy && q.timer === undefined) {
      if (this.#chats.get(chat) === q) this.#chats.delete(chat);
      return;
    }
    if (pump) this.#pump(chat, q);
  }

  #commit(q: ChatQueue, e: ChatEvent): void {
    q.queue.shift();
    q.attempt = 0;
    this.#d.cursors.set(e.chat, e.n);
    this.#d.processed(e);
  }

  #failed(chat: string, q: ChatQueue, e: ChatEvent, err: unknown): void {
    q.attempt++;
    this.#d.onError(new HandlerError(e, q.attempt, err));
    q.busy = true;
    q.timer = setTimeout(
      () => {
        q.timer = undefined;
        q.busy = false;
        this.#pump(chat, q);
      },
      Math.min(30_000, 100 * 2 ** (q.attempt - 1)),
    );
  }

  async #call(fn: (event: ChatEvent) => unknown, e: ChatEvent): Promise<void> {
    await fn(e);
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
