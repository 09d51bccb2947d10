/**
 * A small typed event emitter (browser-safe): `on` returns an unsubscribe function. A
 * listener that throws does not stop the others; its error goes to `onListenerError`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- listener argument lists of any shape
export type EventMap = Record<string, any[]>;

type Listener = (...args: unknown[]) => void;

export class Emitter<M extends EventMap> {
  readonly #listeners = new Map<keyof M, Set<Listener>>();
  #onListenerError: (err: unknown, event: keyof M) => void;

  constructor(onListenerError: (err: unknown, event: keyof M) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  on<K extends keyof M>(event: K, listener: (...args: M[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as unknown as Listener);
    return () => this.off(event, listener);
  }

  once<K extends keyof M>(event: K, listener: (...args: M[K]) => void): () => void {
    // The listener's result is passed on: an `event` listener's promise is waited for.
    const off = this.on(event, ((...args: M[K]) => {
      off();
      return (listener as (...a: M[K]) => unknown)(...args);
    }) as (...args: M[K]) => void);
    return off;
  }

  off<K extends keyof M>(event: K, listener: (...args: M[K]) => void): void {
    this.#listeners.get(event)?.delete(listener as unknown as Listener);
  }

  /** Calls every listener of `event`; returns whether there was one. */
  emit<K extends keyof M>(event: K, ...args: M[K]): boolean {
    const set = this.#listeners.get(event);
    if (!set || set.size === 0) return false;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (err) {
        this.#onListenerError(err, event);
      }
    }
    return true;
  }

  /** The listeners of `event` as they are now (a copy). */
  listeners<K extends keyof M>(event: K): ((...args: M[K]) => unknown)[] {
    return [...(this.#listeners.get(event) ?? [])] as unknown as ((...args: M[K]) => unknown)[];
  }

  listenerCount(event: keyof M): number {
    return this.#listeners.get(event)?.size ?? 0;
  }
}
