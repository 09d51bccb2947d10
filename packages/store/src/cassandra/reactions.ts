import type { Reaction } from "../store.ts";
import { type Cql, num, type Row } from "./cql.ts";

/**
 * Forward-only without Paxos, as the chat heads: the row is stamped `USING TIMESTAMP n`,
 * so the newest reaction event of a (user, message, emoji) wins whatever order the
 * history consumer and the gateway write in.
 */
export async function applyReaction(cql: Cql, r: Reaction): Promise<void> {
  await cql.execute(
    `INSERT INTO ${cql.t("reactions")} (chat_id, target, user_id, emoji, n, active) VALUES (?, ?, ?, ?, ?, ?)
     USING TIMESTAMP ?`,
    [r.chatId, r.target, r.userId, r.emoji, r.n, r.active, r.n],
  );
}

function toReaction(row: Row): Reaction {
  return {
    chatId: row.get("chat_id"),
    target: num(row.get("target")),
    userId: row.get("user_id"),
    emoji: row.get("emoji"),
    n: num(row.get("n")),
    active: row.get("active") === true,
  };
}

export async function getReaction(
  cql: Cql,
  chatId: string,
  target: number,
  userId: string,
  emoji: string,
): Promise<Reaction | undefined> {
  const row = await cql.first(
    `SELECT * FROM ${cql.t("reactions")} WHERE chat_id = ? AND target = ? AND user_id = ? AND emoji = ?`,
    [chatId, target, userId, emoji],
  );
  return row ? toReaction(row) : undefined;
}

/** One partition: the message's rows (bounded by the reaction limits and the group size). */
export async function listReactions(cql: Cql, chatId: string, target: number): Promise<Reaction[]> {
  const rows = await cql.all(`SELECT * FROM ${cql.t("reactions")} WHERE chat_id = ? AND target = ?`, [chatId, target]);
  return rows
    .map(toReaction)
    .filter((r) => r.active)
    .sort((a, b) => a.n - b.n);
}
