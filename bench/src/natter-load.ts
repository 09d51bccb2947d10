import { WebSocket } from "ws";
import type { ChatEvent } from "@natter/protocol";
import { newHistogram } from "./hist.ts";
import { api, type BenchUser, signupMany } from "./http.ts";

export interface LoadShape {
  /** Members per chat: 2 for 1:1 chats, more for groups. */
  members: number;
  chats: number;
  /** Sends outstanding per sending socket (closed loop). */
  inflight: number;
  durationS: number;
  bodyBytes: number;
}

export interface Sock {
  user: BenchUser;
  ws: WebSocket;
  /** Per chat, the `n` of every event received, in arrival order. */
  received: Map<string, number[]>;
  /** Per chat, the client ids of the message events received, in arrival order. */
  ids: Map<string, string[]>;
}

export interface LoadResult {
  sent: number;
  deliveries: number;
  durationS: number;
  ackLatency: ReturnType<typeof newHistogram>;
  deliverLatency: ReturnType<typeof newHistogram>;
  errors: number;
  /** chatId → client ids acknowledged with `sent`. */
  acked: Map<string, string[]>;
  sockets: Sock[];
  chatMembers: Map<string, string[]>;
  owners: Map<string, BenchUser>;
}

function push<T>(m: Map<string, T[]>, k: string, v: T): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}

function open(url: string, user: BenchUser, onFrame: (s: Sock, f: Record<string, unknown>) => void): Promise<Sock> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, "ws") + "/v1/ws", {
      headers: { authorization: `Bearer ${user.token}` },
    });
    const sock: Sock = { user, ws, received: new Map(), ids: new Map() };
    ws.once("error", reject);
    ws.on("message", (data) => {
      const f = JSON.parse(String(data)) as Record<string, unknown>;
      // A fresh device syncs with no cursors: live delivery starts at once (the gateway
      // holds live events until the first sync, so a replay can come first).
      if (f.type === "ready") {
        ws.send(JSON.stringify({ type: "sync", cursors: {} }));
        resolve(sock);
      } else onFrame(sock, f);
    });
  });
}

/**
 * Closed-loop load over real WebSockets: each chat's first member sends, keeping
 * `inflight` sends outstanding in that chat; every member socket records what it receives.
 * Latencies: send→`sent` at the sender, send→`event` at every receiving socket
 * (HdrHistogram, µs). The sockets of a chat's members are spread over the gateways.
 */
export async function runNatterLoad(gateways: string[], shape: LoadShape, prefix: string): Promise<LoadResult> {
  const users = await signupMany(gateways[0]!, prefix, shape.chats * shape.members);
  const chatMembers = new Map<string, string[]>();
  const owners = new Map<string, BenchUser>();
  for (let c = 0; c < shape.chats; c++) {
    const members = users.slice(c * shape.members, (c + 1) * shape.members);
    const owner = members[0]!;
    const body =
      shape.members === 2
        ? { kind: "direct", userId: members[1]!.userId }
        : { kind: "group", title: `bench ${c}`, members: members.slice(1).map((m) => m.userId) };
    const chat = await api<{ chatId: string }>(gateways[0]!, "POST", "/v1/chats", body, owner.token);
    chatMembers.set(
      chat.chatId,
      members.map((m) => m.userId),
    );
    owners.set(chat.chatId, owner);
  }

  const sendTimes = new Map<string, number>();
  const ackLatency = newHistogram();
  const deliverLatency = newHistogram();
  const acked = new Map<string, string[]>();
  const outstanding = new Map<string, number>();
  const pumps = new Map<string, () => void>();
  let deliveries = 0;
  let sent = 0;
  let errors = 0;

  const onFrame = (s: Sock, f: Record<string, unknown>) => {
    if (f.type === "event") {
      const e = f as unknown as ChatEvent;
      push(s.received, e.chat, e.n);
      if (e.kind !== "message.created") return;
      push(s.ids, e.chat, e.id);
      deliveries++;
      const t0 = sendTimes.get(`${e.chat}:${e.id}`);
      if (t0 !== undefined) deliverLatency.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
    } else if (f.type === "sent" || (f.type === "error" && typeof f.ref === "string")) {
      const ref = f.ref as string;
      const chat = ref.slice(0, ref.lastIndexOf("/"));
      const id = ref.slice(ref.lastIndexOf("/") + 1);
      outstanding.set(chat, (outstanding.get(chat) ?? 1) - 1);
      if (f.type === "sent") {
        sent++;
        push(acked, chat, id);
        ackLatency.recordValue(Math.max(1, Math.round((performance.now() - sendTimes.get(`${chat}:${id}`)!) * 1000)));
      } else {
        errors++;
        if (errors <= 5) console.error("send error:", JSON.stringify(f));
      }
      pumps.get(chat)?.();
    }
  };
  const sockets = await Promise.all(users.map((u, i) => open(gateways[i % gateways.length]!, u, onFrame)));
  const socketOf = new Map(sockets.map((s) => [s.user.userId, s]));

  const body = "x".repeat(shape.bodyBytes);
  const started = performance.now();
  const deadline = started + shape.durationS * 1000;
  await Promise.all(
    [...owners].map(
      ([chat, owner]) =>
        new Promise<void>((resolve) => {
          const sock = socketOf.get(owner.userId)!;
          let seq = 0;
          outstanding.set(chat, 0);
          const pump = () => {
            while (outstanding.get(chat)! < shape.inflight && performance.now() < deadline) {
              const id = `b${seq++}`;
              sendTimes.set(`${chat}:${id}`, performance.now());
              sock.ws.send(JSON.stringify({ type: "send", ref: `${chat}/${id}`, chat, id, body }));
              outstanding.set(chat, outstanding.get(chat)! + 1);
            }
            if (outstanding.get(chat) === 0) resolve();
          };
          pumps.set(chat, pump);
          pump();
        }),
    ),
  );
  const durationS = (performance.now() - started) / 1000;
  return { sent, deliveries, durationS, ackLatency, deliverLatency, errors, acked, sockets, chatMembers, owners };
}
