/**
 * `node bench/src/batch-publish.ts [--count 300] [--size 237] [--replicas 1|3]`: what group
 * commit would buy. On one subject of a fresh file-backed stream with `allow_atomic` (R1 on
 * one server, or R3 on a 3-node cluster of local servers with `--replicas 3`), publishes
 * one after the other (each waiting for its PubAck, each expecting the previous seq, the
 * way the sequencer chains a chat) singly, then as atomic batches of 2, 4, 8, 16 and 32,
 * and prints the time per round trip and messages per second of each; the singles row is
 * the baseline. `NATTER_SEND_BATCH` (off by default) is set from these figures.
 */
import { parseArgs } from "node:util";
import { JsPublisher } from "@natter/bus";
import { exitOnSignals, startNatsCluster, startNatsServer, waitForJetStream } from "@natter/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

const { values: a } = parseArgs({
  options: {
    count: { type: "string", default: "300" },
    size: { type: "string", default: "237" },
    replicas: { type: "string", default: "1" },
  },
});
const rounds = Number(a.count);
const body = "x".repeat(Number(a.size));
const replicas = Number(a.replicas);
if (replicas !== 1 && replicas !== 3) throw new Error("--replicas 1|3");

exitOnSignals();
const servers = replicas === 1 ? [await startNatsServer()] : await startNatsCluster(3);
const server = servers[0]!;
const nc = await connect({ servers: servers.map((s) => s.url) });
try {
  // No API check up front: a new cluster answers it only once its meta leader is elected.
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  await waitForJetStream(() =>
    jsm.streams.add({
      name: "BATCHBENCH",
      subjects: ["batchbench.>"],
      storage: "file",
      num_replicas: replicas,
      allow_atomic: true,
    } as never),
  );
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
    `nats-server ${server.version}, R${replicas} file stream${replicas > 1 ? " on a 3-node local cluster" : ""}, ${rounds} round trips per row, ${body.length}-byte messages, chained expectations`,
  );
  console.table(rows);
} finally {
  await nc.close();
  await Promise.all(servers.map((s) => s.stop()));
}
