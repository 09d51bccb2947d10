import { JetStreamApiCodes } from "@nats-io/jetstream";
import { HEADERS } from "@natter/subjects";
import {
  createInbox,
  headers as natsHeaders,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";

/** A JetStream publish acknowledgement. */
export interface PubAck {
  stream: string;
  seq: number;
  /** True when the message id was seen inside the duplicate window: `seq` is the original's. */
  duplicate: boolean;
  /** Messages an atomic batch stored (they hold `seq - count + 1` … `seq`); 1 for a single publish. */
  count: number;
}

/** One message of an atomic batch (`publishBatch`). */
export interface JsBatchMessage {
  data: string | Uint8Array;
  headers?: MsgHdrs;
  msgId?: string;
}

/**
 * The JetStream API error codes Natter acts on: the client library's table
 * (`StreamWrongLastSequence` 10071; `StreamWrongLastSequenceUnknown` 10164, the same
 * refusal from a replicated stream's leader, which checks the expectation before
 * proposing), and the one it lacks.
 */
export const JsApiCodes = {
  ...JetStreamApiCodes,
  /** An atomic batch holding a message id already stored: nothing of it was stored. */
  BatchDuplicateMsgId: 10201,
  /**
   * A message delete that found nothing to delete: the sequence was deleted already, aged
   * out, or lies beyond the stream ("no message found", "stream store EOF").
   */
  StreamMsgDeleteFailed: 10057,
  /** A message delete of a sequence deleted already, between sequences still held ("sequence 2 not found"). */
  StreamSequenceNotFound: 10043,
} as const;

/** Another event took the expected position ("wrong last sequence"), from a single server or a replicated stream. */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JsPublishError &&
    (err.errCode === JsApiCodes.StreamWrongLastSequence || err.errCode === JsApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** JetStream refused the message: `errCode` is the API error code (`JsApiCodes`). */
export class JsPublishError extends Error {
  override name = "JsPublishError";
  readonly errCode: number;
  /** HTTP-like status of the API error (400, 503…). */
  readonly status: number;
  constructor(errCode: number, status: number, description: string) {
    super(`${description} (${errCode})`);
    this.errCode = errCode;
    this.status = status;
  }
}

/** No PubAck in time, no stream listening on the subject, or the connection closed. */
export class JsPublishFailed extends Error {
  override name = "JsPublishFailed";
}

export interface JsPublishOptions {
  headers?: MsgHdrs;
  /** `Nats-Msg-Id`: a repeat inside the duplicate window returns the original's ack. */
  msgId?: string;
  /** `Nats-Expected-Last-Subject-Sequence`: stored only if the subject's last message has this seq (0: none). */
  expectLastSubjectSequence?: number;
  /** Default: the publisher's. */
  timeoutMs?: number;
}

interface Waiting {
  resolve(ack: PubAck): void;
  reject(err: Error): void;
  deadline: number;
}

const SWEEP_MS = 100;
const decoder = new TextDecoder();

/**
 * JetStream publishes without nats.js's request machinery. `js.publish` is `nc.request`
 * underneath, which allocates a request object with an `Error` (a stack capture) and a
 * timer for every message: about 8 % of a gateway's CPU at full send rate. Here one
 * wildcard reply subscription serves every publish (reply `<inbox>.<token>`), the PubAck or
 * API error JSON is parsed directly, and one sweep timer fails publishes that got no
 * answer in time.
 */
export class JsPublisher {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #sub: Subscription;
  readonly #waiting = new Map<string, Waiting>();
  readonly #timeoutMs: number;
  #next = 0;
  /** Batch ids: this publisher's inbox token plus a counter, unique on the server. */
  readonly #batchPrefix = createInbox().slice("_INBOX.".length);
  #sweep: ReturnType<typeof setInterval> | undefined;

  constructor(nc: NatsConnection, opts: { timeoutMs?: number } = {}) {
    this.#nc = nc;
    this.#timeoutMs = opts.timeoutMs ?? 5000;
    this.#prefix = createInbox();
    this.#sub = nc.subscribe(`${this.#prefix}.*`, {
      callback: (err, msg) => {
        if (err) return;
        const token = msg.subject.slice(this.#prefix.length + 1);
        const w = this.#waiting.get(token);
        if (!w) return; // answered after its timeout
        this.#waiting.delete(token);
        this.#settle(w, msg.headers, msg.data);
      },
    });
    // The connection (or this subscription) is gone: nothing pending can be answered any more.
    void this.#sub.closed.then(() => this.#failAll(new JsPublishFailed("the NATS connection closed")));
  }

  /** Publishes and resolves with the PubAck; rejects with `JsPublishError` (API error) or `JsPublishFailed`. */
  publish(subject: string, data: string | Uint8Array, opts: JsPublishOptions = {}): Promise<PubAck> {
    const h = opts.headers;
    if (opts.msgId !== undefined) h?.set(HEADERS.msgId, opts.msgId);
    if (opts.expectLastSubjectSequence !== undefined) {
      h?.set(HEADERS.expectedLastSubjectSequence, String(opts.expectLastSubjectSequence));
    }
    return this.#request(opts.timeoutMs, (reply) =>
      this.#nc.publish(subject, data, { reply, ...(h ? { headers: h } : {}) }),
    );
  }

  /**
   * Publishes `messages` to `subject` as one atomic batch (server 2.12+, a stream with
   * `allow_atomic`): all are stored, with consecutive sequences, or none is. The
   * expectation applies to the first, and holds for the rest since nothing can come
   * between them. One PubAck for the batch (`count` messages ending at `seq`). A message
   * id already stored fails the whole batch (API error 10201).
   */
  publishBatch(
    subject: string,
    messages: readonly JsBatchMessage[],
    opts: { expectLastSubjectSequence?: number; timeoutMs?: number } = {},
  ): Promise<PubAck> {
    const batchId = `${this.#batchPrefix}.${(this.#next++).toString(36)}`;
    return this.#request(opts.timeoutMs, (reply) => {
      messages.forEach((m, i) => {
        const h = m.headers ?? natsHeaders();
        h.set(HEADERS.batchId, batchId);
        h.set(HEADERS.batchSequence, String(i + 1));
        if (m.msgId !== undefined) h.set(HEADERS.msgId, m.msgId);
        if (i === 0 && opts.expectLastSubjectSequence !== undefined) {
          h.set(HEADERS.expectedLastSubjectSequence, String(opts.expectLastSubjectSequence));
        }
        // Only the commit asks for an answer: the server acks the batch as a whole.
        const last = i === messages.length - 1;
        if (last) h.set(HEADERS.batchCommit, "1");
        this.#nc.publish(subject, m.data, { headers: h, ...(last ? { reply } : {}) });
      });
    });
  }

  #request(timeoutMs: number | undefined, send: (reply: string) => void): Promise<PubAck> {
    const token = (this.#next++).toString(36);
    return new Promise<PubAck>((resolve, reject) => {
      this.#waiting.set(token, { resolve, reject, deadline: Date.now() + (timeoutMs ?? this.#timeoutMs) });
      this.#sweep ??= setInterval(() => this.#expire(), SWEEP_MS);
      try {
        send(`${this.#prefix}.${token}`);
      } catch (err) {
        this.#waiting.delete(token);
        reject(err instanceof Error ? err : new JsPublishFailed(String(err)));
      }
    });
  }

  /** Publishes still waiting for their ack. */
  get pending(): number {
    return this.#waiting.size;
  }

  /** Stops listening; publishes still waiting fail. */
  close(): void {
    this.#sub.unsubscribe();
    this.#failAll(new JsPublishFailed("the publisher closed"));
  }

  #settle(w: Waiting, headers: MsgHdrs | undefined, data: Uint8Array): void {
    // A status message (503: no stream listens on the subject) has an empty body.
    if (headers && headers.code >= 300) {
      w.reject(new JsPublishFailed(`no JetStream answer: ${headers.code} ${headers.description}`));
      return;
    }
    let body: {
      stream?: string;
      seq?: number;
      duplicate?: boolean;
      count?: number;
      error?: { code?: number; err_code?: number; description?: string };
    };
    try {
      body = JSON.parse(decoder.decode(data)) as typeof body;
    } catch {
      w.reject(new JsPublishFailed("the PubAck is not JSON"));
      return;
    }
    if (body.error) {
      w.reject(new JsPublishError(body.error.err_code ?? 0, body.error.code ?? 0, body.error.description ?? "error"));
      return;
    }
    if (typeof body.stream !== "string" || body.stream === "" || typeof body.seq !== "number") {
      w.reject(new JsPublishFailed("invalid PubAck"));
      return;
    }
    w.resolve({ stream: body.stream, seq: body.seq, duplicate: body.duplicate === true, count: body.count ?? 1 });
  }

  #expire(): void {
    const now = Date.now();
    for (const [token, w] of this.#waiting) {
      if (w.deadline > now) continue;
      this.#waiting.delete(token);
      w.reject(new JsPublishFailed("no PubAck in time"));
    }
    if (this.#waiting.size === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  #failAll(err: Error): void {
    for (const w of this.#waiting.values()) w.reject(err);
    this.#waiting.clear();
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }
}
