/**
 * The consumers process: `node consumers/src/main.ts [--metrics-port 9464] [--metrics-host 127.0.0.1]`.
 * Configuration comes from the NATTER_* environment (see the README's table); the metrics
 * port is a flag because the config schema is shared with the gateway, which has its own port.
 */
import { parseArgs } from "node:util";
import { loadConfigOrExit, onShutdown, openRuntime } from "@natter/runtime";
import { startConsumers } from "./consumers.ts";
import { serveMetrics } from "./metrics-server.ts";

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

const rt = await openRuntime("consumers", loadConfigOrExit());
const { nc, store, logger, registry } = rt;
const consumers = await startConsumers({ config: rt.config, nc, store, logger, registry });
const metrics = await serveMetrics({
  host: flags["metrics-host"],
  port: metricsPort,
  registry,
  health: async () => {
    if (nc.isClosed()) throw new Error("NATS connection closed");
    await store.ping();
  },
});
logger.info({ port: metrics.port }, "metrics and health listening");

onShutdown(logger, async () => {
  // Runners first (in-flight batches finish and ack), then NATS drains those acks.
  await consumers.stop();
  await nc.drain().catch((err: unknown) => logger.warn({ err: String(err) }, "NATS drain failed"));
  await store.close();
  await metrics.close();
});
