import type { Logger } from "@natter/config";
import type { SessionsRevokedSignal } from "@natter/protocol";
import type { PushStore, UserStore } from "@natter/store";
import { userSessionSubject } from "@natter/subjects";
import type { NatsConnection } from "@nats-io/transport-node";

/**
 * Ends device sessions everywhere at once. The store first: from then on every HTTP
 * request and new socket with those tokens is refused (`authenticate` reads the session).
 * Then one core NATS message on `user.<userId>.session`, which rides the user's inbox
 * subscription: every gateway holding a socket of that user hears it and closes the
 * revoked devices' sockets with 4001, within the message's flight time. A gateway that
 * was cut off from NATS at that moment re-checks its sockets' sessions when it reconnects
 * (`Realtime`), so none outlives its revocation for long.
 */
type SessionStore = Pick<UserStore, "revokeSession" | "listSessions"> &
  Pick<PushStore, "listPushSubscriptions" | "deletePushSubscription">;

export class Sessions {
  readonly #store: SessionStore;
  readonly #nc: NatsConnection;
  readonly #log: Logger;

  constructor(opts: { store: SessionStore; nc: NatsConnection; logger: Logger }) {
    this.#store = opts.store;
    this.#nc = opts.nc;
    this.#log = opts.logger;
  }

  /** Revokes these device sessions of the user and closes their sockets on every gateway. */
  async revoke(userId: string, deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length === 0) return;
    await Promise.all(deviceIds.map((d) => this.#store.revokeSession(userId, d)));
    const signal: SessionsRevokedSignal = { type: "sessions.revoked", user: userId, deviceIds: [...deviceIds] };
    this.#nc.publish(userSessionSubject(userId), JSON.stringify(signal));
    // Out before the caller answers: a client that logs out and then watches its socket sees it close.
    await this.#nc.flush();
    // Their browsers' push subscriptions go with them (v1.1). The push consumer also drops
    // any whose session has ended before it sends, so one missed here is never pushed to.
    const ended = new Set(deviceIds);
    const subs = (await this.#store.listPushSubscriptions(userId)).filter((s) => ended.has(s.deviceId));
    await Promise.all(subs.map((s) => this.#store.deletePushSubscription(userId, s.subscriptionId)));
    this.#log.info({ userId, devices: deviceIds.length, pushSubscriptions: subs.length }, "sessions revoked");
  }

  /** Revokes every live session of the user but `except` (a password change, "log out my other devices", an admin). */
  async revokeAll(userId: string, except?: string): Promise<string[]> {
    const now = Date.now();
    const live = (await this.#store.listSessions(userId))
      .filter((s) => !s.revoked && s.expiresAt > now && s.deviceId !== except)
      .map((s) => s.deviceId);
    await this.revoke(userId, live);
    return live;
  }
}
