import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ChatEvent, EventFrame, SentFrame } from "@natter/protocol";
import { CHAT_STREAM } from "@natter/subjects";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { natsBin, stackSuite, WsClient } from "@natter/testkit";
import * as probes from "./erasure-probes.ts";
import { Api, eventually } from "./http-client.ts";

// Deletes that erase (v1.1, `message.deleted`), over real processes: two gateways, the
// history and fanout consumers, a real nats-server, and each store. The delete is an event
// of the log like any other (numbered by n, delivered once to every device, replayed by
// sync); the deleted message comes back from history with `deleted: true` and no body;
// its body is gone from the chat stream (erased by seq) and from every store table.

const OPERATOR = "del_operator";
const run = promisify(execFile);

for (const backend of ["sqlite", "cassandra"] as const) {
  describe(`deletes (${backend})`, () => {
    /** The audit lines the gateways wrote (info: read from their output). */
    const audits: Record<string, unknown>[] = [];
    const live = stackSuite({
      store: backend,
      gateways: 2,
      env: { NATTER_ADMINS: OPERATOR, NATTER_LOG_LEVEL: "info" },
      setup: (stack) => {
        for (const g of stack.gateways) {
          let rest = "";
          g.child.stdout?.on("data", (d: Buffer) => {
            const lines = (rest + d.toString()).split("\n");
            rest = lines.pop() ?? "";
            for (const l of lines)
              if (l.includes('"admin action"')) audits.push(JSON.parse(l) as Record<string, unknown>);
          });
        }
      },
    });
    let handles = 0;
    const handle = (name: string) => `del_${name}_${backend.slice(0, 3)}_${++handles}`;
    const t = (title: string) => `deletes (${backend}) - ${title}`;

    const storeDump = () => probes.storeDump(live.stack, backend);
    const streamMessage = (seq: number) => probes.streamMessage(live.stack, seq);

    async function group(owner: Api, title: string, members: Api[]): Promise<string> {
      const r = await owner.call("POST", "/v1/chats", { kind: "group", title, members: members.map((m) => m.userId) });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.chatId as string;
    }

    async function send(who: Api, chat: string, id: string, body: string): Promise<{ n: number; seq: number }> {
      const r = await who.call("POST", `/v1/chats/${chat}/messages`, { id, body });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body;
    }

    const del = (who: Api, chat: string, n: number) => who.call("DELETE", `/v1/chats/${chat}/messages/${n}`);

    test(t("author and group admin delete; repeats, strangers, others, non-messages and missing targets"), async () => {
      const ana = await new Api(live.g1.url).signup(handle("ana"));
      const ben = await new Api(live.g1.url).signup(handle("ben"));
      const cat = await new Api(live.g2.url).signup(handle("cat"));
      const dan = await new Api(live.g2.url).signup(handle("dan"));
      const chat = await group(ana, "deletes", [ben, cat]);
      // Ben on two devices, one on each gateway; cat is offline for now.
      const phone = await WsClient.connect(live.g1.url, ben.token!, { name: "ben-phone", held: new Map([[chat, 1]]) });
      const laptop = await WsClient.connect(live.g2.url, ben.token!, {
        name: "ben-laptop",
        held: new Map([[chat, 1]]),
      });
      live.closing(phone);
      live.closing(laptop);

      const secretBen = `ben's secret ${backend} ${Date.now()}`;
      const secretCat = `cat's secret ${backend} ${Date.now()}`;
      const m2 = await send(ben, chat, "b1", secretBen);
      const m3 = await send(cat, chat, "c1", secretCat);
      const m4 = await send(ben, chat, "b2", "this one stays");
      assert.deepEqual([m2.n, m3.n, m4.n], [2, 3, 4]);

      // The author deletes over HTTP: the event takes the next n; a repeat answers the same, appends nothing.
      const first = await del(ben, chat, 2);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.deepEqual(Object.keys(first.body).sort(), ["chat", "n", "seq", "ts"]);
      assert.equal(first.body.chat, chat);
      assert.equal(first.body.n, 5);
      const again = await del(ben.via(live.g2.url), chat, 2);
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, first.body, "a repeat answers the same event");

      // Refusals, nothing published: another member (not the author, not an admin), a
      // stranger, a chat event that is no message, a target that does not exist.
      const byCat = await del(cat, chat, 4);
      assert.equal(byCat.status, 403);
      assert.equal(byCat.body.code, "forbidden");
      const byDan = await del(dan, chat, 4);
      assert.equal(byDan.status, 404);
      assert.equal(byDan.body.code, "not_found");
      const notMessage = await del(ana, chat, 1);
      assert.equal(notMessage.status, 400);
      assert.equal(notMessage.body.code, "invalid_input");
      const missing = await del(ben, chat, 99);
      assert.equal(missing.status, 404);
      assert.equal(missing.body.code, "not_found");
      const badN = await del(ben, chat, 0);
      assert.equal(badN.status, 400);

      // The group's admin deletes cat's message with the socket frame: `sent` with its ref.
      const anaSocket = await WsClient.connect(live.g2.url, ana.token!, { name: "ana" });
      live.closing(anaSocket);
      anaSocket.send({ type: "delete", ref: "del-1", chat, target: 3 });
      const sent = await anaSocket.waitFor<SentFrame>((f) => f.type === "sent" && f.ref === "del-1");
      assert.equal(sent.n, 6, "nothing was appended by the repeat or the refusals");
      assert.equal(sent.id, undefined);
      // Someone allowed who did not delete it (the admin, of ben's deleted message): "already
      // deleted"; a repeat is the same user's. Ben may not delete cat's message at all.
      const twice = await del(ana, chat, 2);
      assert.equal(twice.status, 400);
      assert.equal(twice.body.code, "invalid_input");
      assert.equal((await del(ben, chat, 3)).status, 403);
      anaSocket.send({ type: "delete", ref: "del-bad", chat, target: 1 });
      const refused = await anaSocket.waitFor((f) => f.type === "error" && f.ref === "del-bad");
      assert.equal(refused.type === "error" && refused.code, "invalid_input");

      // Every device got each event once, in n order, the deletes among the messages.
      for (const device of [phone, laptop]) {
        await device.until(() => device.ns(chat).includes(6), 10_000, `${device.name} got n=6`);
        assert.deepEqual(device.ns(chat), [2, 3, 4, 5, 6], device.name);
        assert.deepEqual(device.violations, []);
        const deletes = device.events.filter((e) => e.chat === chat && e.kind === "message.deleted");
        assert.deepEqual(
          deletes.map((e) => [e.n, e.kind === "message.deleted" && e.target, e.from]),
          [
            [5, 2, ben.userId],
            [6, 3, ana.userId],
          ],
        );
      }

      // Cat comes back: sync replays the log with both messages erased and the deletes in order.
      const catSocket = await WsClient.connect(live.g1.url, cat.token!, { name: "cat", held: new Map([[chat, 1]]) });
      live.closing(catSocket);
      const replayed = catSocket.events.filter((e) => e.chat === chat);
      assert.deepEqual(
        replayed.map((e) => e.n),
        [2, 3, 4, 5, 6],
      );
      assertErased(replayed, [2, 3]);
      const kept = replayed.find((e) => e.n === 4);
      assert.equal(kept?.kind === "message.created" && kept.body, "this one stays");

      // History: the original events with deleted: true and no body; the deletes as events;
      // nothing else (the repeat and the refusals appended nothing).
      const page = await cat.call("GET", `/v1/chats/${chat}/messages?after=0`);
      assert.equal(page.status, 200);
      const events = page.body.events as ChatEvent[];
      assert.deepEqual(
        events.map((e) => [e.n, e.kind]),
        [
          [1, "chat.created"],
          [2, "message.created"],
          [3, "message.created"],
          [4, "message.created"],
          [5, "message.deleted"],
          [6, "message.deleted"],
        ],
      );
      assertErased(events, [2, 3]);
      const erased2 = events[1]!;
      assert.equal(erased2.kind === "message.created" && erased2.id, "b1", "the client id stays (no content)");
      assert.equal(erased2.seq, m2.seq);
      assert.equal(erased2.kind === "message.created" && erased2.deletedN, 5);
      assert.equal(events[4]!.kind === "message.deleted" && events[4]!.target, 2);

      // Erased from the stream by sequence (the history consumer, after its store write).
      await eventually(async () => (await streamMessage(m2.seq)) === null, 20_000, "n=2 erased from the stream");
      await eventually(async () => (await streamMessage(m3.seq)) === null, 20_000, "n=3 erased from the stream");
      assert.match((await streamMessage(m4.seq)) ?? "", /this one stays/, "the others stay in the stream");
      // As an operator would look, with the nats CLI as the read-only tail identity.
      const nats = (...args: string[]) =>
        run(path.join(natsBin(), "nats"), [...live.stack.nats.cliArgs("tail"), ...args], { timeout: 15_000 });
      assert.match((await nats("stream", "get", CHAT_STREAM, String(m4.seq))).stdout, /this one stays/);
      await assert.rejects(nats("stream", "get", CHAT_STREAM, String(m2.seq)), (err: { stderr?: string }) =>
        /no message found|not found/i.test(err.stderr ?? ""),
      );

      // No store table holds either body (events, heads' previews, anything).
      await eventually(async () => /this one stays/.test(await storeDump()), 20_000, "history wrote n=4");
      const dump = await storeDump();
      assert.equal(dump.includes(secretBen), false, "ben's deleted body is in no store table");
      assert.equal(dump.includes(secretCat), false, "cat's deleted body is in no store table");
    });

    test(t("the chat list's preview drops a deleted last message; a delete is not unread"), async () => {
      const ana = await new Api(live.g1.url).signup(handle("ana"));
      const ben = await new Api(live.g2.url).signup(handle("ben"));
      const chat = await group(ana, "preview", [ben]);
      await send(ana, chat, "a1", "first words");
      const last = await send(ana, chat, "a2", `last words ${backend}`);
      const item = async () =>
        (
          (await ben.call("GET", "/v1/chats")).body.chats as { chatId: string; preview?: string; unread: number }[]
        ).find((c) => c.chatId === chat);
      await eventually(async () => (await item())?.preview === `last words ${backend}`, 20_000, "preview");
      assert.equal((await item())?.unread, 2);
      assert.equal((await del(ana, chat, last.n)).status, 200);
      // At once (the gateway erased the store's row before answering) and after history applied it.
      const now = await item();
      assert.equal(now?.preview, undefined, "no preview: the last message is deleted");
      assert.equal(now?.unread, 2, "the delete event counts as nothing unread");
      await eventually(async () => (await streamMessage(last.seq)) === null, 20_000, "erased from the stream");
      const later = await item();
      assert.equal(later?.preview, undefined);
      assert.equal(later?.unread, 2);
      // The next message is the preview again.
      await send(ana, chat, "a3", "new words");
      await eventually(async () => (await item())?.preview === "new words", 20_000, "new preview");
    });

    test(t("operators delete any message (audited); 403 for everyone else"), async () => {
      const op = await new Api(live.g1.url).signup(OPERATOR);
      const ana = await new Api(live.g1.url).signup(handle("ana"));
      const ben = await new Api(live.g2.url).signup(handle("ben"));
      const chat = await group(ana, "moderated", [ben]);
      const bad = await send(ben, chat, "b1", `abuse ${backend}`);
      const benSocket = await WsClient.connect(live.g2.url, ben.token!, { name: "ben", held: new Map([[chat, 1]]) });
      live.closing(benSocket);

      // Neither a member nor a group admin may use the operators' route.
      for (const who of [ben, ana]) {
        const r = await who.call("DELETE", `/v1/admin/chats/${chat}/messages/${bad.n}`);
        assert.equal(r.status, 403);
        assert.equal(r.body.code, "forbidden");
      }
      const r = await op.call("DELETE", `/v1/admin/chats/${chat}/messages/${bad.n}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.n, bad.n + 1);
      const repeat = await op.call("DELETE", `/v1/admin/chats/${chat}/messages/${bad.n}`);
      assert.deepEqual(repeat.body, r.body, "a repeat answers the same event");
      // The author may not delete it again: someone else did.
      assert.equal((await del(ben, chat, bad.n)).body.code, "invalid_input");
      assert.equal((await op.call("DELETE", `/v1/admin/chats/g_nosuchchat/messages/1`)).status, 404);
      assert.equal((await op.call("DELETE", `/v1/admin/chats/${chat}/messages/${bad.n + 5}`)).status, 404);

      const live1 = await benSocket.waitFor<EventFrame>((f) => f.type === "event" && f.n === r.body.n);
      assert.equal(live1.kind === "message.deleted" && live1.target, bad.n);
      assert.equal(live1.from, op.userId);
      const page = await ben.call("GET", `/v1/chats/${chat}/messages`);
      assertErased(page.body.events as ChatEvent[], [bad.n]);
      // Audited: one line per call, who, what and the outcome (refusals too).
      await eventually(
        async () => audits.filter((a) => a.target === `${chat}/${bad.n}`).length >= 4,
        10_000,
        "the audit lines",
      );
      const lines = audits.filter((a) => a.target === `${chat}/${bad.n}`);
      assert.ok(lines.every((a) => a.action === "delete-message"));
      // The two gateways' output interleaves in no set order: compared as a set of lines.
      const who = (a: Record<string, unknown>) => `${String(a.admin ?? a.caller)} ${String(a.result)}`;
      assert.deepEqual(
        lines.map(who).sort(),
        [`${ben.userId} forbidden`, `${ana.userId} forbidden`, `${op.userId} ok`, `${op.userId} ok`].sort(),
      );
      // Both of the operator's calls were served by g1, in order: the second is the repeat.
      assert.deepEqual(
        lines.filter((a) => a.admin === op.userId).map((a) => a.repeat),
        [false, true],
      );
      await eventually(async () => (await streamMessage(bad.seq)) === null, 20_000, "erased from the stream");
      assert.equal((await storeDump()).includes(`abuse ${backend}`), false);
    });
  });
}

/** The events at `ns` are erased messages: `deleted: true`, no body. */
function assertErased(events: ChatEvent[], ns: number[]): void {
  for (const n of ns) {
    const e = events.find((x) => x.n === n);
    assert.ok(e, `event ${n} present`);
    assert.equal(e.kind, "message.created");
    assert.equal(e.kind === "message.created" && e.deleted, true, `event ${n} deleted`);
    assert.equal("body" in e, false, `event ${n} has no body`);
  }
}
