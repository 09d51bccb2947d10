import { RateLimiter } from "../rate-limit.ts";

export interface LoginGuardOptions {
  /** Failed logins per (handle, address) before that pair waits: the bucket size. */
  burst: number;
  /** Failures forgiven per minute, per bucket. */
  perMinute: number;
}

/** How many times the per-pair budget one address may fail across all handles. */
const ADDRESS_FACTOR = 20;
/** The handle's own budget, over every address: larger, and refilled this many times slower. */
const HANDLE_FACTOR = 5;

/**
 * Login limits that stop guessing without locking the owner out. Failures, not attempts,
 * are counted, in three buckets:
 *
 * - per (handle, address): someone guessing one account from one place waits;
 * - per address, across handles (20×): one place guessing many accounts waits;
 * - per handle, across addresses (5× the size, refilled 5× slower): a distributed guess at
 *   one account slows down — but only for addresses that have themselves failed for that
 *   handle. An address with no failure for the handle is never refused, so ten (or a
 *   thousand) wrong passwords from elsewhere cannot keep the owner out.
 *
 * The client address is the socket's, or `X-Forwarded-For`'s only from the proxies
 * `NATTER_TRUST_PROXY` names.
 */
export class LoginGuard {
  readonly #pair: RateLimiter;
  readonly #address: RateLimiter;
  readonly #handle: RateLimiter;

  constructor(opts: LoginGuardOptions) {
    const perSecond = opts.perMinute / 60;
    this.#pair = new RateLimiter({ burst: opts.burst, perSecond });
    this.#address = new RateLimiter({ burst: opts.burst * ADDRESS_FACTOR, perSecond: perSecond * ADDRESS_FACTOR });
    this.#handle = new RateLimiter({ burst: opts.burst * HANDLE_FACTOR, perSecond: perSecond / HANDLE_FACTOR });
  }

  /** Before checking a password: 0 to go ahead, else the ms to wait (429). */
  check(handle: string, address: string): number {
    const pair = pairKey(handle, address);
    const waits = [this.#pair.peek(pair), this.#address.peek(address)];
    if (!this.#pair.untouched(pair)) waits.push(this.#handle.peek(handle));
    return Math.max(...waits);
  }

  /** A wrong password (or an unknown handle) from `address`. */
  failed(handle: string, address: string): void {
    this.#pair.take(pairKey(handle, address));
    this.#address.take(address);
    this.#handle.take(handle);
  }
}

function pairKey(handle: string, address: string): string {
  return `${handle}\u0000${address}`;
}
