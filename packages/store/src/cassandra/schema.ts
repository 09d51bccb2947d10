import { type Cql, num } from "./cql.ts";
import { CLIENT_MSGS, EARLIEST_WINS } from "./events.ts";

/** The client-message index of releases before `CLIENT_MSGS`: one partition per message. */
const LEGACY_CLIENT_MSGS = "client_msgs";

/** The handle-prefix table (see `tables`); `users.ts` writes and reads it. */
export const HANDLE_INDEX = "users_by_handle_prefix";
/** The partition of a handle in `HANDLE_INDEX`. */
export function handlePartition(handle: string): string {
  return handle.slice(0, 2);
}

export const DEFAULT_REPLICATION = "{'class': 'SimpleStrategy', 'replication_factor': 1}";

const UCS = "compaction = {'class': 'UnifiedCompactionStrategy'}";

/**
 * Tables written `USING TIMESTAMP <n>` (members_*, chat_heads, read_state, client_msgs, reactions)
 * must never be written any other way: a write at wall-clock time would beat every
 * n-stamped cell forever. Nothing here is ever deleted, so no tombstones either.
 */
function tables(cql: Cql): string[] {
  const t = (name: string) => cql.t(name);
  return [
    `CREATE TABLE IF NOT EXISTS ${t("users")} (
      user_id text PRIMARY KEY, handle text, display_name text, password_hash text, created_at bigint,
      disabled boolean
    ) WITH ${UCS}`,
    `CREATE TABLE IF NOT EXISTS ${t("users_by_handle")} (handle text PRIMARY KEY, user_id text) WITH ${UCS}`,
    // The operators' search by handle prefix: handles in order within a partition of their
    // first two characters (every handle has three or more), so a prefix is one clustering
    // range, or one per second character for a one-character prefix (users.ts, findUsers).
    `CREATE TABLE IF NOT EXISTS ${t(HANDLE_INDEX)} (
      prefix text, handle text, user_id text,
      PRIMARY KEY ((prefix), handle)
    ) WITH ${UCS}`,
    `CREATE TABLE IF NOT EXISTS ${t("sessions")} (
      user_id text, device_id text, device_name text, created_at bigint, expires_at bigint, revoked boolean,
      PRIMARY KEY ((user_id), device_id)
    ) WITH ${UCS}`,
    `CREATE TABLE IF NOT EXISTS ${t("chats")} (
      chat_id text PRIMARY KEY, kind text, title text, created_by text, created_at bigint
    ) WITH ${UCS}`,
    `CREATE TABLE IF NOT EXISTS ${t("direct_chats")} (
      user_lo text, user_hi text, chat_id text, PRIMARY KEY ((user_lo, user_hi))
    ) WITH ${UCS}`,
    `CREATE TABLE IF NOT EXISTS ${t("members_by_chat")} (
      chat_id text, user_id text, role text, joined_n bigint, active boolean, changed_n bigint,
      PRIMARY KEY ((chat_id), user_id)
    ) WITH ${UCS}`,
    `CREATE TABLE IF NOT EXISTS ${t("chats_by_user")} (
      user_id text, chat_id text, role text, joined_n bigint, active boolean, changed_n bigint,
      PRIMARY KEY ((user_id), chat_id)
    ) WITH ${UCS}`,
    `CREATE TABLE IF NOT EXISTS ${t("events")} (
      chat_id text, bucket int, n bigint, event text,
      PRIMARY KEY ((chat_id, bucket), n)
    ) WITH CLUSTERING ORDER BY (n DESC) AND ${UCS}`,
    // The client-message index: a sender's messages in a chat in one partition, so a history
    // batch writes a chat's sender's rows as one unlogged batch, not a request per message
    // (a partition grows by ~100 bytes per message its sender sends in the chat). Each row
    // is stamped EARLIEST_WINS - n (events.ts): the earliest landing wins.
    `CREATE TABLE IF NOT EXISTS ${t(CLIENT_MSGS)} (
      chat_id text, user_id text, client_msg_id text, n bigint, seq bigint, ts bigint,
      PRIMARY KEY ((chat_id, user_id), client_msg_id)
    ) WITH ${UCS}`,
    `CREATE TABLE IF NOT EXISTS ${t("chat_heads")} (
      chat_id text PRIMARY KEY, last_n bigint, last_seq bigint, last_activity bigint, preview text, preview_from text
    ) WITH ${UCS}`,
    // Reactions: a message's rows in one partition (the bounds and the list read it whole),
    // each written USING TIMESTAMP n, so the newest reaction event wins in any order.
    `CREATE TABLE IF NOT EXISTS ${t("reactions")} (
      chat_id text, target bigint, user_id text, emoji text, n bigint, active boolean,
      PRIMARY KEY ((chat_id, target), user_id, emoji)
    ) WITH ${UCS}`,
    `CREATE TABLE IF NOT EXISTS ${t("read_state")} (
      chat_id text, user_id text, delivered_n bigint, read_n bigint,
      PRIMARY KEY ((chat_id), user_id)
    ) WITH ${UCS}`,
    // Requests and blocks: two tables each, keyed for the two reads (a user's rows, a chat's
    // rows; whom I block, who blocks me), written together in a logged batch. A state
    // change rewrites the row (last write wins); nothing is deleted.
    `CREATE TABLE IF NOT EXISTS ${t("chat_requests_by_user")} (
      user_id text, chat_id text, from_user text, at bigint, state text,
      PRIMARY KEY ((user_id), chat_id)
    ) WITH ${UCS}`,
    `CREATE TABLE IF NOT EXISTS ${t("chat_requests_by_chat")} (
      chat_id text, user_id text, from_user text, at bigint, state text,
      PRIMARY KEY ((chat_id), user_id)
    ) WITH ${UCS}`,
    `CREATE TABLE IF NOT EXISTS ${t("blocks_by_user")} (
      user_id text, blocked_id text, blocked boolean, at bigint,
      PRIMARY KEY ((user_id), blocked_id)
    ) WITH ${UCS}`,
    `CREATE TABLE IF NOT EXISTS ${t("blocks_by_blocked")} (
      blocked_id text, user_id text, blocked boolean, at bigint,
      PRIMARY KEY ((blocked_id), user_id)
    ) WITH ${UCS}`,
    // Push (v1.1): a user's browsers in one partition (the push consumer reads them whole),
    // and a user's per-chat settings keyed by (user, chat).
    `CREATE TABLE IF NOT EXISTS ${t("push_subscriptions")} (
      user_id text, subscription_id text, device_id text, endpoint text, p256dh text, auth text, created_at bigint,
      PRIMARY KEY ((user_id), subscription_id)
    ) WITH ${UCS}`,
    `CREATE TABLE IF NOT EXISTS ${t("chat_settings")} (
      user_id text, chat_id text, muted_until bigint,
      PRIMARY KEY ((user_id), chat_id)
    ) WITH ${UCS}`,
  ];
}

export async function migrate(cql: Cql, replication: string): Promise<void> {
  // DDL is not prepared: it runs once, and CREATE ... IF NOT EXISTS is safe to repeat.
  await cql.client.execute(`CREATE KEYSPACE IF NOT EXISTS ${cql.keyspace} WITH replication = ${replication}`);
  const hadUsers = await tableExists(cql, "users");
  const hadIndex = await tableExists(cql, HANDLE_INDEX);
  const hadLegacyClientMsgs = await tableExists(cql, LEGACY_CLIENT_MSGS);
  const hadClientMsgs = await tableExists(cql, CLIENT_MSGS);
  for (const ddl of tables(cql)) await cql.client.execute(ddl);
  // Columns added after a table's first release: CREATE TABLE IF NOT EXISTS leaves an
  // existing table as it was, so they are added here when missing.
  if (!(await columnExists(cql, "users", "disabled"))) {
    await cql.client.execute(`ALTER TABLE ${cql.t("users")} ADD disabled boolean`);
  }
  await waitForSchemaAgreement(cql);
  // A keyspace from before the handle-prefix table: index the users it already has, once.
  if (hadUsers && !hadIndex) await indexExistingHandles(cql);
  // A keyspace from before the per-sender client-message index: copy the old one, once.
  if (hadLegacyClientMsgs && !hadClientMsgs) await copyLegacyClientMsgs(cql);
}

async function waitForSchemaAgreement(cql: Cql, timeoutMs = 30_000): Promise<void> {
  const metadata = cql.client.metadata as unknown as { checkSchemaAgreement(): Promise<boolean> };
  const deadline = Date.now() + timeoutMs;
  while (!(await metadata.checkSchemaAgreement())) {
    if (Date.now() > deadline)
      throw new Error(`no schema agreement for keyspace ${cql.keyspace} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function tableExists(cql: Cql, table: string): Promise<boolean> {
  const rs = await cql.client.execute(
    "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
    [cql.keyspace, table],
    { prepare: true },
  );
  return rs.rowLength > 0;
}

async function columnExists(cql: Cql, table: string, column: string): Promise<boolean> {
  const rs = await cql.client.execute(
    "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
    [cql.keyspace, table, column],
    { prepare: true },
  );
  return rs.rowLength > 0;
}

/**
 * Writes every existing user's handle into `HANDLE_INDEX`, a page of the users table at a
 * time (never the whole table in memory). Idempotent: a repeat rewrites the same rows.
 */
async function indexExistingHandles(cql: Cql): Promise<void> {
  let pageState: string | undefined;
  do {
    const rs = await cql.client.execute(`SELECT user_id, handle FROM ${cql.t("users")}`, [], {
      prepare: true,
      fetchSize: 1000,
      ...(pageState ? { pageState } : {}),
    });
    await Promise.all(
      rs.rows
        .filter((row) => row.get("handle"))
        .map((row) =>
          cql.execute(`INSERT INTO ${cql.t(HANDLE_INDEX)} (prefix, handle, user_id) VALUES (?, ?, ?)`, [
            handlePartition(row.get("handle")),
            row.get("handle"),
            row.get("user_id"),
          ]),
        ),
    );
    pageState = rs.pageState ?? undefined;
  } while (pageState);
}

/**
 * Copies the client-message index of an older release (`client_msgs`, a partition per
 * message) into `CLIENT_MSGS`, a page at a time, each row stamped as history stamps it
 * (the earliest landing wins, so history writing meanwhile changes nothing). Idempotent.
 * The old table is left as it was (an older process still running reads it).
 */
async function copyLegacyClientMsgs(cql: Cql): Promise<void> {
  let pageState: string | undefined;
  do {
    const rs = await cql.client.execute(
      `SELECT chat_id, user_id, client_msg_id, n, seq, ts FROM ${cql.t(LEGACY_CLIENT_MSGS)}`,
      [],
      { prepare: true, fetchSize: 1000, ...(pageState ? { pageState } : {}) },
    );
    await Promise.all(
      rs.rows.map((row) => {
        const n = row.get("n") as unknown;
        return cql.execute(
          `INSERT INTO ${cql.t(CLIENT_MSGS)} (chat_id, user_id, client_msg_id, n, seq, ts)
           VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`,
          [
            row.get("chat_id"),
            row.get("user_id"),
            row.get("client_msg_id"),
            n,
            row.get("seq"),
            row.get("ts"),
            EARLIEST_WINS - num(n),
          ],
        );
      }),
    );
    pageState = rs.pageState ?? undefined;
  } while (pageState);
}
