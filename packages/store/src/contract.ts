import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import {
  type ChatEvent,
  erasedEdit,
  erasedMessage,
  type MemberRole,
  type MessageCreatedEvent,
  type MessageEditedEvent,
} from "@natter/protocol";
import { projectionWrites } from "./projection.ts";
import { type DeviceSession, editClientKey, MUTED_FOREVER, type Store, type User } from "./store.ts";

const T0 = 1_700_000_000_000;

function id(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 12)}`;
}

function user(handle = id("h")): User {
  return { userId: id("u"), handle, displayName: `Name ${handle}`, passwordHash: `hash-${handle}`, createdAt: T0 };
}

function msg(chat: string, n: number, from = "alice", clientId = `c${n}`): MessageCreatedEvent {
  return { kind: "message.created", chat, seq: 100_000 + n, n, ts: T0 + n, from, id: clientId, body: `body ${n}` };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function ns(events: ChatEvent[]): number[] {
  return events.map((e) => e.n);
}

/**
 * The one suite every Store implementation passes. `makeStore` gives a fresh, empty
 * store (not yet migrated) and how to dispose of it; each test uses its own ids, so the
 * tests share one store.
 */
export function runStoreContract(
  name: string,
  makeStore: () => Promise<{ store: Store; cleanup: () => Promise<void> }>,
): void {
  describe(`store contract (${name})`, () => {
    let store: Store;
    let cleanup: (() => Promise<void>) | undefined;
    const t = (title: string) => `store contract (${name}) - ${title}`;
    /** Applies a user's membership events in the order given: [active, n], as a member unless a role is named. */
    async function applyEach(
      chatId: string,
      userId: string,
      ...changes: [boolean, number, MemberRole?][]
    ): Promise<void> {
      for (const [active, n, role = "member"] of changes)
        await store.applyMembership({ chatId, userId, role, active, n });
    }

    before(async () => {
      ({ store, cleanup } = await makeStore());
      await store.migrate();
    });
    after(async () => {
      await store?.close();
      await cleanup?.();
    });

    test(t("migrate is idempotent and ping answers"), async () => {
      assert.equal(store.backend, name);
      await store.migrate();
      await store.ping();
      const u = user();
      assert.equal(await store.createUser(u), true);
      assert.deepEqual(await store.getUser(u.userId), u);
    });

    test(t("users round trip by id and by handle"), async () => {
      const u = user();
      assert.equal(await store.createUser(u), true);
      assert.deepEqual(await store.getUser(u.userId), u);
      assert.deepEqual(await store.getUserByHandle(u.handle), u);
      assert.equal(await store.getUser(id("nobody")), undefined);
      assert.equal(await store.getUserByHandle(id("nohandle")), undefined);
    });

    test(t("handles are unique"), async () => {
      const first = user();
      const second = { ...user(first.handle), displayName: "Impostor" };
      assert.equal(await store.createUser(first), true);
      assert.equal(await store.createUser(second), false);
      assert.deepEqual(await store.getUserByHandle(first.handle), first);
      assert.equal(await store.getUser(second.userId), undefined, "the refused user is not written");
    });

    test(t("concurrent createUser of one handle has exactly one winner"), async () => {
      const handle = id("race");
      const contenders = Array.from({ length: 6 }, () => user(handle));
      const results = await Promise.all(contenders.map((u) => store.createUser(u)));
      assert.equal(results.filter(Boolean).length, 1, `results ${results}`);
      const winner = contenders[results.indexOf(true)]!;
      assert.deepEqual(await store.getUserByHandle(handle), winner);
      for (const [i, u] of contenders.entries()) {
        if (!results[i]) assert.equal(await store.getUser(u.userId), undefined);
      }
    });

    test(t("retrying createUser of the same user succeeds again"), async () => {
      const u = user();
      assert.equal(await store.createUser(u), true);
      assert.equal(await store.createUser(u), true);
      assert.deepEqual(await store.getUserByHandle(u.handle), u);
    });

    test(t("sessions are per device and revoke sticks"), async () => {
      const userId = id("u");
      const phone: DeviceSession = {
        userId,
        deviceId: id("d"),
        deviceName: "phone",
        createdAt: T0,
        expiresAt: T0 + 86_400_000,
        revoked: false,
      };
      const laptop: DeviceSession = { ...phone, deviceId: id("d"), deviceName: "laptop" };
      await store.createSession(phone);
      await store.createSession(laptop);
      assert.deepEqual(await store.getSession(userId, phone.deviceId), phone);
      assert.deepEqual(await store.getSession(userId, laptop.deviceId), laptop);
      assert.equal(await store.getSession(userId, id("d")), undefined);
      assert.equal(await store.getSession(id("u"), phone.deviceId), undefined);

      await store.revokeSession(userId, phone.deviceId);
      assert.deepEqual(await store.getSession(userId, phone.deviceId), { ...phone, revoked: true });
      assert.equal((await store.getSession(userId, laptop.deviceId))?.revoked, false, "other device unaffected");
      await store.revokeSession(userId, phone.deviceId);
      assert.equal((await store.getSession(userId, phone.deviceId))?.revoked, true);

      // Re-creating a revoked session (a replayed login write) must not revive it.
      await store.createSession({ ...phone, expiresAt: phone.expiresAt + 1 });
      assert.equal((await store.getSession(userId, phone.deviceId))?.revoked, true);

      const unknown = id("d");
      await store.revokeSession(userId, unknown);
      assert.equal(await store.getSession(userId, unknown), undefined, "revoking nothing creates no session");

      // Every session of the user, the revoked one too; nobody else's, no phantom.
      const byDevice = (l: DeviceSession[]) => [...l].sort((a, b) => a.deviceId.localeCompare(b.deviceId));
      assert.deepEqual(
        byDevice(await store.listSessions(userId)),
        byDevice([{ ...phone, expiresAt: phone.expiresAt + 1, revoked: true }, laptop]),
      );
      assert.deepEqual(await store.listSessions(id("u")), []);
    });

    test(t("a password hash is replaced for that user only"), async () => {
      const a = { userId: id("u"), handle: id("h"), displayName: "A", passwordHash: "old", createdAt: T0 };
      const b = { ...a, userId: id("u"), handle: id("h") };
      await store.createUser(a);
      await store.createUser(b);
      await store.setPasswordHash(a.userId, "new");
      assert.equal((await store.getUser(a.userId))?.passwordHash, "new");
      assert.equal((await store.getUserByHandle(a.handle))?.passwordHash, "new");
      assert.equal((await store.getUser(b.userId))?.passwordHash, "old");
      const ghost = id("u");
      await store.setPasswordHash(ghost, "x");
      assert.equal(await store.getUser(ghost), undefined, "no user is made by it");
    });

    test(t("users are found by handle prefix, in handle order, a page at a time"), async () => {
      // Handles of handle characters only ([a-z0-9_.]), under a prefix no other test uses.
      const base = `f${randomUUID().replace(/-/g, "").slice(0, 10)}`;
      const [a, ab, b, c] = ["a", "ab", "b", "c"].map((x) => user(base + x)) as [User, User, User, User];
      for (const u of [b, c, a, ab]) assert.equal(await store.createUser(u), true);
      await store.createUser(user(`g${base}`));
      assert.deepEqual(await store.findUsers({ prefix: base, limit: 10 }), [a, ab, b, c]);
      assert.deepEqual(await store.findUsers({ prefix: `${base}a`, limit: 10 }), [a, ab]);
      assert.deepEqual(await store.findUsers({ prefix: base, limit: 2 }), [a, ab]);
      assert.deepEqual(await store.findUsers({ prefix: base, after: ab.handle, limit: 2 }), [b, c]);
      assert.deepEqual(await store.findUsers({ prefix: base, after: c.handle, limit: 2 }), []);
      assert.deepEqual(await store.findUsers({ prefix: `${base}z`, limit: 10 }), []);
      // An `after` before the prefix is no bound at all.
      assert.deepEqual(await store.findUsers({ prefix: base, after: "a", limit: 1 }), [a]);
    });

    test(t("a one-character prefix finds handles whatever their second character"), async () => {
      // Only this test makes handles that start with "9".
      const tail = randomUUID().replace(/-/g, "").slice(0, 8);
      const made = ["9z", "9a", "9_", "90"].map((p) => user(p + tail));
      for (const u of made) assert.equal(await store.createUser(u), true);
      const found = await store.findUsers({ prefix: "9", limit: 100 });
      assert.deepEqual(
        found.map((u) => u.handle),
        made.map((u) => u.handle).sort(),
      );
      const first = await store.findUsers({ prefix: "9", limit: 2 });
      const rest = await store.findUsers({ prefix: "9", after: first.at(-1)!.handle, limit: 100 });
      assert.deepEqual([...first, ...rest], found, "pages join up with nothing lost or repeated");
    });

    test(t("an account is disabled and enabled again; an unknown one is not made"), async () => {
      const u = user(`d${randomUUID().replace(/-/g, "").slice(0, 10)}`);
      await store.createUser(u);
      assert.equal(await store.setUserDisabled(u.userId, true), true);
      assert.deepEqual(await store.getUser(u.userId), { ...u, disabled: true });
      assert.deepEqual(await store.getUserByHandle(u.handle), { ...u, disabled: true });
      assert.deepEqual(await store.findUsers({ prefix: u.handle, limit: 1 }), [{ ...u, disabled: true }]);
      assert.equal(await store.setUserDisabled(u.userId, true), true, "idempotent");
      assert.deepEqual(await store.getUser(u.userId), { ...u, disabled: true });
      assert.equal(await store.setUserDisabled(u.userId, false), true);
      assert.deepEqual(await store.getUser(u.userId), u, "enabled reads as never disabled");
      const ghost = id("u");
      assert.equal(await store.setUserDisabled(ghost, true), false);
      assert.equal(await store.getUser(ghost), undefined, "no user is made by it");
    });

    test(t("chats are created once, with and without a title"), async () => {
      const group = { chatId: id("c"), kind: "group" as const, title: "Team", createdBy: "alice", createdAt: T0 };
      const direct = { chatId: id("c"), kind: "direct" as const, createdBy: "bob", createdAt: T0 + 1 };
      await store.createChat(group);
      await store.createChat(direct);
      assert.deepEqual(await store.getChat(group.chatId), group);
      const gotDirect = await store.getChat(direct.chatId);
      assert.deepEqual(gotDirect, direct);
      assert.equal(gotDirect !== undefined && "title" in gotDirect, false, "no title property when unset");
      await store.createChat({ ...group, title: "Renamed", createdBy: "mallory" });
      assert.deepEqual(await store.getChat(group.chatId), group, "a second create changes nothing");
      assert.equal(await store.getChat(id("c")), undefined);
    });

    test(t("claimDirectChat returns one id for a pair in either order"), async () => {
      const a = id("a");
      const b = id("b");
      const c = id("c");
      const first = id("chat");
      assert.equal(await store.claimDirectChat(a, b, first), first);
      assert.equal(await store.claimDirectChat(b, a, id("chat")), first);
      assert.equal(await store.claimDirectChat(a, b, id("chat")), first);
      const other = id("chat");
      assert.equal(await store.claimDirectChat(c, a, other), other, "another pair gets its own chat");
    });

    test(t("concurrent claimDirectChat agrees on one id"), async () => {
      const a = id("a");
      const b = id("b");
      const candidates = Array.from({ length: 6 }, () => id("chat"));
      const results = await Promise.all(
        candidates.map((chatId, i) =>
          i % 2 ? store.claimDirectChat(a, b, chatId) : store.claimDirectChat(b, a, chatId),
        ),
      );
      assert.equal(new Set(results).size, 1, `results ${results}`);
      assert.ok(candidates.includes(results[0]!));
      assert.equal(await store.claimDirectChat(a, b, id("chat")), results[0]);
    });

    test(t("membership is applied and listed"), async () => {
      const chatId = id("c");
      const [alice, bob, carol] = [id("alice"), id("bob"), id("carol")].sort() as [string, string, string];
      await store.applyMembership({ chatId, userId: alice, role: "admin", active: true, n: 1 });
      await store.applyMembership({ chatId, userId: bob, role: "member", active: true, n: 1 });
      await store.applyMembership({ chatId, userId: carol, role: "member", active: true, n: 4 });
      assert.deepEqual(await store.getMember(chatId, alice), {
        chatId,
        userId: alice,
        role: "admin",
        joinedN: 1,
        active: true,
        changedN: 1,
      });
      assert.deepEqual(
        (await store.listMembers(chatId)).map((m) => [m.userId, m.role, m.joinedN]),
        [
          [alice, "admin", 1],
          [bob, "member", 1],
          [carol, "member", 4],
        ],
      );
      await store.applyMembership({ chatId, userId: bob, role: "member", active: false, n: 6 });
      assert.deepEqual(
        (await store.listMembers(chatId)).map((m) => m.userId),
        [alice, carol],
      );
      assert.deepEqual(await store.getMember(chatId, bob), {
        chatId,
        userId: bob,
        role: "member",
        joinedN: 1,
        active: false,
        changedN: 6,
      });
      assert.equal(await store.getMember(chatId, id("stranger")), undefined);
      assert.deepEqual(await store.listMembers(id("c")), []);
    });

    test(t("re-applying an older membership event does not undo a newer one"), async () => {
      const chatId = id("c");
      const u = id("u");
      await applyEach(chatId, u, [true, 5], [false, 8], [true, 5], [true, 7, "admin"]);
      const m = await store.getMember(chatId, u);
      assert.equal(m?.active, false);
      assert.equal(m?.changedN, 8);
      assert.equal(m?.role, "member");
      assert.deepEqual(await store.listChatIdsForUser(u), []);

      const v = id("u");
      await applyEach(chatId, v, [true, 10], [false, 3], [true, 10]);
      assert.deepEqual(await store.getMember(chatId, v), {
        chatId,
        userId: v,
        role: "member",
        joinedN: 10,
        active: true,
        changedN: 10,
      });
    });

    test(t("remove then re-add makes the member active again from the re-add"), async () => {
      const chatId = id("c");
      const u = id("u");
      await applyEach(chatId, u, [true, 2], [false, 5], [true, 9]);
      assert.deepEqual(await store.getMember(chatId, u), {
        chatId,
        userId: u,
        role: "member",
        joinedN: 9,
        active: true,
        changedN: 9,
      });
      assert.deepEqual(await store.listChatIdsForUser(u), [chatId]);
      assert.deepEqual(
        (await store.listMembers(chatId)).map((m) => m.userId),
        [u],
      );
    });

    test(t("membership ends the same whatever order events arrive in"), async () => {
      const changes = [
        { role: "member" as const, active: true, n: 2 },
        { role: "member" as const, active: false, n: 5 },
        { role: "member" as const, active: true, n: 9 },
        { role: "member" as const, active: false, n: 12 },
      ];
      const orders = [
        [0, 1, 2, 3],
        [3, 2, 1, 0],
        [1, 3, 0, 2],
        [2, 0, 3, 1],
      ];
      const u = id("u");
      for (const order of orders) {
        const chatId = id("c");
        for (const i of order) await store.applyMembership({ chatId, userId: u, ...changes[i]! });
        const m = await store.getMember(chatId, u);
        assert.deepEqual(
          { joinedN: m?.joinedN, active: m?.active, changedN: m?.changedN },
          { joinedN: 9, active: false, changedN: 12 },
          `order ${order}`,
        );
      }
      const chatId = id("c");
      // The removal arrives before the add it follows: the row still knows where the user joined.
      await applyEach(chatId, u, [false, 7], [true, 3]);
      const m = await store.getMember(chatId, u);
      assert.deepEqual(
        { joinedN: m?.joinedN, active: m?.active, changedN: m?.changedN },
        {
          joinedN: 3,
          active: false,
          changedN: 7,
        },
      );
    });

    test(t("listChatIdsForUser lists only active memberships"), async () => {
      const u = id("u");
      const chats = [id("c"), id("c"), id("c")].sort();
      for (const chatId of chats)
        await store.applyMembership({ chatId, userId: u, role: "member", active: true, n: 1 });
      await store.applyMembership({ chatId: chats[1]!, userId: u, role: "member", active: false, n: 2 });
      await store.applyMembership({ chatId: chats[0]!, userId: id("other"), role: "member", active: true, n: 1 });
      assert.deepEqual((await store.listChatIdsForUser(u)).sort(), [chats[0], chats[2]]);
      assert.deepEqual(await store.listChatIdsForUser(id("nobody")), []);
    });

    test(t("appendEvents stores every kind and is idempotent"), async () => {
      const chat = id("c");
      const events: ChatEvent[] = [
        {
          kind: "chat.created",
          chat,
          seq: 11,
          n: 1,
          ts: T0,
          from: "alice",
          chatKind: "group",
          title: "T",
          members: ["alice", "bob"],
        },
        { kind: "member.added", chat, seq: 12, n: 2, ts: T0 + 1, from: "alice", user: "carol" },
        msg(chat, 3, "bob"),
        { kind: "member.removed", chat, seq: 14, n: 4, ts: T0 + 3, from: "alice", user: "bob" },
        {
          kind: "chat.created",
          chat: id("c2"),
          seq: 15,
          n: 1,
          ts: T0,
          from: "dave",
          chatKind: "direct",
          members: ["dave", "erin"],
        },
      ];
      await store.appendEvents(events);
      await store.appendEvents(events);
      await store.appendEvents([events[2]!, events[0]!]);
      await store.appendEvents([]);
      assert.deepEqual(await store.getEvents(chat, { afterN: 0, limit: 100 }), events.slice(0, 4));
      assert.deepEqual(await store.getEvents(chat, { limit: 100 }), events.slice(0, 4));
      assert.deepEqual(await store.getEvents(events[4]!.chat, { limit: 10 }), [events[4]]);
      assert.deepEqual(await store.getEvents(id("empty"), { limit: 10 }), []);
    });

    test(t("getEvents pages across a bucket boundary"), async () => {
      const chat = id("c");
      const all = range(9_990, 10_020).map((n) => msg(chat, n));
      // Out of order and in several calls, as a restarted consumer might write them.
      await store.appendEvents(all.slice(15));
      await store.appendEvents(all.slice(0, 15).reverse());
      await store.appendEvents(range(9_990, 10_020).map((n) => msg(id("other"), n)));

      const page = async (q: Parameters<Store["getEvents"]>[1]) => ns(await store.getEvents(chat, q));
      assert.deepEqual(await page({ afterN: 9_995, limit: 10 }), range(9_996, 10_005));
      assert.deepEqual(await page({ afterN: 10_005, limit: 100 }), range(10_006, 10_020));
      assert.deepEqual(await page({ afterN: 9_989, limit: 11 }), range(9_990, 10_000));
      assert.deepEqual(await page({ afterN: 10_000, limit: 1 }), [10_001]);
      assert.deepEqual(await page({ afterN: 10_020, limit: 10 }), []);
      assert.deepEqual(await page({ beforeN: 10_006, limit: 10 }), range(9_996, 10_005));
      assert.deepEqual(await page({ beforeN: 10_003, limit: 5 }), range(9_998, 10_002));
      assert.deepEqual(await page({ beforeN: 10_001, limit: 3 }), range(9_998, 10_000));
      assert.deepEqual(await page({ beforeN: 9_990, limit: 10 }), []);
      assert.deepEqual(await page({ limit: 7 }), range(10_014, 10_020), "newest page without a head");
      assert.deepEqual(await page({ limit: 1000 }), range(9_990, 10_020));
      assert.deepEqual(await page({ afterN: 9_995, beforeN: 10_003, limit: 100 }), range(9_996, 10_002));
      assert.deepEqual(await page({ afterN: 9_995, beforeN: 10_003, limit: 3 }), range(9_996, 9_998));

      // minN / maxN bound what a member may see, whatever the cursor asks for.
      assert.deepEqual(await page({ minN: 10_001, beforeN: 10_010, limit: 100 }), range(10_001, 10_009));
      assert.deepEqual(await page({ minN: 9_998, beforeN: 10_010, limit: 5 }), range(10_005, 10_009));
      assert.deepEqual(await page({ maxN: 10_000, limit: 5 }), range(9_996, 10_000));
      assert.deepEqual(await page({ maxN: 10_002, afterN: 9_997, limit: 100 }), range(9_998, 10_002));
      assert.deepEqual(await page({ minN: 10_004, afterN: 9_990, limit: 3 }), range(10_004, 10_006));
      assert.deepEqual(await page({ minN: 10_003, maxN: 10_001, limit: 10 }), []);
      assert.deepEqual(await page({ minN: 10_010, beforeN: 10_005, limit: 10 }), []);

      // Walking the whole history both ways yields every event once, in order.
      const forward: number[] = [];
      for (let after = 0; ;) {
        const got = await page({ afterN: after, limit: 4 });
        if (got.length === 0) break;
        forward.push(...got);
        after = got.at(-1)!;
      }
      assert.deepEqual(forward, range(9_990, 10_020));
      const backward: number[] = [];
      for (let beforeN: number | undefined; ;) {
        const got = await page(beforeN === undefined ? { limit: 6 } : { beforeN, limit: 6 });
        if (got.length === 0) break;
        backward.unshift(...got);
        beforeN = got[0]!;
      }
      assert.deepEqual(backward, range(9_990, 10_020));

      // The same answers once the head knows the top.
      await store.advanceChatHead({ chatId: chat, lastN: 10_020, lastSeq: 110_020, lastActivity: T0 + 10_020 });
      assert.deepEqual(await page({ limit: 7 }), range(10_014, 10_020));
      assert.deepEqual(await page({ afterN: 9_995, limit: 10 }), range(9_996, 10_005));
      assert.deepEqual(await store.getEvents(chat, { afterN: 10_009, limit: 2 }), all.slice(20, 22));
    });

    test(t("getEvents sees events above a lagging head"), async () => {
      const chat = id("c");
      await store.appendEvents(range(1, 10_005).map((n) => msg(chat, n)));
      await store.advanceChatHead({ chatId: chat, lastN: 9_000, lastSeq: 1, lastActivity: T0 });
      assert.deepEqual(ns(await store.getEvents(chat, { limit: 8 })), range(9_998, 10_005));
      assert.deepEqual(ns(await store.getEvents(chat, { afterN: 9_999, limit: 100 })), range(10_000, 10_005));
      assert.deepEqual(ns(await store.getEvents(chat, { afterN: 0, limit: 3 })), [1, 2, 3]);
      assert.deepEqual(ns(await store.getEvents(chat, { beforeN: 3, limit: 10 })), [1, 2]);
    });

    test(t("findClientMsg finds where a client message landed"), async () => {
      const chat = id("c");
      const m = msg(chat, 3, "bob", "client-1");
      await store.appendEvents([
        { kind: "member.added", chat, seq: 1, n: 1, ts: T0, from: "alice", user: "bob" },
        m,
        msg(chat, 4, "carol", "client-1"),
      ]);
      assert.deepEqual(await store.findClientMsg(chat, "bob", "client-1"), { n: 3, seq: m.seq, ts: m.ts });
      assert.deepEqual(await store.findClientMsg(chat, "carol", "client-1"), { n: 4, seq: 100_004, ts: T0 + 4 });
      assert.equal(await store.findClientMsg(chat, "alice", "client-1"), undefined);
      assert.equal(await store.findClientMsg(chat, "bob", "client-2"), undefined);
      assert.equal(await store.findClientMsg(id("c"), "bob", "client-1"), undefined);

      // A message that landed twice (after the dedup window) resolves to its first landing, in any order.
      await store.appendEvents([msg(chat, 9, "dave", "twice")]);
      await store.appendEvents([msg(chat, 7, "dave", "twice")]);
      await store.appendEvents([msg(chat, 9, "dave", "twice")]);
      assert.equal((await store.findClientMsg(chat, "dave", "twice"))?.n, 7);
    });

    test(t("chat heads only move forward"), async () => {
      const chatId = id("c");
      assert.equal(await store.getChatHead(chatId), undefined);
      const h5 = { chatId, lastN: 5, lastSeq: 50, lastActivity: T0 + 5, preview: "five", previewFrom: "alice" };
      await store.advanceChatHead(h5);
      assert.deepEqual(await store.getChatHead(chatId), h5);
      await store.advanceChatHead({
        chatId,
        lastN: 3,
        lastSeq: 30,
        lastActivity: T0 + 3,
        preview: "three",
        previewFrom: "bob",
      });
      assert.deepEqual(await store.getChatHead(chatId), h5, "an older head changes nothing");
      await store.advanceChatHead(h5);
      assert.deepEqual(await store.getChatHead(chatId), h5);
      const h8 = { chatId, lastN: 8, lastSeq: 80, lastActivity: T0 + 8, preview: "eight", previewFrom: "bob" };
      await store.advanceChatHead(h8);
      assert.deepEqual(await store.getChatHead(chatId), h8);

      // A newer event without a body keeps the last message's preview.
      await store.advanceChatHead({ chatId, lastN: 10, lastSeq: 100, lastActivity: T0 + 10 });
      assert.deepEqual(await store.getChatHead(chatId), { ...h8, lastN: 10, lastSeq: 100, lastActivity: T0 + 10 });
      // A message older than the head but newer than the preview, applied late, becomes the preview only.
      await store.advanceChatHead({
        chatId,
        lastN: 9,
        lastSeq: 90,
        lastActivity: T0 + 9,
        preview: "nine",
        previewFrom: "carol",
      });
      assert.deepEqual(await store.getChatHead(chatId), {
        chatId,
        lastN: 10,
        lastSeq: 100,
        lastActivity: T0 + 10,
        preview: "nine",
        previewFrom: "carol",
      });

      const bare = { chatId: id("c"), lastN: 1, lastSeq: 7, lastActivity: T0 };
      await store.advanceChatHead(bare);
      const got = await store.getChatHead(bare.chatId);
      assert.deepEqual(got, bare);
      assert.equal(got !== undefined && "preview" in got, false, "no preview property when never set");
    });

    test(t("eraseMessage: the body is gone for good, the client message index and the preview follow"), async () => {
      const chat = id("c");
      const events = range(1, 4).map((n) => msg(chat, n, n === 2 ? "bob" : "alice"));
      await store.writeAll([{ op: "appendEvents", events }, ...projectionWrites(events)]);
      assert.equal((await store.getChatHead(chat))?.preview, "body 4");
      const erased = erasedMessage(events[3]!, 5);
      await store.writeAll([{ op: "eraseMessage", erased }]);
      const stored = await store.getEvents(chat, { afterN: 0, limit: 10 });
      assert.deepEqual(stored[3], erased);
      assert.equal("body" in stored[3]!, false, "no body");
      assert.deepEqual(stored.slice(0, 3), events.slice(0, 3), "the other messages are untouched");
      const head = await store.getChatHead(chat);
      assert.equal(head?.lastN, 4);
      assert.equal(head?.preview, undefined, "the deleted message was the preview: none now");
      // A redelivered original (history replays a batch) never brings the body back, nor the preview.
      await store.writeAll([{ op: "appendEvents", events }, ...projectionWrites(events)]);
      await store.appendEvents([events[3]!]);
      assert.deepEqual((await store.getEvents(chat, { afterN: 3, limit: 1 }))[0], erased);
      assert.equal((await store.getChatHead(chat))?.preview, undefined);
      // The retry index keeps where the message landed (no content), so a retried send stays a retry.
      assert.deepEqual(await store.findClientMsg(chat, "alice", "c4"), { n: 4, seq: 100_004, ts: T0 + 4 });
      // Idempotent; and a newer message is the preview again.
      await store.eraseMessage(erased);
      const later = msg(chat, 6);
      await store.writeAll([{ op: "appendEvents", events: [later] }, ...projectionWrites([later])]);
      assert.equal((await store.getChatHead(chat))?.preview, "body 6");

      // Erasing a message that is not the preview leaves the preview; one not stored yet is
      // stored erased, and its original arriving late stays out.
      await store.eraseMessage(erasedMessage(events[1]!, 7));
      assert.equal((await store.getChatHead(chat))?.preview, "body 6");
      const other = id("c");
      const early = erasedMessage(msg(other, 2), 3);
      await store.eraseMessage(early);
      await store.appendEvents([msg(other, 1), msg(other, 2)]);
      assert.deepEqual(ns(await store.getEvents(other, { afterN: 0, limit: 10 })), [1, 2]);
      assert.deepEqual((await store.getEvents(other, { afterN: 1, limit: 1 }))[0], early);

      // The deleted message was the newest but its head not projected yet (the gateway erases
      // at once, history projects later): the older preview goes, and the late original's
      // projection does not bring its own back.
      const third = id("c");
      await store.writeAll(projectionWrites([msg(third, 1)]));
      assert.equal((await store.getChatHead(third))?.preview, "body 1");
      await store.eraseMessage(erasedMessage(msg(third, 2), 3));
      assert.equal((await store.getChatHead(third))?.preview, undefined);
      await store.writeAll(projectionWrites([msg(third, 1), msg(third, 2)]));
      assert.equal((await store.getChatHead(third))?.preview, undefined);
      assert.equal((await store.getChatHead(third))?.lastN, 2);
    });

    test(
      t("edits: an edit of the newest message is the preview; erasing it (its message deleted) takes it along"),
      async () => {
        const chat = id("c");
        const edit = (n: number, target: number, latest: boolean): MessageEditedEvent => ({
          kind: "message.edited",
          chat,
          seq: 100_000 + n,
          n,
          ts: T0 + n,
          from: "alice",
          id: `e${n}`,
          target,
          body: `edit ${n}`,
          ...(latest ? { latest: true as const } : {}),
        });
        const events: ChatEvent[] = [msg(chat, 1), msg(chat, 2), edit(3, 2, true)];
        await store.writeAll([{ op: "appendEvents", events }, ...projectionWrites(events)]);
        assert.equal((await store.getChatHead(chat))?.preview, "edit 3", "the edit of the newest message");
        // An edit of an older message is no preview (the gateway leaves `latest` off), nor is its erasure.
        const older = [edit(4, 1, false)];
        await store.writeAll([{ op: "appendEvents", events: older }, ...projectionWrites(older)]);
        assert.equal((await store.getChatHead(chat))?.preview, "edit 3");
        // The client-message index finds an edit by its key (a retry after the dedup window).
        assert.deepEqual(await store.findClientMsg(chat, "alice", editClientKey("e3")), {
          n: 3,
          seq: 100_003,
          ts: T0 + 3,
        });
        assert.equal(await store.findClientMsg(chat, "alice", "e3"), undefined, "not under a message's id");
        await store.eraseMessage(erasedEdit(older[0] as MessageEditedEvent));
        assert.equal((await store.getChatHead(chat))?.preview, "edit 3", "an older message's erased edit leaves it");
        // Message 2 is deleted: it and its edit are erased; the edit's preview goes.
        await store.writeAll([
          { op: "eraseMessage", erased: erasedMessage(msg(chat, 2), 5) },
          { op: "eraseMessage", erased: erasedEdit(events[2] as MessageEditedEvent) },
        ]);
        const stored = await store.getEvents(chat, { afterN: 0, limit: 10 });
        assert.equal(stored.length, 4);
        assert.equal(JSON.stringify(stored).includes("edit 3"), false, "no edit body of the deleted message");
        assert.deepEqual(stored[2], erasedEdit(events[2] as MessageEditedEvent));
        assert.deepEqual(stored[3], erasedEdit(older[0] as MessageEditedEvent));
        assert.equal((await store.getChatHead(chat))?.preview, undefined);
        // A redelivery of the edit never brings its body back.
        await store.writeAll([{ op: "appendEvents", events }, ...projectionWrites(events)]);
        assert.equal(JSON.stringify(await store.getEvents(chat, { afterN: 0, limit: 10 })).includes("edit 3"), false);
        assert.equal((await store.getChatHead(chat))?.preview, undefined);
      },
    );

    test(t("reactions: forward-only by n, in any order; the list holds the active ones"), async () => {
      const chat = id("c");
      const r = (userId: string, emoji: string, n: number, active: boolean) => ({
        chatId: chat,
        target: 2,
        userId,
        emoji,
        n,
        active,
      });
      assert.equal(await store.getReaction(chat, 2, "alice", "👍"), undefined);
      await store.applyReaction(r("alice", "👍", 3, true));
      await store.applyReaction(r("bob", "👍", 4, true));
      await store.applyReaction(r("alice", "👨‍👩‍👧‍👦", 5, true));
      await store.applyReaction(r("alice", "👍", 6, false));
      // Older events applied late (a redelivery) change nothing.
      await store.applyReaction(r("alice", "👍", 3, true));
      await store.writeAll([{ op: "applyReaction", reaction: r("alice", "👍", 3, true) }]);
      assert.deepEqual(await store.getReaction(chat, 2, "alice", "👍"), r("alice", "👍", 6, false));
      assert.deepEqual(await store.listReactions(chat, 2), [r("bob", "👍", 4, true), r("alice", "👨‍👩‍👧‍👦", 5, true)]);
      assert.deepEqual(await store.listReactions(chat, 3), [], "another message's");
      // Projected from the events, as history does.
      const added: ChatEvent = {
        kind: "reaction.added",
        chat,
        seq: 100_007,
        n: 7,
        ts: T0 + 7,
        from: "alice",
        target: 2,
        emoji: "👍",
      };
      await store.writeAll(projectionWrites([added]));
      assert.deepEqual(await store.getReaction(chat, 2, "alice", "👍"), r("alice", "👍", 7, true));
      assert.equal((await store.listReactions(chat, 2)).length, 3);
    });

    test(t("a batch of writes (writeAll) equals the calls one by one"), async () => {
      const chat = id("c");
      const created: ChatEvent = {
        kind: "chat.created",
        chat,
        seq: 100_001,
        n: 1,
        ts: T0 + 1,
        from: "alice",
        chatKind: "group",
        title: "batch",
        members: ["alice", "bob"],
      };
      const added: ChatEvent = {
        kind: "member.added",
        chat,
        seq: 100_003,
        n: 3,
        ts: T0 + 3,
        from: "alice",
        user: "carol",
      };
      const removed: ChatEvent = {
        kind: "member.removed",
        chat,
        seq: 100_005,
        n: 5,
        ts: T0 + 5,
        from: "alice",
        user: "bob",
      };
      const events = [created, msg(chat, 2, "bob", "w2"), added, msg(chat, 4), removed];
      await store.writeAll([{ op: "appendEvents", events }, ...projectionWrites(events)]);
      // Applied twice (a redelivered batch): nothing changes.
      await store.writeAll([{ op: "appendEvents", events }, ...projectionWrites(events)]);
      assert.deepEqual(await store.getEvents(chat, { afterN: 0, limit: 10 }), events);
      assert.equal((await store.getChat(chat))?.title, "batch");
      assert.deepEqual((await store.listMembers(chat)).map((m) => m.userId).sort(), ["alice", "carol"]);
      assert.equal((await store.getMember(chat, "bob"))?.active, false);
      assert.equal((await store.findClientMsg(chat, "bob", "w2"))?.n, 2);
      assert.equal((await store.getChatHead(chat))?.lastN, 5);
      // Read marks in a batch move forward only, like the calls one by one.
      await store.writeAll([
        { op: "advanceReadState", state: { chatId: chat, userId: "alice", deliveredN: 4, readN: 2 } },
        { op: "advanceReadState", state: { chatId: chat, userId: "alice", deliveredN: 3, readN: 4 } },
        { op: "advanceReadState", state: { chatId: chat, userId: "carol", deliveredN: 5, readN: 5 } },
      ]);
      assert.deepEqual(await store.getReadState(chat, "alice"), {
        chatId: chat,
        userId: "alice",
        deliveredN: 4,
        readN: 4,
      });
      assert.deepEqual(await store.getReadState(chat, "carol"), {
        chatId: chat,
        userId: "carol",
        deliveredN: 5,
        readN: 5,
      });
      await store.writeAll([]);
    });

    test(t("getChatHeads returns the known heads in request order"), async () => {
      const ids = [id("c"), id("c"), id("c")];
      for (const [i, chatId] of ids.entries()) {
        await store.advanceChatHead({ chatId, lastN: i + 1, lastSeq: 10 * (i + 1), lastActivity: T0 + i });
      }
      const heads = await store.getChatHeads([ids[2]!, id("missing"), ids[0]!, ids[1]!]);
      assert.deepEqual(
        heads.map((h) => [h.chatId, h.lastN, h.lastSeq]),
        [
          [ids[2], 3, 30],
          [ids[0], 1, 10],
          [ids[1], 2, 20],
        ],
      );
      assert.deepEqual(await store.getChatHeads([]), []);
      assert.deepEqual(await store.getChatHeads([id("missing")]), []);
    });

    test(t("read state moves each pointer forward independently"), async () => {
      const chatId = id("c");
      const [bob, alice] = [id("bob"), id("alice")].sort().reverse() as [string, string];
      assert.equal(await store.getReadState(chatId, alice), undefined);
      await store.advanceReadState({ chatId, userId: alice, deliveredN: 5, readN: 3 });
      assert.deepEqual(await store.getReadState(chatId, alice), { chatId, userId: alice, deliveredN: 5, readN: 3 });
      await store.advanceReadState({ chatId, userId: alice, deliveredN: 4, readN: 6 });
      assert.deepEqual(await store.getReadState(chatId, alice), { chatId, userId: alice, deliveredN: 5, readN: 6 });
      await store.advanceReadState({ chatId, userId: alice, deliveredN: 9, readN: 1 });
      assert.deepEqual(await store.getReadState(chatId, alice), { chatId, userId: alice, deliveredN: 9, readN: 6 });
      await store.advanceReadState({ chatId, userId: alice, deliveredN: 0, readN: 0 });
      assert.deepEqual(await store.getReadState(chatId, alice), { chatId, userId: alice, deliveredN: 9, readN: 6 });

      await store.advanceReadState({ chatId, userId: bob, deliveredN: 2, readN: 2 });
      await store.advanceReadState({ chatId: id("c"), userId: alice, deliveredN: 100, readN: 100 });
      const states = (await store.listReadStates(chatId)).sort((a, b) => (a.userId < b.userId ? -1 : 1));
      assert.deepEqual(
        states,
        [
          { chatId, userId: alice, deliveredN: 9, readN: 6 },
          { chatId, userId: bob, deliveredN: 2, readN: 2 },
        ].sort((a, b) => (a.userId < b.userId ? -1 : 1)),
      );
      assert.deepEqual(await store.listReadStates(id("c")), []);
    });

    test(t("countUnread counts messages from others after the pointer, up to the cap"), async () => {
      const chatId = id("c");
      const [me, other] = [id("me"), id("other")];
      assert.deepEqual(await store.countUnread(chatId, me, 0, 1000), { count: 0, storedN: 0 });
      // 1..31: every third from me.
      const events: ChatEvent[] = range(1, 31).map((n) => msg(chatId, n, n % 3 === 0 ? me : other));
      await store.appendEvents(events);
      assert.deepEqual(await store.countUnread(chatId, me, 0, 1000), { count: 21, storedN: 31 });
      assert.deepEqual(await store.countUnread(chatId, me, 27, 1000), { count: 3, storedN: 31 }, "28, 29, 31");
      assert.deepEqual(await store.countUnread(chatId, me, 31, 1000), { count: 0, storedN: 31 });
      assert.deepEqual(await store.countUnread(chatId, me, 40, 1000), { count: 0, storedN: 31 });
      assert.deepEqual(await store.countUnread(chatId, me, 0, 5), { count: 5, storedN: 31 }, "capped");
      assert.deepEqual(await store.countUnread(chatId, other, 0, 1000), { count: 10, storedN: 31 });

      // Only messages are unread: not the chat's creation, nor member events, by whomever.
      const group = id("g");
      await store.appendEvents([
        {
          kind: "chat.created",
          chat: group,
          seq: 200_001,
          n: 1,
          ts: T0,
          from: other,
          chatKind: "group",
          members: [other, me],
        },
        { kind: "member.added", chat: group, seq: 200_002, n: 2, ts: T0 + 2, from: other, user: id("x") },
        { kind: "member.removed", chat: group, seq: 200_003, n: 3, ts: T0 + 3, from: other, user: id("x") },
        msg(group, 4, other),
      ]);
      assert.deepEqual(await store.countUnread(group, me, 0, 1000), { count: 1, storedN: 4 });
    });

    test(t("chat requests: a row per (user, chat), rewritten on each change, listed by user and by chat"), async () => {
      const me = id("me");
      const other = id("u");
      const [c1, c2] = [id("c"), id("c")];
      assert.equal(await store.getChatRequest(me, c1), undefined, "no row: never a request");
      const pending = { userId: me, chatId: c1, from: other, at: T0, state: "pending" as const };
      await store.putChatRequest(pending);
      await store.putChatRequest(pending);
      assert.deepEqual(await store.getChatRequest(me, c1), pending, "idempotent");
      await store.putChatRequest({ ...pending, state: "accepted" });
      assert.equal((await store.getChatRequest(me, c1))?.state, "accepted", "the last write wins");
      await store.putChatRequest({ ...pending, chatId: c2, state: "declined", at: T0 + 5 });
      await store.putChatRequest({ userId: other, chatId: c1, from: me, at: T0 + 7, state: "pending" });
      const mine = (await store.listChatRequests(me)).sort((a, b) => (a.chatId < b.chatId ? -1 : 1));
      assert.deepEqual(
        mine,
        [
          { ...pending, state: "accepted" },
          { ...pending, chatId: c2, state: "declined", at: T0 + 5 },
        ].sort((a, b) => (a.chatId < b.chatId ? -1 : 1)),
      );
      const ofChat = (await store.listChatRequestsOfChat(c1)).map((r) => [r.userId, r.state]).sort();
      assert.deepEqual(
        ofChat,
        [
          [me, "accepted"],
          [other, "pending"],
        ].sort(),
      );
      assert.deepEqual(await store.listChatRequests(id("nobody")), []);
      assert.deepEqual(await store.listChatRequestsOfChat(id("nochat")), []);
    });

    test(t("blocks: a state per (user, blocked user), listed both ways, unblock keeps the row"), async () => {
      const me = id("me");
      const [a, b] = [id("a"), id("b")];
      assert.equal(await store.getBlock(me, a), undefined);
      await store.putBlock({ userId: me, blockedId: a, blocked: true, at: T0 });
      await store.putBlock({ userId: me, blockedId: b, blocked: true, at: T0 + 1 });
      await store.putBlock({ userId: b, blockedId: me, blocked: true, at: T0 + 2 });
      assert.deepEqual(await store.getBlock(me, a), { userId: me, blockedId: a, blocked: true, at: T0 });
      assert.deepEqual((await store.listBlocked(me)).map((x) => x.blockedId).sort(), [a, b].sort());
      assert.deepEqual(
        (await store.listBlockedBy(me)).map((x) => x.userId),
        [b],
      );
      await store.putBlock({ userId: me, blockedId: a, blocked: false, at: T0 + 3 });
      assert.deepEqual(await store.getBlock(me, a), { userId: me, blockedId: a, blocked: false, at: T0 + 3 });
      assert.deepEqual(
        (await store.listBlocked(me)).map((x) => x.blockedId),
        [b],
        "an unblocked user is not listed",
      );
      assert.deepEqual(await store.listBlockedBy(a), [], "nor listed as blocked by me");
      await store.putBlock({ userId: me, blockedId: a, blocked: true, at: T0 + 4 });
      assert.deepEqual(
        (await store.listBlockedBy(a)).map((x) => x.userId),
        [me],
        "blocked again",
      );
    });

    test(t("push subscriptions: per user, replaced by id, deleted (a repeat is no error)"), async () => {
      const me = id("me");
      const sub = (subscriptionId: string, deviceId: string, endpoint: string) => ({
        userId: me,
        subscriptionId,
        deviceId,
        endpoint,
        p256dh: `key-${subscriptionId}`,
        auth: `auth-${subscriptionId}`,
        createdAt: T0,
      });
      assert.deepEqual(await store.listPushSubscriptions(me), []);
      await store.putPushSubscription(sub("s1", "d1", "https://push.example/1"));
      await store.putPushSubscription(sub("s2", "d2", "https://push.example/2"));
      await store.putPushSubscription(sub("s1", "d1", "https://push.example/1b"));
      await store.putPushSubscription({ ...sub("s9", "d9", "https://push.example/9"), userId: id("other") });
      const listed = (await store.listPushSubscriptions(me)).sort((a, b) =>
        a.subscriptionId.localeCompare(b.subscriptionId),
      );
      assert.deepEqual(listed, [sub("s1", "d1", "https://push.example/1b"), sub("s2", "d2", "https://push.example/2")]);
      await store.deletePushSubscription(me, "s1");
      await store.deletePushSubscription(me, "s1");
      assert.deepEqual(
        (await store.listPushSubscriptions(me)).map((s) => s.subscriptionId),
        ["s2"],
      );
    });

    test(t("chat settings: muted until a time, for good, or not; last write wins"), async () => {
      const [me, chatId] = [id("me"), id("c")];
      assert.equal(await store.getChatSettings(chatId, me), undefined);
      await store.putChatSettings({ chatId, userId: me, mutedUntil: MUTED_FOREVER });
      assert.deepEqual(await store.getChatSettings(chatId, me), { chatId, userId: me, mutedUntil: MUTED_FOREVER });
      assert.equal(await store.getChatSettings(chatId, id("other")), undefined, "per user");
      await store.putChatSettings({ chatId, userId: me, mutedUntil: T0 });
      assert.deepEqual(await store.getChatSettings(chatId, me), { chatId, userId: me, mutedUntil: T0 });
      await store.putChatSettings({ chatId, userId: me, mutedUntil: 0 });
      assert.deepEqual(await store.getChatSettings(chatId, me), { chatId, userId: me, mutedUntil: 0 });
    });

    test(t("countUnread spans a bucket boundary"), async () => {
      const chatId = id("c");
      const me = id("me");
      await store.appendEvents(range(9_995, 10_010).map((n) => msg(chatId, n, n === 10_001 ? me : "bob")));
      assert.deepEqual(await store.countUnread(chatId, me, 9_996, 1000), { count: 13, storedN: 10_010 });
      assert.deepEqual(await store.countUnread(chatId, me, 10_005, 1000), { count: 5, storedN: 10_010 });
    });
  });
}
