import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { trackChild } from "./children.ts";
import { natsBin } from "./binaries.ts";

export interface NatsServerOptions {
  /** Extra nats-server config text appended to the generated config. */
  extraConfig?: string;
  /** Keep the store dir after stop (for debugging). */
  keepStore?: boolean;
}

/** A running, isolated nats-server with JetStream, on random ports and a temp store dir. */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  port: number;
  monitorPort: number;
  storeDir: string;
  pid: number;
  /** The server's version string, e.g. "2.15.2". */
  version: string;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its store dir. */
  stop(): Promise<void>;
  /** Kills the process with SIGKILL, keeping the store for a restart. */
  kill(): Promise<void>;
  /** Starts the server again on the same ports and store (after kill or stop-less crash). */
  restart(): Promise<void>;
}

/** Asks the OS for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      if (addr === null || typeof addr === "string") return reject(new Error("no port"));
      srv.close(() => resolve(addr.port));
    });
  });
}

async function waitHealthy(monitorPort: number, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`nats-server exited with ${proc.exitCode}:\n${log()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz?js-enabled-only=true`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server did not become healthy within 20 s:\n${log()}`);
}

/**
 * Starts a nats-server for one test suite, in the style of nats.js's `nst` launcher:
 * random client and monitor ports, a temporary JetStream store, torn down by `stop()`.
 */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = path.join(natsBin(), "nats-server");
  const storeDir = await mkdtemp(path.join(tmpdir(), "natter-nats-"));
  const port = await freePort();
  const monitorPort = await freePort();
  const conf = path.join(storeDir, "server.conf");
  await writeFile(
    conf,
    [
      `listen: 127.0.0.1:${port}`,
      `http: 127.0.0.1:${monitorPort}`,
      `jetstream { store_dir: "${path.join(storeDir, "js")}", max_memory_store: 128MB, max_file_store: 2GB }`,
      opts.extraConfig ?? "",
    ].join("\n"),
  );

  let proc!: ChildProcess;
  let output = "";
  const launch = async () => {
    output = "";
    proc = spawn(bin, ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
    trackChild(proc);
    proc.stdout?.on("data", (d: Buffer) => {
      output = (output + d.toString()).slice(-8000);
    });
    proc.stderr?.on("data", (d: Buffer) => {
      output = (output + d.toString()).slice(-8000);
    });
    await waitHealthy(monitorPort, proc, () => output);
  };
  await launch();

  const varz = (await (await fetch(`http://127.0.0.1:${monitorPort}/varz`)).json()) as { version: string };

  const waitExit = (p: ChildProcess, ms: number) =>
    new Promise<void>((resolve) => {
      if (p.exitCode !== null || p.signalCode !== null) return resolve();
      const t = setTimeout(() => {
        p.kill("SIGKILL");
      }, ms);
      p.once("exit", () => {
        clearTimeout(t);
        resolve();
      });
    });

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorPort,
    storeDir,
    get pid() {
      return proc.pid ?? -1;
    },
    version: varz.version,
    async stop() {
      proc.kill("SIGTERM");
      await waitExit(proc, 5000);
      if (!opts.keepStore) await rm(storeDir, { recursive: true, force: true });
    },
    async kill() {
      proc.kill("SIGKILL");
      await waitExit(proc, 5000);
    },
    async restart() {
      await launch();
    },
  };
}

/**
 * A JetStream cluster of `size` servers (each from `startNatsServer`) routed over loopback,
 * for replicated streams. JetStream answers once the cluster has elected its meta leader,
 * a moment after the servers are up: create streams with a retry, or `waitForJetStream`.
 */
export async function startNatsCluster(size = 3): Promise<NatsServer[]> {
  const routes = await Promise.all(Array.from({ length: size }, () => freePort()));
  return Promise.all(
    routes.map((port, i) =>
      startNatsServer({
        extraConfig: [
          `server_name: natter-n${i + 1}`,
          `cluster { name: natter-test, listen: 127.0.0.1:${port}, routes: [${routes
            .filter((p) => p !== port)
            .map((p) => `nats://127.0.0.1:${p}`)
            .join(", ")}] }`,
        ].join("\n"),
      }),
    ),
  );
}

/** Retries `fn` (a JetStream API call) until the cluster's meta leader answers, up to `timeoutMs`. */
export async function waitForJetStream<T>(fn: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
