import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type GatewayProc, type Stack, startStack, WsClient } from "@natter/testkit";
import { Api } from "./http-client.ts";

// G1 over HTTP: once `sent` arrives the message is in history. The history consumer here
// lingers 3 s before it writes, so every page read right after the sends is served by
// the stream's tail beyond the store: a page that read the store alone would miss them.
const LINGER = "3s";
const BURST = 25;

for (const store of ["sqlite", "cassandra"] as const) {
  describe(`history reads its writes (${store})`, () => {
    let stack: Stack;
    let gw: GatewayProc;
    before(async () => {
      stack = await startStack({ store, gateways: 1, env: { NATTER_HISTORY_LINGER: LINGER } });
      gw = stack.gateways[0]!;
    });
    after(async () => {
      await stack?.stop();
    });

    test(`history (${store}) - right after a burst is answered sent, the newest page, paging back and paging forward hold every event`, async () => {
      const a = await new Api(gw.url).signup(`rw_a_${store}`);
      const b = await new Api(gw.url).signup(`rw_b_${store}`);
      const chat = (await a.call("POST", "/v1/chats", { kind: "group", title: "rw", members: [b.userId] })).body
        .chatId as string;
      const sent: number[] = [];
      for (let i = 0; i < BURST; i++) {
        const r = await a.call("POST", `/v1/chats/${chat}/messages`, { id: `rw-${i}`, body: `m ${i}` });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        sent.push(r.body.n);
      }
      const head = sent.at(-1)!;
      assert.equal(head, BURST + 1);

      // Newest page, for the other member.
      const newest = await b.call("GET", `/v1/chats/${chat}/messages?limit=10`);
      assert.equal(newest.status, 200);
      assert.deepEqual(
        newest.body.events.map((e: { n: number }) => e.n),
        range(head - 9, head),
      );
      assert.equal(newest.body.hasMore, true);
      assert.equal(newest.body.events.at(-1).id, `rw-${BURST - 1}`);

      // Paging back with `before` down to the start.
      const back: number[] = [];
      let before = head + 1;
      for (;;) {
        const r = await b.call("GET", `/v1/chats/${chat}/messages?before=${before}&limit=10`);
        assert.equal(r.status, 200);
        back.unshift(...r.body.events.map((e: { n: number }) => e.n));
        if (!r.body.hasMore) break;
        before = r.body.events[0].n;
      }
      assert.deepEqual(back, range(1, head));

      // Paging forward with `after`.
      const fwd: number[] = [];
      let afterN = 0;
      for (;;) {
        const r = await b.call("GET", `/v1/chats/${chat}/messages?after=${afterN}&limit=10`);
        assert.equal(r.status, 200);
        fwd.push(...r.body.events.map((e: { n: number }) => e.n));
        if (!r.body.hasMore) break;
        afterN = r.body.events.at(-1).n;
      }
      assert.deepEqual(fwd, range(1, head));
    });

    test(`history (${store}) - a removed member reads up to and including the removal, nothing after; sync agrees`, async () => {
      const admin = await new Api(gw.url).signup(`rm_admin_${store}`);
      const gone = await new Api(gw.url).signup(`rm_gone_${store}`);
      const chat = (await admin.call("POST", "/v1/chats", { kind: "group", title: "rm", members: [gone.userId] })).body
        .chatId as string;
      await admin.call("POST", `/v1/chats/${chat}/messages`, { id: "before", body: "while a member" });
      const rm = await admin.call("DELETE", `/v1/chats/${chat}/members/${gone.userId}`);
      assert.equal(rm.status, 200);
      await admin.call("POST", `/v1/chats/${chat}/messages`, { id: "after", body: "not for you" });

      const page = await gone.call("GET", `/v1/chats/${chat}/messages`);
      assert.equal(page.status, 200);
      assert.deepEqual(
        page.body.events.map((e: { kind: string }) => e.kind),
        ["chat.created", "message.created", "member.removed"],
      );
      assert.equal(page.body.events.at(-1).n, rm.body.n);
      assert.equal(page.body.hasMore, false);
      const later = await gone.call("GET", `/v1/chats/${chat}/messages?after=${rm.body.n}`);
      assert.deepEqual(later.body, { events: [], hasMore: false });
      // The socket's sync replays the same events, and ends at the removal.
      const ws = await WsClient.connect(gw.url, gone.token!, { held: new Map([[chat, 0]]) });
      assert.deepEqual(ws.ns(chat), range(1, rm.body.n));
      await ws.close();
      // Everything else of the chat stays closed to them.
      assert.equal((await gone.call("GET", `/v1/chats/${chat}`)).status, 403);
      assert.equal((await gone.call("POST", `/v1/chats/${chat}/messages`, { id: "x", body: "x" })).status, 403);
      // A stranger reads nothing, and is told the same as for a chat that does not exist.
      const stranger = await new Api(gw.url).signup(`rm_stranger_${store}`);
      assert.equal((await stranger.call("GET", `/v1/chats/${chat}/messages`)).status, 404);
    });
  });
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
