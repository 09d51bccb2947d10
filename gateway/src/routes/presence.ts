import { Type } from "typebox";
import type { GatewayContext } from "../context.ts";
import { watchable } from "../presence/watch-policy.ts";
import { errors, PresenceView } from "../schemas.ts";
import type { App } from "../server-types.ts";

export function presenceRoutes(app: App, ctx: GatewayContext): void {
  app.get(
    "/v1/presence",
    {
      preHandler: app.requireAuth,
      schema: {
        tags: ["presence"],
        summary:
          "Presence of a batch of users (comma separated ids); users who share no chat with the caller are left out",
        security: [{ bearer: [] }],
        querystring: Type.Object({ users: Type.String({ minLength: 1, maxLength: 65 * 1000 }) }),
        response: { 200: PresenceView, ...errors(400, 401) },
      },
    },
    async (req) => {
      const users = req.query.users
        .split(",")
        .map((u) => u.trim())
        .filter(Boolean);
      const visible = await watchable(ctx, req.auth.userId, users);
      const states = await ctx.presence.read(visible);
      return {
        presence: visible.map((userId) => ({ userId, ...(states.get(userId) ?? { online: false, lastSeen: 0 }) })),
      };
    },
  );
}
