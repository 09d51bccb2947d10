import type { GatewayContext } from "../context.ts";
import { errors, ReactionAnswer, ReactionParams } from "../schemas.ts";
import type { App } from "../server-types.ts";

/**
 * `PUT` / `DELETE /v1/chats/:chatId/messages/:n/reactions/:emoji` (v1.1): the caller's
 * reaction to a message, idempotent per (user, message, emoji) (`MessageReactions`).
 */
export function messageReactionRoutes(app: App, ctx: GatewayContext): void {
  const schema = (summary: string) => ({
    tags: ["messages"],
    summary,
    security: [{ bearer: [] }],
    params: ReactionParams,
    response: {
      200: ReactionAnswer,
      ...errors(
        [400, "invalid_input: not one emoji, a reaction bound reached, a target that is no message or is deleted"],
        401,
        [403, "forbidden: no longer a member"],
        [404, "not_found: no such chat or message"],
        429,
        503,
      ),
    },
  });
  app.put(
    "/v1/chats/:chatId/messages/:n/reactions/:emoji",
    {
      preHandler: app.requireAuth,
      schema: schema(
        "React to a message: a reaction.added event; {n} of the event that added it (the earlier one if it was there)",
      ),
    },
    async (req) => {
      const r = await ctx.reactions.add(req.auth.userId, req.params.chatId, req.params.n, req.params.emoji);
      return { n: r.n };
    },
  );
  app.delete(
    "/v1/chats/:chatId/messages/:n/reactions/:emoji",
    {
      preHandler: app.requireAuth,
      schema: schema(
        "Take back a reaction: a reaction.removed event; {n} of the event that removed it (0 if there was none)",
      ),
    },
    async (req) => {
      const r = await ctx.reactions.remove(req.auth.userId, req.params.chatId, req.params.n, req.params.emoji);
      return { n: r.n };
    },
  );
}
