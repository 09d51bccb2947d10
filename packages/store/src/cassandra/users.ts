import type { DeviceSession, User } from "../store.ts";
import { type Cql, num, type Row, UNSET } from "./cql.ts";

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
