import type { Store, StoreWrite } from "../store.ts";
import { tableStore } from "../tables.ts";
import { applyWrite, type WriteMethods } from "../writes.ts";
import * as chats from "./chats.ts";
import { SqliteDb } from "./db.ts";
import * as events from "./events.ts";
import * as heads from "./heads.ts";
import * as push from "./push.ts";
import * as reactions from "./reactions.ts";
import * as relations from "./relations.ts";
import * as users from "./users.ts";

export interface SqliteStoreOptions {
  /** A file path, or ":memory:" for a private in-memory database. */
  path: string;
}

/**
 * The embedded store on `node:sqlite`. Calls are synchronous underneath; the async
 * signatures are the Store contract's. One connection per store: within a process every
 * call runs to completion before the next, so upserts need no extra locking.
 */
export class SqliteStore
  extends tableStore<SqliteDb>({ ...users, ...chats, ...events, ...heads, ...reactions, ...relations, ...push })
  implements Store
{
  readonly backend = "sqlite" as const;
  readonly #db: SqliteDb;
  /** The write methods as the synchronous calls `writeAll` makes inside its transaction. */
  readonly #writes: WriteMethods<void> = {
    appendEvents: (list) => events.appendEvents(this.#db, list),
    eraseMessage: (erased) => events.eraseMessage(this.#db, erased),
    applyReaction: (reaction) => reactions.applyReaction(this.#db, reaction),
    createChat: (chat) => chats.createChat(this.#db, chat),
    applyMembership: (change) => chats.applyMembership(this.#db, change),
    advanceChatHead: (head) => heads.advanceChatHead(this.#db, head),
    advanceReadState: (state) => heads.advanceReadState(this.#db, state),
  };

  constructor(options: SqliteStoreOptions | string) {
    const db = new SqliteDb(typeof options === "string" ? options : options.path);
    super(db);
    this.#db = db;
  }

  async migrate(): Promise<void> {
    this.#db.migrate();
  }
  async ping(): Promise<void> {
    this.#db.get("SELECT 1");
  }
  async close(): Promise<void> {
    this.#db.close();
  }

  /** One transaction, run synchronously: one commit for a history batch instead of one per chat. */
  async writeAll(writes: readonly StoreWrite[]): Promise<void> {
    if (writes.length === 0) return;
    this.#db.tx(() => {
      for (const w of writes) applyWrite(this.#writes, w);
    });
  }
}
