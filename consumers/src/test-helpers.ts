import { randomBytes } from "node:crypto";
import type { Registry } from "prom-client";

/** Polls `cond` until it holds, or fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** A name unique to one test, safe as a stream name and a subject token. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString("hex")}`;
}

/** The value of a counter or gauge for one consumer label, 0 when never set. */
export async function metricValue(registry: Registry, name: string, consumer: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.find((v) => v.labels.consumer === consumer)?.value ?? 0;
}
