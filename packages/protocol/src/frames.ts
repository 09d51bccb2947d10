/**
 * WebSocket frames of `/v1/ws`: JSON text frames, one object each, told apart by `type`.
 * Shared by the gateway, the client SDK and the tests. `parseClientFrame` validates by
 * hand (this package has no dependencies and runs in a browser); unknown fields are
 * ignored so a newer client can talk to an older gateway.
 */
import { parseAttachmentIds } from "./attachments.ts";
import { NatterError } from "./errors.ts";
import type { ChatEvent } from "./events.ts";
import { isClientMsgId, isEmoji, isId } from "./limits.ts";

// ---------------------------------------------------------------- client → server

export interface AuthFrame {
  type: "auth";
  /** Echoed by the `error` an `auth` on an open socket gets, as every frame's `ref`. */
  ref?: string;
  token: string;
  /**
   * Connect-time resume: the device's cursors (as in `sync`). Present (even `{}`): the
   * gateway replays each listed chat after its cursor before any live event of it, as if
   * `sync` had been the first frame, with no gap or duplicate at the seam. Absent: live
   * events flow from `ready` on, each chat starting at its first live event.
   */
  cursors?: Record<string, number>;
}
export interface SendFrame {
  type: "send";
  /** Client-chosen; echoed by `sent` or `error`. */
  ref: string;
  chat: string;
  /** The client message id (idempotency key), as over HTTP. */
  id: string;
  /** The text; "" (or absent in the frame) for a message of attachments only. */
  body: string;
  /** The `n` of the earlier message this one replies to (v1.1). */
  replyTo?: number;
  /** Ids of attachments the sender uploaded into the chat (v1.1): body or attachments. */
  attachments?: string[];
  /**
   * A resend of an id this client may have sent before (after a reconnect, a timeout, an
   * `unavailable`). Only then does the gateway look the id up in the history store's
   * client-message index, which answers a resend older than the JetStream dedup window; a
   * first send touches only NATS. Inside the window the stream answers a resend either way
   * (docs/protocol.md, "Resends").
   */
  retry?: true;
}
/** The author's new body for message `target` (v1.1): a `message.edited` event. */
export interface EditFrame {
  type: "edit";
  /** Client-chosen; echoed by `sent` (of the `message.edited` event, with the edit's `id`) or `error`. */
  ref: string;
  chat: string;
  /** The client's id of the edit (idempotency key), as a send's. */
  id: string;
  /** The `n` of the message to edit. */
  target: number;
  body: string;
}
/** Adds (`react`) or takes back (`unreact`) the caller's `emoji` on message `target` (v1.1). */
export interface ReactFrame {
  type: "react" | "unreact";
  /**
   * Client-chosen; echoed by `sent` (of the event that added the reaction, the earlier one
   * when it was already there; of the one that removed it, all 0 when there was none) or `error`.
   */
  ref: string;
  chat: string;
  target: number;
  emoji: string;
}
/** Deletes message `target` of `chat` for everyone (its author, or a group admin). */
export interface DeleteFrame {
  type: "delete";
  /** Client-chosen; echoed by `sent` (of the `message.deleted` event) or `error`. */
  ref: string;
  chat: string;
  /** The `n` of the message to delete. */
  target: number;
}
/** Delivered up to `n`. */
export interface AckFrame {
  type: "ack";
  ref?: string;
  chat: string;
  n: number;
}
/** Read up to `n`. */
export interface ReadFrame {
  type: "read";
  ref?: string;
  chat: string;
  n: number;
}
export interface TypingFrame {
  type: "typing";
  ref?: string;
  chat: string;
}
/** For each chat, the last `n` the device holds (0 for none): the gateway replays what is after it. */
export interface SyncFrame {
  type: "sync";
  ref?: string;
  cursors: Record<string, number>;
}
/** Replaces the set of users whose presence the device watches. */
export interface WatchFrame {
  type: "watch";
  ref?: string;
  users: string[];
}
export interface PingFrame {
  type: "ping";
  ref?: string;
}

export type ClientFrame =
  | AuthFrame
  | SendFrame
  | EditFrame
  | DeleteFrame
  | ReactFrame
  | AckFrame
  | ReadFrame
  | TypingFrame
  | SyncFrame
  | WatchFrame
  | PingFrame;

export type ClientFrameType = ClientFrame["type"];
export const CLIENT_FRAME_TYPES = [
  "auth",
  "send",
  "edit",
  "delete",
  "react",
  "unreact",
  "ack",
  "read",
  "typing",
  "sync",
  "watch",
  "ping",
] as const;

// ---------------------------------------------------------------- server → client

export interface ReadyFrame {
  type: "ready";
  userId: string;
  deviceId: string;
  /** The server pings (WebSocket ping) this often; a socket silent for two intervals is closed. */
  heartbeatMs: number;
}
export interface SentFrame {
  type: "sent";
  ref: string;
  chat: string;
  /** The client id of a `send` or an `edit`; absent in the answer to a `delete` (its event has none). */
  id?: string;
  seq: number;
  n: number;
  ts: number;
}
export type EventFrame = { type: "event" } & ChatEvent;
/** The replay of `chat` asked for by `sync` is complete up to `n`; live events follow. */
export interface SyncedFrame {
  type: "synced";
  ref?: string;
  chat: string;
  n: number;
}
export interface ReceiptFrame {
  type: "receipt";
  chat: string;
  user: string;
  deliveredN: number;
  readN: number;
}
export interface TypingSignalFrame {
  type: "typing";
  chat: string;
  user: string;
}
export interface PresenceFrame {
  type: "presence";
  user: string;
  online: boolean;
  lastSeen: number;
}
export interface ErrorFrame {
  type: "error";
  ref?: string;
  code: string;
  message: string;
  field?: string;
  /** The chat a `sync` error is about. */
  chat?: string;
  retryAfterMs?: number;
}
export interface PongFrame {
  type: "pong";
  ref?: string;
}

export type ServerFrame =
  | ReadyFrame
  | SentFrame
  | EventFrame
  | SyncedFrame
  | ReceiptFrame
  | TypingSignalFrame
  | PresenceFrame
  | ErrorFrame
  | PongFrame;

export type ServerFrameType = ServerFrame["type"];

// ---------------------------------------------------------------- limits and close codes

/** Largest frame the gateway reads (bytes); a bigger one closes the socket with 1009. */
export const MAX_FRAME_BYTES = 64 * 1024;
/**
 * The query parameter of `/v1/ws` by which a socket authenticated by header says it will
 * resume (`?resume=1`): its live events wait for its first `sync`. Not a credential.
 */
export const RESUME_PARAM = "resume";
/** Most chats in one `sync` frame; send several frames for more. */
export const MAX_SYNC_CHATS = 1000;
/** Most users in one `watch` frame. */
export const MAX_WATCH_USERS = 1000;
/** Longest `ref`. */
export const MAX_REF_LENGTH = 64;
/** Longest token in an `auth` frame. */
export const MAX_TOKEN_LENGTH = 4096;

// ---------------------------------------------------------------- parsing

type Obj = Record<string, unknown>;

function bad(message: string, field?: string): NatterError {
  return new NatterError("invalid_input", message, field === undefined ? {} : { field });
}

function optRef(o: Obj): { ref?: string } {
  const ref = o.ref;
  if (ref === undefined) return {};
  if (typeof ref !== "string" || ref.length === 0 || ref.length > MAX_REF_LENGTH) {
    throw bad(`ref must be a string of 1..${MAX_REF_LENGTH} characters`, "ref");
  }
  return { ref };
}

function id(o: Obj, field: string): string {
  const v = o[field];
  if (!isId(v)) throw bad(`${field} must be an id of 1..64 [A-Za-z0-9_-]`, field);
  return v;
}

function count(v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw bad(`${field} must be a non-negative integer`, field);
  }
  return v;
}

/** The `n` of a message (1 or more): a target, a reply's message. */
function messageN(o: Obj, field: string): number {
  const v = count(o[field], field);
  if (v < 1) throw bad(`${field} must be the n of a message (1 or more)`, field);
  return v;
}

/** `cursors` of a `sync` or `auth` frame: chat id → the last n the device holds. */
function cursorsOf(o: Obj): Record<string, number> {
  const c = o.cursors;
  if (typeof c !== "object" || c === null || Array.isArray(c)) {
    throw bad("cursors must be an object of chatId to n", "cursors");
  }
  const entries = Object.entries(c as Obj);
  if (entries.length > MAX_SYNC_CHATS) throw bad(`at most ${MAX_SYNC_CHATS} chats per frame`, "cursors");
  const cursors: Record<string, number> = {};
  for (const [chat, n] of entries) {
    if (!isId(chat)) throw bad("cursor keys must be chat ids", "cursors");
    cursors[chat] = count(n, `cursors.${chat}`);
  }
  return cursors;
}

/** A send's `retry`: absent or a boolean (`false` is a first send, as when absent). */
function retryFlag(o: Obj): boolean {
  if (o.retry === undefined) return false;
  if (typeof o.retry !== "boolean") throw bad("retry must be a boolean", "retry");
  return o.retry;
}

/**
 * Parses one text frame from a client. Throws `NatterError` with code `invalid_json`
 * (not JSON) or `invalid_input` (not an object, unknown `type`, a missing or malformed
 * field; `field` names it). The returned frame holds only known fields.
 */
export function parseClientFrame(text: string): ClientFrame {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new NatterError("invalid_json", "the frame is not valid JSON");
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw bad("a frame is a JSON object");
  const o = data as Obj;
  switch (o.type) {
    case "auth": {
      if (typeof o.token !== "string" || o.token.length === 0 || o.token.length > MAX_TOKEN_LENGTH) {
        throw bad("token must be a non-empty string", "token");
      }
      return {
        type: "auth",
        ...optRef(o),
        token: o.token,
        ...(o.cursors === undefined ? {} : { cursors: cursorsOf(o) }),
      };
    }
    case "send": {
      const r = optRef(o);
      if (r.ref === undefined) throw bad("send needs a ref", "ref");
      const chat = id(o, "chat");
      if (!isClientMsgId(o.id)) throw bad("id must be 1..64 characters of [A-Za-z0-9_.:-]", "id");
      let attachments: string[] | undefined;
      try {
        attachments = o.attachments === undefined ? undefined : parseAttachmentIds(o.attachments);
      } catch (err) {
        throw bad((err as Error).message, "attachments");
      }
      // A message of attachments only may leave the body out.
      const body = o.body === undefined && attachments?.length ? "" : o.body;
      if (typeof body !== "string") throw bad("body must be a string", "body");
      return {
        type: "send",
        ref: r.ref,
        chat,
        id: o.id,
        body,
        ...(o.replyTo === undefined ? {} : { replyTo: messageN(o, "replyTo") }),
        ...(attachments ? { attachments } : {}),
        ...(retryFlag(o) ? { retry: true } : {}),
      };
    }
    case "edit": {
      const r = optRef(o);
      if (r.ref === undefined) throw bad("edit needs a ref", "ref");
      const chat = id(o, "chat");
      if (!isClientMsgId(o.id)) throw bad("id must be 1..64 characters of [A-Za-z0-9_.:-]", "id");
      const target = messageN(o, "target");
      if (typeof o.body !== "string") throw bad("body must be a string", "body");
      return { type: "edit", ref: r.ref, chat, id: o.id, target, body: o.body };
    }
    case "react":
    case "unreact": {
      const r = optRef(o);
      if (r.ref === undefined) throw bad(`${o.type} needs a ref`, "ref");
      const chat = id(o, "chat");
      const target = messageN(o, "target");
      if (!isEmoji(o.emoji)) throw bad("emoji must be one emoji", "emoji");
      return { type: o.type, ref: r.ref, chat, target, emoji: o.emoji };
    }
    case "delete": {
      const r = optRef(o);
      if (r.ref === undefined) throw bad("delete needs a ref", "ref");
      const chat = id(o, "chat");
      const target = count(o.target, "target");
      if (target < 1) throw bad("target must be the n of a message (1 or more)", "target");
      return { type: "delete", ref: r.ref, chat, target };
    }
    case "ack":
    case "read":
      return { type: o.type, ...optRef(o), chat: id(o, "chat"), n: count(o.n, "n") };
    case "typing":
      return { type: "typing", ...optRef(o), chat: id(o, "chat") };
    case "sync":
      return { type: "sync", ...optRef(o), cursors: cursorsOf(o) };
    case "watch": {
      const ref = optRef(o);
      const users = o.users;
      if (!Array.isArray(users)) throw bad("users must be a list of user ids", "users");
      if (users.length > MAX_WATCH_USERS) throw bad(`at most ${MAX_WATCH_USERS} users`, "users");
      for (const u of users) if (!isId(u)) throw bad("users must be user ids", "users");
      return { type: "watch", ...ref, users: [...new Set(users as string[])] };
    }
    case "ping":
      return { type: "ping", ...optRef(o) };
    default:
      throw bad(
        typeof o.type === "string" ? `unknown frame type ${JSON.stringify(o.type.slice(0, 32))}` : "type is missing",
        "type",
      );
  }
}

/** The `ref` of a frame that failed to parse, when it has a usable one, so the error frame can echo it. */
export function refOf(text: string): string | undefined {
  try {
    const o = JSON.parse(text) as Obj;
    const ref = o?.ref;
    return typeof ref === "string" && ref.length > 0 && ref.length <= MAX_REF_LENGTH ? ref : undefined;
  } catch {
    return undefined;
  }
}
