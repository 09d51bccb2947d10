import type { ChatEvent, MessageCreatedEvent } from "@natter/protocol";

/** Messages of one chat that one notification per member collapses. */
export interface PushWindow {
  chat: string;
  /** Ascending by `n`; non-empty. */
  messages: MessageCreatedEvent[];
  firstN: number;
  lastN: number;
}

/**
 * Cuts a batch's messages into collapse windows: per chat, in `n` order, a window opens at
 * a message and takes every later message of the chat whose `ts` is within `spanMs` of
 * that first one. The window depends only on the messages (their `n` and `ts`), not on when
 * they were read, so a batch redelivered after a crash cuts the same windows, and the
 * notification id (`notificationIdOf(chat, firstN, lastN)`) repeats. The runner lingers
 * `spanMs` before taking a batch, so a burst is in one batch to begin with.
 */
export function pushWindows(events: readonly ChatEvent[], spanMs: number): PushWindow[] {
  const byChat = new Map<string, MessageCreatedEvent[]>();
  for (const e of events) {
    if (e.kind !== "message.created" || e.deleted) continue;
    let list = byChat.get(e.chat);
    if (!list) byChat.set(e.chat, (list = []));
    list.push(e);
  }
  const windows: PushWindow[] = [];
  for (const [chat, list] of byChat) {
    list.sort((a, b) => a.n - b.n);
    let open: MessageCreatedEvent[] | undefined;
    for (const m of list) {
      if (open && m.ts - open[0]!.ts < spanMs) {
        if (open.at(-1)!.n !== m.n) open.push(m); // a redelivered copy in one batch: once
        continue;
      }
      open = [m];
      windows.push({ chat, messages: open, firstN: m.n, lastN: m.n });
    }
  }
  for (const w of windows) w.lastN = w.messages.at(-1)!.n;
  return windows;
}
