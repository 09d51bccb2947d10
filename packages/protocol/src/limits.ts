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
