/**
 * JSON Schemas (draft 2020-12 compatible) of the client frames, for tools and other
 * languages: generate a client, validate captured traffic, fuzz the gateway. The gateway
 * itself validates with `parseClientFrame`, which must agree with these schemas
 * (`frame-schemas.test.ts` checks both on the same table of good and bad frames).
 */
import { MAX_ATTACHMENTS_PER_MESSAGE } from "./attachments.ts";
import { CLIENT_MSG_ID_PATTERN, ID_PATTERN, MAX_EMOJI_LENGTH } from "./limits.ts";
import { MAX_REF_LENGTH, MAX_SYNC_CHATS, MAX_TOKEN_LENGTH, MAX_WATCH_USERS } from "./frames.ts";

const id = { type: "string", pattern: ID_PATTERN.source } as const;
const ref = { type: "string", minLength: 1, maxLength: MAX_REF_LENGTH } as const;
const n = { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
const clientId = { type: "string", pattern: CLIENT_MSG_ID_PATTERN.source } as const;
/** One RGI emoji (`isEmoji`); a JSON schema states its length, the emoji rule is the parser's. */
const emoji = { type: "string", minLength: 1, maxLength: MAX_EMOJI_LENGTH } as const;
/** Chat id → the last n the device holds (`sync`, and `auth` for a connect-time resume). */
const cursors = { type: "object", maxProperties: MAX_SYNC_CHATS, propertyNames: id, additionalProperties: n } as const;

function frame(type: string, properties: Record<string, object>, required: string[] = []) {
  return {
    $id: `natter:frame:${type}`,
    type: "object",
    properties: { type: { const: type }, ...properties },
    required: ["type", ...required],
  } as const;
}

/** One schema per client frame type; unknown extra fields are allowed (and ignored by the gateway). */
export const CLIENT_FRAME_SCHEMAS = {
  auth: frame("auth", { ref, token: { type: "string", minLength: 1, maxLength: MAX_TOKEN_LENGTH }, cursors }, [
    "token",
  ]),
  send: {
    ...frame(
      "send",
      {
        ref,
        chat: id,
        id: clientId,
        body: { type: "string" },
        replyTo: { ...n, minimum: 1 },
        attachments: { type: "array", items: id, maxItems: MAX_ATTACHMENTS_PER_MESSAGE, uniqueItems: true },
        retry: { type: "boolean" },
      },
      ["ref", "chat", "id"],
    ),
    // A body, attachments, or both.
    anyOf: [{ required: ["body"] }, { required: ["attachments"], properties: { attachments: { minItems: 1 } } }],
  },
  edit: frame("edit", { ref, chat: id, id: clientId, target: { ...n, minimum: 1 }, body: { type: "string" } }, [
    "ref",
    "chat",
    "id",
    "target",
    "body",
  ]),
  react: frame("react", { ref, chat: id, target: { ...n, minimum: 1 }, emoji }, ["ref", "chat", "target", "emoji"]),
  unreact: frame("unreact", { ref, chat: id, target: { ...n, minimum: 1 }, emoji }, ["ref", "chat", "target", "emoji"]),
  delete: frame("delete", { ref, chat: id, target: { ...n, minimum: 1 } }, ["ref", "chat", "target"]),
  ack: frame("ack", { ref, chat: id, n }, ["chat", "n"]),
  read: frame("read", { ref, chat: id, n }, ["chat", "n"]),
  typing: frame("typing", { ref, chat: id }, ["chat"]),
  sync: frame("sync", { ref, cursors }, ["cursors"]),
  watch: frame("watch", { ref, users: { type: "array", maxItems: MAX_WATCH_USERS, items: id } }, ["users"]),
  ping: frame("ping", { ref }),
} as const;

/** Any client frame: exactly one of the frame schemas, chosen by `type`. */
export const CLIENT_FRAME_SCHEMA = {
  $id: "natter:frame",
  type: "object",
  required: ["type"],
  oneOf: Object.values(CLIENT_FRAME_SCHEMAS),
} as const;
