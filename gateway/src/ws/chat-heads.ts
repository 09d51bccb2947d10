import { atWindowEnd } from "./turn.ts";

/** Reads the heads of many chats at once: chat id → its newest `n` (0 for a chat with no event). */
export type ReadHeads = (chatIds: readonly string[]) => Promise<Map<string, number>>;

interface Waiter {
  resolve: (n: number) => void;
  reject: (err: unknown) => void;
}

/**
 * The chat heads that `sync`s ask for, read in one batch per window (`turn.ts`): the
 * chats asked for while the window's frames are handled are read together at its end (one
 * batch direct get for up to 256 chats, instead of a request per socket). Each read is
 * made after the question was asked, so its answer is never older than the question: a
 * batch is a way to share the request, not a cache.
 */
export class ChatHeads {
  readonly #read: ReadHeads;
  #queued: Map<string, Waiter[]> | undefined;

  constructor(read: ReadHeads) {
    this.#read = read;
  }

  /** The chat's head as of a read made after this call. */
  head(chatId: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let queued = this.#queued;
      if (!queued) {
        queued = this.#queued = new Map();
        atWindowEnd(() => this.#run());
      }
      const waiting = queued.get(chatId);
      if (waiting) waiting.push({ resolve, reject });
      else queued.set(chatId, [{ resolve, reject }]);
    });
  }

  #run(): void {
    const queued = this.#queued!;
    this.#queued = undefined;
    this.#read([...queued.keys()]).then(
      (heads) => {
        for (const [chatId, waiting] of queued) {
          const n = heads.get(chatId);
          for (const w of waiting) {
            if (n === undefined) w.reject(new Error(`no head read for chat ${chatId}`));
            else w.resolve(n);
          }
        }
      },
      (err: unknown) => {
        for (const waiting of queued.values()) for (const w of waiting) w.reject(err);
      },
    );
  }
}
