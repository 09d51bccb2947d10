/**
 * The parent side of the load generator: forks `workers` load processes, gives each a
 * share of the chats (all members of a chat in the same process), opens every client,
 * starts them together, and merges what they measured.
 */
import { type ChildProcess, fork } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as hdr from "hdr-histogram-js";
import { newHistogram } from "../hist.ts";
import type { PlanChat, RunMsg, SystemName, WorkerResult } from "./worker.ts";

const workerPath = path.join(path.dirname(fileURLToPath(import.meta.url)), "worker.ts");

export interface PoolOptions {
  system: SystemName;
  chats: PlanChat[];
  workers: number;
  /** Source addresses; worker k uses every address (clients round robin over them). */
  localAddresses: string[];
  openConcurrency?: number;
  /** Sockets per user (see `PlanMsg.devices`). */
  devices?: number;
  /** Clients that reconnect and resend by themselves, over these gateways (the chaos run). */
  resilient?: { gateways: string[] };
}

export interface PoolRun {
  durationS: number;
  /** Seconds at the start whose sends are not timed (see `RunMsg.warmupS`). */
  warmupS: number;
  inflight: number;
  /** Total messages per second over every worker; 0 = closed loop. */
  rate: number;
  bodyBytes: number;
  /** Receivers per worker that drop and come back mid-run. */
  flapClients: number;
  resumes: boolean;
}

/** The workers' results summed (their meanings: `WorkerResult`), with the merged histograms and acks. */
export interface PoolResult extends Pick<
  WorkerResult,
  | "sent"
  | "deliveries"
  | "errors"
  | "late"
  | "durationS"
  | "problems"
  | "checkedDeliveries"
  | "flap"
  | "lost"
  | "duplicated"
  | "misordered"
  | "maxAckMs"
  | "unacked"
  | "retries"
  | "retryCodes"
> {
  ackLatency: hdr.Histogram;
  deliverLatency: hdr.Histogram;
  acked: Map<string, string[]>;
  openMs: number;
  clients: number;
}

interface Worker {
  child: ChildProcess;
  chats: PlanChat[];
  next<T>(type: string): Promise<T>;
}

function spawnWorker(chats: PlanChat[]): Worker {
  const child = fork(workerPath, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waiting = new Map<string, { resolve: (m: unknown) => void; reject: (e: Error) => void }>();
  child.on("message", (m: { type: string; error?: string }) => {
    if (m.type === "failed") {
      for (const w of waiting.values()) w.reject(new Error(`load worker failed: ${m.error}`));
      waiting.clear();
      return;
    }
    const w = waiting.get(m.type);
    waiting.delete(m.type);
    w?.resolve(m);
  });
  child.on("exit", (code) => {
    for (const w of waiting.values()) w.reject(new Error(`load worker exited with ${code}`));
    waiting.clear();
  });
  return {
    child,
    chats,
    next: <T>(type: string) =>
      new Promise<T>((resolve, reject) => waiting.set(type, { resolve: resolve as (m: unknown) => void, reject })),
  };
}

export class LoadPool {
  readonly #workers: Worker[];
  readonly #opts: PoolOptions;
  openMs = 0;
  clients = 0;

  constructor(opts: PoolOptions) {
    this.#opts = opts;
    const n = Math.max(1, Math.min(opts.workers, opts.chats.length));
    this.#workers = Array.from({ length: n }, (_, k) => spawnWorker(opts.chats.filter((_, c) => c % n === k)));
  }

  get pids(): number[] {
    return this.#workers.map((w) => w.child.pid!);
  }

  /** Opens every client in every worker; resolves when all are connected. */
  async open(): Promise<void> {
    const t0 = performance.now();
    const opened = await Promise.all(
      this.#workers.map((w) => {
        const p = w.next<{ clients: number; ms: number }>("opened");
        w.child.send({
          type: "plan",
          system: this.#opts.system,
          chats: w.chats,
          localAddresses: this.#opts.localAddresses,
          openConcurrency: this.#opts.openConcurrency ?? 100,
          ...(this.#opts.devices ? { devices: this.#opts.devices } : {}),
          ...(this.#opts.resilient ? { resilient: true, fallbacks: this.#opts.resilient.gateways } : {}),
        });
        return p;
      }),
    );
    this.openMs = Math.round(performance.now() - t0);
    this.clients = opened.reduce((s, o) => s + o.clients, 0);
  }

  async run(r: PoolRun): Promise<PoolResult> {
    const startAt = Date.now() + 300;
    const total = this.#opts.chats.length;
    const results = await Promise.all(
      this.#workers.map((w) => {
        const p = w.next<{ result: WorkerResult }>("done");
        const msg: RunMsg = {
          type: "run",
          startAt,
          durationS: r.durationS,
          warmupS: r.warmupS,
          inflight: r.inflight,
          rate: (r.rate * w.chats.length) / total,
          bodyBytes: r.bodyBytes,
          flap: { clients: r.flapClients, atS: r.durationS * 0.4, downMs: 1000 },
          resumes: r.resumes,
        };
        w.child.send(msg);
        return p.then((m) => m.result);
      }),
    );
    const ackLatency = newHistogram();
    const deliverLatency = newHistogram();
    const acked = new Map<string, string[]>();
    for (const x of results) {
      ackLatency.add(hdr.decodeFromCompressedBase64(x.ackHist));
      deliverLatency.add(hdr.decodeFromCompressedBase64(x.deliverHist));
      for (const [c, ids] of Object.entries(x.acked)) acked.set(c, ids);
    }
    const sum = (f: (x: WorkerResult) => number) => results.reduce((s, x) => s + f(x), 0);
    return {
      sent: sum((x) => x.sent),
      deliveries: sum((x) => x.deliveries),
      errors: sum((x) => x.errors),
      late: sum((x) => x.late),
      durationS: Math.max(...results.map((x) => x.durationS)),
      ackLatency,
      deliverLatency,
      acked,
      problems: results.flatMap((x) => x.problems).slice(0, 20),
      checkedDeliveries: sum((x) => x.checkedDeliveries),
      flap: {
        clients: sum((x) => x.flap.clients),
        expected: sum((x) => x.flap.expected),
        missed: sum((x) => x.flap.missed),
      },
      openMs: this.openMs,
      clients: this.clients,
      lost: sum((x) => x.lost),
      duplicated: sum((x) => x.duplicated),
      misordered: sum((x) => x.misordered),
      maxAckMs: Math.max(...results.map((x) => x.maxAckMs)),
      unacked: sum((x) => x.unacked),
      retries: sum((x) => x.retries),
      retryCodes: results.reduce<Record<string, number>>((acc, x) => {
        for (const [k, v] of Object.entries(x.retryCodes)) acc[k] = (acc[k] ?? 0) + v;
        return acc;
      }, {}),
    };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.child.exitCode !== null) return resolve();
            const t = setTimeout(() => w.child.kill("SIGKILL"), 5000);
            w.child.once("exit", () => {
              clearTimeout(t);
              resolve();
            });
            w.child.send({ type: "close" });
          }),
      ),
    );
  }
}

/** `count` loopback source addresses from 127.0.0.2 on (each has its own ~28k ephemeral ports). */
export function loopbackSources(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.0.${i + 2}`);
}
