/**
 * Sets `key` as the newest entry of `map`, first dropping the oldest entry when the map
 * already holds `max` others, so it never grows past `max`. A `Map` iterates in insertion
 * order, so re-inserting a key makes it the newest: the map is bounded, newest last.
 */
export function setNewest<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  if (map.size >= max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}

/** A map with least-recently-used eviction: a read makes an entry the newest too. At most `max` entries. */
export class LruMap<K, V> {
  readonly #map = new Map<K, V>();
  readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  get size(): number {
    return this.#map.size;
  }
  get(key: K): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }
  set(key: K, value: V): void {
    setNewest(this.#map, key, value, this.max);
  }
  delete(key: K): void {
    this.#map.delete(key);
  }
}
