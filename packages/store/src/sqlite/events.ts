import type { ChatEvent, ErasedEvent } from "@natter/protocol";
import { clientKeyOf, type ClientMsgRef, type EventPageQuery, type UnreadCount } from "../store.ts";
import type { SqliteDb } from "./db.ts";

export function appendEvents(db: SqliteDb, events: ChatEvent[]): void {
  if (events.length === 0) return;
  db.tx(() => {
    for (const e of events) {
      db.run("INSERT INTO events (chat_id, n, event) VALUES ($chatId, $n, $event) ON CONFLICT DO NOTHING", {
        chatId: e.chat,
        n: e.n,
        event: JSON.stringify(e),
      });
      const clientKey = clientKeyOf(e);
      if (clientKey !== undefined) {
        // The earliest landing wins, whatever order copies are applied in (same rule as Cassandra).
        db.run(
          `INSERT INTO client_msgs (chat_id, user_id, client_msg_id, n, seq, ts) VALUES ($chatId, $userId, $id, $n, $seq, $ts)
           ON CONFLICT (chat_id, user_id, client_msg_id) DO UPDATE SET n = excluded.n, seq = excluded.seq, ts = excluded.ts
           WHERE excluded.n < client_msgs.n`,
          { chatId: e.chat, userId: e.from, id: clientKey, n: e.n, seq: e.seq, ts: e.ts },
        );
      }
    }
  });
}

/**
 * The erased row replaces whatever is stored (an upsert, so a message not stored yet is
 * erased too); `appendEvents` never overwrites a row, so a replayed original stays out.
 * The head's preview goes if it was this message's or an older one's (the deleted message
 * was the newest, or is not projected yet), and `preview_n` moves up to it, so neither its
 * replayed original nor an older message becomes the preview again: the same as
 * Cassandra's tombstone stamped `n`. `secure_delete` (db.ts) zeroes the freed bytes.
 *
 * An erased edit drops the preview only if it had set it (`latest`).
 */
export function eraseMessage(db: SqliteDb, erased: ErasedEvent): void {
  db.tx(() => {
    db.run(
      `INSERT INTO events (chat_id, n, event) VALUES ($chatId, $n, $event)
       ON CONFLICT (chat_id, n) DO UPDATE SET event = excluded.event`,
      { chatId: erased.chat, n: erased.n, event: JSON.stringify(erased) },
    );
    if (erased.kind === "message.edited" && !erased.latest) return;
    db.run(
      `UPDATE chat_heads SET preview = NULL, preview_from = NULL, preview_n = $n
       WHERE chat_id = $chatId AND preview_n <= $n`,
      { chatId: erased.chat, n: erased.n },
    );
  });
}

export function getEvents(db: SqliteDb, chatId: string, q: EventPageQuery): ChatEvent[] {
  const lo = Math.max(1, q.minN ?? 1, q.afterN === undefined ? 1 : q.afterN + 1);
  const hi = Math.min(Number.MAX_SAFE_INTEGER, q.maxN ?? Number.MAX_SAFE_INTEGER, (q.beforeN ?? Infinity) - 1);
  const limit = Math.max(0, Math.min(1000, Math.floor(q.limit)));
  if (lo > hi || limit === 0) return [];
  const params = { chatId, lo, hi, limit };
  if (q.afterN !== undefined) {
    return db
      .all(
        "SELECT event FROM events WHERE chat_id = $chatId AND n BETWEEN $lo AND $hi ORDER BY n ASC LIMIT $limit",
        params,
      )
      .map((r) => JSON.parse(r.event as string) as ChatEvent);
  }
  return db
    .all(
      "SELECT event FROM events WHERE chat_id = $chatId AND n BETWEEN $lo AND $hi ORDER BY n DESC LIMIT $limit",
      params,
    )
    .map((r) => JSON.parse(r.event as string) as ChatEvent)
    .reverse();
}

export function findClientMsg(
  db: SqliteDb,
  chatId: string,
  userId: string,
  clientMsgId: string,
): ClientMsgRef | undefined {
  const row = db.get(
    "SELECT n, seq, ts FROM client_msgs WHERE chat_id = $chatId AND user_id = $userId AND client_msg_id = $clientMsgId",
    { chatId, userId, clientMsgId },
  );
  return row ? { n: Number(row.n), seq: Number(row.seq), ts: Number(row.ts) } : undefined;
}

/**
 * Counts from the primary key (chat_id, n) up; `kind` and `from` are read out of the stored
 * JSON. The condition is `countsAsUnread` (`@natter/protocol`) in SQL: keep the two alike.
 */
export function countUnread(db: SqliteDb, chatId: string, userId: string, afterN: number, cap: number): UnreadCount {
  const limit = Math.max(0, Math.floor(cap));
  const counted = db.get(
    `SELECT count(*) AS c FROM (SELECT 1 FROM events WHERE chat_id = $chatId AND n > $afterN
       AND json_extract(event, '$.kind') = 'message.created'
       AND json_extract(event, '$.from') IS NOT $userId LIMIT $limit)`,
    { chatId, afterN: Math.max(0, Math.floor(afterN)), userId, limit },
  );
  const top = db.get("SELECT max(n) AS n FROM events WHERE chat_id = $chatId", { chatId });
  return { count: Number(counted?.c ?? 0), storedN: Number(top?.n ?? 0) };
}
