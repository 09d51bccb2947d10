import { type ChatLog, JsApiCodes } from "@natter/bus";
import type { Logger } from "@natter/config";
import { type ChatEvent, erasedEdit, erasedMessage, type ErasedEvent } from "@natter/protocol";
import { CHAT_STREAM } from "@natter/subjects";
import type { JetStreamManager } from "@nats-io/jetstream";

/**
 * Deletes that erase, as the history consumer applies them: for every `message.deleted`
 * of a batch, its target's erased form (`erasedMessage`: no body) and its edits' (`erasedEdit`). The target is found in
 * the batch itself, else through the chat log (the store first, the stream where history
 * has a hole). A target that is nowhere, or is no message, was refused by the gateway
 * that published the delete, so it is only logged: nothing holds a body to erase.
 */
export async function erasuresOf(events: readonly ChatEvent[], chatLog: ChatLog, log: Logger) {
  const erased: ErasedEvent[] = [];
  for (const d of events) {
    if (d.kind !== "message.deleted") continue;
    const target =
      events.find((e) => e.chat === d.chat && e.n === d.target) ??
      (await chatLog.range(d.chat, { afterN: d.target - 1, toN: d.target, limit: 1 }))[0];
    if (target?.kind !== "message.created" || target.n !== d.target) {
      log.warn(
        { chatId: d.chat, n: d.n, target: d.target },
        "a delete's target is no stored message; nothing to erase",
      );
      continue;
    }
    erased.push(erasedMessage(target, d.n));
    // Its edits too (no edit body outlives its message): those of the batch, and those
    // stored or streamed before it.
    const edits = new Map<number, ChatEvent>();
    for (const e of await chatLog.editsOf(d.chat, d.target, d.n)) edits.set(e.n, e);
    for (const e of events) {
      if (e.chat === d.chat && e.kind === "message.edited" && e.target === d.target) edits.set(e.n, e);
    }
    for (const e of edits.values()) if (e.kind === "message.edited") erased.push(erasedEdit(e));
  }
  // An edit published after its target's delete (it passed its check just before the
  // delete landed) is erased as it arrives.
  for (const e of events) {
    if (e.kind !== "message.edited" || e.deleted || erased.some((x) => x.chat === e.chat && x.n === e.n)) continue;
    const target =
      events.find((t) => t.chat === e.chat && t.n === e.target) ??
      (await chatLog.range(e.chat, { afterN: e.target - 1, toN: e.target, limit: 1 }))[0];
    const deletedInBatch = events.some(
      (d) => d.chat === e.chat && d.kind === "message.deleted" && d.target === e.target,
    );
    if (deletedInBatch || (target?.kind === "message.created" && target.deleted)) erased.push(erasedEdit(e));
  }
  return erased;
}

/** Whether a batch holds anything `erasuresOf` acts on (deletes, or edits that may follow one). */
export function mayErase(events: readonly ChatEvent[]): boolean {
  return events.some((e) => e.kind === "message.deleted" || e.kind === "message.edited");
}

/**
 * Erases the originals from the chat stream by their seq (JetStream's secure erase: the
 * bytes are overwritten, not only marked), after the store holds the erased forms: a
 * reader that finds the stream's copy gone goes back to the store, which already has the
 * message as deleted, so no read ever finds neither. Already gone (a redelivered batch,
 * an aged-out event) counts as done.
 */
export async function eraseFromStream(jsm: JetStreamManager, erased: readonly ErasedEvent[]): Promise<void> {
  for (const m of erased) {
    try {
      await jsm.streams.deleteMessage(CHAT_STREAM, m.seq, true);
    } catch (err) {
      // A JetStreamApiError carries the API error code as `code`; which one answers a
      // sequence already gone depends on where it lies in the stream.
      const code = (err as { code?: unknown }).code;
      if (code === JsApiCodes.StreamMsgDeleteFailed || code === JsApiCodes.StreamSequenceNotFound) continue;
      throw err;
    }
  }
}
