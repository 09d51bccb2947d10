/**
 * Attachments (v1.1): files uploaded into a chat (`POST /v1/chats/:chatId/attachments`)
 * that messages refer to by id. The descriptor below is what the upload answers and what a
 * `message.created` carries for each attachment; the bytes are read with
 * `GET /v1/attachments/:attachmentId` by the chat's members.
 */
import { isId } from "./limits.ts";

/** An attachment as a message carries it (and the upload answers it). */
export interface Attachment {
  attachmentId: string;
  /** The file name the uploader gave (`?name=`), as given. */
  name: string;
  /** Bytes. */
  size: number;
  /** The upload's `Content-Type`, which the download answers with. */
  contentType: string;
  /** Lowercase hex SHA-256 of the bytes; the download's `ETag`. */
  sha256: string;
  /** Pixels, for a PNG, JPEG, GIF or WebP image whose header says so. */
  width?: number;
  height?: number;
}

/** Most attachments one message may refer to. */
export const MAX_ATTACHMENTS_PER_MESSAGE = 10;
/** Longest file name (`?name=`), in characters. */
export const MAX_ATTACHMENT_NAME_LENGTH = 255;
/** Longest `Content-Type` kept, in characters. */
export const MAX_CONTENT_TYPE_LENGTH = 255;

/**
 * A file name an upload may carry: 1–255 characters with no control characters, no path
 * separator and not `.` or `..`, so it can name a download everywhere.
 */
export function isAttachmentName(v: unknown): v is string {
  return (
    typeof v === "string" &&
    v.length >= 1 &&
    v.length <= MAX_ATTACHMENT_NAME_LENGTH &&
    // eslint-disable-next-line no-control-regex
    !/[\u0000-\u001f\u007f/\\]/.test(v) &&
    v !== "." &&
    v !== ".."
  );
}

/** The attachment ids of a send (`attachments` in the body or frame); a `TypeError` names what is wrong. */
export function parseAttachmentIds(v: unknown): string[] {
  if (!Array.isArray(v)) throw new TypeError("attachments is not a list of attachment ids");
  if (v.length > MAX_ATTACHMENTS_PER_MESSAGE) {
    throw new TypeError(`a message has at most ${MAX_ATTACHMENTS_PER_MESSAGE} attachments`);
  }
  if (!v.every(isId)) throw new TypeError("attachments is not a list of attachment ids");
  if (new Set(v).size !== v.length) throw new TypeError("attachments names one attachment twice");
  return v as string[];
}

/** One descriptor of a stored event; `TypeError` for anything malformed (a poison event). */
export function parseAttachment(v: unknown): Attachment {
  if (typeof v !== "object" || v === null) throw new TypeError("attachment is not an object");
  const a = v as Record<string, unknown>;
  const str = (k: string) => {
    if (typeof a[k] !== "string" || a[k] === "") throw new TypeError(`attachment.${k} is not a string`);
    return a[k] as string;
  };
  const int = (k: string) => {
    if (!Number.isSafeInteger(a[k]) || (a[k] as number) < 0) throw new TypeError(`attachment.${k} is not an integer`);
    return a[k] as number;
  };
  const out: Attachment = {
    attachmentId: str("attachmentId"),
    name: str("name"),
    size: int("size"),
    contentType: str("contentType"),
    sha256: str("sha256"),
  };
  if (a.width !== undefined) out.width = int("width");
  if (a.height !== undefined) out.height = int("height");
  return out;
}

/** The `attachments` of a stored `message.created`, if any (`[]` is kept as absent). */
export function parseEventAttachments(v: unknown): Attachment[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > MAX_ATTACHMENTS_PER_MESSAGE) {
    throw new TypeError("event.attachments is not a list of attachments");
  }
  return v.length === 0 ? undefined : v.map(parseAttachment);
}

/** The safe inline types: images a browser renders as pictures and never runs. */
const INLINE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

/** Whether a download may be shown inline (`Content-Disposition: inline`); anything else is `attachment`. */
export function isInlineType(contentType: string): boolean {
  return INLINE_TYPES.has(contentType.split(";", 1)[0]!.trim().toLowerCase());
}
