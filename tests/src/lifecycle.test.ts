import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type ChatEvent,
  MAX_REACTION_EMOJI_PER_MESSAGE,
  MAX_REACTIONS_PER_USER_PER_MESSAGE,
  type SentFrame,
} from "@natter/protocol";
import { stackSuite, WsClient } from "@natter/testkit";
import * as probes from "./erasure-probes.ts";
import { Api, eventually } from "./http-client.ts";

// Replies, edits and reactions (v1.1: `replyTo`, `message.edited`, `reaction.added` /
// `reaction.removed`) over real processes: two gateways, the history and fanout consumers,
// a real nats-server, and each store. Each kind is an event of the log like a message:
// numbered by n among the messages, delivered once to every device, replayed by sync after
// an offline period, returned by history; every bad input answers its code and appends
// nothing (the next event still takes the next n).

/** Twenty distinct RGI emoji, more than a message takes. */
const EMOJI = [..."😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙🥲😚🙂🤗🤩🤔"];

for (const backend of ["sqlite", "cassandra"] as const) {
  describe(`replies, edits, reactions (${backend})`, () => {
    const live = stackSuite({ store: backend, gateways: 2 });
    let handles = 0;
    const handle = (name: string) => `lc_${name}_${backend.slice(0, 3)}_${++handles}`;
    const t = (title: string) => `replies, edits, reactions (${backend}) - ${title}`;

    async function group(owner: Api, title: string, members: Api[]): Promise<string> {
      const r = await owner.call("POST", "/v1/chats", { kind: "group", title, members: members.map((m) => m.userId) });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.chatId as string;
    }

    async function send(who: Api, chat: string, id: string, body: string, replyTo?: number) {
      const r = await who.call("POST", `/v1/chats/${chat}/messages`, { id, body, ...(replyTo ? { replyTo } : {}) });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body as { n: number; seq: number };
    }

    const edit = (who: Api, chat: string, n: number, id: string, body: string) =>
      who.call("PATCH", `/v1/chats/${chat}/messages/${n}`, { id, body });
    const react = (who: Api, chat: string, n: number, emoji: string, method = "PUT") =>
      who.call(method, `/v1/chats/${chat}/messages/${n}/reactions/${encodeURIComponent(emoji)}`);

    async function history(who: Api, chat: string): Promise<ChatEvent[]> {
      const r = await who.call("GET", `/v1/chats/${chat}/messages?after=0&limit=100`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.events as ChatEvent[];
    }

    /** The chat's newest n as a member reads it (history's newest page): a refusal must leave it as it was. */
    async function headN(who: Api, chat: string): Promise<number> {
      const r = await who.call("GET", `/v1/chats/${chat}/messages?limit=1`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return (r.body.events as ChatEvent[]).at(-1)!.n;
    }

    const storeDump = () => probes.storeDump(live.stack, backend);
    const streamMessage = (seq: number) => probes.streamMessage(live.stack, seq);

    test(t("replies: replyTo over HTTP and the send frame; bad targets refused, nothing appended"), async () => {
      const ana = await new Api(live.g1.url).signup(handle("ana"));
      const ben = await new Api(live.g2.url).signup(handle("ben"));
      const chat = await group(ana, "replies", [ben]);
      const phone = await WsClient.connect(live.g1.url, ben.token!, { name: "ben-phone", held: new Map([[chat, 1]]) });
      live.closing(phone);
      const m2 = await send(ana, chat, "a1", "lunch?");
      const m3 = await send(ben, chat, "b1", "yes", m2.n);
      assert.equal(m3.n, 3);
      phone.send({ type: "send", ref: "r1", chat, id: "b2", body: "at noon", replyTo: m2.n });
      const sent = await phone.waitFor<SentFrame>((f) => f.type === "sent" && f.ref === "r1");
      assert.equal(sent.n, 4);

      // Refused: no such message (also one not yet written), a non-message, a deleted one.
      const gone = await send(ana, chat, "a2", "forget this");
      assert.equal((await ana.call("DELETE", `/v1/chats/${chat}/messages/${gone.n}`)).status, 200);
      const before = await headN(ana, chat);
      const cases: [number, number, string][] = [
        [99, 404, "not_found"],
        [1, 400, "invalid_input"],
        [gone.n, 400, "invalid_input"],
      ];
      for (const [replyTo, status, code] of cases) {
        const r = await ben.call("POST", `/v1/chats/${chat}/messages`, { id: `bad-${replyTo}`, body: "x", replyTo });
        assert.equal(r.status, status, `replyTo ${replyTo}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.code, code);
        assert.equal(r.body.field, "replyTo");
      }
      phone.send({ type: "send", ref: "r-bad", chat, id: "b3", body: "x", replyTo: 1 });
      const refused = await phone.waitFor((f) => f.type === "error" && f.ref === "r-bad");
      assert.equal(refused.type === "error" && refused.code, "invalid_input");
      assert.equal(await headN(ana, chat), before, "nothing appended by the refusals");

      const events = await history(ana, chat);
      const replies = events.filter((e) => e.kind === "message.created" && e.replyTo !== undefined);
      assert.deepEqual(
        replies.map((e) => [e.n, e.kind === "message.created" && e.replyTo]),
        [
          [3, 2],
          [4, 2],
        ],
      );
      await phone.until(() => phone.ns(chat).includes(4), 10_000, "the reply live");
      // Offline until now: sync replays the replies with their replyTo.
      const laptop = await WsClient.connect(live.g2.url, ben.token!, { name: "ben-lap", held: new Map([[chat, 1]]) });
      live.closing(laptop);
      assert.deepEqual(
        laptop.events
          .filter((e) => e.chat === chat && e.kind === "message.created")
          .map((e) => [e.n, e.kind === "message.created" ? e.replyTo : "?"]),
        [
          [2, undefined],
          [3, 2],
          [4, 2],
          [5, undefined],
        ],
      );
      const liveReply = phone.events.find((e) => e.chat === chat && e.n === 3);
      assert.equal(liveReply?.kind === "message.created" && liveReply.replyTo, 2);
    });

    test(t("edits: author only, in n order to every device once, sync, history, preview, retries"), async () => {
      const ana = await new Api(live.g1.url).signup(handle("ana"));
      const ben = await new Api(live.g2.url).signup(handle("ben"));
      const cat = await new Api(live.g1.url).signup(handle("cat"));
      const dan = await new Api(live.g2.url).signup(handle("dan"));
      const chat = await group(ana, "edits", [ben, cat]);
      const phone = await WsClient.connect(live.g1.url, ben.token!, { name: "ben-phone", held: new Map([[chat, 1]]) });
      const laptop = await WsClient.connect(live.g2.url, ben.token!, { name: "ben-lap", held: new Map([[chat, 1]]) });
      live.closing(phone);
      live.closing(laptop);

      const m2 = await send(ana, chat, "a1", "see you at 5");
      const m3 = await send(ben, chat, "b1", "ok");
      // An edit of an older message: an event of its own; a retry with the same id is the same event (200).
      const e1 = await edit(ana, chat, m2.n, "e1", "see you at 6");
      assert.equal(e1.status, 201, JSON.stringify(e1.body));
      assert.deepEqual(Object.keys(e1.body).sort(), ["chat", "id", "n", "seq", "ts"]);
      assert.equal(e1.body.n, 4);
      assert.equal(e1.body.id, "e1");
      const retry = await edit(ana.via(live.g2.url), chat, m2.n, "e1", "see you at 6");
      assert.equal(retry.status, 200);
      assert.deepEqual(retry.body, e1.body);

      // Refusals, nothing appended.
      const before = await headN(ana, chat);
      const refusals: [Api, number, string, number, string][] = [
        [ben, m2.n, "someone else's", 403, "forbidden"],
        [dan, m2.n, "a stranger", 404, "not_found"],
        [ana, 1, "chat.created", 400, "invalid_input"],
        [ana, e1.body.n, "an edit", 400, "invalid_input"],
        [ana, 99, "no such message", 404, "not_found"],
      ];
      for (const [who, n, what, status, code] of refusals) {
        const r = await edit(who, chat, n, `x-${n}`, "nope");
        assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.code, code, what);
      }
      const blank = await edit(ana, chat, m2.n, "blank", "   ");
      assert.equal(blank.status, 400);
      assert.equal(blank.body.field, "body");
      const huge = await edit(ana, chat, m2.n, "huge", "x".repeat(70_000));
      assert.equal(huge.status, 413);
      assert.equal(await headN(ana, chat), before, "nothing appended by the refusals");

      // The edit frame; an edit of the newest message is the chat list's preview.
      const socket = await WsClient.connect(live.g2.url, ben.token!, { name: "ben-edit" });
      live.closing(socket);
      socket.send({ type: "edit", ref: "ed-1", chat, id: "e2", target: m3.n, body: "ok, 6 it is" });
      const sent = await socket.waitFor<SentFrame>((f) => f.type === "sent" && f.ref === "ed-1");
      assert.deepEqual([sent.n, sent.id], [5, "e2"]);
      socket.send({ type: "edit", ref: "ed-2", chat, id: "e3", target: m2.n, body: "mine?" });
      const notMine = await socket.waitFor((f) => f.type === "error" && f.ref === "ed-2");
      assert.equal(notMine.type === "error" && notMine.code, "forbidden");
      const item = async (who: Api) =>
        (
          (await who.call("GET", "/v1/chats")).body.chats as { chatId: string; preview?: string; unread: number }[]
        ).find((c) => c.chatId === chat);
      await eventually(async () => (await item(ana))?.preview === "ok, 6 it is", 20_000, "the edited preview");
      // Edits are not new messages: cat's unread count is the two messages.
      assert.equal((await item(cat))?.unread, 2);

      // Each device got every event once, in n order, the edits among the messages.
      for (const device of [phone, laptop]) {
        await device.until(() => device.ns(chat).includes(5), 10_000, `${device.name} got n=5`);
        assert.deepEqual(device.ns(chat), [2, 3, 4, 5], device.name);
        assert.deepEqual(device.violations, []);
      }
      const liveEdit = phone.events.find((e) => e.n === 5 && e.chat === chat);
      assert.equal(liveEdit?.kind === "message.edited" && liveEdit.target, m3.n);
      assert.equal(liveEdit?.kind === "message.edited" && liveEdit.latest, true);
      const olderEdit = phone.events.find((e) => e.n === 4 && e.chat === chat);
      assert.equal(olderEdit?.kind === "message.edited" && olderEdit.latest, undefined, "not of the newest message");

      // Cat was offline: sync replays the edits in order.
      const catSocket = await WsClient.connect(live.g1.url, cat.token!, { name: "cat", held: new Map([[chat, 1]]) });
      live.closing(catSocket);
      assert.deepEqual(
        catSocket.events.filter((e) => e.chat === chat).map((e) => [e.n, e.kind]),
        [
          [2, "message.created"],
          [3, "message.created"],
          [4, "message.edited"],
          [5, "message.edited"],
        ],
      );
      const events = await history(cat, chat);
      const e4 = events.find((e) => e.n === 4);
      assert.equal(e4?.kind === "message.edited" && e4.body, "see you at 6");

      // G3: a removed member cannot edit, and gets nothing after the removal.
      const removal = await ana.call("DELETE", `/v1/chats/${chat}/members/${ben.userId}`);
      assert.equal(removal.status, 200);
      const late = await edit(ben, chat, m3.n, "e9", "still here?");
      assert.equal(late.status, 403);
      assert.equal(late.body.code, "forbidden");
      const after = await send(ana, chat, "a9", "after ben left");
      await catSocket.until(() => catSocket.ns(chat).includes(after.n), 10_000, "cat got the later message");
      assert.equal(
        phone.events.some((e) => e.chat === chat && e.n > removal.body.n),
        false,
        "nothing after the removal",
      );
    });

    test(t("a delete erases the message's edits: history, every store table and the stream"), async () => {
      const ana = await new Api(live.g1.url).signup(handle("ana"));
      const ben = await new Api(live.g2.url).signup(handle("ben"));
      const chat = await group(ana, "erase edits", [ben]);
      const secret = `draft ${backend} ${Date.now()}`;
      const m2 = await send(ana, chat, "a1", `${secret} v1`);
      const e3 = (await edit(ana, chat, m2.n, "e1", `${secret} v2`)).body as { n: number; seq: number };
      await send(ben, chat, "b1", "noted");
      const e5 = (await edit(ana, chat, m2.n, "e2", `${secret} v3`)).body as { n: number; seq: number };
      assert.deepEqual([e3.n, e5.n], [3, 5]);
      await eventually(async () => (await storeDump()).includes(`${secret} v3`), 20_000, "history wrote the edits");
      const del = await ana.call("DELETE", `/v1/chats/${chat}/messages/${m2.n}`);
      assert.equal(del.status, 200);
      // At once (the gateway erases the message and its edits before answering).
      const events = await history(ben, chat);
      assert.equal(JSON.stringify(events).includes(secret), false, "no body, no edit body in history");
      const edits = events.filter((e) => e.kind === "message.edited");
      assert.deepEqual(
        edits.map((e) => [e.n, e.kind === "message.edited" && e.deleted]),
        [
          [3, true],
          [5, true],
        ],
      );
      // Editing it now is refused.
      const late = await edit(ana, chat, m2.n, "e3", "again");
      assert.equal(late.status, 400);
      assert.equal(late.body.code, "invalid_input");
      for (const seq of [m2.seq, e3.seq, e5.seq]) {
        await eventually(async () => (await streamMessage(seq)) === null, 20_000, `seq ${seq} erased from the stream`);
      }
      assert.equal((await storeDump()).includes(secret), false, "in no store table");

      // The newest message edited is the chat list's preview; deleting it takes the edited body along.
      const last = await send(ana, chat, "a9", "last word");
      assert.equal((await edit(ana, chat, last.n, "e9", `${secret} final`)).status, 201);
      const preview = async () =>
        ((await ben.call("GET", "/v1/chats")).body.chats as { chatId: string; preview?: string }[]).find(
          (c) => c.chatId === chat,
        )?.preview;
      await eventually(async () => (await preview()) === `${secret} final`, 20_000, "the edited preview");
      assert.equal((await ana.call("DELETE", `/v1/chats/${chat}/messages/${last.n}`)).status, 200);
      assert.equal(await preview(), undefined, "at once");
      await eventually(async () => !(await storeDump()).includes(`${secret} final`), 20_000, "history erased it");
      assert.equal(await preview(), undefined, "after history");
    });

    test(
      t("reactions: idempotent per (user, message, emoji), across gateways and at once; bounds; bad input"),
      async () => {
        const ana = await new Api(live.g1.url).signup(handle("ana"));
        const ben = await new Api(live.g2.url).signup(handle("ben"));
        const others = await Promise.all(
          [1, 2, 3, 4].map((i) => new Api(i % 2 ? live.g1.url : live.g2.url).signup(handle(`m${i}`))),
        );
        const chat = await group(ana, "reactions", [ben, ...others]);
        const phone = await WsClient.connect(live.g1.url, ben.token!, {
          name: "ben-phone",
          held: new Map([[chat, 1]]),
        });
        const laptop = await WsClient.connect(live.g2.url, ben.token!, { name: "ben-lap", held: new Map([[chat, 1]]) });
        live.closing(phone);
        live.closing(laptop);
        const m = await send(ana, chat, "a1", "pizza tonight");
        const r1 = await react(ben, chat, m.n, "👍");
        assert.equal(r1.status, 200, JSON.stringify(r1.body));
        assert.deepEqual(r1.body, { n: m.n + 1 });
        // Already there: the same answer, on either gateway; no new event.
        assert.deepEqual((await react(ben.via(live.g1.url), chat, m.n, "👍")).body, r1.body);
        // Two gateways adding the same reaction at once: one event.
        const both = await Promise.all([react(ana, chat, m.n, "🍕"), react(ana.via(live.g2.url), chat, m.n, "🍕")]);
        assert.deepEqual(
          both.map((r) => r.status),
          [200, 200],
        );
        assert.equal(both[0].body.n, both[1].body.n, "concurrent adds: the same event");
        // Remove: the removal's n; again: the same; never there: 0.
        const off = await react(ben, chat, m.n, "👍", "DELETE");
        assert.equal(off.status, 200);
        assert.equal(off.body.n, both[0].body.n + 1);
        assert.deepEqual((await react(ben.via(live.g1.url), chat, m.n, "👍", "DELETE")).body, off.body);
        assert.deepEqual((await react(ben, chat, m.n, "😂", "DELETE")).body, { n: 0 });
        // Added again after the removal: a new event.
        const again = await react(ben, chat, m.n, "👍");
        assert.equal(again.body.n, off.body.n + 1);

        // Frames: react and unreact answered by sent.
        const socket = await WsClient.connect(live.g2.url, ana.token!, { name: "ana" });
        live.closing(socket);
        socket.send({ type: "react", ref: "rx-1", chat, target: m.n, emoji: "❤️" });
        const rx = await socket.waitFor<SentFrame>((f) => f.type === "sent" && f.ref === "rx-1");
        assert.equal(rx.n, again.body.n + 1);
        socket.send({ type: "unreact", ref: "rx-2", chat, target: m.n, emoji: "❤️" });
        const unrx = await socket.waitFor<SentFrame>((f) => f.type === "sent" && f.ref === "rx-2");
        assert.equal(unrx.n, rx.n + 1);
        const headAfter = unrx.n;

        // Bad input: not one emoji, a non-message, no such message, a deleted one; nothing appended.
        const gone = await send(ana, chat, "a2", "oops");
        assert.equal((await ana.call("DELETE", `/v1/chats/${chat}/messages/${gone.n}`)).status, 200);
        const before = await headN(ana, chat);
        assert.equal(before, headAfter + 2);
        const bad: [number, string, number, string][] = [
          [m.n, "ok", 400, "invalid_input"],
          [m.n, "👍👍", 400, "invalid_input"],
          [m.n, "❤", 400, "invalid_input"],
          [1, "👍", 400, "invalid_input"],
          [99, "👍", 404, "not_found"],
          [gone.n, "👍", 400, "invalid_input"],
        ];
        for (const [n, emoji, status, code] of bad) {
          const r = await react(ben, chat, n, emoji);
          assert.equal(r.status, status, `${n} ${emoji}: ${JSON.stringify(r.body)}`);
          assert.equal(r.body.code, code);
        }
        socket.send({ type: "react", ref: "rx-bad", chat, target: m.n, emoji: "nope" });
        const refused = await socket.waitFor((f) => f.type === "error" && f.ref === "rx-bad");
        assert.equal(refused.type === "error" && refused.field, "emoji");

        // Bounds: MAX_REACTIONS_PER_USER_PER_MESSAGE per user; MAX_REACTION_EMOJI_PER_MESSAGE distinct.
        const mine = EMOJI.slice(0, MAX_REACTIONS_PER_USER_PER_MESSAGE - 1); // ben already has 👍
        for (const e of mine) assert.equal((await react(ben, chat, m.n, e)).status, 200);
        const over = await react(ben, chat, m.n, EMOJI[19]!);
        assert.equal(over.status, 400);
        assert.equal(over.body.field, "emoji");
        // Distinct emoji: 👍, 🍕 and ben's 4, then the others add new ones up to the bound.
        let distinct = 2 + mine.length;
        let next = mine.length;
        for (const who of others) {
          for (let i = 0; i < MAX_REACTIONS_PER_USER_PER_MESSAGE && distinct < MAX_REACTION_EMOJI_PER_MESSAGE; i++) {
            assert.equal((await react(who, chat, m.n, EMOJI[next++]!)).status, 200);
            distinct++;
          }
        }
        assert.equal(distinct, MAX_REACTION_EMOJI_PER_MESSAGE);
        const tooMany = await react(ana, chat, m.n, EMOJI[next]!);
        assert.equal(tooMany.status, 400, "a new emoji beyond the bound");
        assert.equal((await react(ana, chat, m.n, "👍")).status, 200, "an emoji already there is still fine");
        const head = await headN(ana, chat);

        // Every device got every event once, in order; a reaction is no unread message and no preview.
        for (const device of [phone, laptop]) {
          await device.until(() => device.ns(chat).includes(head), 10_000, `${device.name} got n=${head}`);
          assert.deepEqual(device.violations, []);
          const ns = device.ns(chat);
          assert.deepEqual(
            ns,
            [...new Set(ns)].sort((a, b) => a - b),
            "once each, in order",
          );
        }
        const list = (await ben.call("GET", "/v1/chats")).body.chats as { chatId: string; preview?: string }[];
        assert.equal(list.find((c) => c.chatId === chat)?.preview, undefined, "the newest message is deleted");
        const cat = others[0]!;
        const unread = ((await cat.call("GET", "/v1/chats")).body.chats as { chatId: string; unread: number }[]).find(
          (c) => c.chatId === chat,
        );
        assert.equal(unread?.unread, 2, "the two messages, not the reactions");

        // History: the reactions in n order; folding them gives the state the answers told.
        const events = await history(ana, chat);
        const state = new Map<string, Set<string>>();
        for (const e of events) {
          if (e.kind !== "reaction.added" && e.kind !== "reaction.removed") continue;
          const users = state.get(e.emoji) ?? new Set<string>();
          if (e.kind === "reaction.added") users.add(e.from);
          else users.delete(e.from);
          state.set(e.emoji, users);
        }
        assert.deepEqual([...state.get("👍")!].sort(), [ben.userId, ana.userId].sort());
        assert.deepEqual([...state.get("🍕")!], [ana.userId]);
        assert.equal(state.get("❤️")?.size, 0);
        assert.equal(events.filter((e) => e.kind === "reaction.added" && e.emoji === "🍕").length, 1);

        // A member offline all along: sync replays every reaction in n order with the messages.
        const offline = await WsClient.connect(live.g1.url, cat.token!, { name: "cat", held: new Map([[chat, 1]]) });
        live.closing(offline);
        assert.deepEqual(
          offline.events.filter((e) => e.chat === chat).map((e) => [e.n, e.kind]),
          events.filter((e) => e.n > 1).map((e) => [e.n, e.kind]),
        );
        assert.deepEqual(offline.violations, []);

        // G3: removed, no reactions.
        const leaver = others[3]!;
        assert.equal((await ana.call("DELETE", `/v1/chats/${chat}/members/${leaver.userId}`)).status, 200);
        const late = await react(leaver, chat, m.n, "😀");
        assert.equal(late.status, 403);
        assert.equal(late.body.code, "forbidden");
      },
    );
  });
}
