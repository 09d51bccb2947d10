import { createHash } from "node:crypto";
import { NatterError } from "@natter/protocol";
import { MUTED_FOREVER } from "@natter/store";
import { Type } from "typebox";
import type { GatewayContext } from "../context.ts";
import { ChatParams, errors, Id } from "../schemas.ts";
import type { App } from "../server-types.ts";

/** Browsers one user may have subscribed at once: bounded rows, bounded pushes per message. */
export const MAX_PUSH_SUBSCRIPTIONS = 20;

/** base64url of exactly `bytes` bytes (no padding). */
const b64u = (bytes: number) => Type.String({ pattern: `^[A-Za-z0-9_-]{${Math.ceil((bytes * 4) / 3)}}$` });

const SubscriptionBody = Type.Object(
  {
    endpoint: Type.String({ minLength: 9, maxLength: 2048, pattern: "^https://", description: "the push service URL" }),
    keys: Type.Object(
      {
        p256dh: { ...b64u(65), description: "the browser's P-256 public key, uncompressed, base64url" },
        auth: { ...b64u(16), description: "the browser's auth secret, base64url" },
      },
      { additionalProperties: false },
    ),
    expirationTime: Type.Optional(Type.Union([Type.Null(), Type.Number()])),
  },
  { additionalProperties: false, description: "`PushSubscription.toJSON()`" },
);
const SubscriptionParams = Type.Object({ subscriptionId: Id });
const SettingsBody = Type.Object(
  {
    muted: Type.Union([Type.Boolean(), Type.Integer({ minimum: 0, maximum: MUTED_FOREVER })], {
      description: "true: muted for good; false: not muted; a time (ms since the epoch): muted until then",
    }),
  },
  { additionalProperties: false },
);

/** `muted` as answered: the stored `mutedUntil` back in the request's terms. */
function mutedView(mutedUntil: number, now: number): boolean | number {
  if (mutedUntil === MUTED_FOREVER) return true;
  return mutedUntil > now ? mutedUntil : false;
}

/**
 * Push (v1.1, `docs/protocol.md` "Push"): the deployment's VAPID key, a browser's
 * subscription bound to the caller's device session (deleted when that session is revoked,
 * `Sessions.revoke`; the push consumer also skips and drops one whose session ended), and
 * per-chat mute. Sending is the `push` consumer's (`consumers/src/push.ts`).
 */
export function pushRoutes(app: App, ctx: GatewayContext): void {
  const auth = { preHandler: app.requireAuth };
  const security = [{ bearer: [] }];
  const vapidKey = ctx.config.pushVapidPublicKey;
  const noWebPush = () =>
    new NatterError("unsupported", "this deployment has no Web Push (NATTER_PUSH_VAPID_PUBLIC_KEY is not set)");

  app.get(
    "/v1/push/vapid",
    {
      schema: {
        tags: ["push"],
        summary: "The deployment's VAPID public key, the applicationServerKey of pushManager.subscribe",
        response: {
          200: Type.Object({ publicKey: Type.String() }),
          ...errors([501, "unsupported: this deployment has no Web Push"]),
        },
      },
    },
    async () => {
      if (vapidKey === undefined) throw noWebPush();
      return { publicKey: vapidKey };
    },
  );

  app.post(
    "/v1/push/subscriptions",
    {
      ...auth,
      schema: {
        tags: ["push"],
        summary:
          "Subscribe this browser to pushes, bound to this device session (a logout ends it); the same endpoint again answers the same id",
        security,
        body: SubscriptionBody,
        response: {
          201: Type.Object({ subscriptionId: Type.String() }),
          ...errors(
            400,
            401,
            [409, `conflict: already ${MAX_PUSH_SUBSCRIPTIONS} other browsers subscribed; delete one`],
            [501, "unsupported: this deployment has no Web Push"],
          ),
        },
      },
    },
    async (req, reply) => {
      if (vapidKey === undefined) throw noWebPush();
      const { userId, deviceId } = req.auth;
      const { endpoint, keys } = req.body;
      if (!URL.canParse(endpoint)) throw new NatterError("invalid_input", "endpoint is no URL", { field: "endpoint" });
      // Derived from the endpoint: a browser that subscribes again gets its row back, not a second one.
      const subscriptionId = `ps_${createHash("sha256").update(`${userId}\n${endpoint}`).digest("base64url").slice(0, 22)}`;
      const existing = await ctx.store.listPushSubscriptions(userId);
      if (existing.length >= MAX_PUSH_SUBSCRIPTIONS && !existing.some((s) => s.subscriptionId === subscriptionId)) {
        throw new NatterError("conflict", `at most ${MAX_PUSH_SUBSCRIPTIONS} browsers subscribed; delete one first`);
      }
      await ctx.store.putPushSubscription({
        userId,
        subscriptionId,
        deviceId,
        endpoint,
        p256dh: keys.p256dh,
        auth: keys.auth,
        createdAt: Date.now(),
      });
      reply.code(201);
      return { subscriptionId };
    },
  );

  app.delete(
    "/v1/push/subscriptions/:subscriptionId",
    {
      ...auth,
      schema: {
        tags: ["push"],
        summary: "Unsubscribe a browser of mine (none such: 204 all the same)",
        security,
        params: SubscriptionParams,
        response: { 204: Type.Null(), ...errors(400, 401) },
      },
    },
    async (req, reply) => {
      await ctx.store.deletePushSubscription(req.auth.userId, req.params.subscriptionId);
      reply.code(204);
      return null;
    },
  );

  app.put(
    "/v1/chats/:chatId/settings",
    {
      ...auth,
      schema: {
        tags: ["chats"],
        summary: "My settings of a chat: muted (for good, until a time, or not): no pushes for it while muted",
        security,
        params: ChatParams,
        body: SettingsBody,
        response: {
          200: Type.Object({ muted: Type.Union([Type.Boolean(), Type.Integer()]) }),
          ...errors(400, 401, 403, 404),
        },
      },
    },
    async (req) => {
      const { userId } = req.auth;
      const { chatId } = req.params;
      await ctx.access.requireMember(userId, chatId);
      const { muted } = req.body;
      const mutedUntil = muted === true ? MUTED_FOREVER : muted === false ? 0 : muted;
      await ctx.store.putChatSettings({ chatId, userId, mutedUntil });
      return { muted: mutedView(mutedUntil, Date.now()) };
    },
  );
}
