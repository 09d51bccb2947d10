import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The gateway's Prometheus metrics, registered on one registry (shared with the consumers in `npm start`). */
export function createGatewayMetrics(registry: Registry = new Registry()) {
  if (!registry.getSingleMetric("process_cpu_user_seconds_total")) collectDefaultMetrics({ register: registry });
  // Every metric is registered on `registry` alone; labels typed from the names given.
  const registers = [registry];
  const counter = <L extends string = string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers });
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers });
  const histogram = <L extends string = string>(
    name: string,
    help: string,
    buckets: number[],
    labelNames: readonly L[] = [],
  ) => new Histogram<L>({ name, help, buckets, labelNames, registers });
  return {
    registry,
    publishes: counter(
      "natter_publishes_total",
      "Chat events published to JetStream, by kind and outcome (ok, duplicate)",
      ["kind", "outcome"],
    ),
    publishLatency: histogram(
      "natter_publish_seconds",
      "Time from publish to PubAck, including conflict retries",
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    ),
    sendLatency: histogram(
      "natter_send_seconds",
      "A send (HTTP or WebSocket) from its arrival at the chat service to its answer, by outcome (ok, duplicate, or the error code): checks, queueing behind the chat's earlier sends, and the PubAck",
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      ["outcome"],
    ),
    errors: counter(
      "natter_errors_total",
      "Errors answered to clients, by stable code (docs/protocol.md) and by where (http: an error response, ws: an error frame)",
      ["code", "via"],
    ),
    publishBatch: histogram(
      "natter_publish_batch_events",
      "Events per JetStream publish: a chat's queued sends go as one atomic batch (group commit)",
      [1, 2, 4, 8, 16, 32, 64, 128],
    ),
    conflicts: counter(
      "natter_publish_conflicts_total",
      "Publishes retried after a wrong-last-sequence conflict (another gateway took the position)",
    ),
    httpRequests: counter("natter_http_requests_total", "HTTP requests by route and status code", ["route", "status"]),
    rateLimited: counter("natter_rate_limited_total", "Requests refused by a rate limit, by limit", ["limit"]),
    wsConnections: gauge("natter_ws_connections", "Open WebSocket connections (authenticated or not yet)"),
    inboxSubscriptions: gauge(
      "natter_inbox_subscriptions",
      "Users with a user.<userId>.inbox subscription on this gateway (at least one socket)",
    ),
    wsFramesIn: counter(
      "natter_ws_frames_in_total",
      "Frames received, by type (invalid, binary and rate_limited for refused ones)",
      ["type"],
    ),
    wsFramesOut: counter("natter_ws_frames_out_total", "Frames sent, by type", ["type"]),
    wsCloses: counter("natter_ws_closes_total", "WebSocket closes by close code (the gateway's own, or the client's)", [
      "code",
    ]),
    slowConsumerCloses: counter(
      "natter_ws_slow_consumer_closes_total",
      "Sockets closed with 4009 because their send buffer filled up",
    ),
    deliveries: counter(
      "natter_deliveries_total",
      "Chat events written to sockets, by path (live from the inbox, fill of a gap, replay for sync)",
      ["path"],
    ),
    duplicatesDropped: counter(
      "natter_deliveries_duplicate_total",
      "Events not written because the socket already had them (n at or below its cursor)",
    ),
    deliverLatency: histogram(
      "natter_deliver_latency_seconds",
      "Send to deliver: socket write time minus the event's ts (live and gap-filled events)",
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    ),
    inboxInvalid: counter("natter_inbox_invalid_total", "Messages on a user inbox that were not chat events (dropped)"),
    presenceUsers: gauge(
      "natter_presence_local_users",
      "Users with at least one device on this gateway (one conn.<userId>.<gatewayId> key each)",
    ),
    presenceSubscriptions: gauge(
      "natter_presence_subscriptions",
      "Users whose presence.<userId> this gateway subscribes to (watched by at least one socket here)",
    ),
    presenceAnnounced: counter(
      "natter_presence_announced_total",
      "Presence changes published on presence.<userId>, by online (true, false)",
      ["online"],
    ),
    presenceWrites: counter(
      "natter_presence_kv_writes_total",
      "Writes to the PRESENCE bucket besides conn keys, by key kind (lease, seen)",
      ["key"],
    ),
    presenceReads: counter(
      "natter_presence_reads_total",
      "Batch reads of the PRESENCE bucket (watch answers, GET /v1/presence, offline checks)",
    ),
    presenceSweeps: counter("natter_presence_sweeps_total", "Sweeps of a gateway whose presence lease lapsed"),
    typingDropped: counter("natter_typing_dropped_total", "typing frames dropped by the per-user-and-chat interval"),
    signalsPublished: counter(
      "natter_signals_published_total",
      "Signals published to user.<userId>.signal, by type (typing, receipt)",
      ["type"],
    ),
    receiptsSkipped: counter(
      "natter_receipts_skipped_total",
      "Sender read marks stored without a receipt: the pointer moved only onto the sender's own message",
    ),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
