import { HANDLE_PATTERN } from "@natter/protocol";
import { type DeviceSession, MAX_USER_PAGE, type User, type UserQuery } from "../store.ts";
import { type Cql, num, type Row, UNSET } from "./cql.ts";
import { HANDLE_INDEX, handlePartition } from "./schema.ts";

/**
 * Handle first, through an LWT, so two sign-ups racing for one handle have exactly one
 * winner; the user row follows. A retry of the same user finds the handle its own and
 * completes the write, so a crash between the two writes heals on retry.
 */
export async function createUser(cql: Cql, user: User): Promise<boolean> {
  const rs = await cql.lwt(`INSERT INTO ${cql.t("users_by_handle")} (handle, user_id) VALUES (?, ?) IF NOT EXISTS`, [
    user.handle,
    user.userId,
  ]);
  if (!rs.wasApplied() && rs.first()?.get("user_id") !== user.userId) return false;
  await cql.execute(
    `INSERT INTO ${cql.t("users")} (user_id, handle, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
    [user.userId, user.handle, user.displayName, user.passwordHash, user.createdAt],
  );
  // Last: the search finds only users whose row exists (a retry completes it).
  await cql.execute(`INSERT INTO ${cql.t(HANDLE_INDEX)} (prefix, handle, user_id) VALUES (?, ?, ?)`, [
    handlePartition(user.handle),
    user.handle,
    user.userId,
  ]);
  return true;
}

function toUser(row: Row | undefined): User | undefined {
  if (!row || row.get("handle") == null) return undefined;
  return {
    userId: row.get("user_id"),
    handle: row.get("handle"),
    displayName: row.get("display_name"),
    passwordHash: row.get("password_hash"),
    createdAt: num(row.get("created_at")),
    ...(row.get("disabled") === true ? { disabled: true } : {}),
  };
}

export async function getUser(cql: Cql, userId: string): Promise<User | undefined> {
  return toUser(await cql.row("users", { user_id: userId }));
}

export async function getUserByHandle(cql: Cql, handle: string): Promise<User | undefined> {
  const ref = await cql.first(`SELECT user_id FROM ${cql.t("users_by_handle")} WHERE handle = ?`, [handle]);
  if (!ref) return undefined;
  const user = await getUser(cql, ref.get("user_id"));
  // A half-finished sign-up has the handle row but no user yet: nobody to find.
  return user?.handle === handle ? user : undefined;
}

export async function createSession(cql: Cql, s: DeviceSession): Promise<void> {
  // `revoked` is only ever written true (unset otherwise), so re-creating a revoked session cannot revive it.
  await cql.execute(
    `INSERT INTO ${cql.t("sessions")} (user_id, device_id, device_name, created_at, expires_at, revoked)
     VALUES (?, ?, ?, ?, ?, ?)`,
    [s.userId, s.deviceId, s.deviceName, s.createdAt, s.expiresAt, s.revoked ? true : UNSET],
  );
}

export async function getSession(cql: Cql, userId: string, deviceId: string): Promise<DeviceSession | undefined> {
  return toSession(await cql.row("sessions", { user_id: userId, device_id: deviceId }));
}

export async function listSessions(cql: Cql, userId: string): Promise<DeviceSession[]> {
  return (await cql.rows("sessions", { user_id: userId })).flatMap((row) => toSession(row) ?? []);
}

export async function setPasswordHash(cql: Cql, userId: string, passwordHash: string): Promise<void> {
  // Only an existing user: an UPDATE would otherwise create a row with nothing but the hash.
  if (!(await getUser(cql, userId))) return;
  await cql.execute(`UPDATE ${cql.t("users")} SET password_hash = ? WHERE user_id = ?`, [passwordHash, userId]);
}

export async function setUserDisabled(cql: Cql, userId: string, disabled: boolean): Promise<boolean> {
  // Only an existing user, as setPasswordHash. `false` is written, not deleted: no tombstone.
  if (!(await getUser(cql, userId))) return false;
  await cql.execute(`UPDATE ${cql.t("users")} SET disabled = ? WHERE user_id = ?`, [disabled, userId]);
  return true;
}

/** Every character a handle may hold (from `HANDLE_PATTERN`, the rule's one home). */
const HANDLE_CHARS = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).filter((c) =>
  HANDLE_PATTERN.test(c.repeat(3)),
);
/** Above every handle character in Cassandra's byte order of UTF-8 text: the end of a prefix range. */
const ABOVE = "\uffff";

/**
 * One clustering range of the handle index per partition the prefix can fall in: its own
 * partition (two characters or more), or each of its partitions (one character), read
 * concurrently and merged in handle order. Then the users' rows, in that order.
 */
export async function findUsers(cql: Cql, q: UserQuery): Promise<User[]> {
  const limit = Math.min(Math.max(1, q.limit), MAX_USER_PAGE);
  const partitions = q.prefix.length >= 2 ? [handlePartition(q.prefix)] : HANDLE_CHARS.map((c) => q.prefix + c);
  const after = q.after !== undefined && q.after >= q.prefix ? q.after : undefined;
  const from = after === undefined ? "handle >= ?" : "handle > ?";
  const query = `SELECT handle, user_id FROM ${cql.t(HANDLE_INDEX)} WHERE prefix = ? AND ${from} AND handle < ? LIMIT ?`;
  const pages = await Promise.all(
    partitions.map((p) => cql.execute(query, [p, after ?? q.prefix, q.prefix + ABOVE, limit])),
  );
  const refs = pages
    .flatMap((rs) => rs.rows.map((r) => ({ handle: r.get("handle") as string, userId: r.get("user_id") as string })))
    .sort((a, b) => (a.handle < b.handle ? -1 : a.handle > b.handle ? 1 : 0))
    .slice(0, limit);
  const users = await Promise.all(refs.map((r) => getUser(cql, r.userId)));
  return users.filter((u, i): u is User => u?.handle === refs[i]!.handle);
}

function toSession(row: Row | undefined): DeviceSession | undefined {
  // A revoke of a never-created session leaves only the `revoked` cell: no session.
  if (!row || row.get("created_at") == null) return undefined;
  return {
    userId: row.get("user_id"),
    deviceId: row.get("device_id"),
    deviceName: row.get("device_name"),
    createdAt: num(row.get("created_at")),
    expiresAt: num(row.get("expires_at")),
    revoked: row.get("revoked") === true,
  };
}

export async function revokeSession(cql: Cql, userId: string, deviceId: string): Promise<void> {
  await cql.execute(`UPDATE ${cql.t("sessions")} SET revoked = true WHERE user_id = ? AND device_id = ?`, [
    userId,
    deviceId,
  ]);
}
