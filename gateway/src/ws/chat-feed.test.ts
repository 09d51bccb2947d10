import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ChatEvent, NatterError } from "@natter/protocol";
import type { Member } from "@natter/store";
import { ChatFeed, type ChatFeedDeps, type DeliveryPath, type FeedSocket } from "./chat-feed.ts";

// The feed's ordering and membership rules on their own: the log is an array, the socket
// records what it is given. (The same rules over real sockets and NATS: ws-delivery.test.ts.)

const ME = "me";

function log(chat: string, count: number, edits: Partial<Record<number, Partial<ChatEvent>>> = {}): ChatEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const n = i + 1;
    const e: ChatEvent =
      n === 1
        ? { chat, seq: n, n, ts: n, from: "ana", kind: "chat.created", chatKind: "group", members: ["ana", ME] }
        : { chat, seq: n, n, ts: n, from: "ana", kind: "message.created", id: `m${n}`, body: "hi" };
    return { ...e, ...edits[n] } as ChatEvent;
  });
}

class Recorder implements FeedSocket {
  readonly frames: (
    | { type: "event"; chat: string; n: number; path: DeliveryPath }
    | { type: "synced"; chat: string; n: number }
    | { type: "error"; chat: string; code: string }
  )[] = [];
  closed: string | undefined;
  deliver(e: ChatEvent, path: DeliveryPath): boolean {
    this.frames.push({ type: "event", chat: e.chat, n: e.n, path });
    return true;
  }
  async drained(): Promise<boolean> {
    return true;
  }
  synced(chat: string, n: number): void {
    this.frames.push({ type: "synced", chat, n });
  }
  syncFailed(chat: string, err: NatterError): void {
    this.frames.push({ type: "error", chat, code: err.code });
  }
  overflow(): void {
    this.closed = "overflow";
  }
  failed(err: unknown): void {
    this.closed = `failed: ${String(err)}`;
  }
  ns(chat: string): number[] {
    return this.frames.flatMap((f) => (f.type === "event" && f.chat === chat ? [f.n] : []));
  }
}

function deps(chats: Record<string, ChatEvent[]>, members: Record<string, Member> = {}): ChatFeedDeps {
  return {
    readRange: async (chatId, afterN, toN, limit) =>
      (chats[chatId] ?? []).filter((e) => e.n > afterN && (toN === undefined || e.n <= toN)).slice(0, limit),
    getMember: async (chatId) =>
      members[chatId] ??
      (chatId in chats ? { chatId, userId: ME, role: "member", joinedN: 1, active: true, changedN: 1 } : undefined),
    headN: async (chatId) => chats[chatId]?.at(-1)?.n ?? 0,
    duplicate: () => {},
    maxPending: 100,
    page: 3,
  };
}

const settle = () => new Promise((r) => setTimeout(r, 10));

describe("chat feed - ordering", () => {
  test("chat feed - held until released; then duplicates dropped, gaps filled from the log, all in n order", async () => {
    const c1 = log("c1", 12);
    const sock = new Recorder();
    const feed = new ChatFeed(ME, sock, deps({ c1 }));
    feed.live(c1[2]!);
    await settle();
    assert.equal(sock.frames.length, 0, "held before release");
    feed.release();
    for (const n of [4, 4, 3, 9, 5, 12]) feed.live(c1[n - 1]!);
    await settle();
    assert.deepEqual(sock.ns("c1"), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.deepEqual(
      sock.frames.flatMap((f) => (f.type === "event" && f.path === "fill" ? [f.n] : [])),
      [6, 7, 8, 10, 11],
    );
    assert.equal(sock.closed, undefined);
  });

  test("chat feed - a sync replays after the cursor in pages, then synced; live events at the seam come once", async () => {
    const c1 = log("c1", 10);
    const sock = new Recorder();
    const feed = new ChatFeed(ME, sock, deps({ c1 }));
    feed.sync({ c1: 4 }, undefined);
    for (const e of c1.slice(6)) feed.live(e); // 7..10 race the replay
    await settle();
    assert.deepEqual(sock.ns("c1"), [5, 6, 7, 8, 9, 10]);
    const synced = sock.frames.find((f) => f.type === "synced");
    assert.ok(synced && synced.n >= 6);
  });

  test("chat feed - a cursor past the head is answered at the head; the next live event is delivered", async () => {
    const c1 = log("c1", 3);
    const sock = new Recorder();
    const feed = new ChatFeed(ME, sock, deps({ c1 }));
    feed.sync({ c1: 1_000_000 }, undefined);
    await settle();
    assert.deepEqual(sock.frames, [{ type: "synced", chat: "c1", n: 3 }]);
    c1.push(...log("c1", 4).slice(3));
    feed.live(c1[3]!);
    await settle();
    assert.deepEqual(sock.ns("c1"), [4]);
  });

  test("chat feed - a cursor at the head is answered from the head alone: the log is not read", async () => {
    const c1 = log("c1", 3);
    const d = deps({ c1 });
    let reads = 0;
    const readRange = d.readRange;
    d.readRange = (...args) => {
      reads++;
      return readRange(...args);
    };
    const sock = new Recorder();
    const feed = new ChatFeed(ME, sock, d);
    feed.sync({ c1: 3 }, undefined);
    await settle();
    assert.deepEqual(sock.frames, [{ type: "synced", chat: "c1", n: 3 }]);
    assert.equal(reads, 0, "no log read for a cursor at the head");
    // Behind the head: the log is read, as before.
    feed.sync({ c1: 1 }, undefined);
    await settle();
    assert.ok(reads > 0);
    assert.deepEqual(sock.frames.at(-1), { type: "synced", chat: "c1", n: 3 });
  });

  test("chat feed - too many held events close the socket as a slow consumer", async () => {
    const c1 = log("c1", 200);
    const sock = new Recorder();
    const feed = new ChatFeed(ME, sock, deps({ c1 }));
    for (const e of c1.slice(0, 101)) feed.live(e);
    assert.equal(sock.closed, "overflow");
  });
});

describe("chat feed - membership", () => {
  test("chat feed - events between my removal and re-addition are skipped, not delivered", async () => {
    const c1 = log("c1", 10, {
      3: { kind: "member.removed", user: ME } as Partial<ChatEvent>,
      7: { kind: "member.added", user: ME } as Partial<ChatEvent>,
    });
    const sock = new Recorder();
    const feed = new ChatFeed(ME, sock, deps({ c1 }));
    feed.sync({ c1: 0 }, undefined);
    await settle();
    assert.deepEqual(sock.ns("c1"), [1, 2, 3, 7, 8, 9, 10]);
  });

  test("chat feed - a removed member's sync ends at the removal; an outsider and an unknown chat both get not_found", async () => {
    const c1 = log("c1", 8, { 4: { kind: "member.removed", user: ME } as Partial<ChatEvent> });
    const removed: Member = { chatId: "c1", userId: ME, role: "member", joinedN: 1, active: false, changedN: 4 };
    const sock = new Recorder();
    const d = deps({ c1, c2: log("c2", 2) }, { c1: removed });
    const getMember = d.getMember;
    d.getMember = async (chatId, userId) => (chatId === "c2" ? undefined : getMember(chatId, userId));
    const feed = new ChatFeed(ME, sock, d);
    feed.sync({ c1: 0, c2: 0, nochat: 0 }, undefined);
    await settle();
    assert.deepEqual(sock.ns("c1"), [1, 2, 3, 4]);
    // One answer per chat; chats are read concurrently, so their answers come in any order.
    assert.deepEqual(
      sock.frames.filter((f) => f.type !== "event").sort((a, b) => a.chat.localeCompare(b.chat)),
      [
        { type: "synced", chat: "c1", n: 4 },
        { type: "error", chat: "c2", code: "not_found" },
        { type: "error", chat: "nochat", code: "not_found" },
      ],
    );
  });
});
