import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SqliteStore } from "@natter/store";
import { injectJson, injectSignup, natsSuite } from "@natter/testkit";
import { startTestGateway, type TestGateway } from "../testing.ts";

// One store for every gateway: the sessions outlive the gateways, as in a deployment.
const store = new SqliteStore({ path: ":memory:" });
let url = "";
const open: TestGateway[] = [];
natsSuite({
  setup: async ({ server }) => {
    url = server.url;
    await store.migrate();
  },
}).beforeStop(async () => {
  await Promise.all(open.map((g) => g.close()));
  await store.close();
});

const KEY_A = "secret-a-secret-a-secret-a-secret-a";
const KEY_B = "secret-b-secret-b-secret-b-secret-b";

/** A gateway configured as an operator would: NATTER_TOKEN_SECRET, NATTER_TOKEN_KEYS, NATTER_TOKEN_SIGNING_KEY. */
async function gateway(tokenSecret: string, tokenKeys = "", tokenSigningKey = ""): Promise<TestGateway> {
  const g = await startTestGateway(url, { store, overrides: { tokenSecret, tokenKeys, tokenSigningKey } });
  open.push(g);
  return g;
}
const me = (g: TestGateway, token: string) => injectJson(g.gw.app, "GET", "/v1/me", undefined, token);
const login = (g: TestGateway, handle: string) =>
  injectJson(g.gw.app, "POST", "/v1/auth/login", { handle, password: "correct horse", deviceName: "laptop" });

describe("token key rotation", () => {
  test("rotation - from NATTER_TOKEN_SECRET (key A) to key B with rolling restarts logs nobody out; A removed, A's tokens get 401", async () => {
    // Before: an existing deployment, one secret; its tokens have no key id.
    const before = await gateway(KEY_A);
    const ana = await injectSignup(before.gw.app, "ana");
    assert.equal(ana.token.split(".").length, 3, "the old form");

    // Step 1, rolled: B added as accepted everywhere, A still signs. Then step 2 on one
    // gateway: B signs there while another still runs step 1.
    const step1 = await gateway(KEY_A, `b:${KEY_B}`);
    const step2 = await gateway(KEY_A, `b:${KEY_B}`, "b");
    assert.equal((await me(step1, ana.token)).status, 200);
    assert.equal((await me(step2, ana.token)).status, 200, "a token of key A works on {A accepted, B signing}");

    const fresh = await login(step2, "ana");
    assert.equal(fresh.status, 200);
    assert.match(fresh.body.token, /^v1\.b\./, "new logins get key B's tokens");
    assert.equal((await me(step1, fresh.body.token)).status, 200, "B's token works on a gateway still at step 1");
    const viaStep1 = await login(step1, "ana");
    assert.equal(viaStep1.body.token.split(".").length, 3, "step 1 still signs with A");
    assert.equal((await me(step2, viaStep1.body.token)).status, 200);

    // Step 3, after the token TTL: A removed. Tokens of A are refused, B's work.
    const after = await gateway("", `b:${KEY_B}`);
    assert.equal((await me(after, fresh.body.token)).status, 200);
    for (const token of [ana.token, viaStep1.body.token]) {
      const r = await me(after, token);
      assert.equal(r.status, 401);
      assert.equal(r.body.code, "unauthorized");
    }
    const later = await login(after, "ana");
    assert.match(later.body.token, /^v1\.b\./);
  });
});
