import type { Reaction } from "../store.ts";
import type { SqliteDb } from "./db.ts";

/** Forward-only by n: an older reaction event applied late (a redelivery) changes nothing. */
export function applyReaction(db: SqliteDb, r: Reaction): void {
  db.run(
    `INSERT INTO reactions (chat_id, target, user_id, emoji, n, active) VALUES ($chatId, $target, $userId, $emoji, $n, $active)
     ON CONFLICT (chat_id, target, user_id, emoji) DO UPDATE SET n = excluded.n, active = excluded.active
     WHERE excluded.n > reactions.n`,
    { chatId: r.chatId, target: r.target, userId: r.userId, emoji: r.emoji, n: r.n, active: r.active ? 1 : 0 },
  );
}

function toReaction(row: Record<string, unknown>): Reaction {
  return {
    chatId: row.chat_id as string,
    target: Number(row.target),
    userId: row.user_id as string,
    emoji: row.emoji as string,
    n: Number(row.n),
    active: Number(row.active) === 1,
  };
}

export function getReaction(
  db: SqliteDb,
  chatId: string,
  target: number,
  userId: string,
  emoji: string,
): Reaction | undefined {
  const row = db.get(
    "SELECT * FROM reactions WHERE chat_id = $chatId AND target = $target AND user_id = $userId AND emoji = $emoji",
    { chatId, target, userId, emoji },
  );
  return row ? toReaction(row) : undefined;
}

export function listReactions(db: SqliteDb, chatId: string, target: number): Reaction[] {
  return db
    .all("SELECT * FROM reactions WHERE chat_id = $chatId AND target = $target AND active = 1 ORDER BY n", {
      chatId,
      target,
    })
    .map(toReaction);
}
