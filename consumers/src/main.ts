/**
 * The consumers process: `node consumers/src/main.ts [--metrics-port 9464] [--metrics-host 127.0.0.1]`.
 * Configuration comes from the NATTER_* environment (see the README's table); the flags
 * override `NATTER_METRICS_PORT` and `NATTER_METRICS_HOST`.
 */
import { parseArgs } from "node:util";
import type { Store } from "@natter/store";
import type { NatsConnection } from "@nats-io/transport-node";
import { loadConfigOrExit, onShutdown, openRuntime, processBasics } from "@natter/runtime";
import { type RunningConsumers, startConsumers } from "./consumers.ts";
import { PortInUseError, type Readiness, serveMetrics } from "./metrics-server.ts";

const { values: flags } = parseArgs({
  options: {
    "metrics-port": { type: "string" },
    "metrics-host": { type: "string" },
  },
});
const config = loadConfigOrExit("consumers");
const metricsPort = flags["metrics-port"] === undefined ? config.metricsPort : Number(flags["metrics-port"]);
if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535) {
  console.error(`--metrics-port ${flags["metrics-port"]}: expected a port number`);
  process.exit(1);
}
const metricsHost = flags["metrics-host"] ?? config.metricsHost;

const base = processBasics("consumers", config);
const { logger, registry } = base;

// Set once the consumers run; until then /readyz answers 503 (the process waits for NATS,
// JetStream and the chat stream first).
const state: { running?: { nc: NatsConnection; store: Store; consumers: RunningConsumers } } = {};
const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), ms).unref())]);
const readiness = async (): Promise<Readiness> => {
  if (!state.running) return { ok: false, nats: false, jetstream: false, store: false };
  const { nc, store, consumers } = state.running;
  const [nats, storeOk] = await Promise.all([
    !nc.isClosed() &&
      within(nc.flush(), 2000).then(
        () => true,
        () => false,
      ),
    within(store.ping(), 2000).then(
      () => true,
      () => false,
    ),
  ]);
  const jetstream = nats && consumers.runners.every((r) => r.pulling);
  // The store decides only for history, which writes it; fanout reads it for cold starts only.
  const needsStore = consumers.runners.some((r) => r.name === "history");
  return { ok: nats && jetstream && (storeOk || !needsStore), nats, jetstream, store: storeOk };
};

const metrics = await serveMetrics({ host: metricsHost, port: metricsPort, registry, readiness }).catch(
  (err: unknown) => {
    if (!(err instanceof PortInUseError)) throw err;
    logger.fatal(
      { host: err.host, port: err.port },
      `metrics port ${err.host}:${err.port} is in use by another process: give each consumers process on a host its own NATTER_METRICS_PORT (or --metrics-port)`,
    );
    process.exit(1);
  },
);
logger.info({ port: metrics.port }, "metrics and health listening");

const rt = await openRuntime("consumers", config, base);
const { nc, store } = rt;
const consumers = await startConsumers({ config, nc, store, logger, registry });
state.running = { nc, store, consumers };

onShutdown(
  logger,
  async () => {
    // Runners first (in-flight batches finish and ack), then NATS drains those acks.
    await consumers.stop();
    await nc.drain().catch((err: unknown) => logger.warn({ err: String(err) }, "NATS drain failed"));
    await store.close();
    await metrics.close();
  },
  config.shutdownGrace,
);
