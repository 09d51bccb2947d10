import { AttachmentBucket, ChatLog } from "@natter/bus";
import type { Logger } from "@natter/config";
import {
  type ChatEvent,
  type ErasedEvent,
  type MessageCreatedEvent,
  type MessageEditedEvent,
  previewOf,
} from "@natter/protocol";
import { type BatchWrites, projectionWrites, type Store, type StoreWrite } from "@natter/store";
import { CHAT_STREAM, CHAT_STREAM_SUBJECTS, CONSUMERS } from "@natter/subjects";
import { jetstream, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Histogram, type Registry, register } from "prom-client";
import { purgeDeletedAttachments } from "./attachment-purge.ts";
import { parseChatEvent } from "./chat-event.ts";
import { eraseFromStream, erasuresOf, mayErase } from "./erasure.ts";
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
  /**
   * Edge sites: this domain's site, so the history consumer reads a delete's target from the
   * stream that holds its chat here (`ChatLog`). Unset: no sites.
   */
  site?: string;
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
 *
 * `erased`: the erased forms of the messages this batch's deletes target (`erasuresOf`).
 * A target in the batch itself is written erased, so its body never reaches the store;
 * every target is also erased where it may already be stored (an earlier batch, or this
 * one delivered before a crash), before any projection, so no head keeps its preview.
 */
export async function writeHistoryBatch(
  store: BatchWrites,
  events: ChatEvent[],
  erased: readonly ErasedEvent[] = [],
): Promise<void> {
  if (erased.length > 0) {
    const byKey = new Map(erased.map((m) => [`${m.chat}\n${m.n}`, m]));
    events = events.map((e) => byKey.get(`${e.chat}\n${e.n}`) ?? e);
  }
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
  await store.writeAll([
    { op: "appendEvents", events },
    ...erased.map((m): StoreWrite => ({ op: "eraseMessage", erased: m })),
    ...perChat.flat(),
  ]);
}

/**
 * `projectEvents` takes the preview from the chat's newest event only; when a membership
 * event follows the last message in the same batch, the message's preview would be lost.
 * The store guards the preview by its own n, so writing that message's head as well
 * (older lastN, ignored for the head itself) keeps the preview right.
 */
function previewFromLastMessage(chatEvents: ChatEvent[]): StoreWrite | undefined {
  const last = chatEvents.at(-1);
  // A deleted newest message leaves no preview (eraseMessage), not the one before it. An
  // edit of the newest message (`latest`) is its preview, also when a reaction follows it.
  const lastMsg = chatEvents.findLast(
    (e): e is MessageCreatedEvent | MessageEditedEvent =>
      e.kind === "message.created" || (e.kind === "message.edited" && e.latest === true),
  );
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
 * membership and chat heads to the store, and acks only after the writes. It applies
 * deletes too: the target is erased in the store, its attachments purged from the object
 * store (`attachment-purge.ts`), then the target is erased in the stream (`erasure.ts`);
 * the ack comes after all three, so a crash in between does them again.
 *
 * Why here and not in the gateway that publishes the delete: the stream copy may go only
 * once the store holds the message erased (else a read finds the event nowhere), and
 * history is what writes the store in log order; gateways then need no destructive
 * JetStream call at all (subjects.md, the identities).
 */
export function createHistoryConsumer(opts: HistoryConsumerOptions): ConsumerRunner<ChatEvent> {
  const registry = opts.registry ?? register;
  const latency = historyWriteHistogram(registry);
  let log: Promise<{ jsm: JetStreamManager; chatLog: ChatLog; attachments: AttachmentBucket }> | undefined;
  const chatLog = () =>
    (log ??= jetstreamManager(opts.nc).then(
      (jsm) => ({
        jsm,
        chatLog: new ChatLog(jsm, opts.store, opts.site),
        attachments: new AttachmentBucket(jetstream(opts.nc), jsm),
      }),
      (err: unknown) => {
        log = undefined;
        throw err;
      },
    ));
  // The copy of the chats homed elsewhere (edge sites) is erased in the store only: its
  // home erases its own CHATS, and the copy keeps the original until its max age (reads fold
  // the delete over it; README "Edge sites"). Its sequences are not CHATS's.
  const copy = opts.stream !== undefined && opts.stream !== CHAT_STREAM;
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
      if (!mayErase(events)) {
        await writeHistoryBatch(opts.store, events);
      } else {
        const { jsm, chatLog: reader, attachments } = await chatLog();
        const erased = await erasuresOf(events, reader, opts.logger);
        await writeHistoryBatch(opts.store, events, erased);
        if (!copy) {
          // The deleted messages' files, before the stream's copy goes (a failure naks the
          // batch, and the next delivery purges them again: purges are idempotent). A copy
          // stream's deletes are its home's to carry out: the files live in the home's bucket.
          await purgeDeletedAttachments(attachments, events);
          await eraseFromStream(jsm, erased);
        }
      }
      end();
    },
  });
}
