import { ensureChatStream } from "@natter/bus";
import { type ConfigKey, createLogger, loadConfig } from "@natter/config";
import { SqliteStore, type Store } from "@natter/store";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createGateway, type Gateway } from "./gateway.ts";
import type { WsOptions } from "./ws/options.ts";

/** Test configuration: a fixed secret and the given overrides, nothing from the environment. */
export function testConfig(overrides: Partial<Record<ConfigKey, string>> = {}) {
  return loadConfig(
    {},
    {
      tokenSecret: "test-secret-test-secret-test-secret!",
      logLevel: process.env.NATTER_TEST_LOG ?? "silent",
      ...overrides,
    },
  );
}

export interface TestGateway {
  gw: Gateway;
  nc: NatsConnection;
  store: Store;
  close(): Promise<void>;
}

/**
 * A gateway over a real nats-server (from testkit's `startNatsServer`) and a store (a
 * fresh in-memory SQLite one unless given), exercised with `inject()`.
 */
export async function startTestGateway(
  natsUrl: string,
  opts: { store?: Store; overrides?: Partial<Record<ConfigKey, string>>; ws?: Partial<WsOptions> } = {},
): Promise<TestGateway> {
  const config = testConfig({ natsUrl, ...opts.overrides });
  const logger = createLogger(config.logLevel, "test");
  const nc = await connect({ servers: natsUrl });
  await ensureChatStream(
    await jetstreamManager(nc),
    { replicas: 1, maxAgeMs: config.streamMaxAge, duplicateWindowMs: config.dedupWindow },
    logger,
  );
  const store = opts.store ?? new SqliteStore({ path: ":memory:" });
  await store.migrate();
  const gw = await createGateway({ config, logger, store, nc, ...(opts.ws ? { ws: opts.ws } : {}) });
  return {
    gw,
    nc,
    store,
    async close() {
      await gw.close();
      await nc.close();
      if (!opts.store) await store.close();
    },
  };
}
