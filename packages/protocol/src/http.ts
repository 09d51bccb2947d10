/**
 * Response shapes of the HTTP API (`/v1`), shared by the gateway (which produces them) and
 * the client SDK (which reads them). The JSON schemas in `gateway/src/schemas.ts` describe
 * the same shapes for validation and the OpenAPI document.
 */
import type { ChatKind, MemberRole } from "./events.ts";

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
  lastN: number;
  lastActivity: number;
  preview?: string;
  readN: number;
  /** Events from others after `readN` (exact up to 1000). */
  unread: number;
}

/** `GET /v1/chats/:chatId`. */
export interface ChatView {
  chatId: string;
  kind: ChatKind;
  title?: string;
  members: { userId: string; role: MemberRole; joinedN: number }[];
  lastN: number;
}
