import type { Logger } from "@natter/config";
import { type ChatEvent, type MessageCreatedEvent, previewOf } from "@natter/protocol";
import { type BatchWrites, projectionWrites, type Store, type StoreWrite } from "@natter/store";
import { CHAT_STREAM, CHAT_STREAM_SUBJECTS, CONSUMERS } from "@natter/subjects";
import type { NatsConnection } from "@nats-io/transport-node";
import { Histogram, type Registry, register } from "prom-client";
import { parseChatEvent } from "./chat-event.ts";
import { perRegistry } from "./metrics.ts";
import { ConsumerRunner, type RunnerOptions } from "./runner.ts";

export interface HistoryConsumerOptions {
  nc: NatsConnection;
  store: Store;
  logger: Logger;
  /** Events per batch (config `historyBatch`). */
  batchSize: number;
  /** Wait for a fuller batch this long, ms (config `historyLinger`); 0 writes at once. */
  lingerMs?: number;
  registry?: Registry;
  /**
   * The stream it writes from: `CHATS` (default), or at an edge site the copy of the chats
   * homed elsewhere (`CHATS_HUB`, `CHATS_EDGE`), under the same durable name there.
   */
  stream?: string;
  /** Passed through to the runner (tests shorten the timings). */
  runner?: Partial<
    Pick<
      RunnerOptions<ChatEvent>,
      "ackWaitMs" | "maxAckPending" | "nakBaseMs" | "checkIntervalMs" | "retryBaseMs" | "heartbeatMs" | "stallMs"
    >
  >;
}

/**
 * Server redelivers after this if a process dies mid-batch. Short, because the runner
 * keeps a slow batch alive with `working()`; it bounds how long a crash delays history.
 */
const HISTORY_ACK_WAIT_MS = 10_000;

const historyWriteHistogram = perRegistry(
  (registry) =>
    new Histogram({
      name: "natter_history_write_seconds",
      help: "Time to write one batch to the history store (events, membership, chat heads)",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
);

/**
 * Writes one batch: the events first (idempotent by (chat, n)), then the read models
 * projected from them. Chats are independent, so they are projected concurrently; within
 * one chat the events go in n order. Every write is guarded by n, so a redelivered or
 * reordered batch changes nothing it already wrote. The whole batch is one `writeAll`: on
 * SQLite one transaction, one commit per batch rather than one per chat (a commit each
 * was most of the time the consumers' event loop spent blocked in SQLite); on Cassandra
 * the events first, then the chats concurrently.
 */
export async function writeHistoryBatch(store: BatchWrites, events: ChatEvent[]): Promise<void> {
  const byChat = new Map<string, ChatEvent[]>();
  for (const e of events) {
    const list = byChat.get(e.chat);
    if (list) list.push(e);
    else byChat.set(e.chat, [e]);
  }
  const perChat = [...byChat.values()].map((chatEvents) => {
    chatEvents.sort((a, b) => a.n - b.n);
    const writes = projectionWrites(chatEvents);
    const preview = previewFromLastMessage(chatEvents);
    if (preview) writes.push(preview);
    return writes;
  });
  await store.writeAll([{ op: "appendEvents", events }, ...perChat.flat()]);
}

/**
 * `projectEvents` takes the preview from the chat's newest event only; when a membership
 * event follows the last message in the same batch, the message's preview would be lost.
 * The store guards the preview by its own n, so writing that message's head as well
 * (older lastN, ignored for the head itself) keeps the preview right.
 */
function previewFromLastMessage(chatEvents: ChatEvent[]): StoreWrite | undefined {
  const last = chatEvents.at(-1);
  const lastMsg = chatEvents.findLast((e): e is MessageCreatedEvent => e.kind === "message.created");
  if (!last || !lastMsg || lastMsg === last) return undefined;
  const preview = previewOf(lastMsg);
  if (preview === undefined) return undefined;
  return {
    op: "advanceChatHead",
    head: {
      chatId: lastMsg.chat,
      lastN: lastMsg.n,
      lastSeq: lastMsg.seq,
      lastActivity: lastMsg.ts,
      preview,
      previewFrom: lastMsg.from,
    },
  };
}

/**
 * The history consumer: durable `history` on the chat stream; writes every event, the
 * membership and chat heads to the store, and acks only after the writes.
 */
export function createHistoryConsumer(opts: HistoryConsumerOptions): ConsumerRunner<ChatEvent> {
  const registry = opts.registry ?? register;
  const latency = historyWriteHistogram(registry);
  return new ConsumerRunner<ChatEvent>({
    nc: opts.nc,
    logger: opts.logger,
    stream: opts.stream ?? CHAT_STREAM,
    durable: CONSUMERS.history,
    ...(opts.stream === undefined || opts.stream === CHAT_STREAM ? {} : { name: `history-${opts.stream}` }),
    filterSubject: CHAT_STREAM_SUBJECTS[0]!,
    batchSize: opts.batchSize,
    lingerMs: opts.lingerMs ?? 0,
    ackWaitMs: HISTORY_ACK_WAIT_MS,
    registry,
    ...opts.runner,
    parse: parseChatEvent,
    onBatch: async (events) => {
      const end = latency.startTimer();
      await writeHistoryBatch(opts.store, events);
      end();
    },
  });
}
