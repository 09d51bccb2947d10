import { Counter, Gauge, Histogram, type Registry, register } from "prom-client";

/**
 * The metrics every runner exports, labelled by consumer name. One set per registry:
 * several runners (history, fanout, push) share it, and prom-client refuses to register
 * the same name twice on one registry.
 */
export function runnerMetrics(registry: Registry = register): RunnerMetrics {
  return runnerMetricsOf(registry);
}

export type RunnerMetrics = ReturnType<typeof create>;

/**
 * `create` made once per registry: prom-client refuses to register a name twice on one
 * registry, and every consumer (and every test starting several) asks again. The
 * registry's metrics go with it (a WeakMap).
 */
export function perRegistry<M>(create: (registry: Registry) => M): (registry: Registry) => M {
  const made = new WeakMap<Registry, M>();
  return (registry) => {
    let m = made.get(registry);
    if (m === undefined) {
      m = create(registry);
      made.set(registry, m);
    }
    return m;
  };
}

const runnerMetricsOf = perRegistry(create);

function create(registry: Registry) {
  const registers = [registry];
  const labelNames = ["consumer"] as const;
  return {
    processed: new Counter({
      name: "natter_consumer_messages_processed_total",
      help: "Messages handled and acked, by consumer",
      labelNames,
      registers,
    }),
    poison: new Counter({
      name: "natter_consumer_poison_messages_total",
      help: "Messages that could never be parsed and were terminated (term), by consumer",
      labelNames,
      registers,
    }),
    handlerErrors: new Counter({
      name: "natter_consumer_handler_errors_total",
      help: "Batches whose handler failed and were naked for redelivery, by consumer",
      labelNames,
      registers,
    }),
    restarts: new Counter({
      name: "natter_consumer_restarts_total",
      help: "Times the runner loop re-created its consumer after an error (NATS restart, consumer deleted, stall)",
      labelNames,
      registers,
    }),
    stalls: new Counter({
      name: "natter_consumer_stalls_total",
      help: "Consume sessions found stuck and re-created (each also counts as a restart), by consumer and reason: idle = messages pending, room to deliver, nothing delivered for NATTER_CONSUMER_STALL; heartbeats = two idle heartbeats (NATTER_CONSUMER_HEARTBEAT) missed, e.g. the consumer's leader died",
      labelNames: ["consumer", "reason"] as const,
      registers,
    }),
    batchSeconds: new Histogram({
      name: "natter_consumer_batch_seconds",
      help: "Time the handler took for one batch, by consumer",
      labelNames,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
    batchSize: new Histogram({
      name: "natter_consumer_batch_size",
      help: "Messages per handled batch, by consumer",
      labelNames,
      buckets: [1, 2, 5, 10, 20, 50, 100, 250, 500, 1000],
      registers,
    }),
    lag: new Gauge({
      name: "natter_consumer_lag",
      help: "Messages in the stream not yet delivered to the consumer (num_pending), by consumer",
      labelNames,
      registers,
    }),
    ackPending: new Gauge({
      name: "natter_consumer_ack_pending",
      help: "Messages delivered but not yet acked (num_ack_pending), by consumer",
      labelNames,
      registers,
    }),
  };
}
