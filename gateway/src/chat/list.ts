import type { ChatLog } from "@natter/bus";
import { type ChatEvent, type ChatSummary, countsAsUnread, previewOf } from "@natter/protocol";
import type { Store } from "@natter/store";
import { accepted } from "./access.ts";

/** Unread counts stop here (the list shows "1000+"); counting further costs reads for nothing. */
export const UNREAD_CAP = 1000;

/** One chat of my list: the protocol's `ChatSummary`. */
export type ChatListItem = ChatSummary;

/**
 * My chats by last activity, newest first. The store keeps chats-by-user unordered
 * (activity changes with every message, a poor clustering key), so the page is sorted
 * here; a user's chat count is bounded in practice. The cursor is the position after the
 * last item returned, as `<lastActivity>:<chatId>`, stable while chats move.
 *
 * `unread` is exact up to `UNREAD_CAP`: the messages from others (`countsAsUnread`) after my
 * read pointer and after the event that added me, counted in the history store, plus those
 * the history consumer has not written yet, read from the chat stream.
 *
 * A direct chat's item names its peer (`peerHandle`, `peerDisplayName`), so a client shows
 * the chat of someone it never looked up by name from its first render.
 *
 * Message requests: a chat where my membership is an unanswered request carries
 * `request: {from, at}`; `requests: "only"` lists just those, `"exclude"` all but those. A
 * direct chat I declined is not listed (until I open it again), nor is a request from
 * someone I block (it comes back if I unblock them).
 */
export async function listChats(
  store: Store,
  chatLog: ChatLog,
  me: string,
  q: { limit: number; cursor?: string; requests?: "only" | "exclude" },
): Promise<{ chats: ChatListItem[]; next?: string }> {
  const [all, requestRows, blocked] = await Promise.all([
    store.listChatIdsForUser(me),
    store.listChatRequests(me),
    store.listBlocked(me),
  ]);
  const blockedIds = new Set(blocked.map((b) => b.blockedId));
  const unanswered = new Map(requestRows.filter((r) => !accepted(r)).map((r) => [r.chatId, r]));
  const ids = all.filter((chatId) => {
    const r = unanswered.get(chatId);
    if (r && (r.state === "declined" || blockedIds.has(r.from))) return false;
    if (q.requests === "only") return r !== undefined;
    if (q.requests === "exclude") return r === undefined;
    return true;
  });
  // The stream's heads are the truth; the store's lag them by the history consumer's delay.
  // Both order the list, so the order, the items and the cursor agree.
  const [storedHeads, streamHeads] = await Promise.all([
    store.getChatHeads(ids),
    chatLog.lastEvents(ids).catch(() => new Map<string, ChatEvent>()),
  ]);
  const heads = new Map(storedHeads.map((h) => [h.chatId, h]));
  const freshest = (chatId: string) => {
    const stored = heads.get(chatId);
    const top = streamHeads.get(chatId);
    return top && top.n > (stored?.lastN ?? 0) ? top.ts : (stored?.lastActivity ?? 0);
  };
  const order = ids
    .map((chatId) => ({ chatId, at: freshest(chatId) }))
    .sort((a, b) => b.at - a.at || (a.chatId < b.chatId ? -1 : a.chatId > b.chatId ? 1 : 0));
  let start = 0;
  if (q.cursor) {
    const sep = q.cursor.indexOf(":");
    const at = Number(q.cursor.slice(0, sep));
    const id = q.cursor.slice(sep + 1);
    start = order.findIndex((o) => o.at < at || (o.at === at && o.chatId > id));
    if (start < 0) start = order.length;
  }
  const page = order.slice(start, start + q.limit);
  const chats = await Promise.all(
    page.map(async ({ chatId }): Promise<ChatListItem | undefined> => {
      const [chat, read, members] = await Promise.all([
        store.getChat(chatId),
        store.getReadState(chatId, me),
        store.listMembers(chatId),
      ]);
      if (!chat) return undefined;
      const stored = heads.get(chatId);
      const top = streamHeads.get(chatId);
      const head =
        top && top.n > (stored?.lastN ?? 0)
          ? {
              lastN: top.n,
              lastActivity: top.ts,
              preview: await unstoredPreview(chatLog, chatId, top, stored),
            }
          : stored;
      const lastN = head?.lastN ?? 0;
      const joinedN = members.find((m) => m.userId === me)?.joinedN ?? 1;
      const unread = await countUnread(store, chatLog, chatId, me, Math.max(read?.readN ?? 0, joinedN), lastN);
      const readN = Math.min(read?.readN ?? 0, lastN);
      const peer = chat.kind === "direct" ? members.find((m) => m.userId !== me)?.userId : undefined;
      const peerUser = peer === undefined ? undefined : await store.getUser(peer);
      const request = unanswered.get(chatId);
      return {
        chatId,
        kind: chat.kind,
        ...(chat.title === undefined ? {} : { title: chat.title }),
        ...(peer === undefined ? {} : { peer }),
        ...(peerUser === undefined ? {} : { peerHandle: peerUser.handle, peerDisplayName: peerUser.displayName }),
        lastN,
        lastActivity: head?.lastActivity ?? chat.createdAt,
        ...(head?.preview === undefined ? {} : { preview: head.preview }),
        readN,
        unread: unread.count,
        ...(request === undefined ? {} : { request: { from: request.from, at: request.at } }),
      };
    }),
  );
  const last = page.at(-1);
  const more = start + q.limit < order.length;
  return {
    chats: chats.filter((c): c is ChatListItem => c !== undefined),
    ...(more && last ? { next: `${last.at}:${last.chatId}` } : {}),
  };
}

/** Events the history store has not projected yet, read for a preview. */
const PREVIEW_WINDOW = 100;

/**
 * The preview of a chat whose stream head `top` is ahead of the store's head: `top`'s own
 * when it is a message; else the newest message the history consumer has not projected
 * yet. A delete among those events may have erased the store's preview message (or be
 * about to): then no preview rather than a deleted body, until history catches up.
 */
async function unstoredPreview(
  chatLog: ChatLog,
  chatId: string,
  top: ChatEvent,
  stored: { lastN: number; preview?: string } | undefined,
): Promise<string | undefined> {
  if (isPreviewable(top)) return previewOf(top);
  const from = Math.max(stored?.lastN ?? 0, top.n - PREVIEW_WINDOW);
  const unstored = await chatLog.range(chatId, { afterN: from, toN: top.n, limit: PREVIEW_WINDOW }).catch(() => []);
  const message = unstored.findLast(isPreviewable);
  if (message) return previewOf(message);
  if (unstored.some((e) => e.kind === "message.deleted") || unstored.length < top.n - from) return undefined;
  return stored?.preview;
}

/** A message, or an edit of the newest one (`latest`): what the preview shows (a deleted one: none). */
function isPreviewable(e: ChatEvent): boolean {
  return e.kind === "message.created" || (e.kind === "message.edited" && e.latest === true);
}

/** Messages from others after `afterN`, up to the cap: the store's count, then the stream beyond what it holds. */
async function countUnread(
  store: Store,
  chatLog: ChatLog,
  chatId: string,
  me: string,
  afterN: number,
  lastN: number,
): Promise<{ count: number }> {
  if (lastN <= afterN) return { count: 0 };
  const stored = await store.countUnread(chatId, me, afterN, UNREAD_CAP);
  let count = stored.count;
  const from = Math.max(afterN, stored.storedN);
  if (count >= UNREAD_CAP || lastN <= from) return { count: Math.min(count, UNREAD_CAP) };
  const newer: ChatEvent[] = await chatLog.range(chatId, {
    afterN: from,
    toN: lastN,
    limit: UNREAD_CAP - count,
  });
  for (const e of newer) if (countsAsUnread(e, me)) count++;
  return { count: Math.min(count, UNREAD_CAP) };
}
