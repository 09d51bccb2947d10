export { natsBin, repoRoot } from "./binaries.ts";
export { exitOnSignals, trackChild } from "./children.ts";
export { cassandraContactPoints, createTestKeyspace, type TestKeyspace } from "./cassandra.ts";
export {
  freePort,
  makeNatsIdentities,
  type NatsAccessKeys,
  natsEnvFor,
  type NatsIdentities,
  type NatsServer,
  type NatsServerOptions,
  startNatsCluster,
  startNatsServer,
  testCertificates,
  waitForJetStream,
} from "./nats-server.ts";
export { type PartitionableCluster, startPartitionableNatsCluster } from "./nats-partition.ts";
export * from "./stack.ts";
export { startTcpProxy, type TcpProxy } from "./tcp-proxy.ts";
export { type EdgeDeployment, type EdgeDomain, startEdge } from "./edge.ts";
export { docTable, tableCells } from "./doc-table.ts";
export { WsClient } from "./ws-client.ts";
export { type NatsSuite, natsSuite, type StackSuite, stackSuite } from "./suite.ts";
export { type Injectable, injectJson, injectSignup, type Method, type SignedUp } from "./inject.ts";
export {
  checkVapid,
  decryptWebPush,
  fakeSubscriptionKeys,
  type ReceivedPush,
  type ReceivedWebhook,
  startTestPushService,
  startTestWebhookReceiver,
  type TestPushService,
  type TestSubscription,
  type TestWebhookReceiver,
  testVapidKeys,
  verifyWebhookSignature,
} from "./push-service.ts";
export { consumerCaughtUp } from "./caught-up.ts";
export { until } from "./until.ts";
