import type { Store } from "./store.ts";

/** The contract's data methods: everything of `Store` but `backend`, the lifecycle and `writeAll`. */
export type TableMethods = Omit<Store, "backend" | "migrate" | "ping" | "close" | "writeAll">;

/**
 * A backend's table functions: each data method of the contract, taking the backend's
 * handle (`Cql`, `SqliteDb`) first, synchronous or not.
 */
export type Tables<H> = {
  [K in keyof TableMethods]: (
    handle: H,
    ...args: Parameters<TableMethods[K]>
  ) => ReturnType<TableMethods[K]> | Awaited<ReturnType<TableMethods[K]>>;
};

/**
 * The base class of a backend's store: one method per table function, calling it with
 * the store's handle and always answering with a promise (SQLite's calls are synchronous;
 * one that throws rejects). Each backend's table modules (`users`, `chats`, `events`,
 * `heads`, `relations`) export exactly the contract's functions, so a backend passes
 * `{ ...users, ...chats, ... }` and writes only its lifecycle and `writeAll` itself.
 * The methods sit on the prototype, as hand-written ones would.
 */
export function tableStore<H>(tables: Tables<H>): new (handle: H) => TableMethods {
  class TableStore {
    readonly #handle: H;
    constructor(handle: H) {
      this.#handle = handle;
    }
    static {
      for (const [name, call] of Object.entries(tables) as [string, (handle: H, ...args: unknown[]) => unknown][]) {
        Object.defineProperty(this.prototype, name, {
          async value(this: TableStore, ...args: unknown[]) {
            return call(this.#handle, ...args);
          },
          writable: true,
          configurable: true,
        });
      }
    }
  }
  return TableStore as unknown as new (handle: H) => TableMethods;
}
