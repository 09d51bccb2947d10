import assert from "node:assert/strict";
import type { ChatEvent, ChatEventPayload, ChatKind, MemberRole } from "@natter/protocol";
import type { Store } from "@natter/store";
import { chatSubject, HEADERS, msgId } from "@natter/subjects";
import type { JetStreamClient } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";

/**
 * Test workloads for the history consumer: chats whose events are generated and published
 * the way the gateway does (dense n, expected-last-subject-sequence chaining, scoped
 * Msg-Id, Natter-N / Natter-Kind headers), with the expected outcome kept alongside.
 */
export interface ChatScript {
  chatId: string;
  kind: ChatKind;
  creator: string;
  /** Active members and their roles after every published event. */
  members: Map<string, MemberRole>;
  /** Published payloads, index n-1, and the stream seq each got. */
  published: ChatEventPayload[];
  seqs: number[];
}

const USERS = Array.from({ length: 12 }, (_, i) => `u${i}`);

/** A small deterministic PRNG, so a failing run can be reproduced. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function createChats(count: number, prefix: string): ChatScript[] {
  return Array.from({ length: count }, (_, i) => ({
    chatId: `${prefix}${i}`,
    kind: i % 3 === 0 ? "direct" : "group",
    creator: USERS[i % USERS.length]!,
    members: new Map(),
    published: [],
    seqs: [],
  }));
}

/** The next event of a chat: chat.created first, then mostly messages, some joins and leaves in groups. */
export function nextPayload(chat: ChatScript, rand: () => number): ChatEventPayload {
  const n = chat.published.length + 1;
  const ts = Date.now();
  if (n === 1) {
    const others = USERS.filter((u) => u !== chat.creator);
    const members = [chat.creator, ...others.slice(0, chat.kind === "direct" ? 1 : 2)];
    return {
      chat: chat.chatId,
      n,
      ts,
      from: chat.creator,
      kind: "chat.created",
      chatKind: chat.kind,
      members,
      ...(chat.kind === "group" ? { title: `group ${chat.chatId}` } : {}),
    };
  }
  const active = [...chat.members.keys()];
  const r = rand();
  if (chat.kind === "group" && r < 0.1) {
    const outside = USERS.filter((u) => !chat.members.has(u));
    if (outside.length) {
      return { chat: chat.chatId, n, ts, from: chat.creator, kind: "member.added", user: outside[0]! };
    }
  }
  if (chat.kind === "group" && r < 0.16) {
    const removable = active.filter((u) => u !== chat.creator);
    if (removable.length > 1) {
      return { chat: chat.chatId, n, ts, from: chat.creator, kind: "member.removed", user: removable[0]! };
    }
  }
  const from = active[Math.floor(rand() * active.length)] ?? chat.creator;
  return {
    chat: chat.chatId,
    n,
    ts,
    from,
    kind: "message.created",
    id: `m${n}`,
    body: `message ${n} in ${chat.chatId}`,
  };
}

/** Applies a payload to the expected membership, as the projection should. */
function track(chat: ChatScript, p: ChatEventPayload): void {
  if (p.kind === "chat.created") {
    for (const u of p.members) chat.members.set(u, p.chatKind === "group" && u === p.from ? "admin" : "member");
  } else if (p.kind === "member.added") chat.members.set(p.user, "member");
  else if (p.kind === "member.removed") chat.members.delete(p.user);
}

/** Publishes one payload as the gateway would, chained on the chat's previous event. */
export async function publishPayload(js: JetStreamClient, chat: ChatScript, p: ChatEventPayload): Promise<number> {
  const h = headers();
  h.set(HEADERS.n, String(p.n));
  h.set(HEADERS.kind, p.kind);
  const ack = await js.publish(chatSubject(chat.chatId), JSON.stringify(p), {
    headers: h,
    msgID: msgId(chat.chatId, p.from, p.kind === "message.created" ? p.id : `${p.kind}-${p.n}`),
    expect: { lastSubjectSequence: chat.seqs.at(-1) ?? 0 },
  });
  chat.published.push(p);
  chat.seqs.push(ack.seq);
  track(chat, p);
  return ack.seq;
}

/**
 * Publishes `total` events spread over the chats, each chat serialized (as a gateway does)
 * and the chats in parallel. `onProgress` sees the running count after every publish.
 */
export async function publishWorkload(
  js: JetStreamClient,
  chats: ChatScript[],
  total: number,
  seed = 42,
  onProgress?: (published: number) => void | Promise<void>,
): Promise<void> {
  const rand = prng(seed);
  let published = 0;
  const perChat = chats.map((_, i) => Math.floor(total / chats.length) + (i < total % chats.length ? 1 : 0));
  await Promise.all(
    chats.map(async (chat, i) => {
      for (let k = 0; k < perChat[i]!; k++) {
        await publishPayload(js, chat, nextPayload(chat, rand));
        published++;
        await onProgress?.(published);
      }
    }),
  );
}

/** Asserts the store holds exactly what was published for each chat: events 1..N, members, head. */
export async function assertHistoryMatches(store: Store, chats: ChatScript[]): Promise<void> {
  for (const chat of chats) {
    const events = await store.getEvents(chat.chatId, { afterN: 0, limit: 1000 });
    assert.deepEqual(
      events.map((e) => e.n),
      chat.published.map((_, i) => i + 1),
      `${chat.chatId}: events 1..${chat.published.length} in order, no gap, no duplicate`,
    );
    assert.deepEqual(
      events,
      chat.published.map((p, i) => ({ ...p, seq: chat.seqs[i] }) as ChatEvent),
      `${chat.chatId}: stored events equal the published ones with their stream seq`,
    );
    const members = await store.listMembers(chat.chatId);
    assert.deepEqual(
      new Map(members.map((m) => [m.userId, m.role])),
      chat.members,
      `${chat.chatId}: active members and roles`,
    );
    const head = await store.getChatHead(chat.chatId);
    assert.equal(head?.lastN, chat.published.length, `${chat.chatId}: head lastN`);
    assert.equal(head?.lastSeq, chat.seqs.at(-1), `${chat.chatId}: head lastSeq`);
    const lastMsg = chat.published.findLast((p) => p.kind === "message.created");
    assert.equal(head?.preview, lastMsg?.kind === "message.created" ? lastMsg.body : undefined);
    const row = await store.getChat(chat.chatId);
    assert.equal(row?.kind, chat.kind);
    assert.equal(row?.createdBy, chat.creator);
  }
}
