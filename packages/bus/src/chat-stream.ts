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
      c.allow_direct !== true ||
      (c as { allow_atomic?: boolean }).allow_atomic !== true
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
export async function lastChatEvent(
  jsm: JetStreamManager,
  chatId: string,
  stream: string = CHAT_STREAM,
): Promise<ChatEvent | undefined> {
  const m = await jsm.direct.getMessage(stream, { last_by_subj: chatSubject(chatId) });
  if (!m) return undefined;
  return parseEventPayload(m.json(), m.seq);
}

/** Subjects per batch direct get: keeps each request and its reply stream modest. */
const MULTI_LAST_CHUNK = 256;

/**
 * The last event of each chat still held by the stream, by batch direct get (`multi_last`,
 * one request per 256 chats); chats with nothing in the stream are absent from the map.
 */
export async function lastChatEvents(
  jsm: JetStreamManager,
  chatIds: readonly string[],
  stream: string = CHAT_STREAM,
): Promise<Map<string, ChatEvent>> {
  const out = new Map<string, ChatEvent>();
  const unique = [...new Set(chatIds)];
  for (let i = 0; i < unique.length; i += MULTI_LAST_CHUNK) {
    const subjects = unique.slice(i, i + MULTI_LAST_CHUNK).map((id) => chatSubject(id));
    try {
      for await (const m of await jsm.direct.getLastMessagesFor(stream, { multi_last: subjects })) {
        const e = parseEventPayload(m.json(), m.seq);
        out.set(e.chat, e);
      }
    } catch (err) {
      if (!isNoResults(err)) throw err;
    }
  }
  return out;
}

/** A batch direct get that matched nothing: an empty answer, not a failure. */
export function isNoResults(err: unknown): boolean {
  const e = err as { code?: number; status?: number; message?: string };
  return e?.code === 404 || e?.status === 404 || /no (results|message)|not found/i.test(e?.message ?? "");
}

/** The event at one stream sequence, via direct get; undefined if it is gone. */
export async function chatEventAt(jsm: JetStreamManager, seq: number): Promise<ChatEvent | undefined> {
  const m = await jsm.direct.getMessage(CHAT_STREAM, { seq });
  if (!m) return undefined;
  return parseEventPayload(m.json(), m.seq);
}
