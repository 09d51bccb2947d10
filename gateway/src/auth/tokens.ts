import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Access tokens: `v1.<payload b64url>.<HMAC-SHA256 b64url>` where the payload is
 * `{u: userId, d: deviceId, exp: ms}`. The signature makes a token unforgeable; the
 * device session in the store makes it revocable (logout), so both are checked.
 */
export interface TokenClaims {
  userId: string;
  deviceId: string;
  expiresAt: number;
}

export class TokenSigner {
  readonly #secret: string;
  constructor(secret: string) {
    this.#secret = secret;
  }

  sign(claims: TokenClaims): string {
    const payload = Buffer.from(
      JSON.stringify({ u: claims.userId, d: claims.deviceId, exp: claims.expiresAt }),
    ).toString("base64url");
    return `v1.${payload}.${this.#mac(payload)}`;
  }

  /** The claims of a well-signed, unexpired token; undefined otherwise. */
  verify(token: string, now = Date.now()): TokenClaims | undefined {
    const parts = token.split(".");
    if (parts.length !== 3 || parts[0] !== "v1") return undefined;
    const [, payload, mac] = parts as [string, string, string];
    const want = Buffer.from(this.#mac(payload));
    const got = Buffer.from(mac);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    try {
      const c = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as {
        u?: unknown;
        d?: unknown;
        exp?: unknown;
      };
      if (typeof c.u !== "string" || typeof c.d !== "string" || typeof c.exp !== "number") return undefined;
      if (c.exp <= now) return undefined;
      return { userId: c.u, deviceId: c.d, expiresAt: c.exp };
    } catch {
      return undefined;
    }
  }

  #mac(payload: string): string {
    return createHmac("sha256", this.#secret).update(payload).digest("base64url");
  }
}
