import { setNewest } from "@natter/collections";

/**
 * A bounded cache of promises that expire after `ttlMs`: concurrent callers share one
 * load, a failed load is forgotten at once, and the oldest entry goes first when full.
 */
export class TtlCache<V> {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #entries = new Map<string, { at: number; value: Promise<V> }>();

  constructor(opts: { ttlMs: number; max: number }) {
    this.#ttlMs = opts.ttlMs;
    this.#max = opts.max;
  }

  get(key: string, load: () => Promise<V>, now = Date.now()): Promise<V> {
    const hit = this.#entries.get(key);
    if (hit && now - hit.at < this.#ttlMs) return hit.value;
    const value = load();
    value.catch(() => this.#entries.delete(key));
    setNewest(this.#entries, key, { at: now, value }, this.#max);
    return value;
  }

  forget(key: string): void {
    this.#entries.delete(key);
  }
}
