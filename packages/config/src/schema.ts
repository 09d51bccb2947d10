/**
 * Every configuration key, in one table: environment variable, type, default, meaning.
 * `loadConfig` validates the environment against it once at start-up; the README's
 * configuration table is generated from the same entries (`npm run config:doc`).
 */

import { HUB_SITE, isSiteName } from "@natter/protocol";

type Kind = "string" | "int" | "duration" | "enum" | "list" | "secret" | "file";

/**
 * The kinds of Natter process: a gateway, a consumers process, or `natter`, the all-in-one
 * of `npm start` (a gateway and the consumers). A key may be required by some kinds only.
 */
export type ProcessKind = "gateway" | "consumers" | "natter";

export interface Key {
  env: string;
  kind: Kind;
  default?: string;
  /** For enum; for list, the values an item may take. */
  values?: readonly string[];
  min?: number;
  max?: number;
  /** No default and not required: unset (or empty) leaves the value undefined. */
  optional?: boolean;
  /**
   * No default, required only by these kinds of process (validated once at start-up for
   * the kind starting); unset elsewhere it is undefined. A check of no kind requires it.
   */
  requiredBy?: readonly ProcessKind[];
  /** With `requiredBy`: not required when this other key is set. */
  requiredUnless?: string;
  doc: string;
}

export const KEYS = {
  natsUrl: {
    env: "NATTER_NATS_URL",
    kind: "list",
    default: "nats://127.0.0.1:4222",
    doc: "NATS server URLs, comma separated",
  },
  natsName: {
    env: "NATTER_NATS_NAME",
    kind: "string",
    optional: true,
    doc: "This process's name, as it is: the `name` of its log lines and its connection name in `nats server report connections`; unset: its kind (`gateway`, `natter` for `npm start`, or the consumers it runs: `history`, `fanout`, `consumers` for both)",
  },
  natsUser: {
    env: "NATTER_NATS_USER",
    kind: "string",
    optional: true,
    doc: "NATS user name, with `NATTER_NATS_PASSWORD` (one of three ways to authenticate: user and password, an nkey seed, or a creds file)",
  },
  natsPassword: {
    env: "NATTER_NATS_PASSWORD",
    kind: "string",
    optional: true,
    doc: "NATS password of `NATTER_NATS_USER`",
  },
  natsNkeySeed: {
    env: "NATTER_NATS_NKEY_SEED",
    kind: "file",
    optional: true,
    doc: "File holding this process's NATS nkey seed (`SU…`); `npm start` makes one per identity under `.data/nats/secrets/` (SECURITY.md)",
  },
  natsCreds: {
    env: "NATTER_NATS_CREDS",
    kind: "file",
    optional: true,
    doc: "NATS credentials file (user JWT and seed), for a server with decentralised JWT auth",
  },
  natsTlsCa: {
    env: "NATTER_NATS_TLS_CA",
    kind: "file",
    optional: true,
    doc: "CA certificate (PEM) that signed the NATS servers' certificates; set, the connection requires TLS",
  },
  natsTlsCert: {
    env: "NATTER_NATS_TLS_CERT",
    kind: "file",
    optional: true,
    doc: "Client certificate (PEM) for NATS servers that verify clients (mutual TLS), with `NATTER_NATS_TLS_KEY`",
  },
  natsTlsKey: {
    env: "NATTER_NATS_TLS_KEY",
    kind: "file",
    optional: true,
    doc: "Private key (PEM) of `NATTER_NATS_TLS_CERT`",
  },
  streamReplicas: {
    env: "NATTER_STREAM_REPLICAS",
    kind: "int",
    default: "1",
    min: 1,
    max: 5,
    doc: "Replicas of the chat stream (3 on a cluster)",
  },
  streamMaxAge: {
    env: "NATTER_STREAM_MAX_AGE",
    kind: "duration",
    default: "7d",
    doc: "How long the chat stream keeps events; older ones are served from the store",
  },
  dedupWindow: {
    env: "NATTER_DEDUP_WINDOW",
    kind: "duration",
    default: "2m",
    doc: "JetStream duplicate window for message ids (retries inside it get the same seq/n)",
  },
  store: {
    env: "NATTER_STORE",
    kind: "enum",
    values: ["sqlite", "cassandra"],
    default: "sqlite",
    doc: "History store backend",
  },
  sqlitePath: {
    env: "NATTER_SQLITE_PATH",
    kind: "string",
    default: ".data/natter.db",
    doc: "SQLite database file (`:memory:` for a throwaway one)",
  },
  cassandraContactPoints: {
    env: "NATTER_CASSANDRA_CONTACT_POINTS",
    kind: "list",
    default: "127.0.0.1:9042",
    doc: "Cassandra contact points (host:port), comma separated",
  },
  cassandraLocalDc: {
    env: "NATTER_CASSANDRA_LOCAL_DC",
    kind: "string",
    default: "datacenter1",
    doc: "Cassandra local data centre",
  },
  cassandraKeyspace: {
    env: "NATTER_CASSANDRA_KEYSPACE",
    kind: "string",
    default: "natter",
    doc: "Cassandra keyspace (created if missing)",
  },
  cassandraReplication: {
    env: "NATTER_CASSANDRA_REPLICATION",
    kind: "string",
    default: "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    doc: "CQL replication map used when creating the keyspace",
  },
  httpHost: { env: "NATTER_HTTP_HOST", kind: "string", default: "127.0.0.1", doc: "Gateway listen address" },
  httpPort: {
    env: "NATTER_HTTP_PORT",
    kind: "int",
    default: "8080",
    min: 0,
    max: 65535,
    doc: "Gateway listen port (0 picks a free one)",
  },
  tokenSecret: {
    env: "NATTER_TOKEN_SECRET",
    kind: "secret",
    requiredBy: ["gateway", "natter"],
    requiredUnless: "tokenKeys",
    doc: "Secret that signs access tokens (at least 32 characters): the token key with id `default`; required by gateways (and `npm start`) unless `NATTER_TOKEN_KEYS` is set, never read by the consumers",
  },
  tokenKeys: {
    env: "NATTER_TOKEN_KEYS",
    kind: "list",
    optional: true,
    doc: "Token keys a gateway accepts, `id:secret` comma separated (ids of letters, digits, `_` and `-`; each secret at least 32 characters, no commas); `NATTER_TOKEN_SECRET`, if set too, is the key `default`. Rotation without logging anyone out: SECURITY.md",
  },
  tokenSigningKey: {
    env: "NATTER_TOKEN_SIGNING_KEY",
    kind: "string",
    optional: true,
    doc: "Id of the token key that signs new tokens, one of the accepted keys; unset: `default` if `NATTER_TOKEN_SECRET` is set, else the only key of `NATTER_TOKEN_KEYS`",
  },
  tokenTtl: {
    env: "NATTER_TOKEN_TTL",
    kind: "duration",
    default: "30d",
    doc: "Lifetime of an access token and its device session",
  },
  memberLimit: {
    env: "NATTER_MEMBER_LIMIT",
    kind: "int",
    default: "256",
    min: 2,
    max: 100000,
    doc: "Most members a group may have",
  },
  bodyLimit: {
    env: "NATTER_BODY_LIMIT",
    kind: "int",
    default: "4096",
    min: 1,
    max: 65536,
    doc: "Largest message body in bytes of UTF-8",
  },
  attachmentMaxBytes: {
    env: "NATTER_ATTACHMENT_MAX_BYTES",
    kind: "int",
    default: "26214400",
    min: 1,
    max: 1073741824,
    doc: "Largest attachment upload in bytes (25 MiB by default); over it: 413 `too_large`, nothing kept. Attachments live in the `ATTACHMENTS` object store bucket, replicated as `NATTER_STREAM_REPLICAS`",
  },
  attachmentUnreferencedTtl: {
    env: "NATTER_ATTACHMENT_UNREFERENCED_TTL",
    kind: "duration",
    default: "24h",
    doc: "An upload no message refers to is purged this long after it was uploaded (by the sweeper of the process running the `history` consumer)",
  },
  attachmentSweepInterval: {
    env: "NATTER_ATTACHMENT_SWEEP_INTERVAL",
    kind: "duration",
    default: "10m",
    doc: "How often the attachment sweeper looks for unreferenced uploads older than `NATTER_ATTACHMENT_UNREFERENCED_TTL`",
  },
  sendBurst: {
    env: "NATTER_SEND_BURST",
    kind: "int",
    default: "50",
    min: 1,
    doc: "Per-user send rate limit: bucket size",
  },
  sendRate: {
    env: "NATTER_SEND_RATE",
    kind: "int",
    default: "10",
    min: 1,
    doc: "Per-user send rate limit: tokens refilled per second",
  },
  wsFrameBurst: {
    env: "NATTER_WS_FRAME_BURST",
    kind: "int",
    default: "500",
    min: 1,
    doc: "WebSocket frames a socket may send in a burst (token bucket; over it: rate_limited errors, then close 4008)",
  },
  wsFrameRate: {
    env: "NATTER_WS_FRAME_RATE",
    kind: "int",
    default: "250",
    min: 1,
    doc: "WebSocket frames per second refilled per socket",
  },
  wsMaxPerUser: {
    env: "NATTER_WS_MAX_PER_USER",
    kind: "int",
    default: "32",
    min: 1,
    doc: "Most open sockets one user may hold on one gateway; one more is closed with 4011 (too many sockets)",
  },
  wsHeartbeat: {
    env: "NATTER_WS_HEARTBEAT",
    kind: "duration",
    default: "25s",
    doc: "The gateway pings every socket this often and closes one silent for two intervals (4010); keep it under the idle timeout of any proxy or load balancer in front",
  },
  wsAuthTimeout: {
    env: "NATTER_WS_AUTH_TIMEOUT",
    kind: "duration",
    default: "5s",
    doc: "A socket without an `Authorization` header must send its `auth` frame within this (else close 4002)",
  },
  wsMaxBuffered: {
    env: "NATTER_WS_MAX_BUFFERED",
    kind: "int",
    default: "1048576",
    min: 65536,
    doc: "Bytes a socket may have queued for its client; beyond it the client is a slow consumer and is closed (4009, `natter_ws_slow_consumer_closes_total`)",
  },
  loginBurst: {
    env: "NATTER_LOGIN_BURST",
    kind: "int",
    default: "10",
    min: 1,
    doc: "Failed logins per handle and client address before it must wait (per address over all handles, and signups per address: 20 times as many)",
  },
  loginRatePerMin: {
    env: "NATTER_LOGIN_RATE_PER_MIN",
    kind: "int",
    default: "10",
    min: 1,
    doc: "Failed logins forgiven per minute (per handle and address; the per-handle bucket over all addresses is 5× larger and refills 5× slower, and refuses only addresses that failed themselves)",
  },
  lookupBurst: {
    env: "NATTER_LOOKUP_BURST",
    kind: "int",
    default: "30",
    min: 1,
    doc: "Handle look-ups (`GET /v1/users?handle=`) per user: bucket size",
  },
  lookupRatePerMin: {
    env: "NATTER_LOOKUP_RATE_PER_MIN",
    kind: "int",
    default: "30",
    min: 1,
    doc: "Handle look-ups refilled per minute, per user",
  },
  admins: {
    env: "NATTER_ADMINS",
    kind: "list",
    optional: true,
    doc: "Handles of the users who may call the admin API (`/v1/admin/...`); unset: nobody",
  },
  trustProxy: {
    env: "NATTER_TRUST_PROXY",
    kind: "list",
    optional: true,
    doc: "Proxies (addresses or CIDRs) whose `X-Forwarded-For` gives the client address for login limits and logs; empty: the socket's address, the header never believed",
  },
  historyBatch: {
    env: "NATTER_HISTORY_BATCH",
    kind: "int",
    default: "1000",
    min: 1,
    max: 10000,
    doc: "Events the history consumer writes per batch",
  },
  sendBatch: {
    env: "NATTER_SEND_BATCH",
    kind: "int",
    default: "64",
    min: 1,
    max: 1000,
    doc: "Most queued sends of one chat a gateway publishes as one atomic JetStream batch (group commit, nats-server 2.12+), on a replicated chat stream only (an R1 stream stages a batch on disk: BENCHMARKS.md); 1 publishes one at a time",
  },
  historyMaxLag: {
    env: "NATTER_HISTORY_MAX_LAG",
    kind: "int",
    default: "1000000",
    min: 1,
    doc: "Back-pressure: while the history consumer has more chat events than this still to write, sends are refused with 503 `unavailable` (retry with the same id), so history never falls so far behind that the stream's max age drops events it has not stored",
  },
  historyLinger: {
    env: "NATTER_HISTORY_LINGER",
    kind: "duration",
    default: "50ms",
    doc: "How long the history consumer waits for a batch to fill before writing it: fewer, larger store writes; delivery does not wait for it",
  },
  consumerHeartbeat: {
    env: "NATTER_CONSUMER_HEARTBEAT",
    kind: "duration",
    default: "1s",
    doc: "Idle heartbeat of the history and fanout consumers' pulls; two missed re-create the session, which is how a consumer notices its leader died (a leader move costs live delivery ~2 heartbeats plus an election)",
  },
  consumerStall: {
    env: "NATTER_CONSUMER_STALL",
    kind: "duration",
    default: "10s",
    doc: "A consumer with messages pending, room under max_ack_pending and nothing delivered for this long is re-created (the last resort behind the heartbeat)",
  },
  consumerCheckInterval: {
    env: "NATTER_CONSUMER_CHECK_INTERVAL",
    kind: "duration",
    default: "5s",
    doc: "How often the history and fanout consumers read their consumer's info: it refreshes `natter_consumer_lag` and `natter_consumer_ack_pending`, and a stall is noticed at most this long after `NATTER_CONSUMER_STALL`",
  },
  fanoutBatch: {
    env: "NATTER_FANOUT_BATCH",
    kind: "int",
    default: "256",
    min: 1,
    max: 10000,
    doc: "Events the fanout consumer takes per batch (at most twice as many delivered and unacked)",
  },
  fanoutMaxChats: {
    env: "NATTER_FANOUT_MAX_CHATS",
    kind: "int",
    default: "100000",
    min: 100,
    doc: "Chats whose membership the fanout keeps in memory (least recently used dropped, then read again from the store and stream: `natter_fanout_membership_loads_total`)",
  },
  consumers: {
    env: "NATTER_CONSUMERS",
    kind: "list",
    values: ["history", "fanout", "push"],
    default: "history,fanout",
    doc: "Consumers the consumers process runs (`history`, `fanout`, `push`); run them in separate processes so history writes never delay delivery. `push` runs only where named (it needs the VAPID keys or a webhook)",
  },
  pushVapidPublicKey: {
    env: "NATTER_PUSH_VAPID_PUBLIC_KEY",
    kind: "string",
    optional: true,
    doc: "Web Push: the deployment's VAPID public key (base64url, uncompressed P-256, RFC 8292); gateways answer it at `GET /v1/push/vapid`. `npm start` makes a pair once (`.data/vapid.json`, mode 600); elsewhere `npx web-push generate-vapid-keys`",
  },
  pushVapidPrivateKey: {
    env: "NATTER_PUSH_VAPID_PRIVATE_KEY",
    kind: "secret",
    optional: true,
    doc: "Web Push: the VAPID private key (base64url) that signs every push, with `NATTER_PUSH_VAPID_PUBLIC_KEY`; give it to the `push` consumer only (gateways need the public key alone). Unset: no Web Push (the webhook may still run)",
  },
  pushVapidSubject: {
    env: "NATTER_PUSH_VAPID_SUBJECT",
    kind: "string",
    default: "mailto:operator@localhost",
    doc: "Web Push: the contact in every VAPID token (`mailto:` or `https:` URL), for push services to reach the operator",
  },
  pushGrace: {
    env: "NATTER_PUSH_GRACE",
    kind: "duration",
    default: "3s",
    doc: "How long the `push` consumer waits after a message before pushing: a connected device gets the live event and acks it in well under a second (the SDK acks every 200 ms), a deleted message is cancelled, and a burst collapses into one notification. Pushes go out between one and two graces after a message",
  },
  pushPreview: {
    env: "NATTER_PUSH_PREVIEW",
    kind: "enum",
    values: ["on", "off"],
    default: "on",
    doc: "Whether a push carries a short preview of the newest message (`preview`, at most 100 characters); `off` keeps message text out of push services and webhooks",
  },
  pushTtl: {
    env: "NATTER_PUSH_TTL",
    kind: "duration",
    default: "1d",
    doc: "Web Push `TTL`: how long a push service keeps a notification for a browser that is offline",
  },
  pushCaFile: {
    env: "NATTER_PUSH_CA_FILE",
    kind: "file",
    optional: true,
    doc: "PEM certificates the `push` consumer trusts for push services and the webhook, in addition to the system's (a private push service, tests); never a way to turn verification off",
  },
  pushWebhookUrl: {
    env: "NATTER_PUSH_WEBHOOK_URL",
    kind: "string",
    optional: true,
    doc: "The operator's webhook: each notification POSTed as JSON with `userId`, signed in `Natter-Signature` (docs/protocol.md); unset: no webhook",
  },
  pushWebhookSecret: {
    env: "NATTER_PUSH_WEBHOOK_SECRET",
    kind: "secret",
    optional: true,
    doc: "The HMAC-SHA256 key of the webhook's `Natter-Signature`; required with `NATTER_PUSH_WEBHOOK_URL`",
  },
  metricsHost: {
    env: "NATTER_METRICS_HOST",
    kind: "string",
    default: "127.0.0.1",
    doc: "Listen address of a consumers process's `/metrics`, `/healthz` and `/readyz` (the `--metrics-host` flag wins)",
  },
  metricsPort: {
    env: "NATTER_METRICS_PORT",
    kind: "int",
    default: "9464",
    min: 0,
    max: 65535,
    doc: "Listen port of a consumers process's `/metrics`, `/healthz` and `/readyz` (the `--metrics-port` flag wins; 0 picks a free one): give each consumers process on one host its own; a port in use stops the process with one log line naming this variable",
  },
  gatewayId: {
    env: "NATTER_GATEWAY_ID",
    kind: "string",
    default: "auto",
    doc: "This gateway's id in the presence bucket ([A-Za-z0-9_-]); `auto` picks a fresh random one per process",
  },
  presenceTtl: {
    env: "NATTER_PRESENCE_TTL",
    kind: "duration",
    default: "30s",
    doc: "Presence lease of a gateway (refreshed every third of it): a crashed gateway's users go offline within it",
  },
  presenceOnlineDelay: {
    env: "NATTER_PRESENCE_ONLINE_DELAY",
    kind: "duration",
    default: "5s",
    doc: "A user counts (and is announced) as online only after being connected this long, so brief reconnects do not flap",
  },
  presenceWatchLimit: {
    env: "NATTER_PRESENCE_WATCH_LIMIT",
    kind: "int",
    default: "200",
    min: 1,
    max: 1000,
    doc: "Most users one socket may watch (`watch` frame) or one `GET /v1/presence` may ask about",
  },
  typingInterval: {
    env: "NATTER_TYPING_INTERVAL",
    kind: "duration",
    default: "2s",
    doc: "At most one `typing` signal per user and chat in this interval; extra ones are dropped silently",
  },
  site: {
    env: "NATTER_SITE",
    kind: "string",
    optional: true,
    doc: "Edge deployments: this process's site, the JetStream domain of the nats-server it uses (`hub` at the hub, else the edge site's name: a lowercase letter, then up to 15 lowercase letters and digits); unset: no sites, one domain as always (README \"Edge sites\")",
  },
  edgeSites: {
    env: "NATTER_EDGE_SITES",
    kind: "list",
    optional: true,
    doc: "At the hub (`NATTER_SITE=hub`) only: the edge sites whose chats the hub copies into `CHATS_EDGE` (sourced over their leaf links), comma separated",
  },
  shutdownGrace: {
    env: "NATTER_SHUTDOWN_GRACE",
    kind: "duration",
    default: "15s",
    doc: "On SIGTERM or SIGINT a process drains (sockets closed, in-flight batches finished, NATS flushed) for at most this long, then exits 1; give a supervisor's stop timeout more than this",
  },
  logLevel: {
    env: "NATTER_LOG_LEVEL",
    kind: "enum",
    values: ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
    default: "info",
    doc: "pino log level",
  },
} as const satisfies Record<string, Key>;

export type ConfigKey = keyof typeof KEYS;

type Parsed<K extends Key> = K["kind"] extends "int" | "duration"
  ? number
  : K["kind"] extends "list"
    ? string[]
    : string;

/** An optional key unset is undefined; set, it parses as its kind. */
type ValueOf<K extends Key> = K extends { optional: true } | { requiredBy: readonly ProcessKind[] }
  ? Parsed<K> | undefined
  : Parsed<K>;

/** The validated configuration: durations in milliseconds, lists split. */
export type Config = { -readonly [P in ConfigKey]: ValueOf<(typeof KEYS)[P]> };

/**
 * Rules across keys, checked after each key parsed: each returns the problems it finds.
 * NATS authentication is one of user and password, an nkey seed, or a creds file; a
 * client certificate comes with its key.
 */
export const CHECKS: ((c: Config) => string[])[] = [
  (c) => {
    const ways = [c.natsUser !== undefined || c.natsPassword !== undefined, c.natsNkeySeed, c.natsCreds].filter(
      Boolean,
    );
    const out: string[] = [];
    if (ways.length > 1)
      out.push("NATTER_NATS_USER/NATTER_NATS_PASSWORD, NATTER_NATS_NKEY_SEED and NATTER_NATS_CREDS: set only one");
    if ((c.natsUser === undefined) !== (c.natsPassword === undefined))
      out.push("NATTER_NATS_USER and NATTER_NATS_PASSWORD: set both or neither");
    if ((c.natsTlsCert === undefined) !== (c.natsTlsKey === undefined))
      out.push("NATTER_NATS_TLS_CERT and NATTER_NATS_TLS_KEY: set both or neither");
    return out;
  },
  (c) => tokenKeyring(c).problems,
  (c) => {
    const out: string[] = [];
    if (c.site !== undefined && !isSiteName(c.site))
      out.push(`NATTER_SITE=${c.site}: expected a lowercase letter, then up to 15 lowercase letters and digits`);
    if (c.edgeSites !== undefined && c.site !== HUB_SITE)
      out.push(`NATTER_EDGE_SITES is read at the hub only: set NATTER_SITE=${HUB_SITE} too, or unset it`);
    for (const s of c.edgeSites ?? []) {
      if (!isSiteName(s) || s === HUB_SITE) out.push(`NATTER_EDGE_SITES: ${s} is not an edge site name`);
    }
    // Gateways need the public key only (they answer it); the push consumer signs with both.
    if (c.pushVapidPrivateKey !== undefined && c.pushVapidPublicKey === undefined)
      out.push("NATTER_PUSH_VAPID_PRIVATE_KEY needs NATTER_PUSH_VAPID_PUBLIC_KEY");
    if (c.pushWebhookUrl !== undefined && c.pushWebhookSecret === undefined)
      out.push("NATTER_PUSH_WEBHOOK_URL needs NATTER_PUSH_WEBHOOK_SECRET");
    if (c.pushWebhookUrl !== undefined && !/^https?:\/\//.test(c.pushWebhookUrl))
      out.push(`NATTER_PUSH_WEBHOOK_URL=${c.pushWebhookUrl}: expected an http(s) URL`);
    return out;
  },
];

/** The token keys a gateway accepts (id → secret) and the id of the one that signs. */
export interface TokenKeyring {
  keys: Map<string, string>;
  signingKey: string;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The token keyring of a configuration: `NATTER_TOKEN_KEYS` plus `NATTER_TOKEN_SECRET` as
 * the key `default`, and the signing key. `keyring` is undefined when no key is set (a
 * consumers process) or when there are problems.
 */
export function tokenKeyring(c: Pick<Config, "tokenSecret" | "tokenKeys" | "tokenSigningKey">): {
  keyring?: TokenKeyring;
  problems: string[];
} {
  const problems: string[] = [];
  const keys = new Map<string, string>();
  if (c.tokenSecret !== undefined) keys.set("default", c.tokenSecret);
  for (const item of c.tokenKeys ?? []) {
    const at = item.indexOf(":");
    const id = at < 0 ? item : item.slice(0, at);
    const secret = at < 0 ? "" : item.slice(at + 1);
    const shown = KEY_ID.test(id) ? id : JSON.stringify(id.slice(0, 20));
    if (at < 0 || !KEY_ID.test(id))
      problems.push(`NATTER_TOKEN_KEYS: ${shown}: expected id:secret, the id of letters, digits, _ and - (at most 64)`);
    else if (secret.length < 32)
      problems.push(
        `NATTER_TOKEN_KEYS: key ${id}: its secret must be at least 32 characters (try: openssl rand -hex 32)`,
      );
    else if (keys.has(id))
      problems.push(
        id === "default" && c.tokenSecret !== undefined
          ? "NATTER_TOKEN_KEYS: key default: NATTER_TOKEN_SECRET is already the key default; set it in one place"
          : `NATTER_TOKEN_KEYS: key ${id} is given twice`,
      );
    else keys.set(id, secret);
  }
  const ids = [...keys.keys()];
  let signingKey = c.tokenSigningKey;
  if (signingKey === undefined && keys.size > 0) {
    if (keys.has("default")) signingKey = "default";
    else if (keys.size === 1) signingKey = ids[0];
    else
      problems.push(
        `NATTER_TOKEN_SIGNING_KEY is required with several token keys: one of ${ids.join(", ")} (the one that signs new tokens)`,
      );
  } else if (signingKey !== undefined && !keys.has(signingKey)) {
    problems.push(
      keys.size === 0
        ? `NATTER_TOKEN_SIGNING_KEY=${signingKey}: no token keys are set (NATTER_TOKEN_KEYS or NATTER_TOKEN_SECRET)`
        : `NATTER_TOKEN_SIGNING_KEY=${signingKey}: not among the accepted token keys (${ids.join(", ")}); add it to NATTER_TOKEN_KEYS`,
    );
  }
  if (problems.length || signingKey === undefined) return { problems };
  return { keyring: { keys, signingKey }, problems };
}
