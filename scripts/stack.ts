// `npm run stack -- up|down|status`: the production shape on one machine (scripts/stack.sh
// starts this after the toolchain). README "Production mode on one machine" is the manual.
//   up [--gateways N] [--base-port P] [--timeout S]   prepare, start the supervisor, wait until all are ready
//   down                                             stop everything the stack started, prove nothing is left
//   status [--json]                                  state and health; exit 1 when something is not ready
import { execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { renderNatsNode } from "./nats-cluster-conf.ts";
import {
  CONSUMER_KINDS,
  DEFAULT_BASE_PORT,
  MEMBER,
  NATS_NODES,
  natsPorts,
  PlanError,
  natterEnv,
  renderEnvFile,
  type StackPlan,
  stackPaths,
  stackPlan,
} from "./stack-plan.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dir = path.resolve(process.env.NATTER_STACK_DIR ?? path.join(root, ".data", "stack"));
const paths = stackPaths(dir);

const say = (msg: string) => process.stderr.write(`[natter stack] ${msg}\n`);
class StackError extends Error {}

function alive(pid: number | undefined): pid is number {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const readPid = (file: string) => {
  try {
    return Number(readFileSync(file, "utf8").trim()) || undefined;
  } catch {
    return undefined;
  }
};

function readPlan(): StackPlan | undefined {
  try {
    return JSON.parse(readFileSync(paths.plan, "utf8")) as StackPlan;
  } catch {
    return undefined;
  }
}

/** Every live process marked as this stack's (the supervisor and its children), from /proc. */
function stackMembers(stackDir: string): number[] {
  const want = `${MEMBER}=${stackDir}`;
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, "latin1").split("\0").includes(want)) out.push(Number(entry));
    } catch {
      // gone, or another user's
    }
  }
  return out;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

async function probe(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Row {
  process: string;
  pid: string;
  state: "ready" | "not ready" | "down";
  port: number;
  url: string;
  restarts: number;
  log: string;
}

async function rows(plan: StackPlan): Promise<Row[]> {
  let state: { processes?: Record<string, { restarts?: number }> } = {};
  try {
    state = JSON.parse(readFileSync(paths.state, "utf8")) as typeof state;
  } catch {
    // no supervisor yet
  }
  return Promise.all(
    plan.processes.map(async (p) => {
      const pid = readPid(p.pidFile);
      const up = alive(pid);
      return {
        process: p.name,
        pid: up ? String(pid) : "-",
        state: !up ? "down" : (await probe(p.ready)) ? "ready" : "not ready",
        port: p.port,
        url: p.url,
        restarts: state.processes?.[p.name]?.restarts ?? 0,
        log: path.relative(process.cwd(), p.log) || p.log,
      } satisfies Row;
    }),
  );
}

function table(list: Row[]): string {
  const head = ["process", "pid", "state", "port", "url", "restarts", "log"];
  const cells = list.map((r) => [r.process, r.pid, r.state, String(r.port), r.url, String(r.restarts), r.log]);
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((x, i) => x.padEnd(width[i]!))
      .join("  ")
      .trimEnd();
  return [line(head), ...cells.map(line)].join("\n");
}

function footer(plan: StackPlan): string {
  return [
    `NATS: ${plan.natsUrls.join(",")}  (nats --context natter-stack-sys server list; natter-stack-tail, natter-stack-admin)`,
    `Cassandra: ${plan.cassandra}, keyspace ${plan.keyspace}`,
    `supervisor log: ${path.relative(process.cwd(), paths.supervisorLog)}; state and secrets under ${dir}`,
  ].join("\n");
}

// ---- up ----------------------------------------------------------------------------------

function intOption(flag: string | undefined, flagName: string, envName: string, fallback: number): number {
  const raw = flag ?? process.env[envName];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n)) {
    throw new StackError(`${flag === undefined ? envName : `--${flagName}`} ${raw}: expected a whole number`);
  }
  return n;
}

function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}

function ownDir(d: string): string {
  mkdirSync(d, { recursive: true, mode: 0o700 });
  chmodSync(d, 0o700);
  return d;
}

/**
 * Renders the stack's files from the operator's copy: each NATS node its config, the
 * accounts file and the server certificate; each kind of Natter process its own env file,
 * its own nkey seed and the CA certificate. Only gateways get the token secret; only the push process the VAPID private key.
 */
function prepare(plan: StackPlan): void {
  const op = paths.operator;
  const tls = path.join(op, "tls");
  execFileSync("bash", [path.join(root, "scripts/nats-certs.sh"), tls], { stdio: ["ignore", "ignore", "inherit"] });
  execFileSync(process.execPath, [path.join(root, "scripts/nats-auth.ts"), op], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const tokenFile = path.join(op, "token-secret");
  if (!existsSync(tokenFile)) writeSecret(tokenFile, randomBytes(32).toString("hex"));
  const tokenSecret = readFileSync(tokenFile, "utf8").trim();
  // The deployment's VAPID key pair (Web Push), made once: browsers subscribed with its
  // public key. Gateways get the public key, only the push process the private one.
  const vapidFile = path.join(op, "vapid.json");
  if (!existsSync(vapidFile)) {
    const jwk = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });
    const point = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]);
    writeSecret(vapidFile, JSON.stringify({ publicKey: point.toString("base64url"), privateKey: jwk.d }));
  }
  const vapid = JSON.parse(readFileSync(vapidFile, "utf8")) as { publicKey: string; privateKey: string };

  const natsDir = ownDir(paths.nats);
  ownDir(path.join(natsDir, "tls"));
  copyFileSync(path.join(op, "auth.conf"), path.join(natsDir, "auth.conf"));
  chmodSync(path.join(natsDir, "auth.conf"), 0o600);
  for (const f of ["ca.pem", "server.pem", "server-key.pem"]) {
    copyFileSync(path.join(tls, f), path.join(natsDir, "tls", f));
  }
  chmodSync(path.join(natsDir, "tls", "server-key.pem"), 0o600);
  const routes = Array.from({ length: NATS_NODES }, (_, k) => `127.0.0.1:${natsPorts(plan.basePort, k).cluster}`);
  for (let k = 0; k < NATS_NODES; k++) {
    const ports = natsPorts(plan.basePort, k);
    const name = `nats-${k + 1}`;
    writeFileSync(
      path.join(natsDir, `${name}.conf`),
      renderNatsNode({
        name,
        client: `127.0.0.1:${ports.client}`,
        monitor: `127.0.0.1:${ports.monitor}`,
        cluster: `127.0.0.1:${ports.cluster}`,
        routes,
        store: path.join(natsDir, "store", name),
        tlsDir: path.join(natsDir, "tls"),
        maxMemoryStore: "256MB",
        maxFileStore: "4GB",
        about: [`Node ${k + 1} of the 3-node cluster of \`npm run stack\` (${dir}): loopback only.`],
      }),
    );
  }

  for (const kind of ["gateway", ...CONSUMER_KINDS] as const) {
    const own = ownDir(paths.secrets(kind));
    writeSecret(path.join(own, "nats.nk"), readFileSync(path.join(op, "secrets", `${kind}.nk`), "utf8"));
    copyFileSync(path.join(tls, "ca.pem"), path.join(own, "ca.pem"));
    const env = {
      ...natterEnv(plan, kind),
      ...(kind === "gateway"
        ? { NATTER_TOKEN_SECRET: tokenSecret, NATTER_PUSH_VAPID_PUBLIC_KEY: vapid.publicKey }
        : kind === "push"
          ? { NATTER_PUSH_VAPID_PUBLIC_KEY: vapid.publicKey, NATTER_PUSH_VAPID_PRIVATE_KEY: vapid.privateKey }
          : {}),
    };
    writeSecret(
      path.join(own, "env"),
      renderEnvFile(env, `${kind} processes of the stack in ${dir}: rendered by npm run stack -- up, do not edit`),
    );
  }
  if (!existsSync(paths.commonEnv)) {
    writeFileSync(
      paths.commonEnv,
      "# Your NATTER_* settings for every Natter process of this stack (README's configuration\n# table), read at each (re)start before the stack's own; never overwritten.\n# NATTER_LOG_LEVEL=debug\n",
      { mode: 0o600 },
    );
  }

  // The operator's nats CLI contexts: they point at the operator's seeds, never copy them.
  const nats = path.join(process.env.NATS_BIN_DIR ?? "", "nats");
  for (const who of ["tail", "admin", "sys"] as const) {
    execFileSync(
      nats,
      [
        "context",
        "save",
        `natter-stack-${who}`,
        "--server",
        plan.natsUrls.join(","),
        "--nkey",
        path.join(op, "secrets", `${who}.nk`),
        "--tlsca",
        path.join(tls, "ca.pem"),
        "--description",
        `Natter stack (${dir}): ${who}`,
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
  }
}

async function waitReady(plan: StackPlan, timeoutS: number): Promise<Row[]> {
  const deadline = Date.now() + timeoutS * 1000;
  let lastSaid = 0;
  for (;;) {
    const list = await rows(plan);
    const waiting = list.filter((r) => r.state !== "ready");
    if (!waiting.length) return list;
    if (Date.now() > deadline) {
      for (const r of waiting) {
        const p = plan.processes.find((x) => x.name === r.process)!;
        let tail = "";
        try {
          tail = readFileSync(p.log, "utf8").split("\n").slice(-8).join("\n");
        } catch {
          // no log yet
        }
        say(`${r.process} is ${r.state}; the end of ${p.log}:\n${tail}`);
      }
      process.stdout.write(`${table(list)}\n`);
      throw new StackError(
        `not every process was ready within ${timeoutS} s (npm run stack -- status; logs in ${paths.logs})`,
      );
    }
    if (Date.now() - lastSaid > 10_000) {
      lastSaid = Date.now();
      say(`waiting for ${waiting.map((r) => `${r.process} (${r.state})`).join(", ")}`);
    }
    await sleep(500);
  }
}

async function up(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { gateways: { type: "string" }, "base-port": { type: "string" }, timeout: { type: "string" } },
  });
  const timeoutS = intOption(values.timeout, "timeout", "NATTER_STACK_TIMEOUT", 180);
  const supervisor = readPid(paths.supervisorPid);
  const running = readPlan();
  if (alive(supervisor) && running) {
    const wantGateways = intOption(values.gateways, "gateways", "NATTER_STACK_GATEWAYS", running.gateways);
    const wantBase = intOption(values["base-port"], "base-port", "NATTER_STACK_BASE_PORT", running.basePort);
    if (wantGateways !== running.gateways || wantBase !== running.basePort) {
      throw new StackError(
        `the stack in ${dir} already runs with ${running.gateways} gateways from base port ${running.basePort}: npm run stack -- down first`,
      );
    }
    say(`already running (supervisor pid ${supervisor})`);
    process.stdout.write(`${table(await waitReady(running, timeoutS))}\n${footer(running)}\n`);
    return;
  }
  await leftovers();
  const plan = stackPlan({
    dir,
    root,
    basePort: intOption(values["base-port"], "base-port", "NATTER_STACK_BASE_PORT", DEFAULT_BASE_PORT),
    gateways: intOption(values.gateways, "gateways", "NATTER_STACK_GATEWAYS", 2),
    keyspace: process.env.NATTER_STACK_KEYSPACE || "natter_stack",
    cassandra: process.env.NATTER_STACK_CASSANDRA || `127.0.0.1:${process.env.CASSANDRA_PORT || 9042}`,
    natsBin: process.env.NATS_BIN_DIR ?? "",
    node: process.execPath,
  });
  const ports = plan.processes.flatMap((p) =>
    p.kind === "nats"
      ? Object.entries(natsPorts(plan.basePort, Number(p.name.slice(5)) - 1)).map(
          ([k, v]) => [`${p.name} ${k}`, v] as const,
        )
      : [[p.name, p.port] as const],
  );
  for (const [what, port] of ports) {
    if (!(await portFree(port))) {
      throw new StackError(
        `port ${port} (${what}) is in use by another process: choose other ports with --base-port or NATTER_STACK_BASE_PORT (now ${plan.basePort})`,
      );
    }
  }
  ownDir(dir);
  mkdirSync(paths.logs, { recursive: true });
  prepare(plan);
  writeFileSync(paths.plan, `${JSON.stringify(plan, null, 2)}\n`);
  const log = openSync(paths.supervisorLog, "a");
  const child = spawn(process.execPath, [path.join(root, "scripts/stack-supervisor.ts"), dir], {
    detached: true,
    stdio: ["ignore", log, log],
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? dir, [MEMBER]: dir },
  });
  child.unref();
  say(`supervisor started (pid ${child.pid}); waiting up to ${timeoutS} s for every process`);
  const list = await waitReady(plan, timeoutS);
  process.stdout.write(`${table(list)}\n${footer(plan)}\n`);
}

// ---- down --------------------------------------------------------------------------------

async function waitGone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = pids.filter(alive);
    if (!left.length || Date.now() > deadline) return left;
    await sleep(100);
  }
}

/** Processes of this stack that outlived their supervisor (one killed with SIGKILL): stopped. */
async function leftovers(): Promise<void> {
  const pids = stackMembers(dir);
  if (!pids.length) return;
  say(`stopping ${pids.length} process(es) left from an earlier run: ${pids.join(", ")}`);
  for (const pid of pids) process.kill(pid, "SIGTERM");
  for (const pid of await waitGone(pids, 10_000)) process.kill(pid, "SIGKILL");
  const left = await waitGone(pids, 5000);
  if (left.length) throw new StackError(`processes ${left.join(", ")} of the stack did not stop`);
}

async function down(): Promise<void> {
  const supervisor = readPid(paths.supervisorPid);
  if (alive(supervisor)) {
    process.kill(supervisor, "SIGTERM");
    // It gives each process 10 s for SIGTERM (Natter processes, then NATS nodes).
    if ((await waitGone([supervisor], 40_000)).length) {
      say(`supervisor ${supervisor} did not stop within 40 s: SIGKILL`);
      process.kill(supervisor, "SIGKILL");
    }
  }
  await leftovers();
  const left = stackMembers(dir);
  if (left.length) throw new StackError(`still running: ${left.join(", ")}`);
  say(
    `stopped; no process of the stack in ${dir} is left (data, logs and secrets kept there; Cassandra is the one of npm run services)`,
  );
}

// ---- status ------------------------------------------------------------------------------

async function status(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: "boolean" } } });
  const plan = readPlan();
  if (!plan) {
    say(`no stack in ${dir} (npm run stack -- up)`);
    return 1;
  }
  const supervisor = readPid(paths.supervisorPid);
  const list = await rows(plan);
  const ok = alive(supervisor) && list.every((r) => r.state === "ready");
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ ok, dir, supervisor: alive(supervisor) ? supervisor : null, processes: list })}\n`,
    );
  } else {
    process.stdout.write(
      `supervisor: ${alive(supervisor) ? `running (pid ${supervisor})` : "stopped"}\n${table(list)}\n${footer(plan)}\n`,
    );
  }
  return ok ? 0 : 1;
}

const [cmd, ...rest] = process.argv.slice(2);
try {
  if (cmd === "up") await up(rest);
  else if (cmd === "down") await down();
  else if (cmd === "status") process.exitCode = await status(rest);
  else {
    say("usage: npm run stack -- up [--gateways N] [--base-port P] [--timeout S] | down | status [--json]");
    process.exitCode = 2;
  }
} catch (err) {
  say(
    `error: ${err instanceof StackError || err instanceof PlanError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
  );
  process.exitCode = 1;
}
