/**
 * `client.users`: the names of the people a client shows. Events and lists carry user
 * ids; this keeps `{userId, handle, displayName}` for each user met, learned for free from
 * what the server sends with ids (a direct chat's `peerHandle`/`peerDisplayName` in
 * `GET /v1/chats`, which `connect()` reads; each member's `handle`/`displayName` in
 * `GET /v1/chats/:chatId`, via `members()`), and otherwise looked up once by id
 * (`GET /v1/users/:userId`, which answers for anyone). Optionally kept in a `StorageLike`
 * (`localStorage`) so a reload starts with every name.
 */
import type { ChatEvent } from "@natter/protocol";
import type { StorageLike } from "./cursor-store.ts";
import { Emitter } from "./emitter.ts";
import type { ChatView, NatterHttp, User } from "./http.ts";

export interface UsersOptions {
  /** Where to keep what was learned across reloads (`localStorage`); default memory only. */
  storage?: StorageLike;
  /** The storage key (one per logged-in user, e.g. `natter:users:<userId>`). Default `natter:users`. */
  key?: string;
  /** Most users kept in storage (the most recently learned). Default 2000. */
  max?: number;
}

export class Users {
  readonly #http: NatterHttp;
  readonly #map = new Map<string, User>();
  readonly #lookups = new Map<string, Promise<User | undefined>>();
  readonly #storage: StorageLike | undefined;
  readonly #key: string;
  readonly #max: number;
  readonly #emitter = new Emitter<{ change: [User] }>();

  constructor(http: NatterHttp, opts: UsersOptions = {}) {
    this.#http = http;
    this.#storage = opts.storage;
    this.#key = opts.key ?? "natter:users";
    this.#max = opts.max ?? 2000;
    if (!this.#storage) return;
    try {
      const list = JSON.parse(this.#storage.getItem(this.#key) ?? "[]") as unknown;
      if (Array.isArray(list)) {
        for (const u of list as User[]) {
          if (u && typeof u.userId === "string" && typeof u.handle === "string") this.#map.set(u.userId, u);
        }
      }
    } catch {
      // A corrupt entry: start over; names are looked up again.
    }
  }

  /** `users.on("change", (user) => …)`: a name was learned or changed. Returns an unsubscribe function. */
  on(event: "change", listener: (user: User) => void): () => void {
    return this.#emitter.on(event, listener);
  }

  /** The user if known (no request). */
  get(userId: string): User | undefined {
    return this.#map.get(userId);
  }

  /** The display name, or `user <last 6 of the id>` while unknown. */
  name(userId: string): string {
    return this.#map.get(userId)?.displayName ?? `user ${userId.slice(-6)}`;
  }

  /** `@handle`, or the id while unknown. */
  handle(userId: string): string {
    const u = this.#map.get(userId);
    return u ? `@${u.handle}` : userId;
  }

  /** Records a user; returns whether anything changed (then `change` is emitted). */
  learn(u: User): boolean {
    const had = this.#map.get(u.userId);
    if (had && had.handle === u.handle && had.displayName === u.displayName) return false;
    const user = { userId: u.userId, handle: u.handle, displayName: u.displayName };
    this.#map.delete(u.userId);
    this.#map.set(u.userId, user);
    this.#storage?.setItem(this.#key, JSON.stringify([...this.#map.values()].slice(-this.#max)));
    this.#emitter.emit("change", user);
    return true;
  }

  /** Learns the members of a chat from `GET /v1/chats/:chatId` (their names come with it). */
  learnMembers(view: Pick<ChatView, "members">): void {
    for (const m of view.members) {
      if (m.handle !== undefined && m.displayName !== undefined) {
        this.learn({ userId: m.userId, handle: m.handle, displayName: m.displayName });
      }
    }
  }

  /** The user, looked up by id once per session if not known (undefined if that lookup failed). */
  lookup(userId: string): Promise<User | undefined> {
    const known = this.#map.get(userId);
    if (known) return Promise.resolve(known);
    let p = this.#lookups.get(userId);
    if (!p) {
      p = this.#http.user(userId).then(
        (u) => {
          this.learn(u);
          return u;
        },
        () => undefined,
      );
      this.#lookups.set(userId, p);
    }
    return p;
  }

  /**
   * Resolves when every one of these users is known (each unknown one looked up once), or
   * after `waitMs` (a name that arrives later still emits `change`).
   */
  ensure(userIds: Iterable<string>, opts: { waitMs?: number } = {}): Promise<void> {
    const missing = [...new Set(userIds)].filter((u) => !this.#map.has(u));
    if (missing.length === 0) return Promise.resolve();
    const all = Promise.all(missing.map((u) => this.lookup(u))).then(() => {});
    if (opts.waitMs === undefined) return all;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, opts.waitMs)));
    return Promise.race([all, late]).finally(() => clearTimeout(timer));
  }
}

/**
 * The users an event names: its author, the member added or removed, a new chat's
 * members.
 */
export function usersIn(e: ChatEvent): string[] {
  switch (e.kind) {
    case "chat.created":
      return [e.from, ...e.members];
    case "member.added":
    case "member.removed":
      return [e.from, e.user];
    default:
      return [e.from];
  }
}
