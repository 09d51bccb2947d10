import { CHAT_STREAM } from "@natter/subjects";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

/**
 * Resolves once the durable consumer `durable` of the chat stream has acked every event the
 * stream holds now (its ack floor at the stream's last sequence, nothing pending): every
 * decision it makes about them is made. Rejects after `timeoutMs`. Connects to the test
 * server without credentials (the testkit maps those to its admin identity).
 */
export async function consumerCaughtUp(natsUrl: string, durable: string, timeoutMs: number): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [stream, consumer] = await Promise.all([
        jsm.streams.info(CHAT_STREAM),
        jsm.consumers.info(CHAT_STREAM, durable),
      ]);
      if (consumer.ack_floor.stream_seq >= stream.state.last_seq && consumer.num_ack_pending === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `consumer ${durable} not caught up after ${timeoutMs} ms (ack floor ${consumer.ack_floor.stream_seq}, last ${stream.state.last_seq})`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await nc.close();
  }
}
