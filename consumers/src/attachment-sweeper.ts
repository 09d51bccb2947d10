import type { AttachmentBucket } from "@natter/bus";
import type { Logger } from "@natter/config";
import { Counter, type Registry, register } from "prom-client";
import { perRegistry } from "./metrics.ts";

const sweeperMetrics = perRegistry((registry: Registry) => ({
  purged: new Counter({
    name: "natter_attachments_swept_total",
    help: "Attachments the sweeper purged: uploads no message took within NATTER_ATTACHMENT_UNREFERENCED_TTL (reason=unreferenced), or purges another process left half done (reason=interrupted)",
    labelNames: ["reason"] as const,
    registers: [registry],
  }),
}));

/**
 * Purges uploads no message took within `ttlMs` (`NATTER_ATTACHMENT_UNREFERENCED_TTL`),
 * every `intervalMs`, in the process that runs the `history` consumer (the identity allowed
 * to purge the attachments bucket).
 *
 * Lock-free, for any number of replicas: each sweep lists the bucket's descriptions and
 * purges an unreferenced, old enough attachment only through `purgeIfUnchanged`, which
 * first rewrites its description as deleted **expecting the revision it read**. A send's
 * claim is the same kind of write, so of a claim and a sweep exactly one succeeds (the
 * other gets "wrong last sequence" and gives up); of two sweepers, the second finds the
 * revision changed and skips. No lease, no leader: a replica that dies mid-purge leaves a
 * description marked deleted, which the next sweep of any replica finishes (purges are
 * idempotent).
 */
export class AttachmentSweeper {
  readonly #bucket: Pick<AttachmentBucket, "list" | "purgeIfUnchanged" | "finishPurge">;
  readonly #ttlMs: number;
  readonly #intervalMs: number;
  readonly #log: Logger;
  readonly #metrics: ReturnType<typeof sweeperMetrics>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;

  constructor(opts: {
    bucket: Pick<AttachmentBucket, "list" | "purgeIfUnchanged" | "finishPurge">;
    ttlMs: number;
    intervalMs: number;
    logger: Logger;
    registry?: Registry;
  }) {
    this.#bucket = opts.bucket;
    this.#ttlMs = opts.ttlMs;
    this.#intervalMs = opts.intervalMs;
    this.#log = opts.logger;
    this.#metrics = sweeperMetrics(opts.registry ?? register);
  }

  /** Sweeps now, then every interval (with jitter, so replicas spread out). */
  start(): void {
    const tick = () => {
      this.#running = this.sweep()
        .catch((err: unknown) => this.#log.warn({ err: String(err) }, "attachment sweep failed; next one retries"))
        .finally(() => {
          if (this.#timer !== undefined) this.#timer = setTimeout(tick, this.#intervalMs * (0.75 + Math.random() / 2));
          this.#timer?.unref();
        });
    };
    this.#timer = setTimeout(tick, 0);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One pass over the bucket; answers what it purged. */
  async sweep(now = Date.now()): Promise<{ unreferenced: number; interrupted: number }> {
    let unreferenced = 0;
    let interrupted = 0;
    for await (const a of this.#bucket.list()) {
      if (a.deleted) {
        await this.#bucket.finishPurge(a);
        interrupted++;
        this.#metrics.purged.inc({ reason: "interrupted" });
      } else if (a.referencedBy === undefined && now - a.createdAt >= this.#ttlMs) {
        if (await this.#bucket.purgeIfUnchanged(a)) {
          unreferenced++;
          this.#metrics.purged.inc({ reason: "unreferenced" });
        }
      }
    }
    if (unreferenced + interrupted > 0) this.#log.info({ unreferenced, interrupted }, "attachments swept");
    return { unreferenced, interrupted };
  }
}
