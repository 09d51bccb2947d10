/**
 * Per-chat state that lives while a chat has work (the gap buffers of `ordering.ts`, the
 * handler queues of `processing.ts`): made on first use, deleted by its owner once the
 * chat is idle, each with a timer (a fill, a retry) that `cancelAll` stops.
 */
export class PerChat<S extends { timer: ReturnType<typeof setTimeout> | undefined }> extends Map<string, S> {
  readonly #create: () => S;

  constructor(create: () => S) {
    super();
    this.#create = create;
  }

  /** The chat's state, made now if it has none. */
  of(chat: string): S {
    let s = this.get(chat);
    if (!s) {
      s = this.#create();
      this.set(chat, s);
    }
    return s;
  }

  /** Stops every chat's timer and forgets every chat (on stop). */
  cancelAll(): void {
    for (const s of this.values()) clearTimeout(s.timer);
    this.clear();
  }
}
