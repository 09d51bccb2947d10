// Attachments end to end, through the SDK, against a real stack (nats-server, a gateway and
// a consumers process) on each store: upload with progress, a message that carries the
// files (live and from history), download whole and by range, a deleted message's files
// purged (404, and nothing of them left in the bucket), an upload no message took purged
// by the sweeper while one a message took stays, and an upload cut short keeping nothing.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import type { ChatEvent, MessageCreatedEvent } from "@natter/protocol";
import { ATTACHMENT_STREAM, attachmentMetaSubject } from "@natter/subjects";
import { type Stack, startStack, until } from "@natter/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { MemoryCursorStore, NatterClient, type NatterError } from "./index.ts";

/** Short, so the sweeper's purge is seen within a test; long enough for an upload then its send. */
const TTL_MS = 3000;

for (const store of ["sqlite", "cassandra"] as const) {
  describe(`sdk attachments (${store})`, () => {
    let stack: Stack;
    const clients: NatterClient[] = [];
    const purgedLines: string[] = [];
    before(async () => {
      stack = await startStack({
        store,
        env: {
          NATTER_ATTACHMENT_MAX_BYTES: String(4 * 1024 * 1024),
          NATTER_ATTACHMENT_UNREFERENCED_TTL: `${TTL_MS}ms`,
          NATTER_ATTACHMENT_SWEEP_INTERVAL: "250ms",
          NATTER_LOG_LEVEL: "info",
        },
      });
      // The gateway's log lines about uploads whose connection ended (pino JSON on its stdout).
      let rest = "";
      stack.gateways[0]!.child.stdout?.on("data", (d: Buffer) => {
        const lines = (rest + d.toString()).split("\n");
        rest = lines.pop() ?? "";
        for (const l of lines) if (l.includes("its connection ended before the answer")) purgedLines.push(l);
      });
    });
    after(async () => {
      for (const c of clients) c.close();
      await stack?.stop();
    });

    let seq = 0;
    async function user(name: string) {
      const { client, session } = await NatterClient.signup({
        servers: stack.gateways[0]!.url,
        handle: `sdkatt_${name}_${store.slice(0, 3)}_${++seq}`,
        displayName: name,
        password: "password-123",
        cursors: new MemoryCursorStore(),
      });
      clients.push(client);
      return { client, userId: session.userId };
    }

    /** How many messages of the bucket's stream are the attachment's (its description and chunks). */
    async function inBucket(attachmentId: string, nuidOf?: string): Promise<number> {
      const nc = await connect({ servers: stack.nats.url });
      try {
        const jsm = await jetstreamManager(nc);
        const info = await jsm.streams.info(ATTACHMENT_STREAM, { subjects_filter: ">" });
        const subjects = info.state.subjects ?? {};
        const meta = subjects[attachmentMetaSubject(attachmentId)] ?? 0;
        const chunks = nuidOf ? (subjects[`$O.ATTACHMENTS.C.${nuidOf}`] ?? 0) : 0;
        return meta + chunks;
      } finally {
        await nc.close();
      }
    }

    /** The chunk subject token of a stored attachment (from its description). */
    async function nuidOf(attachmentId: string): Promise<string> {
      const nc = await connect({ servers: stack.nats.url });
      try {
        const jsm = await jetstreamManager(nc);
        const m = await jsm.direct.getMessage(ATTACHMENT_STREAM, { last_by_subj: attachmentMetaSubject(attachmentId) });
        return m!.json<{ nuid: string }>().nuid;
      } finally {
        await nc.close();
      }
    }

    const notFound = (err: NatterError) => err.code === "not_found";

    test(`sdk attachments (${store}) - upload with progress, a message carries them, download whole and by range, delete purges them`, async () => {
      const ana = await user("ana");
      const ben = await user("ben");
      const live: ChatEvent[] = [];
      ben.client.on("event", (e) => live.push(e));
      await Promise.all([ana.client.connect(), ben.client.connect()]);
      const chat = (await ana.client.http.createGroup("files", [ben.userId])).chatId;

      const bytes = randomBytes(3 * 1024 * 1024 + 123);
      const progress: number[] = [];
      const file = await ana.client.http.uploadAttachment(chat, bytes, {
        name: "report.bin",
        onProgress: (sent, total) => {
          assert.equal(total, bytes.length);
          progress.push(sent);
        },
      });
      assert.equal(file.size, bytes.length);
      assert.equal(file.sha256, createHash("sha256").update(bytes).digest("hex"));
      assert.ok(progress.length > 1, "progress reported as it went");
      assert.deepEqual(
        progress,
        [...progress].sort((a, b) => a - b),
      );
      assert.equal(progress.at(-1), bytes.length);

      // Over the socket, with no body: the event carries the descriptor, live and from history.
      const sent = await ana.client.send(chat, "", { id: "with-file", attachments: [file.attachmentId] });
      await until(() => live.some((e) => e.n === sent.n), 15_000, "the message live");
      const event = live.find((e) => e.n === sent.n) as MessageCreatedEvent;
      assert.deepEqual(event.attachments, [file]);
      await until(
        async () => {
          const page = await ben.client.http.messages(chat, { after: sent.n - 1 });
          const e = page.events[0] as MessageCreatedEvent | undefined;
          return e?.n === sent.n && e.attachments?.[0]?.sha256 === file.sha256;
        },
        20_000,
        "history (the store) keeps the descriptor",
      );

      const whole = await ben.client.http.downloadAttachment(file.attachmentId);
      assert.equal(whole.contentType, "application/octet-stream");
      assert.equal(createHash("sha256").update(whole.bytes).digest("hex"), file.sha256);
      const part = await ben.client.http.downloadAttachment(file.attachmentId, { start: 1_000_000, end: 1_000_009 });
      assert.deepEqual(part.range, { start: 1_000_000, end: 1_000_009, size: bytes.length });
      assert.ok(Buffer.from(part.bytes).equals(bytes.subarray(1_000_000, 1_000_010)));

      // Delete: the history consumer purges the file; it answers 404 and the bucket holds nothing of it.
      const nuid = await nuidOf(file.attachmentId);
      assert.ok((await inBucket(file.attachmentId, nuid)) > 1);
      await ana.client.http.deleteMessage(chat, sent.n);
      await until(async () => (await inBucket(file.attachmentId, nuid)) === 0, 20_000, "the file purged");
      await assert.rejects(ben.client.http.downloadAttachment(file.attachmentId), notFound);
      await assert.rejects(ana.client.http.downloadAttachment(file.attachmentId), notFound);
    });

    test(`sdk attachments (${store}) - an upload no message took is swept after the TTL; one a message took stays`, async () => {
      const ana = await user("cat");
      const chat = (await ana.client.http.createGroup("sweep", [])).chatId;
      const kept = await ana.client.http.uploadAttachment(chat, randomBytes(1000), { name: "kept.bin" });
      const swept = await ana.client.http.uploadAttachment(chat, randomBytes(1000), { name: "swept.bin" });
      await ana.client.http.sendMessage(chat, "m1", "here", { attachments: [kept.attachmentId] });
      const sweptNuid = await nuidOf(swept.attachmentId);
      await until(async () => (await inBucket(swept.attachmentId, sweptNuid)) === 0, 30_000, "the sweep");
      await assert.rejects(ana.client.http.downloadAttachment(swept.attachmentId), notFound);
      // Both were older than the TTL at that sweep: the taken one was left alone.
      const still = await ana.client.http.downloadAttachment(kept.attachmentId);
      assert.equal(still.bytes.length, 1000);
      // And the swept one can no longer be sent.
      await assert.rejects(
        ana.client.http.sendMessage(chat, "m2", "", { attachments: [swept.attachmentId] }),
        notFound,
      );
    });

    test(`sdk attachments (${store}) - over the limit is too_large; an upload cut short keeps nothing`, async () => {
      const ana = await user("dan");
      const chat = (await ana.client.http.createGroup("limits", [])).chatId;
      await assert.rejects(
        ana.client.http.uploadAttachment(chat, randomBytes(4 * 1024 * 1024 + 1), { name: "big.bin" }),
        (err: NatterError) => err.code === "too_large",
      );
      const nc = await connect({ servers: stack.nats.url });
      const count = async () => (await (await jetstreamManager(nc)).streams.info(ATTACHMENT_STREAM)).state.messages;
      try {
        const before = await count();
        // Announces 1 MiB, sends 300 KiB (past the first chunks), then hangs up.
        const url = new URL(stack.gateways[0]!.url);
        await new Promise<void>((resolve, reject) => {
          const socket = net.connect(Number(url.port), url.hostname, () => {
            socket.write(
              `POST /v1/chats/${chat}/attachments?name=cut.bin HTTP/1.1\r\nHost: x\r\n` +
                `Authorization: Bearer ${ana.client.http.token}\r\nContent-Type: application/octet-stream\r\n` +
                `Content-Length: ${1024 * 1024}\r\n\r\n`,
            );
            socket.write(randomBytes(300 * 1024), () => setTimeout(() => socket.destroy(), 200));
          });
          socket.on("close", () => resolve());
          socket.on("error", reject);
        });
        // The gateway's put fails once the body ends short, and purges what it had stored.
        await until(async () => (await count()) === before, 10_000, "the partial upload purged");

        // A body longer than its Content-Length: over HTTP/1.1 the length delimits the
        // upload, the bytes after it are a malformed next request (400, connection closed),
        // and the upload whose connection ended before its answer is purged.
        const answered = await new Promise<string>((resolve, reject) => {
          let text = "";
          const socket = net.connect(Number(url.port), url.hostname, () => {
            socket.write(
              `POST /v1/chats/${chat}/attachments?name=long.bin HTTP/1.1\r\nHost: x\r\n` +
                `Authorization: Bearer ${ana.client.http.token}\r\nContent-Type: application/octet-stream\r\n` +
                `Content-Length: 1000\r\n\r\n`,
            );
            socket.write(randomBytes(200_000));
          });
          socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
          socket.on("close", () => resolve(text));
          socket.on("error", (err) => (text ? resolve(text) : reject(err)));
        });
        assert.match(answered, /^HTTP\/1\.1 400 /, answered.slice(0, 200));
        assert.doesNotMatch(answered, / 201 Created/);
        // The gateway says what it did with it: purged once stored (nobody got the answer),
        // or abandoned while reading (Node aborts a body whose connection is gone).
        // One line for the upload cut short above, one for this one: both were handled.
        await until(() => purgedLines.length >= 2, 10_000, "the gateway's purge or abandon", 50);
        await until(async () => (await count()) === before, 10_000, "the over-long upload purged");
      } finally {
        await nc.close();
      }
    });
  });
}
