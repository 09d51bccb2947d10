import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

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
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
