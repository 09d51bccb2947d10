import type { GatewayContext } from "../context.ts";
import { DeleteParams, Deleted, errors } from "../schemas.ts";
import type { App } from "../server-types.ts";

/** `DELETE /v1/chats/:chatId/messages/:n` (v1.1): the author, or a group admin, deletes a message for everyone. */
export function messageDeleteRoutes(app: App, ctx: GatewayContext): void {
  app.delete(
    "/v1/chats/:chatId/messages/:n",
    {
      preHandler: app.requireAuth,
      schema: {
        tags: ["messages"],
        summary:
          "Delete a message for everyone (its author, or a group admin): a message.deleted event in the log, the body erased; a repeat by the same user answers the same event",
        security: [{ bearer: [] }],
        params: DeleteParams,
        response: {
          200: Deleted,
          ...errors(
            [400, "invalid_input: the target is not a message, or someone else already deleted it"],
            401,
            [403, "forbidden: not its author nor a group admin, or no longer a member"],
            [404, "not_found: no such chat or message"],
            503,
          ),
        },
      },
    },
    async (req) => {
      const r = await ctx.deletes.byMember(req.auth.userId, req.params.chatId, req.params.n);
      return { chat: r.chat, seq: r.seq, n: r.n, ts: r.ts };
    },
  );
}
