import { setNewest } from "@natter/collections";
import { isUnavailable, NatterError } from "@natter/protocol";
import type { UserStore } from "@natter/store";
import type { AuthInfo } from "../context.ts";
import type { TokenSigner } from "./tokens.ts";

/** How long a session checked in the store may stand in for the store while it cannot be read. */
const STALE_OK_MS = 5 * 60_000;
/** Sessions remembered for that, at most (oldest dropped first). */
const REMEMBERED = 100_000;

/**
 * Checks bearer tokens: a valid signature and expiry, and a live device session in the
 * store (so a logout revokes at once). One 401 for every failure: a client learns only
 * that it must log in again.
 *
 * When the store cannot be read (Cassandra down), a session this gateway saw live in the
 * store within the last five minutes is taken as still live (stale-if-error), so signed-in
 * users keep sending through the outage (the stream, not the store, is the commit point).
 * A revocation cannot be recorded during the outage either, and one made in the minutes
 * before it may go unseen on a gateway that checked the session just before: that window
 * is the price, and it is stated in SECURITY.md.
 */
export class Authenticator {
  readonly #signer: TokenSigner;
  readonly #store: Pick<UserStore, "getSession">;
  /** `userId\ndeviceId` → when the store last said the session was live. */
  readonly #seen = new Map<string, number>();

  constructor(signer: TokenSigner, store: Pick<UserStore, "getSession">) {
    this.#signer = signer;
    this.#store = store;
  }

  async authenticate(token: string | undefined): Promise<AuthInfo> {
    const claims = token ? this.#signer.verify(token) : undefined;
    if (!claims) throw unauthorized();
    const key = `${claims.userId}\n${claims.deviceId}`;
    let session;
    try {
      session = await this.#store.getSession(claims.userId, claims.deviceId);
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      const seen = this.#seen.get(key);
      if (seen !== undefined && Date.now() - seen < STALE_OK_MS) {
        return { userId: claims.userId, deviceId: claims.deviceId, expiresAt: claims.expiresAt };
      }
      throw err;
    }
    if (!session || session.revoked || session.expiresAt <= Date.now()) {
      this.#seen.delete(key);
      throw unauthorized();
    }
    setNewest(this.#seen, key, Date.now(), REMEMBERED);
    return {
      userId: claims.userId,
      deviceId: claims.deviceId,
      expiresAt: Math.min(session.expiresAt, claims.expiresAt),
    };
  }
}

function unauthorized(): NatterError {
  return new NatterError("unauthorized", "missing, invalid, expired or revoked token");
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearer(header: string | undefined): string | undefined {
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return m?.[1];
}
