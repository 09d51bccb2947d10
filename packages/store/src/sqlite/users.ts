import { type DeviceSession, MAX_USER_PAGE, type User, type UserQuery } from "../store.ts";
import type { SqliteDb } from "./db.ts";

export function createUser(db: SqliteDb, user: User): boolean {
  const inserted = db.run(
    `INSERT INTO users (user_id, handle, display_name, password_hash, created_at)
     VALUES ($userId, $handle, $displayName, $passwordHash, $createdAt) ON CONFLICT DO NOTHING`,
    {
      userId: user.userId,
      handle: user.handle,
      displayName: user.displayName,
      passwordHash: user.passwordHash,
      createdAt: user.createdAt,
    },
  );
  if (inserted === 1) return true;
  // A retried create of the same user is not a clash: the handle is taken by that user itself.
  const owner = db.get("SELECT user_id FROM users WHERE handle = $handle", { handle: user.handle });
  return owner?.user_id === user.userId;
}

function toUser(row: Record<string, unknown> | undefined): User | undefined {
  if (!row) return undefined;
  return {
    userId: row.user_id as string,
    handle: row.handle as string,
    displayName: row.display_name as string,
    passwordHash: row.password_hash as string,
    createdAt: Number(row.created_at),
    ...(row.disabled === 1 ? { disabled: true } : {}),
  };
}

export function getUser(db: SqliteDb, userId: string): User | undefined {
  return toUser(db.get("SELECT * FROM users WHERE user_id = $userId", { userId }));
}

export function getUserByHandle(db: SqliteDb, handle: string): User | undefined {
  return toUser(db.get("SELECT * FROM users WHERE handle = $handle", { handle }));
}

export function createSession(db: SqliteDb, s: DeviceSession): void {
  // `revoked` is left alone on conflict: once revoked, re-creating the same session cannot revive it.
  db.run(
    `INSERT INTO sessions (user_id, device_id, device_name, created_at, expires_at, revoked)
     VALUES ($userId, $deviceId, $deviceName, $createdAt, $expiresAt, $revoked)
     ON CONFLICT (user_id, device_id) DO UPDATE SET
       device_name = excluded.device_name, created_at = excluded.created_at, expires_at = excluded.expires_at,
       revoked = max(sessions.revoked, excluded.revoked)`,
    {
      userId: s.userId,
      deviceId: s.deviceId,
      deviceName: s.deviceName,
      createdAt: s.createdAt,
      expiresAt: s.expiresAt,
      revoked: s.revoked ? 1 : 0,
    },
  );
}

export function getSession(db: SqliteDb, userId: string, deviceId: string): DeviceSession | undefined {
  return toSession(
    db.get("SELECT * FROM sessions WHERE user_id = $userId AND device_id = $deviceId", { userId, deviceId }),
  );
}

export function listSessions(db: SqliteDb, userId: string): DeviceSession[] {
  return db.all("SELECT * FROM sessions WHERE user_id = $userId", { userId }).map((row) => toSession(row)!);
}

export function setPasswordHash(db: SqliteDb, userId: string, passwordHash: string): void {
  db.run("UPDATE users SET password_hash = $passwordHash WHERE user_id = $userId", { userId, passwordHash });
}

/** Above every handle character in SQLite's byte order of UTF-8 text: the end of a prefix range. */
const ABOVE = "\uffff";

/** A range over the unique handle index, in handle order. */
export function findUsers(db: SqliteDb, q: UserQuery): User[] {
  const limit = Math.min(Math.max(1, q.limit), MAX_USER_PAGE);
  const from = q.after !== undefined && q.after >= q.prefix ? q.after : undefined;
  const rows = db.all(
    `SELECT * FROM users WHERE handle ${from === undefined ? ">=" : ">"} $from AND handle < $to
     ORDER BY handle LIMIT $limit`,
    { from: from ?? q.prefix, to: q.prefix + ABOVE, limit },
  );
  return rows.map((row) => toUser(row)!);
}

export function setUserDisabled(db: SqliteDb, userId: string, disabled: boolean): boolean {
  if (!getUser(db, userId)) return false;
  db.run("UPDATE users SET disabled = $disabled WHERE user_id = $userId", { userId, disabled: disabled ? 1 : 0 });
  return true;
}

function toSession(row: Record<string, unknown> | undefined): DeviceSession | undefined {
  if (!row) return undefined;
  return {
    userId: row.user_id as string,
    deviceId: row.device_id as string,
    deviceName: row.device_name as string,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    revoked: row.revoked === 1,
  };
}

export function revokeSession(db: SqliteDb, userId: string, deviceId: string): void {
  db.run("UPDATE sessions SET revoked = 1 WHERE user_id = $userId AND device_id = $deviceId", { userId, deviceId });
}
