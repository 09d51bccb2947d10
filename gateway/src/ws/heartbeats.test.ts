import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Heartbeats } from "./heartbeats.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("heartbeats", () => {
  test("every member is beaten once per period, the first beat a period after it joined", async () => {
    const period = 200;
    const hb = new Heartbeats(period);
    try {
      const beats = new Map<number, number[]>();
      const members = Array.from({ length: 30 }, (_, i) => ({
        beat: () => beats.set(i, [...(beats.get(i) ?? []), performance.now()]),
      }));
      const joined: number[] = [];
      for (const [i, m] of members.entries()) {
        joined[i] = performance.now();
        hb.add(m);
        await sleep(13); // joins spread over two periods
      }
      await sleep(3 * period);
      for (const [i, times] of beats) {
        // First beat: one period after joining, less at most one slot (a tenth), plus timer slack.
        const first = times[0]! - joined[i]!;
        assert.ok(first >= period - period / 10 - 5 && first <= period + 60, `first beat after ${first} ms`);
        for (let k = 1; k < times.length; k++) {
          const gap = times[k]! - times[k - 1]!;
          assert.ok(gap >= period - 25 && gap <= period + 60, `beats ${gap} ms apart`);
        }
      }
      assert.equal(beats.size, members.length);
      hb.remove(members[0]!);
      const count = beats.get(0)!.length;
      await sleep(period + 50);
      assert.equal(beats.get(0)!.length, count, "a removed member is not beaten");
    } finally {
      hb.stop();
    }
  });
});
