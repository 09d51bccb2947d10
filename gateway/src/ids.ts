import { createHash, randomBytes } from "node:crypto";
import { chatHome, homedPrefix } from "@natter/protocol";

/** Random ids safe as subject tokens: 16 bytes in base64url (`[A-Za-z0-9_-]`). */
export function newId(prefix: string): string {
  return `${prefix}${randomBytes(12).toString("base64url")}`;
}

/**
 * A direct chat's id is derived from its pair, so either user creating it gets the same
 * chat without a lookup, and concurrent creations race on one JetStream subject (the
 * expected-last-sequence check lets exactly one `chat.created` in). Its home is derived from
 * the pair too (`chatHome`: their site when both are homed at one, else the hub), so both
 * sides of an edge deployment name the chat alike.
 */
export function directChatId(userA: string, userB: string): string {
  const [a, b] = userA < userB ? [userA, userB] : [userB, userA];
  return `${homedPrefix("d", chatHome([a, b]))}${createHash("sha256").update(`${a}\n${b}`).digest("base64url").slice(0, 22)}`;
}
