import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connectNats } from "@natter/bus";
import { createLogger } from "@natter/config";
import { type EventFrame, homeOf, HUB_SITE } from "@natter/protocol";
import { CHAT_STREAM, HUB_COPY_STREAM, SITES_COPY_STREAM } from "@natter/subjects";
import { type EdgeDeployment, type EdgeDomain, LIFTED_RATE_LIMITS, startEdge, WsClient } from "@natter/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { Api, eventually } from "./http-client.ts";

// What a cut leaf link does to each kind of chat, on a hub and a site that are real
// nats-server leaf nodes (testkit `startEdge`, the link through a TCP proxy): the site's
// own chat keeps sending, delivering and signalling; a send to a chat homed at the hub
// fails fast with `home_unreachable` and, resent with the same id after the link returns,
// lands once; each domain's CHATS holds only the chats homed there.
let dep: EdgeDeployment;
let hub: EdgeDomain;
let site: EdgeDomain;
const sockets: WsClient[] = [];

async function signup(domain: EdgeDomain, handle: string): Promise<Api> {
  return new Api(domain.gateway.url).signup(handle);
}

async function device(domain: EdgeDomain, api: Api, name: string): Promise<WsClient> {
  const c = await WsClient.connect(domain.gateway.url, api.token!, { name });
  sockets.push(c);
  return c;
}

async function send(api: Api, chat: string, id: string) {
  return api.call<{ n: number; code: string }>("POST", `/v1/chats/${chat}/messages`, { id, body: id });
}

function connectAs(domain: EdgeDomain, identity: "admin" | "tail") {
  return connectNats({
    servers: [domain.nats.url],
    name: `edge-test-${identity}`,
    logger: createLogger("silent", "edge-test"),
    access: domain.nats.access(identity),
  });
}

/** The chat subjects a domain's `stream` holds, as the read-only `tail` identity sees them. */
async function subjectsIn(domain: EdgeDomain, stream: string): Promise<string[]> {
  const nc = await connectAs(domain, "tail");
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream, { subjects_filter: ">" });
    return Object.keys(info.state.subjects ?? {});
  } finally {
    await nc.close();
  }
}

/** A message event's client id (other kinds have none). */
function idOf(e: EventFrame): string | undefined {
  return e.kind === "message.created" ? e.id : undefined;
}

async function leafs(domain: EdgeDomain): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${domain.nats.monitorPort}/leafz`);
  return ((await r.json()) as { leafnodes?: number }).leafnodes ?? 0;
}

describe("edge - a cut leaf link (hub and site on real leaf nodes)", () => {
  before(async () => {
    dep = await startEdge({ sites: ["s1"], env: LIFTED_RATE_LIMITS });
    hub = dep.hub;
    site = dep.site("s1");
    await eventually(async () => (await leafs(hub)) === 1, 30_000, "the leaf link");
  });
  after(async () => {
    await Promise.all(sockets.map((s) => s.close()));
    await dep?.stop();
  });

  test("edge - local chats work through the cut; a send to the hub's chat fails fast and lands once after", async () => {
    const hal = await signup(hub, "edge_hal");
    const eve = await signup(site, "edge_eve");
    const eli = await signup(site, "edge_eli");
    assert.equal(homeOf(hal.userId), HUB_SITE);
    assert.equal(homeOf(eve.userId), "s1", "a user is homed where they sign up");
    // The hub knows the site user from its directory: hal opens the chat at the hub.
    const cross = (await hal.call("POST", "/v1/chats", { kind: "direct", userId: eve.userId })).body.chatId as string;
    const local = (await eve.call("POST", "/v1/chats", { kind: "direct", userId: eli.userId })).body.chatId as string;
    assert.equal(homeOf(cross), HUB_SITE, "a chat spanning sites is homed at the hub");
    assert.equal(homeOf(local), "s1", "a chat among the site's users is homed there");
    const eveDev = await device(site, eve, "eve");
    const eliDev = await device(site, eli, "eli");
    const halDev = await device(hub, hal, "hal");
    // Linked: a hub user and a site user, each on a socket, get each other's messages live.
    assert.equal((await send(hal, cross, "h1")).status, 201);
    assert.equal((await send(eve, cross, "e1")).status, 201);
    for (const d of [eveDev, halDev]) {
      await d.until(() => ["h1", "e1"].every((id) => d.events.some((e) => e.chat === cross && idOf(e) === id)), 20_000);
    }
    // Edits, reactions and deletes of the hub's chat made at the site go to the hub too.
    const e1 = eveDev.events.find((e) => e.chat === cross && idOf(e) === "e1")!.n;
    const h1 = eveDev.events.find((e) => e.chat === cross && idOf(e) === "h1")!.n;
    const edited = await eve.call("PATCH", `/v1/chats/${cross}/messages/${e1}`, { id: "e1-edit", body: "e1, edited" });
    assert.equal(edited.status, 201, JSON.stringify(edited.body));
    const reacted = await eve.call("PUT", `/v1/chats/${cross}/messages/${h1}/reactions/${encodeURIComponent("👍")}`);
    assert.equal(reacted.status, 200, JSON.stringify(reacted.body));
    await halDev.until(
      () =>
        halDev.events.some((e) => e.chat === cross && e.kind === "message.edited" && e.n === edited.body.n) &&
        halDev.events.some((e) => e.chat === cross && e.kind === "reaction.added" && e.n === reacted.body.n),
      20_000,
      "the site user's edit and reaction on the hub user's socket",
    );
    // eli replies (which accepts eve's request), so typing flows both ways.
    assert.equal((await send(eli, local, "l0")).status, 201);

    site.link!.cut();
    await eventually(async () => (await leafs(hub)) === 0, 30_000, "the leaf link to drop");
    const started = Date.now();
    const refused = await send(eve, cross, "e2");
    assert.equal(refused.status, 503);
    assert.equal(refused.body.code, "home_unreachable");
    assert.ok(Date.now() - started < 3000, "fails fast, not after a timeout");
    // The site's own chat: sent, delivered live to the other member, typing too.
    const sent = await send(eve, local, "l1");
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    await eliDev.until(() => eliDev.events.some((e) => e.chat === local && idOf(e) === "l1"), 20_000, "l1 on eli");
    eveDev.send({ type: "typing", chat: local });
    await eliDev.waitFor((f) => f.type === "typing" && f.chat === local, 20_000, "typing during the cut");
    // The hub's side of the chat goes on for hub users.
    assert.equal((await send(hal, cross, "h2")).status, 201);

    site.link!.restore();
    await eventually(async () => (await leafs(hub)) === 1, 30_000, "the leaf link to return");
    const landed = await eventually(
      async () => {
        const r = await send(eve, cross, "e2");
        return r.status === 201 ? r.body.n : undefined;
      },
      60_000,
      "the resent message to land",
    );
    const again = await send(eve, cross, "e2");
    assert.equal(again.status, 200, "a duplicate");
    assert.equal(again.body.n, landed, "a second resend with the same id gets the same n (G2)");
    // Both sockets end with the chat in one order: every n once, ascending from 1.
    for (const d of [eveDev, halDev]) {
      await d.sync(30_000).catch(() => undefined);
      await d.until(() => d.events.some((e) => e.chat === cross && idOf(e) === "e2"), 60_000, `e2 on ${d.name}`);
    }
    const order = (d: WsClient) =>
      d.events.filter((e) => e.chat === cross).map((e) => `${e.n}:${e.kind}:${idOf(e) ?? ""}`);
    assert.deepEqual(order(eveDev), order(halDev));
    // (the sockets opened after `chat.created`, n = 1, so they start at 2)
    const ns = eveDev.ns(cross);
    assert.deepEqual(
      ns,
      ns.map((_, i) => 2 + i),
    );
    assert.equal(ns.at(-1), landed);
    assert.deepEqual([...eveDev.violations, ...halDev.violations], []);

    // Each domain's CHATS holds only the chats homed there; the copies hold the others.
    const hubChats = await subjectsIn(hub, CHAT_STREAM);
    const siteChats = await subjectsIn(site, CHAT_STREAM);
    assert.ok(hubChats.includes(`chat.${cross}.msg`) && !hubChats.includes(`chat.${local}.msg`), hubChats.join());
    assert.ok(siteChats.includes(`chat.${local}.msg`) && !siteChats.includes(`chat.${cross}.msg`), siteChats.join());
    await eventually(async () => (await subjectsIn(site, HUB_COPY_STREAM)).includes(`chat.${cross}.msg`), 60_000);
    await eventually(async () => (await subjectsIn(hub, SITES_COPY_STREAM)).includes(`chat.${local}.msg`), 60_000);
  });

  test("edge - tailing at the site: chat subjects there are the site's own, the hub's never cross", async () => {
    const hal = await signup(hub, "tail_hal");
    const eve = await signup(site, "tail_eve");
    const eli = await signup(site, "tail_eli");
    const cross = (await hal.call("POST", "/v1/chats", { kind: "direct", userId: eve.userId })).body.chatId as string;
    const local = (await eve.call("POST", "/v1/chats", { kind: "direct", userId: eli.userId })).body.chatId as string;
    const nc = await connectAs(site, "tail");
    try {
      const seen: string[] = [];
      nc.subscribe("chat.*.msg", { callback: (_e, m) => void seen.push(m.subject) });
      await nc.flush();
      assert.equal((await send(hal, cross, "t-hub")).status, 201);
      assert.equal((await send(eve, cross, "t-fwd")).status, 201, "forwarded to the hub, sequenced there");
      assert.equal((await send(eve, local, "t-site")).status, 201);
      await eventually(async () => seen.includes(`chat.${local}.msg`), 10_000, "the site's publish on the tail");
      // The hub's chat is published at the hub only: a core tail at the site never sees it,
      // while the site's copy (CHATS_HUB) holds it for `--stream CHATS_HUB`.
      await eventually(async () => (await subjectsIn(site, HUB_COPY_STREAM)).includes(`chat.${cross}.msg`), 30_000);
      assert.deepEqual(
        seen.filter((s) => s !== `chat.${local}.msg`),
        [],
        "only the site's own chat subjects at the site",
      );
    } finally {
      await nc.close();
    }
  });
});
