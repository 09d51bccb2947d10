// The supervisor of `npm run stack`: one detached process that runs every process of
// <dir>/stack.json (scripts/stack-plan.ts), appends each one's output to its log, restarts
// one that exits with backoff (1 s doubling to 30 s, back to 1 s after a minute of running)
// and logs why, and on SIGTERM or SIGINT stops them all: Natter processes first, then the
// NATS nodes, each with SIGTERM and SIGKILL after 10 s. It holds no secret: each child's
// environment is read from its own env files when it starts.
//   scripts/node scripts/stack-supervisor.ts DIR      (started by scripts/stack.ts up)
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createLogger } from "@natter/config";
import { MEMBER, parseEnvFile, type StackPlan, type StackProcess, stackPaths } from "./stack-plan.ts";

const dir = process.argv[2] ?? "";
if (!dir) {
  console.error("usage: stack-supervisor.ts DIR");
  process.exit(2);
}
const paths = stackPaths(dir);
const plan = JSON.parse(readFileSync(paths.plan, "utf8")) as StackPlan;
const logger = createLogger(process.env.NATTER_LOG_LEVEL ?? "info", "stack-supervisor");

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
const HEALTHY_RUN_MS = 60_000;
const STOP_GRACE_MS = 10_000;

interface Running {
  spec: StackProcess;
  child?: ChildProcess;
  restarts: number;
  backoffMs: number;
  startedAt?: number;
  lastExit?: string;
  timer?: NodeJS.Timeout;
}

const procs = plan.processes.map((spec): Running => ({ spec, restarts: 0, backoffMs: BACKOFF_MIN_MS }));
let stopping = false;

/** What `npm run stack -- status` reads: pids and restarts (health it asks itself). */
function writeState(): void {
  const state = {
    supervisor: process.pid,
    processes: Object.fromEntries(
      procs.map((p) => [
        p.spec.name,
        {
          pid: p.child?.exitCode === null && p.child.signalCode === null ? p.child.pid : undefined,
          restarts: p.restarts,
          startedAt: p.startedAt,
          lastExit: p.lastExit,
        },
      ]),
    ),
  };
  writeFileSync(paths.state, `${JSON.stringify(state, null, 2)}\n`);
}

/** The child's environment: only what it needs, never the supervisor's own. */
function envOf(spec: StackProcess): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? dir,
    // Marks the process as this stack's, so `down` can prove none is left.
    [MEMBER]: dir,
  };
  if (process.env.LANG) env.LANG = process.env.LANG;
  for (const file of spec.envFiles) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    Object.assign(env, parseEnvFile(text));
  }
  return { ...env, ...spec.env };
}

function start(p: Running): void {
  if (stopping) return;
  const { spec } = p;
  mkdirSync(paths.logs, { recursive: true });
  mkdirSync(paths.run, { recursive: true });
  const out = openSync(spec.log, "a");
  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, { env: envOf(spec), stdio: ["ignore", out, out], cwd: plan.root });
  } finally {
    closeSync(out);
  }
  p.child = child;
  p.startedAt = Date.now();
  child.once("error", (err) => {
    // Not started at all (a missing binary): counts as an exit.
    logger.error({ process: spec.name, err: err.message }, `${spec.name} could not be started`);
    onExit(p, child, `error ${err.message}`);
  });
  if (child.pid !== undefined) {
    writeFileSync(spec.pidFile, `${child.pid}\n`);
    logger.info({ process: spec.name, pid: child.pid, restarts: p.restarts }, `${spec.name} started`);
  }
  child.once("exit", (code, signal) => onExit(p, child, signal ? `signal ${signal}` : `code ${code}`));
  writeState();
}

function onExit(p: Running, child: ChildProcess, how: string): void {
  if (p.child !== child) return;
  p.child = undefined;
  p.lastExit = how;
  rmSync(p.spec.pidFile, { force: true });
  if (stopping) return writeState();
  const ran = Date.now() - (p.startedAt ?? Date.now());
  if (ran >= HEALTHY_RUN_MS) p.backoffMs = BACKOFF_MIN_MS;
  const wait = p.backoffMs;
  p.backoffMs = Math.min(BACKOFF_MAX_MS, p.backoffMs * 2);
  p.restarts++;
  logger.warn(
    { process: p.spec.name, exit: how, ranMs: ran, restartInMs: wait, restarts: p.restarts, log: p.spec.log },
    `${p.spec.name} exited (${how}) after ${(ran / 1000).toFixed(1)} s; restarting in ${wait / 1000} s`,
  );
  p.timer = setTimeout(() => start(p), wait);
  writeState();
}

function stopOne(p: Running): Promise<void> {
  clearTimeout(p.timer);
  const child = p.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => {
      logger.warn({ process: p.spec.name }, `${p.spec.name} did not stop within ${STOP_GRACE_MS / 1000} s: SIGKILL`);
      child.kill("SIGKILL");
    }, STOP_GRACE_MS);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "stopping the stack");
  // Natter processes drain their NATS connections: the NATS nodes go last.
  await Promise.all(procs.filter((p) => p.spec.kind !== "nats").map(stopOne));
  await Promise.all(procs.filter((p) => p.spec.kind === "nats").map(stopOne));
  writeState();
  rmSync(paths.supervisorPid, { force: true });
  logger.info("stack stopped");
  process.exit(0);
}

process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGHUP", () => {
  // Detached from the terminal that started it: a closed terminal is not a stop.
});
writeFileSync(paths.supervisorPid, `${process.pid}\n`);
logger.info({ dir, processes: procs.length }, "stack supervisor started");
// All at once: each Natter process waits for NATS, JetStream and the chat stream itself,
// logging what it waits for (docs/health.md).
for (const p of procs) start(p);
