import type { Block, ChatRequest, RequestState } from "../store.ts";
import type { SqliteDb } from "./db.ts";

export function putChatRequest(db: SqliteDb, r: ChatRequest): void {
  db.run(
    `INSERT INTO chat_requests (user_id, chat_id, from_user, at, state) VALUES ($userId, $chatId, $from, $at, $state)
     ON CONFLICT (user_id, chat_id) DO UPDATE SET
       from_user = excluded.from_user, at = excluded.at, state = excluded.state`,
    { userId: r.userId, chatId: r.chatId, from: r.from, at: r.at, state: r.state },
  );
}

function toRequest(row: Record<string, unknown>): ChatRequest {
  return {
    userId: row.user_id as string,
    chatId: row.chat_id as string,
    from: row.from_user as string,
    at: Number(row.at),
    state: row.state as RequestState,
  };
}

export function getChatRequest(db: SqliteDb, userId: string, chatId: string): ChatRequest | undefined {
  const row = db.get("SELECT * FROM chat_requests WHERE user_id = $userId AND chat_id = $chatId", { userId, chatId });
  return row ? toRequest(row) : undefined;
}

export function listChatRequests(db: SqliteDb, userId: string): ChatRequest[] {
  return db.all("SELECT * FROM chat_requests WHERE user_id = $userId", { userId }).map(toRequest);
}

export function listChatRequestsOfChat(db: SqliteDb, chatId: string): ChatRequest[] {
  return db.all("SELECT * FROM chat_requests WHERE chat_id = $chatId", { chatId }).map(toRequest);
}

export function putBlock(db: SqliteDb, b: Block): void {
  db.run(
    `INSERT INTO blocks (user_id, blocked_id, blocked, at) VALUES ($userId, $blockedId, $blocked, $at)
     ON CONFLICT (user_id, blocked_id) DO UPDATE SET blocked = excluded.blocked, at = excluded.at`,
    { userId: b.userId, blockedId: b.blockedId, blocked: b.blocked ? 1 : 0, at: b.at },
  );
}

function toBlock(row: Record<string, unknown>): Block {
  return {
    userId: row.user_id as string,
    blockedId: row.blocked_id as string,
    blocked: row.blocked === 1,
    at: Number(row.at),
  };
}

export function getBlock(db: SqliteDb, userId: string, blockedId: string): Block | undefined {
  const row = db.get("SELECT * FROM blocks WHERE user_id = $userId AND blocked_id = $blockedId", {
    userId,
    blockedId,
  });
  return row ? toBlock(row) : undefined;
}

export function listBlocked(db: SqliteDb, userId: string): Block[] {
  return db.all("SELECT * FROM blocks WHERE user_id = $userId AND blocked = 1", { userId }).map(toBlock);
}

export function listBlockedBy(db: SqliteDb, blockedId: string): Block[] {
  return db.all("SELECT * FROM blocks WHERE blocked_id = $blockedId AND blocked = 1", { blockedId }).map(toBlock);
}
