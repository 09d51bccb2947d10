export { chatEventAt, ensureChatStream, lastChatEvent } from "./chat-stream.ts";
export { type ConnectOptions, connectNats } from "./connect.ts";
