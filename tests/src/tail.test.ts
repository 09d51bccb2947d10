// The documented tail (README, subjects.md): `nats --context natter-tail sub --stream CHATS
// --new 'chat.*.msg'`, an ordered consumer of the chat stream, run here with the real `nats`
// CLI as the read-only tail identity. Two gateways conflict on one chat (the same expected
// last subject sequence): JetStream stores one and refuses the other. The tail shows exactly
// the stored events, once each, in stream order with their stream seq, and never the refused
// publish, which a core subscription to `chat.*.msg` (the command documented before) does see.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, before, test } from "node:test";
import { connectNats, ensureChatStream } from "@natter/bus";
import { createLogger } from "@natter/config";
import { CHAT_STREAM, chatSubject } from "@natter/subjects";
import { natsBin, type NatsServer, startNatsServer, trackChild } from "@natter/testkit";
import { jetstream, jetstreamManager, type PubAck } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

const logger = createLogger("silent", "tail");
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: NatsServer;
const conns: NatsConnection[] = [];

before(async () => {
  server = await startNatsServer({ anonymous: false, tls: true });
  for (const [name, who] of [
    ["gw-a", "gateway"],
    ["gw-b", "gateway"],
    ["tail", "tail"],
  ] as const) {
    conns.push(await connectNats({ servers: [server.url], name, logger, access: server.access(who) }));
  }
  await ensureChatStream(
    await jetstreamManager(conns[0]!),
    { replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 60_000 },
    logger,
  );
});
after(async () => {
  for (const nc of conns) await nc.close();
  await server?.stop();
});

test("the documented tail shows each committed chat event once, in order, and never a refused publish", async () => {
  const [gwA, gwB, tailNc] = conns as [NatsConnection, NatsConnection, NatsConnection];
  const jsA = jetstream(gwA);
  const jsB = jetstream(gwB);
  const jsm = await jetstreamManager(gwA);
  const chat = chatSubject("g_tail");
  const other = chatSubject("d_tail");
  const event = (n: number, by: string) => JSON.stringify({ chat: "g_tail", n, by });

  // Stored before the tail starts: `--new` shows only what comes after.
  const first = await jsA.publish(chat, event(1, "a"), { expect: { lastSubjectSequence: 0 } });

  // The old command, for contrast: a core subscription sees every publish, stored or not.
  const core: string[] = [];
  const coreSub = tailNc.subscribe("chat.*.msg", { callback: (_e, m) => void core.push(m.string()) });
  await tailNc.flush();

  const expected = 4;
  const args = [
    ...server.cliArgs("tail"),
    "sub",
    "--stream",
    CHAT_STREAM,
    "--new",
    "chat.*.msg",
    "--count",
    String(expected),
  ];
  const child = spawn(path.join(natsBin(), "nats"), args, { stdio: ["ignore", "pipe", "pipe"] });
  trackChild(child);
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));

  // The CLI's consumer exists once the stream counts it; publishes start after that.
  for (let i = 0; (await jsm.streams.info(CHAT_STREAM)).state.consumer_count < 1; i++) {
    assert.ok(i < 100, `the tail's consumer never appeared:\n${out}`);
    await delay(100);
  }

  const acks: { ack: PubAck; body: string }[] = [];
  const refused: string[] = [];
  // Two gateways send n=2 at once, both expecting the chat's last seq to be event 1's.
  const racers = [
    { js: jsA, body: event(2, "a") },
    { js: jsB, body: event(2, "b") },
  ];
  const results = await Promise.allSettled(
    racers.map((r) => r.js.publish(chat, r.body, { expect: { lastSubjectSequence: first.seq } })),
  );
  results.forEach((r, i) => {
    if (r.status === "fulfilled") acks.push({ ack: r.value, body: racers[i]!.body });
    else {
      assert.match(String(r.reason), /wrong last sequence/i);
      refused.push(racers[i]!.body);
    }
  });
  assert.equal(acks.length, 1, "one of the two conflicting publishes is stored");
  assert.equal(refused.length, 1, "the other is refused");
  // A stale retry of n=2 with the old expectation: refused again.
  const stale = event(2, "stale");
  await assert.rejects(jsB.publish(chat, stale, { expect: { lastSubjectSequence: first.seq } }), /wrong last/i);
  refused.push(stale);
  // Then the chat goes on, and another chat interleaves.
  for (const [subject, body, last] of [
    [other, JSON.stringify({ chat: "d_tail", n: 1 }), 0],
    [chat, event(3, "a"), acks[0]!.ack.seq],
    [chat, event(4, "b"), undefined],
  ] as const) {
    const ack = await (body.includes('"b"') ? jsB : jsA).publish(
      subject,
      body,
      last === undefined ? {} : { expect: { lastSubjectSequence: last } },
    );
    acks.push({ ack, body });
  }
  assert.equal(acks.length, expected);

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), 15_000)));
  const code = await Promise.race([exited, timeout]);
  clearTimeout(timer);
  if (code === "timeout") child.kill();
  assert.equal(code, 0, `nats sub exits after ${expected} events:\n${out}`);
  await tailNc.flush();
  coreSub.unsubscribe();

  // What the tail printed, per event: `[#i] Received JetStream message: stream: CHATS seq: S
  // / …`, the headers if any, then the body (its last non-empty line here).
  const seen = out
    .split(/^\[#\d+\] /m)
    .slice(1)
    .map((block) => {
      const m = /^Received JetStream message: stream: (\S+) seq: (\d+) /.exec(block);
      const lines = block.split("\n").filter((l) => l.trim() !== "");
      return { stream: m?.[1], seq: Number(m?.[2]), body: lines.at(-1) };
    });
  assert.deepEqual(
    seen,
    acks.map(({ ack, body }) => ({ stream: CHAT_STREAM, seq: ack.seq, body })),
    `the tail shows exactly the stored events, in stream order:\n${out}`,
  );
  for (const body of refused) assert.ok(!out.includes(body), `refused ${body} not on the tail`);
  assert.ok(!out.includes(event(1, "a")), "--new: nothing stored before the tail started");
  // Stream order is publish order here, and seq strictly increases.
  assert.deepEqual(
    seen.map((s) => s.seq),
    [...seen.map((s) => s.seq)].sort((x, y) => x - y),
  );
  // The core subscription saw the refused publishes too: why it is not the documented tail.
  for (const body of refused) assert.ok(core.includes(body), `a core subscription sees refused ${body}`);
});
