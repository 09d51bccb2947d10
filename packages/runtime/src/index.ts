import { mkdirSync } from "node:fs";
import path from "node:path";
import { connectNats, ensureChatStream } from "@natter/bus";
import { type Config, ConfigError, createLogger, type Logger, loadConfig, type ProcessKind } from "@natter/config";
import { createStore, type Store, type StoreConfig } from "@natter/store";
import { CHAT_STREAM } from "@natter/subjects";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { collectDefaultMetrics, Registry } from "prom-client";
import { timedStore } from "./store-metrics.ts";

export interface Runtime {
  config: Config;
  logger: Logger;
  nc: NatsConnection;
  store: Store;
  /** One registry per process: the gateway and consumers of `npm start` share it. */
  registry: Registry;
}

/** The store settings of a validated config (creating the SQLite file's folder). */
export function storeConfig(config: Config): StoreConfig {
  if (config.store === "cassandra") {
    return {
      backend: "cassandra",
      contactPoints: config.cassandraContactPoints,
      localDataCenter: config.cassandraLocalDc,
      keyspace: config.cassandraKeyspace,
      replication: config.cassandraReplication,
    };
  }
  if (config.sqlitePath !== ":memory:") mkdirSync(path.dirname(path.resolve(config.sqlitePath)), { recursive: true });
  return { backend: "sqlite", sqlitePath: config.sqlitePath };
}

/**
 * Loads the config or exits 1 with every problem listed: the one place a process validates
 * it. `kind` requires only that kind's own secrets (the consumers start without the
 * gateway's token secret).
 */
export function loadConfigOrExit(kind?: ProcessKind): Config {
  try {
    return loadConfig(process.env, {}, kind);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(1);
  }
}

/**
 * The processes Natter runs. Only a process with a gateway creates the chat stream and
 * keeps its settings: the consumers' NATS identities may read the stream but not create
 * or change it (`packages/subjects/src/permissions.ts`), so they wait for it instead.
 */
export type Role = ProcessKind;
const OWNS_CHAT_STREAM: Record<Role, boolean> = { gateway: true, consumers: false, natter: true };

/** Waits until the chat stream exists (a gateway creates it), logging once while it does not. */
async function awaitChatStream(jsm: JetStreamManager, logger: Logger): Promise<void> {
  for (let logged = false; ;) {
    try {
      await jsm.streams.info(CHAT_STREAM);
      return;
    } catch (err) {
      if ((err as { name?: string }).name !== "StreamNotFoundError" && !/stream not found/i.test(String(err)))
        throw err;
      if (!logged) logger.info({ stream: CHAT_STREAM }, "waiting for a gateway to create the chat stream");
      logged = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/**
 * This process's name in its log lines and its NATS connection: `NATTER_NATS_NAME` as it
 * is, or else its kind (a consumers process running one consumer is named after it).
 */
export function processName(role: Role, config: Pick<Config, "natsName" | "consumers">): string {
  if (config.natsName !== undefined) return config.natsName;
  if (role === "consumers" && config.consumers.length === 1) return config.consumers[0]!;
  return role;
}

export interface ProcessBasics {
  name: string;
  logger: Logger;
  registry: Registry;
}

/**
 * The logger (named as `processName`) and the metrics registry: what a process has before
 * it connects to anything (the consumers serve `/healthz` and `/readyz` while they wait).
 */
export function processBasics(role: Role, config: Config): ProcessBasics {
  const name = processName(role, config);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return { name, logger: createLogger(config.logLevel, name), registry };
}

/** Whether a failure to reach NATS or JetStream is one that waiting may cure. */
function isTransient(err: unknown): boolean {
  const text = `${(err as { name?: string }).name ?? ""} ${(err as { code?: string }).code ?? ""} ${String(err)}`;
  if (/authori[sz]ation|permission|certificate|tls|invalid|wrong last/i.test(text)) return false;
  return /refused|ECONNRESET|no responders|not enabled|timeout|timed out|temporarily unavailable|insufficient resources|no suitable peers|not current|leader|cluster|503|closed|disconnect/i.test(
    text,
  );
}

/**
 * Runs `attempt` until it succeeds, waiting (500 ms doubling to 10 s, with jitter) through
 * failures that waiting may cure: one log line when it starts waiting, one every ten tries
 * after, one when `what` is there. Anything else (a refused identity) is thrown at once.
 */
export async function waitFor<T>(what: string, logger: Logger, attempt: () => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      const value = await attempt();
      if (tries > 0) logger.info({ waited: what, tries }, `${what} available`);
      return value;
    } catch (err) {
      if (!isTransient(err)) throw err;
      const delay = Math.min(500 * 2 ** tries, 10_000);
      if (tries % 10 === 0) logger.warn({ waiting: what, err: String(err), retryInMs: delay }, `waiting for ${what}`);
      await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random() / 2)));
    }
  }
}

/**
 * Config, logger, NATS (endless reconnects, the configured identity and TLS), the chat
 * stream, the migrated store and a metrics registry: what every Natter process starts with.
 * A process started before its dependencies waits for them (NATS, then JetStream and the
 * chat stream) with a log line, instead of crashing.
 */
export async function openRuntime(
  role: Role,
  config: Config = loadConfigOrExit(role),
  base: ProcessBasics = processBasics(role, config),
): Promise<Runtime> {
  const { name, logger, registry } = base;
  const nc = await waitFor("NATS", logger, () =>
    connectNats({ servers: config.natsUrl, name, logger, access: config }),
  );
  await waitFor("JetStream", logger, async () => {
    const jsm = await jetstreamManager(nc);
    if (OWNS_CHAT_STREAM[role]) {
      await ensureChatStream(
        jsm,
        { replicas: config.streamReplicas, maxAgeMs: config.streamMaxAge, duplicateWindowMs: config.dedupWindow },
        logger,
      );
    } else {
      await awaitChatStream(jsm, logger);
    }
  });
  const store = timedStore(createStore(storeConfig(config)), registry);
  await store.migrate();
  return { config, logger, nc, store, registry };
}

/**
 * Runs `stop` once on SIGTERM or SIGINT, then exits 0; exits 1 if stopping takes longer
 * than `graceMs` (`NATTER_SHUTDOWN_GRACE`), so an orchestrator's kill never waits on a hung drain.
 */
export function onShutdown(logger: Logger, stop: () => Promise<void>, graceMs: number): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    setTimeout(() => process.exit(1), graceMs).unref();
    stop().then(
      () => {
        logger.info("stopped");
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => handler("SIGTERM"));
  process.once("SIGINT", () => handler("SIGINT"));
}
