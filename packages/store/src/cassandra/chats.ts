import type { MemberRole } from "@natter/protocol";
import type { Chat, Member } from "../store.ts";
import { type Cql, num, opt, type Row, UNSET } from "./cql.ts";

export async function createChat(cql: Cql, chat: Chat): Promise<void> {
  // IF NOT EXISTS keeps the first creation, as SQLite's ON CONFLICT DO NOTHING does; chats are rare enough for Paxos.
  await cql.lwt(
    `INSERT INTO ${cql.t("chats")} (chat_id, kind, title, created_by, created_at) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS`,
    [chat.chatId, chat.kind, opt(chat.title), chat.createdBy, chat.createdAt],
  );
}

export async function getChat(cql: Cql, chatId: string): Promise<Chat | undefined> {
  const row = await cql.row("chats", { chat_id: chatId });
  if (!row) return undefined;
  const title = row.get("title") as string | null;
  return {
    chatId: row.get("chat_id"),
    kind: row.get("kind"),
    ...(title === null ? {} : { title }),
    createdBy: row.get("created_by"),
    createdAt: num(row.get("created_at")),
  };
}

export async function claimDirectChat(cql: Cql, userA: string, userB: string, chatId: string): Promise<string> {
  const [lo, hi] = userA < userB ? [userA, userB] : [userB, userA];
  const rs = await cql.lwt(
    `INSERT INTO ${cql.t("direct_chats")} (user_lo, user_hi, chat_id) VALUES (?, ?, ?) IF NOT EXISTS`,
    [lo, hi, chatId],
  );
  // A refused LWT returns the row that won.
  return rs.wasApplied() ? chatId : (rs.first()!.get("chat_id") as string);
}

/**
 * Both projections are written with `USING TIMESTAMP n`: Cassandra keeps the cell with
 * the highest timestamp, so the newest event wins whatever order events are applied in,
 * and re-applying one rewrites identical cells. joined_n is only written by adds, so it
 * holds the newest add. A logged batch makes the two tables agree eventually even if the
 * writer dies halfway.
 */
export async function applyMembership(
  cql: Cql,
  c: { chatId: string; userId: string; role: MemberRole; active: boolean; n: number },
): Promise<void> {
  const joined = c.active ? c.n : UNSET;
  await cql.batch(
    [
      {
        query: `INSERT INTO ${cql.t("members_by_chat")} (chat_id, user_id, role, active, changed_n, joined_n)
                VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`,
        params: [c.chatId, c.userId, c.role, c.active, c.n, joined, c.n],
      },
      {
        query: `INSERT INTO ${cql.t("chats_by_user")} (user_id, chat_id, role, active, changed_n, joined_n)
                VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`,
        params: [c.userId, c.chatId, c.role, c.active, c.n, joined, c.n],
      },
    ],
    true,
  );
}

function toMember(row: Row): Member {
  return {
    chatId: row.get("chat_id"),
    userId: row.get("user_id"),
    role: row.get("role"),
    joinedN: num(row.get("joined_n")),
    active: row.get("active") === true,
    changedN: num(row.get("changed_n")),
  };
}

export async function getMember(cql: Cql, chatId: string, userId: string): Promise<Member | undefined> {
  const row = await cql.row("members_by_chat", { chat_id: chatId, user_id: userId });
  return row ? toMember(row) : undefined;
}

export async function listMembers(cql: Cql, chatId: string): Promise<Member[]> {
  return (await cql.rows("members_by_chat", { chat_id: chatId })).map(toMember).filter((m) => m.active);
}

export async function listChatIdsForUser(cql: Cql, userId: string): Promise<string[]> {
  const rows = await cql.all(`SELECT chat_id, active FROM ${cql.t("chats_by_user")} WHERE user_id = ?`, [userId]);
  return rows.filter((r) => r.get("active") === true).map((r) => r.get("chat_id") as string);
}
