import type { ChatLog } from "@natter/bus";
import { type ChatEvent, type MessageCreatedEvent, NatterError } from "@natter/protocol";

/**
 * Message `n` of the chat as the log has it now, for what points at a message (a reply's
 * `replyTo`, an edit's or a reaction's `target`): `not_found` for no such event, or one
 * below `minN` (before the caller joined, which they cannot see); `invalid_input` for an
 * event that is no message, or a deleted one. `field` names the input in the error.
 * Deletes (`deletes.ts`) have their own rule for a deleted target (a repeat answers).
 */
export async function liveMessage(
  chatLog: Pick<ChatLog, "range">,
  chatId: string,
  n: number,
  minN: number,
  field: string,
): Promise<MessageCreatedEvent> {
  const e = await eventAt(chatLog, chatId, n, minN);
  if (!e) throw new NatterError("not_found", "no such message", { field });
  if (e.kind !== "message.created") throw new NatterError("invalid_input", "the target is not a message", { field });
  if (e.deleted) throw new NatterError("invalid_input", "the message is deleted", { field });
  return e;
}

/** Event `n` of the chat, if there is one at or above `minN`. */
export async function eventAt(
  chatLog: Pick<ChatLog, "range">,
  chatId: string,
  n: number,
  minN = 1,
): Promise<ChatEvent | undefined> {
  if (n < minN) return undefined;
  const [e] = await chatLog.range(chatId, { afterN: n - 1, toN: n, limit: 1 });
  return e?.n === n ? e : undefined;
}
