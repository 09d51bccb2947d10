/**
 * `npm run chaos -- [--faults all|a,b,…] [--phase 40] [--rate 100] [--direct 30] [--groups 6]
 *   [--members 5] [--devices 2] [--flap 2] [--json path]`
 *
 * Issue 15's fault suite. Starts a 3-node NATS cluster whose routes run through TCP proxies
 * (R3 chat stream and KV), Cassandra through a TCP proxy (a fresh keyspace on the local
 * one), two gateways, two history consumers on the one durable, a fanout consumer and a
 * push consumer (webhook only, towards a local receiver; push-check.ts), then a verifying load from `bench/src/load` (1:1 chats and groups, several devices per
 * user, receivers dropping and resuming, clients that reconnect and resend unanswered
 * sends with the same id). For each fault, one at a time: a phase of load, the fault
 * injected a fifth of the way in, repaired, recovery timed, the rest of the phase, then
 * the check from the sockets (every acked message reached every member device once and in
 * `n` order) and from history (once, `n` = 1..N). Prints a row per fault; exits 1 on any
 * lost, duplicated, misordered or unanswered message. See bench/src/chaos/README.md.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { CHAT_STREAM, CONSUMERS } from "@natter/subjects";
import {
  cassandraContactPoints,
  exitOnSignals,
  freePort,
  type GatewayProc,
  LIFTED_RATE_LIMITS,
  type Proc,
  stackStore,
  startConsumers,
  startGateway,
  startPartitionableNatsCluster,
  startTcpProxy,
  waitForJetStream,
} from "@natter/testkit";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { LoadPool } from "../load/pool.ts";
import type { PlanChat } from "../load/worker.ts";
import { seedChats } from "../seed.ts";
import { type Listened, PUSH_WEBHOOK_SECRET, pushCaughtUp, startPushWatch, verifyPush } from "./push-check.ts";
import { verifyHistory } from "../verify.ts";

const ALL = [
  "gateway",
  "history-1",
  "history-2",
  "fanout",
  "push",
  "nats-node",
  "nats-leader",
  "partition",
  "cassandra",
  "gateway-nats-stall",
] as const;
type Fault = (typeof ALL)[number];

const { values: a } = parseArgs({
  options: {
    faults: { type: "string", default: "all" },
    phase: { type: "string", default: "40" },
    rate: { type: "string", default: "100" },
    direct: { type: "string", default: "30" },
    groups: { type: "string", default: "6" },
    members: { type: "string", default: "5" },
    devices: { type: "string", default: "2" },
    flap: { type: "string", default: "2" },
    "cassandra-down": { type: "string", default: "30" },
    json: { type: "string" },
  },
});
const faults = (a.faults === "all" ? [...ALL] : a.faults.split(",").map((f) => f.trim())) as Fault[];
for (const f of faults) if (!ALL.includes(f)) throw new Error(`--faults: unknown ${f} (one of ${ALL.join(", ")})`);
const phaseS = Number(a.phase);
const t0 = Date.now();
const log = (msg: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

exitOnSignals();
const cluster = await startPartitionableNatsCluster(3);
const nats = cluster.servers;
const natsUrl = nats.map((s) => s.url).join(",");
const admin = await connect({ servers: nats.map((s) => s.url), name: "chaos-admin", maxReconnectAttempts: -1 });
const jsm: JetStreamManager = await jetstreamManager(admin, { checkAPI: false, timeout: 3000 });
await waitForJetStream(() => jsm.getAccountInfo(), 60_000);
const [cHost, cPort] = cassandraContactPoints()[0]!.split(":");
const cassandra = await startTcpProxy({ host: cHost!, port: Number(cPort ?? 9042) });
const store = await stackStore("cassandra");
const env: Record<string, string> = {
  ...store.env,
  ...LIFTED_RATE_LIMITS,
  NATTER_LOG_LEVEL: "warn",
  NATTER_STREAM_REPLICAS: "3",
  NATTER_CASSANDRA_CONTACT_POINTS: `127.0.0.1:${cassandra.port}`,
};

// Fixed ports, so a gateway restarted after a kill is where its clients knew it.
const gwPorts = [await freePort(), await freePort()];
const gwEnv = (i: number) => ({ ...env, NATTER_HTTP_PORT: String(gwPorts[i]), NATTER_NATS_NAME: `g${i + 1}` });
const gateways: GatewayProc[] = [await startGateway(natsUrl, gwEnv(0), "g1")];
gateways.push(await startGateway(natsUrl, gwEnv(1), "g2"));
const consumerKinds = { "history-1": "history", "history-2": "history", fanout: "fanout", push: "push" } as const;
type ConsumerName = keyof typeof consumerKinds;
const hooks = await startPushWatch();
const consumerEnv = (name: ConsumerName) => ({
  ...env,
  NATTER_CONSUMERS: consumerKinds[name],
  NATTER_NATS_NAME: name,
  ...(name === "push"
    ? { NATTER_PUSH_WEBHOOK_URL: hooks.url, NATTER_PUSH_WEBHOOK_SECRET: PUSH_WEBHOOK_SECRET, NATTER_PUSH_GRACE: "2s" }
    : {}),
});
const consumers = new Map<ConsumerName, Proc>();
for (const name of Object.keys(consumerKinds) as ConsumerName[])
  consumers.set(name, await startConsumers(natsUrl, consumerEnv(name), name));
log(
  `stack up: 3 NATS nodes (routes through proxies), Cassandra through a proxy, g1 g2, ${[...consumers.keys()].join(" ")}`,
);

const prefix = `c${Date.now().toString(36)}_`;
const directs = await seedChats(gateways[0]!.url, env, `${prefix}d`, Number(a.direct), 2);
// Each group gets one member more than --members: the push listener, who has no device
// and never sends, so every message of the group must reach it in one notification.
const groups = await seedChats(gateways[0]!.url, env, `${prefix}g`, Number(a.groups), Number(a.members) + 1);
const listened: Listened[] = groups.map((g) => ({
  chatId: g.chatId,
  listener: g.members.at(-1)!.userId,
  token: g.members[0]!.token,
}));
const seeded = [...directs, ...groups.map((g) => ({ ...g, members: g.members.slice(0, -1) }))];
const urls = gateways.map((g) => g.url);
const chats: PlanChat[] = seeded.map((c, k) => ({
  chatId: c.chatId,
  members: c.members.map((u, i) => ({ ...u, endpoint: urls[(i + k) % urls.length]! })),
}));
const devices = Number(a.devices);
const pool = new LoadPool({
  system: "natter",
  chats,
  workers: 1,
  localAddresses: [],
  devices,
  resilient: { gateways: urls },
});
await pool.open();
log(
  `load: ${Number(a.direct)} 1:1 chats and ${Number(a.groups)} groups of ${a.members}, ${devices} devices per user, ${pool.clients} sockets, ${a.rate} msgs/s open loop`,
);

// ------------------------------------------------------------------ recovery probes

const ok = async (url: string) => {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
};
/** What must be well again after a fault, each with its probe; the last to pass recovered last. */
const probes: Record<string, () => Promise<boolean>> = {
  ...Object.fromEntries(
    nats.map((s, i) => [`nats-n${i + 1}`, () => ok(`http://127.0.0.1:${s.monitorPort}/healthz?js-enabled-only=true`)]),
  ),
  ...Object.fromEntries(gateways.map((g, i) => [`g${i + 1}`, () => ok(`${urls[i]}/readyz`)])),
  // A consumer has recovered when its durable is caught up with the load again (a few
  // seconds of messages at most pending, pulls waiting).
  ...Object.fromEntries(
    [CONSUMERS.history, CONSUMERS.fanout, CONSUMERS.push].map((d) => [
      `${d} consumer`,
      async () => {
        try {
          const ci = await jsm.consumers.info(CHAT_STREAM, d);
          return ci.num_pending <= Number(a.rate) && ci.num_waiting > 0;
        } catch {
          return false;
        }
      },
    ]),
  ),
};

/** Polls every probe from `since` until all pass; returns the seconds each took. */
async function recovery(since: number, limitMs = 120_000): Promise<{ seconds: number; last: string }> {
  const done = new Map<string, number>();
  while (done.size < Object.keys(probes).length && Date.now() - since < limitMs) {
    await Promise.all(
      Object.entries(probes).map(async ([name, probe]) => {
        if (!done.has(name) && (await probe())) done.set(name, Date.now());
      }),
    );
    if (done.size < Object.keys(probes).length) await sleep(200);
  }
  const missing = Object.keys(probes).filter((k) => !done.has(k));
  if (missing.length) return { seconds: NaN, last: `not recovered: ${missing.join(", ")}` };
  const [last, at] = [...done].sort((x, y) => x[1] - y[1]).at(-1)!;
  return { seconds: Math.round((at - since) / 100) / 10, last };
}

// ------------------------------------------------------------------ the faults

const leaderOfStream = async () => {
  const name = (await waitForJetStream(() => jsm.streams.info(CHAT_STREAM))).cluster?.leader;
  return nats.findIndex((_, i) => name === `natter-n${i + 1}`);
};
/** The index of the NATS node gateway `g` is connected to (its connection name starts with it). */
async function nodeOf(g: string): Promise<number> {
  for (let i = 0; i < nats.length; i++) {
    const r = await fetch(`http://127.0.0.1:${nats[i]!.monitorPort}/connz?limit=1024`).catch(() => undefined);
    const j = r?.ok ? ((await r.json()) as { connections?: { name?: string }[] }) : undefined;
    if (j?.connections?.some((c) => c.name?.startsWith(`${g}-`))) return i;
  }
  throw new Error(`no NATS node holds ${g}'s connection`);
}
async function restartConsumer(name: ConsumerName) {
  consumers.set(name, await startConsumers(natsUrl, consumerEnv(name), name));
}

/**
 * Injects a fault, holds it, repairs it; resolves with when the repair began (a restart
 * issued, a proxy restored: recovery is timed from there, so it includes the restart) and
 * what was hit.
 */
async function inject(fault: Fault): Promise<{ repairedAt: number; what: string }> {
  switch (fault) {
    case "gateway": {
      await gateways[1]!.kill("SIGKILL");
      await sleep(2000);
      const repairedAt = Date.now();
      gateways[1] = await startGateway(natsUrl, gwEnv(1), "g2");
      return { repairedAt, what: "g2 SIGKILL, restarted after 2 s" };
    }
    case "history-1":
    case "history-2":
    case "fanout":
    case "push": {
      await consumers.get(fault)!.kill("SIGKILL");
      await sleep(2000);
      const repairedAt = Date.now();
      await restartConsumer(fault);
      return { repairedAt, what: `${fault} SIGKILL, restarted after 2 s` };
    }
    case "nats-node":
    case "nats-leader": {
      const leader = await leaderOfStream();
      const k = fault === "nats-leader" ? leader : [0, 1, 2].find((i) => i !== leader)!;
      await nats[k]!.kill();
      await sleep(5000);
      const repairedAt = Date.now();
      await nats[k]!.restart();
      return {
        repairedAt,
        what: `natter-n${k + 1} (${k === leader ? "the stream leader" : "a follower"}) SIGKILL, restarted after 5 s`,
      };
    }
    case "partition": {
      const k = await leaderOfStream();
      cluster.isolate(k);
      await sleep(15_000);
      cluster.heal(k);
      return { repairedAt: Date.now(), what: `natter-n${k + 1} (the stream leader) cut from its peers for 15 s` };
    }
    case "cassandra": {
      cassandra.cut();
      await sleep(Number(a["cassandra-down"]) * 1000);
      cassandra.restore();
      return { repairedAt: Date.now(), what: `Cassandra unreachable for ${a["cassandra-down"]} s (proxy cut)` };
    }
    case "gateway-nats-stall": {
      const k = await nodeOf("g1");
      process.kill(nats[k]!.pid, "SIGSTOP");
      await sleep(8000);
      process.kill(nats[k]!.pid, "SIGCONT");
      return { repairedAt: Date.now(), what: `natter-n${k + 1} (g1's node) SIGSTOPped for 8 s` };
    }
  }
}

// ------------------------------------------------------------------ the run

const tokenOf = new Map(chats.map((c) => [c.chatId, c.members[0]!.token]));
interface Row {
  fault: string;
  what: string;
  acked: number;
  lost: number;
  duplicated: number;
  "order violations": number;
  "unanswered sends": number;
  "retried sends": number;
  "longest send wait s": number;
  "recover s": number;
  "recovered last": string;
  "push lost": number;
  "push duplicated": number;
}
const rows: Row[] = [];
let before = { sent: 0, lost: 0, duplicated: 0, misordered: 0 };
let failed = false;
try {
  for (const fault of faults) {
    log(`${fault}: ${phaseS} s of load, the fault at ${Math.round(phaseS / 5)} s`);
    const run = pool.run({
      durationS: phaseS,
      warmupS: 0,
      inflight: 1,
      rate: Number(a.rate),
      bodyBytes: 60,
      flapClients: Number(a.flap),
      resumes: true,
    });
    await sleep((phaseS / 5) * 1000 + 300);
    const hit = await inject(fault);
    const rec = await recovery(hit.repairedAt);
    log(`${fault}: ${hit.what}; recovered in ${rec.seconds} s (last: ${rec.last})`);
    const result = await run;
    const history = await verifyHistory(gateways[0]!.url, result.acked, tokenOf);
    // The push consumer acks a batch after its grace and webhooks (a killed one's batch
    // comes back after its 10 s ack wait): wait for it, then match its notifications.
    const pushDone = await pushCaughtUp(jsm, 90_000);
    const pushed = await verifyPush(gateways[0]!.url, hooks, listened);
    if (!pushDone) pushed.problems.unshift("push consumer not caught up after 90 s");
    if (pushed.lost || pushed.duplicated || pushed.conflicting || !pushDone) {
      // What the push consumer said (warnings and errors: failed batches, dead letters).
      for (const l of (consumers.get("push")?.output() ?? "").trim().split("\n").slice(-8))
        log(`  push: ${l.slice(0, 300)}`);
    }
    const now = {
      sent: result.sent,
      lost: result.lost + history.lost,
      duplicated: result.duplicated + history.duplicated,
      misordered: result.misordered + history.misordered,
    };
    const row: Row = {
      fault,
      what: hit.what,
      acked: now.sent - before.sent,
      lost: now.lost - before.lost,
      duplicated: now.duplicated - before.duplicated,
      "order violations": now.misordered - before.misordered,
      "unanswered sends": result.unacked,
      "retried sends": result.retries,
      "longest send wait s": Math.round(result.maxAckMs / 100) / 10,
      "recover s": rec.seconds,
      "recovered last": rec.last,
      // Over everything so far (the check re-reads every group's whole history).
      "push lost": pushed.lost,
      "push duplicated": pushed.duplicated + pushed.conflicting,
    };
    before = now;
    rows.push(row);
    for (const p of [...result.problems, ...history.problems, ...pushed.problems].slice(0, 10)) log(`  ${p}`);
    if (
      row.lost ||
      row.duplicated ||
      row["order violations"] ||
      row["unanswered sends"] ||
      Number.isNaN(rec.seconds) ||
      row["push lost"] ||
      row["push duplicated"] ||
      pushed.unsigned ||
      !pushDone
    )
      failed = true;
    log(
      `${fault}: acked ${row.acked}, lost ${row.lost}, duplicated ${row.duplicated}, order violations ${row["order violations"]}, unanswered ${row["unanswered sends"]}, longest send wait ${row["longest send wait s"]} s, retried ${JSON.stringify(result.retryCodes)} (checked ${result.checkedDeliveries} socket deliveries, ${history.checkedHistory} history events); push: lost ${row["push lost"]}, duplicated ${row["push duplicated"]} over ${pushed.checked} messages to listeners, ${hooks.received.length} webhooks`,
    );
  }
  console.table(rows.map(({ what: _what, ...r }) => r));
  for (const r of rows) console.log(`${r.fault}: ${r.what}`);
  const out = {
    date: new Date().toISOString(),
    args: a,
    nats: nats[0]!.version,
    minutes: Math.round((Date.now() - t0) / 600) / 100,
    rows,
  };
  if (a.json) writeFileSync(a.json, JSON.stringify(out, null, 2));
  console.log(`chaos: ${failed ? "FAILED" : "OK"} in ${out.minutes} min`);
  if (failed) process.exitCode = 1;
} finally {
  await pool.close();
  await Promise.all([...gateways.map((g) => g.kill()), ...[...consumers.values()].map((c) => c.kill())]);
  await admin.close().catch(() => {});
  await hooks.close();
  for (const s of nats) if (s.pid > 0) process.kill(s.pid, "SIGCONT");
  await cluster.stop();
  cassandra.restore();
  await store.cleanup().catch(() => {});
  await cassandra.close();
}
