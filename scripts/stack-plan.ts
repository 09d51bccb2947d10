// What `npm run stack` runs and where: every process of the production shape on one
// machine (3 NATS nodes, N gateways, the history, fanout and push consumers), its ports, files
// and environment, as one plain object written to <dir>/stack.json. Pure: no process is
// started here (scripts/stack.ts prepares the files, scripts/stack-supervisor.ts runs them).
import path from "node:path";

/** The stack's layout from its base port B: every port is B + an offset below, never shared. */
export const PORT_OFFSETS = {
  /** NATS client ports: B+0, B+1, B+2. */
  natsClient: 0,
  /** NATS route (cluster) ports: B+10… */
  natsCluster: 10,
  /** NATS monitoring ports (/healthz): B+20… */
  natsMonitor: 20,
  /** Gateway HTTP ports: B+30 … B+39. */
  gateway: 30,
  /** Consumers processes' /metrics, /healthz, /readyz: history B+40, fanout B+41, push B+42. */
  consumers: 40,
} as const;
export const DEFAULT_BASE_PORT = 14200;
export const MAX_GATEWAYS = 10;
export const NATS_NODES = 3;
/** The ports of the dev services and `npm start` (scripts/services.sh): a stack never takes them. */
export const DEV_PORTS = [4222, 6222, 7000, 7199, 8080, 8222, 9042, 9464] as const;
export const CONSUMER_KINDS = ["history", "fanout", "push"] as const;
/** One Cassandra node (scripts/services.sh): one replica in its data centre (DEFAULT: SimpleStrategy). */
export const STACK_REPLICATION = "{'class': 'NetworkTopologyStrategy', 'datacenter1': 1}";

/**
 * Set on the supervisor and every process it starts, to the stack's folder (never in a
 * shell): how `down` finds each one, even those a killed supervisor left behind.
 */
export const MEMBER = "NATTER_STACK_MEMBER";

export type ProcessKind = "nats" | "gateway" | "consumers";

export interface StackProcess {
  name: string;
  kind: ProcessKind;
  command: string;
  args: string[];
  /** KEY=value files read at every (re)start, in order; later ones win. */
  envFiles: string[];
  /** Settings of this instance (ports, names): no secrets. */
  env: Record<string, string>;
  port: number;
  /** Answers 200 when the process is ready (NATS: /healthz; Natter: /readyz). */
  ready: string;
  /** What to show the operator: the client URL. */
  url: string;
  log: string;
  pidFile: string;
}

export interface StackOptions {
  /** The stack's folder (NATTER_STACK_DIR, default .data/stack). */
  dir: string;
  /** The checkout. */
  root: string;
  basePort: number;
  gateways: number;
  keyspace: string;
  cassandra: string;
  /** Folder holding nats-server (scripts/ensure-nats.sh). */
  natsBin: string;
  /** The Node that runs the Natter processes. */
  node: string;
}

export interface StackPlan extends StackOptions {
  natsUrls: string[];
  processes: StackProcess[];
}

/** A setting the stack cannot use; the message names it. */
export class PlanError extends Error {}

/** Checks the options; the message names the setting to change. */
export function checkOptions(o: Pick<StackOptions, "basePort" | "gateways" | "keyspace">): void {
  if (!Number.isInteger(o.gateways) || o.gateways < 1 || o.gateways > MAX_GATEWAYS) {
    throw new PlanError(`--gateways ${o.gateways}: expected 1 to ${MAX_GATEWAYS} (NATTER_STACK_GATEWAYS)`);
  }
  const last = o.basePort + PORT_OFFSETS.consumers + CONSUMER_KINDS.length - 1;
  if (!Number.isInteger(o.basePort) || o.basePort < 1024 || last > 65535) {
    throw new PlanError(
      `--base-port ${o.basePort}: expected 1024 to ${65535 - last + o.basePort} (NATTER_STACK_BASE_PORT)`,
    );
  }
  const clash = DEV_PORTS.filter((p) => p >= o.basePort && p <= last);
  if (clash.length) {
    throw new PlanError(
      `--base-port ${o.basePort}: the stack's ports ${o.basePort}-${last} would include ${clash.join(", ")}, used by the dev services (npm run services, npm start); pick another NATTER_STACK_BASE_PORT`,
    );
  }
  if (!/^[a-z][a-z0-9_]{0,47}$/.test(o.keyspace)) {
    throw new PlanError(`NATTER_STACK_KEYSPACE ${o.keyspace}: lower-case letters, digits and _ (a CQL keyspace name)`);
  }
}

/** Where a stack keeps its files. */
export function stackPaths(dir: string) {
  return {
    plan: path.join(dir, "stack.json"),
    state: path.join(dir, "state.json"),
    supervisorPid: path.join(dir, "supervisor.pid"),
    supervisorLog: path.join(dir, "logs", "supervisor.log"),
    logs: path.join(dir, "logs"),
    run: path.join(dir, "run"),
    /** The operator's copy (CA key, every identity seed, the token secret): no process reads it. */
    operator: path.join(dir, "operator"),
    /** Settings of the operator's for every Natter process (never overwritten). */
    commonEnv: path.join(dir, "natter.env"),
    /** What the NATS nodes get: their configs, auth.conf (public keys), the server certificate. */
    nats: path.join(dir, "nats"),
    /** What each kind of Natter process gets: its env file, its own seed, the CA certificate. */
    secrets: (kind: "gateway" | (typeof CONSUMER_KINDS)[number]) => path.join(dir, kind),
  };
}

export function natsPorts(basePort: number, k: number) {
  return {
    client: basePort + PORT_OFFSETS.natsClient + k,
    cluster: basePort + PORT_OFFSETS.natsCluster + k,
    monitor: basePort + PORT_OFFSETS.natsMonitor + k,
  };
}

/** The whole plan: processes in start order (NATS nodes, then gateways, then consumers). */
export function stackPlan(o: StackOptions): StackPlan {
  checkOptions(o);
  const p = stackPaths(o.dir);
  const log = (name: string) => path.join(p.logs, `${name}.log`);
  const pidFile = (name: string) => path.join(p.run, `${name}.pid`);
  const processes: StackProcess[] = [];
  const natsUrls: string[] = [];
  for (let k = 0; k < NATS_NODES; k++) {
    const name = `nats-${k + 1}`;
    const ports = natsPorts(o.basePort, k);
    natsUrls.push(`tls://127.0.0.1:${ports.client}`);
    processes.push({
      name,
      kind: "nats",
      command: path.join(o.natsBin, "nats-server"),
      args: ["-c", path.join(p.nats, `${name}.conf`)],
      envFiles: [],
      env: {},
      port: ports.client,
      ready: `http://127.0.0.1:${ports.monitor}/healthz`,
      url: `tls://127.0.0.1:${ports.client}`,
      log: log(name),
      pidFile: pidFile(name),
    });
  }
  for (let i = 0; i < o.gateways; i++) {
    const name = `gateway-${i + 1}`;
    const port = o.basePort + PORT_OFFSETS.gateway + i;
    processes.push({
      name,
      kind: "gateway",
      command: o.node,
      args: [path.join(o.root, "gateway/src/main.ts")],
      envFiles: [p.commonEnv, path.join(p.secrets("gateway"), "env")],
      // A fixed gateway id: a restarted gateway clears its own previous users at once.
      env: { NATTER_HTTP_PORT: String(port), NATTER_NATS_NAME: name, NATTER_GATEWAY_ID: name },
      port,
      ready: `http://127.0.0.1:${port}/readyz`,
      url: `http://127.0.0.1:${port}/`,
      log: log(name),
      pidFile: pidFile(name),
    });
  }
  CONSUMER_KINDS.forEach((kind, i) => {
    const port = o.basePort + PORT_OFFSETS.consumers + i;
    processes.push({
      name: kind,
      kind: "consumers",
      command: o.node,
      args: [path.join(o.root, "consumers/src/main.ts")],
      envFiles: [p.commonEnv, path.join(p.secrets(kind), "env")],
      env: { NATTER_CONSUMERS: kind, NATTER_METRICS_PORT: String(port), NATTER_NATS_NAME: kind },
      port,
      ready: `http://127.0.0.1:${port}/readyz`,
      url: `http://127.0.0.1:${port}/metrics`,
      log: log(kind),
      pidFile: pidFile(kind),
    });
  });
  return { ...o, natsUrls, processes };
}

/** The settings every Natter process of the stack shares (no secrets but file paths). */
export function natterEnv(plan: StackPlan, kind: "gateway" | (typeof CONSUMER_KINDS)[number]): Record<string, string> {
  const own = stackPaths(plan.dir).secrets(kind);
  return {
    NATTER_NATS_URL: plan.natsUrls.join(","),
    NATTER_NATS_TLS_CA: path.join(own, "ca.pem"),
    NATTER_NATS_NKEY_SEED: path.join(own, "nats.nk"),
    NATTER_STREAM_REPLICAS: String(NATS_NODES),
    NATTER_STORE: "cassandra",
    NATTER_CASSANDRA_CONTACT_POINTS: plan.cassandra,
    NATTER_CASSANDRA_KEYSPACE: plan.keyspace,
    NATTER_CASSANDRA_REPLICATION: STACK_REPLICATION,
  };
}

/** KEY=value lines (systemd's EnvironmentFile format for these values: double quotes kept out). */
export function renderEnvFile(env: Record<string, string>, about: string): string {
  return [
    `# ${about}`,
    ...Object.entries(env).map(([k, v]) => `${k}=${/[\s'"]/.test(v) ? JSON.stringify(v) : v}`),
    "",
  ].join("\n");
}

/** Reads KEY=value lines: # comments and blank lines skipped, a double-quoted value unquoted. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = JSON.parse(value) as string;
    out[key] = value;
  }
  return out;
}
