import {
  CLIENT_MSG_ID_PATTERN,
  ERROR_STATUS,
  type ErrorCode,
  ID_PATTERN,
  MAX_ATTACHMENTS_PER_MESSAGE,
  MAX_EMOJI_LENGTH,
} from "@natter/protocol";
import { Type } from "typebox";

/** JSON schemas of the HTTP API (request and response), the source of the OpenAPI document. */

export const Id = Type.String({ pattern: ID_PATTERN.source, description: "opaque id, safe as a subject token" });
export const ClientMsgId = Type.String({
  pattern: CLIENT_MSG_ID_PATTERN.source,
  description: "client-chosen message id",
});

const ALL_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

/** The error body, with `code` one of `codes` (the codes of one HTTP status, or all of them). */
function errorBodyOf(codes: readonly ErrorCode[], opts: { $id?: string; description?: string } = {}) {
  return Type.Object(
    {
      code: Type.String({ enum: [...codes], description: "stable snake_case error code" }),
      message: Type.String({ description: "for humans; clients branch on code, never on this" }),
      field: Type.Optional(Type.String({ description: "the offending field, when there is one" })),
      retryAfterMs: Type.Optional(Type.Integer({ description: "rate_limited: when to try again" })),
    },
    opts,
  );
}

export const ErrorBody = errorBodyOf(ALL_CODES, { $id: "Error" });

/** The stable codes an HTTP status carries (from `ERROR_STATUS`, their one home). */
export function codesOf(status: number): ErrorCode[] {
  return ALL_CODES.filter((c) => ERROR_STATUS[c] === status);
}

/** The response schema of one error status: its codes, and what they mean here when given. */
export function errorResponse(status: number, description?: string) {
  const codes = codesOf(status);
  if (codes.length === 0) throw new Error(`no error code has HTTP status ${status}`);
  return errorBodyOf(codes, { description: description ?? `Error: ${codes.join(", ")}` });
}

export const Session = Type.Object({
  userId: Type.String(),
  deviceId: Type.String(),
  token: Type.String(),
  expiresAt: Type.Integer(),
});

/** A password as chosen: 8–256 characters (hashed with scrypt; never stored as it is). */
const NewPassword = Type.String({ minLength: 8, maxLength: 256 });

export const SignupBody = Type.Object(
  {
    handle: Type.String({ minLength: 3, maxLength: 32, pattern: "^[A-Za-z0-9_.]{3,32}$" }),
    displayName: Type.String({ minLength: 1, maxLength: 64 }),
    password: NewPassword,
    deviceName: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

export const LoginBody = Type.Object(
  {
    handle: Type.String({ minLength: 1, maxLength: 64 }),
    password: Type.String({ minLength: 1, maxLength: 256 }),
    deviceName: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

export const PasswordChangeBody = Type.Object(
  {
    /** The current password. */
    password: Type.String({ minLength: 1, maxLength: 256 }),
    newPassword: NewPassword,
  },
  { additionalProperties: false },
);

export const UserView = Type.Object({ userId: Type.String(), handle: Type.String(), displayName: Type.String() });

export const CreateChatBody = Type.Union([
  Type.Object({ kind: Type.Literal("direct"), userId: Id }, { additionalProperties: false }),
  Type.Object(
    {
      kind: Type.Literal("group"),
      title: Type.String({ minLength: 1, maxLength: 128 }),
      members: Type.Array(Id, { maxItems: 100_000 }),
    },
    { additionalProperties: false },
  ),
]);

export const MemberView = Type.Object({
  userId: Type.String(),
  role: Type.Union([Type.Literal("admin"), Type.Literal("member")]),
  joinedN: Type.Integer(),
  handle: Type.String({ description: "the member's handle, so a client names members without a lookup each" }),
  displayName: Type.String({ description: "the member's display name" }),
});

/** What every view of a chat starts with (a response's keys come out in schema order). */
const ChatFields = {
  chatId: Type.String(),
  kind: Type.Union([Type.Literal("direct"), Type.Literal("group")]),
  title: Type.Optional(Type.String()),
};

export const ChatView = Type.Object({
  ...ChatFields,
  members: Type.Array(MemberView),
  lastN: Type.Integer(),
});

export const ChatCreatedView = Type.Object({
  ...ChatFields,
  members: Type.Array(Type.String()),
  lastN: Type.Integer(),
});

export const ChatListItem = Type.Object({
  ...ChatFields,
  peer: Type.Optional(Type.String()),
  peerHandle: Type.Optional(Type.String({ description: "the peer's handle (a direct chat, with peer)" })),
  peerDisplayName: Type.Optional(Type.String({ description: "the peer's display name (a direct chat, with peer)" })),
  lastN: Type.Integer(),
  lastActivity: Type.Integer(),
  preview: Type.Optional(Type.String()),
  readN: Type.Integer(),
  unread: Type.Integer(),
  request: Type.Optional(
    Type.Object(
      { from: Type.String(), at: Type.Integer() },
      {
        description:
          "set while my membership is a message request I have not answered: who opened the chat with me or added me, and when",
      },
    ),
  ),
});

/** The users I block (`GET /v1/blocks`), newest first, with their names. */
export const BlocksView = Type.Object({
  users: Type.Array(
    Type.Object({ userId: Type.String(), handle: Type.String(), displayName: Type.String(), at: Type.Integer() }),
  ),
});

export const UserParams = Type.Object({ userId: Id });

/** An attachment's descriptor, as the upload answers it and a `message.created` carries it. */
export const AttachmentView = Type.Object({
  attachmentId: Type.String(),
  name: Type.String(),
  size: Type.Integer({ description: "bytes" }),
  contentType: Type.String({ description: "the upload's Content-Type; the download answers with it" }),
  sha256: Type.String({ description: "lowercase hex SHA-256 of the bytes; the download's ETag" }),
  width: Type.Optional(Type.Integer({ description: "pixels, for a PNG, JPEG, GIF or WebP image" })),
  height: Type.Optional(Type.Integer({ description: "pixels, with width" })),
});

export const Event = Type.Object(
  {
    chat: Type.String(),
    seq: Type.Integer(),
    n: Type.Integer(),
    ts: Type.Integer(),
    kind: Type.String(),
    from: Type.String(),
    id: Type.Optional(Type.String()),
    body: Type.Optional(Type.String({ description: "absent once the message is deleted" })),
    deleted: Type.Optional(
      Type.Literal(true, {
        description: "message.created of a deleted message, or message.edited of one: no body, its content erased",
      }),
    ),
    deletedN: Type.Optional(Type.Integer({ description: "with deleted: the n of the message.deleted event" })),
    target: Type.Optional(
      Type.Integer({ description: "message.deleted, message.edited, reaction.*: the n of the message it is about" }),
    ),
    replyTo: Type.Optional(Type.Integer({ description: "message.created: the n of the message it replies to" })),
    attachments: Type.Optional(
      Type.Array(AttachmentView, { description: "message.created: its files (absent once deleted)" }),
    ),
    attachmentIds: Type.Optional(
      Type.Array(Type.String(), { description: "message.deleted: the deleted message's attachments (purged)" }),
    ),
    latest: Type.Optional(
      Type.Literal(true, { description: "message.edited of the chat's newest message: the chat list shows its body" }),
    ),
    emoji: Type.Optional(Type.String({ description: "reaction.added, reaction.removed: one emoji" })),
    title: Type.Optional(Type.String()),
    user: Type.Optional(Type.String()),
    chatKind: Type.Optional(Type.String()),
    members: Type.Optional(Type.Array(Type.String())),
  },
  { $id: "Event" },
);

/**
 * The body of a send. The limit is NATTER_BODY_LIMIT bytes of UTF-8, which JSON Schema
 * cannot say; `maxLength` (characters) is set to the same number, the tightest bound in
 * characters that is never below it (a character is at least one byte). Over it, in
 * characters or in bytes: 413 `too_large` (`x-too-large` maps the schema's refusal onto it).
 */
export function sendBody(bodyLimit: number) {
  const body = Type.String({
    maxLength: bodyLimit,
    "x-too-large": true,
    description: `at most ${bodyLimit} bytes of UTF-8 (NATTER_BODY_LIMIT), not only whitespace (empty with attachments); over it: 413 too_large`,
  });
  const replyTo = Type.Integer({
    minimum: 1,
    description: "the n of an earlier message of the chat this one replies to",
  });
  const attachments = Type.Array(Id, {
    minItems: 1,
    maxItems: MAX_ATTACHMENTS_PER_MESSAGE,
    uniqueItems: true,
    description:
      "ids of attachments the sender uploaded into this chat (POST /v1/chats/:chatId/attachments), each used by no other message",
  });
  // A body, attachments, or both (v1.1): two shapes, so a schema reader knows one is required.
  return Type.Union([
    Type.Object(
      { id: ClientMsgId, body, replyTo: Type.Optional(replyTo), attachments: Type.Optional(attachments) },
      { additionalProperties: false },
    ),
    Type.Object(
      { id: ClientMsgId, body: Type.Optional(body), replyTo: Type.Optional(replyTo), attachments },
      { additionalProperties: false },
    ),
  ]);
}

/** The body of an edit (`PATCH …/messages/:n`): a client id and the new body, with a send's limits. */
export function editBody(bodyLimit: number) {
  return Type.Object(
    {
      id: ClientMsgId,
      body: Type.String({
        maxLength: bodyLimit,
        "x-too-large": true,
        description: `the new body: at most ${bodyLimit} bytes of UTF-8 (NATTER_BODY_LIMIT), not only whitespace`,
      }),
    },
    { additionalProperties: false },
  );
}

/** A reaction of the caller (`…/messages/:n/reactions/:emoji`): the emoji URL-encoded in the path. */
export const ReactionParams = Type.Object({
  chatId: Id,
  n: Type.Integer({ minimum: 1 }),
  emoji: Type.String({ minLength: 1, maxLength: MAX_EMOJI_LENGTH, description: "one emoji, URL-encoded" }),
});
/** A reaction change's answer: the event that added (or removed) it; 0 when there was nothing to remove. */
export const ReactionAnswer = Type.Object({ n: Type.Integer({ minimum: 0 }) });

export const Sent = Type.Object({
  chat: Type.String(),
  id: Type.String(),
  seq: Type.Integer(),
  n: Type.Integer(),
  ts: Type.Integer(),
});

export const ChatParams = Type.Object({ chatId: Id });
/** A message of a chat by its `n` (`DELETE …/messages/:n`). */
export const DeleteParams = Type.Object({ chatId: Id, n: Type.Integer({ minimum: 1 }) });
/** A delete's answer: the `message.deleted` event's position (the same again on a repeat). */
export const Deleted = Type.Object({
  chat: Type.String(),
  seq: Type.Integer(),
  n: Type.Integer(),
  ts: Type.Integer(),
});
export const MemberParams = Type.Object({ chatId: Id, userId: Id });
export const N = Type.Object({ n: Type.Integer() });

/**
 * Error responses of a route, so the OpenAPI document lists them: a status, or a status and
 * what it means on this route. The framework's own (400 for invalid input, 401, 413, 415,
 * 500) are added to every route that can answer them by `app.ts`.
 */
export function errors(...statuses: (number | [number, string])[]) {
  return Object.fromEntries(
    statuses.map((s) => (typeof s === "number" ? [s, errorResponse(s)] : [s[0], errorResponse(s[0], s[1])])),
  );
}

export const ReceiptsView = Type.Object({
  members: Type.Array(
    Type.Object({
      userId: Type.String(),
      deliveredN: Type.Integer({ description: "delivered up to this n (0: nothing yet)" }),
      readN: Type.Integer({ description: "read up to this n (0: nothing yet)" }),
    }),
  ),
});

export const PresenceView = Type.Object({
  presence: Type.Array(
    Type.Object({
      userId: Type.String(),
      online: Type.Boolean(),
      lastSeen: Type.Integer({
        description: "ms since the epoch: now when online, else when the last device left (0: never)",
      }),
    }),
  ),
});
