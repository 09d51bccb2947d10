import type { AttachmentBucket } from "@natter/bus";
import type { ChatEvent } from "@natter/protocol";

/**
 * Deletes that erase, for attachments: every attachment a batch's `message.deleted` events
 * name (the deleted message's, which the gateway copied into the delete) is purged from the
 * object store, so it answers 404 from then on. The history consumer calls this after the
 * store holds the erased rows and before it erases the stream's copy, and acks only after:
 * a failure naks the batch and the purge is tried again (purges are idempotent; an
 * attachment already gone counts as done). The ids travel in the delete itself, so the
 * purge never depends on the original still being in the stream (it may have aged out).
 */
export async function purgeDeletedAttachments(
  bucket: Pick<AttachmentBucket, "purge">,
  events: readonly ChatEvent[],
): Promise<number> {
  let purged = 0;
  for (const e of events) {
    if (e.kind !== "message.deleted") continue;
    for (const id of e.attachmentIds ?? []) if (await bucket.purge(id)) purged++;
  }
  return purged;
}
