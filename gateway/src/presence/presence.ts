import { randomBytes } from "node:crypto";
import type { Logger } from "@natter/config";
import { isNoResults } from "@natter/bus";
import type { PresenceFrame } from "@natter/protocol";
import { waitFor } from "@natter/runtime";
import { isSafeId, PRESENCE_BUCKET, PRESENCE_KEYS, presenceKeySubject, presenceSubject } from "@natter/subjects";
import type { JetStreamClient, JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { type KV, type KvWatchEntry, KvWatchInclude, Kvm } from "@nats-io/kv";
import { Empty, headers, type NatsConnection, type QueuedIterator } from "@nats-io/transport-node";
import type { GatewayMetrics } from "../metrics.ts";
import { StreamAcks } from "./stream-acks.ts";
import { atWindowEnd } from "../ws/turn.ts";

export interface PresenceOptions {
  /** This gateway's id in the bucket; `auto` for a fresh random one. */
  gatewayId: string;
  /** Lease TTL: heartbeats every third of it; a gateway that stops beating is swept after it. */
  ttlMs: number;
  /** A user counts as online only once connected this long (and is announced then). */
  onlineDelayMs: number;
  replicas: number;
}

export interface PresenceState {
  online: boolean;
  lastSeen: number;
}

interface LocalUser {
  devices: number;
  since: number;
}

interface Snapshot {
  /** Per user: the `since` of each connection key, by gateway. */
  conns: Map<string, Map<string, number>>;
  seen: Map<string, number>;
}

/** A KV delete: the key's subject with this header and no data (what `kv.delete` publishes). */
const DELETE = headers();
DELETE.set("KV-Operation", "DEL");

/** Users per batch direct get (two subjects each). */
const READ_CHUNK = 100;
const SWEEP_CONCURRENCY = 32;

/**
 * Presence over the `PRESENCE` KV bucket (see `subjects.md`):
 *
 * - A user is online while at least one device is connected to any gateway. The gateway
 *   holding the user's devices writes `conn.<userId>.<gatewayId>` when the first one
 *   connects and deletes it when the last one leaves; last seen goes to `seen.<userId>`.
 * - Liveness is per gateway, not per user: each gateway beats `lease.<gatewayId>` every
 *   third of the TTL, written with a per-message TTL (`Nats-TTL`, nats-server ≥ 2.11). A
 *   connection key counts only while its gateway's lease lives, so reads treat a crashed
 *   gateway's users as offline as soon as its lease lapses, and heartbeats cost one write
 *   per gateway instead of one per user.
 * - Lapses are seen, not polled: the bucket has `subject_delete_marker_ttl` (KV
 *   `markerTTL`), so when a lease's TTL runs out the server writes a delete marker, which
 *   every gateway's watch on `lease.*` receives. Each surviving gateway then sweeps the dead
 *   one's `conn.*.<gatewayId>` keys with compare-and-delete (one gateway wins each key),
 *   and the winner announces that user offline if no other live connection is left. A
 *   gateway that starts sweeps the registered (`gateway.<id>`) gateways without a lease.
 * - Going online is announced `onlineDelayMs` after the user's first device connected here,
 *   if it is still connected (reads agree: a connection younger than that does not count),
 *   so brief reconnects do not flap. Going offline is announced at once when the user's last
 *   device anywhere leaves, or by the sweeper when the TTL lapses.
 * - Changes are core NATS messages on `presence.<userId>` (the `presence` frame itself),
 *   which only gateways with a socket watching the user subscribe to.
 */
export class Presence {
  readonly gatewayId: string;
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #log: Logger;
  readonly #metrics: GatewayMetrics;
  readonly #opts: PresenceOptions;
  readonly #local = new Map<string, LocalUser>();
  /** Gateways whose lease lives, with their last beat (ms). */
  readonly #leases = new Map<string, number>();
  readonly #pending = new Set<Promise<unknown>>();
  /**
   * Connection-key writes of this batching window (`ws/turn.ts`), in order, published
   * together at its end: a burst of connects (a reconnect storm) leaves in one write to the
   * server rather than one per socket. Puts and deletes share the queue and are published
   * in it synchronously, so a user's are in order; a user who left and came back within
   * one window is not deleted at all (`#leave`).
   */
  #queued: (() => Promise<unknown>)[] | undefined;
  /** Users whose last device here left in this window (one `#leave` for all of them). */
  #leaving: { userId: string; leftAt: number }[] | undefined;
  /**
   * Users waiting for their online announcement, in the order they connected (so in the
   * order they are due: the delay is the same for all), from `#dueFrom` on. One timer for
   * all of them, rather than a Timeout per user: announcements due together leave together.
   */
  #due: { userId: string; user: LocalUser }[] = [];
  #dueFrom = 0;
  #dueTimer: NodeJS.Timeout | undefined;
  #kv: KV | undefined;
  /** The connection-key and last-seen writes, acknowledged on one subscription (`StreamAcks`). */
  #acks: StreamAcks | undefined;
  #watch: QueuedIterator<KvWatchEntry> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #lost = false;
  #closed = false;

  constructor(opts: {
    nc: NatsConnection;
    js: JetStreamClient;
    jsm: JetStreamManager;
    logger: Logger;
    metrics: GatewayMetrics;
    options: PresenceOptions;
  }) {
    this.#nc = opts.nc;
    this.#js = opts.js;
    this.#jsm = opts.jsm;
    this.#log = opts.logger;
    this.#metrics = opts.metrics;
    this.#opts = opts.options;
    this.gatewayId =
      opts.options.gatewayId === "auto" ? `gw_${randomBytes(6).toString("base64url")}` : opts.options.gatewayId;
    if (!isSafeId(this.gatewayId)) throw new Error(`NATTER_GATEWAY_ID must be [A-Za-z0-9_-]{1,64} or auto`);
  }

  /** Opens (or creates) the bucket, beats the lease, registers, watches leases and sweeps dead gateways. */
  async start(): Promise<void> {
    const kvm = new Kvm(this.#nc);
    const config = { history: 1, markerTTL: this.#opts.ttlMs, replicas: this.#opts.replicas, storage: "file" as const };
    try {
      this.#kv = await kvm.create(PRESENCE_BUCKET, config);
    } catch (err) {
      // Created by another gateway with other settings (e.g. another TTL): use it as it is.
      this.#log.warn({ err: String(err) }, "presence bucket exists with other settings; opening it as it is");
      this.#kv = await kvm.open(PRESENCE_BUCKET);
    }
    // A bucket another gateway created a moment ago (replicated, on a fresh cluster) may
    // answer no read, write or watch until its replicas and leader are up: wait with a log
    // line, as for JetStream, instead of crashing (gateways started together).
    const kv = this.#kv;
    this.#acks = new StreamAcks(this.#nc, this.#log);
    const bucket = "the presence bucket";
    // Registered before this start only when a fixed NATTER_GATEWAY_ID is restarted (an
    // `auto` id is new every time): read before this start registers it.
    const registeredBefore =
      (await waitFor(bucket, this.#log, () => kv.get(PRESENCE_KEYS.gateway(this.gatewayId))))?.operation === "PUT";
    await this.#beat();
    await waitFor(bucket, this.#log, () =>
      kv.put(PRESENCE_KEYS.gateway(this.gatewayId), JSON.stringify({ at: Date.now() })),
    );
    this.#watch = await waitFor(bucket, this.#log, () =>
      kv.watch({ key: "lease.*", include: KvWatchInclude.UpdatesOnly }),
    );
    void this.#followLeases(this.#watch);
    // Live leases and registered gateways at one point in time; updates after it come from the watch.
    const now = await this.#lastFor([presenceKeySubject("lease.*"), presenceKeySubject("gateway.*")]);
    const registered: string[] = [];
    for (const m of now) {
      const [, , kind, gw] = m.subject.split(".");
      if (!gw || !isPut(m)) continue;
      if (kind === "lease") this.#leases.set(gw, beatOf(m) ?? Date.now());
      else if (kind === "gateway") registered.push(gw);
    }
    this.#leases.set(this.gatewayId, Date.now());
    // A fixed NATTER_GATEWAY_ID restarted after a crash: its previous life's users are gone.
    // A gateway never sweeps itself otherwise (its own registration is in `registered`).
    if (registeredBefore) await this.#sweep(this.gatewayId, Date.now(), false);
    for (const gw of registered)
      if (gw !== this.gatewayId && !this.#leases.has(gw)) this.#track(this.#sweep(gw, Date.now()));
    this.#heartbeat = setInterval(() => void this.#beat(), Math.max(100, Math.floor(this.#opts.ttlMs / 3)));
  }

  /** A device of `userId` authenticated on this gateway. */
  connect(userId: string): void {
    const u = this.#local.get(userId);
    if (u) {
      u.devices++;
      return;
    }
    const fresh: LocalUser = { devices: 1, since: Date.now() };
    this.#local.set(userId, fresh);
    this.#metrics.presenceUsers.set(this.#local.size);
    this.#later(async () => this.#publishConn(userId, fresh.since));
    this.#due.push({ userId, user: fresh });
    this.#dueTimer ??= setTimeout(() => this.#announceDue(), this.#opts.onlineDelayMs);
  }

  /** Announces online the users connected `onlineDelayMs` ago and still here (the same connection). */
  #announceDue(): void {
    this.#dueTimer = undefined;
    if (this.#closed) return;
    const now = Date.now();
    const due = this.#due;
    let i = this.#dueFrom;
    for (; i < due.length; i++) {
      const { userId, user } = due[i]!;
      if (now - user.since < this.#opts.onlineDelayMs) break;
      if (this.#local.get(userId) === user) this.#announce(userId, true, now);
    }
    if (i === due.length) {
      this.#due = [];
      this.#dueFrom = 0;
      return;
    }
    if (i > 1024 && i * 2 > due.length) {
      this.#due = due.slice(i);
      this.#dueFrom = 0;
    } else {
      this.#dueFrom = i;
    }
    const next = this.#due[this.#dueFrom]!.user.since + this.#opts.onlineDelayMs - now;
    this.#dueTimer = setTimeout(() => this.#announceDue(), Math.max(1, next));
  }

  /** A device of `userId` left this gateway; with the user's last one here, the user may be offline. */
  disconnect(userId: string): void {
    const u = this.#local.get(userId);
    if (!u || --u.devices > 0) return;
    this.#local.delete(userId);
    this.#metrics.presenceUsers.set(this.#local.size);
    const leftAt = Date.now();
    if (!this.#leaving) {
      const leaving: { userId: string; leftAt: number }[] = [];
      this.#leaving = leaving;
      this.#later(() => this.#leave(leaving));
    }
    this.#leaving.push({ userId, leftAt });
  }

  /**
   * The users whose last device here left in one window: their connection keys deleted, then
   * one snapshot for all of them (a batch direct get per 100 users, not a read per user),
   * then last seen and the offline announcement for those left with no live connection.
   */
  async #leave(all: { userId: string; leftAt: number }[]): Promise<void> {
    if (this.#leaving === all) this.#leaving = undefined;
    // A user back here by now (a socket that reconnected within the window) keeps the key:
    // the put of the new connection, queued after this, is its value.
    const leaving = all.filter(({ userId }) => !this.#local.has(userId));
    const deleted = await this.#acks!.write(
      leaving.map(({ userId }) => ({
        subject: presenceKeySubject(PRESENCE_KEYS.conn(userId, this.gatewayId)),
        data: Empty,
        headers: DELETE,
      })),
    );
    const gone = leaving.filter((_, i) => {
      const err = deleted[i];
      if (err !== undefined) this.#log.warn({ err }, "presence update failed");
      return err === undefined;
    });
    await this.#settleOffline(gone);
  }

  /**
   * Presence of each user (all of them, in no particular order): online when a connection
   * key of a gateway with a live lease is at least `onlineDelayMs` old; `lastSeen` is now for
   * an online user, else the time the last device left (0 if never seen).
   */
  async read(users: string[]): Promise<Map<string, PresenceState>> {
    const snap = await this.#snapshot(users);
    const now = Date.now();
    const out = new Map<string, PresenceState>();
    for (const u of users) {
      const since = this.#liveSince(snap.conns.get(u));
      const online = since !== undefined && now - since >= this.#opts.onlineDelayMs;
      out.set(u, { online, lastSeen: online ? now : (snap.seen.get(u) ?? 0) });
    }
    return out;
  }

  /** Users with a device on this gateway. */
  get localUsers(): number {
    return this.#local.size;
  }

  /**
   * Graceful stop, after the sockets closed: waits for their presence writes, then drops the
   * lease and the registration, so nobody sweeps this gateway.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#dueTimer);
    this.#dueTimer = undefined;
    this.#due = [];
    this.#runQueued();
    await Promise.allSettled([...this.#pending]);
    this.#watch?.stop();
    this.#acks?.close();
    if (!this.#kv || this.#nc.isClosed()) return;
    await Promise.allSettled([
      this.#kv.purge(PRESENCE_KEYS.lease(this.gatewayId)),
      this.#kv.purge(PRESENCE_KEYS.gateway(this.gatewayId)),
    ]);
  }

  // ------------------------------------------------------------------ internals

  /** Starts `write` at the end of this batching window, after the writes queued before it. */
  #later(write: () => Promise<unknown>): void {
    if (!this.#queued) {
      this.#queued = [];
      atWindowEnd(() => this.#runQueued());
    }
    this.#queued.push(write);
  }

  #runQueued(): void {
    const queued = this.#queued ?? [];
    this.#queued = undefined;
    for (const write of queued) this.#track(write());
  }

  #track(p: Promise<unknown>): void {
    const tracked = p.catch((err: unknown) => this.#log.warn({ err: String(err) }, "presence update failed"));
    this.#pending.add(tracked);
    void tracked.finally(() => this.#pending.delete(tracked));
  }

  /** A connect's connection key; its ack is not waited for (see `#later` for the order with deletes). */
  #publishConn(userId: string, since: number): void {
    this.#acks!.send({
      subject: presenceKeySubject(PRESENCE_KEYS.conn(userId, this.gatewayId)),
      data: JSON.stringify({ since }),
    });
  }

  async #putConn(userId: string, since: number): Promise<void> {
    await this.#kv!.put(PRESENCE_KEYS.conn(userId, this.gatewayId), JSON.stringify({ since }));
  }

  /** The lease, with a per-message TTL: the server deletes it (and leaves a marker) if beats stop. */
  async #beat(): Promise<void> {
    if (this.#closed) return;
    const h = headers();
    h.set("Nats-TTL", `${Math.max(1, Math.ceil(this.#opts.ttlMs / 1000))}s`);
    try {
      await this.#js.publish(
        presenceKeySubject(PRESENCE_KEYS.lease(this.gatewayId)),
        JSON.stringify({ at: Date.now() }),
        { headers: h },
      );
      this.#metrics.presenceWrites.inc({ key: "lease" });
      if (this.#lost) {
        this.#lost = false;
        this.#track(this.#reregister());
      }
    } catch (err) {
      if (!this.#lost) this.#log.warn({ err: String(err) }, "presence heartbeat failed");
      this.#lost = true;
    }
  }

  /** The lease lapsed while this gateway lived (a long NATS outage): others may have swept its users. */
  async #reregister(): Promise<void> {
    this.#log.warn({ gatewayId: this.gatewayId }, "presence lease had lapsed; registering every local user again");
    await this.#kv!.put(PRESENCE_KEYS.gateway(this.gatewayId), JSON.stringify({ at: Date.now() }));
    const now = Date.now();
    for (const [userId, u] of this.#local) {
      await this.#putConn(userId, u.since);
      if (now - u.since >= this.#opts.onlineDelayMs) this.#announce(userId, true, now);
    }
  }

  async #followLeases(watch: QueuedIterator<KvWatchEntry>): Promise<void> {
    try {
      for await (const e of watch) {
        const gw = e.key.slice("lease.".length);
        if (e.operation === "PUT") {
          this.#leases.set(gw, e.created.getTime());
          continue;
        }
        const last = this.#leases.get(gw) ?? Date.now();
        this.#leases.delete(gw);
        if (this.#closed) continue;
        if (gw === this.gatewayId) {
          this.#leases.set(gw, Date.now());
          this.#track(this.#reregister());
        } else {
          this.#track(this.#sweep(gw, last));
        }
      }
    } catch (err) {
      if (!this.#closed) this.#log.error({ err: String(err) }, "presence lease watch ended");
    }
  }

  /**
   * Removes a dead gateway's connection keys. Compare-and-delete makes exactly one sweeper
   * win each key; the winner announces the user offline (last seen: the dead gateway's last
   * beat) unless a live connection elsewhere remains.
   */
  async #sweep(gw: string, lastBeat: number, unregister = true): Promise<void> {
    const kv = this.#kv!;
    const keys: string[] = [];
    for await (const k of await kv.keys(PRESENCE_KEYS.connsOn(gw))) keys.push(k);
    this.#metrics.presenceSweeps.inc();
    if (gw === this.gatewayId) {
      if (keys.length)
        this.#log.info(
          { gateway: gw, users: keys.length },
          "restarted with the same gateway id; clearing its previous users",
        );
    } else this.#log.info({ gateway: gw, users: keys.length }, "presence lease lapsed; sweeping its users");
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        const e = await kv.get(key);
        if (!e || e.operation !== "PUT") continue;
        try {
          await kv.delete(key, { previousSeq: e.revision });
        } catch {
          continue; // another gateway swept it first
        }
        await this.#settleOffline([{ userId: key.split(".")[1]!, leftAt: lastBeat }]);
      }
    };
    await Promise.all(Array.from({ length: SWEEP_CONCURRENCY }, worker));
    if (unregister) await kv.purge(PRESENCE_KEYS.gateway(gw));
  }

  /** Users left a gateway: for each, unless a live connection remains, record last seen and announce offline. */
  async #settleOffline(left: readonly { userId: string; leftAt: number }[]): Promise<void> {
    const users = left.filter((u) => !this.#local.has(u.userId));
    if (users.length === 0) return;
    const snap = await this.#snapshot(
      users.map((u) => u.userId),
      false,
    );
    const offline = users.filter(
      ({ userId }) => this.#liveSince(snap.conns.get(userId)) === undefined && !this.#local.has(userId),
    );
    const written = await this.#acks!.write(
      offline.map(({ userId, leftAt }) => ({
        subject: presenceKeySubject(PRESENCE_KEYS.seen(userId)),
        data: JSON.stringify({ lastSeen: leftAt }),
      })),
    );
    offline.forEach(({ userId, leftAt }, i) => {
      const err = written[i];
      if (err !== undefined) {
        this.#log.warn({ err }, "presence update failed");
        return;
      }
      this.#metrics.presenceWrites.inc({ key: "seen" });
      this.#announce(userId, false, leftAt);
    });
  }

  /** The oldest `since` among the user's connections on gateways with a live lease. */
  #liveSince(conns: Map<string, number> | undefined): number | undefined {
    let since: number | undefined;
    for (const [gw, s] of conns ?? []) {
      if (gw !== this.gatewayId && !this.#leases.has(gw)) continue;
      if (since === undefined || s < since) since = s;
    }
    return since;
  }

  #announce(userId: string, online: boolean, lastSeen: number): void {
    if (this.#nc.isClosed()) return;
    const frame: PresenceFrame = { type: "presence", user: userId, online, lastSeen };
    this.#nc.publish(presenceSubject(userId), JSON.stringify(frame));
    this.#metrics.presenceAnnounced.inc({ online: String(online) });
  }

  /** The users' connection keys (and last seen) in batch direct gets (`multi_last`, nats-server ≥ 2.11). */
  async #snapshot(users: string[], withSeen = true): Promise<Snapshot> {
    const snap: Snapshot = { conns: new Map(), seen: new Map() };
    for (let i = 0; i < users.length; i += READ_CHUNK) {
      const chunk = users.slice(i, i + READ_CHUNK);
      const subjects = chunk.flatMap((u) => [
        presenceKeySubject(PRESENCE_KEYS.connsOf(u)),
        ...(withSeen ? [presenceKeySubject(PRESENCE_KEYS.seen(u))] : []),
      ]);
      for (const m of await this.#lastFor(subjects)) {
        if (!isPut(m)) continue;
        // $KV.PRESENCE.conn.<user>.<gw> | $KV.PRESENCE.seen.<user>
        const [, , kind, user, gw] = m.subject.split(".");
        if (!user) continue;
        try {
          if (kind === "conn" && gw) {
            const { since } = m.json<{ since: number }>();
            let c = snap.conns.get(user);
            if (!c) snap.conns.set(user, (c = new Map()));
            c.set(gw, since);
          } else if (kind === "seen") {
            snap.seen.set(user, m.json<{ lastSeen: number }>().lastSeen);
          }
        } catch {
          // A value this version does not understand: ignore the key.
        }
      }
    }
    this.#metrics.presenceReads.inc();
    return snap;
  }

  /** The last message of each subject matching `subjects`; none is an empty list, not an error. */
  async #lastFor(subjects: string[]): Promise<StoredMsg[]> {
    const out: StoredMsg[] = [];
    try {
      const it = await this.#jsm.direct.getLastMessagesFor(`KV_${PRESENCE_BUCKET}`, { multi_last: subjects });
      for await (const m of it) out.push(m);
    } catch (err) {
      if (!isNoResults(err)) throw err;
    }
    return out;
  }
}

function isPut(m: StoredMsg): boolean {
  const op = m.header?.get("KV-Operation");
  return !op || op === "PUT";
}

function beatOf(m: StoredMsg): number | undefined {
  try {
    return m.json<{ at: number }>().at;
  } catch {
    return undefined;
  }
}
