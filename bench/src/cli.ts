/**
 * `npm run bench -- [--shape direct|group] [--members 10] [--chats 50] [--inflight 20]
 *   [--rate 0] [--duration 10] [--warmup 1] [--gateways 2] [--workers 1] [--sources 0]
 *   [--systems natter,socketio] [--store sqlite|cassandra] [--body 100] [--flap 2] [--spread-senders]
 *   [--quick | --smoke]`
 *
 * Starts its own stack (nats-server, a history and a fanout consumers process, N gateway processes) and, in
 * the same run on the same nats-server:
 *
 * 1. the ceiling: `nats bench js pub` (the real CLI), sync and async, with the chat
 *    stream's settings and Natter's event size;
 * 2. the in-process baselines: core NATS fan-out (the floor) and JetStream publish from
 *    Node (nats.js, the client the gateway uses);
 * 3. each system under the same load shape from `--workers` load processes: Natter over
 *    its WebSocket protocol, the Socket.IO peer (bench/src/peers/socketio-server.ts);
 *    closed loop (`--inflight` per chat) or open loop (`--rate` msgs/s in all);
 * 4. verification after each system's run: G1/G2/G4 on every socket (in the load
 *    workers), and on Natter's history; `--flap` receivers per worker drop their
 *    connection for 1 s mid-run (Natter must miss nothing; Socket.IO's misses are counted).
 *
 * Prints the tables and writes JSON to bench/results/. Exits 1 if a check failed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  exitOnSignals,
  LIFTED_RATE_LIMITS,
  repoRoot,
  startNatsCluster,
  startNatsServer,
  waitForJetStream,
} from "@natter/testkit";
import { stackStore, startConsumers, startGateway } from "@natter/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { runCoreBaseline, runJetStreamBaseline } from "./baseline.ts";
import { type CeilingResult, natterEventBytes, runCeiling } from "./ceiling.ts";
import { summarize } from "./hist.ts";
import { LoadPool, loopbackSources, type PoolResult } from "./load/pool.ts";
import type { PlanChat, SystemName } from "./load/worker.ts";
import { cassandraPid, cpuPerMessageUs, cpuShare, procSample } from "./proc-stats.ts";
import { seedChats } from "./seed.ts";
import { verifyHistory } from "./verify.ts";

const { values: a } = parseArgs({
  options: {
    shape: { type: "string", default: "direct" },
    members: { type: "string", default: "10" },
    chats: { type: "string" },
    inflight: { type: "string", default: "20" },
    rate: { type: "string", default: "0" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "1" },
    gateways: { type: "string", default: "2" },
    workers: { type: "string", default: "1" },
    sources: { type: "string", default: "0" },
    systems: { type: "string", default: "natter,socketio" },
    store: { type: "string", default: "sqlite" },
    body: { type: "string", default: "100" },
    flap: { type: "string", default: "2" },
    "ceiling-msgs": { type: "string" },
    "skip-history": { type: "boolean", default: false },
    "skip-baselines": { type: "boolean", default: false },
    "skip-ceiling": { type: "boolean", default: false },
    "spread-senders": { type: "boolean", default: false },
    replicas: { type: "string", default: "1" },
    // JetStream's file store fsync: "default" (the server's, every 2 min) or "always" (an
    // fsync per write: what a single node needs to survive a power loss; RELIABILITY.md).
    sync: { type: "string", default: process.env.NATTER_BENCH_SYNC ?? "default" },
    quick: { type: "boolean", default: false },
    smoke: { type: "boolean", default: false },
  },
});
// Presets: quick (the default `npm run bench:quick`, well under 2 minutes) and smoke (CI).
if (a.smoke) Object.assign(a, { chats: a.chats ?? "4", duration: "2", inflight: "2", "ceiling-msgs": "2000" });
else if (a.quick) Object.assign(a, { chats: a.chats ?? "50", duration: "5", inflight: "4", "ceiling-msgs": "20000" });
const members = a.shape === "direct" ? 2 : Number(a.members);
const shape = {
  members,
  chats: Number(a.chats ?? (a.shape === "direct" ? 50 : 10)),
  inflight: Number(a.inflight),
  durationS: Number(a.duration),
  // Untimed start of each run (cold chat heads, JIT): shorter than the run, never negative.
  warmupS: Math.min(Math.max(0, Number(a.warmup)), Number(a.duration) / 4),
  bodyBytes: Number(a.body),
};
const rate = Number(a.rate);
const systems = a.systems.split(",").map((s) => s.trim()) as SystemName[];
for (const s of systems) if (s !== "natter" && s !== "socketio") throw new Error(`--systems: unknown ${s}`);
if (a.store !== "sqlite" && a.store !== "cassandra") throw new Error("--store sqlite|cassandra");
const sources = loopbackSources(Number(a.sources));
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

const replicas = Number(a.replicas);
if (replicas !== 1 && replicas !== 3) throw new Error("--replicas 1|3");

exitOnSignals();
// One nats-server (R1 streams), or with --replicas 3 a local 3-node cluster and R3 streams.
if (a.sync !== "default" && a.sync !== "always") throw new Error("--sync default|always");
const natsServers =
  replicas === 1
    ? [await startNatsServer(a.sync === "always" ? { jetstream: "sync_interval: always" } : {})]
    : await startNatsCluster(3);
if (replicas > 1 && a.sync === "always") throw new Error("--sync always is measured on one node (--replicas 1)");
const nats = natsServers[0]!;
const natsUrl = natsServers.map((s) => s.url).join(",");
if (replicas > 1) {
  // The stack's processes create the chat stream at start-up: wait for the meta leader.
  const probe = await connect({ servers: natsServers.map((s) => s.url) });
  const jsm = await jetstreamManager(probe, { checkAPI: false });
  await waitForJetStream(() => jsm.getAccountInfo());
  await probe.close();
}
const store = await stackStore(a.store);
// The benchmark measures throughput: lift the per-user send limits.
const env = {
  ...store.env,
  ...LIFTED_RATE_LIMITS,
  NATTER_LOG_LEVEL: "warn",
  NATTER_STREAM_REPLICAS: String(replicas),
};
// The first gateway creates the stream and buckets alone: several processes creating the
// same R3 assets at once on a 2-core box can outwait a JetStream API timeout.
const first = await startGateway(natsUrl, env, "g1");
const gateways = [
  first,
  ...(await Promise.all(
    Array.from({ length: Number(a.gateways) - 1 }, (_, i) => startGateway(natsUrl, env, `g${i + 2}`)),
  )),
];
// History and fanout in processes of their own, as a deployment would run them: a store
// commit on the history side never holds up a delivery.
const consumers = await Promise.all(
  (["history", "fanout"] as const).map((c) => startConsumers(natsUrl, { ...env, NATTER_CONSUMERS: c }, c)),
);

/** Spawns the Socket.IO peer and waits for its port. */
async function startSocketIo(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [path.join(repoRoot, "bench/src/peers/socketio-server.ts")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`socket.io server exited with ${code}`)));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

interface SystemRow {
  system: string;
  result: PoolResult;
  cpu: Record<string, { "cpu (cores)": number; "µs per msg": number; "rss MiB": number }>;
  problems: string[];
  checkedHistory: number;
  guarantees: string;
}

/** One system under the load shape: open the clients, run, measure the processes, check. */
async function runSystem(
  system: SystemName,
  chats: PlanChat[],
  serverPids: Record<string, number>,
): Promise<SystemRow> {
  const pool = new LoadPool({ system, chats, workers: Number(a.workers), localAddresses: sources });
  try {
    await pool.open();
    const pids = { ...serverPids, ...Object.fromEntries(pool.pids.map((p, i) => [`load${i + 1}`, p])) };
    const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, procSample(pid)]));
    const t0 = performance.now();
    const result = await pool.run({
      durationS: shape.durationS,
      warmupS: shape.warmupS,
      inflight: shape.inflight,
      rate,
      bodyBytes: shape.bodyBytes,
      flapClients: Number(a.flap),
      resumes: system === "natter",
    });
    const wall = (performance.now() - t0) / 1000;
    const after = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, procSample(pid)]));
    const cpu = Object.fromEntries(
      Object.keys(pids)
        .filter((k) => before[k] && after[k])
        .map((k) => [
          k,
          {
            "cpu (cores)": cpuShare(before[k]!, after[k]!, wall),
            // CPU seconds over the run ÷ messages acked in it: what one message costs the process.
            "µs per msg": cpuPerMessageUs(before[k]!, after[k]!, result.sent),
            "rss MiB": after[k]!.rssMiB,
          },
        ]),
    );
    const problems = [...result.problems];
    let checkedHistory = 0;
    if (system === "natter" && !a["skip-history"]) {
      const h = await verifyHistory(
        gateways[0]!.url,
        result.acked,
        new Map(chats.map((c) => [c.chatId, c.members[0]!.token])),
      );
      problems.push(...h.problems);
      checkedHistory = h.checkedHistory;
    }
    if (result.errors > 0) problems.push(`${result.errors} send errors`);
    if (result.sent === 0) problems.push("no message was acked");
    return {
      system: system === "natter" ? "Natter" : "Socket.IO",
      result,
      cpu,
      problems,
      checkedHistory,
      guarantees:
        system === "natter"
          ? "persisted (JetStream file + history) before `sent`; resumes by sync"
          : "in memory only; a disconnected socket misses what was emitted",
    };
  } finally {
    await pool.close();
  }
}

const out: Record<string, unknown> = {};
let failed = false;
try {
  const eventBytes = natterEventBytes(shape.bodyBytes);
  console.log(
    `shape: ${shape.chats} ${members === 2 ? "1:1 chats" : `groups of ${members}`}, ${rate > 0 ? `open loop ${rate} msgs/s` : `closed loop, ${shape.inflight} sends in flight per chat`}, ${shape.durationS} s (latency timed after a ${shape.warmupS} s warm-up), ${shape.bodyBytes}-byte bodies (~${eventBytes}-byte events), ${gateways.length} gateway(s)${a["spread-senders"] ? " (senders spread over them)" : " (senders on the first)"}, ${a.workers} load process(es)${sources.length ? ` over ${sources.length} source addresses` : ""}, store ${a.store}, nats-server ${nats.version}, sync_interval ${a.sync}${replicas > 1 ? ", 3-node cluster, R3 streams" : ", R1 streams"}`,
  );

  // 1. The ceiling, measured first while the stack is idle.
  const ceilings: CeilingResult[] = [];
  if (!a["skip-ceiling"]) {
    const msgs = Number(a["ceiling-msgs"] ?? 100_000);
    for (const mode of ["sync", "async"] as const) {
      ceilings.push(
        await runCeiling(natsUrl, {
          mode,
          replicas,
          chats: shape.chats,
          size: eventBytes,
          msgs: mode === "sync" ? msgs / 2 : msgs,
        }),
      );
    }
    console.table(
      ceilings.map((c) => ({
        "nats bench js pub": c.mode,
        clients: c.clients,
        msgs: c.msgs,
        "size B": c.size,
        "msgs/s": c.msgsPerS,
        "p50 µs": c.p50Us,
        "p99 µs": c.p99Us,
      })),
    );
  }
  const ceiling = Math.max(0, ...ceilings.map((c) => c.msgsPerS));

  // 2. In-process baselines (Node, nats.js), same shape.
  const baseRows: Record<string, unknown>[] = [];
  let coreDeliveries = 0;
  if (!a["skip-baselines"]) {
    const core = await runCoreBaseline(nats.url, shape, gateways.length);
    const js = await runJetStreamBaseline(nats.url, shape);
    coreDeliveries = core.deliveries / core.durationS;
    for (const b of [core, js])
      baseRows.push({
        system: b.name,
        "msgs/s": Math.round(b.sent / b.durationS),
        "deliveries/s": Math.round(b.deliveries / b.durationS),
        ...summarize(b.deliverLatency),
      });
    console.table(baseRows);
  }

  // 3. The systems, same chats and users.
  const seeded = await seedChats(gateways[0]!.url, env, `b${Date.now().toString(36)}_`, shape.chats, members);
  const rows: SystemRow[] = [];
  for (const system of systems) {
    if (system === "natter") {
      // A chat's members are spread over the gateways, the sender on the first; with
      // --spread-senders chat k starts at gateway k, so every gateway holds senders.
      const chats: PlanChat[] = seeded.map((c, k) => ({
        chatId: c.chatId,
        members: c.members.map((u, i) => ({
          ...u,
          endpoint: gateways[(i + (a["spread-senders"] ? k : 0)) % gateways.length]!.url,
        })),
      }));
      const pids = {
        ...Object.fromEntries(natsServers.map((s, i) => [replicas > 1 ? `nats${i + 1}` : "nats", s.pid])),
        ...Object.fromEntries(consumers.map((c) => [c.name, c.child.pid!])),
        ...Object.fromEntries(gateways.map((g) => [g.name, g.child.pid!])),
        // The store is a server too when it is Cassandra: its JVM's CPU is Natter's cost.
        ...(a.store === "cassandra" && cassandraPid() !== undefined ? { cassandra: cassandraPid()! } : {}),
      };
      rows.push(await runSystem("natter", chats, pids));
    } else {
      const sio = await startSocketIo();
      try {
        const chats: PlanChat[] = seeded.map((c) => ({
          chatId: c.chatId,
          members: c.members.map((u) => ({ ...u, endpoint: sio.url })),
        }));
        rows.push(await runSystem("socketio", chats, { "socket.io": sio.child.pid! }));
      } finally {
        sio.child.kill("SIGTERM");
      }
    }
  }

  /** The server processes' CPU per acked message, summed (load processes left out). */
  const serverCpuUs = (r: SystemRow) =>
    Object.entries(r.cpu)
      .filter(([k]) => !k.startsWith("load"))
      .reduce((sum, [, v]) => sum + v["µs per msg"], 0);
  const natterRow = rows.find((r) => r.system === "Natter");
  const sioRow = rows.find((r) => r.system === "Socket.IO");
  const msgsPerS = (r: SystemRow) => r.result.sent / r.result.durationS;
  const table = rows.map((r) => {
    const ack = summarize(r.result.ackLatency);
    const del = summarize(r.result.deliverLatency);
    const serverCpu = Object.entries(r.cpu)
      .filter(([k]) => !k.startsWith("load"))
      .reduce((s, [, v]) => s + v["cpu (cores)"], 0);
    const loadCpu = Object.entries(r.cpu)
      .filter(([k]) => k.startsWith("load"))
      .reduce((s, [, v]) => s + v["cpu (cores)"], 0);
    return {
      system: r.system,
      clients: r.result.clients,
      "msgs/s": Math.round(msgsPerS(r)),
      "÷ ceiling": ceiling ? round(msgsPerS(r) / ceiling) : "-",
      "deliveries/s": Math.round(r.result.deliveries / r.result.durationS),
      "ack p50/p99 ms": `${ack.p50} / ${ack.p99}`,
      "deliver p50/p99/p99.9/max ms": `${del.p50} / ${del.p99} / ${del.p999} / ${del.max}`,
      "server cpu": round(serverCpu, 2),
      "server µs/msg": Math.round(serverCpuUs(r)),
      "load cpu": round(loadCpu, 2),
      "flap missed": `${r.result.flap.missed}/${r.result.flap.expected}`,
      verify: r.problems.length ? "FAILED" : "OK",
    };
  });
  console.table(table);
  const ratios: Record<string, number> = {};
  if (natterRow && ceiling) ratios["Natter msgs/s ÷ nats bench ceiling"] = round(msgsPerS(natterRow) / ceiling);
  for (const c of ceilings)
    if (natterRow) ratios[`Natter msgs/s ÷ nats bench ${c.mode}`] = round(msgsPerS(natterRow) / c.msgsPerS);
  if (natterRow && sioRow) ratios["Natter msgs/s ÷ Socket.IO msgs/s"] = round(msgsPerS(natterRow) / msgsPerS(sioRow));
  if (natterRow && coreDeliveries)
    ratios["Natter deliveries/s ÷ core NATS deliveries/s"] = round(
      natterRow.result.deliveries / natterRow.result.durationS / coreDeliveries,
    );
  console.table(ratios);
  for (const r of rows) {
    console.log(`${r.system} processes:`);
    console.table(r.cpu);
  }
  for (const r of rows) {
    const parts = Object.entries(r.cpu)
      .filter(([k]) => !k.startsWith("load"))
      .sort(([, x], [, y]) => y["µs per msg"] - x["µs per msg"])
      .map(([k, v]) => `${k} ${Math.round(v["µs per msg"])}`);
    console.log(
      `${r.system} server CPU per message (µs): ${Math.round(serverCpuUs(r))}${parts.length > 1 ? ` (${parts.join(", ")})` : ""}`,
    );
  }
  for (const r of rows) {
    const f = r.result.flap;
    console.log(
      `${r.system} verify: ${r.problems.length ? "FAILED" : "OK"} (G1/G2/G4 over ${r.result.checkedDeliveries} socket deliveries${r.system === "Natter" ? `, ${r.checkedHistory} history events` : ""}; ${r.result.errors} send errors${rate > 0 ? `, ${r.result.late} sends issued >10 ms late` : ""}); ${f.clients} receivers dropped for 1 s mid-run missed ${f.missed} of ${f.expected} messages (${r.guarantees}); clients opened in ${r.result.openMs} ms`,
    );
    for (const p of r.problems) console.log(`  ${p}`);
    if (r.problems.length) failed = true;
  }
  Object.assign(out, {
    shape,
    rate,
    args: a,
    nats: nats.version,
    eventBytes,
    ceilings,
    baselines: baseRows,
    systems: table,
    ratios,
    cpu: Object.fromEntries(rows.map((r) => [r.system, r.cpu])),
    problems: Object.fromEntries(rows.map((r) => [r.system, r.problems])),
  });
  const dir = path.join(repoRoot, "bench/results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}-${a.shape}.json`),
    JSON.stringify(out, null, 2),
  );
  console.log(`verify: ${failed ? "FAILED" : "OK"}`);
  if (failed) process.exitCode = 1;
} finally {
  await Promise.all([...gateways.map((g) => g.kill()), ...consumers.map((c) => c.kill())]);
  await Promise.all(natsServers.map((s) => s.stop()));
  await store.cleanup();
}
