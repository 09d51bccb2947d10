import type { Store } from "@natter/store";
import { userContactsSubject } from "@natter/subjects";
import type { NatsConnection } from "@nats-io/transport-node";
import { accepted } from "../chat/access.ts";
import { TtlCache } from "../ttl-cache.ts";

const CONCURRENCY = 16;

/**
 * Who may see whose presence: users with an accepted relationship, that is who share a
 * chat that both have accepted (neither's membership is a pending or declined message
 * request) and neither blocks the other. The relation is symmetric: a stranger who
 * opened a chat with me sees nothing of me, and I nothing of them, until I accept. A
 * user's contacts are computed from the store and cached briefly (default 10 s; bounded),
 * since a `watch` of 200 users asks about all of them at once. A user always sees their
 * own presence. Users outside the set are left out silently: a stranger learns nothing,
 * not even that the user exists.
 *
 * When a relationship may have changed (a block, an unblock, a request accepted or
 * declined, a removal from a chat), `changed` publishes `user.<userId>.contacts` for each
 * user concerned: every gateway holding a socket of theirs forgets the cached set and
 * re-checks the user's open watches (`WatchSet.recheck`), so a watch never outlives the
 * relationship that allowed it.
 */
export class Contacts {
  readonly #store: Store;
  readonly #nc: NatsConnection | undefined;
  readonly #cache: TtlCache<Set<string>>;

  constructor(opts: { store: Store; nc?: NatsConnection; ttlMs?: number; max?: number }) {
    this.#store = opts.store;
    this.#nc = opts.nc;
    this.#cache = new TtlCache({ ttlMs: opts.ttlMs ?? 10_000, max: opts.max ?? 10_000 });
  }

  /** `users` that `me` may see, in the order given. */
  async visible(me: string, users: readonly string[]): Promise<string[]> {
    const others = users.filter((u) => u !== me);
    const contacts = others.length > 0 ? await this.of(me) : new Set<string>();
    return users.filter((u) => u === me || contacts.has(u));
  }

  /** Everyone with an accepted relationship with `me` (cached). */
  of(me: string, now = Date.now()): Promise<Set<string>> {
    return this.#cache.get(me, () => this.load(me), now);
  }

  /** Forgets `userId`'s cached contacts (their relationships changed). */
  forget(userId: string): void {
    this.#cache.forget(userId);
  }

  /**
   * The relationships of `users` may have changed: forgotten here, and every gateway
   * holding one of them told on `user.<userId>.contacts` (core NATS: a gateway that
   * misses it re-checks its watches after a NATS reconnect, and caches expire anyway).
   */
  async changed(users: Iterable<string>): Promise<void> {
    for (const u of new Set(users)) {
      this.forget(u);
      this.#nc?.publish(userContactsSubject(u), "");
    }
    // Resolves once nats-server has the signals (and has queued them to every gateway
    // subscribed), so the block, decline or removal is answered only after that: NATS
    // writes leave once per event-loop turn (`coalesceWrites`), after the HTTP answer
    // would. A flush that fails (NATS away) holds nothing up: caches expire anyway.
    await this.#nc?.flush().catch(() => {});
  }

  /** Everyone with an accepted relationship with `me`, read from the store now (no cache). */
  async load(me: string): Promise<Set<string>> {
    const [chats, mine, blocked, blockedBy] = await Promise.all([
      this.#store.listChatIdsForUser(me),
      this.#store.listChatRequests(me),
      this.#store.listBlocked(me),
      this.#store.listBlockedBy(me),
    ]);
    const unanswered = new Set(mine.filter((r) => !accepted(r)).map((r) => r.chatId));
    const mineAccepted = chats.filter((c) => !unanswered.has(c));
    const out = new Set<string>();
    let next = 0;
    const worker = async () => {
      while (next < mineAccepted.length) {
        const chatId = mineAccepted[next++]!;
        const [members, requests] = await Promise.all([
          this.#store.listMembers(chatId),
          this.#store.listChatRequestsOfChat(chatId),
        ]);
        const notYet = new Set(requests.filter((r) => !accepted(r)).map((r) => r.userId));
        for (const m of members) if (!notYet.has(m.userId)) out.add(m.userId);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, mineAccepted.length) }, worker));
    out.delete(me);
    for (const b of blocked) out.delete(b.blockedId);
    for (const b of blockedBy) out.delete(b.userId);
    return out;
  }

  /**
   * Do `a` and `b` have an accepted relationship now (no cache)? The pairwise form of
   * `load`, for deciding whether a new chat or a group add is a message request: a few
   * partition reads whatever the number of chats.
   */
  async related(a: string, b: string): Promise<boolean> {
    const [chatsA, chatsB, reqA, reqB, ab, ba] = await Promise.all([
      this.#store.listChatIdsForUser(a),
      this.#store.listChatIdsForUser(b),
      this.#store.listChatRequests(a),
      this.#store.listChatRequests(b),
      this.#store.getBlock(a, b),
      this.#store.getBlock(b, a),
    ]);
    if (ab?.blocked || ba?.blocked) return false;
    const notYet = new Set([...reqA, ...reqB].filter((r) => !accepted(r)).map((r) => r.chatId));
    const ofB = new Set(chatsB);
    return chatsA.some((c) => ofB.has(c) && !notYet.has(c));
  }
}
