/**
 * `npm run bench -- [--shape direct|group] [--members 10] [--chats 50] [--inflight 20]
 *   [--duration 10] [--gateways 2] [--store sqlite|cassandra] [--body 100] [--quick]`
 *
 * Starts its own stack (nats-server, a consumers process, N gateway processes), runs the
 * same load shape against raw core NATS and JetStream (the baselines) and then against
 * Natter over WebSockets, verifies G1/G2/G4 on what the sockets and the history hold,
 * and prints a table with the ratios. Results are written to bench/results/.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { repoRoot, startNatsServer } from "@natter/testkit";
import { stackStore, startConsumers, startGateway } from "../../tests/src/stack.ts";
import { runCoreBaseline, runJetStreamBaseline } from "./baseline.ts";
import { summarize } from "./hist.ts";
import { runNatterLoad } from "./natter-load.ts";
import { cpuShare, procSample } from "./proc-stats.ts";
import { settle, verify } from "./verify.ts";

const { values: a } = parseArgs({
  options: {
    shape: { type: "string", default: "direct" },
    members: { type: "string", default: "10" },
    chats: { type: "string" },
    inflight: { type: "string", default: "20" },
    duration: { type: "string", default: "10" },
    gateways: { type: "string", default: "2" },
    store: { type: "string", default: "sqlite" },
    body: { type: "string", default: "100" },
    "skip-history": { type: "boolean", default: false },
  },
});
const members = a.shape === "direct" ? 2 : Number(a.members);
const shape = {
  members,
  chats: Number(a.chats ?? (a.shape === "direct" ? 50 : 10)),
  inflight: Number(a.inflight),
  durationS: Number(a.duration),
  bodyBytes: Number(a.body),
};
if (a.store !== "sqlite" && a.store !== "cassandra") throw new Error("--store sqlite|cassandra");

const nats = await startNatsServer();
const store = await stackStore(a.store);
// The benchmark measures throughput: lift the per-user send limits.
const env = { ...store.env, NATTER_SEND_RATE: "1000000", NATTER_SEND_BURST: "1000000", NATTER_LOG_LEVEL: "warn" };
const gateways = await Promise.all(
  Array.from({ length: Number(a.gateways) }, (_, i) => startGateway(nats.url, env, `g${i + 1}`)),
);
const consumers = await startConsumers(nats.url, env);
try {
  console.log(
    `shape: ${shape.chats} ${members === 2 ? "1:1 chats" : `groups of ${members}`}, ${shape.inflight} sends in flight per chat, ${shape.durationS} s, ${shape.bodyBytes}-byte bodies, ${gateways.length} gateway(s), store ${a.store}, nats-server ${nats.version}`,
  );
  const core = await runCoreBaseline(nats.url, shape, gateways.length);
  const jsBase = await runJetStreamBaseline(nats.url, shape);

  const pids = {
    nats: nats.pid,
    consumers: consumers.child.pid!,
    ...Object.fromEntries(gateways.map((g) => [g.name, g.child.pid!])),
  };
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, procSample(pid)]));
  const natter = await runNatterLoad(
    gateways.map((g) => g.url),
    shape,
    `b${Date.now().toString(36)}_`,
  );
  const after = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, procSample(pid)]));
  await settle(natter);
  const verdict = await verify(natter, gateways[0]!.url, !a["skip-history"]);
  for (const s of natter.sockets) s.ws.close();

  const rate = (x: number, s: number) => Math.round(x / s);
  const natterMsgs = rate(natter.sent, natter.durationS);
  const rows = [
    {
      system: core.name,
      "msgs/s": rate(core.sent, core.durationS),
      "deliveries/s": rate(core.deliveries, core.durationS),
      ...summarize(core.deliverLatency),
      note: "send→deliver",
    },
    {
      system: jsBase.name,
      "msgs/s": rate(jsBase.sent, jsBase.durationS),
      "deliveries/s": 0,
      ...summarize(jsBase.deliverLatency),
      note: "publish→PubAck",
    },
    {
      system: "Natter send→sent",
      "msgs/s": natterMsgs,
      "deliveries/s": 0,
      ...summarize(natter.ackLatency),
      note: "WebSocket, persisted",
    },
    {
      system: "Natter send→deliver",
      "msgs/s": natterMsgs,
      "deliveries/s": rate(natter.deliveries, natter.durationS),
      ...summarize(natter.deliverLatency),
      note: "to every member socket",
    },
  ];
  console.table(rows);
  const ratios = {
    "Natter msgs/s ÷ JetStream publish msgs/s":
      Math.round((natterMsgs / rate(jsBase.sent, jsBase.durationS)) * 1000) / 1000,
    "Natter deliveries/s ÷ core NATS deliveries/s":
      Math.round((natter.deliveries / natter.durationS / (core.deliveries / core.durationS)) * 1000) / 1000,
  };
  console.table(ratios);
  const cpu = Object.fromEntries(
    Object.keys(pids).map((k) => [
      k,
      before[k] && after[k]
        ? { "cpu (cores)": cpuShare(before[k], after[k], natter.durationS), "rss MiB": after[k].rssMiB }
        : {},
    ]),
  );
  console.table(cpu);
  console.log(
    `verify: ${verdict.ok ? "OK" : "FAILED"} (G1/G2/G4 over ${verdict.checkedDeliveries} socket deliveries, ${verdict.checkedHistory} history events; ${natter.errors} send errors)`,
  );
  for (const p of verdict.problems) console.log(`  ${p}`);
  const dir = path.join(repoRoot, "bench/results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}-${a.shape}.json`),
    JSON.stringify({ shape, args: a, rows, ratios, cpu, verdict }, null, 2),
  );
  if (!verdict.ok) process.exitCode = 1;
} finally {
  await Promise.all([...gateways.map((g) => g.kill()), consumers.kill()]);
  await nats.stop();
  await store.cleanup();
}
