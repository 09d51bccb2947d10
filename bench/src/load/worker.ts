/**
 * One load process (forked by `pool.ts`, one or several per run). It holds every member
 * of the chats it was given, so sends, acks and deliveries of a chat are timed on one
 * clock, and it checks G1/G2/G4 on its own sockets after the run. Protocol over IPC:
 *
 *   parent → `plan`  → worker opens every client → `opened`
 *   parent → `run`   → load (closed or open loop), settle, check → `done`
 *   parent → `close` → worker closes its clients and exits
 */
import * as hdr from "hdr-histogram-js";
import { newHistogram } from "../hist.ts";
import type { BenchClient, ClientSpec, SystemAdapter } from "./adapter.ts";
import { natterAdapter } from "./natter.ts";
import { socketioAdapter } from "./socketio.ts";

export type SystemName = "natter" | "socketio";

export interface PlanChat {
  chatId: string;
  members: { userId: string; token: string; endpoint: string }[];
}

export interface PlanMsg {
  type: "plan";
  system: SystemName;
  chats: PlanChat[];
  /** Source addresses to spread the client connections over (round robin). */
  localAddresses: string[];
  /** Clients opening at once. */
  openConcurrency: number;
  /** Sockets per user (devices; default 1): each must get every event of the user's chats. */
  devices?: number;
  /** Clients reconnect and resend by themselves (`natter.ts`); `fallbacks` are every gateway. */
  resilient?: boolean;
  fallbacks?: string[];
}

export interface RunMsg {
  type: "run";
  /** Epoch ms at which every worker starts sending. */
  startAt: number;
  durationS: number;
  /** Sends due in the first this-many seconds are not in the latency histograms (cold caches, JIT). */
  warmupS: number;
  /** Closed loop: sends outstanding per chat. */
  inflight: number;
  /** Open loop when > 0: this worker's messages per second, spread round robin over its chats. */
  rate: number;
  bodyBytes: number;
  /** Receivers (never senders) of this worker that drop their connection mid-run and come back. */
  flap: { clients: number; atS: number; downMs: number };
  /** The system resumes after a reconnect (Natter's sync): a flapped client must miss nothing. */
  resumes: boolean;
}

export interface WorkerResult {
  sent: number;
  deliveries: number;
  errors: number;
  durationS: number;
  /** Sends that the open loop issued late (more than 10 ms behind schedule). */
  late: number;
  ackHist: string;
  deliverHist: string;
  acked: Record<string, string[]>;
  problems: string[];
  checkedDeliveries: number;
  flap: { clients: number; expected: number; missed: number };
  missingAfterSettle: number;
  /** Counted over everything acked so far (a run after a run checks the whole history of the sockets). */
  lost: number;
  duplicated: number;
  misordered: number;
  /** Longest wait of one send of this run from its first issue to its `sent` (retries included), ms. */
  maxAckMs: number;
  /** Sends of this run still unanswered after the settle. */
  unacked: number;
  /** Retryable errors answered to sends of this run (each resent with the same id), and by code. */
  retries: number;
  retryCodes: Record<string, number>;
}

const adapters: Record<SystemName, SystemAdapter> = { natter: natterAdapter, socketio: socketioAdapter };

interface Member {
  client?: BenchClient;
  userId: string;
  /** Per chat: the `n` of every event received, in arrival order. */
  ns: Map<string, number[]>;
  /** Per chat: the ids of message events received, in arrival order. */
  ids: Map<string, string[]>;
  flapped: boolean;
}

function push<T>(m: Map<string, T[]>, k: string, v: T): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}

const members: Member[] = [];
/** chatId → the members' indexes into `members`; the first is the sender. */
const chatMembers = new Map<string, number[]>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const send = (m: unknown) => process.send!(m);

async function openAll(p: PlanMsg): Promise<void> {
  const adapter = adapters[p.system];
  const byUser = new Map<string, number>();
  const specs: ClientSpec[] = [];
  for (const c of p.chats) {
    const idx: number[] = [];
    for (const u of c.members) {
      let i = byUser.get(u.userId);
      if (i === undefined) {
        i = members.length;
        byUser.set(u.userId, i);
        members.push({ userId: u.userId, ns: new Map(), ids: new Map(), flapped: false });
        specs.push({
          userId: u.userId,
          token: u.token,
          endpoint: u.endpoint,
          chats: [],
          ...(p.localAddresses.length ? { localAddress: p.localAddresses[i % p.localAddresses.length]! } : {}),
        });
      }
      specs[i]!.chats.push(c.chatId);
      idx.push(i);
    }
    chatMembers.set(c.chatId, idx);
  }
  // Further devices of each user: a socket of its own on the same token, appended to the
  // member list of every chat of the user (never the sender, which stays first).
  const users = specs.length;
  for (let d = 1; d < (p.devices ?? 1); d++) {
    for (let u = 0; u < users; u++) {
      const i = members.length;
      members.push({ userId: members[u]!.userId, ns: new Map(), ids: new Map(), flapped: false });
      // Devices spread over the gateways: device d of a user starts on another one.
      const fb = p.fallbacks ?? [];
      const endpoint = fb.length ? fb[(fb.indexOf(specs[u]!.endpoint) + d) % fb.length]! : specs[u]!.endpoint;
      specs.push({ ...specs[u]!, endpoint });
      for (const c of specs[u]!.chats) chatMembers.get(c)!.push(i);
    }
  }
  for (const sp of specs) {
    if (p.resilient) sp.resilient = true;
    if (p.fallbacks) sp.fallbacks = p.fallbacks.filter((e) => e !== sp.endpoint);
  }
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(p.openConcurrency, specs.length) }, async () => {
      while (next < specs.length) {
        const i = next++;
        const m = members[i]!;
        m.client = await adapter.open(specs[i]!, {
          onAck: (chat, id, n) => onAck(chat, id, n),
          onError: (chat, id, msg) => onError(chat, id, msg),
          onDoubleAck: (chat, id, n1, n2) => {
            doubleAcks++;
            console.error(`G2: ${chat}/${id} acked as n ${n1} and as n ${n2}`);
          },
          onRetry: (_chat, _id, code) => {
            retries++;
            retryCodes[code] = (retryCodes[code] ?? 0) + 1;
          },
          onEvent: (chat, n, id) => {
            push(m.ns, chat, n);
            if (id === undefined) return;
            push(m.ids, chat, id);
            onDelivery(chat, id, m.flapped);
          },
        });
      }
    }),
  );
  send({ type: "opened", clients: specs.length, ms: Math.round(performance.now() - t0) });
}

// ---------------------------------------------------------------- the load loop

const ackHist = newHistogram();
const deliverHist = newHistogram();
const sendTimes = new Map<string, number>();
const acked = new Map<string, string[]>();
const outstanding = new Map<string, number>();
const pumps = new Map<string, () => void>();
let sent = 0;
let deliveries = 0;
let errors = 0;
let doubleAcks = 0;
let retries = 0;
let retryCodes: Record<string, number> = {};
let maxAckMs = 0;
/** Per chat: the next message number; kept across runs, so ids never repeat. */
const seqs = new Map<string, number>();
let recording = false;
/** Sends due before this (performance.now() ms) are warm-up: counted and verified, not timed. */
let recordFrom = Infinity;

const us = (t0: number) => Math.max(1, Math.round((performance.now() - t0) * 1000));

function onAck(chat: string, id: string, _n: number): void {
  outstanding.set(chat, outstanding.get(chat)! - 1);
  sent++;
  push(acked, chat, id);
  const t0 = sendTimes.get(`${chat}\u0000${id}`);
  if (t0 !== undefined && recording && t0 >= recordFrom) ackHist.recordValue(us(t0));
  if (t0 !== undefined) maxAckMs = Math.max(maxAckMs, performance.now() - t0);
  pumps.get(chat)?.();
}

function onError(chat: string, _id: string, msg: string): void {
  outstanding.set(chat, outstanding.get(chat)! - 1);
  errors++;
  if (errors <= 5) console.error(`send error in ${chat}: ${msg}`);
  pumps.get(chat)?.();
}

function onDelivery(chat: string, id: string, flapped: boolean): void {
  deliveries++;
  // A receiver that was dropped on purpose gets its missed messages up to a second late, by
  // design (the resume after the outage): counted and checked, but kept out of the latency
  // figures, where 2 of 100 receivers would otherwise set the p99 to the outage's length.
  if (flapped) return;
  const t0 = sendTimes.get(`${chat}\u0000${id}`);
  if (t0 !== undefined && recording && t0 >= recordFrom) deliverHist.recordValue(us(t0));
}

async function run(r: RunMsg): Promise<void> {
  const body = "x".repeat(r.bodyBytes);
  const chats = [...chatMembers.keys()];
  for (const c of chats) if (!seqs.has(c)) seqs.set(c, 0);
  for (const c of chats) outstanding.set(c, 0);
  maxAckMs = 0;
  retries = 0;
  retryCodes = {};
  const sendOne = (chat: string, at: number) => {
    const seq = seqs.get(chat)!;
    seqs.set(chat, seq + 1);
    const id = `b${seq}`;
    sendTimes.set(`${chat}\u0000${id}`, at);
    outstanding.set(chat, outstanding.get(chat)! + 1);
    members[chatMembers.get(chat)![0]!]!.client!.send(chat, id, body);
  };

  // Flapping receivers: the last member of the first `flap.clients` chats with 3+ members,
  // else the second member of a 1:1 chat (never a sender).
  const flapped: Member[] = [];
  for (const m of members) if (m.flapped) flapped.push(m);
  for (const c of chats) {
    if (flapped.length >= r.flap.clients) break;
    const m = members[chatMembers.get(c)!.at(-1)!]!;
    if (chatMembers.get(c)!.length >= 2 && !m.flapped && !chats.some((x) => members[chatMembers.get(x)![0]!] === m)) {
      m.flapped = true;
      flapped.push(m);
    }
  }

  await sleep(Math.max(0, r.startAt - Date.now()));
  recording = true;
  const started = performance.now();
  recordFrom = started + r.warmupS * 1000;
  const deadline = started + r.durationS * 1000;
  let late = 0;
  const flapDone =
    flapped.length === 0
      ? Promise.resolve()
      : (async () => {
          await sleep(r.flap.atS * 1000);
          for (const m of flapped) m.client!.close();
          await sleep(r.flap.downMs);
          await Promise.all(flapped.map((m) => m.client!.reopen()));
        })();

  if (r.rate > 0) {
    // Open loop: message i is due at started + i / rate, whatever the acks do; latency is
    // measured from when it was due (no coordinated omission).
    let issued = 0;
    let rr = 0;
    while (performance.now() < deadline) {
      const now = performance.now();
      const due = Math.floor(((now - started) / 1000) * r.rate);
      while (issued < due) {
        const at = started + (issued / r.rate) * 1000;
        if (now - at > 10) late++;
        sendOne(chats[rr++ % chats.length]!, at);
        issued++;
      }
      await sleep(2);
    }
  } else {
    await Promise.all(
      chats.map(
        (chat) =>
          new Promise<void>((resolve) => {
            const pump = () => {
              while (outstanding.get(chat)! < r.inflight && performance.now() < deadline)
                sendOne(chat, performance.now());
              if (performance.now() >= deadline && outstanding.get(chat) === 0) resolve();
            };
            pumps.set(chat, pump);
            pump();
          }),
      ),
    );
  }
  // Acks still outstanding (open loop): wait for them, bounded.
  const ackDeadline = Date.now() + 30_000;
  while (Date.now() < ackDeadline && chats.some((c) => outstanding.get(c)! > 0)) await sleep(20);
  const durationS = (performance.now() - started) / 1000;
  await flapDone;

  // Settle: every member holds every acked message (flapped clients of a system that does
  // not resume never will: they are counted apart).
  const missing = (countFlapped: boolean) => {
    let n = 0;
    for (const [chat, idx] of chatMembers)
      for (const i of idx) {
        const m = members[i]!;
        if (m.flapped && !countFlapped) continue;
        n += Math.max(0, (acked.get(chat)?.length ?? 0) - new Set(m.ids.get(chat) ?? []).size);
      }
    return n;
  };
  const settleDeadline = Date.now() + 30_000;
  while (Date.now() < settleDeadline && missing(r.resumes) > 0) await sleep(100);
  recording = false;

  // G1/G2/G4 on the sockets.
  const problems: string[] = [];
  const note = (p: string) => {
    if (problems.length < 20) problems.push(p);
  };
  let checkedDeliveries = 0;
  let flapExpected = 0;
  let flapMissed = 0;
  let lost = 0;
  let duplicated = doubleAcks;
  let misordered = 0;
  for (const [chat, idx] of chatMembers) {
    const want = acked.get(chat) ?? [];
    for (const i of idx) {
      const m = members[i]!;
      const ns = m.ns.get(chat) ?? [];
      const ids = m.ids.get(chat) ?? [];
      const seen = new Set(ids);
      if (seen.size !== ids.length) {
        duplicated += ids.length - seen.size;
        note(`G2: ${m.userId} in ${chat} got a message twice`);
      }
      const exempt = m.flapped && !r.resumes;
      for (let k = 1; k < ns.length; k++) {
        // A system that does not resume leaves a gap across the disconnect: only order counts.
        if (exempt ? ns[k]! <= ns[k - 1]! : ns[k] !== ns[k - 1]! + 1) {
          misordered++;
          note(`G4: ${m.userId} in ${chat} got n ${ns[k - 1]} then ${ns[k]}`);
        }
      }
      let missed = 0;
      for (const id of want) {
        checkedDeliveries++;
        if (!seen.has(id)) missed++;
      }
      if (m.flapped) {
        flapExpected += want.length;
        flapMissed += missed;
      }
      if (missed > 0 && !exempt) {
        lost += missed;
        note(`G1: ${m.userId} in ${chat} never got ${missed} acked message(s)`);
      }
    }
  }
  const result: WorkerResult = {
    sent,
    deliveries,
    errors,
    durationS,
    late,
    ackHist: hdr.encodeIntoCompressedBase64(ackHist),
    deliverHist: hdr.encodeIntoCompressedBase64(deliverHist),
    acked: Object.fromEntries(acked),
    problems,
    checkedDeliveries,
    flap: { clients: flapped.length, expected: flapExpected, missed: flapMissed },
    missingAfterSettle: missing(r.resumes),
    lost,
    duplicated,
    misordered,
    maxAckMs: Math.round(maxAckMs),
    unacked: [...outstanding.values()].reduce((a, b) => a + b, 0),
    retries,
    retryCodes,
  };
  send({ type: "done", result });
}

process.on("message", (msg: PlanMsg | RunMsg | { type: "close" }) => {
  const fail = (err: unknown) => {
    send({ type: "failed", error: String((err as Error)?.stack ?? err) });
  };
  if (msg.type === "plan") openAll(msg).catch(fail);
  else if (msg.type === "run") run(msg).catch(fail);
  else {
    for (const m of members) (m.client?.stop ?? m.client?.close)?.call(m.client);
    setTimeout(() => process.exit(0), 100);
  }
});
process.on("disconnect", () => {
  // Seen twice mid-run in the chaos suite (cause not found yet): say so, the parent fails the run.
  console.error(`load worker: IPC channel closed by the parent at ${new Date().toISOString()}, exiting`);
  process.exit(0);
});
// The IPC channel alone did not always hold the event loop open between runs (a worker
// exited with 0 in the middle of a chaos run, on Node 24): hold it until `close`.
setInterval(() => {}, 1 << 30);
