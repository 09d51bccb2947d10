/**
 * Where the SDK keeps each chat's cursor: the last `n` it delivered to the app. On every
 * (re)connect the SDK sends them in `sync`, and the gateway replays what comes after.
 *
 * The interface is synchronous (like `localStorage`); a store over an asynchronous
 * backend (IndexedDB, a file) keeps a memory copy, answers from it and writes behind.
 */
export interface CursorStore {
  get(chat: string): number | undefined;
  set(chat: string, n: number): void;
  delete(chat: string): void;
  /** Every chat with its cursor. */
  all(): Record<string, number>;
}

/** Cursors in memory: lost when the process ends (a fresh device on the next start). */
/**
 * Puts the cursors of `text`, a saved `{ chat: n }` JSON object, into `into`; text that is
 * not one, and entries that are not whole numbers ≥ 0, add nothing.
 */
export function readSavedCursors(text: string, into: Map<string, number>): void {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return;
  }
  if (typeof data !== "object" || data === null) return;
  for (const [chat, n] of Object.entries(data)) {
    if (Number.isSafeInteger(n) && (n as number) >= 0) into.set(chat, n as number);
  }
}

export class MemoryCursorStore implements CursorStore {
  readonly #map = new Map<string, number>();

  constructor(initial: Record<string, number> = {}) {
    for (const [chat, n] of Object.entries(initial)) this.#map.set(chat, n);
  }

  get(chat: string): number | undefined {
    return this.#map.get(chat);
  }
  set(chat: string, n: number): void {
    this.#map.set(chat, n);
  }
  delete(chat: string): void {
    this.#map.delete(chat);
  }
  all(): Record<string, number> {
    return Object.fromEntries(this.#map);
  }
}

/** The part of the Web Storage API this store uses (`localStorage`, `sessionStorage`). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Cursors in the browser's `localStorage`, as one JSON object under `key` (use one key per
 * user, e.g. `natter:cursors:<userId>`). Writes are coalesced: at most one `setItem` per
 * `flushMs` (default 250 ms), and `flush()` writes at once (the SDK calls it on close).
 */
export class LocalStorageCursorStore implements CursorStore {
  readonly #key: string;
  readonly #storage: StorageLike;
  readonly #flushMs: number;
  readonly #map = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(key = "natter:cursors", opts: { storage?: StorageLike; flushMs?: number } = {}) {
    const storage = opts.storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
    if (!storage) throw new TypeError("no localStorage here: pass opts.storage or use MemoryCursorStore");
    this.#key = key;
    this.#storage = storage;
    this.#flushMs = opts.flushMs ?? 250;
    // A corrupt entry is a fresh device: the SDK starts over from the gateway.
    const text = storage.getItem(key);
    if (text) readSavedCursors(text, this.#map);
  }

  get(chat: string): number | undefined {
    return this.#map.get(chat);
  }
  set(chat: string, n: number): void {
    this.#map.set(chat, n);
    this.#schedule();
  }
  delete(chat: string): void {
    this.#map.delete(chat);
    this.#schedule();
  }
  all(): Record<string, number> {
    return Object.fromEntries(this.#map);
  }

  /** Writes the cursors now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#storage.setItem(this.#key, JSON.stringify(Object.fromEntries(this.#map)));
  }

  #schedule(): void {
    if (this.#flushMs <= 0) return this.flush();
    this.#timer ??= setTimeout(() => this.flush(), this.#flushMs);
  }
}
