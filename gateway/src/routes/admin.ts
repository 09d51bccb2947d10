import { NatterError, normalizeHandle } from "@natter/protocol";
import { Type } from "typebox";
import type { GatewayContext } from "../context.ts";
import { errors, UserParams } from "../schemas.ts";
import type { App } from "../server-types.ts";

/**
 * The operators' API under `/v1/admin`: callable only by the users whose handles
 * `NATTER_ADMINS` names (403 for anyone else; no admin at all when it is unset), and every
 * call is logged with who made it (the audit trail).
 */
export function adminRoutes(app: App, ctx: GatewayContext): void {
  const admins = new Set((ctx.config.admins ?? []).map(normalizeHandle));
  const audit = ctx.logger.child({ component: "admin" });

  const requireAdmin = async (req: { auth: { userId: string } }) => {
    const user = admins.size > 0 ? await ctx.store.getUser(req.auth.userId) : undefined;
    if (!user || !admins.has(user.handle)) throw new NatterError("forbidden", "admins only");
    return user;
  };

  app.post(
    "/v1/admin/users/:userId/revoke-sessions",
    {
      preHandler: app.requireAuth,
      schema: {
        tags: ["admin"],
        summary: "Revoke every session of a user: their sockets close (4001) on every gateway at once",
        security: [{ bearer: [] }],
        params: UserParams,
        response: { 200: Type.Object({ revoked: Type.Integer({ minimum: 0 }) }), ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const admin = await requireAdmin(req);
      const target = req.params.userId;
      if (!(await ctx.store.getUser(target))) throw new NatterError("not_found", "no such user", { field: "userId" });
      const revoked = await ctx.sessions.revokeAll(target);
      audit.info({ admin: admin.userId, action: "revoke-sessions", target, revoked: revoked.length }, "admin action");
      return { revoked: revoked.length };
    },
  );
}
