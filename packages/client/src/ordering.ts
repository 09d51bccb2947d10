/**
 * Per-chat delivery in `n` order. For each chat the SDK keeps a position (the last `n`
 * handed on to processing, in memory; it starts at the stored cursor, the last `n`
 * processed, see `processing.ts`):
 *
 * - `n ≤ position`: a duplicate (a replay overlapping live delivery, a resend): dropped.
 * - `n = position + 1`: handed on, then every buffered event that now follows on.
 * - `n > position + 1`: a gap. The event waits in a bounded buffer; after `gapGraceMs`, if
 *   the gap is still open, the missing range is fetched over HTTP
 *   (`GET /v1/chats/:id/messages?after=<position>&limit=100`) until it closes.
 *
 * Where a chat with no cursor starts is `startOf(event)`: the client's `discoverChats`
 * decides (from its start, filled over HTTP, or at this first live event). The user's own
 * join (`chat.created` naming them, their `member.added`) is a start either way.
 *
 * History starts at the user's current membership: a fill whose first event is the
 * user's own `member.added` (or a `chat.created` naming them) after a gap is accepted as
 * the new start, since the events before it are not the user's to see.
 */
import { type ChatEvent, isNatterError, membershipOf } from "@natter/protocol";
import type { Page } from "./http.ts";
import { PerChat } from "./per-chat.ts";

export interface OrderingDeps {
  /** The stored cursor of a chat this ordering has not seen yet. */
  stored(chat: string): number | undefined;
  /** Where a chat with no cursor starts, given its first event: the position before it (`n − 1`) or 0. */
  startOf(event: ChatEvent): number;
  /** Hands one event on; called in n order per chat. */
  deliver(event: ChatEvent): void;
  /** `GET …/messages?after=&limit=`. */
  fetchAfter(chat: string, afterN: number, limit: number): Promise<Page>;
  /** The user's id, once known (to recognize their own join). */
  me(): string | undefined;
  onError(err: Error): void;
  /** Wait before fetching a gap, ms: an event in flight may still close it. Default 250. */
  gapGraceMs?: number;
  /** Most events buffered per chat; beyond it the newest are dropped (the fill fetches them again). Default 10 000. */
  maxBuffered?: number;
  /** Events per fill request (1..100). Default 100. A fill that made no progress retries after `min(5 s, 100 ms · 2^attempt)`. */
  fillPage?: number;
}

interface ChatState {
  buffer: Map<number, ChatEvent>;
  timer: ReturnType<typeof setTimeout> | undefined;
  filling: boolean;
}

/** Thrown to `onError` when a gap stays open after several fills (the fill keeps trying). */
export class GapError extends Error {
  override name = "GapError";
  readonly chat: string;
  readonly afterN: number;
  constructor(chat: string, afterN: number, cause?: unknown) {
    super(`events of ${chat} after ${afterN} are missing and could not be fetched yet`, { cause });
    this.chat = chat;
    this.afterN = afterN;
  }
}

export class ChatOrdering {
  readonly #d: OrderingDeps;
  readonly #chats = new PerChat<ChatState>(() => ({ buffer: new Map(), timer: undefined, filling: false }));
  readonly #pos = new Map<string, number>();
  readonly #gapGraceMs: number;
  readonly #maxBuffered: number;
  readonly #page: number;
  #stopped = false;
  /** Counters, for tests and diagnostics. */
  readonly stats = { delivered: 0, duplicates: 0, buffered: 0, filled: 0, fills: 0 };

  constructor(deps: OrderingDeps) {
    this.#d = deps;
    this.#gapGraceMs = deps.gapGraceMs ?? 250;
    this.#maxBuffered = deps.maxBuffered ?? 10_000;
    this.#page = deps.fillPage ?? 100;
  }

  /** An event from the socket (live or replayed). */
  push(e: ChatEvent): void {
    if (this.#stopped) return;
    let last = this.position(e.chat);
    if (last === undefined) {
      last = this.#isOwnJoin(e) ? e.n - 1 : Math.min(e.n - 1, Math.max(0, this.#d.startOf(e)));
      this.#pos.set(e.chat, last);
    }
    if (e.n <= last) {
      this.stats.duplicates++;
      return;
    }
    if (last === 0 && e.n > 1 && this.#isOwnJoin(e)) {
      // From the start means from the user's joining: history before it is not theirs.
      last = e.n - 1;
      this.#pos.set(e.chat, last);
    }
    const s = this.#chats.of(e.chat);
    if (e.n === last + 1) {
      this.#apply(e);
      this.#drain(e.chat, s);
      return;
    }
    if (s.buffer.has(e.n)) {
      this.stats.duplicates++;
      return;
    }
    if (s.buffer.size < this.#maxBuffered) {
      s.buffer.set(e.n, e);
      this.stats.buffered++;
    }
    this.#scheduleFill(e.chat, s);
  }

  /** The last n handed on for the chat (this session), else its stored cursor. */
  position(chat: string): number | undefined {
    const p = this.#pos.get(chat);
    if (p !== undefined) return p;
    const stored = this.#d.stored(chat);
    if (stored !== undefined) this.#pos.set(chat, stored);
    return stored;
  }

  /** Every chat's position: those seen this session (the stored cursors are the caller's). */
  positions(): Record<string, number> {
    return Object.fromEntries(this.#pos);
  }

  /** Starts the chat over at `n` (a rewind, a track), or forgets it (`undefined`): its buffer is dropped. */
  reset(chat: string, n: number | undefined): void {
    const s = this.#chats.get(chat);
    if (s) {
      clearTimeout(s.timer);
      s.buffer.clear();
      s.timer = undefined;
      if (!s.filling) this.#chats.delete(chat);
    }
    if (n === undefined) this.#pos.delete(chat);
    else this.#pos.set(chat, n);
  }

  /**
   * Fetches the chat after its position over HTTP up to its head (a rewind or a track: the
   * gateway's socket does not send again what it already sent, so `sync` cannot replay it).
   * Live events that arrive meanwhile wait in the buffer.
   */
  async catchUp(chat: string): Promise<void> {
    let attempt = 0;
    while (!this.#stopped) {
      const last = this.position(chat) ?? 0;
      let page: Page;
      try {
        page = await this.#d.fetchAfter(chat, last, this.#page);
      } catch (err) {
        if (isNatterError(err) && (err.code === "forbidden" || err.code === "not_found")) {
          this.#d.onError(err);
          return;
        }
        if (++attempt === 5) this.#d.onError(new GapError(chat, last, err));
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
        continue;
      }
      if (this.#stopped) return;
      const progressed = this.#applyFill(chat, page.events);
      this.#drain(chat, this.#chats.of(chat));
      if (!page.hasMore || !progressed) return;
      attempt = 0;
    }
  }

  /** Whether a chat has a gap being waited for or filled. */
  hasGap(chat: string): boolean {
    const s = this.#chats.get(chat);
    return s !== undefined && (s.buffer.size > 0 || s.filling);
  }

  stop(): void {
    this.#stopped = true;
    this.#chats.cancelAll();
  }

  #apply(e: ChatEvent): void {
    this.#pos.set(e.chat, e.n);
    this.stats.delivered++;
    this.#d.deliver(e);
  }

  /** Delivers buffered events that follow the cursor; drops buffered ones at or below it. */
  #drain(chat: string, s: ChatState): void {
    if (s.buffer.size === 0) {
      if (!s.filling) this.#chats.delete(chat);
      return;
    }
    let last = this.#pos.get(chat) ?? 0;
    for (;;) {
      const next = s.buffer.get(last + 1);
      if (!next) break;
      s.buffer.delete(last + 1);
      this.#apply(next);
      last = next.n;
    }
    for (const n of s.buffer.keys()) if (n <= last) s.buffer.delete(n);
    if (s.buffer.size === 0 && !s.filling) {
      clearTimeout(s.timer);
      this.#chats.delete(chat);
    }
  }

  #scheduleFill(chat: string, s: ChatState): void {
    if (s.timer !== undefined || s.filling) return;
    s.timer = setTimeout(() => {
      s.timer = undefined;
      void this.#fill(chat, s);
    }, this.#gapGraceMs);
  }

  async #fill(chat: string, s: ChatState): Promise<void> {
    if (s.buffer.size === 0 || this.#stopped) return this.#drain(chat, s);
    s.filling = true;
    this.stats.fills++;
    let attempt = 0;
    try {
      while (s.buffer.size > 0 && !this.#stopped) {
        const last = this.#pos.get(chat) ?? 0;
        let progressed = false;
        let failure: unknown;
        try {
          const page = await this.#d.fetchAfter(chat, last, this.#page);
          if (this.#stopped) return;
          progressed = this.#applyFill(chat, page.events);
        } catch (err) {
          if (isNatterError(err) && (err.code === "forbidden" || err.code === "not_found")) {
            // No longer a member (or no such chat): nothing more of it is ours to deliver.
            s.buffer.clear();
            this.#d.onError(new GapError(chat, last, err));
            return;
          }
          failure = err;
        }
        this.#drain(chat, s);
        if (progressed) {
          attempt = 0;
          continue;
        }
        // The history store may lag the live stream by a moment: wait and try again.
        attempt++;
        if (attempt === 5) this.#d.onError(new GapError(chat, last, failure));
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
      }
    } finally {
      s.filling = false;
      if (!this.#stopped) this.#drain(chat, s);
    }
  }

  /** Applies a fill page; returns whether the cursor moved. */
  #applyFill(chat: string, events: ChatEvent[]): boolean {
    const start = this.#pos.get(chat) ?? 0;
    for (const e of events) {
      const last = this.#pos.get(chat) ?? 0;
      if (e.n <= last) continue;
      if (e.n !== last + 1 && !(last === start && this.#isOwnJoin(e))) break;
      this.stats.filled++;
      this.#apply(e);
    }
    return (this.#pos.get(chat) ?? 0) > start;
  }

  #isOwnJoin(e: ChatEvent): boolean {
    const me = this.#d.me();
    return me !== undefined && membershipOf(e, me) === true;
  }
}
