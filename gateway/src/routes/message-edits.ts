import type { GatewayContext } from "../context.ts";
import { DeleteParams, editBody, errors, Sent } from "../schemas.ts";
import type { App } from "../server-types.ts";

/** `PATCH /v1/chats/:chatId/messages/:n` (v1.1): the author edits a message (a `message.edited` event). */
export function messageEditRoutes(app: App, ctx: GatewayContext): void {
  app.patch(
    "/v1/chats/:chatId/messages/:n",
    {
      preHandler: app.requireAuth,
      schema: {
        tags: ["messages"],
        summary:
          "Edit a message (its author only): a message.edited event in the log; a retry with the same id answers the same event (200)",
        security: [{ bearer: [] }],
        params: DeleteParams,
        body: editBody(ctx.config.bodyLimit),
        response: {
          200: Sent,
          201: Sent,
          ...errors(
            [400, "invalid_input: a blank body, a target that is no message or is deleted"],
            401,
            [403, "forbidden: not its author, or no longer a member"],
            [404, "not_found: no such chat or message"],
            413,
            429,
            503,
          ),
        },
      },
    },
    async (req, reply) => {
      const r = await ctx.edits.edit(req.auth.userId, req.params.chatId, req.params.n, req.body.id, req.body.body);
      reply.code(r.duplicate ? 200 : 201);
      return { chat: r.chat, id: r.id, seq: r.seq, n: r.n, ts: r.ts };
    },
  );
}
