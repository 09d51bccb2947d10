import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The gateway's Prometheus metrics, registered on one registry (shared with the consumers in `npm start`). */
export function createGatewayMetrics(registry: Registry = new Registry()) {
  if (!registry.getSingleMetric("process_cpu_user_seconds_total")) collectDefaultMetrics({ register: registry });
  return {
    registry,
    publishes: new Counter({
      name: "natter_publishes_total",
      help: "Chat events published to JetStream, by kind and outcome (ok, duplicate)",
      labelNames: ["kind", "outcome"] as const,
      registers: [registry],
    }),
    publishLatency: new Histogram({
      name: "natter_publish_seconds",
      help: "Time from publish to PubAck, including conflict retries",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    publishBatch: new Histogram({
      name: "natter_publish_batch_events",
      help: "Events per JetStream publish: a chat's queued sends go as one atomic batch (group commit)",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers: [registry],
    }),
    conflicts: new Counter({
      name: "natter_publish_conflicts_total",
      help: "Publishes retried after a wrong-last-sequence conflict (another gateway took the position)",
      registers: [registry],
    }),
    httpRequests: new Counter({
      name: "natter_http_requests_total",
      help: "HTTP requests by route and status code",
      labelNames: ["route", "status"] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: "natter_rate_limited_total",
      help: "Requests refused by a rate limit, by limit",
      labelNames: ["limit"] as const,
      registers: [registry],
    }),
    wsConnections: new Gauge({
      name: "natter_ws_connections",
      help: "Open WebSocket connections (authenticated or not yet)",
      registers: [registry],
    }),
    inboxSubscriptions: new Gauge({
      name: "natter_inbox_subscriptions",
      help: "Users with a user.<userId>.inbox subscription on this gateway (at least one socket)",
      registers: [registry],
    }),
    wsFramesIn: new Counter({
      name: "natter_ws_frames_in_total",
      help: "Frames received, by type (invalid, binary and rate_limited for refused ones)",
      labelNames: ["type"] as const,
      registers: [registry],
    }),
    wsFramesOut: new Counter({
      name: "natter_ws_frames_out_total",
      help: "Frames sent, by type",
      labelNames: ["type"] as const,
      registers: [registry],
    }),
    wsCloses: new Counter({
      name: "natter_ws_closes_total",
      help: "WebSocket closes by close code (the gateway's own, or the client's)",
      labelNames: ["code"] as const,
      registers: [registry],
    }),
    slowConsumerCloses: new Counter({
      name: "natter_ws_slow_consumer_closes_total",
      help: "Sockets closed with 4009 because their send buffer filled up",
      registers: [registry],
    }),
    deliveries: new Counter({
      name: "natter_deliveries_total",
      help: "Chat events written to sockets, by path (live from the inbox, fill of a gap, replay for sync)",
      labelNames: ["path"] as const,
      registers: [registry],
    }),
    duplicatesDropped: new Counter({
      name: "natter_deliveries_duplicate_total",
      help: "Events not written because the socket already had them (n at or below its cursor)",
      registers: [registry],
    }),
    deliverLatency: new Histogram({
      name: "natter_deliver_latency_seconds",
      help: "Send to deliver: socket write time minus the event's ts (live and gap-filled events)",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    inboxInvalid: new Counter({
      name: "natter_inbox_invalid_total",
      help: "Messages on a user inbox that were not chat events (dropped)",
      registers: [registry],
    }),
    presenceUsers: new Gauge({
      name: "natter_presence_local_users",
      help: "Users with at least one device on this gateway (one conn.<userId>.<gatewayId> key each)",
      registers: [registry],
    }),
    presenceSubscriptions: new Gauge({
      name: "natter_presence_subscriptions",
      help: "Users whose presence.<userId> this gateway subscribes to (watched by at least one socket here)",
      registers: [registry],
    }),
    presenceAnnounced: new Counter({
      name: "natter_presence_announced_total",
      help: "Presence changes published on presence.<userId>, by online (true, false)",
      labelNames: ["online"] as const,
      registers: [registry],
    }),
    presenceWrites: new Counter({
      name: "natter_presence_kv_writes_total",
      help: "Writes to the PRESENCE bucket besides conn keys, by key kind (lease, seen)",
      labelNames: ["key"] as const,
      registers: [registry],
    }),
    presenceReads: new Counter({
      name: "natter_presence_reads_total",
      help: "Batch reads of the PRESENCE bucket (watch answers, GET /v1/presence, offline checks)",
      registers: [registry],
    }),
    presenceSweeps: new Counter({
      name: "natter_presence_sweeps_total",
      help: "Sweeps of a gateway whose presence lease lapsed",
      registers: [registry],
    }),
    typingDropped: new Counter({
      name: "natter_typing_dropped_total",
      help: "typing frames dropped by the per-user-and-chat interval",
      registers: [registry],
    }),
    signalsPublished: new Counter({
      name: "natter_signals_published_total",
      help: "Signals published to user.<userId>.signal, by type (typing, receipt)",
      labelNames: ["type"] as const,
      registers: [registry],
    }),
    receiptsSkipped: new Counter({
      name: "natter_receipts_skipped_total",
      help: "Sender read marks stored without a receipt: the pointer moved only onto the sender's own message",
      registers: [registry],
    }),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
