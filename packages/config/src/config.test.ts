import assert from "node:assert/strict";
import { test } from "node:test";
import { docTable, tableCells } from "@natter/testkit";
import { ConfigError, configTableMarkdown, loadConfig, parseDuration, tokenKeyring } from "./index.ts";

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
    () => loadConfig({ NATTER_TOKEN_SECRET: secret, NATTER_CONSUMERS: "history,mail" }),
    /NATTER_CONSUMERS=history,mail: unknown mail; expected some of history, fanout, push/,
  );
  assert.throws(
    () => loadConfig({ NATTER_TOKEN_SECRET: secret, NATTER_PUSH_WEBHOOK_URL: "https://hooks.example/natter" }),
    /NATTER_PUSH_WEBHOOK_URL needs NATTER_PUSH_WEBHOOK_SECRET/,
  );
  assert.throws(
    () => loadConfig({ NATTER_TOKEN_SECRET: secret, NATTER_PUSH_VAPID_PRIVATE_KEY: "p".repeat(43) }),
    /NATTER_PUSH_VAPID_PRIVATE_KEY needs NATTER_PUSH_VAPID_PUBLIC_KEY/,
  );
  assert.equal(
    loadConfig({ NATTER_TOKEN_SECRET: secret, NATTER_PUSH_VAPID_PUBLIC_KEY: "BPublicKey" }).pushVapidPublicKey,
    "BPublicKey",
    "a gateway takes the public key alone",
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

test("config - token keys: NATTER_TOKEN_SECRET is the key default; NATTER_TOKEN_KEYS adds keys, one signs", () => {
  const a = "a".repeat(32);
  const b = "b".repeat(32);
  // An existing deployment: one secret, the key default, which signs.
  const old = tokenKeyring(loadConfig({ NATTER_TOKEN_SECRET: a }, {}, "gateway")).keyring;
  assert.deepEqual(old, { keys: new Map([["default", a]]), signingKey: "default" });
  // Keys alone satisfy a gateway; one key signs without being named.
  const one = tokenKeyring(loadConfig({ NATTER_TOKEN_KEYS: `k1:${a}` }, {}, "gateway")).keyring;
  assert.deepEqual(one, { keys: new Map([["k1", a]]), signingKey: "k1" });
  // Both: the secret stays accepted as default (and signs unless told otherwise).
  const both = loadConfig({ NATTER_TOKEN_SECRET: a, NATTER_TOKEN_KEYS: `k2:${b}`, NATTER_TOKEN_SIGNING_KEY: "k2" });
  assert.deepEqual(tokenKeyring(both).keyring, {
    keys: new Map([
      ["default", a],
      ["k2", b],
    ]),
    signingKey: "k2",
  });
  // A secret may hold colons; only the first separates the id.
  assert.equal(
    tokenKeyring(loadConfig({ NATTER_TOKEN_KEYS: `k1:${a}:x` }, {}, "gateway")).keyring?.keys.get("k1"),
    `${a}:x`,
  );
});

test("config - token keys are validated at start-up with clear messages", () => {
  const a = "a".repeat(32);
  const b = "b".repeat(32);
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env, {}, "gateway");
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
  };
  assert.deepEqual(problems({ NATTER_TOKEN_KEYS: `k1:short` }), [
    "NATTER_TOKEN_KEYS: key k1: its secret must be at least 32 characters (try: openssl rand -hex 32)",
  ]);
  assert.match(problems({ NATTER_TOKEN_KEYS: a })[0] ?? "", /expected id:secret/);
  assert.ok(!(problems({ NATTER_TOKEN_KEYS: `bad id:${a}` })[0] ?? "").includes(a), "no secret in a message");
  assert.deepEqual(problems({ NATTER_TOKEN_KEYS: `k1:${a},k2:${b}` }), [
    "NATTER_TOKEN_SIGNING_KEY is required with several token keys: one of k1, k2 (the one that signs new tokens)",
  ]);
  assert.deepEqual(problems({ NATTER_TOKEN_KEYS: `k1:${a}`, NATTER_TOKEN_SIGNING_KEY: "k2" }), [
    "NATTER_TOKEN_SIGNING_KEY=k2: not among the accepted token keys (k1); add it to NATTER_TOKEN_KEYS",
  ]);
  assert.deepEqual(problems({ NATTER_TOKEN_KEYS: `k1:${a},k1:${b}` }), ["NATTER_TOKEN_KEYS: key k1 is given twice"]);
  assert.match(
    problems({ NATTER_TOKEN_SECRET: a, NATTER_TOKEN_KEYS: `default:${b}` })[0] ?? "",
    /NATTER_TOKEN_SECRET is already the key default/,
  );
  assert.match(problems({})[0] ?? "", /NATTER_TOKEN_SECRET is required by a gateway process: .*NATTER_TOKEN_KEYS/);
});

test("config - edge sites: NATTER_SITE is a site name, NATTER_EDGE_SITES is read at the hub only", () => {
  const none = loadConfig({ NATTER_TOKEN_SECRET: secret });
  assert.equal(none.site, undefined, "unset: no sites, one domain");
  assert.equal(none.edgeSites, undefined);
  assert.equal(loadConfig({ NATTER_TOKEN_SECRET: secret, NATTER_SITE: "shop1" }).site, "shop1");
  assert.deepEqual(
    loadConfig({ NATTER_TOKEN_SECRET: secret, NATTER_SITE: "hub", NATTER_EDGE_SITES: "shop1, ship2" }).edgeSites,
    ["shop1", "ship2"],
  );
  assert.throws(() => loadConfig({ NATTER_TOKEN_SECRET: secret, NATTER_SITE: "Shop-1" }), /NATTER_SITE=Shop-1/);
  assert.throws(
    () => loadConfig({ NATTER_TOKEN_SECRET: secret, NATTER_SITE: "shop1", NATTER_EDGE_SITES: "ship2" }),
    /NATTER_EDGE_SITES is read at the hub only/,
  );
  assert.throws(
    () => loadConfig({ NATTER_TOKEN_SECRET: secret, NATTER_SITE: "hub", NATTER_EDGE_SITES: "hub,x.y" }),
    (err: unknown) =>
      err instanceof ConfigError && err.problems.filter((p) => /is not an edge site name/.test(p)).length === 2,
  );
});
