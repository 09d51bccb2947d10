import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { PUSH_BUCKET, PUSH_KEYS } from "@natter/subjects";

/**
 * A cursor older than this is dropped by the server: by then every window before it was
 * acked long ago (redeliveries come within the 10 s ack wait), and a chat quiet that long
 * starts its next window at its next message anyway.
 */
const CURSOR_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/**
 * The push consumer's cursors (`PUSH_BUCKET`): per chat, the last `n` a notification window
 * covered. Written after a window's notifications went out; a crash before the write makes
 * a redelivery cut the same window again (the same id), and after it skips what is covered.
 */
export class PushCursors {
  readonly #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  static async open(nc: NatsConnection, replicas: number): Promise<PushCursors> {
    const kvm = new Kvm(nc);
    try {
      return new PushCursors(
        await kvm.create(PUSH_BUCKET, { history: 1, replicas, storage: "file", ttl: CURSOR_MAX_AGE_MS }),
      );
    } catch {
      // Made by another instance, or with other settings by an older one: use it as it is.
      return new PushCursors(await kvm.open(PUSH_BUCKET));
    }
  }

  /** The last `n` covered (0: none yet). */
  async get(chatId: string): Promise<number> {
    const e = await this.#kv.get(PUSH_KEYS.cursor(chatId));
    if (!e || e.operation !== "PUT") return 0;
    const n = (e.json() as { n?: unknown }).n;
    return typeof n === "number" && Number.isSafeInteger(n) ? n : 0;
  }

  async set(chatId: string, n: number): Promise<void> {
    await this.#kv.put(PUSH_KEYS.cursor(chatId), JSON.stringify({ n }));
  }
}
