import { type ChatEvent, countsAsUnread, type ErasedEvent } from "@natter/protocol";
import {
  BUCKET_SIZE,
  bucketOf,
  clientKeyOf,
  type ClientMsgRef,
  type EventPageQuery,
  type UnreadCount,
} from "../store.ts";
import { getChatHead } from "./heads.ts";
import { type Cql, mapLimit, num, type Request, type Row, type Statement } from "./cql.ts";

/** Keeps unlogged batches well under Cassandra's batch size limits. */
const BATCH_MAX_STATEMENTS = 50;
const BATCH_MAX_BYTES = 32 * 1024;
/** Requests in flight at once for one batch of writes: independent partitions in parallel, bounded. */
export const CONCURRENCY = 32;
/**
 * The client-message index keeps the earliest landing of a client message: cells stamped
 * `EARLIEST_WINS - n` make the lowest n the newest write. Never written otherwise.
 */
export const EARLIEST_WINS = 2 ** 53;

/** The client-message index: a sender's messages in a chat in one partition (schema.ts). */
export const CLIENT_MSGS = "client_msgs_by_sender";

/**
 * Statements grouped by partition key into requests: an unlogged batch whose statements
 * share one partition key is a single mutation on one replica set, not a multi-partition
 * coordination. Each group is cut into batches well under Cassandra's size limits.
 */
function byPartition(statements: Iterable<{ key: string; statement: Statement; bytes: number }>): Request[] {
  const groups = new Map<string, { statement: Statement; bytes: number }[]>();
  for (const s of statements) {
    const group = groups.get(s.key);
    if (group) group.push(s);
    else groups.set(s.key, [s]);
  }
  const requests: Request[] = [];
  for (const group of groups.values()) {
    let current: Statement[] = [];
    let bytes = 0;
    for (const s of group) {
      if (current.length > 0 && (current.length >= BATCH_MAX_STATEMENTS || bytes + s.bytes > BATCH_MAX_BYTES)) {
        requests.push(current);
        current = [];
        bytes = 0;
      }
      current.push(s.statement);
      bytes += s.bytes;
    }
    if (current.length > 0) requests.push(current);
  }
  return requests;
}

/**
 * `appendEvents` as two rounds of requests: the events, grouped by partition (chat,
 * bucket), then the client-message index, grouped by partition (chat, sender). The second
 * round must start only after the first has landed, so a found client message always has
 * its event in history. Plain inserts are idempotent: (chat, n) always names the same event,
 * and an index row is stamped so that the earliest landing wins.
 */
export function appendEventsRequests(cql: Cql, events: ChatEvent[]): { events: Request[]; clientMsgs: Request[] } {
  const eventInsert = `INSERT INTO ${cql.t("events")} (chat_id, bucket, n, event) VALUES (?, ?, ?, ?)`;
  const clientMsgInsert = `INSERT INTO ${cql.t(CLIENT_MSGS)} (chat_id, user_id, client_msg_id, n, seq, ts)
                VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`;
  const rows: { key: string; statement: Statement; bytes: number }[] = [];
  const index: { key: string; statement: Statement; bytes: number }[] = [];
  for (const e of events) {
    const json = JSON.stringify(e);
    const bucket = bucketOf(e.n);
    rows.push({
      key: `${e.chat}\u0000${bucket}`,
      statement: { query: eventInsert, params: [e.chat, bucket, e.n, json] },
      bytes: json.length * 3,
    });
    const clientKey = clientKeyOf(e);
    if (clientKey !== undefined) {
      index.push({
        key: `${e.chat}\u0000${e.from}`,
        statement: {
          query: clientMsgInsert,
          params: [e.chat, e.from, clientKey, e.n, e.seq, e.ts, EARLIEST_WINS - e.n],
        },
        bytes: 3 * (e.chat.length + e.from.length + clientKey.length) + 40,
      });
    }
  }
  return { events: byPartition(rows), clientMsgs: byPartition(index) };
}

/** Events first, then the client-message index (`appendEventsRequests`), each round's partitions concurrently. */
export async function appendEvents(cql: Cql, events: ChatEvent[]): Promise<void> {
  const requests = appendEventsRequests(cql, events);
  await mapLimit(requests.events, CONCURRENCY, (r) => cql.send(r));
  await mapLimit(requests.clientMsgs, CONCURRENCY, (r) => cql.send(r));
}

/**
 * An erased row is written at this timestamp, above every wall-clock write (the driver's
 * microseconds reach it in the 23rd century), so a later plain insert of the original (a
 * redelivery) loses to it: the body never comes back. Nothing else writes events so.
 */
const ERASED_WINS = 2 ** 53;

/**
 * Overwrites the message's row with its erased form, and drops the head's preview if it
 * was this message's or an older one's: a cell tombstone stamped with the message's n
 * (the preview's own stamp, `advanceChatHead`) wins against it and any older one, also
 * replayed later, and loses to any newer message's preview. The one delete in this store: one cell per deleted message. The body's bytes
 * leave the disk when compaction merges the older SSTables that still hold them.
 *
 * An erased edit (a deleted message's `message.edited`) is written the same way; it drops
 * the preview only if it had set it (`latest`): its stamp is then the preview's own.
 */
export async function eraseMessage(cql: Cql, erased: ErasedEvent): Promise<void> {
  await cql.execute(
    `INSERT INTO ${cql.t("events")} (chat_id, bucket, n, event) VALUES (?, ?, ?, ?) USING TIMESTAMP ?`,
    [erased.chat, bucketOf(erased.n), erased.n, JSON.stringify(erased), ERASED_WINS],
  );
  if (erased.kind === "message.edited" && !erased.latest) return;
  await cql.execute(`DELETE preview, preview_from FROM ${cql.t("chat_heads")} USING TIMESTAMP ? WHERE chat_id = ?`, [
    erased.n,
    erased.chat,
  ]);
}

async function bucketHasEvents(cql: Cql, chatId: string, bucket: number): Promise<boolean> {
  const row = await cql.first(`SELECT n FROM ${cql.t("events")} WHERE chat_id = ? AND bucket = ? LIMIT 1`, [
    chatId,
    bucket,
  ]);
  return row !== undefined;
}

/**
 * The highest bucket that may hold events up to `hi`. It starts from the chat head's
 * bucket (the head is the projection's own idea of the newest event) and, since the head
 * is advanced after appendEvents and may lag it or be absent, probes upward one bucket at
 * a time until an empty one: n is dense, so an empty bucket means nothing lies above it.
 */
async function topBucket(cql: Cql, chatId: string, hi: number): Promise<number> {
  const cap = bucketOf(hi);
  const head = await getChatHead(cql, chatId);
  let b = bucketOf(Math.max(1, head?.lastN ?? 1));
  if (b >= cap) return cap;
  while (b < cap && (await bucketHasEvents(cql, chatId, b + 1))) b++;
  return b;
}

function toEvent(row: Row): ChatEvent {
  return JSON.parse(row.get("event") as string) as ChatEvent;
}

export async function getEvents(cql: Cql, chatId: string, q: EventPageQuery): Promise<ChatEvent[]> {
  const lo = Math.max(1, q.minN ?? 1, q.afterN === undefined ? 1 : q.afterN + 1);
  const hi = Math.min(Number.MAX_SAFE_INTEGER, q.maxN ?? Number.MAX_SAFE_INTEGER, (q.beforeN ?? Infinity) - 1);
  const limit = Math.max(0, Math.min(1000, Math.floor(q.limit)));
  if (lo > hi || limit === 0) return [];
  const low = bucketOf(lo);
  const top = await topBucket(cql, chatId, hi);
  const out: ChatEvent[] = [];
  if (q.afterN !== undefined) {
    for (let b = low; b <= top && out.length < limit; b++) {
      const rows = await cql.all(
        `SELECT event FROM ${cql.t("events")} WHERE chat_id = ? AND bucket = ? AND n >= ? AND n <= ?
         ORDER BY n ASC LIMIT ?`,
        [chatId, b, lo, hi, limit - out.length],
      );
      out.push(...rows.map(toEvent));
    }
    return out;
  }
  for (let b = top; b >= low && out.length < limit; b--) {
    const rows = await cql.all(
      `SELECT event FROM ${cql.t("events")} WHERE chat_id = ? AND bucket = ? AND n >= ? AND n <= ? LIMIT ?`,
      [chatId, b, lo, hi, limit - out.length],
    );
    out.push(...rows.map(toEvent));
  }
  return out.reverse();
}

export async function findClientMsg(
  cql: Cql,
  chatId: string,
  userId: string,
  clientMsgId: string,
): Promise<ClientMsgRef | undefined> {
  const row = await cql.first(
    `SELECT n, seq, ts FROM ${cql.t(CLIENT_MSGS)} WHERE chat_id = ? AND user_id = ? AND client_msg_id = ?`,
    [chatId, userId, clientMsgId],
  );
  return row ? { n: num(row.get("n")), seq: num(row.get("seq")), ts: num(row.get("ts")) } : undefined;
}

/** Rows per page while counting unread events. */
const COUNT_PAGE = 500;

/**
 * Walks the chat's partitions upward from the pointer (single-partition range reads, in
 * pages) and counts the events that `countsAsUnread` (messages from others), stopping at `cap`. The sender's own
 * events after their read pointer are rare (sending marks the chat read), so the walk reads
 * about `cap` rows at most. `storedN` comes from the highest bucket that holds events.
 */
export async function countUnread(
  cql: Cql,
  chatId: string,
  userId: string,
  afterN: number,
  cap: number,
): Promise<UnreadCount> {
  const limit = Math.max(0, Math.floor(cap));
  const from = Math.max(0, Math.floor(afterN));
  const top = await topBucket(cql, chatId, Number.MAX_SAFE_INTEGER);
  let storedN = 0;
  // The head may run ahead of the events written: step down to the newest bucket with one.
  for (let b = top; b >= 0 && storedN === 0; b--) {
    const newest = await cql.first(`SELECT n FROM ${cql.t("events")} WHERE chat_id = ? AND bucket = ? LIMIT 1`, [
      chatId,
      b,
    ]);
    if (newest) storedN = num(newest.get("n"));
  }
  let count = 0;
  let lo = from + 1;
  while (count < limit && lo <= storedN) {
    const b = bucketOf(lo);
    const hi = Math.min(storedN, (b + 1) * BUCKET_SIZE);
    const rows = await cql.all(
      `SELECT n, event FROM ${cql.t("events")} WHERE chat_id = ? AND bucket = ? AND n >= ? AND n <= ?
       ORDER BY n ASC LIMIT ?`,
      [chatId, b, lo, hi, COUNT_PAGE],
    );
    for (const r of rows) {
      if (countsAsUnread(JSON.parse(r.get("event") as string) as ChatEvent, userId) && ++count >= limit) break;
    }
    const last = rows.at(-1);
    lo = rows.length === COUNT_PAGE && last ? num(last.get("n")) + 1 : hi + 1;
  }
  return { count, storedN };
}
