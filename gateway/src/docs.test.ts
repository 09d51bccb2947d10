import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { natsSuite } from "@natter/testkit";
import { DOCS_PREFIX } from "./docs.ts";
import { startTestGateway, type TestGateway } from "./testing.ts";

let t: TestGateway;
natsSuite({ setup: async ({ server }) => (t = await startTestGateway(server.url)) }).beforeStop(() => t?.close());

const get = (url: string) => t.gw.app.inject({ method: "GET", url });

describe("docs - the OpenAPI page (Swagger UI)", () => {
  test("docs - the page, its scripts and its document are served, under a CSP of our own", async () => {
    const page = await get(DOCS_PREFIX);
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers["content-type"]), /^text\/html/);
    assert.match(page.body, /id="swagger-ui"/);
    assert.match(String(page.headers["content-security-policy"]), /script-src 'self';/);
    assert.doesNotMatch(String(page.headers["content-security-policy"]), /upgrade-insecure-requests/);

    // Every script the page loads is there (relative to the prefix without a trailing slash).
    const scripts = [...page.body.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(scripts.length >= 3, page.body);
    for (const src of scripts) {
      const r = await get(src);
      assert.equal(r.statusCode, 200, src);
      assert.match(String(r.headers["content-type"]), /javascript/, src);
    }
  });

  test("docs - the page's document is /v1/openapi.json, and neither the page nor the document is in it", async () => {
    const fromPage = await get(`${DOCS_PREFIX}/json`);
    const document = await get("/v1/openapi.json");
    assert.equal(fromPage.statusCode, 200);
    assert.equal(document.statusCode, 200);
    const doc = document.json() as { openapi: string; paths: Record<string, unknown> };
    assert.deepEqual(fromPage.json(), doc);
    assert.equal(doc.openapi, "3.1.0");
    const paths = Object.keys(doc.paths);
    assert.ok(paths.includes("/v1/chats"), paths.join(" "));
    assert.deepEqual(
      paths.filter((p) => p.startsWith(DOCS_PREFIX) || p === "/v1/openapi.json"),
      [],
    );
  });
});
