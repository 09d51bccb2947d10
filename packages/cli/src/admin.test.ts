// `natter admin …` as an operator runs it: the real `natter` process against a spawned
// gateway and consumers over a real nats-server (@natter/testkit), SQLite store, with
// NATTER_ADMINS naming the operator.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type GatewayProc, type Stack, startStack } from "@natter/testkit";
import { ADMIN_USAGE } from "./admin.ts";

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "main.ts");
const PASSWORD = "password-123";

let stack: Stack;
let gw: GatewayProc;
let dir: string;

before(async () => {
  stack = await startStack({ env: { NATTER_ADMINS: "cli_op" } });
  gw = stack.gateways[0]!;
  dir = await mkdtemp(path.join(tmpdir(), "natter-cli-admin-"));
});
after(async () => {
  await stack?.stop("SIGKILL");
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `natter <args>` as `user` (a credentials file each) to its end, at most 30 s. */
function natter(user: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: { ...process.env, NATTER_SERVER: gw.url, NATTER_CREDENTIALS: path.join(dir, `${user}.json`) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const printed = { stdout: "", stderr: "" };
    child.stdout.on("data", (d: Buffer) => (printed.stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (printed.stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, ...printed });
    });
  });
}

/** `natter <args>` that must succeed; its stdout. */
async function ok(user: string, args: string[]): Promise<string> {
  const r = await natter(user, args);
  assert.equal(r.code, 0, `natter ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Signs up `handle` as the credentials of `user`; returns its user id. */
async function signup(user: string, handle: string): Promise<string> {
  const out = await ok(user, ["signup", handle, "--name", `Name ${handle}`, "--password", PASSWORD]);
  return /\((u_[^)]+)\)/.exec(out)![1]!;
}

describe("cli admin - natter admin against a spawned gateway", () => {
  const ids: Record<string, string> = {};

  before(async () => {
    ids.op = await signup("op", "cli_op");
    ids.a = await signup("a", "cli_ad_a");
    ids.b = await signup("b", "cli_ad_b");
  });

  test("cli admin - usage: no command or an unknown one exits 2 with the admin usage; --help prints it", async () => {
    const none = await natter("op", ["admin"]);
    assert.equal(none.code, 2);
    assert.ok(none.stderr.includes(ADMIN_USAGE), none.stderr);
    const unknown = await natter("op", ["admin", "users", "frob", "x"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^natter: unknown admin command "users frob"\n/);
    const missing = await natter("op", ["admin", "users", "disable"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^natter: admin users disable: missing <handle\|id>\n/);
    const limit = await natter("op", ["admin", "users", "find", "cli", "--limit", "500"]);
    assert.equal(limit.code, 2);
    const help = await natter("op", ["admin", "--help"]);
    assert.equal(help.code, 0);
    assert.equal(help.stdout, `${ADMIN_USAGE}\n`);
  });

  test("cli admin - a non-admin is refused with the server's 403", async () => {
    for (const args of [["state"], ["users", "find", "cli"], ["users", "disable", "cli_ad_b"]]) {
      const r = await natter("a", ["admin", ...args]);
      assert.equal(r.code, 1, args.join(" "));
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^natter: forbidden: admins only \(HTTP 403\)\n$/);
    }
  });

  test("cli admin - users find prints a table in handle order, pages with --limit/--after, --json the answer", async () => {
    const out = await ok("op", ["admin", "users", "find", "CLI_AD"]);
    const lines = out.trimEnd().split("\n");
    assert.match(lines[0]!, /^USER ID\s+HANDLE\s+NAME\s+CREATED\s+DISABLED$/);
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(/\s{2,}/)),
      [
        [ids.a, "cli_ad_a", "Name cli_ad_a", lines[1]!.split(/\s{2,}/)[3], "no"],
        [ids.b, "cli_ad_b", "Name cli_ad_b", lines[2]!.split(/\s{2,}/)[3], "no"],
      ],
    );
    assert.match(lines[1]!.split(/\s{2,}/)[3]!, /^\d{4}-\d\d-\d\dT/);
    const first = await ok("op", ["admin", "users", "find", "@cli_ad", "--limit", "1"]);
    assert.match(first, /cli_ad_a/);
    assert.match(first, /\(more: --after cli_ad_a\)\n$/);
    const next = await ok("op", ["admin", "users", "find", "cli_ad", "--limit", "1", "--after", "cli_ad_a"]);
    assert.match(next, /cli_ad_b/);
    assert.doesNotMatch(next, /cli_ad_a/);
    const json = JSON.parse(await ok("op", ["admin", "users", "find", "cli_ad", "--json"])) as {
      users: { userId: string; disabled: boolean }[];
    };
    assert.deepEqual(
      json.users.map((u) => [u.userId, u.disabled]),
      [
        [ids.a, false],
        [ids.b, false],
      ],
    );
  });

  test("cli admin - disable by handle ends the sessions and refuses the login; enable by id lets the user back", async () => {
    await ok("c", ["signup", "cli_ad_c", "--name", "C", "--password", PASSWORD]);
    const sessions = await ok("op", ["admin", "users", "sessions", "cli_ad_c"]);
    assert.match(sessions, /^@cli_ad_c \(u_\S+\): /);
    assert.match(sessions, /\nDEVICE\s+NAME\s+CREATED\s+EXPIRES\s+STATE\n/);
    assert.match(sessions, /\bdv_\S+\s+-\s+\S+\s+\S+\s+live\n$/);

    const disabled = await ok("op", ["admin", "users", "disable", "@cli_ad_c"]);
    assert.match(disabled, /^disabled @cli_ad_c \((u_\S+)\); 1 session ended\n$/);
    const id = /\((u_\S+)\)/.exec(disabled)![1]!;
    const whoami = await natter("c", ["whoami"]);
    assert.equal(whoami.code, 1);
    assert.match(whoami.stderr, /unauthorized/);
    const login = await natter("c", ["login", "cli_ad_c", "--password", PASSWORD]);
    assert.equal(login.code, 1);
    assert.match(login.stderr, /^natter: account_disabled: .+ \(HTTP 403\)\n$/);
    assert.match(await ok("op", ["admin", "users", "sessions", id]), /revoked\n$/);

    assert.match(
      await ok("op", ["admin", "users", "enable", id]),
      /^enabled @cli_ad_c \(u_\S+\); they may log in again\n$/,
    );
    await ok("c", ["login", "cli_ad_c", "--password", PASSWORD]);
    assert.match(
      await ok("op", ["admin", "users", "revoke", "cli_ad_c"]),
      /^1 session of @cli_ad_c \(u_\S+\) ended\n$/,
    );
    const unknown = await natter("op", ["admin", "users", "disable", "cli_nobody"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^natter: not_found: no user with the handle or id "cli_nobody" \(HTTP 404\)\n$/);
  });

  test("cli admin - chats remove-member removes by handle or id and prints the event's n", async () => {
    const chat = (await ok("a", ["group", "ops", "cli_ad_b"])).trim();
    const removed = await ok("op", ["admin", "chats", "remove-member", chat, "cli_ad_b"]);
    assert.match(removed, new RegExp(`^removed @cli_ad_b \\(${ids.b}\\) from ${chat} at n=2\\n$`));
    const again = await natter("op", ["admin", "chats", "remove-member", chat, ids.b!]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^natter: not_found: .+ \(HTTP 404\)\n$/);
  });

  test("cli admin - messages delete deletes a message for everyone and prints the deletion's n and seq", async () => {
    const chat = (await ok("a", ["dm", "cli_ad_b"])).trim();
    const n = /n=(\d+)/.exec(await ok("a", ["send", chat, "to be deleted"]))![1]!;
    const deleted = await ok("op", ["admin", "messages", "delete", chat, n]);
    assert.match(deleted, new RegExp(`^deleted #${n} of ${chat} for everyone: message.deleted n=\\d+ seq=\\d+\\n$`));
    const history = await ok("b", ["export", chat]);
    assert.doesNotMatch(history, /to be deleted/, "the body is gone for the other member too");
    const notAMessage = await natter("op", ["admin", "messages", "delete", chat, "999"]);
    assert.equal(notAMessage.code, 1);
    assert.match(notAMessage.stderr, /^natter: not_found: .+ \(HTTP 404\)\n$/);
    const bad = await natter("op", ["admin", "messages", "delete", chat, "zero"]);
    assert.equal(bad.code, 2);
  });

  test("cli admin - state prints the streams and the durables' lag; --json the answer", async () => {
    const out = await ok("op", ["admin", "state"]);
    assert.match(out, /^STREAM\s+MESSAGES\s+BYTES\s+FIRST SEQ\s+LAST SEQ\s+CONSUMERS\s+REPLICAS\s+LEADER\n/);
    assert.match(out, /\nCHATS\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+1\s+\S+\n/);
    assert.match(
      out,
      /\nCONSUMER\s+PENDING\s+ACK PENDING\s+REDELIVERED\s+WAITING\s+DELIVERED SEQ\s+LAST ACTIVE\s+LEADER\n/,
    );
    assert.match(out, /\nCHATS\/history\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+/);
    assert.match(out, /\nCHATS\/push\s+\(not created\)\n/);
    const json = JSON.parse(await ok("op", ["admin", "state", "--json"])) as {
      streams: { name: string }[];
      consumers: { name: string; exists: boolean }[];
    };
    assert.ok(json.streams.some((s) => s.name === "CHATS"));
    assert.ok(json.consumers.some((c) => c.name === "fanout" && c.exists));
  });
});
