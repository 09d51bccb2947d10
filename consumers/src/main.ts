/**
 * The consumers process: `node consumers/src/main.ts [--metrics-port 9464] [--metrics-host 127.0.0.1]`.
 * Configuration comes from the NATTER_* environment (docs/configuration); the metrics port
 * is a flag because the config schema is shared with the gateway, which has its own port.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { connectNats } from "@natter/bus";
import { type Config, ConfigError, createLogger, loadConfig } from "@natter/config";
import { createStore, type StoreConfig } from "@natter/store";
import { collectDefaultMetrics, register } from "prom-client";
import { startConsumers } from "./consumers.ts";
import { serveMetrics } from "./metrics-server.ts";

function storeConfig(config: Config): StoreConfig {
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

async function main(): Promise<void> {
  const { values: flags } = parseArgs({
    options: {
      "metrics-port": { type: "string", default: "9464" },
      "metrics-host": { type: "string", default: "127.0.0.1" },
    },
  });
  const metricsPort = Number(flags["metrics-port"]);
  if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535) {
    console.error(`--metrics-port ${flags["metrics-port"]}: expected a port number`);
    process.exit(1);
  }

  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(1);
  }

  const logger = createLogger(config.logLevel, "natter-consumers");
  collectDefaultMetrics({ register });
  const nc = await connectNats({ servers: config.natsUrl, name: `${config.natsName}-consumers`, logger });
  const store = createStore(storeConfig(config));
  await store.migrate();
  const consumers = await startConsumers({ config, nc, store, logger, registry: register });
  const metrics = await serveMetrics({
    host: flags["metrics-host"],
    port: metricsPort,
    registry: register,
    health: async () => {
      if (nc.isClosed()) throw new Error("NATS connection closed");
      await store.ping();
    },
  });
  logger.info({ port: metrics.port }, "metrics and health listening");

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    // Runners first (in-flight batches finish and ack), then NATS drains those acks.
    await consumers.stop();
    await nc.drain().catch((err: unknown) => logger.warn({ err: String(err) }, "NATS drain failed"));
    await store.close();
    await metrics.close();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((err: unknown) => {
  console.error("natter-consumers failed to start:", err);
  process.exit(1);
});
