// Test setup shared by the WebSocket tests: a listening gateway over a real nats-server,
// users and chats made through the HTTP API, and the e2e suite's WebSocket client.
import assert from "node:assert/strict";
import { type NatsServer, startNatsServer } from "@natter/testkit";
import type { ConfigKey } from "@natter/config";
import type { ChatEvent } from "@natter/protocol";
import { readChatEvents } from "@natter/bus";
import { HEADERS, userInboxSubject } from "@natter/subjects";
import { jetstreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { startTestGateway, type TestGateway } from "../testing.ts";
import type { WsOptions } from "./options.ts";

export { WsClient } from "@natter/testkit";

export interface WsTestEnv {
  nats: NatsServer;
  t: TestGateway;
  /** http://127.0.0.1:<port> */
  base: string;
  close(): Promise<void>;
}

export async function startWsTestEnv(
  opts: { ws?: Partial<WsOptions>; overrides?: Partial<Record<ConfigKey, string>> } = {},
): Promise<WsTestEnv> {
  const nats = await startNatsServer();
  const t = await startTestGateway(nats.url, {
    ...(opts.ws ? { ws: opts.ws } : {}),
    ...(opts.overrides ? { overrides: opts.overrides } : {}),
  });
  const base = await t.gw.app.listen({ host: "127.0.0.1", port: 0 });
  return {
    nats,
    t,
    base,
    async close() {
      await t.close();
      await nats.stop();
    },
  };
}

let seq = 0;

export interface TestUser {
  userId: string;
  deviceId: string;
  token: string;
}

export async function req(env: WsTestEnv, method: string, url: string, body?: unknown, token?: string) {
  const res = await env.t.gw.app.inject({
    method: method as "GET",
    url,
    ...(body === undefined ? {} : { payload: body as object }),
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
}

export async function signup(env: WsTestEnv, name = `wsuser${++seq}`): Promise<TestUser> {
  const r = await req(env, "POST", "/v1/auth/signup", { handle: name, displayName: name, password: "correct horse" });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body as TestUser;
}

/** A group of the given users, created by the first; returns its id. */
export async function group(env: WsTestEnv, users: TestUser[]): Promise<string> {
  const [owner, ...rest] = users;
  const r = await req(
    env,
    "POST",
    "/v1/chats",
    { kind: "group", title: "ws test", members: rest.map((u) => u.userId) },
    owner!.token,
  );
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.chatId as string;
}

/** Sends `count` messages over HTTP; returns their `{n, seq}`. */
export async function sendMany(env: WsTestEnv, user: TestUser, chatId: string, count: number, prefix = "m") {
  const out: { n: number; seq: number }[] = [];
  for (let i = 0; i < count; i++) {
    const r = await req(
      env,
      "POST",
      `/v1/chats/${chatId}/messages`,
      { id: `${prefix}-${i}`, body: `hello ${i}` },
      user.token,
    );
    assert.equal(r.status, 201, JSON.stringify(r.body));
    out.push({ n: r.body.n, seq: r.body.seq });
  }
  return out;
}

/** Every event of a chat as it is in the stream (HTTP history reads the store, which no consumer fills here). */
export async function streamEvents(env: WsTestEnv, chatId: string): Promise<ChatEvent[]> {
  return readChatEvents(await jetstreamManager(env.t.nc), env.t.store, chatId, { afterN: 0, limit: 10_000 });
}

/**
 * Plays the fanout consumer: publishes events to a user's inbox exactly as it does (the
 * full event JSON with `seq`, headers Natter-N and Natter-Kind), in the order given.
 */
export async function publishToInbox(env: WsTestEnv, userId: string, events: ChatEvent[]): Promise<void> {
  for (const e of events) {
    const h = natsHeaders();
    h.set(HEADERS.n, String(e.n));
    h.set(HEADERS.kind, e.kind);
    env.t.nc.publish(userInboxSubject(userId), JSON.stringify(e), { headers: h });
  }
  await env.t.nc.flush();
}
