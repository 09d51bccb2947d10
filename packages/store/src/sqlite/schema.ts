/**
 * The SQLite schema. Every projection table carries the `n` that last changed it, so
 * upserts can refuse to move state backwards (`WHERE excluded.x > x`).
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  user_id TEXT PRIMARY KEY,
  handle TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE IF NOT EXISTS sessions (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  device_name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, device_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS chats (
  chat_id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  title TEXT,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS direct_chats (
  user_lo TEXT NOT NULL,
  user_hi TEXT NOT NULL,
  chat_id TEXT NOT NULL,
  PRIMARY KEY (user_lo, user_hi)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS members (
  chat_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  role TEXT NOT NULL,
  joined_n INTEGER NOT NULL,
  active INTEGER NOT NULL,
  changed_n INTEGER NOT NULL,
  PRIMARY KEY (chat_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_by_user ON members (user_id, chat_id) WHERE active = 1;

CREATE TABLE IF NOT EXISTS events (
  chat_id TEXT NOT NULL,
  n INTEGER NOT NULL,
  event TEXT NOT NULL,
  PRIMARY KEY (chat_id, n)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS client_msgs (
  chat_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  client_msg_id TEXT NOT NULL,
  n INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  PRIMARY KEY (chat_id, user_id, client_msg_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS chat_heads (
  chat_id TEXT PRIMARY KEY,
  last_n INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  last_activity INTEGER NOT NULL,
  preview TEXT,
  preview_from TEXT,
  preview_n INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE IF NOT EXISTS read_state (
  chat_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  delivered_n INTEGER NOT NULL,
  read_n INTEGER NOT NULL,
  PRIMARY KEY (chat_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS reactions (
  chat_id TEXT NOT NULL,
  target INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  emoji TEXT NOT NULL,
  n INTEGER NOT NULL,
  active INTEGER NOT NULL,
  PRIMARY KEY (chat_id, target, user_id, emoji)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS chat_requests (
  user_id TEXT NOT NULL,
  chat_id TEXT NOT NULL,
  from_user TEXT NOT NULL,
  at INTEGER NOT NULL,
  state TEXT NOT NULL,
  PRIMARY KEY (user_id, chat_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chat_requests_by_chat ON chat_requests (chat_id, user_id);

CREATE TABLE IF NOT EXISTS blocks (
  user_id TEXT NOT NULL,
  blocked_id TEXT NOT NULL,
  blocked INTEGER NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (user_id, blocked_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blocks_by_blocked ON blocks (blocked_id, user_id) WHERE blocked = 1;

CREATE TABLE IF NOT EXISTS push_subscriptions (
  user_id TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  p256dh TEXT NOT NULL,
  auth TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, subscription_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS chat_settings (
  user_id TEXT NOT NULL,
  chat_id TEXT NOT NULL,
  muted_until INTEGER NOT NULL,
  PRIMARY KEY (user_id, chat_id)
) STRICT, WITHOUT ROWID;
`;

/**
 * Columns added after their table's first release, for files made before them (CREATE TABLE
 * IF NOT EXISTS leaves an existing table as it was): added by `migrate` when missing.
 */
export const ADDED_COLUMNS: readonly { table: string; column: string; ddl: string }[] = [
  { table: "users", column: "disabled", ddl: "ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0" },
];
