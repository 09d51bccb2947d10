import { NatterError, normalizeHandle } from "@natter/protocol";
import type { User } from "@natter/store";
import { Type } from "typebox";
import type { GatewayContext } from "../../context.ts";
import { errors, UserParams } from "../../schemas.ts";
import type { App } from "../../server-types.ts";
import type { AdminRun } from "./guard.ts";
import { AdminUser, Disabled, FindUsersQuery, SessionList, UserPage } from "./schemas.ts";

const security = [{ bearer: [] }];
const tags = ["admin"];

/** A user as operators see it (`AdminUser`): never the password hash. */
function view(u: User) {
  return {
    userId: u.userId,
    handle: u.handle,
    displayName: u.displayName,
    createdAt: u.createdAt,
    disabled: u.disabled === true,
  };
}

/**
 * Users for operators: find by handle prefix or id, disable and enable an account (every
 * session ends at once), list and revoke a user's device sessions.
 */
export function adminUserRoutes(app: App, ctx: GatewayContext, run: AdminRun): void {
  const { store, sessions } = ctx;
  const auth = { preHandler: app.requireAuth };

  const existing = async (userId: string): Promise<User> => {
    const user = await store.getUser(userId);
    if (!user) throw new NatterError("not_found", "no such user", { field: "userId" });
    return user;
  };

  app.get(
    "/v1/admin/users",
    {
      ...auth,
      schema: {
        tags,
        security,
        summary: "Find users by handle prefix, in handle order, a page at a time",
        querystring: FindUsersQuery,
        response: { 200: UserPage, ...errors(400, 401, 403) },
      },
    },
    async (req) => {
      const prefix = normalizeHandle(req.query.handle);
      const limit = req.query.limit ?? 20;
      const after = req.query.after === undefined ? undefined : normalizeHandle(req.query.after);
      return run(
        req,
        "find-users",
        prefix,
        async () => {
          const users = await store.findUsers({ prefix, limit, ...(after === undefined ? {} : { after }) });
          const last = users.at(-1);
          return { users: users.map(view), ...(users.length === limit && last ? { next: last.handle } : {}) };
        },
        (r) => ({ found: r.users.length }),
      );
    },
  );

  app.get(
    "/v1/admin/users/:userId",
    {
      ...auth,
      schema: {
        tags,
        security,
        summary: "One user by id",
        params: UserParams,
        response: { 200: AdminUser, ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => run(req, "get-user", req.params.userId, async () => view(await existing(req.params.userId))),
  );

  app.post(
    "/v1/admin/users/:userId/disable",
    {
      ...auth,
      schema: {
        tags,
        security,
        summary:
          "Disable an account: it cannot log in (403 account_disabled) and every session ends at once (sockets close 4001 everywhere)",
        params: UserParams,
        response: {
          200: Disabled,
          ...errors([400, "invalid_input: an admin cannot disable their own account"], 401, 403, 404),
        },
      },
    },
    async (req) => {
      const target = req.params.userId;
      return run(
        req,
        "disable",
        target,
        async (admin) => {
          // Refused before anything is written: an admin locked out by their own hand needs another admin.
          if (target === admin.userId) {
            throw new NatterError("invalid_input", "you cannot disable your own account", { field: "userId" });
          }
          // The flag first: from then on a login is refused, and a login racing this call
          // either sees it or made its session before the list below, which revokes it.
          if (!(await store.setUserDisabled(target, true))) {
            throw new NatterError("not_found", "no such user", { field: "userId" });
          }
          const revoked = await sessions.revokeAll(target);
          return { userId: target, disabled: true, revoked: revoked.length };
        },
        (r) => ({ revoked: r.revoked }),
      );
    },
  );

  app.post(
    "/v1/admin/users/:userId/enable",
    {
      ...auth,
      schema: {
        tags,
        security,
        summary: "Enable a disabled account again: the user may log in (ended sessions stay ended)",
        params: UserParams,
        response: { 200: Disabled, ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const target = req.params.userId;
      return run(req, "enable", target, async () => {
        if (!(await store.setUserDisabled(target, false))) {
          throw new NatterError("not_found", "no such user", { field: "userId" });
        }
        return { userId: target, disabled: false, revoked: 0 };
      });
    },
  );

  app.get(
    "/v1/admin/users/:userId/sessions",
    {
      ...auth,
      schema: {
        tags,
        security,
        summary: "A user's device sessions (no tokens), with the user's presence",
        params: UserParams,
        response: { 200: SessionList, ...errors(400, 401, 403, 404, 503) },
      },
    },
    async (req) => {
      const target = req.params.userId;
      return run(
        req,
        "list-sessions",
        target,
        async () => {
          await existing(target);
          const [list, presence] = await Promise.all([
            store.listSessions(target),
            ctx.presence.read([target]).catch((err: unknown) => {
              // The PRESENCE bucket did not answer (NATS away): retry, as for any dependency.
              throw new NatterError("unavailable", "presence could not be read; retry", { cause: err });
            }),
          ]);
          const now = Date.now();
          const state = presence.get(target) ?? { online: false, lastSeen: 0 };
          return {
            userId: target,
            online: state.online,
            lastSeen: state.lastSeen,
            sessions: list
              .sort((a, b) => b.createdAt - a.createdAt)
              .map((s) => ({
                deviceId: s.deviceId,
                deviceName: s.deviceName,
                createdAt: s.createdAt,
                expiresAt: s.expiresAt,
                revoked: s.revoked,
                live: !s.revoked && s.expiresAt > now,
              })),
          };
        },
        (r) => ({ sessions: r.sessions.length }),
      );
    },
  );

  app.post(
    "/v1/admin/users/:userId/revoke-sessions",
    {
      ...auth,
      schema: {
        tags,
        security,
        summary: "Revoke every session of a user: their sockets close (4001) on every gateway at once",
        params: UserParams,
        response: { 200: Type.Object({ revoked: Type.Integer({ minimum: 0 }) }), ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const target = req.params.userId;
      return run(
        req,
        "revoke-sessions",
        target,
        async () => {
          await existing(target);
          return { revoked: (await sessions.revokeAll(target)).length };
        },
        (r) => ({ revoked: r.revoked }),
      );
    },
  );
}
