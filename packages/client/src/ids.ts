import { type ChatEvent, isClientMsgId } from "@natter/protocol";

/**
 * A client message id derived from the event being answered: `reply-<chat>-<n>` (or
 * `<tag>-<chat>-<n>`). A bot that sends its answer with this id answers each event at most
 * once however often the event is delivered again (after a crash, a rewind): the server
 * deduplicates sends by `id`, first in the JetStream duplicate window, after it in the
 * history store, and answers a repeat with the first send's `seq` and `n`.
 *
 * Ids are at most 64 characters; a longer chat id is replaced by a hash of it (FNV-1a,
 * 64 bits), still one id per (tag, chat, n).
 */
export function replyId(event: Pick<ChatEvent, "chat" | "n">, tag = "reply"): string {
  const plain = `${tag}-${event.chat}-${event.n}`;
  if (isClientMsgId(plain)) return plain;
  const id = `${tag}-${fnv1a64(event.chat)}-${event.n}`;
  if (!isClientMsgId(id)) throw new TypeError(`replyId: tag ${JSON.stringify(tag)} makes no valid id`);
  return id;
}

/** FNV-1a over the UTF-16 code units, 64 bits as 16 hex digits (two 32-bit halves with different seeds). */
function fnv1a64(s: string): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x01000193) >>> 0;
  }
  return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
}
