import { MAX_USER_PAGE } from "@natter/store";
import { Type } from "typebox";

/** JSON schemas of the operators' API (`/v1/admin/...`): the source of its part of the OpenAPI document. */

/** A handle prefix or a whole handle as typed: handle characters, any case (compared lowercased). */
const handlePart = (description: string) =>
  Type.String({ minLength: 1, maxLength: 32, pattern: "^[A-Za-z0-9_.]+$", description });

export const FindUsersQuery = Type.Object({
  handle: handlePart("handle prefix (case-insensitive); a whole handle finds that user"),
  after: Type.Optional(handlePart("the `next` of the previous page")),
  limit: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_USER_PAGE,
      default: 20,
      description: `users per page, 1..${MAX_USER_PAGE}`,
    }),
  ),
});

/** A user as operators see it: no password hash, ever. */
export const AdminUser = Type.Object({
  userId: Type.String(),
  handle: Type.String(),
  displayName: Type.String(),
  createdAt: Type.Integer({ description: "ms since the epoch" }),
  disabled: Type.Boolean({ description: "an operator disabled the account: it cannot log in" }),
});

export const UserPage = Type.Object({
  users: Type.Array(AdminUser, { description: "in handle order" }),
  next: Type.Optional(
    Type.String({
      description: "present when the page is full: pass it as `after` for the next one (which may be empty)",
    }),
  ),
});

export const Disabled = Type.Object({
  userId: Type.String(),
  disabled: Type.Boolean(),
  revoked: Type.Integer({ minimum: 0, description: "sessions this call ended (0 for enable, or a repeat)" }),
});

export const SessionList = Type.Object({
  userId: Type.String(),
  online: Type.Boolean({ description: "a device of the user is connected to a gateway (presence)" }),
  lastSeen: Type.Integer({ description: "the user's last seen (presence; per user, not per device): ms, 0 if never" }),
  sessions: Type.Array(
    Type.Object({
      deviceId: Type.String(),
      deviceName: Type.String(),
      createdAt: Type.Integer(),
      expiresAt: Type.Integer(),
      revoked: Type.Boolean(),
      live: Type.Boolean({ description: "neither revoked nor expired: its token works" }),
    }),
    { description: "every device session, newest first; never a token" },
  ),
});

const Peer = Type.Object({
  name: Type.String(),
  current: Type.Boolean(),
  offline: Type.Boolean(),
  lag: Type.Optional(Type.Integer()),
});

const Cluster = Type.Object({
  name: Type.Optional(Type.String()),
  leader: Type.Optional(Type.String({ description: "the server leading this stream or consumer" })),
  replicas: Type.Array(Peer, { description: "the other peers (none on a single server)" }),
});

export const StreamState = Type.Object({
  name: Type.String(),
  subjects: Type.Array(Type.String()),
  replicas: Type.Integer(),
  messages: Type.Integer(),
  bytes: Type.Integer(),
  firstSeq: Type.Integer(),
  lastSeq: Type.Integer(),
  firstTs: Type.Optional(Type.String({ description: "ISO time of the first message kept" })),
  lastTs: Type.Optional(Type.String({ description: "ISO time of the last message" })),
  consumers: Type.Integer({ description: "consumers of the stream, ephemeral ones (tails) included" }),
  cluster: Type.Optional(Cluster),
});

export const ConsumerState = Type.Object({
  stream: Type.String(),
  name: Type.String(),
  exists: Type.Boolean({ description: "false: the durable was never created (its process has not run)" }),
  numPending: Type.Optional(Type.Integer({ description: "stream messages not yet delivered: the lag" })),
  numAckPending: Type.Optional(Type.Integer({ description: "delivered, not yet acknowledged" })),
  numRedelivered: Type.Optional(Type.Integer()),
  numWaiting: Type.Optional(Type.Integer({ description: "pull requests waiting: the consumer processes pulling" })),
  deliveredSeq: Type.Optional(Type.Integer({ description: "stream seq of the last delivery" })),
  ackFloorSeq: Type.Optional(Type.Integer({ description: "stream seq below which everything is acknowledged" })),
  lastActive: Type.Optional(Type.String({ description: "ISO time of the last delivery" })),
  cluster: Type.Optional(Cluster),
});

export const StreamsView = Type.Object({
  streams: Type.Array(StreamState),
  consumers: Type.Array(ConsumerState, { description: "every durable of the chat stream, with its lag" }),
});
