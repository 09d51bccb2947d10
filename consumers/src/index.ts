export { type RunningConsumers, type StartConsumersOptions, startConsumers } from "./consumers.ts";
export { parseChatEvent } from "./chat-event.ts";
export { createHistoryConsumer, type HistoryConsumerOptions, writeHistoryBatch } from "./history.ts";
export { perRegistry, type RunnerMetrics, runnerMetrics } from "./metrics.ts";
export { ConsumerRunner, type RunnerOptions } from "./runner.ts";
export { createFanoutConsumer, FANOUT_BATCH, FANOUT_MAX_CHATS, Fanout, type FanoutConsumerOptions } from "./fanout.ts";
export { ChatMembership, recipientsOf } from "./fanout-membership.ts";
