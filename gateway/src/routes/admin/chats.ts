import type { GatewayContext } from "../../context.ts";
import { errors, MemberParams } from "../../schemas.ts";
import type { App } from "../../server-types.ts";
import type { AdminRun } from "./guard.ts";
import { Type } from "typebox";

/**
 * Chats for operators: removing a member. The removal is an ordinary `member.removed` event
 * in the chat's log, published through the chat service (`ChatService.removeMemberAsOperator`)
 * like a group admin's, so every reader of the log applies it the same way (the membership
 * effect, `@natter/protocol`): the removed user gets their own removal, then nothing (G3).
 * Its `from` is the operator's user id: an operator-made event is attributed to the account
 * that made it, as every event is.
 */
export function adminChatRoutes(app: App, ctx: GatewayContext, run: AdminRun): void {
  app.delete(
    "/v1/admin/chats/:chatId/members/:userId",
    {
      preHandler: app.requireAuth,
      schema: {
        tags: ["admin"],
        security: [{ bearer: [] }],
        summary: "Remove a member from a group as an operator: a member.removed event from the operator; returns its n",
        params: MemberParams,
        response: {
          200: Type.Object({ n: Type.Integer({ description: "the removal's n in the chat's log" }) }),
          ...errors(
            [400, "invalid_input: bad ids, or a direct chat (no member changes)"],
            401,
            403,
            [404, "not_found: no such chat, or the user is not a member"],
            [409, "last_admin: the group's sole admin, while it has other members"],
          ),
        },
      },
    },
    async (req) => {
      const { chatId, userId } = req.params;
      return run(req, "remove-member", `${chatId}/${userId}`, async (admin) => ({
        n: await ctx.chats.removeMemberAsOperator(admin.userId, chatId, userId),
      }));
    },
  );
}
