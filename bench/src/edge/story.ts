import type { ChatEvent, EventFrame } from "@natter/protocol";
import { createStore, type Store } from "@natter/store";
import { type EdgeDeployment, type EdgeDomain, LIFTED_RATE_LIMITS, startEdge, WsClient } from "@natter/testkit";
import { api } from "../http.ts";

/**
 * The scripted story of `npm run edge` (README "Edge sites"): a hub and one edge site as
 * real nats-server leaf nodes, the leaf link through a TCP proxy, a gateway and a consumers
 * process per domain, two users at each. Three chats: `cross` (a hub user and a site user,
 * homed at the hub), `site` (two site users, homed at the site), `hub` (two hub users).
 *
 * Phases: `linked` (everyone sends), `cut` (the link cut: the site's own chat and the hub's
 * go on; the site user's sends to `cross` are refused with `home_unreachable` and kept
 * pending, as the SDK keeps them), `site-restart` (the site's nats-server killed and
 * restarted while cut), `restored` (the link back: pending sends go out with the same ids,
 * everyone sends again). Then every device syncs and every message is checked on every
 * member's device and in every store holding its chat: lost, duplicated, out of order.
 */

export interface PhaseRow {
  phase: string;
  /** Messages answered `sent` (their first attempt in this phase). */
  sent: number;
  /** Of those, sends refused with `home_unreachable` first and sent after the link returned. */
  retried: number;
  /** (message, member device) pairs delivered live before the phase ended, of all such pairs. */
  deliveredLive: number;
  deliveries: number;
  /** Messages missing on a member's device or in a store holding the chat, after reconciling. */
  lost: number;
  /** Messages seen twice (two n, or one n twice) anywhere. */
  duplicated: number;
  /** Messages at a different n on some device or store than at their home, or arriving out of n order. */
  outOfOrder: number;
  /** From the phase's end (for phases during the cut: the link's return) until every copy was complete, ms. */
  reconcileMs: number;
}

export interface StoryOptions {
  /** Messages each sender sends per chat per phase. */
  messages: number;
  log?: (line: string) => void;
}

interface User {
  name: string;
  domain: EdgeDomain;
  userId: string;
  token: string;
  device: Device;
}

interface Sent {
  phase: string;
  chat: string;
  from: User;
  id: string;
  n?: number;
  retried: boolean;
}

/** A user's device: a socket, reopened (resuming from what it holds) when the gateway closes it. */
class Device {
  readonly sockets: WsClient[] = [];
  readonly held = new Map<string, number>();
  readonly name: string;
  readonly url: string;
  readonly token: string;
  constructor(name: string, url: string, token: string) {
    this.name = name;
    this.url = url;
    this.token = token;
  }

  async open(): Promise<void> {
    this.sockets.push(await WsClient.connect(this.url, this.token, { name: this.name, held: this.held }));
  }

  get socket(): WsClient {
    return this.sockets.at(-1)!;
  }

  /** Every event it received, over all its sockets, in arrival order. */
  events(): EventFrame[] {
    return this.sockets.flatMap((s) => s.events);
  }

  violations(): string[] {
    return this.sockets.flatMap((s) => s.violations);
  }

  /** Reopens if closed, then syncs from what it holds. */
  async catchUp(): Promise<void> {
    if (this.socket.closeCode !== undefined) await this.open();
    else await this.socket.sync(30_000);
  }

  async close(): Promise<void> {
    await Promise.all(this.sockets.map((s) => s.close()));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 100 ms until true, or throws after `ms`. */
async function until(what: string, ms: number, check: () => Promise<boolean> | boolean): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** How many leaf connections a server has (its monitor's `/leafz`). */
async function leafs(domain: EdgeDomain): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${domain.nats.monitorPort}/leafz`).catch(() => undefined);
  if (!r?.ok) return -1;
  return ((await r.json()) as { leafnodes?: number }).leafnodes ?? 0;
}

export async function runEdgeStory(opts: StoryOptions): Promise<PhaseRow[]> {
  const log = opts.log ?? (() => undefined);
  const dep: EdgeDeployment = await startEdge({ sites: ["s1"], env: LIFTED_RATE_LIMITS });
  const users: User[] = [];
  const stores: { domain: EdgeDomain; store: Store }[] = [];
  try {
    const hub = dep.hub;
    const site = dep.site("s1");
    await until("the leaf link", 30_000, async () => (await leafs(hub)) === 1);
    log("hub and site s1 up, leaf link connected");

    const signup = async (name: string, domain: EdgeDomain) => {
      const r = await api<{ userId: string; token: string }>(domain.gateway.url, "POST", "/v1/auth/signup", {
        handle: name,
        displayName: name,
        password: "password-123",
      });
      const device = new Device(`${name}@${domain.name}`, domain.gateway.url, r.token);
      const u: User = { name, domain, userId: r.userId, token: r.token, device };
      users.push(u);
      return u;
    };
    const hal = await signup("hal", hub);
    const hana = await signup("hana", hub);
    const eve = await signup("eve", site);
    const eli = await signup("eli", site);
    for (const u of users) await u.device.open();

    const open = async (by: User, peer: User) =>
      (
        await api<{ chatId: string }>(
          by.domain.gateway.url,
          "POST",
          "/v1/chats",
          { kind: "direct", userId: peer.userId },
          by.token,
        )
      ).chatId;
    const chats = {
      cross: { id: await open(hal, eve), members: [hal, eve] },
      site: { id: await open(eve, eli), members: [eve, eli] },
      hub: { id: await open(hal, hana), members: [hal, hana] },
    };
    log(`chats: cross ${chats.cross.id}, site ${chats.site.id}, hub ${chats.hub.id}`);
    const chatOf = new Map(Object.values(chats).map((c) => [c.id, c]));
    const pairs: [User, keyof typeof chats][] = [
      [hal, "cross"],
      [eve, "cross"],
      [eve, "site"],
      [eli, "site"],
      [hal, "hub"],
      [hana, "hub"],
    ];

    const sent: Sent[] = [];
    const pending: Sent[] = [];
    /** One send over HTTP at the sender's own gateway: true when `sent`, false when refused for a retry. */
    const attempt = async (s: Sent): Promise<boolean> => {
      const res = await fetch(`${s.from.domain.gateway.url}/v1/chats/${s.chat}/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${s.from.token}` },
        body: JSON.stringify({ id: s.id, body: `${s.phase} ${s.id}` }),
      });
      const body = (await res.json()) as { n?: number; code?: string };
      if (res.status === 200 || res.status === 201) {
        s.n = body.n;
        return true;
      }
      if (res.status === 503) return false;
      throw new Error(`send ${s.id}: ${res.status} ${JSON.stringify(body)}`);
    };
    const sendPhase = async (phase: string) => {
      for (let i = 0; i < opts.messages; i++) {
        await Promise.all(
          pairs.map(async ([from, chat]) => {
            const s: Sent = {
              phase,
              chat: chats[chat].id,
              from,
              id: `${phase}-${from.name}-${chat}-${i}`,
              retried: false,
            };
            sent.push(s);
            if (!(await attempt(s))) {
              s.retried = true;
              pending.push(s);
            }
          }),
        );
      }
    };
    /** Pairs (message, member device) that already hold the message. */
    const delivered = (phase: string) => {
      let got = 0;
      let all = 0;
      for (const s of sent.filter((x) => x.phase === phase)) {
        for (const m of chatOf.get(s.chat)!.members) {
          all++;
          if (m.device.events().some((e) => e.kind === "message.created" && e.chat === s.chat && e.id === s.id)) got++;
        }
      }
      return { got, all };
    };

    for (const d of [hub, site]) {
      stores.push({ domain: d, store: createStore({ backend: "sqlite", sqlitePath: d.env.NATTER_SQLITE_PATH! }) });
    }
    const holders = (chat: string) =>
      stores.filter(
        ({ domain }) => domain.name === "hub" || chatOf.get(chat)!.members.some((m) => m.domain === domain),
      );
    const storeEvents = new Map<string, ChatEvent[]>();
    const readStores = async () => {
      for (const chat of chatOf.keys()) {
        for (const { domain, store } of holders(chat)) {
          storeEvents.set(`${domain.name}/${chat}`, await store.getEvents(chat, { afterN: 0, limit: 1000 }));
        }
      }
    };
    /** Where a copy lacks an acked message of `phase`: "eve@s1 cross linked-hal-cross-3", "hub store …". */
    const missing = (phase: string): string[] => {
      const out: string[] = [];
      for (const s of sent.filter((x) => x.phase === phase)) {
        for (const m of chatOf.get(s.chat)!.members) {
          if (!m.device.events().some((e) => e.chat === s.chat && e.kind === "message.created" && e.id === s.id))
            out.push(`${m.device.name} ${s.id}`);
        }
        for (const { domain } of holders(s.chat)) {
          const events = storeEvents.get(`${domain.name}/${s.chat}`) ?? [];
          if (!events.some((e) => e.kind === "message.created" && e.id === s.id))
            out.push(`${domain.name} store ${s.id}`);
        }
      }
      return out;
    };
    const live: Record<string, { got: number; all: number }> = {};
    const ended: Record<string, number> = {};
    const reconciledAt: Record<string, number> = {};

    // 1. linked
    await sendPhase("linked");
    await sleep(1000);
    live.linked = delivered("linked");
    ended.linked = Date.now();
    log(`linked: ${live.linked.got}/${live.linked.all} delivered live`);
    // Before the cut, everything of this phase reaches every copy (the hub's copy of the
    // site's chat and the site's of the hub's are sourced and mirrored while linked).
    await until("the linked phase in every copy", 30_000, async () => {
      await readStores();
      return missing("linked").length === 0;
    }).catch((err: unknown) => {
      throw new Error(`${String(err)}; missing: ${missing("linked").slice(0, 8).join(", ")}`);
    });
    reconciledAt.linked = Date.now();

    // 2. cut
    site.link!.cut();
    await until("the leaf link to drop", 30_000, async () => (await leafs(hub)) === 0);
    await sendPhase("cut");
    await sleep(1000);
    live.cut = delivered("cut");
    log(`cut: ${live.cut.got}/${live.cut.all} delivered live, ${pending.length} sends pending`);

    // 3. the site's nats-server restarts while cut
    await site.nats.kill();
    await site.nats.restart();
    await until("the site's gateway to come back", 60_000, async () => {
      const r = await fetch(`${site.gateway.url}/readyz`).catch(() => undefined);
      return r?.ok === true;
    });
    await sendPhase("site-restart");
    await sleep(1000);
    live["site-restart"] = delivered("site-restart");
    log(`site-restart: ${live["site-restart"].got}/${live["site-restart"].all} delivered live`);

    // 4. restored
    site.link!.restore();
    const restoredAt = Date.now();
    ended.cut = restoredAt;
    ended["site-restart"] = restoredAt;
    await until("the leaf link to return", 60_000, async () => (await leafs(hub)) === 1);
    // The pending sends go out with their ids, as the SDK resends them.
    while (pending.length > 0) {
      const s = pending[0]!;
      if (await attempt(s)) pending.shift();
      else await sleep(200);
      if (Date.now() - restoredAt > 60_000) throw new Error("pending sends not sent within 60 s of the link's return");
    }
    await sendPhase("restored");
    await sleep(1000);
    live.restored = delivered("restored");
    ended.restored = Date.now();

    // Reconcile: every device syncs, and every copy is checked until complete.
    const phases = ["linked", "cut", "site-restart", "restored"];
    let lastLog = Date.now();
    await until("every device and store to hold every message", 90_000, async () => {
      for (const u of users) await u.device.catchUp().catch(() => undefined);
      await readStores();
      for (const p of phases)
        if (reconciledAt[p] === undefined && missing(p).length === 0) reconciledAt[p] = Date.now();
      if (Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        const left = phases.flatMap((p) => missing(p));
        log(`still missing ${left.length}: ${left.slice(0, 6).join(", ")}`);
      }
      return phases.every((p) => reconciledAt[p] !== undefined);
    }).catch((err: unknown) => log(String(err)));
    log("reconciled; verifying");

    // Verify: the order at home is the acked n; every device and store must agree with it.
    const rows: PhaseRow[] = [];
    for (const p of phases) {
      let lost = 0;
      let duplicated = 0;
      let outOfOrder = 0;
      for (const s of sent.filter((x) => x.phase === p)) {
        const copies: ChatEvent[][] = [
          ...chatOf.get(s.chat)!.members.map((m) => m.device.events().filter((e) => e.chat === s.chat)),
          ...holders(s.chat).map(({ domain }) => storeEvents.get(`${domain.name}/${s.chat}`) ?? []),
        ];
        let isLost = false;
        let isDup = false;
        let isMisordered = false;
        for (const copy of copies) {
          const mine = copy.filter((e) => e.kind === "message.created" && e.id === s.id);
          if (mine.length === 0) isLost = true;
          if (mine.length > 1) isDup = true;
          if (mine.some((e) => e.n !== s.n)) isMisordered = true;
        }
        if (isLost) lost++;
        if (isDup) duplicated++;
        if (isMisordered) outOfOrder++;
      }
      rows.push({
        phase: p,
        sent: sent.filter((x) => x.phase === p && x.n !== undefined).length,
        retried: sent.filter((x) => x.phase === p && x.retried && x.n !== undefined).length,
        deliveredLive: live[p]!.got,
        deliveries: live[p]!.all,
        lost,
        duplicated,
        outOfOrder,
        reconcileMs: reconciledAt[p] === undefined ? -1 : Math.max(0, reconciledAt[p]! - ended[p]!),
      });
    }
    // Arrival order on every device: n strictly ascending per chat, no n twice, no gap
    // (a device's sockets together), and every device and store dense from n = 1.
    let orderProblems = 0;
    for (const u of users) {
      orderProblems += u.device.violations().length;
      for (const chat of chatOf.keys()) {
        const ns = u.device
          .events()
          .filter((e) => e.chat === chat)
          .map((e) => e.n);
        if (ns.length && ns.some((n, i) => n !== ns[0]! + i)) orderProblems++;
      }
    }
    for (const [key, events] of storeEvents) {
      if (events.some((e, i) => e.n !== i + 1)) {
        orderProblems++;
        log(`store ${key}: not dense from 1`);
      }
    }
    if (orderProblems > 0) {
      log(`${orderProblems} arrival-order problems`);
      for (const r of rows) r.outOfOrder += orderProblems;
    }
    return rows;
  } finally {
    await Promise.all(users.map((u) => u.device.close().catch(() => undefined)));
    await Promise.all(stores.map((s) => s.store.close().catch(() => undefined)));
    await dep.stop();
  }
}

/** The rows as a Markdown table. */
export function phaseTable(rows: PhaseRow[]): string {
  const head =
    "| phase | sent | of them retried after the cut | delivered live | lost | duplicated | out of order | time to reconcile |";
  const lines = rows.map(
    (r) =>
      `| ${r.phase} | ${r.sent} | ${r.retried} | ${r.deliveredLive}/${r.deliveries} | ${r.lost} | ${r.duplicated} | ${r.outOfOrder} | ${r.reconcileMs < 0 ? "never" : `${(r.reconcileMs / 1000).toFixed(1)} s`} |`,
  );
  return [head, "|---|---|---|---|---|---|---|---|", ...lines].join("\n");
}
