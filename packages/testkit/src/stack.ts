import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { trackChild } from "./children.ts";
import { repoRoot } from "./binaries.ts";
import { createTestKeyspace, type TestKeyspace } from "./cassandra.ts";
import { consumersIdentity } from "@natter/subjects/permissions";
import { freePort, type NatsServer, natsEnvFor, startNatsServer } from "./nats-server.ts";

/**
 * Environment that lifts the per-user send and per-socket frame rate limits, for tests and
 * benchmarks about delivery and throughput (the limits have their own tests in gateway/).
 */
export const LIFTED_RATE_LIMITS = {
  NATTER_SEND_RATE: "1000000",
  NATTER_SEND_BURST: "1000000",
  NATTER_WS_FRAME_RATE: "1000000",
  NATTER_WS_FRAME_BURST: "1000000",
} as const;

export const TOKEN_SECRET = "e2e-secret-e2e-secret-e2e-secret-e2e";

export interface Proc {
  name: string;
  child: ChildProcess;
  /** Last lines of its output, for failure messages. */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface StackStore {
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

/** A store for the stack's processes: a fresh Cassandra keyspace, or a SQLite file. */
export async function stackStore(kind: "cassandra" | "sqlite"): Promise<StackStore> {
  if (kind === "cassandra") {
    const ks: TestKeyspace = await createTestKeyspace("e2e");
    return {
      env: { NATTER_STORE: "cassandra", NATTER_CASSANDRA_KEYSPACE: ks.keyspace },
      cleanup: () => ks.drop(),
    };
  }
  const dir = await mkdtemp(path.join(tmpdir(), "natter-e2e-"));
  return {
    env: { NATTER_STORE: "sqlite", NATTER_SQLITE_PATH: path.join(dir, "natter.db") },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

function spawnNode(name: string, script: string, args: string[], env: Record<string, string>): Proc {
  // NATTER_PROFILE_DIR: a V8 CPU profile per stack process, for finding where a benchmark's
  // time goes (node refuses --cpu-prof in NODE_OPTIONS, so it is passed here).
  const profile = process.env.NATTER_PROFILE_DIR
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.NATTER_PROFILE_DIR}`, `--cpu-prof-name=${name}.cpuprofile`]
    : [];
  const child = spawn(process.execPath, [...profile, path.join(repoRoot, script), ...args], {
    env: { ...process.env, NATTER_TOKEN_SECRET: TOKEN_SECRET, NATTER_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  trackChild(child);
  let out = "";
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-6000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return {
    name,
    child,
    output: () => out,
    kill: (signal: NodeJS.Signals = "SIGTERM") =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill(signal);
      }),
  };
}

async function waitReady(url: string, proc: Proc, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited:\n${proc.output()}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not yet listening
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.name} not ready at ${url}:\n${proc.output()}`);
}

export interface GatewayProc extends Proc {
  url: string;
}

/**
 * Spawns `node gateway/src/main.ts` on a free port and waits for /readyz. On a server this
 * process started it connects as the `gateway` identity (`env` may override).
 */
export async function startGateway(
  natsUrl: string,
  env: Record<string, string>,
  name = "gateway",
): Promise<GatewayProc> {
  // A given port is kept (a restarted gateway comes back where its clients knew it).
  const port = env.NATTER_HTTP_PORT ? Number(env.NATTER_HTTP_PORT) : await freePort();
  const proc = spawnNode(name, "gateway/src/main.ts", [], {
    NATTER_NATS_URL: natsUrl,
    ...natsEnvFor(natsUrl, "gateway"),
    NATTER_HTTP_PORT: String(port),
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/readyz`, proc);
  return { ...proc, url };
}

/** A consumers process, with the base URL of its `/metrics`, `/healthz` and `/readyz`. */
export interface ConsumersProc extends Proc {
  url: string;
}

/**
 * Spawns `node consumers/src/main.ts` and waits for its /readyz (its consumers pulling). On a server this process
 * started it connects as the identity of the consumers it runs (`history`, `fanout`, or
 * `consumers` for both).
 */
export async function startConsumers(
  natsUrl: string,
  env: Record<string, string>,
  name = "consumers",
): Promise<ConsumersProc> {
  const port = await freePort();
  const running = (env.NATTER_CONSUMERS ?? process.env.NATTER_CONSUMERS ?? "history,fanout").split(",");
  const proc = spawnNode(name, "consumers/src/main.ts", ["--metrics-port", String(port)], {
    NATTER_NATS_URL: natsUrl,
    ...natsEnvFor(natsUrl, consumersIdentity(running.map((c) => c.trim()))),
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/readyz`, proc);
  return { ...proc, url };
}

/** A whole Natter for one test file: nats-server, a store, gateway processes and a consumers process. */
export interface Stack {
  nats: NatsServer;
  store: StackStore;
  /** What every process of the stack got (the store's, then the caller's). */
  env: Record<string, string>;
  /** The gateways started with the stack, `g1`, `g2`… */
  gateways: GatewayProc[];
  /** The consumers process started with the stack (history and fanout). */
  consumers: ConsumersProc;
  /** Another gateway on the stack (a test that kills or adds one); `stop()` ends it too. */
  startGateway(name: string): Promise<GatewayProc>;
  /** Another consumers process (a test that replaced the first); `stop()` ends it too. */
  startConsumers(): Promise<ConsumersProc>;
  /** Kills every process it started (SIGTERM unless told), stops nats-server, drops the store. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts a stack; a start that fails part way stops what it had started. The first gateway
 * starts alone (it creates the stream and buckets), the others beside each other.
 */
export async function startStack(
  opts: { store?: "cassandra" | "sqlite"; gateways?: number; env?: Record<string, string> } = {},
): Promise<Stack> {
  const procs: Proc[] = [];
  let nats: NatsServer | undefined;
  let store: StackStore | undefined;
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    await Promise.all(procs.map((p) => p.kill(signal)));
    await nats?.stop();
    await store?.cleanup();
  };
  try {
    nats = await startNatsServer();
    store = await stackStore(opts.store ?? "sqlite");
    const env = { ...store.env, ...opts.env };
    const url = nats.url;
    const gateway = async (name: string) => {
      const g = await startGateway(url, env, name);
      procs.push(g);
      return g;
    };
    const consumers = async () => {
      const c = await startConsumers(url, env);
      procs.push(c);
      return c;
    };
    const count = opts.gateways ?? 1;
    const first = await gateway("g1");
    const rest = await Promise.all(Array.from({ length: count - 1 }, (_, i) => gateway(`g${i + 2}`)));
    return {
      nats,
      store,
      env,
      gateways: [first, ...rest],
      consumers: await consumers(),
      startGateway: gateway,
      startConsumers: consumers,
      stop,
    };
  } catch (err) {
    await stop("SIGKILL");
    throw err;
  }
}
