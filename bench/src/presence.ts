/**
 * `node bench/src/presence.ts [--users 10000] [--watch 50] [--churn 50] [--window 15]`
 *
 * The cost of presence: one gateway process holding `--users` sockets, measured twice in
 * the same run on the same nats-server:
 *
 * 1. baseline: every user connected, nobody watches anyone;
 * 2. presence: every socket watches the `--watch` other members of its group (users share
 *    groups of watch+1, so everyone may see everyone they watch).
 *
 * Each phase measures an idle window (leases and heartbeats only) and a churn window in
 * which `--churn` users per second drop their socket and come back a second later (each
 * one an offline change, then an online one 5 s after the reconnect). Figures: NATS messages per second (the
 * server's in+out counters from /varz, minus the bench's own monitoring), presence changes
 * published, frames delivered to sockets, and the gateway process's CPU (share of one core)
 * and RSS. Users, sessions and groups are written straight into the SQLite store and the
 * tokens signed with the stack's secret (10,000 scrypt signups would take minutes).
 */
import { parseArgs } from "node:util";
import type { ChatEvent } from "@natter/protocol";
import { projectEvents, SqliteStore } from "@natter/store";
import { exitOnSignals, startNatsServer } from "@natter/testkit";
import { connect } from "@nats-io/transport-node";
import WebSocket from "ws";
import { TokenSigner } from "../../gateway/src/auth/tokens.ts";
import { stackStore, startGateway, TOKEN_SECRET } from "@natter/testkit";
import { cpuShare, procSample } from "./proc-stats.ts";

const { values: a } = parseArgs({
  options: {
    users: { type: "string", default: "10000" },
    watch: { type: "string", default: "50" },
    churn: { type: "string", default: "50" },
    window: { type: "string", default: "15" },
  },
});
const USERS = Number(a.users);
const WATCH = Number(a.watch);
const CHURN = Number(a.churn);
const WINDOW_S = Number(a.window);
const GROUP = WATCH + 1;
const DELAY_MS = 5000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- the stack and its data

exitOnSignals();
const nats = await startNatsServer();
const store = await stackStore("sqlite");
const db = new SqliteStore({ path: store.env.NATTER_SQLITE_PATH! });
await db.migrate();
const signer = new TokenSigner(TOKEN_SECRET);
const now = Date.now();
const users = Array.from({ length: USERS }, (_, i) => `u_b${i}`);
const tokens: string[] = [];
for (const [i, userId] of users.entries()) {
  await db.createUser({ userId, handle: `bench${i}`, displayName: `b${i}`, passwordHash: "x", createdAt: now });
  const deviceId = `dv_b${i}`;
  const expiresAt = now + 86_400_000;
  await db.createSession({ userId, deviceId, deviceName: "bench", createdAt: now, expiresAt, revoked: false });
  tokens.push(signer.sign({ userId, deviceId, expiresAt }));
}
// Group k holds users GROUP*k .. GROUP*k+GROUP-1 (wrapping around at the end): each user
// watches the other members of the first group it is in.
const groups = Math.ceil(USERS / GROUP);
const watchOf: string[][] = [];
const events: ChatEvent[] = [];
for (let k = 0; k < groups; k++) {
  const members = Array.from({ length: GROUP }, (_, j) => users[(k * GROUP + j) % USERS]!);
  events.push({
    chat: `g_bench${k}`,
    seq: k + 1,
    n: 1,
    ts: now,
    from: members[0]!,
    kind: "chat.created",
    chatKind: "group",
    title: `bench ${k}`,
    members,
  });
  for (const [j, m] of members.entries()) {
    const i = (k * GROUP + j) % USERS;
    watchOf[i] ??= members.filter((x) => x !== m);
  }
}
await projectEvents(db, events);
await db.close();

const gw = await startGateway(nats.url, { ...store.env, NATTER_LOG_LEVEL: "warn" }, "gateway");
const wsUrl = `${gw.url.replace(/^http/, "ws")}/v1/ws`;
const mon = `http://127.0.0.1:${nats.monitorPort}`;
const watchNc = await connect({ servers: nats.url, name: "bench-watch" });
let announced = 0;
watchNc.subscribe("presence.>", {
  callback: () => {
    announced++;
  },
});

// ---------------------------------------------------------------- sockets

let presenceFrames = 0;
const sockets: (WebSocket | undefined)[] = new Array(USERS);

function open(i: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${tokens[i]}` }, perMessageDeflate: false });
    ws.on("message", (data) => {
      const text = String(data);
      if (text.includes('"type":"presence"')) presenceFrames++;
      else if (text.includes('"type":"ready"')) {
        ws.send(JSON.stringify({ type: "sync", cursors: {} }));
        resolve(ws);
      }
    });
    ws.once("error", reject);
    ws.once("close", (code) => reject(new Error(`closed ${code}`)));
  });
}

async function connectAll(): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      while (next < USERS) {
        const i = next++;
        sockets[i] = await open(i);
      }
    }),
  );
}

async function watchAll(): Promise<void> {
  let acked = 0;
  const want = watchOf.reduce((s, w) => s + w.length, 0);
  const before = presenceFrames;
  for (const [i, ws] of sockets.entries()) ws?.send(JSON.stringify({ type: "watch", users: watchOf[i] }));
  while (presenceFrames - before < want) {
    if (acked++ > 1200) throw new Error(`watch answers: ${presenceFrames - before} of ${want}`);
    await sleep(50);
  }
}

async function varz(): Promise<{ msgs: number; subs: number }> {
  const v = (await (await fetch(`${mon}/varz`)).json()) as { in_msgs: number; out_msgs: number; subscriptions: number };
  return { msgs: v.in_msgs + v.out_msgs, subs: v.subscriptions };
}

interface Window {
  phase: string;
  window: string;
  "nats msgs/s": number;
  "presence changes/s": number;
  "presence frames/s": number;
  "gateway cpu": number;
  "gateway rss MiB": number;
  "nats subs": number;
}

/** Measures `seconds`, optionally churning `CHURN` users per second (close, reconnect a second later). */
let victim = 0;

async function measure(phase: string, window: string, seconds: number, churn: boolean): Promise<Window> {
  const pid = gw.child.pid!;
  const v0 = await varz();
  const p0 = procSample(pid)!;
  const a0 = announced;
  const f0 = presenceFrames;
  const t0 = Date.now();
  let closed: number[] = [];
  const reopen = (batch: number[]) =>
    Promise.all(
      batch.map(async (i) => {
        sockets[i] = await open(i);
        if (phase !== "baseline") sockets[i]!.send(JSON.stringify({ type: "watch", users: watchOf[i] }));
      }),
    );
  while (Date.now() - t0 < seconds * 1000) {
    const tick = Date.now();
    if (churn) {
      // Users closed a second ago come back; the next `CHURN` users leave.
      await reopen(closed);
      closed = Array.from({ length: CHURN }, () => victim++ % USERS);
      for (const i of closed) {
        sockets[i]?.removeAllListeners("close");
        sockets[i]?.close();
        sockets[i] = undefined;
      }
    }
    await sleep(Math.max(0, 1000 - (Date.now() - tick)));
  }
  await reopen(closed);
  const s = (Date.now() - t0) / 1000;
  const v1 = await varz();
  const p1 = procSample(pid)!;
  // The bench's own presence.> subscription adds one delivery per change: subtracted.
  const changes = announced - a0;
  return {
    phase,
    window,
    "nats msgs/s": Math.round((v1.msgs - v0.msgs - changes) / s),
    "presence changes/s": Math.round(changes / s),
    "presence frames/s": Math.round((presenceFrames - f0) / s),
    "gateway cpu": cpuShare(p0, p1, s),
    "gateway rss MiB": p1.rssMiB,
    "nats subs": v1.subs,
  };
}

// ---------------------------------------------------------------- run

const rows: Window[] = [];
try {
  console.log(
    `presence: ${USERS} users on one gateway process, groups of ${GROUP} (each watches ${WATCH}), churn ${CHURN} users/s, ${WINDOW_S} s windows, nats-server ${nats.version}, defaults NATTER_PRESENCE_TTL=30s NATTER_PRESENCE_ONLINE_DELAY=5s`,
  );
  let t = Date.now();
  await connectAll();
  console.log(`connected ${USERS} sockets in ${Date.now() - t} ms`);
  await sleep(DELAY_MS + 2000); // every online change announced
  rows.push(await measure("baseline", "idle", WINDOW_S, false));
  rows.push(await measure("baseline", "churn", WINDOW_S, true));
  await sleep(DELAY_MS + 2000);

  const v0 = await varz();
  const p0 = procSample(gw.child.pid!)!;
  t = Date.now();
  await watchAll();
  const setupS = (Date.now() - t) / 1000;
  const v1 = await varz();
  const p1 = procSample(gw.child.pid!)!;
  console.log(
    `watch: ${USERS} watch frames answered with ${watchOf.reduce((s, w) => s + w.length, 0)} presence frames in ${setupS.toFixed(1)} s: ${v1.msgs - v0.msgs} NATS messages, gateway CPU ${(p1.cpuS - p0.cpuS).toFixed(1)} s`,
  );
  await sleep(2000);
  rows.push(await measure(`watch ${WATCH}`, "idle", WINDOW_S, false));
  rows.push(await measure(`watch ${WATCH}`, "churn", WINDOW_S, true));
  console.table(rows);
} finally {
  for (const ws of sockets) {
    ws?.removeAllListeners("close");
    ws?.terminate();
  }
  await watchNc.close();
  await gw.kill();
  await nats.stop();
  await store.cleanup();
}
