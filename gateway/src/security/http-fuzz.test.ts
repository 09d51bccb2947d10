// A bounded, seeded schema-driven fuzzer for the HTTP API (issue 14 item 5). Each request
// starts from a valid one built from the OpenAPI document (openapi-requests.ts, as the
// contract test builds them: fixtures by parameter and property name) and is then mutated:
// a body field dropped, of the wrong type, huge, odd or unknown; the body truncated, not
// JSON, of another media type or absent; a path parameter malformed, over-long, encoded
// oddly; a query parameter odd or repeated; the token forged, another user's, revoked or of
// another scheme. Asserted for every answer: no 5xx; every error a JSON `{code, message}`
// whose code belongs to the status; every status declared by the document; and for every
// refused request (4xx), nothing stored: every store table and the chat stream as before.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fakeSubscriptionKeys } from "@natter/testkit";
import type { InjectOptions } from "fastify";
import {
  answerChecker,
  type DocOperation,
  type Fixtures,
  operationsOf,
  requestParts,
  routeKey,
  samples,
  type Schema,
  urlFor,
  wrongType,
} from "../openapi-requests.ts";
import {
  buildWorld,
  call,
  errorBodyProblem,
  fuzzIterations,
  fuzzSeed,
  oddValue,
  PASSWORD,
  type Person,
  Prng,
  type SecurityEnv,
  settledSnapshot,
  type Snapshot,
  snapshotDiff,
  startSecurityEnv,
  type World,
} from "./harness.ts";

let env: SecurityEnv;
let w: World;
/** A browser's keys for the push subscription route (fixed per run: the seed decides the rest). */
const SUBSCRIPTION_KEYS = fakeSubscriptionKeys();
before(async () => {
  env = await startSecurityEnv();
  w = await buildWorld(env);
});
after(async () => {
  await env?.close();
});

/** The fixtures the valid requests are built from: the world's people and chats, and unknown ones. */
function fixtures(world: World, rng: Prng): Fixtures {
  const p = world.people;
  return {
    chatId: () => [rng.pick([world.group, world.direct, world.request, world.blockedChat, "g_unknown"])],
    userId: () => [rng.pick([p.nonAdmin.userId, p.extra.userId, p.outsider.userId, p.admin.userId, "u_unknown"])],
    members: () => [[rng.pick([p.nonAdmin.userId, p.outsider.userId, p.target.userId])]],
    file: () => [rng.pick(["app.0123abcd.js", "missing.js"])],
    handle: () => [rng.pick([p.nonAdmin.handle, `fz${rng.int(1e9)}`])],
    users: () => [`${p.nonAdmin.userId},${p.outsider.userId}`],
    password: () => [PASSWORD],
    newPassword: () => [PASSWORD],
    id: () => [`fz-${rng.int(1e9)}`],
    body: () => ["hello"],
    // A reaction's emoji (a path parameter) and near misses: text, ❤ without its selector.
    emoji: () => [rng.pick(["👍", "ok", "❤"])],
    // A browser's push subscription (v1.1 push): a URL and keys of the right lengths.
    endpoint: () => [rng.pick(["https://push.example/send/fz", `https://push.example/${"x".repeat(rng.int(3000))}`])],
    p256dh: () => [SUBSCRIPTION_KEYS.p256dh],
    auth: () => [SUBSCRIPTION_KEYS.auth],
  };
}

interface Mutated {
  req: InjectOptions & { url: string; method: string };
  mutation: string;
}

/** A valid request of the operation, then one mutation of it. */
function mutate(o: DocOperation, rng: Prng, caller: Person, tokens: Record<string, string>): Mutated {
  const fx = fixtures(w, rng);
  const { pathParams, query, optionalQuery, bodySchema } = requestParts(o.op);
  const pathValues: Record<string, unknown> = Object.fromEntries(
    pathParams.map((p) => [p.name, rng.pick(samples(p.schema, fx, p.name))]),
  );
  const q: Record<string, unknown> = Object.fromEntries(query.map((p) => [p.name, samples(p.schema, fx, p.name)[0]]));
  const body: unknown = bodySchema ? rng.pick(samples(bodySchema, fx)) : undefined;
  const headers: Record<string, string> = o.op.security ? { authorization: `Bearer ${caller.token}` } : {};
  let raw: string | undefined;
  let url: string | undefined;
  let mutation: string;

  const props = bodySchema ? ((bodySchema.anyOf?.[0] ?? bodySchema).properties ?? {}) : {};
  const fields = body && typeof body === "object" ? Object.keys(body) : [];
  switch (rng.int(14)) {
    case 0:
      if (!fields.length) return mutate(o, rng, caller, tokens);
      {
        const k = rng.pick(fields);
        delete (body as Record<string, unknown>)[k];
        mutation = `body without ${k}`;
      }
      break;
    case 1:
      if (!fields.length) return mutate(o, rng, caller, tokens);
      {
        const k = rng.pick(fields);
        (body as Record<string, unknown>)[k] = wrongType((props[k] ?? {}) as Schema);
        mutation = `body ${k} of the wrong type`;
      }
      break;
    case 2:
    case 3:
      if (!fields.length) return mutate(o, rng, caller, tokens);
      {
        const k = rng.pick([...fields, "extra", "__proto__", "constructor"]);
        (body as Record<string, unknown>)[k] = oddValue(rng);
        mutation = `body ${k} odd`;
      }
      break;
    case 4:
      raw = rng.pick(['{"broken": ', "", "null", "[]", '"text"', "12", "{}", `${"[".repeat(10_000)}`]);
      headers["content-type"] = "application/json";
      mutation = `raw body ${JSON.stringify(raw.slice(0, 12))}`;
      break;
    case 5:
      raw = rng.pick(["<x/>", "a=b", "hello"]);
      headers["content-type"] = rng.pick([
        "application/xml",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
      ]);
      mutation = `media type ${headers["content-type"]}`;
      break;
    case 6:
      raw = JSON.stringify({ ...(body as object), pad: "x".repeat(rng.pick([70_000, 600_000])) });
      headers["content-type"] = "application/json";
      mutation = "oversize body";
      break;
    case 7:
    case 8: {
      if (!pathParams.length) return mutate(o, rng, caller, tokens);
      const p = rng.pick(pathParams);
      const odd = rng.pick([
        "bad.id*",
        "a".repeat(65),
        "%00",
        "..",
        "%2e%2e",
        "%2F",
        "%E0%A4%A",
        "u_unknown",
        " ",
        "😀",
      ]);
      url = urlFor(o.path, { ...pathValues, [p.name]: "@@" }, q).replace("@@", odd);
      mutation = `path ${p.name} ${odd}`;
      break;
    }
    case 9: {
      const p = rng.pick([...query, ...optionalQuery, { name: "x" }]);
      const odd = rng.pick([
        "",
        "-1",
        "0",
        "1.5",
        "1e999",
        "abc",
        "a".repeat(70_000),
        "%",
        "a,b,,,",
        "99999999999999999999",
      ]);
      url = `${urlFor(o.path, pathValues, q)}${query.length ? "&" : "?"}${p.name}=${encodeURIComponent(odd)}&${p.name}=2`;
      mutation = `query ${p.name}=${odd.slice(0, 12)} twice`;
      break;
    }
    case 10:
    case 11: {
      const t = rng.pick(Object.keys(tokens));
      headers.authorization = tokens[t]!;
      mutation = `token: ${t}`;
      break;
    }
    case 12:
      if (!o.op.security) return mutate(o, rng, caller, tokens);
      delete headers.authorization;
      mutation = "token: none";
      break;
    default:
      mutation = "valid";
  }
  url ??= urlFor(o.path, pathValues, q);
  const req = {
    method: o.method.toUpperCase(),
    url,
    headers,
    ...(raw !== undefined ? { payload: raw } : body !== undefined ? { payload: body as object } : {}),
  } as Mutated["req"];
  return { req, mutation };
}

describe("security - HTTP fuzzer", () => {
  test("http fuzz - mutated requests from the OpenAPI document: no 5xx, error bodies, nothing stored when refused", async () => {
    const seed = fuzzSeed();
    const iterations = fuzzIterations(300);
    const rng = new Prng(seed);
    const answerFails = answerChecker(env.doc);
    const operations = operationsOf(env.doc);
    const { gw } = env.t;
    const revoked = await w.person("fzrevoked");
    await gw.ctx.sessions.revoke(revoked.userId, [revoked.deviceId]);
    const p = w.people;
    const tokens: Record<string, string> = {
      "another user's": `Bearer ${p.outsider.token}`,
      "a removed member's": `Bearer ${p.removed.token}`,
      "a blocked user's": `Bearer ${p.blocked.token}`,
      forged: `Bearer ${p.nonAdmin.token.slice(0, -4)}AAAA`,
      revoked: `Bearer ${revoked.token}`,
      garbage: "Bearer garbage",
      basic: `Basic ${Buffer.from("a:b").toString("base64")}`,
      "no scheme": p.nonAdmin.token,
      huge: `Bearer ${"a".repeat(8000)}`,
    };
    // The caller is the operator (so the operators' API is reached) or a group member.
    const callers = [p.nonAdmin, p.operator];

    const problems: string[] = [];
    const statuses = new Map<string, number>();
    const refusedBy = new Map<string, number>();
    let snapshot: Snapshot = await settledSnapshot(env);
    const started = Date.now();
    for (let i = 0; i < iterations; i++) {
      const o = rng.pick(operations);
      const { req, mutation } = mutate(o, rng, rng.pick(callers), tokens);
      const res = await env.http.inject(req);
      const where = `${routeKey(o)} [${mutation}] ${req.url.slice(0, 120)} -> ${res.statusCode}`;
      statuses.set(String(res.statusCode), (statuses.get(String(res.statusCode)) ?? 0) + 1);
      if (res.statusCode >= 500) problems.push(`${where}: ${res.body.slice(0, 200)}`);
      if (res.statusCode >= 400) {
        const wrong = errorBodyProblem(res.statusCode, res.headers["content-type"], res.body);
        if (wrong) problems.push(`${where}: ${wrong}`);
        const kind = mutation.split(/[ :]/)[0]!;
        refusedBy.set(kind, (refusedBy.get(kind) ?? 0) + 1);
      }
      const undeclared = answerFails(o, res);
      if (undeclared) problems.push(`${where}: ${undeclared}`);
      if (res.statusCode >= 400) {
        // Refused: nothing stored, not a row, not an event.
        const now = await env.snapshot();
        const changed = snapshotDiff(snapshot, now);
        if (changed.length) problems.push(`${where}: stored ${changed.slice(0, 3).join("; ")}`);
        snapshot = now;
      } else if (req.method !== "GET") {
        // Accepted: its deferred writes (a sender's read mark) land before the next request is
        // judged, and sessions it ended (a logout, a revocation) come back, so later requests
        // are not all 401. A GET changes nothing (the next refused request's diff would say so).
        for (const who of Object.values(p)) await refresh(who);
        snapshot = await settledSnapshot(env);
      }
    }
    const ms = Date.now() - started;
    console.log(
      `http fuzz: seed ${seed} (NATTER_FUZZ_SEED), ${iterations} requests (NATTER_FUZZ_ITERATIONS) in ${ms} ms over ` +
        `${operations.length} operations; statuses ${JSON.stringify(Object.fromEntries(statuses))}; ` +
        `refused by mutation ${JSON.stringify(Object.fromEntries(refusedBy))}`,
    );
    assert.deepEqual(problems, []);
    // The fuzzer got past validation too, and was refused in more than one way.
    assert.ok(
      [...statuses.keys()].some((s) => s.startsWith("2")),
      "no request was accepted",
    );
    for (const s of ["400", "401", "404"]) assert.ok(statuses.has(s), `no ${s} answer`);
  });
});

/** A fresh session for someone whose token an accepted request ended (straight into the store: a fixture). */
async function refresh(who: Person): Promise<void> {
  const { ctx } = env.t.gw;
  const ok = (await call(env.http, "GET", "/v1/me", who.token)).status === 200;
  if (ok) return;
  const expiresAt = Date.now() + 3_600_000;
  await ctx.store.createSession({
    userId: who.userId,
    deviceId: who.deviceId + "r",
    deviceName: "",
    createdAt: Date.now(),
    expiresAt,
    revoked: false,
  });
  who.deviceId += "r";
  who.token = ctx.signer.sign({ userId: who.userId, deviceId: who.deviceId, expiresAt });
}
