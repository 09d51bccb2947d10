export { BACKOFF_DEFAULTS, type BackoffOptions, backoffWindow, fullJitter } from "./backoff.ts";
export {
  type ClientEvents,
  type ClientOptions,
  type ClientState,
  ClientClosedError,
  NatterClient,
  type PresenceInfo,
  type ReactionAck,
  type ReceiptInfo,
  SendTimeoutError,
  type TypingInfo,
} from "./client.ts";
export { type CursorStore, LocalStorageCursorStore, MemoryCursorStore, type StorageLike } from "./cursor-store.ts";
export { Emitter, type EventMap } from "./emitter.ts";
export { HistoryPager } from "./history.ts";
export { type ChatMessage, ChatMessages, type ReactionSummary } from "./messages.ts";
export {
  type Attachment,
  type ChatCreated,
  type ChatSummary,
  type ChatView,
  type DeletedMessage,
  type Download,
  HttpError,
  type HttpOptions,
  NatterHttp,
  type Page,
  type Presence,
  type Receipts,
  type SentMessage,
  type Session,
  type UploadData,
  type UploadOptions,
  type User,
} from "./http.ts";
export { ChatOrdering, GapError, type OrderingDeps } from "./ordering.ts";
export { type CursorMoves, HandlerError } from "./processing.ts";
export { ChatList, type ChatItem, type ChatListOptions } from "./chat-list.ts";
export { Users, type UsersOptions, usersIn } from "./users.ts";
export { replyId } from "./ids.ts";
export { type TokenClaims, tokenClaims } from "./token.ts";
export type { ChatEvent } from "@natter/protocol";
export { NatterError } from "@natter/protocol";
