// The authorization matrix (issue 14 item 5): every HTTP route of the OpenAPI document and
// every client frame type of @natter/protocol, asked by every role (harness.ts `ROLES`), each
// answer compared with the one docs/protocol.md gives. One table each (HTTP_ROWS, WS_ROWS):
// a route or frame type the table does not cover fails the coverage tests, and every row
// names every role (`Record<Role, Cell>`), so nothing new can be left out. Each row runs in a
// world of its own (fresh people and chats), so a removal or a logout changes no other row.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CLIENT_FRAME_TYPES, CLOSE_CODES, type ServerFrame } from "@natter/protocol";
import { fakeSubscriptionKeys, WsClient } from "@natter/testkit";
import { newId } from "../ids.ts";
import { operationsOf, routeKey } from "../openapi-requests.ts";
import {
  buildWorld,
  call,
  PASSWORD,
  type Person,
  ROLES,
  type Role,
  type Scene,
  type SecurityEnv,
  startSecurityEnv,
  type World,
} from "./harness.ts";

/** An expected outcome: "404 not_found", "201", "200 hidden", "error forbidden", "sent", "close 4001". */
type Cell = string;

/** Every role gets `cell`, the anonymous caller 401 (a route behind a bearer token). */
const anyUser = (cell: Cell): Record<Role, Cell> => ({
  ...(Object.fromEntries(ROLES.map((r) => [r, cell])) as Record<Role, Cell>),
  anonymous: "401 unauthorized",
});
/** A public route: the same answer whoever asks. */
const anyone = (cell: Cell): Record<Role, Cell> =>
  Object.fromEntries(ROLES.map((r) => [r, cell])) as Record<Role, Cell>;

/**
 * The rule every chat route shares (docs/protocol.md, "Decisions"): a stranger gets 404 as
 * for a chat that does not exist (the operator too: operating the service is not reading
 * chats), a former member 403, members `ok`.
 */
const chatRoute = (ok: string, cells: Partial<Record<Role, Cell>> = {}): Record<Role, Cell> => ({
  anonymous: "401 unauthorized",
  outsider: "404 not_found",
  member: ok,
  nonAdmin: ok,
  admin: ok,
  removed: "403 forbidden",
  requester: ok,
  requested: ok,
  blocked: ok,
  operator: "404 not_found",
  ...cells,
});

interface HttpRequest {
  method?: string;
  url: string;
  token?: string | undefined;
  payload?: unknown;
  /** Extra headers (a raw upload's `Content-Type`). */
  headers?: Record<string, string>;
}

interface HttpRow {
  /** "METHOD /path/{param}" as in the OpenAPI document. */
  route: string;
  what: string;
  request(w: World, s: Scene, env: SecurityEnv): HttpRequest | Promise<HttpRequest>;
  /** For a 2xx answer, a word about its body that the cell names too ("visible", "listed"). */
  observe?(body: Record<string, unknown>, s: Scene): string;
  expect: Record<Role, Cell>;
}

/** The caller's token (none for the anonymous role). */
const tok = (s: Scene) => s.actor?.token;
/** Someone acting as the role, or, for the anonymous role, the peer's identity where one is needed in a body. */
const self = (s: Scene): Person => s.actor ?? s.peer;

let signups = 0;

const HTTP_ROWS: HttpRow[] = [
  // ---------------------------------------------------------------- operations and the web client
  { route: "GET /healthz", what: "liveness", request: () => ({ url: "/healthz" }), expect: anyone("200") },
  { route: "GET /readyz", what: "readiness", request: () => ({ url: "/readyz" }), expect: anyone("200") },
  { route: "GET /metrics", what: "metrics", request: () => ({ url: "/metrics" }), expect: anyone("200") },
  { route: "GET /", what: "the web client", request: () => ({ url: "/" }), expect: anyone("200") },
  {
    route: "GET /assets/{file}",
    what: "the web client's files",
    request: () => ({ url: "/assets/app.0123abcd.js" }),
    expect: anyone("200"),
  },
  // ---------------------------------------------------------------- accounts and sessions
  {
    route: "POST /v1/auth/signup",
    what: "sign up (a token, if any, changes nothing)",
    request: (_w, s) => ({
      url: "/v1/auth/signup",
      token: tok(s),
      payload: { handle: `signup${++signups}`, displayName: "x", password: PASSWORD },
    }),
    expect: anyone("201"),
  },
  {
    route: "POST /v1/auth/login",
    what: "log in as oneself",
    request: (_w, s) => ({ url: "/v1/auth/login", payload: { handle: self(s).handle, password: PASSWORD } }),
    expect: anyone("200"),
  },
  {
    route: "POST /v1/auth/logout",
    what: "log out",
    request: (_w, s) => ({ url: "/v1/auth/logout", token: tok(s) }),
    expect: anyUser("204"),
  },
  {
    route: "POST /v1/auth/logout-others",
    what: "log out my other devices",
    request: (_w, s) => ({ url: "/v1/auth/logout-others", token: tok(s) }),
    expect: anyUser("200"),
  },
  {
    route: "POST /v1/auth/password",
    what: "change my password",
    request: (_w, s) => ({
      url: "/v1/auth/password",
      token: tok(s),
      payload: { password: PASSWORD, newPassword: PASSWORD },
    }),
    expect: anyUser("200"),
  },
  {
    route: "GET /v1/me",
    what: "who am I",
    request: (_w, s) => ({ url: "/v1/me", token: tok(s) }),
    expect: anyUser("200"),
  },
  {
    route: "GET /v1/users",
    what: "find the peer by handle",
    request: (_w, s) => ({ url: `/v1/users?handle=${s.peer.handle}`, token: tok(s) }),
    expect: anyUser("200"),
  },
  {
    route: "GET /v1/users/{userId}",
    what: "the peer's public profile",
    request: (_w, s) => ({ url: `/v1/users/${s.peer.userId}`, token: tok(s) }),
    expect: anyUser("200"),
  },
  // ---------------------------------------------------------------- chats
  {
    route: "POST /v1/chats",
    what: "open the direct chat with the peer",
    request: (_w, s) => ({ url: "/v1/chats", token: tok(s), payload: { kind: "direct", userId: s.peer.userId } }),
    // Theirs exists already: the same chat, 200 (for the one asked, opening it accepts).
    expect: { ...anyUser("201"), member: "200", requester: "200", requested: "200", blocked: "200" },
  },
  {
    route: "POST /v1/chats",
    what: "a group with the peer",
    request: (_w, s) => ({
      url: "/v1/chats",
      token: tok(s),
      payload: { kind: "group", title: "g", members: [s.peer.userId] },
    }),
    // Nobody is put in a group with someone who blocks them.
    expect: { ...anyUser("201"), blocked: "403 forbidden" },
  },
  {
    route: "GET /v1/chats",
    what: "my chat list names the chat",
    request: (_w, s) => ({ url: "/v1/chats?limit=200", token: tok(s) }),
    observe: (b, s) => ((b.chats as { chatId: string }[]).some((c) => c.chatId === s.chat) ? "listed" : "unlisted"),
    // A removed member's chat leaves their list; a stranger's was never in it.
    expect: { ...chatRoute("200 listed"), outsider: "200 unlisted", removed: "200 unlisted", operator: "200 unlisted" },
  },
  {
    route: "GET /v1/chats/{chatId}",
    what: "the chat and its members",
    request: (_w, s) => ({ url: `/v1/chats/${s.chat}`, token: tok(s) }),
    expect: chatRoute("200"),
  },
  {
    route: "POST /v1/chats/{chatId}/members",
    what: "add someone (admins of groups only)",
    request: async (w, s) => ({
      url: `/v1/chats/${s.chat}/members`,
      token: tok(s),
      payload: { userId: (await w.person()).userId },
    }),
    expect: chatRoute("400 invalid_input", { nonAdmin: "403 forbidden", admin: "200" }),
  },
  {
    route: "DELETE /v1/chats/{chatId}/members/{userId}",
    what: "remove another member (admins of groups only)",
    request: (_w, s) => ({ method: "DELETE", url: `/v1/chats/${s.chat}/members/${s.peer.userId}`, token: tok(s) }),
    expect: chatRoute("400 invalid_input", { nonAdmin: "403 forbidden", admin: "200" }),
  },
  {
    route: "DELETE /v1/chats/{chatId}/members/{userId}",
    what: "leave",
    request: (_w, s) => ({ method: "DELETE", url: `/v1/chats/${s.chat}/members/${self(s).userId}`, token: tok(s) }),
    // The sole admin may not leave a group with others in it.
    expect: chatRoute("400 invalid_input", { nonAdmin: "200", admin: "409 last_admin" }),
  },
  {
    route: "GET /v1/chats/{chatId}/receipts",
    what: "the members' pointers",
    request: (_w, s) => ({ url: `/v1/chats/${s.chat}/receipts`, token: tok(s) }),
    expect: chatRoute("200"),
  },
  {
    route: "GET /v1/chats/{chatId}/messages",
    what: "history (a removed member's ends at the removal)",
    request: (_w, s) => ({ url: `/v1/chats/${s.chat}/messages?limit=100`, token: tok(s) }),
    observe: (b, s) => lastN(b.events as { n: number }[], s),
    expect: chatRoute("200 to the head", { removed: "200 to the removal" }),
  },
  {
    route: "POST /v1/chats/{chatId}/messages",
    what: "send",
    request: (_w, s) => ({
      url: `/v1/chats/${s.chat}/messages`,
      token: tok(s),
      payload: { id: newId("m"), body: "hello" },
    }),
    expect: chatRoute("201", { blocked: "403 forbidden" }),
  },
  {
    route: "DELETE /v1/chats/{chatId}/messages/{n}",
    // Each scene's head is a message: the extra member's in the group, the admin's in the
    // direct chat, the requester's and the blocked user's own in theirs.
    what: "delete the chat's last message (its author, or a group admin; the author also in a blocked chat)",
    request: (_w, s) => ({ method: "DELETE", url: `/v1/chats/${s.chat}/messages/${s.head}`, token: tok(s) }),
    expect: chatRoute("403 forbidden", { admin: "200", requester: "200", blocked: "200" }),
  },
  {
    route: "PATCH /v1/chats/{chatId}/messages/{n}",
    // The head's author only (as for the delete above, less the admin), and not in a blocked chat.
    what: "edit the chat's last message (its author only; refused in a blocked chat)",
    request: (_w, s) => ({
      method: "PATCH",
      url: `/v1/chats/${s.chat}/messages/${s.head}`,
      token: tok(s),
      payload: { id: newId("e"), body: "edited" },
    }),
    expect: chatRoute("403 forbidden", { requester: "201" }),
  },
  {
    route: "POST /v1/chats/{chatId}/attachments",
    // Members only, as for any chat route; a block or an unanswered request stops sends, not uploads
    // (a send that takes the file is refused then).
    what: "upload a file into the chat",
    request: (_w, s) => ({
      url: `/v1/chats/${s.chat}/attachments?name=notes.txt`,
      token: tok(s),
      payload: "hello",
      headers: { "content-type": "text/plain" },
    }),
    expect: chatRoute("201"),
  },
  {
    route: "GET /v1/attachments/{attachmentId}",
    // The chat the file was uploaded into decides: its active members read it (G3).
    what: "read a file a member (the peer) uploaded into the chat",
    request: async (_w, s, env) => {
      const up = await call(env.http, "POST", `/v1/chats/${s.chat}/attachments?name=p.txt`, s.peer.token, "hi", {
        "content-type": "text/plain",
      });
      assert.equal(up.status, 201, JSON.stringify(up.body));
      return { url: `/v1/attachments/${up.body.attachmentId as string}`, token: tok(s) };
    },
    expect: chatRoute("200"),
  },
  {
    route: "PUT /v1/chats/{chatId}/messages/{n}/reactions/{emoji}",
    what: "react to the chat's last message (any member; not in a blocked chat)",
    request: (_w, s) => ({
      method: "PUT",
      url: `/v1/chats/${s.chat}/messages/${s.head}/reactions/${encodeURIComponent("👍")}`,
      token: tok(s),
    }),
    expect: chatRoute("200", { blocked: "403 forbidden" }),
  },
  {
    route: "DELETE /v1/chats/{chatId}/messages/{n}/reactions/{emoji}",
    what: "take back a reaction to the chat's last message (nothing to take back: n 0)",
    request: (_w, s) => ({
      method: "DELETE",
      url: `/v1/chats/${s.chat}/messages/${s.head}/reactions/${encodeURIComponent("👍")}`,
      token: tok(s),
    }),
    expect: chatRoute("200", { blocked: "403 forbidden" }),
  },
  {
    route: "PUT /v1/chats/{chatId}/settings",
    // Mute is the member's own setting: any member, even in a blocked chat; not a stranger's.
    what: "mute the chat for good",
    request: (_w, s) => ({
      method: "PUT",
      url: `/v1/chats/${s.chat}/settings`,
      token: tok(s),
      payload: { muted: true },
    }),
    expect: chatRoute("200"),
  },
  // ---------------------------------------------------------------- push (v1.1)
  {
    route: "GET /v1/push/vapid",
    what: "the deployment's VAPID public key",
    request: () => ({ url: "/v1/push/vapid" }),
    expect: anyone("200"),
  },
  {
    route: "POST /v1/push/subscriptions",
    what: "subscribe my browser (bound to my device session)",
    request: (_w, s) => ({
      url: "/v1/push/subscriptions",
      token: tok(s),
      payload: { endpoint: `https://push.example/send/${newId("s")}`, keys: fakeSubscriptionKeys() },
    }),
    expect: anyUser("201"),
  },
  {
    route: "DELETE /v1/push/subscriptions/{subscriptionId}",
    // The id is looked up among the caller's own rows only: someone else's id deletes nothing of theirs.
    what: "unsubscribe the peer's browser (nothing of the peer's changes: the caller has no such row)",
    request: async (_w, s, env) => {
      const sub = await call(env.http, "POST", "/v1/push/subscriptions", s.peer.token, {
        endpoint: `https://push.example/send/${newId("s")}`,
        keys: fakeSubscriptionKeys(),
      });
      assert.equal(sub.status, 201, JSON.stringify(sub.body));
      return { method: "DELETE", url: `/v1/push/subscriptions/${sub.body.subscriptionId as string}`, token: tok(s) };
    },
    expect: anyUser("204"),
  },
  // ---------------------------------------------------------------- message requests and blocks
  {
    route: "POST /v1/chats/{chatId}/accept",
    what: "accept (nothing for a chat already accepted)",
    request: (_w, s) => ({ url: `/v1/chats/${s.chat}/accept`, token: tok(s) }),
    expect: chatRoute("204"),
  },
  {
    route: "POST /v1/chats/{chatId}/decline",
    what: "decline (only a message request)",
    request: (_w, s) => ({ url: `/v1/chats/${s.chat}/decline`, token: tok(s) }),
    expect: chatRoute("409 conflict", { requested: "204" }),
  },
  {
    route: "POST /v1/users/{userId}/block",
    what: "block the peer",
    request: (_w, s) => ({ url: `/v1/users/${s.peer.userId}/block`, token: tok(s) }),
    expect: anyUser("204"),
  },
  {
    route: "DELETE /v1/users/{userId}/block",
    what: "unblock the peer (nothing if not blocked)",
    request: (_w, s) => ({ method: "DELETE", url: `/v1/users/${s.peer.userId}/block`, token: tok(s) }),
    expect: anyUser("204"),
  },
  {
    route: "GET /v1/blocks",
    what: "the users I block (the one asked blocked the blocked user)",
    request: (_w, s) => ({ url: "/v1/blocks", token: tok(s) }),
    observe: (b) => `${(b.users as unknown[]).length} blocked`,
    expect: { ...anyUser("200 0 blocked"), requested: "200 1 blocked" },
  },
  // ---------------------------------------------------------------- presence
  {
    route: "GET /v1/presence",
    what: "the peer's presence (only between accepted contacts)",
    request: (_w, s) => ({ url: `/v1/presence?users=${s.peer.userId}`, token: tok(s) }),
    observe: (b, s) =>
      (b.presence as { userId: string }[]).some((p) => p.userId === s.peer.userId) ? "visible" : "hidden",
    expect: {
      ...chatRoute("200 visible"),
      outsider: "200 hidden",
      removed: "200 hidden",
      operator: "200 hidden",
      // Presence only between accepted contacts: not while a request is unanswered, never across a block.
      requester: "200 hidden",
      requested: "200 hidden",
      blocked: "200 hidden",
    },
  },
  // ---------------------------------------------------------------- operators
  {
    route: "POST /v1/admin/users/{userId}/revoke-sessions",
    what: "revoke the peer's sessions (operators only)",
    request: (_w, s) => ({ url: `/v1/admin/users/${s.peer.userId}/revoke-sessions`, token: tok(s) }),
    expect: { ...anyUser("403 forbidden"), operator: "200" },
  },
  {
    route: "GET /v1/admin/users",
    what: "find the peer by handle prefix (operators only)",
    request: (_w, s) => ({ url: `/v1/admin/users?handle=${s.peer.handle}`, token: tok(s) }),
    observe: (b, s) => ((b.users as { userId: string }[]).some((u) => u.userId === s.peer.userId) ? "found" : "missed"),
    expect: { ...anyUser("403 forbidden"), operator: "200 found" },
  },
  {
    route: "GET /v1/admin/users/{userId}",
    what: "the peer by id (operators only)",
    request: (_w, s) => ({ url: `/v1/admin/users/${s.peer.userId}`, token: tok(s) }),
    expect: { ...anyUser("403 forbidden"), operator: "200" },
  },
  {
    route: "POST /v1/admin/users/{userId}/disable",
    what: "disable the peer's account (operators only)",
    request: (_w, s) => ({ url: `/v1/admin/users/${s.peer.userId}/disable`, token: tok(s) }),
    expect: { ...anyUser("403 forbidden"), operator: "200" },
  },
  {
    route: "POST /v1/admin/users/{userId}/disable",
    what: "disable one's own account (refused to operators too)",
    request: (_w, s) => ({ url: `/v1/admin/users/${self(s).userId}/disable`, token: tok(s) }),
    expect: { ...anyUser("403 forbidden"), operator: "400 invalid_input" },
  },
  {
    route: "POST /v1/admin/users/{userId}/enable",
    what: "enable the peer's account (operators only)",
    request: (_w, s) => ({ url: `/v1/admin/users/${s.peer.userId}/enable`, token: tok(s) }),
    expect: { ...anyUser("403 forbidden"), operator: "200" },
  },
  {
    route: "GET /v1/admin/users/{userId}/sessions",
    what: "the peer's device sessions (operators only)",
    request: (_w, s) => ({ url: `/v1/admin/users/${s.peer.userId}/sessions`, token: tok(s) }),
    expect: { ...anyUser("403 forbidden"), operator: "200" },
  },
  {
    route: "DELETE /v1/admin/chats/{chatId}/members/{userId}",
    what: "remove the peer from the role's chat (operators only, groups only)",
    request: (_w, s) => ({
      method: "DELETE",
      url: `/v1/admin/chats/${s.chat}/members/${s.peer.userId}`,
      token: tok(s),
    }),
    // The operator's scene is the group with the extra member as its peer: removed, by an operator who is no member.
    expect: { ...anyUser("403 forbidden"), operator: "200" },
  },
  {
    route: "DELETE /v1/admin/chats/{chatId}/messages/{n}",
    what: "delete the role's chat's last message for everyone (operators only)",
    request: (_w, s) => ({ method: "DELETE", url: `/v1/admin/chats/${s.chat}/messages/${s.head}`, token: tok(s) }),
    expect: { ...anyUser("403 forbidden"), operator: "200" },
  },
  {
    route: "GET /v1/admin/streams",
    what: "stream state and consumer lag (operators only)",
    request: (_w, s) => ({ url: "/v1/admin/streams", token: tok(s) }),
    expect: { ...anyUser("403 forbidden"), operator: "200" },
  },
];

/** Where a page of history ends, in the words of the table. */
function lastN(events: { n: number }[], s: Scene): string {
  const n = Math.max(0, ...events.map((e) => e.n));
  if (n === s.lastReadable && n !== s.head) return "to the removal";
  return n === s.head ? "to the head" : `to ${n}`;
}

// ------------------------------------------------------------------ WebSocket frames

/** Sockets of a world, opened for one row: the actor's and an observer's (the peer's). */
interface Sockets {
  actor: WsClient;
  peer: WsClient;
}

interface WsRow {
  /** A type of CLIENT_FRAME_TYPES. */
  type: (typeof CLIENT_FRAME_TYPES)[number];
  what: string;
  /** The frame the actor sends, and how its outcome reads ("sent", "error not_found", "close 4001"). */
  run(s: Scene, io: Sockets, env: SecurityEnv): Promise<string>;
  expect: Record<Role, Cell>;
}

/** The frame a socket got answering `ref`: an error, or what `pick` finds; "close <code>" if it closed first. */
async function answer(c: WsClient, ref: string, pick: (f: ServerFrame) => boolean, what: string): Promise<string> {
  const match = (f: ServerFrame) => (f.type === "error" && f.ref === ref) || pick(f);
  await c.until(() => c.closeCode !== undefined || c.frames.some(match), 5000, what);
  const f = c.frames.find(match);
  if (!f) return `close ${c.closeCode}`;
  return f.type === "error" ? `error ${f.code}` : f.type;
}

/** A socket that closed, or never got to `ready`: its close code, as the table writes it. */
const closed = (c: WsClient) => (c.closeCode === undefined ? undefined : `close ${c.closeCode}`);

/** Waits for `cond` or an error answering `ref`, at most `ms`; false when neither came. */
async function within(c: WsClient, ref: string, cond: () => boolean | Promise<boolean>, ms: number) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (c.closeCode !== undefined || c.frames.some((f) => f.type === "error" && f.ref === ref)) return true;
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** `ack` and `read` answer nothing when they work: the pointer stored at the head says they did. */
const pointer = (field: "deliveredN" | "readN") => async (s: Scene, io: Sockets, env: SecurityEnv) => {
  const ref = newId("r");
  io.actor.send({ type: field === "readN" ? "read" : "ack", ref, chat: s.chat, n: s.head });
  const stored = async () => ((await env.t.store.getReadState(s.chat, s.actor?.userId ?? ""))?.[field] ?? 0) >= s.head;
  await within(io.actor, ref, stored, 3000);
  const error = io.actor.errors().find((e) => e.ref === ref);
  return closed(io.actor) ?? (error ? `error ${error.code}` : (await stored()) ? "stored" : "nothing");
};

const WS_ROWS: WsRow[] = [
  {
    type: "auth",
    what: "authenticate by frame",
    run: async (s, io) => {
      // The actor's socket is opened without a token for this row; the anonymous one sends garbage.
      io.actor.send({ type: "auth", token: s.actor?.token ?? "garbage" });
      await io.actor.until(() => io.actor.closeCode !== undefined || io.actor.frames.length > 0, 5000, "auth");
      return closed(io.actor) ?? io.actor.frames[0]!.type;
    },
    expect: { ...anyone("ready"), anonymous: `close ${CLOSE_CODES.unauthorized}` },
  },
  {
    type: "auth",
    what: "authenticate again on an open socket",
    run: async (s, io) => {
      const ref = newId("r");
      io.actor.send({ type: "auth", ref, token: s.actor?.token ?? "garbage" });
      return answer(io.actor, ref, () => false, "auth again");
    },
    expect: { ...anyone("error invalid_input"), anonymous: `close ${CLOSE_CODES.unauthorized}` },
  },
  {
    type: "send",
    what: "send",
    run: async (s, io) => {
      const ref = newId("r");
      io.actor.send({ type: "send", ref, chat: s.chat, id: newId("m"), body: "hello" });
      return answer(io.actor, ref, (f) => f.type === "sent" && f.ref === ref, "send");
    },
    expect: wsChat("sent", { blocked: "error forbidden" }),
  },
  {
    type: "delete",
    what: "delete the chat's last message (as over HTTP)",
    run: async (s, io) => {
      const ref = newId("r");
      io.actor.send({ type: "delete", ref, chat: s.chat, target: s.head });
      return answer(io.actor, ref, (f) => f.type === "sent" && f.ref === ref, "delete");
    },
    expect: wsChat("error forbidden", { admin: "sent", requester: "sent", blocked: "sent" }),
  },
  {
    type: "edit",
    what: "edit the chat's last message (as over HTTP)",
    run: async (s, io) => {
      const ref = newId("r");
      io.actor.send({ type: "edit", ref, chat: s.chat, id: newId("e"), target: s.head, body: "edited" });
      return answer(io.actor, ref, (f) => f.type === "sent" && f.ref === ref, "edit");
    },
    expect: wsChat("error forbidden", { requester: "sent" }),
  },
  {
    type: "react",
    what: "react to the chat's last message (as over HTTP)",
    run: async (s, io) => {
      const ref = newId("r");
      io.actor.send({ type: "react", ref, chat: s.chat, target: s.head, emoji: "👍" });
      return answer(io.actor, ref, (f) => f.type === "sent" && f.ref === ref, "react");
    },
    expect: wsChat("sent", { blocked: "error forbidden" }),
  },
  {
    type: "unreact",
    what: "take back a reaction to the chat's last message (as over HTTP)",
    run: async (s, io) => {
      const ref = newId("r");
      io.actor.send({ type: "unreact", ref, chat: s.chat, target: s.head, emoji: "👍" });
      return answer(io.actor, ref, (f) => f.type === "sent" && f.ref === ref, "unreact");
    },
    expect: wsChat("sent", { blocked: "error forbidden" }),
  },
  { type: "ack", what: "delivered up to the head", run: pointer("deliveredN"), expect: wsChat("stored") },
  { type: "read", what: "read up to the head", run: pointer("readN"), expect: wsChat("stored") },
  {
    type: "typing",
    what: "typing reaches the peer",
    run: async (s, io) => {
      const ref = newId("r");
      const me = s.actor?.userId;
      const reached = () => io.peer.frames.some((f) => f.type === "typing" && f.chat === s.chat && f.user === me);
      io.actor.send({ type: "typing", ref, chat: s.chat });
      await within(io.actor, ref, reached, 1500);
      const error = io.actor.errors().find((e) => e.ref === ref);
      const outcome = closed(io.actor) ?? (error ? `error ${error.code}` : reached() ? "delivered" : "silent");
      return error && reached() ? `${outcome} and delivered` : outcome;
    },
    // A requester's typing reaches the person asked (they see the request); the one asked
    // gives nothing away until they answer, and a block silences both ways (dropped, no error).
    expect: wsChat("delivered", { requested: "silent", blocked: "silent" }),
  },
  {
    type: "sync",
    what: "replay from the start (a removed member's ends at the removal)",
    run: async (s, io) => {
      const ref = newId("r");
      io.actor.send({ type: "sync", ref, cursors: { [s.chat]: 0 } });
      const out = await answer(io.actor, ref, (f) => f.type === "synced" && f.ref === ref, "sync");
      const synced = io.actor.frames.find((f) => f.type === "synced" && f.ref === ref);
      if (!synced || synced.type !== "synced") return out;
      const beyond = io.actor.events.filter((e) => e.chat === s.chat && e.n > synced.n);
      return `synced ${lastN([{ n: synced.n }], s)}${beyond.length ? " and events beyond it" : ""}`;
    },
    expect: wsChat("synced to the head", { removed: "synced to the removal" }),
  },
  {
    type: "watch",
    what: "watch the peer (presence only between accepted contacts)",
    run: async (s, io) => {
      // Oneself is always visible and listed last: once one's own frame is here, the peer's
      // (sent in the same pass, before it) would be too.
      const me = s.actor?.userId ?? "";
      const ref = newId("r");
      io.actor.send({ type: "watch", ref, users: [s.peer.userId, me] });
      const out = await answer(io.actor, ref, (f) => f.type === "presence" && f.user === me, "own presence");
      if (out !== "presence") return out;
      return io.actor.frames.some((f) => f.type === "presence" && f.user === s.peer.userId) ? "visible" : "hidden";
    },
    expect: {
      ...wsChat("visible"),
      outsider: "hidden",
      removed: "hidden",
      operator: "hidden",
      requester: "hidden",
      requested: "hidden",
      blocked: "hidden",
    },
  },
  {
    type: "ping",
    what: "ping",
    run: async (_s, io) => {
      const ref = newId("r");
      io.actor.send({ type: "ping", ref });
      return answer(io.actor, ref, (f) => f.type === "pong" && f.ref === ref, "pong");
    },
    expect: { ...anyone("pong"), anonymous: `close ${CLOSE_CODES.unauthorized}` },
  },
];

/** `chatRoute` for frames: the same rule, told in error frames; a socket with no `auth` first is closed 4001. */
function wsChat(ok: string, cells: Partial<Record<Role, Cell>> = {}): Record<Role, Cell> {
  return {
    anonymous: `close ${CLOSE_CODES.unauthorized}`,
    outsider: "error not_found",
    member: ok,
    nonAdmin: ok,
    admin: ok,
    removed: "error forbidden",
    requester: ok,
    requested: ok,
    blocked: ok,
    operator: "error not_found",
    ...cells,
  };
}

// ------------------------------------------------------------------ the runs

let env: SecurityEnv;
before(async () => {
  env = await startSecurityEnv();
});
after(async () => {
  await env?.close();
});

describe("security - the authorization matrix covers everything", () => {
  test("matrix - every route of the OpenAPI document has a row, and every row a route", () => {
    const documented = new Set(operationsOf(env.doc).map(routeKey));
    const covered = new Set(HTTP_ROWS.map((r) => r.route));
    assert.deepEqual(
      [...documented].filter((r) => !covered.has(r)),
      [],
      "routes with no row in HTTP_ROWS",
    );
    assert.deepEqual(
      [...covered].filter((r) => !documented.has(r)),
      [],
      "rows of routes the document does not have",
    );
  });

  test("matrix - every client frame type has a row, and every row a frame type", () => {
    const covered = new Set<string>(WS_ROWS.map((r) => r.type));
    assert.deepEqual(
      CLIENT_FRAME_TYPES.filter((t) => !covered.has(t)),
      [],
      "frame types with no row in WS_ROWS",
    );
    assert.deepEqual(
      [...covered].filter((t) => !(CLIENT_FRAME_TYPES as readonly string[]).includes(t)),
      [],
    );
  });
});

describe("security - every HTTP route, every role", () => {
  for (const row of HTTP_ROWS) {
    test(`${row.route}: ${row.what}`, async (t) => {
      const w = await buildWorld(env);
      // Every role at once: each acts in its own part of the world.
      const outcomes = await Promise.all(
        ROLES.map(async (role) => {
          const s = w.scene(role);
          const r = await row.request(w, s, env);
          const res = await call(env.http, r.method ?? row.route.split(" ")[0]!, r.url, r.token, r.payload, r.headers);
          const code = res.status >= 400 ? ` ${(res.body as { code?: string })?.code}` : "";
          const word = res.status < 300 && row.observe ? ` ${row.observe(res.body, s)}` : "";
          return `${res.status}${code}${word}`;
        }),
      );
      for (const [i, role] of ROLES.entries()) {
        const cell = row.expect[role];
        await t.test(role, () => assert.equal(outcomes[i], cell, `${role}: ${row.route}`));
      }
    });
  }
});

describe("security - every WebSocket frame, every role", () => {
  for (const row of WS_ROWS) {
    test(`${row.type}: ${row.what}`, async (t) => {
      const w = await buildWorld(env);
      const open: WsClient[] = [];
      const socket = async (who: Person | undefined, auth: boolean) => {
        const c = await WsClient.open(env.base, auth && who ? { token: who.token } : {});
        open.push(c);
        if (auth && who) await c.waitFor((f) => f.type === "ready", 5000, "ready");
        return c;
      };
      try {
        const outcomes = await Promise.all(
          ROLES.map(async (role) => {
            const s = w.scene(role);
            // The first row authenticates by frame; the others act on a socket that is ready.
            const firstFrame = row.type === "auth" && row.what.startsWith("authenticate by frame");
            const io = { actor: await socket(s.actor, !firstFrame), peer: await socket(s.peer, true) };
            return row.run(s, io, env);
          }),
        );
        for (const [i, role] of ROLES.entries()) {
          const cell = row.expect[role];
          await t.test(role, () => assert.equal(outcomes[i], cell, `${role}: ${row.type}`));
        }
      } finally {
        await Promise.all(open.map((c) => c.close()));
      }
    });
  }
});
