import type { Store } from "@natter/store";

interface Entry {
  at: number;
  users: Promise<Set<string>>;
}

const CONCURRENCY = 16;

/**
 * Who may see whose presence: users who share a chat (G3's spirit for presence). A user's
 * contacts are the members of their chats, computed from the store and cached briefly
 * (default 10 s; bounded), since a `watch` of 200 users asks about all of them at once. A
 * user always sees their own presence. Users outside the set are left out silently: a
 * stranger learns nothing, not even that the user exists.
 */
export class Contacts {
  readonly #store: Store;
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #entries = new Map<string, Entry>();

  constructor(opts: { store: Store; ttlMs?: number; max?: number }) {
    this.#store = opts.store;
    this.#ttlMs = opts.ttlMs ?? 10_000;
    this.#max = opts.max ?? 10_000;
  }

  /** `users` that `me` may see, in the order given. */
  async visible(me: string, users: readonly string[]): Promise<string[]> {
    const others = users.filter((u) => u !== me);
    const contacts = others.length > 0 ? await this.of(me) : new Set<string>();
    return users.filter((u) => u === me || contacts.has(u));
  }

  /** Everyone who shares an active chat with `me`. */
  of(me: string, now = Date.now()): Promise<Set<string>> {
    const hit = this.#entries.get(me);
    if (hit && now - hit.at < this.#ttlMs) return hit.users;
    const users = this.#load(me);
    users.catch(() => this.#entries.delete(me));
    this.#entries.delete(me);
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(me, { at: now, users });
    return users;
  }

  async #load(me: string): Promise<Set<string>> {
    const chats = await this.#store.listChatIdsForUser(me);
    const out = new Set<string>();
    let next = 0;
    const worker = async () => {
      while (next < chats.length) {
        for (const m of await this.#store.listMembers(chats[next++]!)) out.add(m.userId);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, chats.length) }, worker));
    out.delete(me);
    return out;
  }
}
