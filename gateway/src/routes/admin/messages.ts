import type { GatewayContext } from "../../context.ts";
import { DeleteParams, Deleted, errors } from "../../schemas.ts";
import type { App } from "../../server-types.ts";
import type { AdminRun } from "./guard.ts";

/**
 * Messages for operators: delete any message of any chat for everyone. The same delete a
 * member makes (`MessageDeletes.byOperator`): a `message.deleted` event in the log from the
 * operator's user id (who need not be a member), the body erased from the stream and the
 * store, the same answers; a repeat by the same operator answers the same event.
 */
export function adminMessageRoutes(app: App, ctx: GatewayContext, run: AdminRun): void {
  app.delete(
    "/v1/admin/chats/:chatId/messages/:n",
    {
      preHandler: app.requireAuth,
      schema: {
        tags: ["admin"],
        security: [{ bearer: [] }],
        summary:
          "Delete a message for everyone as an operator: a message.deleted event from the operator, the body erased from the stream and the store; a repeat answers the same event",
        params: DeleteParams,
        response: {
          200: Deleted,
          ...errors(
            [400, "invalid_input: the target is not a message, or someone else already deleted it"],
            401,
            403,
            [404, "not_found: no such chat or message"],
            503,
          ),
        },
      },
    },
    async (req) => {
      const { chatId, n } = req.params;
      const r = await run(
        req,
        "delete-message",
        `${chatId}/${n}`,
        (admin) => ctx.deletes.byOperator(admin.userId, chatId, n),
        (d) => ({ n: d.n, repeat: d.duplicate }),
      );
      return { chat: r.chat, seq: r.seq, n: r.n, ts: r.ts };
    },
  );
}
