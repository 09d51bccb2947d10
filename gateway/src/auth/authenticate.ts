import { NatterError } from "@natter/protocol";
import type { Store } from "@natter/store";
import type { AuthInfo } from "../context.ts";
import type { TokenSigner } from "./tokens.ts";

/**
 * Checks a bearer token: a valid signature and expiry, and a live device session in the
 * store (so logout revokes at once). One 401 for every failure: a client learns only
 * that it must log in again.
 */
export async function authenticate(signer: TokenSigner, store: Store, token: string | undefined): Promise<AuthInfo> {
  const claims = token ? signer.verify(token) : undefined;
  if (claims) {
    const session = await store.getSession(claims.userId, claims.deviceId);
    if (session && !session.revoked && session.expiresAt > Date.now()) {
      return {
        userId: claims.userId,
        deviceId: claims.deviceId,
        expiresAt: Math.min(session.expiresAt, claims.expiresAt),
      };
    }
  }
  throw new NatterError("unauthorized", "missing, invalid, expired or revoked token");
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearer(header: string | undefined): string | undefined {
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return m?.[1];
}
