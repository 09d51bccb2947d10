import { CHAT_STREAM, CONSUMERS, PRESENCE_BUCKET } from "@natter/subjects";
import {
  type ClusterInfo,
  type ConsumerInfo,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  type StreamInfo,
} from "@nats-io/jetstream";

/** The streams the operators' view reads: the chat log and the presence bucket's stream. */
export const ADMIN_STREAMS = [CHAT_STREAM, `KV_${PRESENCE_BUCKET}`] as const;

/**
 * Stream and consumer state as `GET /v1/admin/streams` answers it, read with the
 * JetStream manager through INFO calls only (the gateway identity may make no other kind
 * on these: `packages/subjects/src/permissions.ts`). Each durable of the chat stream is
 * asked by name, so an operator sees one that was never created (`exists: false`) rather
 * than nothing; ephemeral consumers (tails) are counted in the stream's `consumers`.
 */
export async function readJetStreamState(jsm: JetStreamManager) {
  const [streams, consumers] = await Promise.all([
    Promise.all(ADMIN_STREAMS.map(async (name) => streamState(await jsm.streams.info(name)))),
    Promise.all(Object.values(CONSUMERS).map((name) => consumerState(jsm, CHAT_STREAM, name))),
  ]);
  return { streams, consumers };
}

function streamState(info: StreamInfo) {
  const s = info.state;
  return {
    name: info.config.name,
    subjects: info.config.subjects ?? [],
    replicas: info.config.num_replicas,
    messages: s.messages,
    bytes: s.bytes,
    firstSeq: s.first_seq,
    lastSeq: s.last_seq,
    ...(s.messages > 0 ? { firstTs: s.first_ts, lastTs: s.last_ts } : {}),
    consumers: s.consumer_count,
    ...cluster(info.cluster),
  };
}

async function consumerState(jsm: JetStreamManager, stream: string, name: string) {
  let info: ConsumerInfo;
  try {
    info = await jsm.consumers.info(stream, name);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) {
      return { stream, name, exists: false };
    }
    throw err;
  }
  // The server sends `last_active` as an ISO time, and leaves it out before the first delivery.
  const lastActive = info.delivered.last_active as unknown;
  return {
    stream,
    name,
    exists: true,
    numPending: info.num_pending,
    numAckPending: info.num_ack_pending,
    numRedelivered: info.num_redelivered,
    numWaiting: info.num_waiting,
    deliveredSeq: info.delivered.stream_seq,
    ackFloorSeq: info.ack_floor.stream_seq,
    ...(typeof lastActive === "string" ? { lastActive } : {}),
    ...cluster(info.cluster),
  };
}

/** The leader and peers, when the server is clustered (a single server reports no cluster, or no leader). */
function cluster(c: ClusterInfo | undefined) {
  if (!c) return {};
  return {
    cluster: {
      ...(c.name ? { name: c.name } : {}),
      ...(c.leader ? { leader: c.leader } : {}),
      replicas: (c.replicas ?? []).map((p) => ({
        name: p.name,
        current: p.current,
        offline: p.offline === true,
        lag: p.lag ?? 0,
      })),
    },
  };
}
