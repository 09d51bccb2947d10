import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  type NatsCredential,
  type NatsIdentity,
  natsAccountsConfig,
  NATS_IDENTITY_NAMES,
} from "@natter/subjects/permissions";
import { createUser } from "@nats-io/nkeys";
import { trackChild } from "./children.ts";
import { natsBin, repoRoot } from "./binaries.ts";

/**
 * The identities of a test server (`packages/subjects/src/permissions.ts`): an nkey seed
 * file per identity, as `npm start` makes them, except `admin`, which has a user and
 * password so that `no_auth_user` can map credential-less clients to it.
 */
export interface NatsIdentities {
  /** Seed files by identity (mode 600), for NATTER_NATS_NKEY_SEED or the nats CLI's --nkey. */
  seedFiles: Record<Exclude<NatsIdentity, "admin">, string>;
  admin: { user: string; password: string };
  /** The server's `accounts` block. */
  config: string;
}

/** What a client needs to be one identity: the `NATTER_NATS_*` keys, as the config holds them. */
export interface NatsAccessKeys {
  natsUser?: string;
  natsPassword?: string;
  natsNkeySeed?: string;
  natsTlsCa?: string;
}

/** Makes a fresh set of identities with their seed files under `dir`. */
export function makeNatsIdentities(dir: string, opts: { anonymous?: boolean } = {}): NatsIdentities {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const creds: Partial<Record<NatsIdentity, NatsCredential>> = {};
  const seedFiles = {} as NatsIdentities["seedFiles"];
  const admin = { user: "admin", password: randomBytes(18).toString("base64url") };
  for (const name of NATS_IDENTITY_NAMES) {
    if (name === "admin") {
      creds.admin = admin;
      continue;
    }
    const kp = createUser();
    const file = path.join(dir, `${name}.nk`);
    writeFileSync(file, new TextDecoder().decode(kp.getSeed()), { mode: 0o600 });
    seedFiles[name] = file;
    creds[name] = { nkey: kp.getPublicKey() };
  }
  const anonymous = opts.anonymous ?? true;
  return { seedFiles, admin, config: natsAccountsConfig(creds, anonymous ? { noAuthUser: "admin" } : {}) };
}

let certDir: string | undefined;
/** The local CA and server certificate (scripts/nats-certs.sh), made once per test process. */
export function testCertificates(): { dir: string; ca: string; cert: string; key: string } {
  if (!certDir) {
    const dir = mkdtempSync(path.join(tmpdir(), "natter-certs-"));
    execFileSync("bash", [path.join(repoRoot, "scripts/nats-certs.sh"), dir], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    certDir = dir;
  }
  return {
    dir: certDir,
    ca: path.join(certDir, "ca.pem"),
    cert: path.join(certDir, "server.pem"),
    key: path.join(certDir, "server-key.pem"),
  };
}

export interface NatsServerOptions {
  /** Extra nats-server config text appended to the generated config. */
  extraConfig?: string;
  /**
   * Extra settings inside the `jetstream { }` block, e.g. `sync_interval: always` (a second
   * block in `extraConfig` would replace the generated one, store_dir and all).
   */
  jetstream?: string;
  /** Keep the store dir after stop (for debugging). */
  keepStore?: boolean;
  /**
   * Clients without credentials act as `admin` (default true), so test code that drives
   * NATS directly needs none; false refuses them, as every real deployment does. The
   * processes a stack spawns always connect as their own identities.
   */
  anonymous?: boolean;
  /** TLS required on the client port (and routes, in a cluster), with `testCertificates()`. */
  tls?: boolean;
  /** Identities shared with other servers (a cluster); default: a fresh set. */
  identities?: NatsIdentities;
  /** Don't print permission violations on stop (a test that provokes them). */
  expectViolations?: boolean;
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
  /** Its identities and their credentials. */
  identities: NatsIdentities;
  /** The CA file clients must trust, when TLS is on. */
  tlsCa?: string;
  /**
   * The permission violations the server logged so far. Outside a test that provokes them,
   * each one is a permission the code needs and `permissions.ts` lacks: `stop()` prints them.
   */
  violations(): string[];
  /** The `NATTER_NATS_*` keys of one identity (for `connectNats({ access })`). */
  access(identity: NatsIdentity): NatsAccessKeys;
  /** The same as environment variables, for a spawned process. */
  env(identity: NatsIdentity): Record<string, string>;
  /** The `nats` CLI's flags to reach this server as an nkey identity, none of the machine's saved contexts taking part. */
  cliArgs(identity: Exclude<NatsIdentity, "admin">): string[];
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
  const identities =
    opts.identities ?? makeNatsIdentities(path.join(storeDir, "secrets"), { anonymous: opts.anonymous });
  const tls = opts.tls ? testCertificates() : undefined;
  await writeFile(
    conf,
    [
      `listen: 127.0.0.1:${port}`,
      `http: 127.0.0.1:${monitorPort}`,
      `jetstream { store_dir: "${path.join(storeDir, "js")}", max_memory_store: 128MB, max_file_store: 2GB${opts.jetstream ? `, ${opts.jetstream}` : ""} }`,
      identities.config,
      tls ? `tls { cert_file: "${tls.cert}", key_file: "${tls.key}", ca_file: "${tls.ca}", timeout: 2 }` : "",
      opts.extraConfig ?? "",
    ].join("\n"),
  );

  let proc!: ChildProcess;
  let output = "";
  const violations: string[] = [];
  const keep = (d: Buffer) => {
    const text = d.toString();
    output = (output + text).slice(-8000);
    for (const line of text.split("\n")) {
      if (/Violation/.test(line) && violations.length < 100) violations.push(line.replace(/^\[\d+\] \S+ \S+ /, ""));
    }
  };
  const launch = async () => {
    output = "";
    proc = spawn(bin, ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
    trackChild(proc);
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
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

  const access = (identity: NatsIdentity): NatsAccessKeys => ({
    ...(identity === "admin"
      ? { natsUser: identities.admin.user, natsPassword: identities.admin.password }
      : { natsNkeySeed: identities.seedFiles[identity] }),
    ...(tls ? { natsTlsCa: tls.ca } : {}),
  });
  const url = `nats://127.0.0.1:${port}`;
  const server: NatsServer = {
    url,
    port,
    monitorPort,
    storeDir,
    get pid() {
      return proc.pid ?? -1;
    },
    version: varz.version,
    identities,
    ...(tls ? { tlsCa: tls.ca } : {}),
    access,
    env: (identity) => accessEnv(access(identity)),
    cliArgs: (identity) => [
      "--no-context",
      "--server",
      url,
      "--nkey",
      identities.seedFiles[identity],
      ...(tls ? ["--tlsca", tls.ca] : []),
    ],
    violations: () => [...violations],
    async stop() {
      byUrl.delete(url);
      if (violations.length && !opts.expectViolations) {
        console.error(
          `nats-server ${url}: permission violations (packages/subjects/src/permissions.ts):\n  ${violations.join("\n  ")}`,
        );
      }
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
  byUrl.set(url, server);
  return server;
}

const ACCESS_ENV: Record<keyof NatsAccessKeys, string> = {
  natsUser: "NATTER_NATS_USER",
  natsPassword: "NATTER_NATS_PASSWORD",
  natsNkeySeed: "NATTER_NATS_NKEY_SEED",
  natsTlsCa: "NATTER_NATS_TLS_CA",
};

function accessEnv(a: NatsAccessKeys): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(a)) if (v !== undefined) out[ACCESS_ENV[k as keyof NatsAccessKeys]] = v;
  return out;
}

/** The servers this process started, by URL: a stack finds the credentials for a URL it is given. */
const byUrl = new Map<string, NatsServer>();

/**
 * The `NATTER_NATS_*` environment of `identity` on the server(s) at `natsUrl` (a comma-separated
 * list: the first one that this process started), or nothing for a server it did not start.
 */
export function natsEnvFor(natsUrl: string, identity: NatsIdentity): Record<string, string> {
  for (const url of natsUrl.split(",")) {
    const s = byUrl.get(url.trim());
    if (s) return s.env(identity);
  }
  return {};
}

/**
 * A JetStream cluster of `size` servers (each from `startNatsServer`) routed over loopback,
 * for replicated streams. JetStream answers once the cluster has elected its meta leader,
 * a moment after the servers are up: create streams with a retry, or `waitForJetStream`.
 */
export async function startNatsCluster(
  size = 3,
  opts: Pick<NatsServerOptions, "anonymous" | "tls" | "expectViolations"> = {},
): Promise<NatsServer[]> {
  const routes = await Promise.all(Array.from({ length: size }, () => freePort()));
  const idDir = mkdtempSync(path.join(tmpdir(), "natter-ids-"));
  process.once("exit", () => rmSync(idDir, { recursive: true, force: true }));
  const identities = makeNatsIdentities(idDir, opts);
  // Routes present the server certificate to each other and verify it against the CA.
  const tls = opts.tls ? testCertificates() : undefined;
  const routeTls = tls
    ? `, tls { cert_file: "${tls.cert}", key_file: "${tls.key}", ca_file: "${tls.ca}", verify: true, timeout: 2 }`
    : "";
  return Promise.all(
    routes.map((port, i) =>
      startNatsServer({
        ...opts,
        identities,
        extraConfig: [
          `server_name: natter-n${i + 1}`,
          `cluster { name: natter-test, listen: 127.0.0.1:${port}, routes: [${routes
            .filter((p) => p !== port)
            .map((p) => `nats-route://127.0.0.1:${p}`)
            .join(", ")}]${routeTls} }`,
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
