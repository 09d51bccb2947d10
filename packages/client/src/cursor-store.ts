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

/** Cursors in memory: lost when the process ends (a fresh device on the next start). */
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
 * The mechanism of a store that saves its cursors somewhere slower than memory: it answers
 * from a memory copy (filled from `saved`, the last saved text, if any) and writes the whole
 * map behind, as one JSON object through `save`: at once when `flushMs` ≤ 0, else at most
 * once per `flushMs`, and at once on `flush()` (the SDK calls it on close). A `set` or
 * `delete` that changes nothing writes nothing.
 */
export abstract class SavedCursorStore implements CursorStore {
  readonly #map = new Map<string, number>();
  readonly #flushMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;

  protected constructor(flushMs: number, saved: string | undefined) {
    this.#flushMs = flushMs;
    if (saved) readSavedCursors(saved, this.#map);
  }

  /** Writes `text`, the whole map as JSON, where the cursors are kept. */
  protected abstract save(text: string): void;

  get(chat: string): number | undefined {
    return this.#map.get(chat);
  }
  set(chat: string, n: number): void {
    if (this.#map.get(chat) === n) return;
    this.#map.set(chat, n);
    this.#schedule();
  }
  delete(chat: string): void {
    if (!this.#map.delete(chat)) return;
    this.#schedule();
  }
  all(): Record<string, number> {
    return Object.fromEntries(this.#map);
  }

  /** Writes the cursors now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.save(JSON.stringify(this.all()));
  }

  #schedule(): void {
    if (this.#flushMs <= 0) return this.flush();
    this.#timer ??= setTimeout(() => this.flush(), this.#flushMs);
  }
}

/**
 * Cursors in the browser's `localStorage`, as one JSON object under `key` (use one key per
 * user, e.g. `natter:cursors:<userId>`). Writes are coalesced: at most one `setItem` per
 * `flushMs` (default 250 ms), and `flush()` writes at once (the SDK calls it on close).
 * A corrupt entry is a fresh device: the SDK starts over from the gateway.
 */
export class LocalStorageCursorStore extends SavedCursorStore {
  readonly #key: string;
  readonly #storage: StorageLike;

  constructor(key = "natter:cursors", opts: { storage?: StorageLike; flushMs?: number } = {}) {
    const storage = opts.storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
    if (!storage) throw new TypeError("no localStorage here: pass opts.storage or use MemoryCursorStore");
    super(opts.flushMs ?? 250, storage.getItem(key) ?? undefined);
    this.#key = key;
    this.#storage = storage;
  }

  protected save(text: string): void {
    this.#storage.setItem(this.#key, text);
  }
}
