import type { Block, ChatRequest, RequestState } from "../store.ts";
import { type Cql, num, type Row } from "./cql.ts";

/**
 * Whole rows, written with the driver's (monotonic, client-side) timestamps: the last
 * write wins, as SQLite's upsert. Every column is written each time, so no null and no
 * tombstone; an unblock or a decline is a new state, not a delete.
 */
export async function putChatRequest(cql: Cql, r: ChatRequest): Promise<void> {
  await cql.batch(
    [
      {
        query: `INSERT INTO ${cql.t("chat_requests_by_user")} (user_id, chat_id, from_user, at, state) VALUES (?, ?, ?, ?, ?)`,
        params: [r.userId, r.chatId, r.from, r.at, r.state],
      },
      {
        query: `INSERT INTO ${cql.t("chat_requests_by_chat")} (chat_id, user_id, from_user, at, state) VALUES (?, ?, ?, ?, ?)`,
        params: [r.chatId, r.userId, r.from, r.at, r.state],
      },
    ],
    true,
  );
}

function toRequest(row: Row): ChatRequest {
  return {
    userId: row.get("user_id"),
    chatId: row.get("chat_id"),
    from: row.get("from_user"),
    at: num(row.get("at")),
    state: row.get("state") as RequestState,
  };
}

export async function getChatRequest(cql: Cql, userId: string, chatId: string): Promise<ChatRequest | undefined> {
  const row = await cql.row("chat_requests_by_user", { user_id: userId, chat_id: chatId });
  return row ? toRequest(row) : undefined;
}

export async function listChatRequests(cql: Cql, userId: string): Promise<ChatRequest[]> {
  return (await cql.rows("chat_requests_by_user", { user_id: userId })).map(toRequest);
}

export async function listChatRequestsOfChat(cql: Cql, chatId: string): Promise<ChatRequest[]> {
  return (await cql.rows("chat_requests_by_chat", { chat_id: chatId })).map(toRequest);
}

export async function putBlock(cql: Cql, b: Block): Promise<void> {
  await cql.batch(
    [
      {
        query: `INSERT INTO ${cql.t("blocks_by_user")} (user_id, blocked_id, blocked, at) VALUES (?, ?, ?, ?)`,
        params: [b.userId, b.blockedId, b.blocked, b.at],
      },
      {
        query: `INSERT INTO ${cql.t("blocks_by_blocked")} (blocked_id, user_id, blocked, at) VALUES (?, ?, ?, ?)`,
        params: [b.blockedId, b.userId, b.blocked, b.at],
      },
    ],
    true,
  );
}

function toBlock(row: Row): Block {
  return {
    userId: row.get("user_id"),
    blockedId: row.get("blocked_id"),
    blocked: row.get("blocked") === true,
    at: num(row.get("at")),
  };
}

export async function getBlock(cql: Cql, userId: string, blockedId: string): Promise<Block | undefined> {
  const row = await cql.row("blocks_by_user", { user_id: userId, blocked_id: blockedId });
  return row ? toBlock(row) : undefined;
}

export async function listBlocked(cql: Cql, userId: string): Promise<Block[]> {
  return (await cql.rows("blocks_by_user", { user_id: userId })).map(toBlock).filter((b) => b.blocked);
}

export async function listBlockedBy(cql: Cql, blockedId: string): Promise<Block[]> {
  return (await cql.rows("blocks_by_blocked", { blocked_id: blockedId })).map(toBlock).filter((b) => b.blocked);
}
