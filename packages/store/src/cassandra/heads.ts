import type { ChatHead, ReadState } from "../store.ts";
import { type Cql, mapLimit, num, opt, type Row, type Statement } from "./cql.ts";

/**
 * Forward-only without Paxos: every cell is stamped `USING TIMESTAMP lastN`, and
 * Cassandra's last-write-wins resolves by timestamp, so the highest lastN wins in any
 * order, a replay rewrites identical cells, and concurrent writers never contend (an LWT
 * would cost four round trips per message on the hottest row of a chat). An absent
 * preview is left unset, so the preview cells keep the newest message that had one.
 */
export async function advanceChatHead(cql: Cql, h: ChatHead): Promise<void> {
  const s = chatHeadStatement(cql, h);
  await cql.execute(s.query, s.params);
}

/** `advanceChatHead`'s one statement (partition key chat_id, as `read_state`'s: they batch together). */
export function chatHeadStatement(cql: Cql, h: ChatHead): Statement {
  return {
    query: `INSERT INTO ${cql.t("chat_heads")} (chat_id, last_n, last_seq, last_activity, preview, preview_from)
     VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`,
    params: [h.chatId, h.lastN, h.lastSeq, h.lastActivity, opt(h.preview), opt(h.previewFrom), h.lastN],
  };
}

function toHead(row: Row): ChatHead {
  const preview = row.get("preview") as string | null;
  const previewFrom = row.get("preview_from") as string | null;
  return {
    chatId: row.get("chat_id"),
    lastN: num(row.get("last_n")),
    lastSeq: num(row.get("last_seq")),
    lastActivity: num(row.get("last_activity")),
    ...(preview === null ? {} : { preview }),
    ...(previewFrom === null ? {} : { previewFrom }),
  };
}

export async function getChatHead(cql: Cql, chatId: string): Promise<ChatHead | undefined> {
  const row = await cql.row("chat_heads", { chat_id: chatId });
  return row && row.get("last_n") != null ? toHead(row) : undefined;
}

/** One single-partition read per chat, concurrently: a multi-partition IN would load one coordinator. */
export async function getChatHeads(cql: Cql, chatIds: string[]): Promise<ChatHead[]> {
  const heads = await mapLimit([...new Set(chatIds)], 32, (id) => getChatHead(cql, id));
  return heads.filter((h) => h !== undefined);
}

/**
 * Each pointer is its own cell stamped with its own value, so each only moves forward and
 * the two move independently (one partition, so the unlogged batch is one mutation).
 */
export async function advanceReadState(cql: Cql, s: ReadState): Promise<void> {
  await cql.batch(readStateStatements(cql, s), false);
}

/** `advanceReadState`'s two statements (partition key chat_id). */
export function readStateStatements(cql: Cql, s: ReadState): Statement[] {
  return [
    {
      query: `UPDATE ${cql.t("read_state")} USING TIMESTAMP ? SET delivered_n = ? WHERE chat_id = ? AND user_id = ?`,
      params: [s.deliveredN, s.deliveredN, s.chatId, s.userId],
    },
    {
      query: `UPDATE ${cql.t("read_state")} USING TIMESTAMP ? SET read_n = ? WHERE chat_id = ? AND user_id = ?`,
      params: [s.readN, s.readN, s.chatId, s.userId],
    },
  ];
}

function toReadState(row: Row): ReadState {
  return {
    chatId: row.get("chat_id"),
    userId: row.get("user_id"),
    deliveredN: num(row.get("delivered_n")),
    readN: num(row.get("read_n")),
  };
}

export async function getReadState(cql: Cql, chatId: string, userId: string): Promise<ReadState | undefined> {
  const row = await cql.row("read_state", { chat_id: chatId, user_id: userId });
  return row ? toReadState(row) : undefined;
}

export async function listReadStates(cql: Cql, chatId: string): Promise<ReadState[]> {
  return (await cql.rows("read_state", { chat_id: chatId })).map(toReadState);
}
