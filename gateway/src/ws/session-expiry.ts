/** What the expiry wheel ends: a socket whose session expired closes itself (4001). */
export interface Expiring {
  expired(): void;
}

/** Slot width and tick of the wheel: a socket closes at most about this long after its expiry. */
const SLOT_MS = 250;

/**
 * One timer for the session expiries of every socket of the gateway, rather than a
 * Timeout per socket (~130 bytes each, on sockets that mostly live for days): sockets are
 * filed by the slot (a quarter of a slot) their session ends in, and every slot the
 * slots that have passed are closed. A socket whose token expires is thus closed well
 * within a slot of it, never before it.
 */
export class SessionExpiry {
  /** Slot (ms / SLOT_MS, rounded up) → the sockets whose sessions end in it. */
  readonly #bySlot = new Map<number, Set<Expiring>>();
  readonly #slot = new Map<Expiring, number>();
  readonly #timer: NodeJS.Timeout;
  #checked = Math.floor(Date.now() / SLOT_MS);

  constructor() {
    this.#timer = setInterval(() => this.#tick(), SLOT_MS);
    this.#timer.unref();
  }

  add(socket: Expiring, expiresAt: number): void {
    // Rounded up: never closed before the expiry itself, and at most a slot or two after it.
    const slot = Math.ceil(expiresAt / SLOT_MS);
    if (slot <= this.#checked) {
      queueMicrotask(() => socket.expired());
      return;
    }
    this.#slot.set(socket, slot);
    let set = this.#bySlot.get(slot);
    if (!set) this.#bySlot.set(slot, (set = new Set()));
    set.add(socket);
  }

  remove(socket: Expiring): void {
    const slot = this.#slot.get(socket);
    if (slot === undefined) return;
    this.#slot.delete(socket);
    const set = this.#bySlot.get(slot);
    set?.delete(socket);
    if (set?.size === 0) this.#bySlot.delete(slot);
  }

  get size(): number {
    return this.#slot.size;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    const now = Math.floor(Date.now() / SLOT_MS);
    // Slots are visited one by one; after a long pause (a suspended process) the map's
    // own keys are fewer than the slots passed, so walk whichever is shorter.
    const due =
      now - this.#checked > this.#bySlot.size
        ? [...this.#bySlot.keys()].filter((s) => s <= now)
        : Array.from({ length: now - this.#checked }, (_, i) => this.#checked + 1 + i);
    this.#checked = now;
    for (const slot of due) {
      const set = this.#bySlot.get(slot);
      if (!set) continue;
      this.#bySlot.delete(slot);
      for (const socket of set) {
        this.#slot.delete(socket);
        socket.expired();
      }
    }
  }
}
