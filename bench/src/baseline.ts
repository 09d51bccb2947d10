import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { newHistogram } from "./hist.ts";

export interface LoadShape {
  /** Members per chat: 2 for 1:1 chats, more for groups. */
  members: number;
  chats: number;
  /** Sends outstanding per chat (closed loop). */
  inflight: number;
  durationS: number;
  bodyBytes: number;
}

export interface BaselineResult {
  name: string;
  sent: number;
  deliveries: number;
  durationS: number;
  deliverLatency: ReturnType<typeof newHistogram>;
}

/**
 * The floor under Natter, same shape and same nats-server: each chat's sender publishes
 * every message straight to each member's subject with core NATS (no sequencing, no
 * persistence, no WebSocket), closed loop on the sender's own copy. Natter's figures are
 * reported as a fraction of this.
 */
export async function runCoreBaseline(natsUrl: string, shape: LoadShape, connections: number): Promise<BaselineResult> {
  const subs = await Promise.all(Array.from({ length: connections }, () => connect({ servers: natsUrl })));
  const pub = await connect({ servers: natsUrl });
  const deliverLatency = newHistogram();
  const body = "x".repeat(shape.bodyBytes);
  let deliveries = 0;
  let sent = 0;
  const pumps: (() => void)[] = [];
  const outstanding = new Array<number>(shape.chats).fill(0);
  for (let c = 0; c < shape.chats; c++) {
    for (let m = 0; m < shape.members; m++) {
      const nc = subs[(c * shape.members + m) % connections]!;
      nc.subscribe(`base.${c}.${m}`, {
        callback: (_err, msg) => {
          const { t } = msg.json<{ t: number }>();
          deliveries++;
          deliverLatency.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
          if (m === 0) {
            sent++;
            outstanding[c]!--;
            pumps[c]?.();
          }
        },
      });
    }
  }
  await Promise.all(subs.map((s) => s.flush()));
  const started = performance.now();
  const deadline = started + shape.durationS * 1000;
  await Promise.all(
    Array.from(
      { length: shape.chats },
      (_, c) =>
        new Promise<void>((resolve) => {
          pumps[c] = () => {
            while (outstanding[c]! < shape.inflight && performance.now() < deadline) {
              const payload = JSON.stringify({ t: performance.now(), body });
              for (let m = 0; m < shape.members; m++) pub.publish(`base.${c}.${m}`, payload);
              outstanding[c]!++;
            }
            if (outstanding[c] === 0) resolve();
          };
          pumps[c]!();
        }),
    ),
  );
  const durationS = (performance.now() - started) / 1000;
  await pub.close();
  await Promise.all(subs.map((s) => s.close()));
  return { name: "core NATS fan-out", sent, deliveries, durationS, deliverLatency };
}

/**
 * The JetStream ceiling for Natter's write path: closed-loop publishes to one file-backed
 * stream with one subject per chat, `inflight` outstanding per chat, the same payload
 * size, waiting for every PubAck. No expected-sequence header and no consumers.
 */
export async function runJetStreamBaseline(natsUrl: string, shape: LoadShape): Promise<BaselineResult> {
  const nc = await connect({ servers: natsUrl });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "BENCH_BASE", subjects: ["benchbase.*"] });
  const js = jetstream(nc);
  const deliverLatency = newHistogram();
  const body = "x".repeat(shape.bodyBytes);
  let sent = 0;
  const started = performance.now();
  const deadline = started + shape.durationS * 1000;
  await Promise.all(
    Array.from({ length: shape.chats * shape.inflight }, async (_, i) => {
      const subject = `benchbase.${i % shape.chats}`;
      while (performance.now() < deadline) {
        const t = performance.now();
        await js.publish(subject, JSON.stringify({ t, body }));
        deliverLatency.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
        sent++;
      }
    }),
  );
  const durationS = (performance.now() - started) / 1000;
  await jsm.streams.delete("BENCH_BASE");
  await nc.close();
  return { name: "JetStream publish (PubAck)", sent, deliveries: 0, durationS, deliverLatency };
}
