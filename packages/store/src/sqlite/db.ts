import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { ADDED_COLUMNS, SCHEMA } from "./schema.ts";

export type Row = Record<string, SQLInputValue>;

/** One `node:sqlite` connection with its statements prepared once and reused. */
export class SqliteDb {
  readonly db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();

  constructor(path: string) {
    // `timeout` is the busy timeout, set before anything else: two processes opening a fresh
    // file at once (gateways and consumers sharing one database) race to switch it to WAL.
    this.db = new DatabaseSync(path, { timeout: 5000 });
    // WAL lets readers run beside the one writer; NORMAL is durable across app crashes in WAL
    // mode (only an OS crash may lose the last commits, which the history consumer re-applies).
    this.db.exec("PRAGMA journal_mode = WAL");
    this.db.exec("PRAGMA synchronous = NORMAL");
    this.db.exec("PRAGMA foreign_keys = OFF");
    // A deleted message's body is erased (eraseMessage): zero the bytes a rewrite frees in
    // the page rather than leave them readable in the file (FAST: no extra I/O).
    this.db.exec("PRAGMA secure_delete = FAST");
  }

  migrate(): void {
    this.db.exec(SCHEMA);
    for (const { table, column, ddl } of ADDED_COLUMNS) {
      const columns = this.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
      if (!columns.some((c) => c.name === column)) this.db.exec(ddl);
    }
  }

  stmt(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  run(sql: string, params: Row = {}): number {
    return Number(this.stmt(sql).run(params).changes);
  }

  get(sql: string, params: Row = {}): Record<string, unknown> | undefined {
    return this.stmt(sql).get(params) as Record<string, unknown> | undefined;
  }

  all(sql: string, params: Row = {}): Record<string, unknown>[] {
    return this.stmt(sql).all(params) as Record<string, unknown>[];
  }

  /**
   * Runs `fn` in one write transaction; IMMEDIATE takes the write lock up front so it cannot
   * deadlock on upgrade. Called inside another `tx` (synchronously), it joins the outer one.
   */
  tx<T>(fn: () => T): T {
    if (this.db.isTransaction) return fn();
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.db.exec("COMMIT");
      return result;
    } catch (err) {
      if (this.db.isTransaction) this.db.exec("ROLLBACK");
      throw err;
    }
  }

  close(): void {
    this.#statements.clear();
    if (this.db.isOpen) this.db.close();
  }
}
