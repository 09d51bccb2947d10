export { ChatLog } from "./chat-log.ts";
export * from "./chat-range.ts";
export { chatEventAt, ensureChatStream, isNoResults, lastChatEvent, lastChatEvents } from "./chat-stream.ts";
export { type ConnectOptions, connectNats } from "./connect.ts";
export { EdgeStreams, type EdgeStreamOptions } from "./edge-streams.ts";
export {
  isWrongLastSequence,
  JsApiCodes,
  type JsBatchMessage,
  JsPublishError,
  JsPublisher,
  JsPublishFailed,
  type JsPublishOptions,
  type PubAck,
} from "./js-publisher.ts";
export {
  AttachmentBucket,
  AttachmentClaimConflict,
  attachmentDescriptor,
  type NewAttachment,
  type StoredAttachment,
} from "./attachment-bucket.ts";
