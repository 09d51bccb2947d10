// The attachment sweeper over a real nats-server: two replicas sweeping the same bucket at
// once purge each old unreferenced upload exactly once between them, leave claimed and
// young ones alone, and finish a purge a process left half done.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { AttachmentBucket } from "@natter/bus";
import { createLogger } from "@natter/config";
import { attachmentMetaSubject } from "@natter/subjects";
import { natsSuite } from "@natter/testkit";
import { Registry } from "prom-client";
import { AttachmentSweeper } from "./attachment-sweeper.ts";

const logger = createLogger("silent", "sweeper-test");
const nats = natsSuite({ setup: ({ jsm }) => AttachmentBucket.ensure(jsm, { replicas: 1 }, logger) });

function bytes(n: number): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      c.enqueue(randomBytes(n));
      c.close();
    },
  });
}

test("attachment sweeper - two replicas at once purge each old unreferenced upload once; claimed and young ones stay", async () => {
  const bucket = new AttachmentBucket(nats.js, nats.jsm);
  const put = (id: string) =>
    bucket.put({ attachmentId: id, chat: "g_s", uploader: "u_s", name: "f", contentType: "x/y" }, bytes(200_000));
  const old = await Promise.all(Array.from({ length: 12 }, (_, i) => put(`a_old${i}`)));
  const claimed = await bucket.claim(await put("a_claimed"), "g_s:u_s:m1");
  // The sweeps' clock: an hour on, when every upload above is older than the TTL.
  const later = Date.now() + 3_600_000;
  const sweeper = () =>
    new AttachmentSweeper({
      bucket: new AttachmentBucket(nats.js, nats.jsm),
      ttlMs: 60_000,
      intervalMs: 60_000,
      logger,
      registry: new Registry(),
    });
  const [a, b] = await Promise.all([sweeper().sweep(later), sweeper().sweep(later)]);
  assert.equal(a.unreferenced + b.unreferenced, old.length, `${JSON.stringify([a, b])}`);
  for (const o of old) assert.equal(await bucket.get(o.attachmentId), undefined);
  assert.equal((await bucket.get(claimed.attachmentId))?.referencedBy, "g_s:u_s:m1");
  // An upload younger than the TTL stays.
  const young = await put("a_young");
  assert.equal((await sweeper().sweep()).unreferenced, 0);
  assert.ok(await bucket.get(young.attachmentId));
});

test("attachment sweeper - a purge left half done (description marked deleted) is finished", async () => {
  const bucket = new AttachmentBucket(nats.js, nats.jsm);
  const a = await bucket.put(
    { attachmentId: "a_half", chat: "g_s", uploader: "u_s", name: "f", contentType: "x/y" },
    bytes(300_000),
  );
  // A process marked it deleted and died before purging: readers already see it gone.
  await nats.js.publish(
    attachmentMetaSubject("a_half"),
    JSON.stringify({
      name: "a_half",
      bucket: "ATTACHMENTS",
      nuid: a.nuid,
      size: a.size,
      chunks: a.chunks,
      mtime: new Date().toISOString(),
      digest: `SHA-256=${Buffer.from(a.sha256, "hex").toString("base64url")}=`,
      deleted: true,
      metadata: { chat: "g_s", uploader: "u_s", fileName: "f", contentType: "x/y", createdAt: String(a.createdAt) },
    }),
  );
  assert.equal(await bucket.get("a_half"), undefined);
  const chunks = async () => {
    const info = await nats.jsm.streams.info("OBJ_ATTACHMENTS", { subjects_filter: `$O.ATTACHMENTS.C.${a.nuid}` });
    return Object.keys(info.state.subjects ?? {}).length;
  };
  assert.equal(await chunks(), 1);
  const swept = await new AttachmentSweeper({
    bucket,
    ttlMs: 60_000,
    intervalMs: 60_000,
    logger,
    registry: new Registry(),
  }).sweep();
  assert.ok(swept.interrupted >= 1);
  assert.equal(await chunks(), 0);
});
