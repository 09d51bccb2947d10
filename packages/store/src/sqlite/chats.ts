import type { MemberRole } from "@natter/protocol";
import type { Chat, Member } from "../store.ts";
import type { SqliteDb } from "./db.ts";

export function createChat(db: SqliteDb, chat: Chat): void {
  db.run(
    `INSERT INTO chats (chat_id, kind, title, created_by, created_at)
     VALUES ($chatId, $kind, $title, $createdBy, $createdAt) ON CONFLICT DO NOTHING`,
    {
      chatId: chat.chatId,
      kind: chat.kind,
      title: chat.title ?? null,
      createdBy: chat.createdBy,
      createdAt: chat.createdAt,
    },
  );
}

export function getChat(db: SqliteDb, chatId: string): Chat | undefined {
  const row = db.get("SELECT * FROM chats WHERE chat_id = $chatId", { chatId });
  if (!row) return undefined;
  return {
    chatId: row.chat_id as string,
    kind: row.kind as Chat["kind"],
    ...(row.title === null ? {} : { title: row.title as string }),
    createdBy: row.created_by as string,
    createdAt: Number(row.created_at),
  };
}

export function claimDirectChat(db: SqliteDb, userA: string, userB: string, chatId: string): string {
  const [lo, hi] = userA < userB ? [userA, userB] : [userB, userA];
  return db.tx(() => {
    db.run("INSERT INTO direct_chats (user_lo, user_hi, chat_id) VALUES ($lo, $hi, $chatId) ON CONFLICT DO NOTHING", {
      lo,
      hi,
      chatId,
    });
    return db.get("SELECT chat_id FROM direct_chats WHERE user_lo = $lo AND user_hi = $hi", { lo, hi })!
      .chat_id as string;
  });
}

/**
 * Role, active and changed_n follow the newest event; joined_n is the newest *add* seen.
 * Guarding the two separately keeps the result independent of the order events arrive in
 * (an add applied after a newer removal still records where the user's history starts),
 * matching the Cassandra backend's per-cell timestamps.
 */
export function applyMembership(
  db: SqliteDb,
  c: { chatId: string; userId: string; role: MemberRole; active: boolean; n: number },
): void {
  db.run(
    `INSERT INTO members (chat_id, user_id, role, joined_n, active, changed_n)
     VALUES ($chatId, $userId, $role, $joinedN, $active, $n)
     ON CONFLICT (chat_id, user_id) DO UPDATE SET
       role = CASE WHEN excluded.changed_n > members.changed_n THEN excluded.role ELSE members.role END,
       active = CASE WHEN excluded.changed_n > members.changed_n THEN excluded.active ELSE members.active END,
       joined_n = max(members.joined_n, excluded.joined_n),
       changed_n = max(members.changed_n, excluded.changed_n)
     WHERE excluded.changed_n > members.changed_n OR excluded.joined_n > members.joined_n`,
    { chatId: c.chatId, userId: c.userId, role: c.role, joinedN: c.active ? c.n : 0, active: c.active ? 1 : 0, n: c.n },
  );
}

function toMember(row: Record<string, unknown>): Member {
  return {
    chatId: row.chat_id as string,
    userId: row.user_id as string,
    role: row.role as MemberRole,
    joinedN: Number(row.joined_n),
    active: row.active === 1,
    changedN: Number(row.changed_n),
  };
}

export function getMember(db: SqliteDb, chatId: string, userId: string): Member | undefined {
  const row = db.get("SELECT * FROM members WHERE chat_id = $chatId AND user_id = $userId", { chatId, userId });
  return row ? toMember(row) : undefined;
}

export function listMembers(db: SqliteDb, chatId: string): Member[] {
  return db
    .all("SELECT * FROM members WHERE chat_id = $chatId AND active = 1 ORDER BY user_id", { chatId })
    .map(toMember);
}

export function listChatIdsForUser(db: SqliteDb, userId: string): string[] {
  return db
    .all("SELECT chat_id FROM members WHERE user_id = $userId AND active = 1 ORDER BY chat_id", { userId })
    .map((r) => r.chat_id as string);
}
