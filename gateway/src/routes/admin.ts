import type { GatewayContext } from "../context.ts";
import type { App } from "../server-types.ts";
import { adminChatRoutes } from "./admin/chats.ts";
import { adminGuard } from "./admin/guard.ts";
import { adminMessageRoutes } from "./admin/messages.ts";
import { adminStreamRoutes } from "./admin/streams.ts";
import { adminUserRoutes } from "./admin/users.ts";

/**
 * The operators' API under `/v1/admin` (docs/admin.md): callable only by the users whose
 * handles `NATTER_ADMINS` names (403 for anyone else; no admin at all when it is unset),
 * and every call is written to the audit log (`admin/guard.ts`). One file per area in
 * `admin/`: users and sessions, chats, messages, streams.
 */
export function adminRoutes(app: App, ctx: GatewayContext): void {
  const run = adminGuard(ctx);
  adminUserRoutes(app, ctx, run);
  adminChatRoutes(app, ctx, run);
  adminMessageRoutes(app, ctx, run);
  adminStreamRoutes(app, ctx, run);
}
