import { readFileSync } from "node:fs";
import type { Config, Logger } from "@natter/config";
import {
  type Authenticator,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
} from "@nats-io/transport-node";
import { coalesceWrites } from "./write-coalescing.ts";

/** Who this process is on NATS and how it reaches the servers: the `NATTER_NATS_*` keys. */
export type NatsAccess = Pick<
  Config,
  "natsUser" | "natsPassword" | "natsNkeySeed" | "natsCreds" | "natsTlsCa" | "natsTlsCert" | "natsTlsKey"
>;

export interface ConnectOptions {
  servers: string[];
  name: string;
  logger: Logger;
  /** Credentials and TLS (validated config); none: an anonymous plain connection, as a test server allows. */
  access?: Partial<NatsAccess>;
}

/**
 * nats.js options for the configured identity and TLS. Secrets are read from their files
 * here, at connect, so a rotated file takes effect on the next start.
 */
export function natsAccessOptions(access: Partial<NatsAccess> = {}): Partial<ConnectionOptions> {
  const out: Partial<ConnectionOptions> = {};
  let authenticator: Authenticator | undefined;
  if (access.natsNkeySeed) {
    authenticator = nkeyAuthenticator(new TextEncoder().encode(readFileSync(access.natsNkeySeed, "utf8").trim()));
  } else if (access.natsCreds) {
    authenticator = credsAuthenticator(readFileSync(access.natsCreds));
  } else if (access.natsUser !== undefined) {
    out.user = access.natsUser;
    out.pass = access.natsPassword;
  }
  if (authenticator) out.authenticator = authenticator;
  if (access.natsTlsCa || access.natsTlsCert) {
    // Any TLS setting makes TLS required: never fall back to plain text.
    out.tls = {
      ...(access.natsTlsCa ? { caFile: access.natsTlsCa } : {}),
      ...(access.natsTlsCert ? { certFile: access.natsTlsCert, keyFile: access.natsTlsKey } : {}),
    };
  }
  return out;
}

/**
 * Connects with endless reconnects (a gateway or consumer outlives NATS restarts) and
 * logs every status change, so an operator sees disconnects in the process log. A
 * permission the server refuses is logged as an error with its subject: it means the
 * identity lacks a permission the code needs (`packages/subjects/src/permissions.ts`).
 */
export async function connectNats(opts: ConnectOptions): Promise<NatsConnection> {
  const nc = await connect({
    servers: opts.servers,
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 500,
    pingInterval: 10_000,
    ...natsAccessOptions(opts.access),
  });
  // One write per event-loop turn, not per publish (write-coalescing.ts; BENCHMARKS.md, issue 18).
  if (!coalesceWrites(nc)) opts.logger.warn("nats.js internals changed: writes are not coalesced");
  opts.logger.info({ server: nc.getServer() }, "connected to NATS");
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === "ping") continue;
      const level = s.type === "disconnect" ? "warn" : s.type === "error" ? "error" : "info";
      const detail = "server" in s ? s.server : "error" in s ? String(s.error) : undefined;
      opts.logger[level]({ status: s.type, data: detail }, "NATS status");
    }
  })().catch(() => {});
  return nc;
}
