// Issue 6's acceptance for the SDK: a gateway killed (SIGKILL) in the middle of 500 sends
// from one client. Real processes: two gateways and a consumers process over a real
// nats-server, SQLite store. The send rate limit is lifted on the gateways.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ChatEvent } from "@natter/protocol";
import { LIFTED_RATE_LIMITS, stackSuite, until } from "@natter/testkit";
import { type ClientState, MemoryCursorStore, NatterClient, type SentMessage } from "./index.ts";

const TOTAL = 500;
const KILL_AFTER = 150;

// SIGKILL: throwaway processes, and a teardown that cannot hang on a graceful stop.
const live = stackSuite({ gateways: 2, env: LIFTED_RATE_LIMITS }, "SIGKILL");

interface Member {
  name: string;
  client: NatterClient;
  userId: string;
  events: ChatEvent[];
  states: ClientState[];
}

async function member(name: string, servers: string[]): Promise<Member> {
  const { client, session } = await NatterClient.signup({
    servers,
    handle: name,
    displayName: name,
    password: "password-123",
    cursors: new MemoryCursorStore(),
    backoff: { baseMs: 100, capMs: 2000 },
  });
  live.closing(client);
  const m: Member = { name, client, userId: session.userId, events: [], states: [] };
  client.on("event", (e) => m.events.push(e));
  client.on("state", (s) => m.states.push(s));
  return m;
}

describe("client reconnect - acceptance", () => {
  test(
    "client reconnect - gateway SIGKILLed mid-burst of 500 sends: history and every member's SDK hold each once, in order",
    { timeout: 150_000 },
    async (t) => {
      // ana sends; ben is on the same gateway (both lose it); cleo is on the other one.
      const ana = await member("rc_ana", [live.g1.url, live.g2.url]);
      const ben = await member("rc_ben", [live.g1.url, live.g2.url]);
      const cleo = await member("rc_cleo", [live.g2.url]);
      await Promise.all([ana.client.connect(), ben.client.connect(), cleo.client.connect()]);
      assert.equal(ana.client.server, live.g1.url);
      const chat = (await ana.client.http.createGroup("reconnect", [ben.userId, cleo.userId])).chatId;

      const acked: SentMessage[] = [];
      let killed: Promise<void> | undefined;
      ana.client.on("sent", (s) => {
        acked.push(s);
        if (acked.length === KILL_AFTER && !killed) killed = live.g1.kill("SIGKILL");
      });
      const ids = Array.from({ length: TOTAL }, (_, i) => `burst-${i}`);
      // All 500 are handed to the SDK at once; it keeps them in order and resends across the kill.
      const results = await Promise.all(ids.map((id, i) => ana.client.send(chat, `message ${i}`, { id })));
      assert.ok(killed, "the gateway was killed during the burst");
      await killed;
      assert.ok(ana.states.includes("reconnecting"), `ana reconnected: ${ana.states.join(" → ")}`);
      assert.ok(ben.states.includes("reconnecting"), `ben reconnected: ${ben.states.join(" → ")}`);
      assert.equal(ana.client.server, live.g2.url, "ana moved to the surviving gateway");

      t.diagnostic(
        `ana: ${JSON.stringify(ana.client.sendStats)}; ben: ${JSON.stringify(ben.client.stats)}; cleo: ${JSON.stringify(cleo.client.stats)}`,
      );
      assert.ok(ana.client.sendStats.reconnects >= 1, "ana reconnected");
      // Every send acknowledged with n = 2..501 in the order of the calls.
      assert.deepEqual(
        results.map((r) => r.n),
        Array.from({ length: TOTAL }, (_, i) => i + 2),
      );
      assert.deepEqual(
        results.map((r) => r.id),
        ids,
      );

      // History: exactly those 500 messages once each, in order.
      const history: ChatEvent[] = [];
      const deadline = Date.now() + 30_000;
      for (;;) {
        history.length = 0;
        let afterN = 0;
        for (;;) {
          const page = await cleo.client.http.messages(chat, { after: afterN, limit: 100 });
          history.push(...page.events);
          if (!page.hasMore || page.events.length === 0) break;
          afterN = page.events.at(-1)!.n;
        }
        if (history.length >= TOTAL + 1 || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const messages = history.filter((e) => e.kind === "message.created");
      assert.equal(messages.length, TOTAL, "500 messages in history");
      assert.deepEqual(
        messages.map((e) => (e.kind === "message.created" ? e.id : "")),
        ids,
        "each once, in send order",
      );
      assert.deepEqual(
        history.map((e) => e.n),
        Array.from({ length: TOTAL + 1 }, (_, i) => i + 1),
        "n dense from 1",
      );

      // Every member's SDK delivered them in order without duplicates (the sender's too).
      for (const m of [ana, ben, cleo]) {
        await until(() => m.events.filter((e) => e.chat === chat).length >= TOTAL + 1, 30_000, `${m.name}: all events`);
        const mine = m.events.filter((e) => e.chat === chat);
        assert.deepEqual(
          mine.map((e) => e.n),
          Array.from({ length: TOTAL + 1 }, (_, i) => i + 1),
          `${m.name}: n 1..${TOTAL + 1}, each once, in order`,
        );
        assert.deepEqual(
          mine.filter((e) => e.kind === "message.created").map((e) => (e.kind === "message.created" ? e.id : "")),
          ids,
          `${m.name}: the 500 messages in send order`,
        );
        assert.equal(m.client.cursor(chat), TOTAL + 1, `${m.name}: cursor at the end`);
      }
      // Let late frames arrive, then check nothing more was delivered.
      await new Promise((r) => setTimeout(r, 500));
      for (const m of [ana, ben, cleo]) assert.equal(m.events.filter((e) => e.chat === chat).length, TOTAL + 1);
    },
  );
});
