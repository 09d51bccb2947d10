import type { Logger } from "@natter/config";
import { type ChatEvent, parseEventPayload } from "@natter/protocol";
import { CHAT_STREAM, type ChatStreamOptions, chatStreamConfig, chatSubject } from "@natter/subjects";
import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream";

/**
 * Creates the chat stream, or updates the settings an operator may change (max age,
 * dedup window, replicas). Safe to call from every process at start-up.
 */
export async function ensureChatStream(jsm: JetStreamManager, opts: ChatStreamOptions, logger: Logger): Promise<void> {
  const want = chatStreamConfig(opts) as unknown as StreamConfig;
  try {
    const info = await jsm.streams.info(CHAT_STREAM);
    const c = info.config;
    if (
      c.max_age !== want.max_age ||
      c.duplicate_window !== want.duplicate_window ||
      c.num_replicas !== want.num_replicas ||
      c.allow_direct !== true
    ) {
      await jsm.streams.update(CHAT_STREAM, { ...c, ...want });
      logger.info({ stream: CHAT_STREAM }, "chat stream updated");
    }
  } catch (err) {
    if ((err as { name?: string }).name !== "StreamNotFoundError" && !/stream not found/i.test(String(err))) throw err;
    await jsm.streams.add(want);
    logger.info({ stream: CHAT_STREAM }, "chat stream created");
  }
}

/** The last event of a chat still held by the stream, via direct get; undefined if none. */
export async function lastChatEvent(jsm: JetStreamManager, chatId: string): Promise<ChatEvent | undefined> {
  const m = await jsm.direct.getMessage(CHAT_STREAM, { last_by_subj: chatSubject(chatId) });
  if (!m) return undefined;
  return parseEventPayload(m.json(), m.seq);
}

/** The event at one stream sequence, via direct get; undefined if it is gone. */
export async function chatEventAt(jsm: JetStreamManager, seq: number): Promise<ChatEvent | undefined> {
  const m = await jsm.direct.getMessage(CHAT_STREAM, { seq });
  if (!m) return undefined;
  return parseEventPayload(m.json(), m.seq);
}
