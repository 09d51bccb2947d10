import { Type } from "typebox";
import type { GatewayContext } from "../context.ts";
import { BlocksView, errors, UserParams } from "../schemas.ts";
import type { App } from "../server-types.ts";

/** Blocking users (`docs/protocol.md`, "Message requests"): the rules are `ChatService.setBlocked`'s. */
export function blockRoutes(app: App, ctx: GatewayContext): void {
  const { chats } = ctx;
  const auth = { preHandler: app.requireAuth };
  const security = [{ bearer: [] }];

  for (const [method, blocked] of [
    ["POST", true],
    ["DELETE", false],
  ] as const) {
    app.route({
      method,
      url: "/v1/users/:userId/block",
      ...auth,
      schema: {
        tags: ["users"],
        summary: blocked
          ? "Block a user: their sends to me in our direct chat are refused (forbidden), their requests leave my list, and neither sees the other's presence, typing or receipts"
          : "Unblock a user (nothing if not blocked)",
        security,
        params: UserParams,
        response: {
          204: Type.Null(),
          ...errors([400, "invalid_input: a bad id, or yourself"], 401, [404, "not_found: no such user"]),
        },
      },
      handler: async (req, reply) => {
        await chats.setBlocked(req.auth.userId, req.params.userId, blocked);
        reply.code(204);
        return null;
      },
    });
  }

  app.get(
    "/v1/blocks",
    {
      ...auth,
      schema: {
        tags: ["users"],
        summary: "The users I block, newest first, with their names",
        security,
        response: { 200: BlocksView, ...errors(401) },
      },
    },
    async (req) => {
      const list = await chats.blocked(req.auth.userId);
      const users = await Promise.all(list.map((b) => ctx.store.getUser(b.userId)));
      return {
        users: list.flatMap((b, i) => {
          const u = users[i];
          return u ? [{ userId: b.userId, handle: u.handle, displayName: u.displayName, at: b.at }] : [];
        }),
      };
    },
  );
}
