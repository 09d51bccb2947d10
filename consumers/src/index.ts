export { type RunningConsumers, type StartConsumersOptions, startConsumers } from "./consumers.ts";
export { createHistoryConsumer, type HistoryConsumerOptions, parseChatEvent, writeHistoryBatch } from "./history.ts";
export { type RunnerMetrics, runnerMetrics } from "./metrics.ts";
export { ConsumerRunner, type RunnerOptions } from "./runner.ts";
