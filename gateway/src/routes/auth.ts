import { HUB_SITE, homedPrefix, NatterError, normalizeHandle } from "@natter/protocol";
import { Type } from "typebox";
import { DUMMY_HASH, hashPassword, verifyPassword } from "../auth/passwords.ts";
import type { GatewayContext } from "../context.ts";
import { newId } from "../ids.ts";
import { errors, LoginBody, PasswordChangeBody, Session, SignupBody, UserParams, UserView } from "../schemas.ts";
import type { App } from "../server-types.ts";

export function authRoutes(app: App, ctx: GatewayContext): void {
  const { store, signer, config } = ctx;

  async function openSession(userId: string, deviceName: string) {
    const deviceId = newId("dv_");
    const now = Date.now();
    const expiresAt = now + config.tokenTtl;
    await store.createSession({ userId, deviceId, deviceName, createdAt: now, expiresAt, revoked: false });
    return { userId, deviceId, token: signer.sign({ userId, deviceId, expiresAt }), expiresAt };
  }

  app.post(
    "/v1/auth/signup",
    {
      schema: {
        tags: ["auth"],
        summary: "Create an account and a first device session",
        body: SignupBody,
        response: { 201: Session, ...errors(400, 409, 429) },
      },
    },
    async (req, reply) => {
      const handle = normalizeHandle(req.body.handle);
      const wait = ctx.signupLimiter.take(req.ip);
      if (wait > 0) {
        ctx.metrics.rateLimited.inc({ limit: "signup" });
        throw new NatterError("rate_limited", "too many attempts", { retryAfterMs: wait });
      }
      // Homed where they sign up (edge sites: the site's name is in the id).
      const userId = newId(homedPrefix("u", config.site));
      const user = {
        userId,
        handle,
        displayName: req.body.displayName.trim() || handle,
        createdAt: Date.now(),
      };
      const created = await store.createUser({ ...user, passwordHash: await hashPassword(req.body.password) });
      if (!created) throw new NatterError("handle_taken", "that handle is taken", { field: "handle" });
      // At an edge site, the hub's directory learns the user, so hub users can open chats
      // with them. Best effort: during a leaf outage the user is known at the site only.
      if (ctx.edge && config.site !== HUB_SITE) {
        await ctx.edge
          .call(HUB_SITE, { op: "user", user })
          .catch((err: unknown) =>
            req.log.warn(
              { err: String(err), userId },
              "the hub's directory did not take the user; known at this site only",
            ),
          );
      }
      reply.code(201);
      return openSession(userId, req.body.deviceName ?? "");
    },
  );

  app.post(
    "/v1/auth/login",
    {
      schema: {
        tags: ["auth"],
        summary: "Log in: a new device session and its token",
        body: LoginBody,
        response: {
          200: Session,
          ...errors(400, 401, [403, "account_disabled: an operator disabled the account"], 429),
        },
      },
    },
    async (req) => {
      const handle = normalizeHandle(req.body.handle);
      // Failures count per (handle, address), per address, and per handle only against
      // addresses that failed: nobody can lock the owner out (`LoginGuard`).
      const wait = ctx.loginGuard.check(handle, req.ip);
      if (wait > 0) {
        ctx.metrics.rateLimited.inc({ limit: "login" });
        throw new NatterError("rate_limited", "too many failed logins", { retryAfterMs: wait });
      }
      const user = await store.getUserByHandle(handle);
      // Hash even for an unknown handle, so timing does not reveal which handles exist.
      const ok = await verifyPassword(req.body.password, user?.passwordHash ?? DUMMY_HASH);
      if (!user || !ok) {
        ctx.loginGuard.failed(handle, req.ip);
        throw new NatterError("bad_credentials", "wrong handle or password");
      }
      // Told only to someone who knows the password, so it reveals nothing to a guesser.
      if (user.disabled) throw new NatterError("account_disabled", "this account is disabled");
      const session = await openSession(user.userId, req.body.deviceName ?? "");
      // An operator's disable racing this login: it either listed this session and revoked
      // it, or wrote its flag before this read (routes/admin/users.ts).
      if ((await store.getUser(user.userId))?.disabled) {
        await ctx.sessions.revoke(user.userId, [session.deviceId]);
        throw new NatterError("account_disabled", "this account is disabled");
      }
      return session;
    },
  );

  app.post(
    "/v1/auth/logout",
    {
      preHandler: app.requireAuth,
      schema: {
        tags: ["auth"],
        summary: "Revoke this device's session",
        security: [{ bearer: [] }],
        response: { 204: Type.Null(), ...errors(401) },
      },
    },
    async (req, reply) => {
      // Everywhere at once: this device's open sockets close (4001) on every gateway.
      await ctx.sessions.revoke(req.auth.userId, [req.auth.deviceId]);
      reply.code(204);
      return null;
    },
  );

  app.post(
    "/v1/auth/logout-others",
    {
      preHandler: app.requireAuth,
      schema: {
        tags: ["auth"],
        summary: "Log out my other devices: revoke every session of mine but this one, closing their sockets",
        security: [{ bearer: [] }],
        response: { 200: Type.Object({ revoked: Type.Integer({ minimum: 0 }) }), ...errors(401) },
      },
    },
    async (req) => {
      const revoked = await ctx.sessions.revokeAll(req.auth.userId, req.auth.deviceId);
      return { revoked: revoked.length };
    },
  );

  app.post(
    "/v1/auth/password",
    {
      preHandler: app.requireAuth,
      schema: {
        tags: ["auth"],
        summary: "Change my password (the current one is required); my other devices are logged out",
        security: [{ bearer: [] }],
        body: PasswordChangeBody,
        response: { 200: Type.Object({ revoked: Type.Integer({ minimum: 0 }) }), ...errors(400, 401, 429) },
      },
    },
    async (req) => {
      const { userId, deviceId } = req.auth;
      // A stolen token must not become a way to guess the password: the login limits apply.
      const wait = ctx.loginGuard.check(`user:${userId}`, req.ip);
      if (wait > 0) {
        ctx.metrics.rateLimited.inc({ limit: "password" });
        throw new NatterError("rate_limited", "too many failed attempts", { retryAfterMs: wait });
      }
      const user = await store.getUser(userId);
      if (!user || !(await verifyPassword(req.body.password, user.passwordHash))) {
        ctx.loginGuard.failed(`user:${userId}`, req.ip);
        throw new NatterError("bad_credentials", "the current password is wrong", { field: "password" });
      }
      await store.setPasswordHash(userId, await hashPassword(req.body.newPassword));
      const revoked = await ctx.sessions.revokeAll(userId, deviceId);
      return { revoked: revoked.length };
    },
  );

  app.get(
    "/v1/me",
    {
      preHandler: app.requireAuth,
      schema: {
        tags: ["auth"],
        summary: "Who am I",
        security: [{ bearer: [] }],
        response: { 200: UserView, ...errors(401) },
      },
    },
    async (req) => {
      const user = await store.getUser(req.auth.userId);
      if (!user) throw new NatterError("unauthorized", "the account no longer exists");
      return { userId: user.userId, handle: user.handle, displayName: user.displayName };
    },
  );

  app.get(
    "/v1/users",
    {
      preHandler: app.requireAuth,
      schema: {
        tags: ["users"],
        summary: "Find a user by handle",
        security: [{ bearer: [] }],
        querystring: Type.Object({ handle: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 200: UserView, ...errors(400, 401, 404, 429) },
      },
    },
    async (req) => {
      const wait = ctx.lookupLimiter.take(req.auth.userId);
      if (wait > 0) {
        ctx.metrics.rateLimited.inc({ limit: "lookup" });
        throw new NatterError("rate_limited", "too many look-ups", { retryAfterMs: wait });
      }
      const user = await store.getUserByHandle(normalizeHandle(req.query.handle));
      if (!user) throw new NatterError("not_found", "no user with that handle", { field: "handle" });
      return { userId: user.userId, handle: user.handle, displayName: user.displayName };
    },
  );

  app.get(
    "/v1/users/:userId",
    {
      preHandler: app.requireAuth,
      schema: {
        tags: ["users"],
        summary: "A user's public profile by id (handle and display name), e.g. for a chat's members",
        security: [{ bearer: [] }],
        params: UserParams,
        response: { 200: UserView, ...errors(400, 401, 404) },
      },
    },
    async (req) => {
      const user = await store.getUser(req.params.userId);
      if (!user) throw new NatterError("not_found", "no such user", { field: "userId" });
      return { userId: user.userId, handle: user.handle, displayName: user.displayName };
    },
  );
}
