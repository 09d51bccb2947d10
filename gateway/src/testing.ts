import { after, before } from "node:test";
import { ensureChatStream } from "@natter/bus";
import { type ConfigKey, createLogger, loadConfig } from "@natter/config";
import { SqliteStore, type Store } from "@natter/store";
import { type NatsServer, startNatsCluster, waitForJetStream } from "@natter/testkit";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { type ConnectionOptions, connect, type NatsConnection } from "@nats-io/transport-node";
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

export interface R3ClusterSuite {
  readonly servers: NatsServer[];
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  /** An in-memory SQLite store, migrated. */
  readonly store: SqliteStore;
}

/**
 * For the calling `describe`: a real 3-node nats-server cluster with the chat stream at R3
 * (its leader elected), one connection to every node (`connect` adds options) and a store,
 * started in `before`; `setup` runs once they are up, `teardown` after the tests, before
 * the connection closes and the nodes stop.
 */
export function r3ClusterSuite(
  opts: {
    connect?: Partial<ConnectionOptions>;
    setup?: (cluster: R3ClusterSuite) => Promise<unknown>;
    teardown?: () => Promise<unknown>;
  } = {},
): R3ClusterSuite {
  const cluster = { servers: [] as NatsServer[], store: new SqliteStore({ path: ":memory:" }) } as {
    servers: NatsServer[];
    nc: NatsConnection;
    jsm: JetStreamManager;
    store: SqliteStore;
  };
  before(async () => {
    cluster.servers = await startNatsCluster(3);
    cluster.nc = await connect({ servers: cluster.servers.map((s) => s.url), ...opts.connect });
    cluster.jsm = await jetstreamManager(cluster.nc, { checkAPI: false });
    await cluster.store.migrate();
    const logger = createLogger(process.env.NATTER_TEST_LOG ?? "silent", "r3-cluster");
    await waitForJetStream(() =>
      ensureChatStream(cluster.jsm, { replicas: 3, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000 }, logger),
    );
    await opts.setup?.(cluster);
  });
  after(async () => {
    await opts.teardown?.();
    await cluster.nc?.close();
    await Promise.all(cluster.servers.map((s) => s.stop()));
    await cluster.store.close();
  });
  return cluster;
}
