import type { ChatHead, ReadState } from "../store.ts";
import type { SqliteDb } from "./db.ts";

/**
 * The head moves with lastN; the preview is guarded by its own preview_n, so it always
 * shows the newest message that had a body even when a newer non-message event (or an
 * older message applied late) arrives. Cassandra gets the same from per-cell timestamps.
 */
export function advanceChatHead(db: SqliteDb, h: ChatHead): void {
  const hasPreview = h.preview !== undefined;
  db.run(
    `INSERT INTO chat_heads (chat_id, last_n, last_seq, last_activity, preview, preview_from, preview_n)
     VALUES ($chatId, $lastN, $lastSeq, $lastActivity, $preview, $previewFrom, $previewN)
     ON CONFLICT (chat_id) DO UPDATE SET
       last_seq = CASE WHEN excluded.last_n > chat_heads.last_n THEN excluded.last_seq ELSE chat_heads.last_seq END,
       last_activity = CASE WHEN excluded.last_n > chat_heads.last_n
         THEN excluded.last_activity ELSE chat_heads.last_activity END,
       last_n = max(chat_heads.last_n, excluded.last_n),
       preview = CASE WHEN excluded.preview_n > chat_heads.preview_n THEN excluded.preview ELSE chat_heads.preview END,
       preview_from = CASE WHEN excluded.preview_n > chat_heads.preview_n
         THEN excluded.preview_from ELSE chat_heads.preview_from END,
       preview_n = max(chat_heads.preview_n, excluded.preview_n)
     WHERE excluded.last_n > chat_heads.last_n OR excluded.preview_n > chat_heads.preview_n`,
    {
      chatId: h.chatId,
      lastN: h.lastN,
      lastSeq: h.lastSeq,
      lastActivity: h.lastActivity,
      preview: h.preview ?? null,
      previewFrom: h.previewFrom ?? null,
      previewN: hasPreview ? h.lastN : 0,
    },
  );
}

function toHead(row: Record<string, unknown>): ChatHead {
  return {
    chatId: row.chat_id as string,
    lastN: Number(row.last_n),
    lastSeq: Number(row.last_seq),
    lastActivity: Number(row.last_activity),
    ...(row.preview === null ? {} : { preview: row.preview as string }),
    ...(row.preview_from === null ? {} : { previewFrom: row.preview_from as string }),
  };
}

export function getChatHead(db: SqliteDb, chatId: string): ChatHead | undefined {
  const row = db.get("SELECT * FROM chat_heads WHERE chat_id = $chatId", { chatId });
  return row ? toHead(row) : undefined;
}

export function getChatHeads(db: SqliteDb, chatIds: string[]): ChatHead[] {
  if (chatIds.length === 0) return [];
  const rows = db.all("SELECT * FROM chat_heads WHERE chat_id IN (SELECT value FROM json_each($ids))", {
    ids: JSON.stringify(chatIds),
  });
  const byId = new Map(rows.map((r) => [r.chat_id as string, toHead(r)]));
  return [...new Set(chatIds)].flatMap((id) => byId.get(id) ?? []);
}

export function advanceReadState(db: SqliteDb, s: ReadState): void {
  db.run(
    `INSERT INTO read_state (chat_id, user_id, delivered_n, read_n) VALUES ($chatId, $userId, $deliveredN, $readN)
     ON CONFLICT (chat_id, user_id) DO UPDATE SET
       delivered_n = max(read_state.delivered_n, excluded.delivered_n), read_n = max(read_state.read_n, excluded.read_n)
     WHERE excluded.delivered_n > read_state.delivered_n OR excluded.read_n > read_state.read_n`,
    { chatId: s.chatId, userId: s.userId, deliveredN: s.deliveredN, readN: s.readN },
  );
}

function toReadState(row: Record<string, unknown>): ReadState {
  return {
    chatId: row.chat_id as string,
    userId: row.user_id as string,
    deliveredN: Number(row.delivered_n),
    readN: Number(row.read_n),
  };
}

export function getReadState(db: SqliteDb, chatId: string, userId: string): ReadState | undefined {
  const row = db.get("SELECT * FROM read_state WHERE chat_id = $chatId AND user_id = $userId", { chatId, userId });
  return row ? toReadState(row) : undefined;
}

export function listReadStates(db: SqliteDb, chatId: string): ReadState[] {
  return db.all("SELECT * FROM read_state WHERE chat_id = $chatId ORDER BY user_id", { chatId }).map(toReadState);
}
