/**
 * `node bench/src/batch-publish.ts [--count 300] [--size 237]`: what group commit would
 * buy. On one subject of a fresh file-backed R1 stream with `allow_atomic`, publishes
 * one after the other (each waiting for its PubAck, each expecting the previous seq, the
 * way the sequencer chains a chat) singly, then as atomic batches of 2, 4, 8, 16 and 32,
 * and prints the time per round trip and messages per second of each; the singles row is
 * the baseline. `NATTER_SEND_BATCH` (off by default) is set from these figures.
 */
import { parseArgs } from "node:util";
import { JsPublisher } from "@natter/bus";
import { exitOnSignals, startNatsServer } from "@natter/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

const { values: a } = parseArgs({
  options: { count: { type: "string", default: "300" }, size: { type: "string", default: "237" } },
});
const rounds = Number(a.count);
const body = "x".repeat(Number(a.size));

exitOnSignals();
const server = await startNatsServer();
const nc = await connect({ servers: server.url });
try {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: "BATCHBENCH",
    subjects: ["batchbench.>"],
    storage: "file",
    allow_atomic: true,
  } as never);
  const pub = new JsPublisher(nc);
  const rows = [];
  let singles = 0;
  for (const size of [1, 2, 4, 8, 16, 32]) {
    const subject = `batchbench.s${size}`;
    let last = 0;
    const t0 = performance.now();
    for (let i = 0; i < rounds; i++) {
      const ack =
        size === 1
          ? await pub.publish(subject, body, { expectLastSubjectSequence: last })
          : await pub.publishBatch(
              subject,
              Array.from({ length: size }, () => ({ data: body })),
              { expectLastSubjectSequence: last },
            );
      if (ack.count !== size) throw new Error(`batch of ${size} stored ${ack.count}`);
      last = ack.seq;
    }
    const ms = performance.now() - t0;
    const perS = Math.round((rounds * size * 1000) / ms);
    if (size === 1) singles = perS;
    rows.push({
      publish: size === 1 ? "single" : `atomic batch of ${size}`,
      "ms per round trip": Number((ms / rounds).toFixed(3)),
      "msgs/s (one subject)": perS,
      "÷ singles": Number((perS / singles).toFixed(2)),
    });
  }
  console.log(
    `nats-server ${server.version}, R1 file stream, ${rounds} round trips per row, ${body.length}-byte messages, chained expectations`,
  );
  console.table(rows);
} finally {
  await nc.close();
  await server.stop();
}
