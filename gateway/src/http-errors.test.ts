// Errors of the HTTP surface that the route files do not produce themselves: what Fastify
// and Node's HTTP parser answer (issue 11 item 7), the count of static files in the
// metrics (item 8), and the sole admin of a group (item 6). A real gateway over a real
// nats-server and SQLite; raw sockets where Node refuses a request before Fastify sees it.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { ERROR_STATUS, type ErrorCode } from "@natter/protocol";
import { injectSignup, natsSuite } from "@natter/testkit";
import type { InjectOptions } from "fastify";
import { buildApp } from "./app.ts";
import { startTestGateway, type TestGateway } from "./testing.ts";

let t: TestGateway;
let port: number;

natsSuite({
  setup: async ({ server }) => {
    t = await startTestGateway(server.url);
    await t.gw.app.listen({ host: "127.0.0.1", port: 0 });
    port = (t.gw.app.server.address() as net.AddressInfo).port;
  },
}).beforeStop(() => t?.close());

/** Writes `request` as it is on a fresh connection and returns the status, headers and body of the answer. */
async function raw(request: string, to = port): Promise<{ status: number; headers: string; body: string }> {
  const text = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(to, "127.0.0.1");
    let data = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => (data += chunk));
    socket.on("close", () => resolve(data));
    // The server may close while the client still writes (oversized headers): what it
    // answered before that is what counts.
    socket.on("error", (err) => (data ? resolve(data) : reject(err)));
    socket.write(request);
  });
  const [head = "", body = ""] = text.split("\r\n\r\n", 2);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  return { status, headers: head.toLowerCase(), body };
}

/** The contract of every error: a JSON body with a stable code whose status is the one sent. */
function assertError(r: { status: number; body: string; headers: string | Record<string, unknown> }, code: ErrorCode) {
  const body = JSON.parse(r.body) as { code: string; message: unknown };
  assert.equal(body.code, code, r.body);
  assert.equal(r.status, ERROR_STATUS[code], r.body);
  assert.equal(typeof body.message, "string");
  const type = typeof r.headers === "string" ? r.headers : `content-type: ${String(r.headers["content-type"])}`;
  assert.match(type, /content-type: application\/json/);
}

async function inject(opts: InjectOptions) {
  const res = await t.gw.app.inject(opts);
  return { status: res.statusCode, body: res.body, headers: res.headers };
}

let seq = 0;
const signup = () => injectSignup(t.gw.app, `errs${++seq}`);

describe("http errors - the framework's own answers carry {code, message}", () => {
  test("framework errors - a malformed URL is 400 invalid_input, on a route with a parameter and on one without", async () => {
    for (const url of ["/v1/chats/%E0%A4%A", "/v1/me%E0%A4%A"]) {
      const r = await raw(`GET ${url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assertError(r, "invalid_input");
      assert.doesNotMatch(r.body, /FST_ERR/);
    }
  });

  test("framework errors - headers over Node's limit are 431 headers_too_large, answered before Fastify", async () => {
    const r = await raw(
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\nConnection: close\r\n\r\n`,
    );
    assertError(r, "headers_too_large");
  });

  test("framework errors - a request Node cannot parse is 400 invalid_input", async () => {
    const r = await raw("GE T /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assertError(r, "invalid_input");
  });

  test("framework errors - unknown route 404, another method 405 with Allow", async () => {
    assertError(await inject({ method: "GET", url: "/v1/nothing-here" }), "not_found");
    const put = await inject({ method: "PUT", url: "/v1/chats" });
    assertError(put, "method_not_allowed");
    assert.deepEqual(String(put.headers.allow).split(", ").sort(), ["GET", "HEAD", "POST"]);
    const del = await inject({ method: "PATCH", url: "/v1/chats/c1/members/u1" });
    assertError(del, "method_not_allowed");
    assert.equal(del.headers.allow, "DELETE");
  });

  test("framework errors - 415 for a media type no route reads, 413 over the request size, 400 invalid_json", async () => {
    const login = (payload: string, type: string) =>
      inject({ method: "POST", url: "/v1/auth/login", payload, headers: { "content-type": type } });
    assertError(await login("<login/>", "application/xml"), "unsupported_media_type");
    assertError(
      await login(JSON.stringify({ handle: "x", password: "y".repeat(200_000) }), "application/json"),
      "too_large",
    );
    assertError(await login('{"handle": ', "application/json"), "invalid_json");
  });

  test("framework errors - a plain GET of the WebSocket endpoint gets a body with a code", async () => {
    assertError(await inject({ method: "GET", url: "/v1/ws" }), "not_found");
  });

  test("framework errors - a message body over the limit in characters is 413 too_large, as over the limit in bytes", async () => {
    const a = await signup();
    const b = await signup();
    const auth = { authorization: `Bearer ${a.token}` };
    const chat = JSON.parse(
      (await inject({ method: "POST", url: "/v1/chats", payload: { kind: "direct", userId: b.userId }, headers: auth }))
        .body,
    ).chatId as string;
    const limit = t.gw.ctx.config.bodyLimit;
    const url = `/v1/chats/${chat}/messages`;
    const post = (id: string, body: string) => inject({ method: "POST", url, payload: { id, body }, headers: auth });
    assertError(await post("m1", "x".repeat(limit + 1)), "too_large");
    assertError(await post("m2", "é".repeat(limit / 2 + 1)), "too_large");
    const fits = await post("m3", "x".repeat(limit));
    assert.equal(fits.status, 201, fits.body);
  });
});

describe("http metrics - static files are counted with the status sent", () => {
  test("metrics - GET / and /assets/... over a real socket count 200, 304 and 404 as sent", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "natter-web-"));
    await mkdir(path.join(dir, "assets"));
    await writeFile(path.join(dir, "index.html"), "<!doctype html><title>natter</title>");
    await writeFile(path.join(dir, "assets", "app.0123abcd.js"), "console.log(1)");
    // The gateway's HTTP app over the same context (metrics registry included), serving
    // this directory; the bug showed only over a real socket, not with inject().
    const { app } = await buildApp(t.gw.ctx, undefined, { webDir: dir });
    try {
      await app.listen({ host: "127.0.0.1", port: 0 });
      const base = `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
      const count = async () => {
        const text = await (await fetch(`${base}/metrics`)).text();
        const of = (route: string, status: number) =>
          Number(
            new RegExp(`^natter_http_requests_total\\{route="${route}",status="${status}"\\} (\\d+)$`, "m").exec(
              text,
            )?.[1] ?? 0,
          );
        return {
          root200: of("/", 200),
          root304: of("/", 304),
          root503: of("/", 503),
          asset200: of("/assets/:file", 200),
          asset404: of("/assets/:file", 404),
        };
      };
      const before = await count();
      const page = await fetch(`${base}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /natter/);
      const again = await fetch(`${base}/`, { headers: { "if-none-match": page.headers.get("etag") ?? "" } });
      assert.equal(again.status, 304);
      const asset = await fetch(`${base}/assets/app.0123abcd.js`);
      assert.equal(asset.status, 200);
      assert.equal(await asset.text(), "console.log(1)");
      const missing = await fetch(`${base}/assets/nope.js`);
      assert.equal(missing.status, 404);
      assert.equal(((await missing.json()) as { code: string }).code, "not_found");
      const afterCount = await count();
      assert.deepEqual(
        {
          root200: afterCount.root200 - before.root200,
          root304: afterCount.root304 - before.root304,
          root503: afterCount.root503 - before.root503,
          asset200: afterCount.asset200 - before.asset200,
          asset404: afterCount.asset404 - before.asset404,
        },
        { root200: 1, root304: 1, root503: 0, asset200: 1, asset404: 1 },
      );
    } finally {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("http groups - the sole admin", () => {
  test("groups - the sole admin cannot leave while others remain (409 last_admin, nothing published), then can", async () => {
    const admin = await signup();
    const member = await signup();
    const as = (u: { token: string }) => ({ authorization: `Bearer ${u.token}` });
    const created = await inject({
      method: "POST",
      url: "/v1/chats",
      payload: { kind: "group", title: "team", members: [member.userId] },
      headers: as(admin),
    });
    const chatId = JSON.parse(created.body).chatId as string;
    const leave = (u: { userId: string; token: string }) =>
      inject({ method: "DELETE", url: `/v1/chats/${chatId}/members/${u.userId}`, headers: as(u) });
    const lastN = async () =>
      JSON.parse((await inject({ method: "GET", url: `/v1/chats/${chatId}`, headers: as(admin) })).body).lastN;

    const refused = await leave(admin);
    assertError(refused, "last_admin");
    assert.equal(JSON.parse(refused.body).field, "userId");
    assert.equal(await lastN(), 1, "nothing was published");

    // Once nobody else is left, leaving strands nobody.
    assert.deepEqual(JSON.parse((await leave(member)).body), { n: 2 });
    const gone = await leave(admin);
    assert.equal(gone.status, 200, gone.body);
    assert.deepEqual(JSON.parse(gone.body), { n: 3 });
  });
});
