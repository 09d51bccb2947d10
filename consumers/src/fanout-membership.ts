import { type ChatEvent, membershipEffect } from "@natter/protocol";

/** One membership change, kept so the set can be rolled back to an earlier n. */
interface Change {
  n: number;
  user: string;
  /** Whether the user was a member just before event n. */
  wasMember: boolean;
}

/** Most changes kept per chat for rolling back (redelivered events older than the state). */
const MAX_CHANGES = 32;

/**
 * The members of one chat as of event `n`, folded from the log in n order, with the
 * last few changes kept so the members as of a slightly earlier event can be recovered
 * (a redelivered batch arrives after newer events were already applied).
 */
export class ChatMembership {
  /** The n of the last event applied: the set is the membership as of it. */
  n: number;
  readonly members = new Set<string>();
  /** Membership changes with n > coveredFrom, oldest first; every one of them. */
  readonly #changes: Change[] = [];
  #coveredFrom: number;

  /** An empty chat as of event `n` (0 before `chat.created`). Rolling back below `n` is not possible. */
  constructor(n = 0, members: Iterable<string> = []) {
    this.n = n;
    this.#coveredFrom = n;
    for (const m of members) this.members.add(m);
  }

  /**
   * Applies the next event (`event.n` must be `n + 1`). Membership events change the set;
   * every event moves `n`.
   */
  apply(event: ChatEvent): void {
    if (event.n !== this.n + 1) throw new Error(`membership of ${event.chat}: event n=${event.n} after n=${this.n}`);
    for (const { user, member } of membershipEffect(event)) {
      const wasMember = this.members.has(user);
      if (wasMember === member) continue;
      this.#changes.push({ n: event.n, user, wasMember });
      if (member) this.members.add(user);
      else this.members.delete(user);
    }
    while (this.#changes.length > MAX_CHANGES) this.#coveredFrom = this.#changes.shift()!.n;
    this.n = event.n;
  }

  /** The members as of event `k` (≤ n), or undefined when the changes since then are no longer kept. */
  asOf(k: number): Set<string> | undefined {
    if (k > this.n) throw new Error(`membership as of n=${k} asked of a state at n=${this.n}`);
    if (k < this.#coveredFrom) return undefined;
    const set = new Set(this.members);
    for (let i = this.#changes.length - 1; i >= 0 && this.#changes[i]!.n > k; i--) {
      const c = this.#changes[i]!;
      if (c.wasMember) set.add(c.user);
      else set.delete(c.user);
    }
    return set;
  }
}

/**
 * Who receives an event, given the members just before it: everyone who is a member
 * before or after it. So a message reaches the current members, an added user receives
 * their own addition, and a removed user receives their own removal (so their devices
 * learn it) and nothing after.
 */
export function recipientsOf(before: ReadonlySet<string>, event: ChatEvent): Set<string> {
  const out = new Set(before);
  for (const { user, member } of membershipEffect(event)) if (member) out.add(user);
  return out;
}
