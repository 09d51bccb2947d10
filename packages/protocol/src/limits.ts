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

/**
 * Reactions (v1.1): an emoji is one RGI emoji (Unicode's recommended-for-general-interchange
 * set: a single emoji, a modifier or ZWJ sequence, a flag, a keycap), as emoji keyboards
 * send them; text, several emoji, or a bare code point that needs its variation selector
 * (`❤` rather than `❤️`) are not. Bounded so an id made of it stays short.
 */
export const MAX_EMOJI_LENGTH = 32;
// The `v` flag (ES2024) knows emoji sequences as one property; built at run time since the
// project's TypeScript target is ES2023 (Node 24 and current browsers have it).
const RGI_EMOJI = new RegExp("^\\p{RGI_Emoji}$", "v");

export function isEmoji(v: unknown): v is string {
  return typeof v === "string" && v.length > 0 && v.length <= MAX_EMOJI_LENGTH && RGI_EMOJI.test(v);
}

/** Most distinct emoji on one message: a reaction with a new emoji beyond it is refused. */
export const MAX_REACTION_EMOJI_PER_MESSAGE = 20;
/** Most reactions (distinct emoji) one user keeps on one message. */
export const MAX_REACTIONS_PER_USER_PER_MESSAGE = 5;
