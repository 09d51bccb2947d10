/**
 * Ids (`userId`, `chatId`, `deviceId`): opaque, 1–64 characters of `[A-Za-z0-9_-]`, so
 * safe as NATS subject tokens (no `.`, `*`, `>` or whitespace). The one home of the rule:
 * the frame parser, the JSON and HTTP schemas and the subject builders use it.
 */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isId(v: unknown): v is string {
  return typeof v === "string" && ID_PATTERN.test(v);
}

/** Client message ids: 1–64 characters of `[A-Za-z0-9_.:-]`, chosen by the client. */
export const CLIENT_MSG_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

export function isClientMsgId(id: unknown): id is string {
  return typeof id === "string" && CLIENT_MSG_ID_PATTERN.test(id);
}

/** Handles: 3–32 characters, lowercase letters, digits, `_` and `.`; compared lowercased. */
export const HANDLE_PATTERN = /^[a-z0-9_.]{3,32}$/;

export function normalizeHandle(handle: string): string {
  return handle.trim().toLowerCase();
}
