import type { Store } from "@natter/store";

interface Entry {
  at: number;
  members: Promise<string[]>;
}

/**
 * A chat's active members, cached briefly (default 2 s) for the ephemeral signals: typing
 * and receipts go to every member, and asking the store for each would cost a query per
 * keystroke. Bounded (oldest entries dropped first). Sends and history never use it: they
 * check membership in the store every time (G3).
 */
export class MembersCache {
  readonly #store: Store;
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #entries = new Map<string, Entry>();

  constructor(opts: { store: Store; ttlMs?: number; max?: number }) {
    this.#store = opts.store;
    this.#ttlMs = opts.ttlMs ?? 2000;
    this.#max = opts.max ?? 10_000;
  }

  /** Active member ids of the chat (empty for an unknown chat). */
  members(chatId: string, now = Date.now()): Promise<string[]> {
    const hit = this.#entries.get(chatId);
    if (hit && now - hit.at < this.#ttlMs) return hit.members;
    const members = this.#store.listMembers(chatId).then((list) => list.map((m) => m.userId));
    members.catch(() => this.#entries.delete(chatId));
    this.#entries.delete(chatId);
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(chatId, { at: now, members });
    return members;
  }

  /** Forgets a chat (its membership changed here). */
  forget(chatId: string): void {
    this.#entries.delete(chatId);
  }
}
