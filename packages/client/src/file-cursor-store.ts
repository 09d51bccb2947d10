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
import { SavedCursorStore } from "./cursor-store.ts";

export interface FileCursorStoreOptions {
  /** Coalesce writes: at most one per this many ms (0, the default: every `set` writes at once). */
  flushMs?: number;
  /** `fsync` the file before the rename (survives a power cut, not only a crash). Default false. */
  fsync?: boolean;
}

export class FileCursorStore extends SavedCursorStore {
  readonly path: string;
  readonly #fsync: boolean;

  /** Reads `file` if it exists (its directory is created if missing); a corrupt file counts as empty. */
  constructor(file: string, opts: FileCursorStoreOptions = {}) {
    const resolved = path.resolve(file);
    mkdirSync(path.dirname(resolved), { recursive: true });
    // Only a file written by something else can be corrupt (writes are atomic): a fresh start.
    super(opts.flushMs ?? 0, readIfExists(resolved));
    this.path = resolved;
    this.#fsync = opts.fsync ?? false;
  }

  /** A temporary file, then a rename over the target (`flush()`, or each change by default). */
  protected save(text: string): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, text);
      if (this.#fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}

function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    return undefined;
  }
}
