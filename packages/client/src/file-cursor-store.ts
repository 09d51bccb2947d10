/**
 * `FileCursorStore` (Node only, `@natter/client/node`): cursors in a JSON file, so a
 * restarted process syncs exactly what it has not processed yet.
 *
 * Every write is atomic: the whole map goes to a temporary file beside the target, which
 * is then renamed over it (`rename` replaces a file in one step on POSIX file systems), so
 * a process killed at any point leaves either the old file or the new one, never half of
 * one. A leftover temporary file is ignored. By default each `set` writes at once: when
 * an `event` handler's promise resolves the cursor is in the file (the OS has it; `fsync:
 * true` also waits for the disk, against a power cut). `flushMs` > 0 coalesces writes
 * instead: fewer writes, and a crash replays up to that much (harmless for handlers that
 * are idempotent, see `replyId`).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import path from "node:path";
import { type CursorStore, readSavedCursors } from "./cursor-store.ts";

export interface FileCursorStoreOptions {
  /** Coalesce writes: at most one per this many ms (0, the default: every `set` writes at once). */
  flushMs?: number;
  /** `fsync` the file before the rename (survives a power cut, not only a crash). Default false. */
  fsync?: boolean;
}

export class FileCursorStore implements CursorStore {
  readonly path: string;
  readonly #map = new Map<string, number>();
  readonly #flushMs: number;
  readonly #fsync: boolean;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Reads `file` if it exists (its directory is created if missing); a corrupt file counts as empty. */
  constructor(file: string, opts: FileCursorStoreOptions = {}) {
    this.path = path.resolve(file);
    this.#flushMs = opts.flushMs ?? 0;
    this.#fsync = opts.fsync ?? false;
    mkdirSync(path.dirname(this.path), { recursive: true });
    let text: string | undefined;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    // Only a file written by something else can be corrupt (writes are atomic): a fresh start.
    if (text !== undefined) readSavedCursors(text, this.#map);
  }

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

  /** Writes the cursors now (temporary file, then rename). The client calls it on `close()`. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, JSON.stringify(Object.fromEntries(this.#map)));
      if (this.#fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }

  #schedule(): void {
    if (this.#flushMs <= 0) return this.flush();
    this.#timer ??= setTimeout(() => this.flush(), this.#flushMs);
  }
}
