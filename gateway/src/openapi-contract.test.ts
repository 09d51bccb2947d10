// Keeps `/v1/openapi.json` describing the server exactly (issue 11 item 9). Requests are
// derived from the document itself: for each operation, valid ones built from its schemas
// (over a few fixtures: ids that exist, the caller's own, unknown ones), then invalid ones
// (a required field missing, a field of the wrong type, a malformed id, no token, a body
// that is not JSON or not JSON at all). Each is sent with inject() to a real gateway (real
// nats-server, SQLite); every answer's status must be declared for the operation, its
// media type declared for that status, and its body valid against the declared schema.
// Each operation must also answer 2xx at least once, so the valid requests really are.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fakeSubscriptionKeys, injectJson, injectSignup, natsSuite, testVapidKeys } from "@natter/testkit";
import type { FastifyInstance, InjectOptions } from "fastify";
import { buildApp } from "./app.ts";
import {
  answerChecker,
  type DocOperation,
  type Fixtures,
  openApiDocument,
  operationsOf,
  type Operation,
  requestParts,
  samples as samplesOf,
  type Schema,
  urlFor as url,
  wrongType,
} from "./openapi-requests.ts";
import { startTestGateway, type TestGateway } from "./testing.ts";

let t: TestGateway;
let app: FastifyInstance;
let webDir: string;

const nats = natsSuite({
  setup: async ({ server }) => {
    // The first user signed up below (`oa_user1`, the caller) is an admin, so the admin API answers 2xx too.
    const vapid = testVapidKeys();
    t = await startTestGateway(server.url, {
      overrides: { admins: "oa_user1", pushVapidPublicKey: vapid.publicKey, pushVapidPrivateKey: vapid.privateKey },
    });
    // The web client's files from a directory of the test's own, so `/` and `/assets/…`
    // answer the same whether or not packages/web was built on this machine.
    webDir = await mkdtemp(path.join(os.tmpdir(), "natter-openapi-"));
    await mkdir(path.join(webDir, "assets"));
    await writeFile(path.join(webDir, "index.html"), "<!doctype html><title>natter</title>");
    await writeFile(path.join(webDir, "assets", "app.0123abcd.js"), "console.log(1)");
    ({ app } = await buildApp(t.gw.ctx, undefined, { webDir }));
  },
});
nats.beforeStop(async () => {
  await app?.close();
  await t?.close();
});
after(async () => {
  if (webDir) await rm(webDir, { recursive: true, force: true });
});

interface Sent {
  label: string;
  method: string;
  path: string;
  status: number;
}

describe("openapi - the document describes the server", () => {
  test("openapi - every answer to requests derived from the document is declared, in media type and body", async () => {
    const doc = await openApiDocument(app);
    const answerFails = answerChecker(doc);

    // Fixtures: the people and chats the requests name.
    let n = 0;
    const password = "correct horse";
    const signup = async () => {
      const handle = `oa_user${++n}`;
      return { ...(await injectSignup(app, handle, { password })), handle };
    };
    const [me, peer, other] = [await signup(), await signup(), await signup()];
    const newChat = async (payload: object, token = me.token) =>
      (await injectJson(app, "POST", "/v1/chats", payload, token)).body.chatId as string;
    const group = await newChat({ kind: "group", title: "team", members: [peer.userId] });
    const direct = await newChat({ kind: "direct", userId: peer.userId });
    // A message request of mine: a direct chat that someone I share nothing with opened.
    const asked = await newChat({ kind: "direct", userId: me.userId }, other.token);
    // A message of mine in the group, for the deletes (which run last): mine to delete, and
    // the admin route's repeat of it answers the same event.
    const mine = (
      await injectJson(app, "POST", `/v1/chats/${group}/messages`, { id: "oa_mine", body: "bye" }, me.token)
    ).body.n as number;

    // Values by parameter or property name: each one valid for the schema, several where
    // the server's answer depends on which (yourself, a direct chat, an unknown id).
    const attachment = JSON.parse(
      (
        await app.inject({
          method: "POST",
          url: `/v1/chats/${group}/attachments?name=a.txt`,
          headers: { authorization: `Bearer ${me.token}`, "content-type": "text/plain" },
          payload: "attached",
        })
      ).body,
    ).attachmentId as string;
    const unique = () => `x${++n}`;
    const subscriptionKeys = fakeSubscriptionKeys();
    const fixtures: Fixtures = {
      chatId: () => [group, direct, asked, "c_unknown"],
      userId: () => [me.userId, other.userId, peer.userId, "u_unknown"],
      members: () => [[peer.userId, other.userId]],
      file: () => ["app.0123abcd.js", "missing.js"],
      handle: () => [me.handle, `oa_new${++n}`],
      users: () => [`${peer.userId},${other.userId}`],
      password: () => [password],
      // A password change to the same password: later operations still log in with it.
      newPassword: () => [password],
      id: () => [unique()],
      body: () => ["hello"],
      // A message's n: mine (deletable), and the chat's creation (not a message: 400).
      n: () => [mine, 1],
      // A reaction's emoji (a path parameter): one emoji, and text (400).
      emoji: () => ["👍", "ok"],
      // A reply's message: mine (a message), and the chat's creation (not a message: 400).
      replyTo: () => [mine, 1],
      // An upload's file name; an attachment of the group, and one that does not exist.
      name: () => ["notes.txt"],
      attachmentId: () => [attachment, "a_unknown"],
      // A browser's push subscription (v1.1 push).
      endpoint: () => ["https://push.example/send/oa"],
      p256dh: () => [subscriptionKeys.p256dh],
      auth: () => [subscriptionKeys.auth],
    };

    const samples = (schema: Schema, name?: string) => samplesOf(schema, fixtures, name);

    const sent: Sent[] = [];
    const failures: string[] = [];
    async function check(label: string, method: string, docPath: string, op: Operation, req: InjectOptions) {
      const res = await app.inject({ ...req, method: method.toUpperCase() as "GET" });
      const where = `${method.toUpperCase()} ${docPath} [${label}] ${String(req.url)} -> ${res.statusCode}`;
      sent.push({ label, method, path: docPath, status: res.statusCode });
      const wrong = answerFails({ path: docPath, method, op }, res);
      if (wrong) failures.push(`${where}: ${wrong}`);
    }

    // Operations that remove things go last, so the others run against the fixtures intact.
    const operations: DocOperation[] = operationsOf(doc).sort(
      (a, b) => Number(a.method === "delete") - Number(b.method === "delete"),
    );
    // Logging out, then the admin API (whose revocation may end the caller's own sessions,
    // so it comes very last), last of all.
    const logoutLast = (o: { path: string }) =>
      o.path.endsWith("/revoke-sessions")
        ? 3
        : o.path.startsWith("/v1/admin/")
          ? 2
          : o.path === "/v1/auth/logout"
            ? 1
            : 0;
    operations.sort((a, b) => logoutLast(a) - logoutLast(b));
    // Taking back a reaction before the deletes: its message is deleted among them (a
    // deleted message takes no reaction change), and with nothing to take back it is a 200.
    const unreactFirst = (o: { path: string; method: string }) =>
      o.method === "delete" && o.path.endsWith("/reactions/{emoji}") ? 0 : 1;
    operations.sort((a, b) => unreactFirst(a) - unreactFirst(b));
    // Declining first, while `asked` is still a request (a send or an accept answers it).
    const declineFirst = (o: { path: string }) => (o.path.endsWith("/decline") ? 0 : 1);
    operations.sort((a, b) => declineFirst(a) - declineFirst(b));

    for (const { path: docPath, method, op } of operations) {
      const { pathParams, query, bodySchema, rawBody } = requestParts(op);
      // Logging out revokes the token: it gets a session of its own.
      const token =
        docPath === "/v1/auth/logout"
          ? JSON.parse(
              (
                await app.inject({
                  method: "POST",
                  url: "/v1/auth/login",
                  payload: { handle: me.handle, password },
                })
              ).body,
            ).token
          : me.token;
      const headers = op.security ? { authorization: `Bearer ${token}` } : {};

      const firstPath = Object.fromEntries(pathParams.map((p) => [p.name, samples(p.schema, p.name)[0]]));
      const firstQuery = Object.fromEntries(query.map((p) => [p.name, samples(p.schema, p.name)[0]]));
      const body = bodySchema ? samples(bodySchema) : rawBody ? ["hello, file"] : [undefined];
      const withBody = (payload: unknown): InjectOptions =>
        payload === undefined
          ? {}
          : rawBody
            ? { payload: payload as string, headers: { ...headers, "content-type": "text/plain" } }
            : { payload: payload as object, headers: { ...headers } };

      // Valid: every fixture of each path parameter, every query and body variant.
      const pathVariants = [firstPath];
      for (const p of pathParams) {
        for (const v of samples(p.schema, p.name).slice(1)) pathVariants.push({ ...firstPath, [p.name]: v });
      }
      for (const pv of pathVariants) {
        for (const payload of body) {
          await check("valid", method, docPath, op, {
            url: url(docPath, pv, firstQuery),
            headers,
            ...withBody(payload),
          });
        }
      }
      // Invalid: no token, a malformed id, a missing required field, a field of the wrong type.
      if (op.security) await check("no token", method, docPath, op, { url: url(docPath, firstPath, firstQuery) });
      for (const p of pathParams) {
        await check(`malformed ${p.name}`, method, docPath, op, {
          url: url(docPath, { ...firstPath, [p.name]: "bad.id*" }, firstQuery),
          headers,
        });
      }
      for (const p of query) {
        const { [p.name]: _, ...rest } = firstQuery;
        await check(`missing ${p.name}`, method, docPath, op, { url: url(docPath, firstPath, rest), headers });
      }
      if (bodySchema) {
        const b = body[0] as Record<string, unknown>;
        const props = (bodySchema.anyOf?.[0] ?? bodySchema).properties ?? {};
        for (const k of Object.keys(b)) {
          const { [k]: _, ...rest } = b;
          await check(`missing ${k}`, method, docPath, op, {
            url: url(docPath, firstPath, firstQuery),
            headers,
            payload: rest,
          });
          await check(`wrong type ${k}`, method, docPath, op, {
            url: url(docPath, firstPath, firstQuery),
            headers,
            payload: { ...b, [k]: wrongType(props[k] ?? {}) },
          });
        }
        await check("not JSON", method, docPath, op, {
          url: url(docPath, firstPath, firstQuery),
          headers: { ...headers, "content-type": "application/json" },
          payload: '{"broken": ',
        });
        await check("other media type", method, docPath, op, {
          url: url(docPath, firstPath, firstQuery),
          headers: { ...headers, "content-type": "application/xml" },
          payload: "<x/>",
        });
      }
    }

    assert.deepEqual(failures, []);
    // Every operation was reached with a request it accepts.
    const operationsWithout2xx = operations
      .filter((o) => !sent.some((s) => s.path === o.path && s.method === o.method && s.status < 300))
      .map((o) => `${o.method.toUpperCase()} ${o.path}`);
    assert.deepEqual(operationsWithout2xx, []);
    // And the rules a schema cannot state were met: a direct chat with yourself, member
    // changes on a direct chat (documented 400s), the sole admin leaving (409).
    const statuses = (p: string, m: string) =>
      new Set(sent.filter((s) => s.path === p && s.method === m).map((s) => s.status));
    assert.ok(statuses("/v1/chats", "post").has(400));
    assert.ok(statuses("/v1/chats/{chatId}/members/{userId}", "delete").has(409));
    assert.ok(sent.length > 100, `${sent.length} requests`);
  });

  test("openapi - a path served with another method answers 405 with the error body and Allow", async () => {
    const doc = await openApiDocument(app);
    for (const [docPath, ops] of Object.entries(doc.paths)) {
      const url = docPath.replace(/\{\w+\}/g, "x1");
      const method = ["PUT", "PATCH", "POST", "DELETE"].find((m) => !ops[m.toLowerCase()]);
      assert.ok(method, docPath);
      const res = await app.inject({ method: method as "PUT", url });
      assert.equal(res.statusCode, 405, `${method} ${url}: ${res.body}`);
      assert.equal(JSON.parse(res.body).code, "method_not_allowed");
      for (const m of Object.keys(ops)) assert.ok(String(res.headers.allow).includes(m.toUpperCase()), docPath);
    }
  });
});
