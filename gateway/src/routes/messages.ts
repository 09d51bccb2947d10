import { Type } from "typebox";
import type { GatewayContext } from "../context.ts";
import { ChatParams, Event, errors, Sent, sendBody } from "../schemas.ts";
import type { App } from "../server-types.ts";

export function messageRoutes(app: App, ctx: GatewayContext): void {
  const { chats } = ctx;

  app.get(
    "/v1/chats/:chatId/messages",
    {
      preHandler: app.requireAuth,
      schema: {
        tags: ["messages"],
        summary: "A page of a chat's events, ascending by n",
        security: [{ bearer: [] }],
        params: ChatParams,
        querystring: Type.Object({
          before: Type.Optional(Type.Integer({ minimum: 1 })),
          after: Type.Optional(Type.Integer({ minimum: 0 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
        }),
        response: {
          200: Type.Object({ events: Type.Array(Event), hasMore: Type.Boolean() }),
          ...errors(400, 401, 403, 404),
        },
      },
    },
    async (req) => {
      const { before, after, limit } = req.query;
      return chats.history(req.auth.userId, req.params.chatId, {
        ...(before === undefined ? {} : { before }),
        ...(after === undefined ? {} : { after }),
        limit: limit ?? 50,
      });
    },
  );

  app.post(
    "/v1/chats/:chatId/messages",
    {
      preHandler: app.requireAuth,
      schema: {
        tags: ["messages"],
        summary: "Send a message; a retry with the same id returns the same seq and n (200)",
        security: [{ bearer: [] }],
        params: ChatParams,
        body: sendBody(ctx.config.bodyLimit),
        response: { 200: Sent, 201: Sent, ...errors(400, 401, 403, 404, 413, 429, 503) },
      },
    },
    async (req, reply) => {
      const r = await chats.send(req.auth.userId, req.params.chatId, req.body.id, req.body.body ?? "", {
        ...(req.body.replyTo === undefined ? {} : { replyTo: req.body.replyTo }),
        ...(req.body.attachments === undefined ? {} : { attachments: req.body.attachments }),
      });
      reply.code(r.duplicate ? 200 : 201);
      return { chat: r.chat, id: r.id, seq: r.seq, n: r.n, ts: r.ts };
    },
  );
}
