/**
 * What a client can read from its own access token without the server. A token is
 * `v1.<key id>.<payload>.<signature>` (or `v1.<payload>.<signature>`, the gateway's key
 * `default`) with the payload `{u: userId, d: deviceId, exp: ms}` in
 * base64url JSON (`gateway/src/auth/tokens.ts` signs it). Only the server can verify the
 * signature; the client reads the claims to know its user before `connect()`, and the
 * `ready` frame confirms them.
 */
export interface TokenClaims {
  userId: string;
  deviceId: string;
  expiresAt: number;
}

/** The claims of a token's payload, or undefined for a token of another shape. Not a verification. */
export function tokenClaims(token: string): TokenClaims | undefined {
  const parts = token.split(".");
  if ((parts.length !== 3 && parts.length !== 4) || parts[0] !== "v1") return undefined;
  try {
    const b64 = parts[parts.length - 2]!.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    const bytes = Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
    const c = JSON.parse(new TextDecoder().decode(bytes)) as { u?: unknown; d?: unknown; exp?: unknown };
    if (typeof c.u !== "string" || typeof c.d !== "string" || typeof c.exp !== "number") return undefined;
    return { userId: c.u, deviceId: c.d, expiresAt: c.exp };
  } catch {
    return undefined;
  }
}
