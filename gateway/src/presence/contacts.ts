import type { Store } from "@natter/store";
import { TtlCache } from "../ttl-cache.ts";

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
  readonly #cache: TtlCache<Set<string>>;

  constructor(opts: { store: Store; ttlMs?: number; max?: number }) {
    this.#store = opts.store;
    this.#cache = new TtlCache({ ttlMs: opts.ttlMs ?? 10_000, max: opts.max ?? 10_000 });
  }

  /** `users` that `me` may see, in the order given. */
  async visible(me: string, users: readonly string[]): Promise<string[]> {
    const others = users.filter((u) => u !== me);
    const contacts = others.length > 0 ? await this.of(me) : new Set<string>();
    return users.filter((u) => u === me || contacts.has(u));
  }

  /** Everyone who shares an active chat with `me`. */
  of(me: string, now = Date.now()): Promise<Set<string>> {
    return this.#cache.get(me, () => this.#load(me), now);
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
