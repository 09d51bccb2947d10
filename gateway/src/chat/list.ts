import type { ChatKind } from "@natter/protocol";
import type { Store } from "@natter/store";

export interface ChatListItem {
  chatId: string;
  kind: ChatKind;
  title?: string;
  peer?: string;
  lastN: number;
  lastActivity: number;
  preview?: string;
  readN: number;
  unread: number;
}

/**
 * My chats by last activity, newest first. The store keeps chats-by-user unordered
 * (activity changes with every message, a poor clustering key), so the page is sorted
 * here; a user's chat count is bounded in practice. The cursor is the position after the
 * last item returned, as `<lastActivity>:<chatId>`, stable while chats move.
 */
export async function listChats(
  store: Store,
  me: string,
  q: { limit: number; cursor?: string },
): Promise<{ chats: ChatListItem[]; next?: string }> {
  const ids = await store.listChatIdsForUser(me);
  const heads = new Map((await store.getChatHeads(ids)).map((h) => [h.chatId, h]));
  const order = ids
    .map((chatId) => ({ chatId, at: heads.get(chatId)?.lastActivity ?? 0 }))
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
      const head = heads.get(chatId);
      const lastN = head?.lastN ?? 0;
      const readN = Math.min(read?.readN ?? 0, lastN);
      const peer = chat.kind === "direct" ? members.find((m) => m.userId !== me)?.userId : undefined;
      return {
        chatId,
        kind: chat.kind,
        ...(chat.title === undefined ? {} : { title: chat.title }),
        ...(peer === undefined ? {} : { peer }),
        lastN,
        lastActivity: head?.lastActivity ?? chat.createdAt,
        ...(head?.preview === undefined ? {} : { preview: head.preview }),
        readN,
        unread: lastN - readN,
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
