/** What the wheel beats: a socket's `beat()` pings it, or closes it if it did not answer the last ping. */
export interface Beating {
  beat(): void;
}

const SLOTS = 10;

/**
 * One timer for the heartbeats of every socket of the gateway, rather than a
 * `setInterval` per socket (a Timeout and a closure each: ~300 bytes per idle socket).
 * Sockets are spread over `SLOTS` slots and one slot is beaten every `periodMs / SLOTS`,
 * so each socket is still beaten every `periodMs` and the pings of a gateway do not all
 * go out in one tick. A new socket joins the slot beaten last: its first beat comes
 * `periodMs` after it joined (less at most one tick), as with its own interval.
 */
export class Heartbeats {
  readonly #slots: Set<Beating>[] = Array.from({ length: SLOTS }, () => new Set());
  #next = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(periodMs: number) {
    this.#timer = setInterval(() => this.#tick(), periodMs / SLOTS);
    this.#timer.unref();
  }

  add(b: Beating): void {
    this.#slots[(this.#next + SLOTS - 1) % SLOTS]!.add(b);
  }

  remove(b: Beating): void {
    for (const slot of this.#slots) if (slot.delete(b)) return;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    const slot = this.#slots[this.#next]!;
    this.#next = (this.#next + 1) % SLOTS;
    // A socket closed by its beat leaves its slot during the loop: Set iteration allows that.
    for (const b of slot) b.beat();
  }
}
