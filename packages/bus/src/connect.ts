import type { Logger } from "@natter/config";
import { connect, type NatsConnection } from "@nats-io/transport-node";

export interface ConnectOptions {
  servers: string[];
  name: string;
  logger: Logger;
}

/**
 * Connects with endless reconnects (a gateway or consumer outlives NATS restarts) and
 * logs every status change, so an operator sees disconnects in the process log.
 */
export async function connectNats(opts: ConnectOptions): Promise<NatsConnection> {
  const nc = await connect({
    servers: opts.servers,
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 500,
    pingInterval: 10_000,
  });
  opts.logger.info({ server: nc.getServer() }, "connected to NATS");
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === "ping") continue;
      const level = s.type === "disconnect" || s.type === "error" ? "warn" : "info";
      opts.logger[level]({ status: s.type, data: "server" in s ? s.server : undefined }, "NATS status");
    }
  })().catch(() => {});
  return nc;
}
