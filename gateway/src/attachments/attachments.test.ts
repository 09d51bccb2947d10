// Attachments (v1.1) through a real gateway (inject) over a real nats-server and SQLite:
// upload and download, the headers a client relies on, image sizes, ranges, the limits
// (over the limit, a lying Content-Length: 413 and nothing kept in the bucket), who may
// read (members; a removed member no longer), and what a send may take.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { ATTACHMENT_STREAM } from "@natter/subjects";
import { injectJson, injectSignup, natsSuite, type SignedUp } from "@natter/testkit";
import { startTestGateway, type TestGateway } from "../testing.ts";
import { png } from "./test-images.ts";

/** A small limit, so "over it" is a small body. */
const LIMIT = 300_000;
let t: TestGateway;
const nats = natsSuite({
  setup: async ({ server }) => {
    t = await startTestGateway(server.url, { overrides: { attachmentMaxBytes: String(LIMIT) } });
  },
});
nats.beforeStop(() => t?.close());

let users = 0;
const signup = () => injectSignup(t.gw.app, `att${++users}`);

async function group(owner: SignedUp, members: SignedUp[]): Promise<string> {
  const r = await injectJson(
    t.gw.app,
    "POST",
    "/v1/chats",
    { kind: "group", title: "files", members: members.map((m) => m.userId) },
    owner.token,
  );
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.chatId as string;
}

function upload(
  who: SignedUp,
  chat: string,
  bytes: Uint8Array,
  opts: { name?: string; type?: string; headers?: Record<string, string> } = {},
) {
  return t.gw.app.inject({
    method: "POST",
    url: `/v1/chats/${chat}/attachments?name=${encodeURIComponent(opts.name ?? "file.bin")}`,
    headers: {
      authorization: `Bearer ${who.token}`,
      "content-type": opts.type ?? "application/octet-stream",
      ...opts.headers,
    },
    payload: Buffer.from(bytes),
  });
}

function download(who: SignedUp, id: string, headers: Record<string, string> = {}) {
  return t.gw.app.inject({
    method: "GET",
    url: `/v1/attachments/${id}`,
    headers: { authorization: `Bearer ${who.token}`, ...headers },
  });
}

/** Messages in the bucket's stream now (chunks and descriptions): "nothing kept" means unchanged. */
async function bucketMessages(): Promise<number> {
  return (await nats.jsm.streams.info(ATTACHMENT_STREAM)).state.messages;
}

describe("attachments - upload, download, limits, access, sends", () => {
  test("attachments - a file round trips with its sha256 and the headers a client relies on", async () => {
    const ana = await signup();
    const chat = await group(ana, []);
    const bytes = randomBytes(200_000);
    const up = await upload(ana, chat, bytes, { name: "plan ä.pdf", type: "application/pdf" });
    assert.equal(up.statusCode, 201, up.body);
    const a = JSON.parse(up.body);
    assert.match(a.attachmentId, /^a_/);
    assert.deepEqual(
      { ...a, attachmentId: "x" },
      {
        attachmentId: "x",
        name: "plan ä.pdf",
        size: bytes.length,
        contentType: "application/pdf",
        sha256: createHash("sha256").update(bytes).digest("hex"),
      },
    );
    const res = await download(ana, a.attachmentId);
    assert.equal(res.statusCode, 200);
    assert.ok(res.rawPayload.equals(bytes));
    assert.equal(res.headers["content-type"], "application/pdf");
    assert.equal(res.headers["x-content-type-options"], "nosniff");
    assert.equal(res.headers["content-length"], String(bytes.length));
    assert.equal(res.headers["etag"], `"${a.sha256}"`);
    assert.equal(res.headers["accept-ranges"], "bytes");
    // Not an image: downloaded, never shown; the name in UTF-8 and an ASCII fallback.
    assert.equal(
      res.headers["content-disposition"],
      `attachment; filename="plan _.pdf"; filename*=UTF-8''plan%20%C3%A4.pdf`,
    );
    const again = await download(ana, a.attachmentId, { "if-none-match": `"${a.sha256}"` });
    assert.equal(again.statusCode, 304);
  });

  test("attachments - an image gets its width and height, and is shown inline", async () => {
    const ana = await signup();
    const chat = await group(ana, []);
    const up = await upload(ana, chat, png(800, 600), { name: "plan.png", type: "image/png" });
    assert.equal(up.statusCode, 201, up.body);
    const a = JSON.parse(up.body);
    assert.equal(a.width, 800);
    assert.equal(a.height, 600);
    const res = await download(ana, a.attachmentId);
    assert.match(String(res.headers["content-disposition"]), /^inline; /);
    // The same bytes said to be something else get no size: the type decides what is an image.
    const other = JSON.parse((await upload(ana, chat, png(10, 10), { type: "application/octet-stream" })).body);
    assert.equal(other.width, undefined);
  });

  test("attachments - one byte range: 206 with Content-Range, a suffix, past the end 416, several ignored", async () => {
    const ana = await signup();
    const chat = await group(ana, []);
    const bytes = randomBytes(150_000);
    const a = JSON.parse((await upload(ana, chat, bytes)).body);
    const mid = await download(ana, a.attachmentId, { range: "bytes=131000-131099" });
    assert.equal(mid.statusCode, 206);
    assert.equal(mid.headers["content-range"], `bytes 131000-131099/${bytes.length}`);
    assert.equal(mid.headers["content-length"], "100");
    assert.ok(mid.rawPayload.equals(bytes.subarray(131_000, 131_100)));
    const tail = await download(ana, a.attachmentId, { range: "bytes=-10" });
    assert.equal(tail.statusCode, 206);
    assert.ok(tail.rawPayload.equals(bytes.subarray(bytes.length - 10)));
    const open = await download(ana, a.attachmentId, { range: "bytes=149990-" });
    assert.ok(open.rawPayload.equals(bytes.subarray(149_990)));
    const past = await download(ana, a.attachmentId, { range: `bytes=${bytes.length}-` });
    assert.equal(past.statusCode, 416);
    assert.equal(JSON.parse(past.body).code, "range_not_satisfiable");
    assert.equal(past.headers["content-range"], `bytes */${bytes.length}`);
    const several = await download(ana, a.attachmentId, { range: "bytes=0-1,5-6" });
    assert.equal(several.statusCode, 200);
    assert.equal(several.rawPayload.length, bytes.length);
  });

  test("attachments - over the limit, or longer than its Content-Length: 413 too_large, nothing kept", async () => {
    const ana = await signup();
    const chat = await group(ana, []);
    const before = await bucketMessages();
    // Announced over the limit: refused before a byte is read.
    const announced = await upload(ana, chat, randomBytes(10), { headers: { "content-length": String(LIMIT + 1) } });
    assert.equal(announced.statusCode, 413, announced.body);
    assert.equal(JSON.parse(announced.body).code, "too_large");
    // Over the limit with no length announced (chunked): refused midway.
    const chunked = await t.gw.app.inject({
      method: "POST",
      url: `/v1/chats/${chat}/attachments?name=big.bin`,
      headers: {
        authorization: `Bearer ${ana.token}`,
        "content-type": "application/octet-stream",
        "transfer-encoding": "chunked",
      },
      payload: randomBytes(LIMIT + 1),
    });
    assert.equal(chunked.statusCode, 413, chunked.body);
    // A body longer than its Content-Length says.
    const lying = await upload(ana, chat, randomBytes(5000), { headers: { "content-length": "1000" } });
    assert.equal(lying.statusCode, 413, lying.body);
    assert.equal(JSON.parse(lying.body).code, "too_large");
    // And shorter: not what the client meant, refused too.
    const short = await upload(ana, chat, randomBytes(500), { headers: { "content-length": "1000" } });
    assert.equal(short.statusCode, 400, short.body);
    assert.equal(await bucketMessages(), before, "no chunk and no description kept");
    // Exactly at the limit is fine.
    const atLimit = await upload(ana, chat, randomBytes(LIMIT));
    assert.equal(atLimit.statusCode, 201, atLimit.body);
  });

  test("attachments - bad names, types and empty bodies are 400, nothing kept", async () => {
    const ana = await signup();
    const chat = await group(ana, []);
    const before = await bucketMessages();
    for (const name of ["../etc/passwd", "a\nb", "."]) {
      const r = await upload(ana, chat, randomBytes(10), { name });
      assert.equal(r.statusCode, 400, `${name}: ${r.body}`);
      assert.equal(JSON.parse(r.body).field, "name");
    }
    // A Content-Type that parses as no media type is refused by the HTTP layer (415).
    const badType = await upload(ana, chat, randomBytes(10), { type: "not a type" });
    assert.equal(badType.statusCode, 415, badType.body);
    assert.equal(JSON.parse(badType.body).code, "unsupported_media_type");
    assert.equal((await upload(ana, chat, randomBytes(10), { type: "text" })).statusCode, 415);
    const empty = await upload(ana, chat, new Uint8Array(0));
    assert.equal(empty.statusCode, 400);
    assert.equal(await bucketMessages(), before);
  });

  test("attachments - members only: a stranger 404 (upload and read), a removed member 403 from the removal on", async () => {
    const ana = await signup();
    const ben = await signup();
    const eve = await signup();
    const chat = await group(ana, [ben]);
    const a = JSON.parse((await upload(ana, chat, randomBytes(100))).body);
    assert.equal((await download(ben, a.attachmentId)).statusCode, 200);
    const stranger = await download(eve, a.attachmentId);
    assert.equal(stranger.statusCode, 404);
    assert.equal(JSON.parse(stranger.body).code, "not_found");
    assert.equal((await upload(eve, chat, randomBytes(10))).statusCode, 404);
    assert.equal((await download(ben, "a_unknown")).statusCode, 404);
    const removed = await injectJson(
      t.gw.app,
      "DELETE",
      `/v1/chats/${chat}/members/${ben.userId}`,
      undefined,
      ana.token,
    );
    assert.equal(removed.status, 200);
    const gone = await download(ben, a.attachmentId);
    assert.equal(gone.statusCode, 403);
    assert.equal(JSON.parse(gone.body).code, "forbidden");
    assert.equal((await upload(ben, chat, randomBytes(10))).statusCode, 403);
  });

  test("attachments - a send takes its own uploads of the chat once; others' and other chats' are refused, nothing published", async () => {
    const ana = await signup();
    const ben = await signup();
    const chat = await group(ana, [ben]);
    const other = await group(ana, []);
    const img = JSON.parse((await upload(ana, chat, png(4, 3), { name: "p.png", type: "image/png" })).body);
    const doc = JSON.parse((await upload(ana, chat, randomBytes(50), { name: "d.bin" })).body);
    const elsewhere = JSON.parse((await upload(ana, other, randomBytes(50))).body);
    const bens = JSON.parse((await upload(ben, chat, randomBytes(50))).body);
    const send = (who: SignedUp, body: object) =>
      injectJson(t.gw.app, "POST", `/v1/chats/${chat}/messages`, body, who.token);

    const head = async () => (await injectJson(t.gw.app, "GET", `/v1/chats/${chat}`, undefined, ana.token)).body.lastN;
    const before = await head();
    const cases: [object, number, string][] = [
      [{ id: "m1", attachments: [elsewhere.attachmentId] }, 404, "not_found"],
      [{ id: "m2", attachments: ["a_nothing"] }, 404, "not_found"],
      [{ id: "m3", attachments: [bens.attachmentId] }, 403, "forbidden"],
      [{ id: "m4", attachments: [img.attachmentId, img.attachmentId] }, 400, "invalid_input"],
      [{ id: "m5" }, 400, "invalid_input"],
    ];
    for (const [body, status, code] of cases) {
      const r = await send(ana, body);
      assert.equal(r.status, status, JSON.stringify([body, r.body]));
      assert.equal(r.body.code, code);
    }
    assert.equal(await head(), before, "nothing published");

    // No body, two attachments: the event carries both descriptors in the order given.
    const sent = await send(ana, { id: "m6", attachments: [img.attachmentId, doc.attachmentId] });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    const retry = await send(ana, { id: "m6", attachments: [img.attachmentId, doc.attachmentId] });
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    assert.equal(retry.body.n, sent.body.n);
    const page = await injectJson(
      t.gw.app,
      "GET",
      `/v1/chats/${chat}/messages?after=${sent.body.n - 1}`,
      undefined,
      ben.token,
    );
    const e = page.body.events[0];
    assert.equal(e.n, sent.body.n);
    assert.equal(e.body, "");
    assert.deepEqual(e.attachments, [img, doc]);
    assert.equal(e.attachments[0].width, 4);

    // Taken: no other message may use it.
    const reuse = await send(ana, { id: "m7", body: "again", attachments: [doc.attachmentId] });
    assert.equal(reuse.status, 400, JSON.stringify(reuse.body));
    assert.equal(reuse.body.field, "attachments");
    // Over the socket's frame parser too: a malformed list is refused with its field.
    assert.equal((await send(ana, { id: "m8", body: "x", attachments: "a_x" })).status, 400);
  });
});
