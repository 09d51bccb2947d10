import {
  type ChatEvent,
  erasedEdit,
  erasedMessage,
  isUnavailable,
  type MessageCreatedEvent,
  parseEventPayload,
} from "@natter/protocol";
import type { EventPageQuery, Store } from "@natter/store";
import { CHAT_STREAM, chatSubject } from "@natter/subjects";
import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { lastChatEvent } from "./chat-stream.ts";

export interface ChatRangeQuery {
  /** Events with n > afterN (0 for the chat's first event). */
  afterN: number;
  /** Events with n <= toN; up to the chat's current head when absent. */
  toN?: number;
  /** Most events returned (≥ 1). */
  limit: number;
}

/** Store pages are at most 1000 events (the store contract). */
const STORE_PAGE = 1000;
/** Events per batch direct get request. Events are ≤ 64 KiB, so a page is ≤ 16 MiB. */
const STREAM_PAGE = 256;
/** Most stream pages read beyond a range for the deletes of messages it took from the stream. */
const DELETE_SCAN_PAGES = 8;

/**
 * Events of one chat with `afterN < n <= toN`, ascending by n, at most `limit`: older ones
 * from the history store, whatever the store does not have yet (the history consumer may
 * lag, or hold a hole while a failed batch waits for redelivery) from the chat stream.
 *
 * The result is always a contiguous run `afterN + 1, afterN + 2, …` with no gap: it stops
 * early (fewer than `limit`) only where neither source holds the next event — the chat's
 * head, or an event the stream no longer keeps and the store does not have yet. Callers
 * that fill gaps compare the last `n` returned with what they need.
 *
 * Reading the stream uses batch direct get with `next_by_subj` (nats-server ≥ 2.11), from
 * the stream sequence after the last event already known: the stored event `afterN`'s seq
 * when the store has it, else found by bisecting the stream's sequences with single direct
 * gets (the chat's events are ordered by n along the stream, so "n > afterN" is monotone).
 * Direct gets may be answered by a stream replica that is slightly behind the leader; the
 * result is then shorter, never wrong.
 *
 * Deleted messages: the store's erased row wins over the stream's copy. History may erase
 * a message while an earlier batch waits for redelivery (a hole before it), so a message
 * read from the stream (beyond the store's contiguous run) is replaced by the erased row
 * the same store page returned for its `n`; and the
 * stream's copy is erased only after the store has the row (history), so where the stream
 * has a hole the store has the message, erased. The same holds for a deleted message's
 * edits (erased with it, `erasedEdit`). A message (or edit) taken from the stream, which
 * history has not written yet, may have its delete further along the stream than the
 * range goes, applied nowhere yet: the stream beyond the range is read for deletes (at most
 * `DELETE_SCAN_PAGES` pages; a read only while history lags) and their targets erased.
 */
export async function readChatEvents(
  jsm: JetStreamManager,
  store: Store,
  chatId: string,
  query: ChatRangeQuery,
  stream: string = CHAT_STREAM,
): Promise<ChatEvent[]> {
  const toN = query.toN ?? Number.MAX_SAFE_INTEGER;
  const limit = Math.floor(query.limit);
  const out: ChatEvent[] = [];
  let next = Math.max(0, Math.floor(query.afterN)) + 1;
  /** Erased messages the store returned beyond its contiguous run: they win over the stream's copies. */
  const erased = new Map<number, ChatEvent>();
  /** The stream seq of event `next - 1`, when known. */
  let prevSeq: number | undefined;
  const done = () => out.length >= limit || next > toN;
  const take = (e: ChatEvent) => {
    out.push(e);
    next = e.n + 1;
    prevSeq = e.seq;
  };
  /** Bodies taken from the stream (messages, edits), by index in `out`. */
  const bodiesFromStream: number[] = [];

  /** A hole met in the stream right after a store read that had nothing there, read again once. */
  let holeRetried = false;
  while (!done()) {
    let progressed = false;
    let hole = false;
    // 1. The store: the contiguous run it holds from `next` on.
    for (;;) {
      const want = Math.min(limit - out.length, toN - next + 1, STORE_PAGE);
      const page = await storeEvents(store, chatId, { afterN: next - 1, maxN: toN, limit: want });
      let taken = 0;
      for (const e of page) {
        if (e.n !== next) break;
        take(e);
        taken++;
      }
      for (const e of page.slice(taken)) {
        if ((e.kind === "message.created" || e.kind === "message.edited") && e.deleted) erased.set(e.n, e);
      }
      if (taken > 0) progressed = true;
      // A full page taken whole: the store may hold more.
      if (done() || taken < want || page.length < want) break;
    }
    if (done()) break;

    // 2. The stream: from the event after the last known one, as far as it runs without a gap.
    const start = prevSeq !== undefined ? prevSeq + 1 : await firstSeqAfter(jsm, store, chatId, next - 1, stream);
    if (start === undefined) break;
    let seq = start;
    let atHead: boolean;
    for (;;) {
      const want = Math.min(limit - out.length, toN - next + 1, STREAM_PAGE);
      const page = await streamPage(jsm, chatId, seq, want, stream);
      seq = page.nextSeq;
      atHead = !page.more;
      let stop = atHead;
      for (const e of page.events) {
        if (e.n < next) continue;
        if (e.n !== next) {
          // A hole in the stream (aged out or purged): the store may have it; go back to it.
          stop = true;
          atHead = false;
          hole = true;
          break;
        }
        const taken = erased.get(e.n) ?? e;
        take(taken);
        if ((taken.kind === "message.created" || taken.kind === "message.edited") && !taken.deleted) {
          bodiesFromStream.push(out.length - 1);
        }
        progressed = true;
        if (done()) break;
      }
      if (stop || done()) break;
    }
    // The stream's last message is the chat's head: nothing newer exists anywhere.
    if (atHead) break;
    if (!progressed) {
      // The history consumer erases a deleted message's stream copy only after writing its
      // erased row: a hole right where the store had nothing a moment ago is that race, and
      // the store has the event now. Read it once more (an aged-out hole costs one read).
      if (hole && !holeRetried) {
        holeRetried = true;
        continue;
      }
      break;
    }
  }
  if (bodiesFromStream.length > 0 && prevSeq !== undefined) {
    const deletedBy = await deletesAfter(jsm, chatId, prevSeq + 1, stream);
    for (const i of deletedBy.size > 0 ? bodiesFromStream : []) {
      const e = out[i]!;
      const messageN = e.kind === "message.edited" ? e.target : e.n;
      const by = deletedBy.get(messageN);
      if (by === undefined) continue;
      out[i] = e.kind === "message.edited" ? erasedEdit(e) : erasedMessage(e as MessageCreatedEvent, by);
    }
  }
  return out;
}

/**
 * The chat's deletes in the stream from seq `seq` on (at most `DELETE_SCAN_PAGES` pages):
 * deleted message `n` → the delete's `n`.
 */
async function deletesAfter(
  jsm: JetStreamManager,
  chatId: string,
  seq: number,
  stream: string,
): Promise<Map<number, number>> {
  const deletedBy = new Map<number, number>();
  for (let i = 0; i < DELETE_SCAN_PAGES; i++) {
    const page = await streamPage(jsm, chatId, seq, STREAM_PAGE, stream);
    for (const e of page.events) if (e.kind === "message.deleted") deletedBy.set(e.target, e.n);
    if (!page.more) break;
    seq = page.nextSeq;
  }
  return deletedBy;
}

/** A chat's head: the `n` of its newest event and that event's stream `seq` (0 when the stream no longer holds it). */
export interface ChatHeadRef {
  n: number;
  seq: number;
}

/**
 * The chat's head as of now: its last event in the stream (the stream is ahead of the
 * store, which the history consumer writes behind it), else the store's head (the chat's
 * events have all aged out of the stream); `{n: 0, seq: 0}` for a chat with no event.
 */
export async function readChatHead(
  jsm: JetStreamManager,
  store: Store,
  chatId: string,
  stream: string = CHAT_STREAM,
): Promise<ChatHeadRef> {
  const last = await lastChatEvent(jsm, chatId, stream);
  if (last) return { n: last.n, seq: last.seq };
  const stored = await store.getChatHead(chatId);
  return { n: stored?.lastN ?? 0, seq: 0 };
}

export interface ChatPageQuery {
  /** The newest events with n < before. */
  before?: number;
  /** The oldest events with n > after (wins over `before` when both are given). */
  after?: number;
  /** Most events returned (≥ 1). */
  limit: number;
  /** The lowest n the reader may see (the event that added them). */
  minN: number;
  /** The highest n the reader may see (a removed member: their removal); the head when absent. */
  maxN?: number;
}

/**
 * One page of a chat's history for a reader, ascending by n, from the same two sources as
 * `readChatEvents` (the store, then the stream's tail beyond it), so an event acked `sent`
 * is in every page that covers its `n` at once, whatever the history consumer's lag.
 * With neither `before` nor `after` it is the newest page. `hasMore`: events the reader may
 * see exist beyond the page in its direction (older for `before`, newer for `after`).
 */
export async function readChatPage(
  jsm: JetStreamManager,
  store: Store,
  chatId: string,
  q: ChatPageQuery,
  stream: string = CHAT_STREAM,
): Promise<{ events: ChatEvent[]; hasMore: boolean }> {
  const minN = Math.max(1, q.minN);
  if (q.after !== undefined) {
    const events = await readChatEvents(
      jsm,
      store,
      chatId,
      {
        afterN: Math.max(q.after, minN - 1),
        ...(q.maxN === undefined ? {} : { toN: q.maxN }),
        limit: q.limit + 1,
      },
      stream,
    );
    const hasMore = events.length > q.limit;
    return { events: hasMore ? events.slice(0, q.limit) : events, hasMore };
  }
  // Numbers are dense from 1, so the newest page below `before` is known from the head alone.
  let top = q.maxN ?? (await readChatHead(jsm, store, chatId, stream)).n;
  if (q.before !== undefined) top = Math.min(top, q.before - 1);
  if (top < minN) return { events: [], hasMore: false };
  const bottom = Math.max(minN, top - q.limit + 1);
  const events = await readChatEvents(
    jsm,
    store,
    chatId,
    { afterN: bottom - 1, toN: top, limit: top - bottom + 1 },
    stream,
  );
  return { events, hasMore: bottom > minN };
}

/**
 * The stream sequence to read from for the chat's events after `afterN`, or undefined
 * when the stream holds none. Uses the stored event `afterN`'s seq when the store has it;
 * otherwise bisects the stream between the chat's first and last message.
 */
async function firstSeqAfter(
  jsm: JetStreamManager,
  store: Store,
  chatId: string,
  afterN: number,
  stream: string,
): Promise<number | undefined> {
  const subject = chatSubject(chatId);
  if (afterN > 0) {
    const [prev] = await storeEvents(store, chatId, { afterN: afterN - 1, limit: 1 });
    if (prev?.n === afterN) return prev.seq + 1;
  }
  const lastMsg = await jsm.direct.getMessage(stream, { last_by_subj: subject });
  if (!lastMsg) return undefined;
  const last = parsed(lastMsg);
  if (last && last.n <= afterN) return undefined;
  const first = await eventFrom(jsm, subject, 1, stream);
  if (!first) return undefined;
  if (first.n > afterN) return first.seq;
  // Smallest seq s in (first.seq, last seq] whose next chat event has n > afterN.
  let lo = first.seq + 1;
  let hi = lastMsg.seq;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const e = await eventFrom(jsm, subject, mid, stream);
    if (!e || e.n > afterN) hi = mid;
    else lo = e.seq + 1;
  }
  return lo;
}

/**
 * The store's events, or none when the store cannot be read (Cassandra down): the stream
 * still holds the recent log, so reads go on from it alone rather than fail (a range then
 * ends where the stream's copy ends, as for a hole).
 */
async function storeEvents(store: Store, chatId: string, q: EventPageQuery): Promise<ChatEvent[]> {
  try {
    return await store.getEvents(chatId, q);
  } catch (err) {
    if (!isUnavailable(err)) throw err;
    return [];
  }
}

function parsed(m: StoredMsg): ChatEvent | undefined {
  try {
    return parseEventPayload(m.json(), m.seq);
  } catch {
    // Not an event (poison on a chat subject): the consumers term it; readers skip it.
    return undefined;
  }
}

/** The chat's first event at or after stream seq `seq` (single direct gets, skipping poison). */
async function eventFrom(
  jsm: JetStreamManager,
  subject: string,
  seq: number,
  stream: string,
): Promise<ChatEvent | undefined> {
  for (;;) {
    const m = await jsm.direct.getMessage(stream, { seq, next_by_subj: subject });
    if (!m) return undefined;
    const e = parsed(m);
    if (e) return e;
    seq = m.seq + 1;
  }
}

/**
 * Up to `batch` messages of the chat from stream seq `seq` on (batch direct get): the
 * events, whether the stream holds more of the chat's messages, and the seq to go on from.
 */
async function streamPage(
  jsm: JetStreamManager,
  chatId: string,
  seq: number,
  batch: number,
  stream: string,
): Promise<{ events: ChatEvent[]; more: boolean; nextSeq: number }> {
  const iter = await jsm.direct.getBatch(stream, { seq, next_by_subj: chatSubject(chatId), batch });
  const events: ChatEvent[] = [];
  let messages = 0;
  let pending = -1;
  let nextSeq = seq;
  try {
    for await (const m of iter) {
      messages++;
      nextSeq = m.seq + 1;
      pending = m.pending;
      const e = parsed(m);
      if (e) events.push(e);
    }
  } catch (err) {
    // 404: no message of the subject from `seq` on; the batch simply ends.
    if ((err as { code?: unknown }).code !== 404) throw err;
  }
  // `pending` is how many of the subject's messages follow the last one sent (-1: unknown).
  // A batch cut short by the server's byte limit still has some pending.
  return { events, more: messages > 0 && pending !== 0, nextSeq };
}
