/**
 * Response shapes of the HTTP API (`/v1`), shared by the gateway (which produces them) and
 * the client SDK (which reads them). The JSON schemas in `gateway/src/schemas.ts` describe
 * the same shapes for validation and the OpenAPI document.
 */
import type { ChatEvent, ChatKind, MemberRole } from "./events.ts";

/** `POST /v1/chats`. */
export interface ChatCreated {
  chatId: string;
  kind: ChatKind;
  title?: string;
  members: string[];
  lastN: number;
}

/** One chat of `GET /v1/chats`. */
export interface ChatSummary {
  chatId: string;
  kind: ChatKind;
  title?: string;
  /** The other member of a direct chat. */
  peer?: string;
  /** The peer's handle and display name, with `peer`: a client names the chat without a lookup. */
  peerHandle?: string;
  peerDisplayName?: string;
  lastN: number;
  lastActivity: number;
  preview?: string;
  readN: number;
  /** Messages from others after `readN` (exact up to 1000): the events `countsAsUnread`. */
  unread: number;
  /**
   * Set while my membership is a message request I have not answered: `from` opened the
   * chat with me or added me, `at` when. I may read it; until I accept (reply, or
   * `POST /v1/chats/:chatId/accept`) nobody in it sees my presence, typing or receipts.
   */
  request?: { from: string; at: number };
}

/**
 * The one rule for `unread`, shared by the server's count and a client that raises its
 * badge on live events (so the two agree): a message, from someone else. `chat.created`
 * and member events are not unread, nor are my own messages.
 */
export function countsAsUnread(event: ChatEvent, me: string): boolean {
  return event.kind === "message.created" && event.from !== me;
}

/** `GET /v1/chats/:chatId`. */
export interface ChatView {
  chatId: string;
  kind: ChatKind;
  title?: string;
  /** `GET /v1/chats/:chatId` gives each member's `handle` and `displayName` too. */
  members: { userId: string; role: MemberRole; joinedN: number; handle?: string; displayName?: string }[];
  lastN: number;
}
