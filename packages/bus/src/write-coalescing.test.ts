import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { natsSuite } from "@natter/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { coalesceWrites } from "./write-coalescing.ts";

/** Counts the connection's socket writes (nats.js's transport `send`, one per flush). */
function countWrites(nc: NatsConnection): { readonly count: number } {
  const transport = (nc as unknown as { protocol: { transport: { send(frame: Uint8Array): void } } }).protocol
    .transport;
  const send = transport.send.bind(transport);
  const counter = { count: 0 };
  transport.send = (frame) => {
    counter.count++;
    send(frame);
  };
  return counter;
}

/** `count` publishes, each from its own callback of the same turn of the event loop (as sockets' data callbacks are). */
async function publishFromCallbacks(nc: NatsConnection, subject: string, count: number): Promise<void> {
  await Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        new Promise<void>((resolve) =>
          setImmediate(() => {
            nc.publish(subject, `m${i}`);
            resolve();
          }),
        ),
    ),
  );
}

describe("coalesceWrites - one socket write per event-loop turn (real nats-server)", () => {
  const nats = natsSuite();

  test("coalesceWrites - 20 publishes from 20 callbacks of one turn: one write instead of 20; all arrive in order", async () => {
    const sub = nats.nc.subscribe("coalesce.a", { max: 40 });
    const got: string[] = [];
    const done = (async () => {
      for await (const m of sub) got.push(m.string());
    })();
    await nats.nc.flush();

    const plain = await connect({ servers: nats.server.url });
    const coalesced = await connect({ servers: nats.server.url });
    try {
      assert.equal(coalesceWrites(coalesced), true);
      const plainWrites = countWrites(plain);
      const coalescedWrites = countWrites(coalesced);
      await publishFromCallbacks(plain, "coalesce.a", 20);
      await plain.flush();
      await publishFromCallbacks(coalesced, "coalesce.a", 20);
      await coalesced.flush();
      // The flush's PING is one more write for the plain connection; the coalesced one may
      // send it with the publishes or after them.
      assert.equal(plainWrites.count, 21, "nats.js alone: a write per callback, then the PING");
      assert.ok(coalescedWrites.count <= 2, `coalesced: ${coalescedWrites.count} writes`);
      await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 5000))]);
      const expected = Array.from({ length: 20 }, (_, i) => `m${i}`);
      assert.deepEqual(got, [...expected, ...expected]);
    } finally {
      await plain.close();
      await coalesced.close();
    }
  });

  test("coalesceWrites - requests, flush and a draining close still work", async () => {
    const responder = nats.nc.subscribe("coalesce.echo", { callback: (_err, m) => void m.respond(m.data) });
    await nats.nc.flush();
    const nc = await connect({ servers: nats.server.url });
    coalesceWrites(nc);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => nc.request("coalesce.echo", `q${i}`, { timeout: 5000 })),
    );
    assert.deepEqual(
      answers.map((m) => m.string()),
      Array.from({ length: 50 }, (_, i) => `q${i}`),
    );
    await nc.flush();
    // Published, then closed at once: the close writes what is queued first.
    const last = nats.nc.subscribe("coalesce.last", { max: 1 });
    await nats.nc.flush();
    nc.publish("coalesce.last", "bye");
    await nc.close();
    const got = await Promise.race([
      (async () => {
        for await (const m of last) return m.string();
      })(),
      new Promise((_, reject) => setTimeout(() => reject(new Error("the last publish was lost")), 5000)),
    ]);
    assert.equal(got, "bye");
    responder.unsubscribe();
  });

  test("coalesceWrites - past nats.js's 32 KiB threshold it writes at once", async () => {
    const nc = await connect({ servers: nats.server.url });
    try {
      coalesceWrites(nc);
      const writes = countWrites(nc);
      // As in nats.js: the first command after a flush schedules one; a later one that takes
      // the queue past the threshold writes in the same call.
      nc.publish("coalesce.big", "small");
      assert.equal(writes.count, 0, "deferred");
      nc.publish("coalesce.big", new Uint8Array(40 * 1024));
      assert.equal(writes.count, 1, "written in the same call, not deferred");
    } finally {
      await nc.close();
    }
  });
});
