import type { Logger } from "@natter/config";
import {
  AckPolicy,
  type Consumer,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Registry } from "prom-client";
import { type RunnerMetrics, runnerMetrics } from "./metrics.ts";

/**
 * What a consumer file supplies to the runner: where to read, how to parse, what to do
 * with a batch. The handler decides ack or nak by resolving or throwing; the loop, the
 * poison handling, the backoff and the self-healing live in `ConsumerRunner` once.
 */
export interface RunnerOptions<T> {
  nc: NatsConnection;
  logger: Logger;
  stream: string;
  /** Durable name, from `CONSUMERS` in @natter/subjects; also the metrics label unless `name` is given. */
  durable: string;
  /** The runner's name in metrics and logs when the durable's is taken (the same durable on another stream). */
  name?: string;
  /** Only these subjects of the stream (a single filter); the whole stream when absent. */
  filterSubject?: string;
  /** Most messages handed to one `onBatch` call. */
  batchSize: number;
  /**
   * Once a message is waiting, wait up to this long (ms) for a full batch before handling:
   * fewer, larger batches for a handler whose cost is per call (a store commit) and whose
   * latency nobody waits on. Default 0: handle at once (fanout, where latency matters).
   */
  lingerMs?: number;
  /**
   * Most delivered-but-unacked messages (the server stops delivering beyond it, which is the
   * runner's back-pressure). Default: 2 × batchSize.
   */
  maxAckPending?: number;
  /** Server redelivers a message not acked within this (ms). The runner keeps in-flight batches alive with `working()`. Default 30 s. */
  ackWaitMs?: number;
  /**
   * Turns a message into the handler's value. Throwing marks the message as poison: it is
   * logged, counted and terminated, since retrying cannot make it parse.
   */
  parse(msg: JsMsg): T;
  /** Handles a batch in stream order. Resolve: every message is acked. Throw: every message is naked with a backoff. */
  onBatch(batch: T[]): Promise<void>;
  /** Metrics registry; prom-client's default registry when absent. */
  registry?: Registry;
  /** Nak delay: base × 2^(deliveries-1), capped. Defaults 500 ms and 30 s. */
  nakBaseMs?: number;
  nakMaxMs?: number;
  /** How often consumer info refreshes the lag gauge and checks the consumer still exists and moves. Default 5 s. */
  checkIntervalMs?: number;
  /**
   * Idle time with undelivered messages after which the consumer counts as stuck and is
   * re-created: the last resort, for a session that looks alive but gets nothing. Default
   * 10 s (config `consumerStall`).
   */
  stallMs?: number;
  /**
   * The pull's idle heartbeat (ms): the server sends one this often while it has nothing to
   * deliver, and two missed end the session. This is what notices a dead consumer leader
   * (its node killed or partitioned): the pull request lived there and nothing else tells
   * the client. nats.js defaults it to half the pull's 30 s expiry, which made a leader move
   * cost ~30 s of live delivery (issue 15); default 1 s (config `consumerHeartbeat`).
   */
  heartbeatMs?: number;
  /** Wait before re-creating the consumer after an error: doubles from this up to 10 s. Default 250 ms. */
  retryBaseMs?: number;
}

/** JetStream API timeout (ms) when the loop re-creates a consumer; start-up keeps the client's default. */
const RECREATE_TIMEOUT_MS = 1_500;

/** Why a consume session ended; the loop re-creates the consumer for every reason but `stop`. */
class SessionBroken extends Error {
  override name = "SessionBroken";
}

/**
 * One durable pull consumer, consumed in batches, forever: Dendrite's shared JetStream
 * loop (`setup/jetstream/helpers.go`) without its stuck-consumer bugs. Any error (NATS
 * restarted, consumer deleted, consumer stalled) ends the session; the loop waits,
 * re-creates the consumer and goes on. Only `stop()` ends it.
 */
export class ConsumerRunner<T> {
  readonly name: string;
  readonly #opts: Required<Omit<RunnerOptions<T>, "filterSubject" | "registry" | "name">> &
    Pick<RunnerOptions<T>, "filterSubject">;
  readonly #metrics: RunnerMetrics;
  readonly #log: Logger;
  #stopping = false;
  #pulling = false;
  #loop: Promise<void> | undefined;
  /** Wakes whatever the loop is waiting on (next message, retry delay) so `stop()` is prompt. */
  #wake: (() => void) | undefined;

  constructor(opts: RunnerOptions<T>) {
    this.name = opts.name ?? opts.durable;
    this.#opts = {
      ...opts,
      maxAckPending: opts.maxAckPending ?? opts.batchSize * 2,
      ackWaitMs: opts.ackWaitMs ?? 30_000,
      nakBaseMs: opts.nakBaseMs ?? 500,
      nakMaxMs: opts.nakMaxMs ?? 30_000,
      checkIntervalMs: opts.checkIntervalMs ?? 5_000,
      stallMs: opts.stallMs ?? 10_000,
      heartbeatMs: opts.heartbeatMs ?? 1_000,
      retryBaseMs: opts.retryBaseMs ?? 250,
      lingerMs: opts.lingerMs ?? 0,
    };
    this.#metrics = runnerMetrics(opts.registry);
    this.#log = opts.logger.child({ consumer: this.name });
  }

  /**
   * Creates (or updates) the durable consumer and starts the loop. Resolves once the
   * consumer exists; rejects if that first attempt fails, so a process fails fast at
   * start-up on a wrong stream name. Later failures are retried by the loop.
   */
  async start(): Promise<void> {
    if (this.#loop) throw new Error(`runner ${this.name} already started`);
    const first = await this.#ensureConsumer();
    this.#loop = this.#run(first);
  }

  /** True while a consume session is open on the durable (what `/readyz` reports as `jetstream`). */
  get pulling(): boolean {
    return this.#pulling;
  }

  /** Finishes the in-flight batch, naks what is buffered (so another instance gets it now), and returns. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
  }

  async #run(first: Consumer): Promise<void> {
    let consumer: Consumer | undefined = first;
    let attempt = 0;
    while (!this.#stopping) {
      const began = Date.now();
      try {
        // Re-creating after a leader move: the consumer's new leader answers within a
        // couple of seconds or not at all yet (no reply, only a timeout), so ask with a
        // short timeout and ask again, rather than waiting out the default 5 s.
        consumer ??= await this.#ensureConsumer(RECREATE_TIMEOUT_MS);
        await this.#session(consumer);
      } catch (err) {
        if (this.#stopping) break;
        this.#metrics.restarts.inc({ consumer: this.name });
        this.#log.warn({ err: String(err) }, "consumer session ended; re-creating the consumer");
      }
      consumer = undefined;
      // A session that ran a while was healthy: start the backoff over.
      if (Date.now() - began > 10_000) attempt = 0;
      const wait = Math.min(this.#opts.retryBaseMs * 2 ** attempt++, 10_000);
      await this.#sleep(wait * (0.5 + Math.random() / 2));
    }
    this.#log.info("consumer stopped");
  }

  /** Creates the durable consumer, or brings its changeable settings up to date. */
  async #ensureConsumer(timeout?: number): Promise<Consumer> {
    const o = this.#opts;
    const api = timeout === undefined ? {} : { timeout };
    const jsm = await jetstreamManager(o.nc, { checkAPI: false, ...api });
    const settings = {
      max_ack_pending: o.maxAckPending,
      ack_wait: o.ackWaitMs * 1_000_000,
      ...(o.filterSubject ? { filter_subject: o.filterSubject } : {}),
    };
    try {
      const info = await jsm.consumers.info(o.stream, o.durable);
      const c = info.config;
      if (
        c.max_ack_pending !== settings.max_ack_pending ||
        c.ack_wait !== settings.ack_wait ||
        (o.filterSubject !== undefined && c.filter_subject !== o.filterSubject)
      ) {
        await jsm.consumers.update(o.stream, o.durable, settings);
        this.#log.info(settings, "consumer updated");
      }
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
      // Two instances may race here; the server accepts an identical create twice.
      await jsm.consumers.add(o.stream, {
        durable_name: o.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        // Never give up on a message: a failing store must not lose history. Poison is termed instead.
        max_deliver: -1,
        ...settings,
      });
      this.#log.info({ stream: o.stream, ...settings }, "consumer created");
    }
    return jetstream(o.nc, api).consumers.get(o.stream, o.durable);
  }

  /**
   * One consume session: messages arrive by callback into a local queue (bounded by
   * max_ack_pending on the server), and batches are taken off it one at a time, so a
   * batch holds whatever arrived while the previous one was being handled.
   */
  async #session(consumer: Consumer): Promise<void> {
    const queue: JsMsg[] = [];
    let broken: Error | undefined;
    // Last time a message arrived or a batch finished; the stall check reads it.
    const progress = { at: Date.now(), busy: false };
    // While lingering, only a full batch (or stop/break) wakes the loop early: a wake per
    // message would cost a timer per message.
    let lingering = false;
    const wake = () => {
      const w = this.#wake;
      this.#wake = undefined;
      w?.();
    };
    const breakWith = (err: Error) => {
      broken ??= err;
      wake();
    };
    const messages: ConsumerMessages = await consumer.consume({
      max_messages: this.#opts.batchSize,
      // The server wants the heartbeat at most half the expiry; a pull that expires every
      // few seconds also re-lands on a new leader soon after a move, even between heartbeats.
      idle_heartbeat: this.#opts.heartbeatMs,
      expires: Math.max(5_000, this.#opts.heartbeatMs * 4),
      // Stop instead of polling a consumer that is gone: the loop re-creates it.
      abort_on_missing_resource: true,
      callback: (m) => {
        queue.push(m);
        progress.at = Date.now();
        if (!lingering || queue.length >= this.#opts.batchSize) wake();
      },
    });
    this.#pulling = true;
    messages.closed().then(
      (err) => breakWith(err ?? new SessionBroken("consume ended")),
      (err: unknown) => breakWith(err instanceof Error ? err : new SessionBroken(String(err))),
    );
    void this.#watchStatus(messages, breakWith);
    const check = setInterval(() => {
      void this.#check(consumer, queue, progress, breakWith);
    }, this.#opts.checkIntervalMs);
    void this.#check(consumer, queue, progress, breakWith);

    try {
      while (!this.#stopping && !broken) {
        if (queue.length === 0) {
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
          });
          continue;
        }
        if (this.#opts.lingerMs > 0 && queue.length < this.#opts.batchSize) {
          lingering = true;
          await this.#sleep(this.#opts.lingerMs);
          lingering = false;
          if (this.#stopping || broken) break;
        }
        progress.busy = true;
        try {
          await this.#handle(queue.splice(0, this.#opts.batchSize));
        } finally {
          progress.busy = false;
          progress.at = Date.now();
        }
      }
    } finally {
      this.#pulling = false;
      clearInterval(check);
      await messages.close().catch(() => {});
      // Buffered but never handled: hand them back now rather than after ack_wait.
      for (const m of queue.splice(0)) m.nak();
    }
    if (broken && !this.#stopping) throw broken;
  }

  async #watchStatus(messages: ConsumerMessages, breakWith: (err: Error) => void): Promise<void> {
    for await (const s of messages.status()) {
      if (s.type === "consumer_deleted" || s.type === "consumer_not_found" || s.type === "stream_not_found") {
        breakWith(new SessionBroken(s.type));
      } else if (s.type === "heartbeats_missed" && s.count >= 2) {
        // Counted once per session: the status repeats (count 3, 4…) until the session ends.
        if (s.count === 2) this.#metrics.stalls.inc({ consumer: this.name, reason: "heartbeats" });
        // The client recovers from this on its own in most cases; re-creating is the
        // cheap certain way out of the stuck state Dendrite users hit (#3177, #3375).
        breakWith(new SessionBroken(`heartbeats missed (${s.count})`));
      }
    }
  }

  /** Refreshes the lag gauges; breaks the session if the consumer is gone or has stalled. */
  async #check(
    consumer: Consumer,
    queue: JsMsg[],
    progress: { at: number; busy: boolean },
    breakWith: (err: Error) => void,
  ): Promise<void> {
    try {
      const info = await consumer.info();
      this.#metrics.lag.set({ consumer: this.name }, info.num_pending);
      this.#metrics.ackPending.set({ consumer: this.name }, info.num_ack_pending);
      const idle = Date.now() - progress.at;
      if (
        info.num_pending > 0 &&
        info.num_ack_pending < this.#opts.maxAckPending &&
        queue.length === 0 &&
        !progress.busy &&
        idle > this.#opts.stallMs
      ) {
        this.#metrics.stalls.inc({ consumer: this.name, reason: "idle" });
        breakWith(new SessionBroken(`stalled: ${info.num_pending} pending, nothing delivered for ${idle} ms`));
      }
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) {
        breakWith(new SessionBroken("consumer not found"));
      }
      // Anything else (disconnected, timeout) is transient: the next check tries again.
    }
  }

  /** Parses, terms poison, hands the rest to the handler, then acks or naks them all. */
  async #handle(msgs: JsMsg[]): Promise<void> {
    const label = { consumer: this.name };
    const good: JsMsg[] = [];
    const values: T[] = [];
    for (const m of msgs) {
      try {
        values.push(this.#opts.parse(m));
        good.push(m);
      } catch (err) {
        this.#metrics.poison.inc(label);
        this.#log.error(
          { seq: m.seq, subject: m.subject, err: String(err) },
          "poison message: cannot be parsed, terminated",
        );
        m.term(`unparseable: ${String(err)}`.slice(0, 200));
      }
    }
    if (good.length === 0) return;

    const end = this.#metrics.batchSeconds.startTimer(label);
    // A slow store must not make the server redeliver a batch that is still being written.
    const keepAlive = setInterval(
      () => {
        for (const m of good) m.working();
      },
      Math.max(500, this.#opts.ackWaitMs / 2),
    );
    try {
      await this.#opts.onBatch(values);
      for (const m of good) m.ack();
      this.#metrics.processed.inc(label, good.length);
      this.#metrics.batchSize.observe(label, good.length);
    } catch (err) {
      const deliveries = Math.max(...good.map((m) => m.info.deliveryCount));
      const delay = Math.min(this.#opts.nakBaseMs * 2 ** (deliveries - 1), this.#opts.nakMaxMs);
      this.#metrics.handlerErrors.inc(label);
      this.#log.warn(
        { err: String(err), first: good[0]!.seq, count: good.length, deliveries, retryInMs: delay },
        "batch handler failed; naked for redelivery",
      );
      for (const m of good) m.nak(delay);
    } finally {
      clearInterval(keepAlive);
      end();
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}
