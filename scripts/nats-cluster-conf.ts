// The config of one node of Natter's NATS cluster, for any host: the single source of every
// cluster config in the project. `npm run stack` renders its three nodes with it, the
// compose files nats/cluster-n*.conf are its output (`compose` below; a test keeps them in
// step), and on real hosts an operator renders each node's file with the same flags
// (deploy/README.md):
//   scripts/node scripts/nats-cluster-conf.ts node --name nats-1 --client 10.0.0.1:4222 \
//     --monitor 127.0.0.1:8222 --cluster 10.0.0.1:6222 \
//     --routes 10.0.0.1:6222,10.0.0.2:6222,10.0.0.3:6222 --store /var/lib/nats \
//     --tls-dir /etc/natter/nats/tls > /etc/natter/nats/nats-1.conf
//   scripts/node scripts/nats-cluster-conf.ts compose   # rewrites nats/cluster-n1..3.conf
// Identities come from `include "auth.conf"` beside the file (scripts/nats-auth.ts renders
// it from packages/subjects/src/permissions.ts, with the system account SYS for
// `nats server list`); nats-server resolves includes relative to the config's folder.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { HUB_SITE, isSiteName } from "@natter/protocol";

export interface NatsNodeOptions {
  /** server_name: unique in the cluster, shown by `nats server list`. */
  name: string;
  /** Client listener, host:port. */
  client: string;
  /** Monitoring listener (/healthz, /varz), host:port: it has no authentication, keep it private. */
  monitor: string;
  /** Route listener, host:port. */
  cluster: string;
  /** Every node's route address, host:port (this node's own is allowed: nats-server skips it). */
  routes: readonly string[];
  /** JetStream store folder. */
  store: string;
  /** Folder with server.pem, server-key.pem and ca.pem (scripts/nats-certs.sh, or your CA's). */
  tlsDir: string;
  /** The accounts file, relative to the config's folder. */
  auth?: string;
  /** Addresses other hosts reach this node at, when they differ from the listeners (NAT, 0.0.0.0). */
  clientAdvertise?: string;
  clusterAdvertise?: string;
  clusterName?: string;
  maxFileStore?: string;
  maxMemoryStore?: string;
  /** JetStream fsync interval: a duration (the server's default 2m) or `always`. */
  syncInterval?: string;
  /** JetStream domain: `hub` for the hub of edge sites (README "Edge sites"); none without sites. */
  domain?: string;
  /** Leaf listener, host:port: edge sites connect here over TLS as the `leaf` identity. */
  leaf?: string;
  /** Comment lines put first: what this file is for. */
  about?: readonly string[];
}

const q = (s: string) => JSON.stringify(s);
const HOST_PORT = /^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;

/** The nats-server config text of one cluster node. */
export function renderNatsNode(o: NatsNodeOptions): string {
  for (const [what, v] of [
    ["client", o.client],
    ["monitor", o.monitor],
    ["cluster", o.cluster],
    ...o.routes.map((r) => ["routes", r]),
    ...(o.clientAdvertise ? [["client-advertise", o.clientAdvertise]] : []),
    ...(o.clusterAdvertise ? [["cluster-advertise", o.clusterAdvertise]] : []),
    ...(o.leaf ? [["leaf", o.leaf]] : []),
  ] as const) {
    if (!HOST_PORT.test(v)) throw new Error(`--${what} ${v}: expected host:port`);
  }
  if (!/^[A-Za-z0-9_-]+$/.test(o.name)) throw new Error(`--name ${o.name}: letters, digits, _ and - only`);
  if (o.routes.length < 2) throw new Error("--routes: a cluster needs at least two nodes' route addresses");
  if (o.domain !== undefined && !isSiteName(o.domain)) throw new Error(`--domain ${o.domain}: a site name (e.g. hub)`);
  if (o.syncInterval && !/^(always|\d+(ms|s|m|h))$/.test(o.syncInterval)) {
    throw new Error(`--sync-interval ${o.syncInterval}: 'always' or a duration like 2m`);
  }
  const tls = (file: string) => q(path.posix.join(o.tlsDir, file));
  const tlsLines = (indent: string) => [
    `${indent}cert_file: ${tls("server.pem")}`,
    `${indent}key_file: ${tls("server-key.pem")}`,
    `${indent}ca_file: ${tls("ca.pem")}`,
  ];
  return [
    ...(o.about ?? []).map((l) => `# ${l}`.trimEnd()),
    "# Rendered by scripts/nats-cluster-conf.ts (one source for every cluster config): do not edit.",
    `server_name: ${q(o.name)}`,
    `listen: ${q(o.client)}`,
    ...(o.clientAdvertise ? [`client_advertise: ${q(o.clientAdvertise)}`] : []),
    "# Monitoring (/healthz, /varz) has no authentication: never reachable from outside.",
    `http: ${q(o.monitor)}`,
    "max_payload: 1MB",
    "jetstream {",
    `  store_dir: ${q(o.store)}`,
    ...(o.domain
      ? [
          "  # The JetStream domain: edge sites reach this cluster's JetStream as `$JS.<domain>.API`",
          "  # over their leaf links; `$JS.API` answers as without it.",
          `  domain: ${q(o.domain)}`,
        ]
      : []),
    ...(o.syncInterval ? [`  sync_interval: ${o.syncInterval}`] : []),
    ...(o.maxMemoryStore ? [`  max_memory_store: ${o.maxMemoryStore}`] : []),
    `  max_file_store: ${o.maxFileStore ?? "20GB"}`,
    "}",
    "# Every client proves an identity (packages/subjects/src/permissions.ts); one without",
    "# credentials is refused. Operators reach the system account (SYS) as `sys`.",
    `include ${q(o.auth ?? "auth.conf")}`,
    "# Clients must use TLS.",
    "tls {",
    ...tlsLines("  "),
    "  timeout: 2",
    "}",
    "cluster {",
    `  name: ${q(o.clusterName ?? "natter")}`,
    `  listen: ${q(o.cluster)}`,
    ...(o.clusterAdvertise ? [`  advertise: ${q(o.clusterAdvertise)}`] : []),
    "  routes: [",
    ...o.routes.map((r) => `    ${q(`nats-route://${r}`)}`),
    "  ]",
    "  # Routes are TLS both ways: a node joins only with a certificate from the cluster's CA.",
    "  tls {",
    ...tlsLines("    "),
    "    verify: true",
    "    timeout: 2",
    "  }",
    "}",
    ...(o.leaf
      ? [
          "# Edge sites connect here as leaf nodes (nats/leaf.conf), over TLS, as the `leaf` identity",
          '# of auth.conf, whose permissions are what may cross (README "Edge sites").',
          "leafnodes {",
          `  listen: ${q(o.leaf)}`,
          "  tls {",
          `    cert_file: ${tls("server.pem")}`,
          `    key_file: ${tls("server-key.pem")}`,
          "    timeout: 2",
          "  }",
          "}",
        ]
      : []),
    "",
  ].join("\n");
}

/** The three nodes of docker-compose.yml: compose host names, the same ports in every container. */
export function composeNodes(): NatsNodeOptions[] {
  const names = ["nats-1", "nats-2", "nats-3"];
  return names.map((name, i) => ({
    name,
    client: "0.0.0.0:4222",
    monitor: "0.0.0.0:8222",
    cluster: "0.0.0.0:6222",
    clusterAdvertise: `${name}:6222`,
    routes: names.map((n) => `${n}:6222`),
    store: "/data/jetstream",
    tlsDir: "/etc/nats/secrets/tls",
    auth: "secrets/auth.conf",
    // The hub of the compose profile `edge` (site s1); without sites neither changes anything.
    domain: HUB_SITE,
    leaf: "0.0.0.0:7422",
    about: [
      `Node ${i + 1} of the 3-node NATS cluster in docker-compose.yml (JetStream, R3 streams).`,
      "secrets/ is .data/compose/nats, made on the host by scripts/compose-secrets.sh: the",
      "identities (auth.conf) and the certificates of a local CA (tls/). Compose never",
      "publishes the monitoring port. Use your own CA for a deployment others reach.",
    ],
  }));
}

/** Where the compose files live, by node index. */
export const composeFile = (root: string, i: number) => path.join(root, "nats", `cluster-n${i + 1}.conf`);

const USAGE = `usage:
  nats-cluster-conf.ts node --name NAME --client HOST:PORT --monitor HOST:PORT --cluster HOST:PORT
      --routes HOST:PORT,HOST:PORT,... --store DIR --tls-dir DIR [--auth auth.conf]
      [--client-advertise HOST:PORT] [--cluster-advertise HOST:PORT] [--cluster-name natter]
      [--max-file-store 20GB] [--max-memory-store SIZE] [--sync-interval 2m|always]
      [--domain hub --leaf HOST:PORT]   (the hub of edge sites)
  nats-cluster-conf.ts compose        rewrite nats/cluster-n1..3.conf (docker-compose.yml)`;

function main(argv: string[]): void {
  const [cmd, ...rest] = argv;
  if (cmd === "compose") {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
    composeNodes().forEach((n, i) => writeFileSync(composeFile(root, i), renderNatsNode(n)));
    return;
  }
  if (cmd !== "node") throw new Error(USAGE);
  const s = { type: "string" } as const;
  const { values: v } = parseArgs({
    args: rest,
    options: {
      name: s,
      client: s,
      monitor: s,
      cluster: s,
      routes: s,
      store: s,
      "tls-dir": s,
      auth: s,
      "client-advertise": s,
      "cluster-advertise": s,
      "cluster-name": s,
      "max-file-store": s,
      "max-memory-store": s,
      "sync-interval": s,
      domain: s,
      leaf: s,
    },
  });
  const need = (k: keyof typeof v) => {
    const x = v[k];
    if (!x) throw new Error(`--${k} is required\n${USAGE}`);
    return x;
  };
  const opt = <K extends string>(key: K, x: string | undefined) => (x ? { [key]: x } : {});
  process.stdout.write(
    renderNatsNode({
      name: need("name"),
      client: need("client"),
      monitor: need("monitor"),
      cluster: need("cluster"),
      routes: need("routes").split(","),
      store: need("store"),
      tlsDir: need("tls-dir"),
      ...opt("auth", v.auth),
      ...opt("clientAdvertise", v["client-advertise"]),
      ...opt("clusterAdvertise", v["cluster-advertise"]),
      ...opt("clusterName", v["cluster-name"]),
      ...opt("maxFileStore", v["max-file-store"]),
      ...opt("maxMemoryStore", v["max-memory-store"]),
      ...opt("syncInterval", v["sync-interval"]),
      ...opt("domain", v.domain),
      ...opt("leaf", v.leaf),
    }),
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(2);
  }
}
