import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { NatterError } from "./errors.ts";
import { CLOSE_CODES, shouldReconnect } from "./close-codes.ts";
import { type ClientFrame, MAX_SYNC_CHATS, parseClientFrame, refOf } from "./frames.ts";

const good: [string, unknown, ClientFrame][] = [
  ["auth", { type: "auth", token: "v1.abc.def" }, { type: "auth", token: "v1.abc.def" }],
  [
    "send",
    { type: "send", ref: "r1", chat: "g_abc-1", id: "m:1.x", body: "hi" },
    { type: "send", ref: "r1", chat: "g_abc-1", id: "m:1.x", body: "hi" },
  ],
  [
    "send with an empty body (ChatService refuses it, with the HTTP code)",
    { type: "send", ref: "r", chat: "c", id: "i", body: "" },
    { type: "send", ref: "r", chat: "c", id: "i", body: "" },
  ],
  [
    "send with replyTo",
    { type: "send", ref: "r", chat: "c", id: "i", body: "yes", replyTo: 4 },
    { type: "send", ref: "r", chat: "c", id: "i", body: "yes", replyTo: 4 },
  ],
  [
    "edit",
    { type: "edit", ref: "r", chat: "c", id: "e", target: 4, body: "fixed" },
    { type: "edit", ref: "r", chat: "c", id: "e", target: 4, body: "fixed" },
  ],
  [
    "react with a ZWJ sequence",
    { type: "react", ref: "r", chat: "c", target: 4, emoji: "👨‍👩‍👧‍👦" },
    { type: "react", ref: "r", chat: "c", target: 4, emoji: "👨‍👩‍👧‍👦" },
  ],
  [
    "unreact",
    { type: "unreact", ref: "r", chat: "c", target: 4, emoji: "❤️" },
    { type: "unreact", ref: "r", chat: "c", target: 4, emoji: "❤️" },
  ],
  ["ack", { type: "ack", chat: "c1", n: 5 }, { type: "ack", chat: "c1", n: 5 }],
  ["ack with ref", { type: "ack", ref: "a", chat: "c1", n: 0 }, { type: "ack", ref: "a", chat: "c1", n: 0 }],
  ["read", { type: "read", chat: "c1", n: 7 }, { type: "read", chat: "c1", n: 7 }],
  ["typing", { type: "typing", chat: "c1" }, { type: "typing", chat: "c1" }],
  ["sync", { type: "sync", cursors: { c1: 0, c2: 17 } }, { type: "sync", cursors: { c1: 0, c2: 17 } }],
  ["sync with no chats", { type: "sync", cursors: {} }, { type: "sync", cursors: {} }],
  ["watch removes duplicates", { type: "watch", users: ["u1", "u2", "u1"] }, { type: "watch", users: ["u1", "u2"] }],
  ["ping", { type: "ping" }, { type: "ping" }],
  ["ping with ref", { type: "ping", ref: "p-1" }, { type: "ping", ref: "p-1" }],
  ["unknown fields are dropped", { type: "ping", ref: "x", extra: { deep: true } }, { type: "ping", ref: "x" }],
];

const bad: [string, string, "invalid_json" | "invalid_input", string | undefined][] = [
  ["not JSON", "hello", "invalid_json", undefined],
  ["truncated JSON", '{"type":"ping"', "invalid_json", undefined],
  ["empty text", "", "invalid_json", undefined],
  ["a number", "42", "invalid_input", undefined],
  ["null", "null", "invalid_input", undefined],
  ["an array", '[{"type":"ping"}]', "invalid_input", undefined],
  ["a string", '"ping"', "invalid_input", undefined],
  ["no type", "{}", "invalid_input", "type"],
  ["unknown type", '{"type":"shout"}', "invalid_input", "type"],
  ["type not a string", '{"type":7}', "invalid_input", "type"],
  ["server frame type", '{"type":"event","chat":"c","n":1}', "invalid_input", "type"],
  ["auth without token", '{"type":"auth"}', "invalid_input", "token"],
  ["auth with empty token", '{"type":"auth","token":""}', "invalid_input", "token"],
  ["auth with a numeric token", '{"type":"auth","token":5}', "invalid_input", "token"],
  ["send without ref", '{"type":"send","chat":"c","id":"i","body":"b"}', "invalid_input", "ref"],
  ["send with empty ref", '{"type":"send","ref":"","chat":"c","id":"i","body":"b"}', "invalid_input", "ref"],
  [
    "send with a long ref",
    `{"type":"send","ref":"${"r".repeat(65)}","chat":"c","id":"i","body":"b"}`,
    "invalid_input",
    "ref",
  ],
  ["send with a numeric ref", '{"type":"send","ref":1,"chat":"c","id":"i","body":"b"}', "invalid_input", "ref"],
  ["send without chat", '{"type":"send","ref":"r","id":"i","body":"b"}', "invalid_input", "chat"],
  ["send to a wildcard chat", '{"type":"send","ref":"r","chat":"*","id":"i","body":"b"}', "invalid_input", "chat"],
  ["send to a dotted chat", '{"type":"send","ref":"r","chat":"a.b","id":"i","body":"b"}', "invalid_input", "chat"],
  ["send with a spaced id", '{"type":"send","ref":"r","chat":"c","id":"a b","body":"b"}', "invalid_input", "id"],
  [
    "send with a long id",
    `{"type":"send","ref":"r","chat":"c","id":"${"i".repeat(65)}","body":"b"}`,
    "invalid_input",
    "id",
  ],
  ["send with a numeric body", '{"type":"send","ref":"r","chat":"c","id":"i","body":42}', "invalid_input", "body"],
  ["send without body", '{"type":"send","ref":"r","chat":"c","id":"i"}', "invalid_input", "body"],
  [
    "send replying to 0",
    '{"type":"send","ref":"r","chat":"c","id":"i","body":"b","replyTo":0}',
    "invalid_input",
    "replyTo",
  ],
  ["edit without id", '{"type":"edit","ref":"r","chat":"c","target":2,"body":"b"}', "invalid_input", "id"],
  ["edit of n 0", '{"type":"edit","ref":"r","chat":"c","id":"e","target":0,"body":"b"}', "invalid_input", "target"],
  ["edit without body", '{"type":"edit","ref":"r","chat":"c","id":"e","target":2}', "invalid_input", "body"],
  ["react with text", '{"type":"react","ref":"r","chat":"c","target":2,"emoji":"ok"}', "invalid_input", "emoji"],
  ["react with two emoji", '{"type":"react","ref":"r","chat":"c","target":2,"emoji":"👍👍"}', "invalid_input", "emoji"],
  [
    "react with ❤ lacking FE0F",
    '{"type":"react","ref":"r","chat":"c","target":2,"emoji":"❤"}',
    "invalid_input",
    "emoji",
  ],
  ["unreact without ref", '{"type":"unreact","chat":"c","target":2,"emoji":"👍"}', "invalid_input", "ref"],
  ["ack without n", '{"type":"ack","chat":"c"}', "invalid_input", "n"],
  ["ack with negative n", '{"type":"ack","chat":"c","n":-1}', "invalid_input", "n"],
  ["ack with fractional n", '{"type":"ack","chat":"c","n":1.5}', "invalid_input", "n"],
  ["ack with string n", '{"type":"ack","chat":"c","n":"3"}', "invalid_input", "n"],
  ["ack with a huge n", '{"type":"ack","chat":"c","n":1e300}', "invalid_input", "n"],
  ["read without chat", '{"type":"read","n":1}', "invalid_input", "chat"],
  ["typing with a bad chat", '{"type":"typing","chat":""}', "invalid_input", "chat"],
  ["sync without cursors", '{"type":"sync"}', "invalid_input", "cursors"],
  ["sync with a list", '{"type":"sync","cursors":[1,2]}', "invalid_input", "cursors"],
  ["sync with a bad chat id", '{"type":"sync","cursors":{"a.b":1}}', "invalid_input", "cursors"],
  ["sync with a bad n", '{"type":"sync","cursors":{"c":-4}}', "invalid_input", "cursors.c"],
  ["sync with null n", '{"type":"sync","cursors":{"c":null}}', "invalid_input", "cursors.c"],
  [
    "sync with too many chats",
    JSON.stringify({
      type: "sync",
      cursors: Object.fromEntries(Array.from({ length: MAX_SYNC_CHATS + 1 }, (_, i) => [`c${i}`, 0])),
    }),
    "invalid_input",
    "cursors",
  ],
  ["watch without users", '{"type":"watch"}', "invalid_input", "users"],
  ["watch with a non-id", '{"type":"watch","users":["ok",3]}', "invalid_input", "users"],
  ["ping with an object ref", '{"type":"ping","ref":{}}', "invalid_input", "ref"],
];

describe("protocol frames - parseClientFrame", () => {
  for (const [name, input, want] of good) {
    test(`frames - parses ${name}`, () => {
      assert.deepEqual(parseClientFrame(JSON.stringify(input)), want);
    });
  }

  for (const [name, text, code, field] of bad) {
    test(`frames - refuses ${name} with ${code}${field ? ` on ${field}` : ""}`, () => {
      assert.throws(
        () => parseClientFrame(text),
        (err: unknown) => {
          assert.ok(err instanceof NatterError);
          assert.equal(err.code, code);
          assert.equal(err.field, field);
          assert.ok(err.message.length > 0);
          return true;
        },
      );
    });
  }

  test("frames - refOf echoes a usable ref of a bad frame, and nothing otherwise", () => {
    assert.equal(refOf('{"type":"send","ref":"r9","chat":"*"}'), "r9");
    assert.equal(refOf('{"type":"send","ref":9}'), undefined);
    assert.equal(refOf("not json"), undefined);
    assert.equal(refOf("null"), undefined);
  });
});

describe("protocol frames - close codes", () => {
  test("close codes - stop on policy and auth, reconnect on the rest", () => {
    assert.equal(shouldReconnect(CLOSE_CODES.unauthorized), false);
    assert.equal(shouldReconnect(CLOSE_CODES.policyViolation), false);
    assert.equal(shouldReconnect(CLOSE_CODES.normal), false);
    for (const code of [1001, 1006, 1009, 1011, 4002, 4008, 4009, 4010]) assert.equal(shouldReconnect(code), true);
    assert.equal(new Set(Object.values(CLOSE_CODES)).size, Object.values(CLOSE_CODES).length, "codes are distinct");
  });
});
