import type { Logger } from "@natter/config";
import { createInbox, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";

/** One write to a stream's subject (a KV key): what `StreamAcks` publishes. */
export interface StreamWrite {
  subject: string;
  data: string | Uint8Array;
  headers?: MsgHdrs;
}

interface Batch {
  /** Per write: undefined once acknowledged, the error's text if it failed, null while waiting. */
  results: (string | undefined | null)[];
  left: number;
  resolve: (results: (string | undefined)[]) => void;
  timer: NodeJS.Timeout;
}

/** How long a batch waits for its acks; a write still unanswered then failed ("no ack"). */
const ACK_TIMEOUT_MS = 10_000;

/**
 * JetStream publishes acknowledged on one subscription of the gateway (`<inbox>.<batch>.<i>`),
 * rather than as a request each: a nats.js request makes a reply entry, a timer and two
 * error objects up front, and presence writes a key per user on every connect and leave
 * (a reconnect storm: one per socket, twice). A batch's writes leave in one write to the
 * server and are answered together; what each ack says is the same as `js.publish` would
 * have said (an error, or no stream: no responders).
 */
export class StreamAcks {
  readonly #nc: NatsConnection;
  readonly #log: Logger;
  readonly #prefix = createInbox();
  readonly #sub: Subscription;
  readonly #waiting = new Map<string, Batch>();
  #seq = 0;

  constructor(nc: NatsConnection, log: Logger) {
    this.#nc = nc;
    this.#log = log;
    this.#sub = nc.subscribe(`${this.#prefix}.>`, {
      callback: (err, msg) => {
        if (err) return;
        const [batch, i] = msg.subject.slice(this.#prefix.length + 1).split(".");
        this.#answer(batch!, Number(i), ackError(msg.data, msg.headers?.code ?? 0));
      },
    });
  }

  /** Publishes `write` without waiting; a failed one is logged. */
  send(write: StreamWrite): void {
    if (this.#nc.isClosed()) return;
    this.#publish(write, `${this.#prefix}.x.0`);
  }

  /** Publishes every write, then resolves with each one's outcome (undefined: stored; else why not). */
  write(writes: readonly StreamWrite[]): Promise<(string | undefined)[]> {
    if (writes.length === 0) return Promise.resolve([]);
    if (this.#nc.isClosed()) return Promise.resolve(writes.map(() => "the NATS connection is closed"));
    const id = String(++this.#seq);
    return new Promise((resolve) => {
      const batch: Batch = {
        results: writes.map(() => null),
        left: writes.length,
        resolve,
        timer: setTimeout(() => this.#done(id, batch), ACK_TIMEOUT_MS),
      };
      this.#waiting.set(id, batch);
      writes.forEach((w, i) => this.#publish(w, `${this.#prefix}.${id}.${i}`));
    });
  }

  close(): void {
    for (const [id, batch] of this.#waiting) this.#done(id, batch);
    try {
      this.#sub.unsubscribe();
    } catch {
      // The connection is closing: the subscription goes with it.
    }
  }

  #publish(write: StreamWrite, reply: string): void {
    this.#nc.publish(write.subject, write.data, { reply, ...(write.headers ? { headers: write.headers } : {}) });
  }

  #answer(id: string, i: number, error: string | undefined): void {
    if (id === "x") {
      if (error !== undefined) this.#log.warn({ err: error }, "presence update failed");
      return;
    }
    const batch = this.#waiting.get(id);
    if (!batch || batch.results[i] !== null) return;
    batch.results[i] = error;
    if (--batch.left === 0) this.#done(id, batch);
  }

  #done(id: string, batch: Batch): void {
    clearTimeout(batch.timer);
    this.#waiting.delete(id);
    batch.resolve(batch.results.map((r) => (r === null ? "no ack" : r)));
  }
}

/** The error of a JetStream publish ack, or undefined when it stored the message. */
function ackError(data: Uint8Array, status: number): string | undefined {
  if (status >= 400 || data.length === 0) return status === 503 ? "no responders" : `status ${status}`;
  try {
    const ack = JSON.parse(new TextDecoder().decode(data)) as { error?: { description?: string }; seq?: number };
    if (ack.error) return ack.error.description ?? "error";
    return typeof ack.seq === "number" ? undefined : "not a stream ack";
  } catch {
    return "not a stream ack";
  }
}
