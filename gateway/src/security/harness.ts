// The security suite's shared ground (README.md here): a gateway over a real nats-server and
// a SQLite store in a file (so a snapshot can read every table from outside the gateway),
// the world of roles the authorization matrix and the fuzzers act in, snapshots of what is
// stored (every store table and the chat stream's last sequence), and a seeded PRNG.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { ConfigKey } from "@natter/config";
import { type ChatEvent, ERROR_STATUS, type ErrorCode } from "@natter/protocol";
import { SqliteStore } from "@natter/store";
import { CHAT_STREAM } from "@natter/subjects";
import { type NatsServer, startNatsServer, testVapidKeys } from "@natter/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import type { InjectOptions } from "fastify";
import { buildApp } from "../app.ts";
import { hashPassword } from "../auth/passwords.ts";
import { newId } from "../ids.ts";
import { openApiDocument, type OpenApiDoc } from "../openapi-requests.ts";
import type { App } from "../server-types.ts";
import { startTestGateway, type TestGateway } from "../testing.ts";
import type { WsOptions } from "../ws/options.ts";

// ------------------------------------------------------------------ seeded randomness

/** The fuzzers' seed: NATTER_FUZZ_SEED, else a fixed one, so `npm test` is repeatable. */
export function fuzzSeed(): number {
  const s = process.env.NATTER_FUZZ_SEED;
  return s === undefined || s === "" ? 0x5eed14 : Number.parseInt(s, 10) >>> 0;
}

/** Iterations of a fuzzer: NATTER_FUZZ_ITERATIONS, else the fuzzer's default (sized for seconds). */
export function fuzzIterations(fallback: number): number {
  const s = process.env.NATTER_FUZZ_ITERATIONS;
  const n = s === undefined || s === "" ? fallback : Number.parseInt(s, 10);
  assert.ok(Number.isSafeInteger(n) && n > 0, `NATTER_FUZZ_ITERATIONS=${s} is not a positive integer`);
  return n;
}

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export class Prng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** [0, 1) */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    assert.ok(items.length > 0, "pick from nothing");
    return items[this.int(items.length)]!;
  }
  /** A string of `length` characters from `alphabet` (default: anything in the BMP, surrogates included). */
  string(length: number, alphabet?: string): string {
    let s = "";
    for (let i = 0; i < length; i++) {
      s += alphabet ? alphabet[this.int(alphabet.length)] : String.fromCharCode(this.int(0x10000));
    }
    return s;
  }
}

/** Awkward values of every JSON type: what a wrong type or a huge value is made of. */
export function oddValue(rng: Prng): unknown {
  switch (rng.int(16)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1.5, -0, 2 ** 53, 2 ** 53 + 2, -(2 ** 63), 1e308, Number.MAX_SAFE_INTEGER]);
    case 3:
      return "";
    case 4:
      return rng.string(1 + rng.int(8));
    case 5:
      return "x".repeat(rng.pick([65, 257, 4097, 20_000]));
    case 6:
      return rng.pick(["__proto__", "constructor", "toString", "../../etc/passwd", "%00", "a.b", "*", ">", " "]);
    case 7:
      return "\u0000\ud800\udfff\u202e";
    case 8:
      return [];
    case 9:
      return Array.from({ length: rng.pick([2, 300, 2000]) }, (_, i) => `u${i}`);
    case 10:
      return {};
    case 11:
      return { __proto__: { admin: true }, constructor: { prototype: { polluted: true } } };
    case 12:
      return JSON.parse('{"__proto__": {"polluted": true}}');
    case 13:
      return nested(rng.pick([10, 200, 2000]));
    case 14:
      return rng.pick(["1", "0x10", "1e3", "NaN", "Infinity", "-1", "true", "null"]);
    default:
      return rng.int(1000);
  }
}

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

// ------------------------------------------------------------------ the environment

export interface SecurityEnv {
  nats: NatsServer;
  t: TestGateway;
  /** The gateway's own app, listening (WebSocket tests): http://127.0.0.1:<port>. */
  base: string;
  /** The same gateway's HTTP API with the web client's files from a directory of the test's own, for inject(). */
  http: App;
  doc: OpenApiDoc;
  /** Everything stored right now. */
  snapshot(): Promise<Snapshot>;
  close(): Promise<void>;
}

/** The handle of the user that NATTER_ADMINS names in every world (`operator` role). */
export const OPERATOR_PREFIX = "op";

/**
 * A gateway over a real nats-server and a SQLite store in a file. Budgets that would turn
 * the suite's many requests into 429s are raised (the limits have tests of their own);
 * `NATTER_ADMINS` names the operator handles of the worlds (`op<n>`).
 */
export async function startSecurityEnv(
  opts: { ws?: Partial<WsOptions>; overrides?: Partial<Record<ConfigKey, string>> } = {},
): Promise<SecurityEnv> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "natter-security-"));
  const dbFile = path.join(dir, "natter.db");
  const nats = await startNatsServer();
  const store = new SqliteStore({ path: dbFile });
  const vapid = testVapidKeys();
  const t = await startTestGateway(nats.url, {
    store,
    overrides: {
      admins: Array.from({ length: 200 }, (_, i) => `${OPERATOR_PREFIX}${i + 1}`).join(","),
      sendBurst: "100000",
      sendRate: "100000",
      lookupBurst: "100000",
      loginBurst: "100000",
      typingInterval: "1ms",
      // Web Push on, so the push routes answer (without keys they answer 501).
      pushVapidPublicKey: vapid.publicKey,
      pushVapidPrivateKey: vapid.privateKey,
      ...opts.overrides,
    },
    ...(opts.ws ? { ws: opts.ws } : {}),
  });
  const base = await t.gw.app.listen({ host: "127.0.0.1", port: 0 });
  // The web client's files from a directory of the test's own, so `/` and `/assets/…`
  // answer the same whether or not packages/web was built on this machine.
  const webDir = path.join(dir, "web");
  await mkdir(path.join(webDir, "assets"), { recursive: true });
  await writeFile(path.join(webDir, "index.html"), "<!doctype html><title>natter</title>");
  await writeFile(path.join(webDir, "assets", "app.0123abcd.js"), "console.log(1)");
  const { app: http } = await buildApp(t.gw.ctx, undefined, { webDir });
  const doc = await openApiDocument(http);
  const reader = new DatabaseSync(dbFile, { readOnly: true });
  const jsm = await jetstreamManager(t.nc);
  return {
    nats,
    t,
    base,
    http,
    doc,
    async snapshot() {
      const info = await jsm.streams.info(CHAT_STREAM);
      return { streamLastSeq: info.state.last_seq, tables: dumpTables(reader) };
    },
    async close() {
      reader.close();
      await http.close();
      await t.close();
      await store.close();
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------ what is stored

/** Everything stored: every row of every store table, and the chat stream's last sequence (the log's head). */
export interface Snapshot {
  streamLastSeq: number;
  tables: Record<string, string[]>;
}

function dumpTables(db: DatabaseSync): Record<string, string[]> {
  const names = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .all()
    .map((r) => String(r.name));
  return Object.fromEntries(
    names.map((name) => [
      name,
      db
        .prepare(`SELECT * FROM "${name}"`)
        .all()
        .map((row) => JSON.stringify(row))
        .sort(),
    ]),
  );
}

/**
 * What changed between two snapshots, as lines ("+ table row", "- table row", "stream …");
 * rows for which `allowed(table, row)` holds are not reported.
 */
export function snapshotDiff(
  a: Snapshot,
  b: Snapshot,
  allowed: (table: string, row: Record<string, unknown>) => boolean = () => false,
): string[] {
  const out: string[] = [];
  if (a.streamLastSeq !== b.streamLastSeq)
    out.push(`stream ${CHAT_STREAM}: last seq ${a.streamLastSeq} -> ${b.streamLastSeq}`);
  for (const table of new Set([...Object.keys(a.tables), ...Object.keys(b.tables)])) {
    const before = new Set(a.tables[table] ?? []);
    const after = new Set(b.tables[table] ?? []);
    for (const row of before) if (!after.has(row) && !allowed(table, JSON.parse(row))) out.push(`- ${table} ${row}`);
    for (const row of after) if (!before.has(row) && !allowed(table, JSON.parse(row))) out.push(`+ ${table} ${row}`);
  }
  return out;
}

/** The events the chat stream stored after `afterSeq` (what requests or frames published). */
export async function streamEventsAfter(env: SecurityEnv, afterSeq: number): Promise<ChatEvent[]> {
  const jsm = await jetstreamManager(env.t.nc);
  const last = (await jsm.streams.info(CHAT_STREAM)).state.last_seq;
  const out: ChatEvent[] = [];
  for (let seq = afterSeq + 1; seq <= last; seq++) {
    const m = await jsm.direct.getMessage(CHAT_STREAM, { seq });
    if (m) out.push({ ...(m.json() as ChatEvent), seq });
  }
  return out;
}

/** Takes snapshots until two in a row agree: the gateway's deferred writes (a sender's read mark, 50 ms) have landed. */
export async function settledSnapshot(env: SecurityEnv): Promise<Snapshot> {
  let prev = await env.snapshot();
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 70));
    const next = await env.snapshot();
    if (snapshotDiff(prev, next).length === 0) return next;
    prev = next;
  }
  throw new Error("the store did not settle within 3.5 s");
}

// ------------------------------------------------------------------ errors

/**
 * What is wrong with an error answer, or undefined: a `{code, message}` JSON body whose code
 * belongs to the status (`ERROR_STATUS`, the codes' one home).
 */
export function errorBodyProblem(status: number, contentType: unknown, body: string): string | undefined {
  if (!String(contentType ?? "").includes("application/json")) return `content-type ${String(contentType)}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return `a body that is not JSON: ${body.slice(0, 80)}`;
  }
  const b = parsed as { code?: unknown; message?: unknown };
  if (typeof b?.code !== "string" || typeof b.message !== "string") return `no {code, message}: ${body.slice(0, 120)}`;
  const expected = ERROR_STATUS[b.code as ErrorCode];
  if (expected !== status) return `code ${b.code} (status ${String(expected)}) on a ${status}`;
  return undefined;
}

// ------------------------------------------------------------------ the world of roles

/**
 * Who the callers are, each acting on the chat of their role (`Scene`):
 * - `anonymous`: no token at all.
 * - `outsider`: never a member of the group it acts on (which exists).
 * - `member`: a member of a direct chat (with the group's admin); no admin role exists there.
 * - `nonAdmin`: a member of the group without the admin role.
 * - `admin`: the group's creator, its admin (its peer: another non-admin member, `extra`).
 * - `removed`: removed from the group by the admin, after some messages; more came after.
 * - `requester`: opened a direct chat with a stranger (`target`) and wrote; not accepted yet.
 * - `requested`: that stranger, who holds the request and has not answered it.
 * - `blocked`: opened a direct chat with `target` and wrote; `target` then blocked them.
 * - `operator`: named by NATTER_ADMINS (the operators' API); a stranger to every chat (its
 *   peer: `extra`, so that revoking the peer's sessions ends nobody another role acts as).
 * Roles act in parallel on one world, so no two roles' requests touch the same pair of people.
 */
export const ROLES = [
  "anonymous",
  "outsider",
  "member",
  "nonAdmin",
  "admin",
  "removed",
  "requester",
  "requested",
  "blocked",
  "operator",
] as const;
export type Role = (typeof ROLES)[number];

export interface Person {
  userId: string;
  handle: string;
  token: string;
  deviceId: string;
}

/** A role's caller (none for `anonymous`), the chat it acts on, and the other party there. */
export interface Scene {
  role: Role;
  actor: Person | undefined;
  chat: string;
  /** The person on the other side: the chat's admin, or the requested user. */
  peer: Person;
  /** The chat's last event n when the world was made. */
  head: number;
  /** The removed member's removal (their history ends there); for other roles, the head. */
  lastReadable: number;
}

export interface World {
  people: Record<
    | "admin"
    | "nonAdmin"
    | "removed"
    | "extra"
    | "outsider"
    | "member"
    | "requester"
    | "target"
    | "blocked"
    | "operator",
    Person
  >;
  group: string;
  direct: string;
  request: string;
  blockedChat: string;
  scene(role: Role): Scene;
  /** Makes a person with a session (straight into the store: fixtures, not what is under test). */
  person(prefix?: string): Promise<Person>;
}

/** The password every world's people have. */
export const PASSWORD = "correct horse";
const PASSWORD_HASH = hashPassword(PASSWORD);
let people = 0;
let operators = 0;

/** A request through `inject()` as `token` (none: anonymous); the body parsed when it is JSON. */
export async function call(
  app: App,
  method: string,
  url: string,
  token?: string,
  payload?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await app.inject({
    method: method as "GET",
    url,
    headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(payload === undefined ? {} : { payload: payload as InjectOptions["payload"] }),
  } as InjectOptions);
  let body: unknown;
  try {
    body = res.body ? JSON.parse(res.body) : undefined;
  } catch {
    body = res.body;
  }
  return { status: res.statusCode, body: body as Record<string, unknown>, res };
}

async function ok(app: App, method: string, url: string, token: string, payload?: unknown) {
  const r = await call(app, method, url, token, payload);
  assert.ok(r.status < 300, `${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/**
 * A fresh world: its own people and chats, so a request that changes one (a removal, a
 * logout, a revocation) changes nothing another test relies on. Made through the HTTP API
 * (people straight into the store, to skip a scrypt per signup).
 */
export async function buildWorld(env: SecurityEnv): Promise<World> {
  const { store, gw } = env.t;
  const app = env.http;
  const person = async (prefix = "sec"): Promise<Person> => {
    const handle = prefix === OPERATOR_PREFIX ? `${OPERATOR_PREFIX}${++operators}` : `${prefix}${++people}`;
    const userId = newId("u_");
    const deviceId = newId("dv_");
    const now = Date.now();
    const expiresAt = now + 3_600_000;
    assert.ok(
      await store.createUser({
        userId,
        handle,
        displayName: handle,
        passwordHash: await PASSWORD_HASH,
        createdAt: now,
      }),
    );
    await store.createSession({ userId, deviceId, deviceName: "", createdAt: now, expiresAt, revoked: false });
    return { userId, handle, deviceId, token: gw.ctx.signer.sign({ userId, deviceId, expiresAt }) };
  };
  const p = {
    admin: await person(),
    nonAdmin: await person(),
    removed: await person(),
    extra: await person(),
    outsider: await person(),
    member: await person(),
    requester: await person(),
    target: await person(),
    blocked: await person(),
    operator: await person(OPERATOR_PREFIX),
  };
  // Someone brought into a chat by a stranger holds it as a message request until they accept.
  const accept = (who: Person, chat: string) => ok(app, "POST", `/v1/chats/${chat}/accept`, who.token);
  const send = (who: Person, chat: string, body: string) =>
    ok(app, "POST", `/v1/chats/${chat}/messages`, who.token, { id: newId("m"), body });

  // The group: the admin, a non-admin member, a member removed after two messages, and an
  // extra member who writes last, so everyone else has unread events.
  const group = (
    await ok(app, "POST", "/v1/chats", p.admin.token, {
      kind: "group",
      title: "security",
      members: [p.nonAdmin.userId, p.removed.userId, p.extra.userId],
    })
  ).chatId as string;
  for (const who of [p.nonAdmin, p.removed, p.extra]) await accept(who, group);
  await send(p.admin, group, "one");
  await send(p.nonAdmin, group, "two");
  const removedAt = (await ok(app, "DELETE", `/v1/chats/${group}/members/${p.removed.userId}`, p.admin.token))
    .n as number;
  await send(p.admin, group, "after the removal");
  const groupHead = ((await send(p.extra, group, "last")) as { n: number }).n;

  // The direct chat of the member and the admin; the member answered (accepted), the admin wrote last.
  const direct = (await ok(app, "POST", "/v1/chats", p.admin.token, { kind: "direct", userId: p.member.userId }))
    .chatId as string;
  await accept(p.member, direct);
  await send(p.member, direct, "hi");
  const directHead = ((await send(p.admin, direct, "hello")) as { n: number }).n;

  // A request: the requester wrote to a stranger, who has not answered.
  const request = (await ok(app, "POST", "/v1/chats", p.requester.token, { kind: "direct", userId: p.target.userId }))
    .chatId as string;
  const requestHead = ((await send(p.requester, request, "hello, stranger")) as { n: number }).n;

  // A block: the blocked user wrote to the target, who blocked them.
  const blockedChat = (await ok(app, "POST", "/v1/chats", p.blocked.token, { kind: "direct", userId: p.target.userId }))
    .chatId as string;
  const blockedHead = ((await send(p.blocked, blockedChat, "hello again")) as { n: number }).n;
  await ok(app, "POST", `/v1/users/${p.blocked.userId}/block`, p.target.token);

  const scenes: Record<Role, Omit<Scene, "role">> = {
    anonymous: { actor: undefined, chat: group, peer: p.admin, head: groupHead, lastReadable: groupHead },
    outsider: { actor: p.outsider, chat: group, peer: p.admin, head: groupHead, lastReadable: groupHead },
    member: { actor: p.member, chat: direct, peer: p.admin, head: directHead, lastReadable: directHead },
    nonAdmin: { actor: p.nonAdmin, chat: group, peer: p.admin, head: groupHead, lastReadable: groupHead },
    admin: { actor: p.admin, chat: group, peer: p.extra, head: groupHead, lastReadable: groupHead },
    removed: { actor: p.removed, chat: group, peer: p.admin, head: groupHead, lastReadable: removedAt },
    requester: { actor: p.requester, chat: request, peer: p.target, head: requestHead, lastReadable: requestHead },
    requested: { actor: p.target, chat: request, peer: p.requester, head: requestHead, lastReadable: requestHead },
    blocked: { actor: p.blocked, chat: blockedChat, peer: p.target, head: blockedHead, lastReadable: blockedHead },
    operator: { actor: p.operator, chat: group, peer: p.extra, head: groupHead, lastReadable: groupHead },
  };
  return {
    people: p,
    group,
    direct,
    request,
    blockedChat,
    person,
    scene: (role) => ({ role, ...scenes[role] }),
  };
}
