import { mkdirSync } from "node:fs";
import path from "node:path";
import { connectNats, ensureChatStream } from "@natter/bus";
import { type Config, ConfigError, createLogger, type Logger, loadConfig } from "@natter/config";
import { createStore, type Store, type StoreConfig } from "@natter/store";
import { CHAT_STREAM } from "@natter/subjects";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { collectDefaultMetrics, Registry } from "prom-client";

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

/** Loads the config or exits 1 with every problem listed: the one place a process validates it. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
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
export type Role = "gateway" | "consumers" | "natter";
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
 * Config, logger, NATS (endless reconnects, the configured identity and TLS), the chat
 * stream, the migrated store and a metrics registry: what every Natter process starts with.
 */
export async function openRuntime(role: Role, config: Config = loadConfigOrExit()): Promise<Runtime> {
  const logger = createLogger(config.logLevel, role);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const nc = await connectNats({ servers: config.natsUrl, name: `${config.natsName}-${role}`, logger, access: config });
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
  const store = createStore(storeConfig(config));
  await store.migrate();
  return { config, logger, nc, store, registry };
}

/**
 * Runs `stop` once on SIGTERM or SIGINT, then exits 0; exits 1 if stopping takes longer
 * than `graceMs`, so an orchestrator's kill never waits on a hung drain.
 */
export function onShutdown(logger: Logger, stop: () => Promise<void>, graceMs = 15_000): void {
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
