import assert from "node:assert/strict";
import { test } from "node:test";
import type { Logger } from "@natter/config";
import type { NatsConnection } from "@nats-io/transport-node";
import { Gauge, Registry } from "prom-client";
import { SubscriptionHub } from "./subscription-hub.ts";
import { atWindowEnd } from "./ws/turn.ts";

/** A NatsConnection double: what the hub sends to the server, in order. */
function fakeNats() {
  const wire: string[] = [];
  const pongs: (() => void)[] = [];
  const nc = {
    subscribe(subject: string) {
      wire.push(`SUB ${subject}`);
      return {
        unsubscribe: () => wire.push(`UNSUB ${subject}`),
        drain: async () => {},
      };
    },
    flush() {
      wire.push("PING");
      return new Promise<void>((r) => pongs.push(r));
    },
  };
  return { nc: nc as unknown as NatsConnection, wire, pong: () => pongs.shift()!() };
}

const logger = { warn() {}, debug() {} } as unknown as Logger;
/** Waits for the batching window that is open now to close (its timer was set first). */
const turn = () => new Promise<void>((r) => atWindowEnd(r));

function hub(nc: NatsConnection) {
  const gauge = new Gauge({ name: "subs", help: "subs", registers: [new Registry()] });
  return new SubscriptionHub<string>({
    nc,
    logger,
    name: "inbox",
    subject: (u) => `user.${u}.*`,
    handler: () => () => {},
    gauge,
  });
}

test("subscription hub - the users added in one window are subscribed together, then one PING; flush resolves only at its PONG", async () => {
  const { nc, wire, pong } = fakeNats();
  const h = hub(nc);
  assert.equal(h.add("a", "s1"), true);
  assert.equal(h.add("b", "s2"), true);
  assert.equal(h.add("a", "s3"), true, "a's subscription is not known to the server yet");
  let flushed = false;
  const f = h.flush().then(() => (flushed = true));
  assert.deepEqual(wire, [], "nothing before the end of the window");
  await turn();
  assert.deepEqual(wire, ["SUB user.a.*", "SUB user.b.*", "PING"]);
  await turn();
  assert.equal(flushed, false, "not before the server answered");
  pong();
  await f;
  assert.equal(h.add("a", "s4"), false, "known to the server now: no flush needed");
  assert.equal(h.count("a"), 3);
});

test("subscription hub - a user whose last listener leaves and comes back in the same window keeps the subscription; one that stays away is unsubscribed at the window's end", async () => {
  const { nc, wire, pong } = fakeNats();
  const h = hub(nc);
  h.add("a", "s1");
  h.add("b", "s2");
  const f = h.flush();
  await turn();
  pong();
  await f;
  wire.length = 0;
  h.remove("a", "s1");
  h.remove("b", "s2");
  assert.equal(h.count("a"), 0);
  h.add("a", "s3");
  await turn();
  assert.deepEqual(wire, ["UNSUB user.b.*"], "a kept, b gone; no PING when nobody waits");
  assert.equal(h.size, 1);
  // Added and gone within one window: the server never hears of it.
  h.add("c", "s4");
  h.remove("c", "s4");
  await turn();
  assert.deepEqual(wire, ["UNSUB user.b.*"]);
});
