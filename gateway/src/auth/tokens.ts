import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Access tokens: `v1.<kid>.<payload b64url>.<HMAC-SHA256 b64url>`, the MAC taken with the
 * key `kid` over `<kid>.<payload>`, where the payload is `{u: userId, d: deviceId, exp: ms}`.
 * The signature makes a token unforgeable; the device session in the store makes it
 * revocable (logout), so both are checked.
 *
 * A gateway accepts several keys and signs with one, so a key is rotated without logging
 * anyone out (SECURITY.md). The key `default` (`NATTER_TOKEN_SECRET`) signs in the form
 * without a key id, `v1.<payload>.<mac>`, the one gateways read before key ids: such a
 * token is the key `default`'s, so upgrading (even gateway by gateway) logs nobody out.
 */
export interface TokenClaims {
  userId: string;
  deviceId: string;
  expiresAt: number;
}

/** The key id of the form without one. */
export const DEFAULT_KEY_ID = "default";

export interface TokenSignerOptions {
  /** Accepted keys, id → secret. */
  keys: Map<string, string> | Record<string, string>;
  /** The id of the key that signs new tokens; one of `keys`. */
  signingKey: string;
  /**
   * Told of a well-formed token signed with a key id this signer does not hold (the id
   * only, and only when it looks like one), so the caller can warn: a gateway behind the
   * others in a rotation, or a key removed too early.
   */
  onUnknownKey?: (kid: string) => void;
}

const KID = /^[A-Za-z0-9_-]{1,64}$/;

export class TokenSigner {
  readonly #keys: Map<string, string>;
  readonly #signingKey: string;
  readonly #onUnknownKey: ((kid: string) => void) | undefined;

  /** A secret alone is the key `default`, which signs. */
  constructor(opts: string | TokenSignerOptions) {
    const o: TokenSignerOptions =
      typeof opts === "string" ? { keys: { [DEFAULT_KEY_ID]: opts }, signingKey: DEFAULT_KEY_ID } : opts;
    this.#keys = o.keys instanceof Map ? new Map(o.keys) : new Map(Object.entries(o.keys));
    if (!this.#keys.has(o.signingKey)) throw new Error(`the signing token key ${o.signingKey} is not among the keys`);
    this.#signingKey = o.signingKey;
    this.#onUnknownKey = o.onUnknownKey;
  }

  /** The id of the key that signs. */
  get signingKey(): string {
    return this.#signingKey;
  }

  sign(claims: TokenClaims): string {
    const payload = Buffer.from(
      JSON.stringify({ u: claims.userId, d: claims.deviceId, exp: claims.expiresAt }),
    ).toString("base64url");
    const kid = this.#signingKey;
    const secret = this.#keys.get(kid) as string;
    if (kid === DEFAULT_KEY_ID) return `v1.${payload}.${mac(secret, payload)}`;
    return `v1.${kid}.${payload}.${mac(secret, `${kid}.${payload}`)}`;
  }

  /** The claims of a well-signed, unexpired token; undefined otherwise. */
  verify(token: string, now = Date.now()): TokenClaims | undefined {
    const parts = token.split(".");
    if (parts[0] !== "v1" || (parts.length !== 3 && parts.length !== 4)) return undefined;
    const kid = parts.length === 4 ? (parts[1] as string) : DEFAULT_KEY_ID;
    const payload = parts[parts.length - 2] as string;
    const got = Buffer.from(parts[parts.length - 1] as string);
    const secret = this.#keys.get(kid);
    if (secret === undefined) {
      if (KID.test(kid)) this.#onUnknownKey?.(kid);
      return undefined;
    }
    const want = Buffer.from(mac(secret, parts.length === 4 ? `${kid}.${payload}` : payload));
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
}

function mac(secret: string, data: string): string {
  return createHmac("sha256", secret).update(data).digest("base64url");
}

/**
 * A warning for tokens signed with unknown key ids, at most one a minute (default), with
 * how many arrived since the last and which ids (a few); never the token itself.
 */
export function unknownKeyWarner(
  warn: (fields: Record<string, unknown>, msg: string) => void,
  everyMs = 60_000,
  now: () => number = Date.now,
): (kid: string) => void {
  let last = -Infinity;
  let count = 0;
  const kids = new Set<string>();
  return (kid) => {
    count++;
    if (kids.size < 5) kids.add(kid);
    const t = now();
    if (t - last < everyMs) return;
    last = t;
    warn(
      { kids: [...kids], tokens: count },
      "tokens signed with an unknown key id were refused (a key removed too early, or this gateway's NATTER_TOKEN_KEYS behind the other gateways'?)",
    );
    count = 0;
    kids.clear();
  };
}
