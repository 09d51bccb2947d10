import type { Store } from "@natter/store";
import { TtlCache } from "../ttl-cache.ts";

/**
 * A chat's active members, cached briefly (default 2 s) for the ephemeral signals: typing
 * and receipts go to every member, and asking the store for each would cost a query per
 * keystroke. Bounded (oldest entries dropped first). Sends and history never use it: they
 * check membership in the store every time (G3).
 */
export class MembersCache {
  readonly #store: Store;
  readonly #cache: TtlCache<string[]>;

  constructor(opts: { store: Store; ttlMs?: number; max?: number }) {
    this.#store = opts.store;
    this.#cache = new TtlCache({ ttlMs: opts.ttlMs ?? 2000, max: opts.max ?? 10_000 });
  }

  /** Active member ids of the chat (empty for an unknown chat). */
  members(chatId: string, now = Date.now()): Promise<string[]> {
    return this.#cache.get(
      chatId,
      () => this.#store.listMembers(chatId).then((list) => list.map((m) => m.userId)),
      now,
    );
  }

  /** Forgets a chat (its membership changed here). */
  forget(chatId: string): void {
    this.#cache.forget(chatId);
  }
}
