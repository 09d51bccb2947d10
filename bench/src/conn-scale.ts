/**
 * `npm run bench:conn -- [--per-process 19000] [--total 100000] [--per-gateway 16500]
 *   [--step 2000] [--concurrency 200] [--group 20] [--settle 30] [--no-storm] [--min-free-gib 3]`
 *
 * Connection scale, in one run on one nats-server (SQLite store):
 *
 * 1. bare `ws` (bench/src/peers/bare-ws-server.ts): `--per-process` idle sockets on one
 *    process, RSS growth per socket and the time to accept them: the baseline;
 * 2. one gateway process: the same number of Natter sockets, each authenticated (bearer
 *    token, device session read from the store) and synced on its one group chat
 *    (`sync` answered by `synced`): RSS growth per socket, time to accept, and the growth of
 *    its V8 heap in use (from its /metrics; the lowest sample while settling);
 * 3. scale-out: more gateway processes (`--per-gateway` sockets each) and one load process
 *    per gateway, each from two loopback source addresses of its own, ramped in steps up to
 *    `--total` sockets; stops early if the machine's available memory drops under
 *    `--min-free-gib` or connections fail;
 * 4. reconnect storm: every load process drops all its sockets at once and reconnects them
 *    (`--concurrency` handshakes in flight per process, as clients with backoff would), until
 *    every socket has sent `sync` and got `synced`.
 *
 * Every process stays under the 20,000 open-files limit (`ulimit -Hn`). Only 127.x
 * loopback addresses are used.
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { exitOnSignals, LIFTED_RATE_LIMITS, repoRoot, startNatsServer } from "@natter/testkit";
import { type GatewayProc, stackStore, startConsumers, startGateway } from "@natter/testkit";
import type { ConnClient } from "./load/conn-worker.ts";
import { procSample } from "./proc-stats.ts";
import { seedChats } from "./seed.ts";

const { values: a } = parseArgs({
  options: {
    "per-process": { type: "string", default: "19000" },
    total: { type: "string", default: "100000" },
    "per-gateway": { type: "string", default: "16500" },
    step: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "200" },
    group: { type: "string", default: "20" },
    "no-storm": { type: "boolean", default: false },
    "skip-bare": { type: "boolean", default: false },
    "min-free-gib": { type: "string", default: "3" },
    settle: { type: "string", default: "30" },
  },
});
const PER_PROCESS = Number(a["per-process"]);
const TOTAL = Math.max(PER_PROCESS, Number(a.total));
const PER_GATEWAY = Number(a["per-gateway"]);
const STEP = Number(a.step);
const CONCURRENCY = Number(a.concurrency);
const GROUP = Number(a.group);
const SETTLE_S = Number(a.settle);
const MIN_FREE_KIB = Number(a["min-free-gib"]) * 1024 * 1024;
if (PER_PROCESS > 19_000 || PER_GATEWAY > 19_000) throw new Error("one process holds at most ~19k sockets here");

const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const memAvailableKiB = () => Number(/MemAvailable:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
const rssMiB = (pid: number) => procSample(pid)?.rssMiB ?? 0;

/**
 * A connection-scale load process on its own two source addresses (127.0.0.x), and two
 * more for the storm's reconnects (127.0.1.x); the bare `ws` ramp has load processes 7
 * and 8, whose addresses no gateway ramp uses. Each socket is bound to an explicit source
 * port (`load/conn-worker.ts`): with port 0 the kernel's search for a free port, worst on
 * an address full of TIME_WAIT sockets (a storm's, or the previous ramp's), took most of
 * the load processes' CPU and paced the ramps and the storm instead of the servers.
 */
class Loader {
  readonly child: ChildProcess;
  readonly #waiting = new Map<string, { resolve: (m: Record<string, number>) => void; reject: (e: Error) => void }>();
  held = 0;
  constructor(index: number) {
    this.child = fork(path.join(here, "load/conn-worker.ts"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.child.on("message", (m: { type: string } & Record<string, number>) => {
      const w = this.#waiting.get(m.type);
      this.#waiting.delete(m.type);
      w?.resolve(m);
    });
    this.child.on("exit", (code) => {
      for (const w of this.#waiting.values()) w.reject(new Error(`loader exited with ${code}`));
      this.#waiting.clear();
    });
    this.child.send({
      type: "init",
      sources: [`127.0.0.${2 + 2 * index}`, `127.0.0.${3 + 2 * index}`],
      stormSources: [`127.0.1.${2 + 2 * index}`, `127.0.1.${3 + 2 * index}`],
      concurrency: CONCURRENCY,
    });
  }
  #ask(msg: unknown, answer: string): Promise<Record<string, number>> {
    return new Promise((resolve, reject) => {
      this.#waiting.set(answer, { resolve, reject });
      this.child.send(msg as object);
    });
  }
  async open(clients: ConnClient[]): Promise<{ ms: number; failed: number }> {
    const r = await this.#ask({ type: "open", clients }, "opened");
    this.held = r.held!;
    return { ms: r.ms!, failed: r.failed! };
  }
  storm(): Promise<Record<string, number>> {
    return this.#ask({ type: "storm" }, "stormed");
  }
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) return resolve();
      const t = setTimeout(() => this.child.kill("SIGKILL"), 5000);
      this.child.once("exit", () => {
        clearTimeout(t);
        resolve();
      });
      this.child.send({ type: "close" });
    });
  }
}

interface Ramp {
  target: string;
  sockets: number;
  seconds: number;
  "sockets/s": number;
  "rss before MiB": number;
  "rss after MiB": number;
  "rss settled MiB": number;
  "KiB/socket after": number;
  "KiB/socket settled": number;
  /** Growth of the V8 heap in use per socket (lowest sample while settling); gateways only. */
  "heap KiB/socket settled"?: number;
  failed: number;
}

/** The V8 heap in use of a process that serves prom-client's default metrics. */
async function heapUsedMiB(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const m = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)/m.exec(text);
  if (!m) throw new Error(`no nodejs_heap_size_used_bytes at ${metricsUrl}`);
  return Number(m[1]) / 1048576;
}

/** Opens `clients` on one server process from two loaders, in steps; RSS (and heap) growth per socket. */
async function rampOne(
  target: string,
  pid: number,
  clients: ConnClient[],
  loaders: Loader[],
  metricsUrl?: string,
): Promise<Ramp> {
  // The heap before is the lowest of a few samples too, so the growth is not understated.
  let heapBefore = Infinity;
  for (let i = 0; i < 4; i++) {
    await sleep(500);
    if (metricsUrl) heapBefore = Math.min(heapBefore, await heapUsedMiB(metricsUrl));
  }
  const before = rssMiB(pid);
  let failed = 0;
  const t0 = performance.now();
  for (let i = 0; i < clients.length; i += STEP * loaders.length) {
    const rs = await Promise.all(
      loaders.map((l, k) => l.open(clients.slice(i + k * STEP, Math.min(i + (k + 1) * STEP, clients.length)))),
    );
    failed += rs.reduce((s, r) => s + r.failed, 0);
  }
  const seconds = (performance.now() - t0) / 1000;
  // Right after the burst RSS still holds the garbage of the handshakes; idle, the heap
  // shrinks after a few GCs. Both are reported: right after (3 s) and settled (the lowest
  // sample over the next --settle seconds). The V8 heap in use is reported beside them
  // (not instead): its lowest sample is close to what the sockets keep alive, without the
  // garbage and heap headroom that RSS holds until the next full GC.
  await sleep(3000);
  const after = rssMiB(pid);
  let settled = after;
  let heapSettled = metricsUrl ? await heapUsedMiB(metricsUrl) : 0;
  for (let i = 0; i < SETTLE_S; i++) {
    await sleep(1000);
    settled = Math.min(settled, rssMiB(pid));
    if (metricsUrl) heapSettled = Math.min(heapSettled, await heapUsedMiB(metricsUrl));
  }
  const sockets = clients.length - failed;
  const perSocket = (growthMiB: number) => Math.round(((growthMiB * 1024) / sockets) * 10) / 10;
  const kib = (mib: number) => perSocket(mib - before);
  const row = {
    target,
    sockets,
    seconds: Math.round(seconds * 10) / 10,
    "sockets/s": Math.round(sockets / seconds),
    "rss before MiB": before,
    "rss after MiB": after,
    "rss settled MiB": settled,
    "KiB/socket after": kib(after),
    "KiB/socket settled": kib(settled),
    ...(metricsUrl ? { "heap KiB/socket settled": perSocket(heapSettled - heapBefore) } : {}),
    failed,
  };
  console.log(JSON.stringify(row));
  return row;
}

exitOnSignals();
const nats = await startNatsServer();
const store = await stackStore("sqlite");
const env = {
  ...store.env,
  NATTER_LOG_LEVEL: "warn",
  ...LIFTED_RATE_LIMITS,
};
const gateways: GatewayProc[] = [await startGateway(nats.url, env, "g1")];
const consumers = await startConsumers(nats.url, env);
const loaders: Loader[] = [];
let bare: ChildProcess | undefined;
const report: Record<string, unknown> = { nats: nats.version, perProcess: PER_PROCESS, total: TOTAL };
try {
  console.log(
    `connection scale: ${PER_PROCESS} sockets on one process (bare ws, then one gateway), then toward ${TOTAL} over gateways of ${PER_GATEWAY}; steps of ${STEP} per load process, ${CONCURRENCY} handshakes in flight per load process; nats-server ${nats.version}; open-files limit per process 20,000`,
  );
  const t = performance.now();
  const chats = await seedChats(gateways[0]!.url, env, "c", Math.ceil(TOTAL / GROUP), GROUP);
  const users = chats.flatMap((c) => c.members.map((u) => ({ token: u.token, chat: c.chatId }))).slice(0, TOTAL);
  console.log(
    `seeded ${users.length} users in ${chats.length} groups of ${GROUP} in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  // The history consumer must have projected the chats (sync checks membership in the store).
  await sleep(3000);

  const rows: Ramp[] = [];
  // 1. bare ws
  if (!a["skip-bare"]) {
    bare = spawn(process.execPath, [path.join(repoRoot, "bench/src/peers/bare-ws-server.ts")], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const port = await new Promise<number>((resolve) => {
      let out = "";
      bare!.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /listening (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
    });
    const bl = [new Loader(7), new Loader(8)];
    const url = `ws://127.0.0.1:${port}`;
    rows.push(
      await rampOne(
        "bare ws",
        bare.pid!,
        Array.from({ length: PER_PROCESS }, () => ({ url })),
        bl,
      ),
    );
    await Promise.all(bl.map((l) => l.close()));
    bare.kill("SIGTERM");
    await sleep(2000);
  }

  // 2. one gateway process
  const g1 = gateways[0]!;
  const wsOf = (g: GatewayProc) => `${g.url.replace(/^http/, "ws")}/v1/ws`;
  loaders.push(new Loader(0), new Loader(1));
  const first = users.slice(0, PER_PROCESS).map((u) => ({ ...u, url: wsOf(g1) }));
  rows.push(await rampOne("Natter gateway (g1)", g1.child.pid!, first, loaders, `${g1.url}/metrics`));
  console.table(rows);
  report.perProcess = rows;

  // 3. scale-out
  let held = rows.at(-1)!.sockets;
  let stopped = "";
  const rest = users.slice(PER_PROCESS);
  const extra = Math.ceil(rest.length / PER_GATEWAY);
  const t3 = performance.now();
  const more = await Promise.all(Array.from({ length: extra }, (_, i) => startGateway(nats.url, env, `g${i + 2}`)));
  gateways.push(...more);
  await sleep(1000);
  const idleRss = Object.fromEntries(more.map((g) => [g.name, rssMiB(g.child.pid!)]));
  const mine = more.map((g, i) => {
    loaders.push(new Loader(2 + i));
    return rest.slice(i * PER_GATEWAY, (i + 1) * PER_GATEWAY).map((u) => ({ ...u, url: wsOf(g) }));
  });
  const scaleLoaders = loaders.slice(2);
  for (let off = 0; extra > 0 && off < PER_GATEWAY && !stopped; off += STEP) {
    const rs = await Promise.all(scaleLoaders.map((l, i) => l.open(mine[i]!.slice(off, off + STEP))));
    const n = scaleLoaders.reduce((s, _, i) => s + Math.min(STEP, Math.max(0, mine[i]!.length - off)), 0);
    const failed = rs.reduce((s, r) => s + r.failed, 0);
    held += n - failed;
    const free = memAvailableKiB();
    console.log(
      `held ${held} sockets over ${gateways.length} gateways (${Math.round((performance.now() - t3) / 1000)} s), ${failed} failed, MemAvailable ${(free / 1048576).toFixed(1)} GiB`,
    );
    if (free < MIN_FREE_KIB) stopped = `MemAvailable under ${a["min-free-gib"]} GiB`;
    else if (failed > n / 10) stopped = `${failed} of ${n} connections failed in one step`;
  }
  const varz = (await (await fetch(`http://127.0.0.1:${nats.monitorPort}/varz`)).json()) as { subscriptions: number };
  const scale = {
    sockets: held,
    gateways: gateways.length,
    loadProcesses: loaders.length,
    sourceAddresses: loaders.length * 2,
    seconds: Math.round((performance.now() - t3) / 1000),
    stopped: stopped || "no: reached the target",
    gatewayRssMiB: Object.fromEntries(gateways.map((g) => [g.name, rssMiB(g.child.pid!)])),
    gatewayRssBeforeSocketsMiB: idleRss,
    loadRssMiB: loaders.map((l) => rssMiB(l.child.pid!)),
    natsRssMiB: rssMiB(nats.pid),
    natsSubscriptions: varz.subscriptions,
    memAvailableGiB: Math.round((memAvailableKiB() / 1048576) * 10) / 10,
  };
  console.log("scale-out:", JSON.stringify(scale, null, 2));
  report.scale = scale;

  // 4. reconnect storm
  if (!a["no-storm"]) {
    await sleep(8000); // online announcements (5 s delay) done
    report.gatewayRssIdleMiB = Object.fromEntries(gateways.map((g) => [g.name, rssMiB(g.child.pid!)]));
    console.log("gateway RSS before the storm (MiB):", JSON.stringify(report.gatewayRssIdleMiB));
    const t4 = performance.now();
    const rs = await Promise.all(loaders.map((l) => l.storm()));
    const storm = {
      sockets: held,
      seconds: Math.round((performance.now() - t4) / 100) / 10,
      perLoaderSeconds: rs.map((r) => Math.round(r.ms! / 100) / 10),
      failed: rs.reduce((s, r) => s + r.failed!, 0),
      gatewayRssMiB: Object.fromEntries(gateways.map((g) => [g.name, rssMiB(g.child.pid!)])),
    };
    console.log("reconnect storm:", JSON.stringify(storm, null, 2));
    report.storm = storm;
  }
  const dir = path.join(repoRoot, "bench/results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}-conn-scale.json`),
    JSON.stringify(report, null, 2),
  );
} finally {
  await Promise.all(loaders.map((l) => l.close()));
  bare?.kill("SIGTERM");
  await Promise.all([...gateways.map((g) => g.kill()), consumers.kill()]);
  await nats.stop();
  await store.cleanup();
}
