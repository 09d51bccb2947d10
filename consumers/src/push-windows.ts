import type { ChatEvent, MessageCreatedEvent } from "@natter/protocol";

/** The messages one notification per member collapses: a run of the chat's log. */
export interface PushWindow {
  chat: string;
  /** The window's first message (its anchor: live or deleted, it keeps its `n` and `ts`). */
  firstN: number;
  /** The last event the window takes (any kind). */
  lastN: number;
  /** Its live (not deleted) messages, ascending by `n`. */
  messages: MessageCreatedEvent[];
}

/**
 * Cuts the window that opens at `events[0]` (the first message after the chat's push
 * cursor, deleted or not: an erased message keeps its `n` and `ts`, so a delete never moves
 * a window): every event after it, in `n` order, while its `ts` is within `spanMs` of the
 * first one's. The cut depends only on the log, not on how messages were batched, so a
 * redelivery after a crash cuts the same window and `notificationIdOf(chat, firstN, lastN)`
 * repeats. Call it once the span has passed (every event of the window is in the log).
 */
export function cutWindow(events: readonly ChatEvent[], spanMs: number): PushWindow {
  const first = events[0];
  if (first?.kind !== "message.created") throw new Error("a push window opens at a message");
  const until = first.ts + spanMs;
  const w: PushWindow = { chat: first.chat, firstN: first.n, lastN: first.n, messages: [] };
  for (const e of events) {
    if (e !== first && e.ts >= until) break;
    w.lastN = e.n;
    if (e.kind === "message.created" && !e.deleted) w.messages.push(e);
  }
  return w;
}
