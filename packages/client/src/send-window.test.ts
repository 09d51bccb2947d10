// What `sendWindow` costs and buys, over the real stack: a burst of 20 sends to one chat.
// With the default window of 1 each send waits for the previous one's `sent` (one round
// trip through the gateway and a JetStream publish), so the burst takes ~20 round trips and
// lands in call order; a wider window pipelines them. The timings are printed (diagnostic),
// the order is asserted.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { LIFTED_RATE_LIMITS, type Stack, startStack } from "@natter/testkit";
import { NatterClient } from "./index.ts";

let stack: Stack;
const clients: NatterClient[] = [];
before(async () => {
  stack = await startStack({ env: LIFTED_RATE_LIMITS });
});
after(async () => {
  for (const c of clients) c.close();
  await stack?.stop("SIGKILL");
});

test("send window - a burst of 20 to one chat: window 1 keeps call order, one round trip each; window 20 pipelines", async (t) => {
  const timings: Record<string, number> = {};
  for (const sendWindow of [1, 20]) {
    const { client } = await NatterClient.signup({
      servers: stack.gateways[0]!.url,
      handle: `burst_${sendWindow}`,
      displayName: "Burst",
      password: "password-123",
      sendWindow,
    });
    clients.push(client);
    await client.connect();
    const { chatId } = await client.http.createGroup("burst", []);
    await client.send(chatId, "warm-up");
    const runs: number[] = [];
    for (let run = 0; run < 5; run++) {
      const started = performance.now();
      const sent = await Promise.all(Array.from({ length: 20 }, (_, i) => client.send(chatId, `m ${run} ${i}`)));
      runs.push(performance.now() - started);
      if (sendWindow === 1) {
        const ns = sent.map((s) => s.n);
        assert.deepEqual(
          ns,
          [...ns].sort((a, b) => a - b),
          "window 1: n in the order of the send() calls",
        );
      }
      assert.equal(new Set(sent.map((s) => s.n)).size, 20);
    }
    timings[`window ${sendWindow}`] = runs.sort((a, b) => a - b)[2]!;
  }
  t.diagnostic(
    `median of 5 bursts of 20 sends: ${Object.entries(timings)
      .map(([k, v]) => `${k} ${v.toFixed(1)} ms`)
      .join(", ")}`,
  );
});
