import { isNatterError, NatterError, normalizeHandle } from "@natter/protocol";
import type { User } from "@natter/store";
import type { GatewayContext } from "../../context.ts";

/** Runs one admin action for the caller of `req` and writes its audit line (`adminGuard`). */
export type AdminRun = <T>(
  req: { auth: { userId: string } },
  action: string,
  target: string,
  act: (admin: User) => Promise<T>,
  /** Fields of the result worth keeping in the audit line (counts, never secrets). */
  detail?: (result: T) => Record<string, unknown>,
) => Promise<T>;

/**
 * The operators' role and the audit trail, for every route under `/v1/admin`. An admin is
 * a user whose handle `NATTER_ADMINS` names (nobody when it is unset); anyone else gets
 * 403 `forbidden` and nothing is done. Every call that reaches a route's handler writes
 * exactly one info line on the `admin` logger: who (`admin`, or `caller` when refused),
 * `action`, `target` and `result` (`ok` or the error code), plus the action's counts.
 * Requests refused before the handler (a missing token: 401; malformed input: 400) are in
 * the HTTP log only: they named no admin and did nothing.
 */
export function adminGuard(ctx: GatewayContext): AdminRun {
  const admins = new Set((ctx.config.admins ?? []).map(normalizeHandle));
  const audit = ctx.logger.child({ component: "admin" });

  const requireAdmin = async (userId: string): Promise<User> => {
    const user = admins.size > 0 ? await ctx.store.getUser(userId) : undefined;
    if (!user || !admins.has(user.handle)) throw new NatterError("forbidden", "admins only");
    return user;
  };

  return async (req, action, target, act, detail) => {
    let admin: User | undefined;
    try {
      admin = await requireAdmin(req.auth.userId);
      const result = await act(admin);
      audit.info({ admin: admin.userId, action, target, result: "ok", ...detail?.(result) }, "admin action");
      return result;
    } catch (err) {
      const result = isNatterError(err) ? err.code : "internal";
      const who = admin ? { admin: admin.userId } : { caller: req.auth.userId };
      audit.info({ ...who, action, target, result }, "admin action");
      throw err;
    }
  };
}
