import assert from "node:assert/strict";
import { test } from "node:test";
import { docTable, tableCells } from "@natter/testkit";
import { ConfigError, configTableMarkdown, loadConfig, parseDuration } from "./index.ts";

const secret = "x".repeat(32);

test("config - defaults fill every key and durations become milliseconds", () => {
  const c = loadConfig({ NATTER_TOKEN_SECRET: secret });
  assert.equal(c.store, "sqlite");
  assert.equal(c.memberLimit, 256);
  assert.equal(c.dedupWindow, 120_000);
  assert.equal(c.streamMaxAge, 7 * 86_400_000);
  assert.deepEqual(c.natsUrl, ["nats://127.0.0.1:4222"]);
});

test("config - every problem is reported at once with the variable name", () => {
  assert.throws(
    () => loadConfig({ NATTER_STORE: "postgres", NATTER_HTTP_PORT: "eighty", NATTER_DEDUP_WINDOW: "soon" }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 4);
      assert.match(err.message, /NATTER_TOKEN_SECRET is required/);
      assert.match(err.message, /NATTER_STORE=postgres: expected one of sqlite, cassandra/);
      assert.match(err.message, /NATTER_HTTP_PORT=eighty: expected an integer/);
      assert.match(err.message, /NATTER_DEDUP_WINDOW=soon/);
      return true;
    },
  );
});

test("config - each kind of process needs only its own secrets", () => {
  // The consumers never sign or check a token: they start without the gateway's secret.
  assert.equal(loadConfig({}, {}, "consumers").tokenSecret, undefined);
  assert.throws(
    () => loadConfig({}, {}, "gateway"),
    /NATTER_TOKEN_SECRET is required by a gateway process: Secret that signs access tokens/,
  );
  assert.throws(() => loadConfig({}, {}, "natter"), /NATTER_TOKEN_SECRET is required by a natter process/);
  // Set, it is validated for every kind alike.
  assert.throws(() => loadConfig({ NATTER_TOKEN_SECRET: "short" }, {}, "consumers"), /at least 32 characters/);
});

test("config - short secrets and out-of-range numbers are refused", () => {
  assert.throws(() => loadConfig({ NATTER_TOKEN_SECRET: "short" }), /at least 32 characters/);
  assert.throws(() => loadConfig({ NATTER_TOKEN_SECRET: secret, NATTER_MEMBER_LIMIT: "1" }), /at least 2/);
});

test("config - a list with fixed values refuses unknown items and drops repeats", () => {
  assert.deepEqual(loadConfig({ NATTER_TOKEN_SECRET: secret }).consumers, ["history", "fanout"]);
  assert.deepEqual(loadConfig({ NATTER_TOKEN_SECRET: secret, NATTER_CONSUMERS: "fanout, fanout" }).consumers, [
    "fanout",
  ]);
  assert.throws(
    () => loadConfig({ NATTER_TOKEN_SECRET: secret, NATTER_CONSUMERS: "history,push" }),
    /NATTER_CONSUMERS=history,push: unknown push; expected some of history, fanout/,
  );
  assert.throws(() => loadConfig({ NATTER_TOKEN_SECRET: secret, NATTER_CONSUMERS: " , " }), /at least one value/);
});

test("config - overrides win over the environment", () => {
  const c = loadConfig({ NATTER_TOKEN_SECRET: secret, NATTER_BODY_LIMIT: "10" }, { bodyLimit: "20" });
  assert.equal(c.bodyLimit, 20);
});

test("config - durations parse with units", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("10s"), 10_000);
  assert.equal(parseDuration("3h"), 10_800_000);
  assert.equal(parseDuration("1500"), 1500);
  assert.equal(parseDuration("1.5s"), undefined);
});

test("config - the markdown table lists every variable", () => {
  const table = configTableMarkdown();
  assert.match(table, /`NATTER_TOKEN_SECRET` \| secret \| \(required: gateway, natter\)/);
  assert.match(table, /`NATTER_STORE` \| sqlite \\\| cassandra \| `sqlite`/);
});

test("config - the README's configuration table matches the schema", async () => {
  const table = await docTable("README.md", "config-table");
  assert.ok(table, "README.md has the config table markers");
  assert.deepEqual(table, tableCells(configTableMarkdown()), "README.md's table is stale: run `npm run config:doc`");
});
