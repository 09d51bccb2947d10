import type { PresenceFrame } from "@natter/protocol";
import type { GatewayContext } from "../context.ts";
import type { PresenceHub } from "../presence/presence-hub.ts";
import { watchable } from "../presence/watch-policy.ts";

/**
 * The users one socket watches (`watch` frames), made when the socket first watches: the
 * presence subscriptions follow the set, the current presence of each watched user is
 * sent at once, and after that only changes of `online` are forwarded.
 *
 * The set asked for is kept: `recheck` (a `user.<userId>.contacts` signal, or a NATS
 * reconnect) applies the policy again, so a user who stopped being a contact (a block, a
 * removal, a decline) stops being watched at once, and one who became a contact (an
 * accepted request) is watched from then on, first state included, without a new `watch`.
 */
export class WatchSet {
  readonly #ctx: GatewayContext;
  readonly #hub: PresenceHub;
  readonly #send: (f: PresenceFrame) => void;
  /** Each watched (visible) user, and the `online` last sent for them. */
  readonly #watched = new Map<string, boolean | undefined>();
  /** The users the last `watch` frame asked for (visible or not). */
  #asked: readonly string[] = [];
  readonly #listener = (f: PresenceFrame) => this.#onPresence(f);
  /** Bumped by each `replace`, so a slower earlier one does not overwrite a later one. */
  #generation = 0;
  #closed = false;

  constructor(ctx: GatewayContext, hub: PresenceHub, send: (f: PresenceFrame) => void) {
    this.#ctx = ctx;
    this.#hub = hub;
    this.#send = send;
  }

  /** Replaces the watched set with the visible ones of `users` (`watchable`), then sends their presence. */
  replace(me: string, users: readonly string[]): Promise<void> {
    return this.#apply(me, users, false);
  }

  /** Applies the policy again to the users last asked for; sends the first state of newly visible ones only. */
  recheck(me: string): Promise<void> {
    return this.#apply(me, this.#asked, true);
  }

  async #apply(me: string, users: readonly string[], recheck: boolean): Promise<void> {
    const gen = ++this.#generation;
    const visible = await watchable(this.#ctx, me, users);
    if (gen !== this.#generation || this.#closed) return;
    this.#asked = users;
    const watched = this.#watched;
    const next = new Set(visible);
    const gone = [...watched.keys()].filter((u) => !next.has(u));
    const added = visible.filter((u) => !watched.has(u));
    this.#hub.remove(gone, this.#listener);
    for (const u of gone) watched.delete(u);
    for (const u of added) watched.set(u, undefined);
    await this.#hub.add(added, this.#listener);
    if (this.#closed) return;
    const announce = recheck ? added : visible;
    const states = await this.#ctx.presence.read(announce);
    if (gen !== this.#generation || this.#closed) return;
    for (const u of announce) {
      const s = states.get(u);
      if (!s || !watched.has(u)) continue;
      watched.set(u, s.online);
      this.#send({ type: "presence", user: u, online: s.online, lastSeen: s.lastSeen });
    }
  }

  /** The socket closed: its subscriptions go back to the hub. */
  close(): void {
    this.#closed = true;
    this.#hub.remove(this.#watched.keys(), this.#listener);
    this.#watched.clear();
  }

  #onPresence(f: PresenceFrame): void {
    if (!this.#watched.has(f.user) || this.#watched.get(f.user) === f.online) return;
    this.#watched.set(f.user, f.online);
    this.#send(f);
  }
}
