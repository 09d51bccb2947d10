import type { Readable } from "node:stream";
import {
  type AttachmentBucket,
  AttachmentClaimConflict,
  attachmentDescriptor,
  type StoredAttachment,
} from "@natter/bus";
import type { Logger } from "@natter/config";
import {
  type Attachment,
  isAttachmentName,
  isNatterError,
  MAX_CONTENT_TYPE_LENGTH,
  NatterError,
} from "@natter/protocol";
import { IMAGE_HEADER_BYTES, imageSize } from "../attachments/image-size.ts";
import { newId } from "../ids.ts";
import type { ChatAccess } from "./access.ts";

/** What an upload says about itself, from its request line and headers. */
export interface UploadRequest {
  /** `?name=`: the file name. */
  name: string | undefined;
  /** `Content-Type`. */
  contentType: string | undefined;
  /** `Content-Length`, when the request has one (a chunked upload has none). */
  contentLength: number | undefined;
}

/** Attachments a send takes: the descriptors its event carries, and the claims made for it. */
export interface TakenAttachments {
  descriptors: Attachment[];
  /** Claimed by this call (not those a retry of the same message already held): released if the send fails. */
  claimed: StoredAttachment[];
}

/** `type/subtype` with optional parameters in printable ASCII: what a `Content-Type` must look like to be kept (and answered again). */
const MEDIA_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+([ \t]*;[\x20-\x7e\t]*)?$/;

/**
 * Attachments (v1.1): uploads into a chat, who may read them, and how a message takes them.
 *
 * - **Upload**: members of the chat only; the bytes stream into the object store as they
 *   arrive (never the whole file in memory: at most the image header kept for its size);
 *   over `NATTER_ATTACHMENT_MAX_BYTES`, or more bytes than the `Content-Length` said, is
 *   413 `too_large`, and the chunks stored so far are purged (nothing kept).
 * - **Read**: the active members of the attachment's chat (the chat it was uploaded into
 *   decides, G3): a former member gets `forbidden`, anyone else `not_found`.
 * - **Take** (a send's `attachments`): each must exist and be of the send's chat
 *   (`not_found` otherwise, as for a chat one is not in), uploaded by the sender
 *   (`forbidden`), and not taken by another message (`invalid_input`). Taking is a claim
 *   on the attachment's description written with an expected revision, made before the
 *   publish, so two messages never share an attachment and the sweeper never purges one
 *   a message took; a retry of the same message finds its own claim and goes on.
 */
export class Attachments {
  readonly #bucket: AttachmentBucket;
  readonly #access: Pick<ChatAccess, "requireMember">;
  readonly #maxBytes: number;
  readonly #log: Logger;

  constructor(opts: {
    bucket: AttachmentBucket;
    access: Pick<ChatAccess, "requireMember">;
    maxBytes: number;
    logger: Logger;
  }) {
    this.#bucket = opts.bucket;
    this.#access = opts.access;
    this.#maxBytes = opts.maxBytes;
    this.#log = opts.logger;
  }

  /** Stores an upload's bytes; answers its descriptor. */
  async upload(me: string, chatId: string, req: UploadRequest, body: Readable | undefined): Promise<Attachment> {
    await this.#access.requireMember(me, chatId);
    if (!isAttachmentName(req.name)) {
      throw new NatterError("invalid_input", "name: 1-255 characters, no control characters or slashes", {
        field: "name",
      });
    }
    const contentType = req.contentType?.trim() ?? "";
    if (contentType.length > MAX_CONTENT_TYPE_LENGTH || !MEDIA_TYPE.test(contentType)) {
      throw new NatterError("invalid_input", "Content-Type must be a media type such as image/png", {
        field: "content-type",
      });
    }
    const limit = this.#maxBytes;
    if (req.contentLength !== undefined && req.contentLength > limit) throw tooLarge(limit);
    if (!body || req.contentLength === 0) {
      throw new NatterError("invalid_input", "the upload is empty", { field: "body" });
    }
    const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    // A body that breaks off (the client hung up) is the client's doing: 400, not a 500.
    const source = {
      next: () =>
        iterator.next().catch((err: unknown) => {
          throw isNatterError(err)
            ? err
            : new NatterError("invalid_input", "the upload was cut short", { field: "body", cause: err });
        }),
      return: () => iterator.return?.() ?? Promise.resolve({ done: true as const, value: undefined }),
    };
    // The image header first (bounded), for the width and height; then the rest as it comes.
    const head: Buffer[] = [];
    let headBytes = 0;
    let ended = false;
    while (headBytes < IMAGE_HEADER_BYTES) {
      const r = await source.next();
      if (r.done) {
        ended = true;
        break;
      }
      head.push(r.value);
      headBytes += r.value.length;
      checkSize(headBytes, req.contentLength, limit);
    }
    if (headBytes === 0) throw new NatterError("invalid_input", "the upload is empty", { field: "body" });
    const first = Buffer.concat(head);
    const dims = contentType.toLowerCase().startsWith("image/") ? imageSize(first) : undefined;
    let count = headBytes;
    let sentHead = false;
    const stream = new ReadableStream<Uint8Array>({
      async pull(c) {
        try {
          if (!sentHead) {
            sentHead = true;
            c.enqueue(first);
            if (ended) c.close();
            return;
          }
          const r = await source.next();
          if (r.done) return c.close();
          count += r.value.length;
          checkSize(count, req.contentLength, limit);
          c.enqueue(r.value);
        } catch (err) {
          c.error(err);
        }
      },
      async cancel() {
        await source.return();
      },
    });
    const stored = await this.#bucket.put(
      {
        attachmentId: newId("a_"),
        chat: chatId,
        uploader: me,
        name: req.name,
        contentType,
        ...(dims ? dims : {}),
      },
      stream,
    );
    if (req.contentLength !== undefined && stored.size !== req.contentLength) {
      // Fewer bytes than announced reached the end of the body: not what the client meant to send.
      await this.#bucket.purge(stored.attachmentId);
      throw new NatterError("invalid_input", "the body is shorter than its Content-Length", { field: "body" });
    }
    this.#log.debug({ chatId, attachmentId: stored.attachmentId, size: stored.size }, "attachment stored");
    return attachmentDescriptor(stored);
  }

  /** The attachment, for a reader who may read it: an active member of its chat. */
  async forReader(me: string, attachmentId: string): Promise<StoredAttachment> {
    const a = await this.#bucket.get(attachmentId);
    if (!a) throw noSuchAttachment("attachmentId");
    await this.#access.requireMember(me, a.chat);
    return a;
  }

  /**
   * Takes `ids` for the message `dedupId` (`<chat>:<user>:<clientMsgId>`) that `me` is about
   * to send into `chatId`: checks each, claims the ones not yet claimed by this message,
   * and answers their descriptors in the order given. Nothing is claimed when a check fails.
   */
  async take(me: string, chatId: string, ids: readonly string[], dedupId: string): Promise<TakenAttachments> {
    const found = await Promise.all(ids.map((id) => this.#bucket.get(id)));
    for (const a of found) this.#check(a, me, chatId, dedupId);
    const claimed: StoredAttachment[] = [];
    try {
      for (const a of found as StoredAttachment[]) {
        let current = a;
        for (let tries = 1; current.referencedBy !== dedupId; tries++) {
          try {
            claimed.push(await this.#bucket.claim(current, dedupId));
            break;
          } catch (err) {
            if (!(err instanceof AttachmentClaimConflict) || tries >= 3) throw err;
            // Changed since it was read: claimed by another send, or purged (the check says
            // which), or by a retry of this very message (then it is ours).
            const now = await this.#bucket.get(a.attachmentId);
            this.#check(now, me, chatId, dedupId);
            current = now!;
          }
        }
      }
    } catch (err) {
      await this.release(claimed);
      throw err;
    }
    return { descriptors: found.map((a) => attachmentDescriptor(a!)), claimed };
  }

  /** Gives back claims of a send that was refused (best effort: the sweeper never purges a claimed one). */
  async release(claimed: readonly StoredAttachment[]): Promise<void> {
    await Promise.all(
      claimed.map((a) =>
        this.#bucket.release(a).catch((err: unknown) => {
          this.#log.warn({ err: String(err), attachmentId: a.attachmentId }, "could not release an attachment's claim");
        }),
      ),
    );
  }

  #check(a: StoredAttachment | undefined, me: string, chatId: string, dedupId: string): void {
    // Another chat's attachment is answered as one that does not exist: the sender learns nothing of it.
    if (!a || a.chat !== chatId) throw noSuchAttachment("attachments");
    if (a.uploader !== me) {
      throw new NatterError("forbidden", "only its uploader may send an attachment", { field: "attachments" });
    }
    if (a.referencedBy !== undefined && a.referencedBy !== dedupId) {
      throw new NatterError("invalid_input", "the attachment is already in another message", { field: "attachments" });
    }
  }
}

function checkSize(count: number, contentLength: number | undefined, limit: number): void {
  if (count > limit) throw tooLarge(limit);
  if (contentLength !== undefined && count > contentLength) {
    throw new NatterError("too_large", "the body is longer than its Content-Length", { field: "body" });
  }
}

function tooLarge(limit: number): NatterError {
  return new NatterError("too_large", `an attachment is at most ${limit} bytes`, { field: "body" });
}

function noSuchAttachment(field: string): NatterError {
  return new NatterError("not_found", "no such attachment", { field });
}
