import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "@natter/config";
import { chatSubject } from "@natter/subjects";
import { natsSuite } from "@natter/testkit";
import { ensureChatStream, lastChatEvents } from "./chat-stream.ts";

const logger = createLogger("silent", "chat-heads-test");
const nats = natsSuite({
  setup: ({ jsm }) => ensureChatStream(jsm, { replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000 }, logger),
});

test("lastChatEvents - the newest event of each chat, over more chats than one batch request holds", async () => {
  const { js, jsm } = nats;
  // 600 chats: three batch requests of 256; every third chat gets a second event.
  const ids = Array.from({ length: 600 }, (_, i) => `g_heads${i}`);
  const acks = await Promise.all(
    ids.map((chat, i) =>
      js.publish(
        chatSubject(chat),
        JSON.stringify({
          chat,
          n: 1,
          ts: 1000 + i,
          from: "u0",
          kind: "chat.created",
          chatKind: "group",
          members: ["u0"],
        }),
      ),
    ),
  );
  assert.equal(acks.length, 600);
  for (const [i, chat] of ids.entries()) {
    if (i % 3 !== 0) continue;
    await js.publish(
      chatSubject(chat),
      JSON.stringify({ chat, n: 2, ts: 5000 + i, from: "u0", kind: "message.created", id: "m2", body: `hi ${i}` }),
    );
  }
  const heads = await lastChatEvents(jsm, [...ids, "g_never_used", ids[0]!]);
  assert.equal(heads.size, 600, "one head per chat that has events; the unknown chat is absent");
  for (const [i, chat] of ids.entries()) {
    const e = heads.get(chat);
    assert.equal(e?.n, i % 3 === 0 ? 2 : 1, chat);
    assert.equal(e?.ts, i % 3 === 0 ? 5000 + i : 1000 + i);
    assert.ok(e.seq > 0);
  }
  assert.equal((await lastChatEvents(jsm, ["g_never_used"])).size, 0, "nothing found is an empty map, not an error");
  assert.equal((await lastChatEvents(jsm, [])).size, 0);
});
