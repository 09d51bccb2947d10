import assert from "node:assert/strict";
import { test } from "node:test";
import { SqliteStore } from "@natter/store";
import { Registry } from "prom-client";
import { timedStore } from "./store-metrics.ts";

/** The count of `natter_store_seconds` for one op and outcome (0 when never observed). */
async function count(registry: Registry, op: string, outcome: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === "natter_store_seconds");
  const value = metric?.values.find(
    // A histogram's values carry the series each belongs to (_bucket, _sum, _count).
    (v) =>
      (v as { metricName?: string }).metricName === "natter_store_seconds_count" &&
      v.labels.op === op &&
      v.labels.outcome === outcome,
  );
  return value?.value ?? 0;
}

test("timedStore - every call is the store's own, timed by op and outcome; migrate and close are not timed", async () => {
  const registry = new Registry();
  const store = timedStore(new SqliteStore({ path: ":memory:" }), registry);
  await store.migrate();
  assert.equal(store.backend, "sqlite");

  const user = { userId: "u1", handle: "ana", displayName: "Ana", passwordHash: "x", createdAt: 1 };
  assert.equal(await store.createUser(user), true);
  assert.equal(await store.createUser({ ...user, userId: "u2" }), false, "the handle is taken");
  assert.equal((await store.getUser("u1"))?.handle, "ana");
  assert.equal(await store.getUser("nobody"), undefined);
  assert.equal(await count(registry, "createUser", "ok"), 2);
  assert.equal(await count(registry, "getUser", "ok"), 2);
  assert.equal(await count(registry, "migrate", "ok"), 0);

  await store.close();
  await assert.rejects(store.getUser("u1"));
  assert.equal(await count(registry, "getUser", "error"), 1);
  assert.equal(await count(registry, "close", "ok"), 0);
});
