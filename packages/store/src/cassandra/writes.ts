import type { StoreWrite } from "../store.ts";
import { applyWrite, chatOfWrite, type WriteMethods } from "../writes.ts";
import { type Cql, mapLimit, type Request, type Statement } from "./cql.ts";
import { appendEventsRequests, CONCURRENCY } from "./events.ts";
import { chatHeadStatement, readStateStatements } from "./heads.ts";

/** Every write but `appendEvents`: each belongs to one chat's lane. */
type LaneWrite = Exclude<StoreWrite, { op: "appendEvents" }>;

/** Statements per unlogged batch of a chat's head and read pointers (tiny rows). */
const HEAD_BATCH_MAX_STATEMENTS = 50;

/**
 * `writeAll` on Cassandra, with as few round trips as keep the order's effect:
 *
 * - `appendEvents` waits for every write before it, then writes the events, one unlogged
 *   batch per partition (chat, bucket), partitions concurrently (at most `CONCURRENCY`
 *   requests in flight). The writes after it start only once the events have landed, so a
 *   chat head never gets ahead of its events.
 * - Its client-message index (one unlogged batch per partition, chat and sender) goes with
 *   the writes after it: after the events (a found client message always has its event),
 *   and concurrently with the projections, which do not depend on it.
 * - Every other write belongs to its chat's lane: a chat's writes keep their order, chats
 *   run concurrently. In a lane, consecutive chat-head and read-pointer writes (partition
 *   key chat_id in both tables, so one mutation) go as one unlogged batch; each cell is
 *   stamped with its own `n` (`USING TIMESTAMP`), so a batch resolves exactly as the same
 *   writes one by one would, in any order.
 *
 * Every statement is prepared and idempotent; the guards are the tables' own (README).
 */
export async function writeAll(
  cql: Cql,
  store: WriteMethods<Promise<void>>,
  writes: readonly StoreWrite[],
): Promise<void> {
  let carried: Request[] = [];
  let segment: LaneWrite[] = [];
  const flush = async () => {
    const lanes = new Map<string, LaneWrite[]>();
    for (const w of segment) {
      const key = chatOfWrite(w);
      const lane = lanes.get(key);
      if (lane) lane.push(w);
      else lanes.set(key, [w]);
    }
    const tasks: (() => Promise<unknown>)[] = [
      ...carried.map((r) => () => cql.send(r)),
      ...[...lanes.values()].map((lane) => () => writeLane(cql, store, lane)),
    ];
    carried = [];
    segment = [];
    await mapLimit(tasks, CONCURRENCY, (task) => task());
  };
  for (const w of writes) {
    if (w.op !== "appendEvents") {
      segment.push(w);
      continue;
    }
    await flush();
    const requests = appendEventsRequests(cql, w.events);
    await mapLimit(requests.events, CONCURRENCY, (r) => cql.send(r));
    carried = requests.clientMsgs;
  }
  await flush();
}

/** One chat's writes in order; runs of head and read-pointer writes as one batch each. */
async function writeLane(cql: Cql, store: WriteMethods<Promise<void>>, lane: LaneWrite[]): Promise<void> {
  let pending: Statement[] = [];
  const sendPending = async () => {
    const requests: Request[] = [];
    for (let i = 0; i < pending.length; i += HEAD_BATCH_MAX_STATEMENTS) {
      requests.push(pending.slice(i, i + HEAD_BATCH_MAX_STATEMENTS));
    }
    pending = [];
    await Promise.all(requests.map((r) => cql.send(r)));
  };
  for (const w of lane) {
    if (w.op === "advanceChatHead") pending.push(chatHeadStatement(cql, w.head));
    else if (w.op === "advanceReadState") pending.push(...readStateStatements(cql, w.state));
    else {
      if (pending.length > 0) await sendPending();
      await applyWrite(store, w);
    }
  }
  if (pending.length > 0) await sendPending();
}
