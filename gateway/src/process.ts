import { connectNats, ensureChatStream } from "@natter/bus";
import { type Config, ConfigError, createLogger, type Logger, loadConfig } from "@natter/config";
import { createStore, type Store } from "@natter/store";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Registry } from "prom-client";
import { createGateway, type Gateway } from "./gateway.ts";

export interface Runtime {
  config: Config;
  logger: Logger;
  nc: NatsConnection;
  store: Store;
  registry: Registry;
}

/** Config, logger, NATS, the chat stream and the store: what every Natter process starts with. */
export async function openRuntime(name: string): Promise<Runtime> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel, name);
  const nc = await connectNats({ servers: config.natsUrl, name: `${config.natsName}-${name}`, logger });
  await ensureChatStream(
    await jetstreamManager(nc),
    { replicas: config.streamReplicas, maxAgeMs: config.streamMaxAge, duplicateWindowMs: config.dedupWindow },
    logger,
  );
  const store = createStore(
    config.store === "sqlite"
      ? { backend: "sqlite", sqlitePath: config.sqlitePath }
      : {
          backend: "cassandra",
          contactPoints: config.cassandraContactPoints,
          localDataCenter: config.cassandraLocalDc,
          keyspace: config.cassandraKeyspace,
          replication: config.cassandraReplication,
        },
  );
  await store.migrate();
  return { config, logger, nc, store, registry: new Registry() };
}

/** Starts a gateway on the configured address; SIGTERM/SIGINT shut it down gracefully. */
export async function runGatewayProcess(rt: Runtime, onStop: () => Promise<void> = async () => {}): Promise<Gateway> {
  const gw = await createGateway(rt);
  const address = await gw.app.listen({ host: rt.config.httpHost, port: rt.config.httpPort });
  rt.logger.info({ address }, `Natter gateway listening on ${address}`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    rt.logger.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    try {
      await gw.close();
      await onStop();
      await rt.nc.drain();
      await rt.store.close();
    } finally {
      process.exit(0);
    }
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
  return gw;
}
