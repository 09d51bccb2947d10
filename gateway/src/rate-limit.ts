/**
 * Token buckets keyed by a string (user id, handle, address). Buckets refill
 * continuously; idle full buckets are swept so the map stays bounded (G6).
 */
export class RateLimiter {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #maxKeys: number;

  constructor(opts: { burst: number; perSecond: number; maxKeys?: number }) {
    this.#burst = opts.burst;
    this.#perMs = opts.perSecond / 1000;
    this.#maxKeys = opts.maxKeys ?? 100_000;
  }

  /** Takes one token; returns 0 when allowed, else the ms until one is available. */
  take(key: string, now = Date.now()): number {
    let b = this.#buckets.get(key);
    if (!b) {
      if (this.#buckets.size >= this.#maxKeys) this.#sweep(now);
      b = { tokens: this.#burst, at: now };
      this.#buckets.set(key, b);
    }
    return takeToken(b, this.#burst, this.#perMs, now);
  }

  /** The ms until a token is available (0: one is), without taking it. */
  peek(key: string, now = Date.now()): number {
    const b = this.#buckets.get(key);
    if (!b) return 0;
    const tokens = Math.min(this.#burst, b.tokens + (now - b.at) * this.#perMs);
    return tokens >= 1 ? 0 : Math.ceil((1 - tokens) / this.#perMs);
  }

  /** Whether the key's bucket is full: nothing taken from it lately (or never). */
  untouched(key: string, now = Date.now()): boolean {
    const b = this.#buckets.get(key);
    return !b || b.tokens + (now - b.at) * this.#perMs >= this.#burst;
  }

  #sweep(now: number): void {
    for (const [k, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * this.#perMs >= this.#burst) this.#buckets.delete(k);
    }
    // Still full of active keys: drop the oldest rather than grow without bound.
    if (this.#buckets.size >= this.#maxKeys) {
      const drop = this.#buckets.size - Math.floor(this.#maxKeys * 0.9);
      let i = 0;
      for (const k of this.#buckets.keys()) {
        if (i++ >= drop) break;
        this.#buckets.delete(k);
      }
    }
  }
}

/** One token bucket: `tokens` left as of `at` (ms). */
export interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Refills `b` (`burst` at most, `perMs` tokens per ms) and takes one token; returns 0 when
 * allowed, else the ms until one is available. For one bucket without a `RateLimiter`'s
 * map (a socket's frame limit).
 */
export function takeToken(b: Bucket, burst: number, perMs: number, now = Date.now()): number {
  b.tokens = Math.min(burst, b.tokens + (now - b.at) * perMs);
  b.at = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return Math.ceil((1 - b.tokens) / perMs);
}
