import { NatterError } from "@natter/protocol";
import cassandra from "cassandra-driver";

const { consistencies } = cassandra.types;

/** Binding this leaves a column untouched: unlike null, it writes no tombstone. */
export const UNSET = cassandra.types.unset;

export type Params = unknown[];

/** One statement of a request. */
export interface Statement {
  query: string;
  params: Params;
}

/**
 * One request to Cassandra: a statement alone, or the statements of an unlogged batch that
 * share one partition key (a single mutation; never a multi-partition batch).
 */
export type Request = Statement[];
export type Row = cassandra.types.Row;

/** A bigint (Long), int or missing cell as a JS number; absent cells read as 0. */
export function num(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return (v as cassandra.types.Long).toNumber();
}

/** Optional text for an INSERT: unset rather than null when absent. */
export function opt(v: string | undefined): unknown {
  return v === undefined ? UNSET : v;
}

const UNAVAILABLE = 0x1000;
const OVERLOADED = 0x1001;
const IS_BOOTSTRAPPING = 0x1002;
const WRITE_TIMEOUT = 0x1100;
const READ_TIMEOUT = 0x1200;
/** Coordinator answers that mean "not now" rather than "wrong": the request may succeed later. */
const TRANSIENT = new Set([UNAVAILABLE, OVERLOADED, IS_BOOTSTRAPPING, WRITE_TIMEOUT, READ_TIMEOUT]);

/**
 * A driver error that means Cassandra cannot be reached or did not answer in time, as the
 * `unavailable` NatterError every caller already maps to 503 (HTTP) or an `unavailable`
 * error frame; anything else (a bug, a bad statement) is left as it is.
 */
function unavailable(err: unknown): unknown {
  const e = err as { name?: string; code?: number };
  const transient =
    e?.name === "NoHostAvailableError" ||
    e?.name === "OperationTimedOutError" ||
    e?.name === "BusyConnectionError" ||
    (e?.name === "ResponseError" && e.code !== undefined && TRANSIENT.has(e.code));
  return transient ? new NatterError("unavailable", "the store did not answer; retry", { cause: err }) : err;
}

/** Runs a driver call, turning "Cassandra is not there" into `unavailable`. */
async function guarded<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw unavailable(err);
  }
}

/**
 * The store's one way to talk to Cassandra: every statement prepared (token-aware
 * routing, no re-parsing), LOCAL_QUORUM so a read after a write sees it with RF 3, and
 * table names qualified with the keyspace so a shared, unbound client works too.
 */
export class Cql {
  readonly client: cassandra.Client;
  readonly keyspace: string;

  constructor(client: cassandra.Client, keyspace: string) {
    if (!/^[A-Za-z][A-Za-z0-9_]{0,47}$/.test(keyspace)) throw new Error(`invalid keyspace name ${keyspace}`);
    this.client = client;
    this.keyspace = keyspace;
  }

  /** `ks.table`, for building statements. */
  t(table: string): string {
    return `${this.keyspace}.${table}`;
  }

  execute(query: string, params: Params = [], idempotent = true): Promise<cassandra.types.ResultSet> {
    return guarded(() =>
      this.client.execute(query, params, {
        prepare: true,
        isIdempotent: idempotent,
        consistency: consistencies.localQuorum,
      }),
    );
  }

  async first(query: string, params: Params): Promise<Row | undefined> {
    return (await this.execute(query, params)).first() ?? undefined;
  }

  /** The row of `table` whose columns equal `key` (`WHERE c1 = ? AND c2 = ?`, in key order), if any. */
  row(table: string, key: Record<string, unknown>): Promise<Row | undefined> {
    return this.first(this.#selectAll(table, key), Object.values(key));
  }

  /** Every row of `table` whose columns equal `key`, following the driver's pages. */
  rows(table: string, key: Record<string, unknown>): Promise<Row[]> {
    return this.all(this.#selectAll(table, key), Object.values(key));
  }

  #selectAll(table: string, key: Record<string, unknown>): string {
    const where = Object.keys(key).map((column) => `${column} = ?`);
    return `SELECT * FROM ${this.t(table)} WHERE ${where.join(" AND ")}`;
  }

  /** Every row, following the driver's pages. */
  async all(query: string, params: Params): Promise<Row[]> {
    const rows: Row[] = [];
    let pageState: string | undefined;
    do {
      const rs: cassandra.types.ResultSet = await guarded(() =>
        this.client.execute(query, params, {
          prepare: true,
          isIdempotent: true,
          consistency: consistencies.localQuorum,
          fetchSize: 1000,
          ...(pageState ? { pageState } : {}),
        }),
      );
      rows.push(...rs.rows);
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    return rows;
  }

  batch(queries: Statement[], logged: boolean): Promise<cassandra.types.ResultSet> {
    return guarded(() =>
      this.client.batch(queries, {
        prepare: true,
        logged,
        isIdempotent: true,
        consistency: consistencies.localQuorum,
      }),
    );
  }

  /** Sends one request (`Request`): a lone statement as it is, several as one unlogged batch. */
  send(request: Request): Promise<cassandra.types.ResultSet> {
    return request.length === 1 ? this.execute(request[0]!.query, request[0]!.params) : this.batch(request, false);
  }

  /**
   * A lightweight transaction (`IF NOT EXISTS`). A Paxos timeout leaves the outcome
   * unknown, so it is retried: every caller's LWT reads back who won, which makes a retry
   * of its own earlier success look like success again.
   */
  async lwt(query: string, params: Params): Promise<cassandra.types.ResultSet> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.client.execute(query, params, {
          prepare: true,
          isIdempotent: true,
          consistency: consistencies.localQuorum,
          serialConsistency: consistencies.localSerial,
        });
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (attempt >= 5 || (code !== WRITE_TIMEOUT && code !== UNAVAILABLE)) throw unavailable(err);
        await new Promise((r) => setTimeout(r, 20 * attempt + Math.random() * 50));
      }
    }
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
