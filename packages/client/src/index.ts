export { BACKOFF_DEFAULTS, type BackoffOptions, backoffWindow, fullJitter } from "./backoff.ts";
export {
  type ClientEvents,
  type ClientOptions,
  type ClientState,
  ClientClosedError,
  NatterClient,
  type PresenceInfo,
  type ReceiptInfo,
  SendTimeoutError,
  type TypingInfo,
} from "./client.ts";
export { type CursorStore, LocalStorageCursorStore, MemoryCursorStore, type StorageLike } from "./cursor-store.ts";
export { Emitter, type EventMap } from "./emitter.ts";
export { HistoryPager } from "./history.ts";
export {
  type ChatCreated,
  type ChatSummary,
  type ChatView,
  HttpError,
  type HttpOptions,
  NatterHttp,
  type Page,
  type Presence,
  type Receipts,
  type SentMessage,
  type Session,
  type User,
} from "./http.ts";
export { ChatOrdering, GapError, type OrderingDeps } from "./ordering.ts";
export type { ChatEvent } from "@natter/protocol";
export { NatterError } from "@natter/protocol";
