import assert from "node:assert/strict";
import { test } from "node:test";
import { Ajv } from "ajv";
import { CLIENT_FRAME_SCHEMA, CLIENT_FRAME_SCHEMAS } from "./frame-schemas.ts";
import { CLIENT_FRAME_TYPES, parseClientFrame } from "./frames.ts";

const ajv = new Ajv({ strict: false, allErrors: false });
const validate = ajv.compile(CLIENT_FRAME_SCHEMA);

// Frames as clients send them: JSON text. Each must be accepted or refused by both the
// hand parser and the schema alike.
const cases: [string, string, boolean][] = [
  ["auth", '{"type":"auth","token":"v1.a.b"}', true],
  ["auth, empty token", '{"type":"auth","token":""}', false],
  ["auth with cursors", '{"type":"auth","token":"v1.a.b","cursors":{"c1":4}}', true],
  ["auth with no cursors (resume, nothing held)", '{"type":"auth","token":"v1.a.b","cursors":{}}', true],
  ["auth with a ref (echoed by an error)", '{"type":"auth","ref":"r1","token":"v1.a.b"}', true],
  ["auth, numeric ref", '{"type":"auth","ref":5,"token":"v1.a.b"}', false],
  ["auth, bad cursor", '{"type":"auth","token":"v1.a.b","cursors":{"c1":-1}}', false],
  ["send", '{"type":"send","ref":"r","chat":"g_1","id":"m:1.x","body":"hi"}', true],
  ["send, extra field", '{"type":"send","ref":"r","chat":"g_1","id":"m","body":"","x":1}', true],
  ["send, no ref", '{"type":"send","chat":"g_1","id":"m","body":"hi"}', false],
  ["send, dotted chat", '{"type":"send","ref":"r","chat":"a.b","id":"m","body":"hi"}', false],
  ["send, spaced id", '{"type":"send","ref":"r","chat":"c","id":"a b","body":"hi"}', false],
  ["send, numeric body", '{"type":"send","ref":"r","chat":"c","id":"m","body":5}', false],
  ["send, long ref", `{"type":"send","ref":"${"r".repeat(65)}","chat":"c","id":"m","body":""}`, false],
  ["send, attachments only", '{"type":"send","ref":"r","chat":"g_1","id":"m","attachments":["a_1","a_2"]}', true],
  [
    "send, body and attachments",
    '{"type":"send","ref":"r","chat":"g_1","id":"m","body":"hi","attachments":["a_1"]}',
    true,
  ],
  ["send, neither", '{"type":"send","ref":"r","chat":"g_1","id":"m","attachments":[]}', false],
  [
    "send, an attachment twice",
    '{"type":"send","ref":"r","chat":"g_1","id":"m","body":"","attachments":["a_1","a_1"]}',
    false,
  ],
  [
    "send, a dotted attachment id",
    '{"type":"send","ref":"r","chat":"g_1","id":"m","body":"","attachments":["a.b"]}',
    false,
  ],
  ["send, a reply", '{"type":"send","ref":"r","chat":"g_1","id":"m","body":"hi","replyTo":3}', true],
  ["send, replyTo 0", '{"type":"send","ref":"r","chat":"g_1","id":"m","body":"hi","replyTo":0}', false],
  ["send, replyTo as text", '{"type":"send","ref":"r","chat":"g_1","id":"m","body":"hi","replyTo":"3"}', false],
  ["edit", '{"type":"edit","ref":"r","chat":"g_1","id":"e1","target":4,"body":"fixed"}', true],
  ["edit, no id", '{"type":"edit","ref":"r","chat":"g_1","target":4,"body":"fixed"}', false],
  ["edit, no target", '{"type":"edit","ref":"r","chat":"g_1","id":"e1","body":"fixed"}', false],
  ["edit, no body", '{"type":"edit","ref":"r","chat":"g_1","id":"e1","target":4}', false],
  ["react", '{"type":"react","ref":"r","chat":"g_1","target":4,"emoji":"👍"}', true],
  ["unreact", '{"type":"unreact","ref":"r","chat":"g_1","target":4,"emoji":"👍🏽"}', true],
  ["react, no emoji", '{"type":"react","ref":"r","chat":"g_1","target":4}', false],
  ["react, empty emoji", '{"type":"react","ref":"r","chat":"g_1","target":4,"emoji":""}', false],
  ["react, long emoji", `{"type":"react","ref":"r","chat":"g_1","target":4,"emoji":"${"x".repeat(33)}"}`, false],
  ["unreact, target 0", '{"type":"unreact","ref":"r","chat":"g_1","target":0,"emoji":"👍"}', false],
  ["delete", '{"type":"delete","ref":"r","chat":"g_1","target":17}', true],
  ["delete, no ref", '{"type":"delete","chat":"g_1","target":17}', false],
  ["delete, target 0", '{"type":"delete","ref":"r","chat":"g_1","target":0}', false],
  ["delete, target as text", '{"type":"delete","ref":"r","chat":"g_1","target":"17"}', false],
  ["delete, no target", '{"type":"delete","ref":"r","chat":"g_1"}', false],
  ["ack", '{"type":"ack","chat":"c","n":3}', true],
  ["ack, negative n", '{"type":"ack","chat":"c","n":-1}', false],
  ["ack, fractional n", '{"type":"ack","chat":"c","n":1.5}', false],
  ["read, n as text", '{"type":"read","chat":"c","n":"3"}', false],
  ["typing", '{"type":"typing","chat":"c"}', true],
  ["typing, no chat", '{"type":"typing"}', false],
  ["sync", '{"type":"sync","cursors":{"c1":0,"c2":9}}', true],
  ["sync, bad key", '{"type":"sync","cursors":{"a.b":0}}', false],
  ["sync, bad value", '{"type":"sync","cursors":{"c1":"x"}}', false],
  ["sync, list", '{"type":"sync","cursors":[]}', false],
  ["watch", '{"type":"watch","users":["u1","u2"]}', true],
  ["watch, bad user", '{"type":"watch","users":["u*"]}', false],
  ["ping", '{"type":"ping"}', true],
  ["ping, empty ref", '{"type":"ping","ref":""}', false],
  ["unknown type", '{"type":"shout"}', false],
  ["no type", "{}", false],
  ["server frame", '{"type":"event","chat":"c","n":1}', false],
];

test("frame schemas - there is one schema per client frame type", () => {
  assert.deepEqual(Object.keys(CLIENT_FRAME_SCHEMAS).sort(), [...CLIENT_FRAME_TYPES].sort());
});

for (const [name, text, ok] of cases) {
  test(`frame schemas - ${name}: the schema and parseClientFrame both ${ok ? "accept" : "refuse"} it`, () => {
    assert.equal(validate(JSON.parse(text)), ok, `schema: ${JSON.stringify(validate.errors)}`);
    if (ok) assert.doesNotThrow(() => parseClientFrame(text));
    else assert.throws(() => parseClientFrame(text), { name: "NatterError" });
  });
}
