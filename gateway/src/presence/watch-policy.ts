import { isId, NatterError } from "@natter/protocol";
import type { Config } from "@natter/config";
import type { Contacts } from "./contacts.ts";

/**
 * Whose presence `me` may see among `users`, for `watch` frames and `GET /v1/presence`
 * alike: at most `presenceWatchLimit` users (more is `invalid_input` on `users`), ids
 * only, each once, and only those who share a chat with `me` (and `me`); strangers are
 * left out silently, so a request learns nothing of them, not even whether they exist.
 */
export async function watchable(
  deps: { config: Pick<Config, "presenceWatchLimit">; contacts: Contacts },
  me: string,
  users: readonly string[],
): Promise<string[]> {
  const unique = [...new Set(users)];
  const limit = deps.config.presenceWatchLimit;
  if (unique.length > limit) throw new NatterError("invalid_input", `watch at most ${limit} users`, { field: "users" });
  if (!unique.every((u) => isId(u))) throw new NatterError("invalid_input", "users are user ids", { field: "users" });
  return deps.contacts.visible(me, unique);
}
