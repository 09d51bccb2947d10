import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { test } from "node:test";
import { createLogger } from "@natter/config";
import { ATTACHMENT_BUCKET, ATTACHMENT_STREAM } from "@natter/subjects";
import { natsSuite } from "@natter/testkit";
import { Objm } from "@nats-io/obj";
import { AttachmentBucket, AttachmentClaimConflict } from "./attachment-bucket.ts";

const logger = createLogger("silent", "attachment-bucket-test");
const nats = natsSuite({ setup: ({ jsm }) => AttachmentBucket.ensure(jsm, { replicas: 1 }, logger) });

function streamOf(bytes: Uint8Array, piece = 10_000): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.subarray(at, at + piece));
      at += piece;
    },
  });
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

let next = 0;
function newAttachment() {
  return { attachmentId: `a_bucket${next++}`, chat: "g_c1", uploader: "u1", name: "f.bin", contentType: "x/y" };
}

test("attachment bucket - a put of more than 16 chunks reads back whole and by range, and the object store library reads it too", async () => {
  const bucket = new AttachmentBucket(nats.js, nats.jsm);
  // 20 chunks and a bit: past the 16 chunks where the library's get stalls (nats.js #430).
  const bytes = randomBytes(20 * 128 * 1024 + 777);
  const a = await bucket.put(newAttachment(), streamOf(bytes));
  assert.equal(a.size, bytes.length);
  assert.equal(a.sha256, createHash("sha256").update(bytes).digest("hex"));
  assert.equal(a.chunks, 21);
  const got = await bucket.get(a.attachmentId);
  assert.deepEqual({ ...got, revision: 0 }, { ...a, revision: 0 });
  assert.ok(Buffer.from(bytes).equals(await collect(bucket.read(got!))));
  // A range across a chunk boundary, and the last byte.
  const from = 128 * 1024 - 5;
  assert.ok(
    Buffer.from(bytes.subarray(from, from + 11)).equals(
      await collect(bucket.read(got!, { start: from, end: from + 10 })),
    ),
  );
  const last = await collect(bucket.read(got!, { start: bytes.length - 1, end: bytes.length - 1 }));
  assert.deepEqual([...last], [bytes[bytes.length - 1]]);
  // Written in the object store's layout: the library finds it with Natter's metadata.
  const os = await new Objm(nats.js).open(ATTACHMENT_BUCKET);
  const info = await os.info(a.attachmentId);
  assert.equal(info?.size, bytes.length);
  assert.equal(info?.metadata?.chat, "g_c1");
});

test("attachment bucket - a body that fails midway keeps nothing: no description, no chunks", async () => {
  const bucket = new AttachmentBucket(nats.js, nats.jsm);
  const before = (await nats.jsm.streams.info(ATTACHMENT_STREAM)).state.messages;
  let sent = 0;
  const failing = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent++ < 5) c.enqueue(randomBytes(100_000));
      else c.error(new Error("over the limit"));
    },
  });
  const a = newAttachment();
  await assert.rejects(bucket.put(a, failing), /over the limit/);
  assert.equal(await bucket.get(a.attachmentId), undefined);
  assert.equal((await nats.jsm.streams.info(ATTACHMENT_STREAM)).state.messages, before);
});

test("attachment bucket - of a claim and a conditional purge racing, exactly one wins; a purge leaves nothing", async () => {
  const bucket = new AttachmentBucket(nats.js, nats.jsm);
  const a = await bucket.put(newAttachment(), streamOf(randomBytes(1000)));
  const claimed = await bucket.claim(a, "g_c1:u1:m1");
  assert.equal(claimed.referencedBy, "g_c1:u1:m1");
  // The sweeper read it before the claim: its purge must lose.
  assert.equal(await bucket.purgeIfUnchanged(a), false);
  assert.equal((await bucket.get(a.attachmentId))?.referencedBy, "g_c1:u1:m1");
  // A second claim from the same stale read loses too.
  await assert.rejects(bucket.claim(a, "g_c1:u1:m2"), AttachmentClaimConflict);

  const b = await bucket.put(newAttachment(), streamOf(randomBytes(1000)));
  assert.equal(await bucket.purgeIfUnchanged(b), true);
  await assert.rejects(bucket.claim(b, "g_c1:u1:m3"), AttachmentClaimConflict);
  assert.equal(await bucket.get(b.attachmentId), undefined);

  const before = (await nats.jsm.streams.info(ATTACHMENT_STREAM)).state.messages;
  assert.equal(await bucket.purge(a.attachmentId), true);
  assert.equal(await bucket.purge(a.attachmentId), false);
  assert.equal(await bucket.get(a.attachmentId), undefined);
  // Its one chunk and its description are gone from the stream.
  assert.equal((await nats.jsm.streams.info(ATTACHMENT_STREAM)).state.messages, before - 2);
  const listed = [];
  for await (const x of bucket.list()) listed.push(x.attachmentId);
  assert.ok(!listed.includes(a.attachmentId) && !listed.includes(b.attachmentId));
});
