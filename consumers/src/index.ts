export { type RunningConsumers, type StartConsumersOptions, startConsumers } from "./consumers.ts";
export { createHistoryConsumer, type HistoryConsumerOptions, parseChatEvent, writeHistoryBatch } from "./history.ts";
export { type RunnerMetrics, runnerMetrics } from "./metrics.ts";
export { ConsumerRunner, type RunnerOptions } from "./runner.ts";
export { createFanoutConsumer, FANOUT_BATCH, FANOUT_MAX_CHATS, Fanout, type FanoutConsumerOptions } from "./fanout.ts";
export { ChatMembership, LruMap, recipientsOf } from "./fanout-membership.ts";
