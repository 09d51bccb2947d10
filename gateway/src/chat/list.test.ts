// The chat list and a chat's view over HTTP (a gateway on a real nats-server, SQLite): who
// the people are (names, not only ids) and what counts as unread.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { projectEvents } from "@natter/store";
import { injectJson, injectSignup, type Method, natsSuite } from "@natter/testkit";
import { startTestGateway, type TestGateway } from "../testing.ts";

let t: TestGateway;
natsSuite({ setup: async ({ server }) => (t = await startTestGateway(server.url)) }).beforeStop(() => t?.close());

const req = (method: Method, url: string, body?: unknown, token?: string) =>
  injectJson(t.gw.app, method, url, body, token);
const signup = (handle: string, displayName: string) => injectSignup(t.gw.app, handle, { displayName });

async function send(token: string, chatId: string, id: string): Promise<{ seq: number; n: number; ts: number }> {
  const r = await req("POST", `/v1/chats/${chatId}/messages`, { id, body: `message ${id}` }, token);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function listed(token: string, chatId: string) {
  const r = await req("GET", "/v1/chats", undefined, token);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return (r.body.chats as Record<string, unknown>[]).find((c) => c.chatId === chatId);
}

describe("chat list", () => {
  test("chat list - a direct chat names its peer and a chat's members have names, for the user who did not start it", async () => {
    const ana = await signup("names_ana", "Ana Alves");
    const ben = await signup("names_ben", "Ben Brandt");
    const dm = await req("POST", "/v1/chats", { kind: "direct", userId: ben.userId }, ana.token);
    assert.equal(dm.status, 201, JSON.stringify(dm.body));

    const benItem = await listed(ben.token, dm.body.chatId);
    assert.equal(benItem?.peer, ana.userId);
    assert.equal(benItem?.peerHandle, "names_ana");
    assert.equal(benItem?.peerDisplayName, "Ana Alves");
    const anaItem = await listed(ana.token, dm.body.chatId);
    assert.equal(anaItem?.peerHandle, "names_ben");
    assert.equal(anaItem?.peerDisplayName, "Ben Brandt");

    const cara = await signup("names_cara", "Cara Costa");
    const group = await req("POST", "/v1/chats", { kind: "group", title: "Names", members: [ben.userId] }, ana.token);
    assert.equal(
      (await req("POST", `/v1/chats/${group.body.chatId}/members`, { userId: cara.userId }, ana.token)).status,
      200,
    );
    const groupItem = await listed(ben.token, group.body.chatId);
    assert.equal(groupItem?.peer, undefined, "a group has no peer");
    assert.equal(groupItem?.peerHandle, undefined);

    const view = await req("GET", `/v1/chats/${group.body.chatId}`, undefined, cara.token);
    assert.equal(view.status, 200, JSON.stringify(view.body));
    assert.deepEqual(
      (view.body.members as { userId: string; handle: string; displayName: string; role: string }[])
        .map((m) => [m.userId, m.handle, m.displayName, m.role])
        .sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
      [
        [ana.userId, "names_ana", "Ana Alves", "admin"],
        [ben.userId, "names_ben", "Ben Brandt", "member"],
        [cara.userId, "names_cara", "Cara Costa", "member"],
      ].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    );
  });

  test("chat list - unread counts messages from others only: not the chat's creation, member events or my own messages", async () => {
    const dan = await signup("unread_dan", "Dan");
    const eve = await signup("unread_eve", "Eve");
    const fay = await signup("unread_fay", "Fay");

    // A new direct chat and three messages: 3 (chat.created is not unread).
    const dm = await req("POST", "/v1/chats", { kind: "direct", userId: eve.userId }, dan.token);
    for (const id of ["d1", "d2", "d3"]) await send(dan.token, dm.body.chatId, id);
    assert.equal((await listed(eve.token, dm.body.chatId))?.unread, 3);

    // A group: its creation and someone else adding and removing a member are not unread.
    const group = await req("POST", "/v1/chats", { kind: "group", title: "Unread", members: [eve.userId] }, dan.token);
    assert.equal(
      (await req("POST", `/v1/chats/${group.body.chatId}/members`, { userId: fay.userId }, dan.token)).status,
      200,
    );
    assert.equal((await listed(eve.token, group.body.chatId))?.unread, 0);
    await send(dan.token, group.body.chatId, "g1");
    assert.equal(
      (await req("DELETE", `/v1/chats/${group.body.chatId}/members/${fay.userId}`, undefined, dan.token)).status,
      200,
    );
    assert.equal((await listed(eve.token, group.body.chatId))?.unread, 1);
    assert.equal((await listed(dan.token, group.body.chatId))?.unread, 0, "my own message is not unread");

    // Replying reads the chat up to the reply: history stores the pointer with the message
    // (`projectionWrites`), played here since no consumer runs in this test.
    const reply = await send(eve.token, dm.body.chatId, "e1");
    await projectEvents(t.store, [
      { chat: dm.body.chatId, ...reply, from: eve.userId, kind: "message.created", id: "e1", body: "message e1" },
    ]);
    let unread: unknown;
    for (let i = 0; i < 100 && unread !== 0; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 20));
      unread = (await listed(eve.token, dm.body.chatId))?.unread;
    }
    assert.equal(unread, 0);
    assert.equal((await listed(dan.token, dm.body.chatId))?.unread, 1);
  });
});
