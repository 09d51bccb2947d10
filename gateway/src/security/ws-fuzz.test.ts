// A bounded, seeded random-frame fuzzer for `/v1/ws` (issue 14 item 5). Frames are built from
// the client frame schemas of @natter/protocol (CLIENT_FRAME_SCHEMAS: every type, every
// field, from fixtures that name real and unknown chats), then broken: fields dropped or of
// the wrong type, huge values, unknown types, garbage and truncated JSON, invalid UTF-8,
// binary frames, frames over the size limit, and bursts. Two users fuzz at once (a member of
// the group and a member removed from it) while a bystander's socket must keep answering.
// Asserted: no `error` frame with a 5xx code (`internal`, `unavailable`), no close the
// gateway sends for its own failure (1011) nor a dropped connection (1006), the bystander
// answers throughout, and nothing is stored but what the gateway answered `sent` for:
// the chat stream grew by exactly those messages (and reactions), and no store row changed
// except the sender's own read pointer in the group (sending reads the chat) and their
// reactions there. Seed and counts printed.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CLIENT_FRAME_SCHEMAS, CLOSE_CODES, ERROR_STATUS, type ErrorCode, MAX_FRAME_BYTES } from "@natter/protocol";
import { WsClient } from "@natter/testkit";
import {
  buildWorld,
  fuzzIterations,
  fuzzSeed,
  oddValue,
  type Person,
  Prng,
  type SecurityEnv,
  settledSnapshot,
  snapshotDiff,
  startSecurityEnv,
  streamEventsAfter,
  type World,
} from "./harness.ts";

/**
 * Closes a fuzzed socket may get: each is the gateway refusing the client, never failing
 * itself. 1007: text that is not UTF-8 (the WebSocket library's check).
 */
const REFUSALS = new Set<number>([
  1007,
  CLOSE_CODES.policyViolation,
  CLOSE_CODES.tooLarge,
  CLOSE_CODES.rateLimited,
  CLOSE_CODES.unauthorized,
]);

let senv: SecurityEnv;
let w: World;

before(async () => {
  // More invalid frames per socket than the default 20 per 10 s, so a socket lives long
  // enough to meet most kinds of frame; the limit itself is still met (and its close allowed).
  senv = await startSecurityEnv({ ws: { badFrameLimit: 150 } });
  w = await buildWorld(senv);
});
after(async () => {
  await senv?.close();
});

/** Values for every field of every client frame schema: the real ones and the near misses. */
function fieldFixtures(world: World, token: string): Record<string, (rng: Prng) => unknown> {
  // Half the frames name the group, where the member's frames pass the membership check
  // and reach what comes after it.
  const chats = [world.group, world.group, world.group, world.direct, world.request, "g_unknown"];
  return {
    ref: (rng) => `r${rng.int(1e9)}`,
    token: (rng) => rng.pick([token, `${token.slice(0, -3)}AAA`, "v1.x.y", "garbage"]),
    chat: (rng) => rng.pick(chats),
    id: (rng) => rng.pick([`m${rng.int(1e9)}`, "dup-id", "a:b.c-d_e"]),
    body: (rng) => rng.pick(["hello", " ", "x".repeat(4097), "\u{1F600}".repeat(1100), "\u0000"]),
    n: (rng) => rng.pick([0, 1, 3, 2 ** 31, Number.MAX_SAFE_INTEGER]),
    // Deletes and edits the member may not make (no event is stored by one): the group's
    // creation, the admin's message, a member event, none at all; and malformed targets.
    target: (rng) => rng.pick([0, 1, 2, 4, 2 ** 31, Number.MAX_SAFE_INTEGER]),
    // Replies to the admin's message (accepted, a plain message of the member), to the
    // group's creation or to nothing.
    replyTo: (rng) => rng.pick([0, 1, 2, 2 ** 31]),
    // Attachments none of which the member may send (none exists): nothing is stored by one.
    attachments: (rng) => rng.pick([["a_unknown"], [], "a_x", [world.group, world.group], [1]]),
    // Emoji and near misses (text, two emoji, ❤ without its selector, too long): a valid
    // reaction of the member to the admin's message is accepted (and answered `sent`).
    emoji: (rng) => rng.pick(["👍", "❤️", "ok", "❤", "", "👍👍", "x".repeat(40)]),
    // A resend's mark, and what is not one (`retry` must be a boolean).
    retry: (rng) => rng.pick([true, false, "yes", 1, null]),
    cursors: (rng) => Object.fromEntries([[rng.pick(chats), rng.pick([0, 2, 1e9])]]),
    users: (rng) => rng.pick([[world.people.admin.userId], [], ["u_unknown", world.people.outsider.userId]]),
  };
}

type Sent = { data: string | Buffer; binary: boolean; kind: string };

/** One fuzzed frame (or a burst of them). */
function fuzzFrames(rng: Prng, fixtures: Record<string, (rng: Prng) => unknown>): Sent[] {
  const types = Object.keys(CLIENT_FRAME_SCHEMAS) as (keyof typeof CLIENT_FRAME_SCHEMAS)[];
  const template = () => {
    const type = rng.pick(types);
    const props = Object.keys(CLIENT_FRAME_SCHEMAS[type].properties).filter((k) => k !== "type");
    return { type, ...Object.fromEntries(props.map((k) => [k, fixtures[k]!(rng)])) } as Record<string, unknown>;
  };
  const text = (o: unknown, kind: string): Sent => ({ data: JSON.stringify(o), binary: false, kind });
  /** A frame from the schemas, broken in one place (often) or up to three. */
  const broken = () => {
    const f = template();
    const keys = Object.keys(f);
    for (let i = rng.chance(0.6) ? 1 : 2 + rng.int(2); i > 0; i--) {
      const k = rng.pick(keys);
      const how = rng.int(5);
      if (how === 0) delete f[k];
      else if (how <= 2) f[k] = oddValue(rng);
      else if (how === 3) f[rng.pick(["extra", "__proto__", "constructor", "ref", "type"])] = oddValue(rng);
      else f.type = rng.pick(["shout", "SEND", "", "event", "ready", "sent", null, 7, ["send"]]);
    }
    return f;
  };
  switch (rng.int(12)) {
    case 0:
    case 1:
    case 2:
      return [text(broken(), "mutated")];
    case 3:
      // As the schemas allow it (some of these are accepted: sends, acks, syncs, watches, pings).
      return [text(template(), "valid")];
    case 4:
      return [text(oddValue(rng), "not an object")];
    case 5: {
      const s = JSON.stringify(template());
      return [{ data: s.slice(0, rng.int(s.length)), binary: false, kind: "truncated" }];
    }
    case 6:
      return [{ data: rng.string(1 + rng.int(200)), binary: false, kind: "random text" }];
    case 7:
      return [
        rng.chance(0.5)
          ? { data: Buffer.from(JSON.stringify(template())), binary: true, kind: "binary frame" }
          : {
              data: Buffer.from(Array.from({ length: 1 + rng.int(64) }, () => rng.int(256))),
              binary: true,
              kind: "binary",
            },
      ];
    case 8:
      // Text frames whose bytes are not UTF-8.
      return [{ data: Buffer.from([0x7b, 0xff, 0xfe, 0xc3, 0x28, 0x7d]), binary: false, kind: "invalid utf-8" }];
    case 9:
      // Over or just under the size limit.
      return [
        text(
          {
            type: "send",
            ref: "big",
            chat: w.group,
            id: "big",
            body: "x".repeat(MAX_FRAME_BYTES + rng.pick([-200, 10])),
          },
          "huge",
        ),
      ];
    case 10:
      // Nested deeper than a recursive parser's stack (sent as text: JSON.stringify would overflow here).
      return [{ data: `${"[".repeat(100_000)}${"]".repeat(100_000)}`, binary: false, kind: "deep" }];
    default: {
      // A burst: many frames back to back.
      const out: Sent[] = [];
      for (let i = 20 + rng.int(60); i > 0; i--) out.push(text(rng.chance(0.7) ? broken() : template(), "burst"));
      return out;
    }
  }
}

/** A fuzzing user's socket, reopened whenever the gateway closes it. */
class Fuzzed {
  readonly closes: number[] = [];
  readonly errors: string[] = [];
  readonly sentSeqs = new Set<number>();
  #c: WsClient | undefined;
  readonly #who: Person;
  constructor(who: Person) {
    this.#who = who;
  }
  async socket(): Promise<WsClient> {
    if (this.#c && this.#c.closeCode === undefined) return this.#c;
    if (this.#c) this.#collect(this.#c);
    const c = await WsClient.open(senv.base, { token: this.#who.token, name: this.#who.handle });
    await c.waitFor((f) => f.type === "ready", 5000, "ready");
    this.#c = c;
    return c;
  }
  /** Waits until the gateway has read everything sent so far (its `pong`), or closed the socket. */
  async barrier(): Promise<void> {
    const c = this.#c;
    if (!c || c.closeCode !== undefined) return;
    const ref = `barrier${Math.random()}`;
    c.send({ type: "ping", ref });
    await c.until(
      () => c.closeCode !== undefined || c.frames.some((f) => f.type === "pong" && f.ref === ref),
      10_000,
      "pong",
    );
  }
  async finish(): Promise<void> {
    if (!this.#c) return;
    await this.barrier();
    // Answers to the last frames (a send waits for its PubAck) arrive after the pong.
    await new Promise((r) => setTimeout(r, 300));
    await this.#c.close();
    this.#collect(this.#c, true);
  }
  #collect(c: WsClient, ours = false): void {
    if (!ours && c.closeCode !== undefined) this.closes.push(c.closeCode);
    for (const f of c.frames) {
      if (f.type === "error") this.errors.push(f.code);
      if (f.type === "sent") this.sentSeqs.add(f.seq);
    }
  }
}

describe("security - WebSocket fuzzer", () => {
  test("ws fuzz - random and malformed frames: no 5xx, no crash, nothing stored but what was sent", async () => {
    const seed = fuzzSeed();
    const iterations = fuzzIterations(400);
    const rng = new Prng(seed);
    const member = new Fuzzed(w.people.nonAdmin);
    const removed = new Fuzzed(w.people.removed);
    const bystander = await WsClient.open(senv.base, { token: w.people.admin.token, name: "bystander" });
    await bystander.waitFor((f) => f.type === "ready", 5000, "ready");
    const fixtures = {
      member: fieldFixtures(w, w.people.nonAdmin.token),
      removed: fieldFixtures(w, w.people.removed.token),
    };
    const before = await settledSnapshot(senv);
    const kinds = new Map<string, number>();
    let frames = 0;
    const started = Date.now();

    for (let i = 0; i < iterations; i++) {
      const as = rng.chance(0.7) ? "member" : "removed";
      const f = as === "member" ? member : removed;
      const c = await f.socket();
      for (const s of fuzzFrames(rng, fixtures[as])) {
        if (c.closeCode !== undefined) break;
        c.sendRaw(s.data, s.binary);
        kinds.set(s.kind, (kinds.get(s.kind) ?? 0) + 1);
        frames++;
      }
      if (i % 10 === 9) {
        await f.barrier();
        // The others keep working: the bystander's socket answers at once.
        const ref = `by${i}`;
        bystander.send({ type: "ping", ref });
        await bystander.waitFor((fr) => fr.type === "pong" && fr.ref === ref, 2000, "the bystander's pong");
      }
    }
    await Promise.all([member.finish(), removed.finish()]);
    const afterwards = await settledSnapshot(senv);
    const ms = Date.now() - started;

    const errors = [...member.errors, ...removed.errors];
    const sent = member.sentSeqs.size + removed.sentSeqs.size;
    console.log(
      `ws fuzz: seed ${seed} (NATTER_FUZZ_SEED), ${iterations} iterations (NATTER_FUZZ_ITERATIONS), ${frames} frames in ${ms} ms; ` +
        `kinds ${JSON.stringify(Object.fromEntries(kinds))}; error frames ${JSON.stringify(countBy(errors))}; ` +
        `closes ${JSON.stringify(countBy([...member.closes, ...removed.closes].map(String)))}; sends accepted ${sent}`,
    );

    assert.deepEqual(
      errors.filter((code) => (ERROR_STATUS[code as ErrorCode] ?? 500) >= 500),
      [],
      "error frames with a 5xx code (or an unknown one)",
    );
    assert.deepEqual(
      [...member.closes, ...removed.closes].filter((code) => !REFUSALS.has(code)),
      [],
      "closes that are not a refusal of the client",
    );
    assert.equal(bystander.closeCode, undefined, "the bystander's socket stayed open");
    assert.equal(removed.sentSeqs.size, 0, "a removed member's send was accepted");
    // The stream holds nothing but accepted sends: every `sent` among them, and the others
    // valid messages of the member whose answer the close of their socket (a later frame too
    // large, or not UTF-8) cut off. No row changed but the sender's read pointer.
    const me = w.people.nonAdmin.userId;
    const stored = await streamEventsAfter(senv, before.streamLastSeq);
    assert.deepEqual(
      stored.filter(
        (e) =>
          !(e.kind === "message.created" && e.chat === w.group && e.from === me && validBody(e.body ?? "")) &&
          !((e.kind === "reaction.added" || e.kind === "reaction.removed") && e.chat === w.group && e.from === me),
      ),
      [],
      "events stored that are not a member's valid message or reaction",
    );
    const storedSeqs = new Set(stored.map((e) => e.seq));
    assert.deepEqual(
      [...member.sentSeqs].filter((s) => !storedSeqs.has(s)),
      [],
      "sent, but not in the stream",
    );
    const changed = snapshotDiff(
      before,
      afterwards,
      (table, row) =>
        (table === "read_state" || table === "reactions") && row.chat_id === w.group && row.user_id === me,
    ).filter((line) => !line.startsWith("stream "));
    assert.deepEqual(changed, [], "store rows changed by rejected frames");
    // The fuzzer reached the gateway's answers, not only its parser.
    assert.ok(errors.includes("invalid_input") && errors.includes("invalid_json"), JSON.stringify(countBy(errors)));
    assert.ok(errors.includes("not_found") && errors.includes("forbidden"), JSON.stringify(countBy(errors)));
    bystander.ws.close();
    await bystander.closed;
  });
});

/** A body the gateway may accept: not blank, within NATTER_BODY_LIMIT bytes of UTF-8. */
function validBody(body: string): boolean {
  return body.trim() !== "" && Buffer.byteLength(body) <= senv.t.gw.ctx.config.bodyLimit;
}

function countBy(items: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of items) out[x] = (out[x] ?? 0) + 1;
  return out;
}
