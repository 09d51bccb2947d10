export { natsBin, repoRoot } from "./binaries.ts";
export { exitOnSignals, trackChild } from "./children.ts";
export { cassandraContactPoints, createTestKeyspace, type TestKeyspace } from "./cassandra.ts";
export {
  freePort,
  type NatsServer,
  type NatsServerOptions,
  startNatsCluster,
  startNatsServer,
  waitForJetStream,
} from "./nats-server.ts";
export * from "./stack.ts";
export { WsClient } from "./ws-client.ts";
