import { Type } from "typebox";
import { listChats } from "../chat/list.ts";
import type { GatewayContext } from "../context.ts";
import {
  ChatCreatedView,
  ChatListItem,
  ChatParams,
  ChatView,
  CreateChatBody,
  errors,
  MemberParams,
  N,
  ReceiptsView,
} from "../schemas.ts";
import type { App } from "../server-types.ts";

export function chatRoutes(app: App, ctx: GatewayContext): void {
  const { chats } = ctx;
  const auth = { preHandler: app.requireAuth };
  const security = [{ bearer: [] }];

  app.post(
    "/v1/chats",
    {
      ...auth,
      schema: {
        tags: ["chats"],
        summary: "Create a group, or open the direct chat with a user (200 if it exists)",
        security,
        body: CreateChatBody,
        response: {
          200: ChatCreatedView,
          201: ChatCreatedView,
          ...errors(
            [400, "invalid_input: the body fails its schema, or a direct chat with yourself"],
            401,
            [
              403,
              "forbidden: a new direct chat between users where either blocks the other, or a group naming someone who blocks you",
            ],
            404,
            422,
          ),
        },
      },
    },
    async (req, reply) => {
      const me = req.auth.userId;
      const body = req.body;
      const view =
        body.kind === "direct"
          ? await chats.openDirect(me, body.userId).then(({ view, created }) => {
              reply.code(created ? 201 : 200);
              return view;
            })
          : await chats.createGroup(me, body.title, body.members).then((v) => {
              reply.code(201);
              return v;
            });
      return { ...view, members: view.members.map((m) => m.userId) };
    },
  );

  app.get(
    "/v1/chats",
    {
      ...auth,
      schema: {
        tags: ["chats"],
        summary: "My chats by last activity; message requests carry `request` (`requests=only|exclude` filters them)",
        security,
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
          cursor: Type.Optional(Type.String({ pattern: "^[0-9]+:[A-Za-z0-9_-]{1,64}$" })),
          requests: Type.Optional(
            Type.Union([Type.Literal("only"), Type.Literal("exclude")], {
              description: "only: just my unanswered message requests; exclude: everything else (default: both)",
            }),
          ),
        }),
        response: {
          200: Type.Object({ chats: Type.Array(ChatListItem), next: Type.Optional(Type.String()) }),
          ...errors(400, 401),
        },
      },
    },
    async (req) =>
      listChats(ctx.store, ctx.chatLog, req.auth.userId, {
        limit: req.query.limit ?? 50,
        ...(req.query.cursor === undefined ? {} : { cursor: req.query.cursor }),
        ...(req.query.requests === undefined ? {} : { requests: req.query.requests }),
      }),
  );

  app.get(
    "/v1/chats/:chatId",
    {
      ...auth,
      schema: {
        tags: ["chats"],
        summary: "A chat and its members, each with handle and display name",
        security,
        params: ChatParams,
        response: { 200: ChatView, ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const view = await chats.getForMember(req.auth.userId, req.params.chatId);
      // Names with the members: a client shows a chat it did not start without a lookup each.
      const users = await Promise.all(view.members.map((m) => ctx.store.getUser(m.userId)));
      return {
        ...view,
        members: view.members.map((m, i) => {
          const u = users[i];
          // Accounts are never deleted, and only existing users become members.
          if (!u) throw new Error(`member ${m.userId} of ${view.chatId} has no account`);
          return { ...m, handle: u.handle, displayName: u.displayName };
        }),
      };
    },
  );

  app.post(
    "/v1/chats/:chatId/members",
    {
      ...auth,
      schema: {
        tags: ["chats"],
        summary: "Add a member (admins only); returns the event's n",
        security,
        params: ChatParams,
        body: Type.Object({ userId: MemberParams.properties.userId }, { additionalProperties: false }),
        response: {
          200: N,
          ...errors(
            [400, "invalid_input: bad ids or body, or the chat is a direct chat (no member changes)"],
            401,
            403,
            404,
            422,
          ),
        },
      },
    },
    async (req) => ({ n: await chats.addMember(req.auth.userId, req.params.chatId, req.body.userId) }),
  );

  app.delete(
    "/v1/chats/:chatId/members/:userId",
    {
      ...auth,
      schema: {
        tags: ["chats"],
        summary: "Remove a member (admins), or leave (yourself); returns the event's n",
        security,
        params: MemberParams,
        response: {
          200: N,
          ...errors([400, "invalid_input: bad ids, or the chat is a direct chat (no member changes)"], 401, 403, 404, [
            409,
            "last_admin: the sole admin may not leave while the group has other members",
          ]),
        },
      },
    },
    async (req) => ({ n: await chats.removeMember(req.auth.userId, req.params.chatId, req.params.userId) }),
  );

  // The two answers to a message request; the rules are `ChatService.accept` and `decline`'s.
  for (const { answer, summary, response } of [
    {
      answer: "accept",
      summary:
        "Accept a message request (as replying does): the chat's members see my presence, typing and receipts from now on; nothing for a chat already accepted",
      response: { 204: Type.Null(), ...errors(400, 401, 403, 404) },
    },
    {
      answer: "decline",
      summary:
        "Decline a message request: a group is left (member.removed of me); a direct chat leaves my list and refuses the requester's sends until I open it",
      response: {
        204: Type.Null(),
        ...errors(400, 401, 403, 404, [
          409,
          "conflict: not a message request (leave a group with DELETE …/members/<me>)",
        ]),
      },
    },
  ] as const) {
    app.post(
      `/v1/chats/:chatId/${answer}`,
      { ...auth, schema: { tags: ["chats"], summary, security, params: ChatParams, response } },
      async (req, reply) => {
        await chats[answer](req.auth.userId, req.params.chatId);
        reply.code(204);
        return null;
      },
    );
  }

  app.get(
    "/v1/chats/:chatId/receipts",
    {
      ...auth,
      schema: {
        tags: ["chats"],
        summary:
          "Each active member's delivered and read pointers: sent/delivered/read for a 1:1 chat, counts per message for a group",
        security,
        params: ChatParams,
        response: { 200: ReceiptsView, ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => chats.receipts(req.auth.userId, req.params.chatId),
  );
}
