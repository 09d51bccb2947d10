import { mkdirSync } from "node:fs";
import path from "node:path";
import { connectNats, ensureChatStream } from "@natter/bus";
import { type Config, ConfigError, createLogger, type Logger, loadConfig } from "@natter/config";
import { createStore, type Store, type StoreConfig } from "@natter/store";
import { jetstreamManager } from "@nats-io/jetstream";
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
 * Config, logger, NATS (endless reconnects), the chat stream, the migrated store and a
 * metrics registry: what every Natter process starts with.
 */
export async function openRuntime(name: string, config: Config = loadConfigOrExit()): Promise<Runtime> {
  const logger = createLogger(config.logLevel, name);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const nc = await connectNats({ servers: config.natsUrl, name: `${config.natsName}-${name}`, logger });
  await ensureChatStream(
    await jetstreamManager(nc),
    { replicas: config.streamReplicas, maxAgeMs: config.streamMaxAge, duplicateWindowMs: config.dedupWindow },
    logger,
  );
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
