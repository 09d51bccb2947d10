// The `natter` command as a user runs it: a spawned process against a spawned gateway and
// consumers over a real nats-server (@natter/testkit stack.ts), SQLite store.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { NatterHttp } from "@natter/client";
import { type GatewayProc, LIFTED_RATE_LIMITS, type Stack, startStack } from "@natter/testkit";

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "main.ts");

let stack: Stack;
let gw: GatewayProc;
let dir: string;

before(async () => {
  // The export test sends 120 messages at once: lift the per-user send rate limit.
  stack = await startStack({ env: LIFTED_RATE_LIMITS });
  gw = stack.gateways[0]!;
  dir = await mkdtemp(path.join(tmpdir(), "natter-cli-"));
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

/** Spawns `natter <args>` as `user` (one credentials file each), keeping what it prints. */
function spawnNatter(user: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, NATTER_SERVER: gw.url, NATTER_CREDENTIALS: path.join(dir, `${user}.json`), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const printed = { stdout: "", stderr: "" };
  child.stdout.on("data", (d: Buffer) => (printed.stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (printed.stderr += d.toString()));
  return { child, printed };
}

/** Runs `natter <args>` as `user` to its end. */
function natter(user: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const { child, printed } = spawnNatter(user, args, env);
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, ...printed });
    });
  });
}

/** `natter tail <args>` as `user`, running: `waitOut` waits until what it printed matches. */
function startTail(user: string, args: string[]) {
  const { child, printed } = spawnNatter(user, ["tail", ...args]);
  return {
    child,
    printed,
    exited: new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code))),
    async waitOut(re: RegExp) {
      const deadline = Date.now() + 15_000;
      while (!re.test(printed.stdout)) {
        if (Date.now() > deadline)
          throw new Error(`tail printed ${JSON.stringify(printed.stdout)} / ${printed.stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

/** What `natter` stored for `user` at signup or login. */
async function credentials(user: string) {
  return JSON.parse(await readFile(path.join(dir, `${user}.json`), "utf8")) as { token: string; userId: string };
}

const PASSWORD = "password-123";

describe("cli - natter against a spawned gateway", () => {
  let chatId = "";

  test("cli - signup stores credentials (owner-only) and prints the user", async () => {
    const r = await natter("ana", ["signup", "cli_ana", "--name", "Ana", "--password", PASSWORD]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^signed up cli_ana \(\S+\); logged in on http:\/\/127\.0\.0\.1:\d+\n$/);
    const st = await stat(path.join(dir, "ana.json"));
    assert.equal(st.mode & 0o777, 0o600);
    const ben = await natter("ben", ["signup", "cli_ben", "--name", "Ben"], { NATTER_PASSWORD: PASSWORD });
    assert.equal(ben.code, 0, ben.stderr);
  });

  test("cli - login with a wrong password exits 1 with the server's code and message", async () => {
    const r = await natter("ana2", ["login", "cli_ana", "--password", "wrong-password"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^natter: bad_credentials: .+ \(HTTP 401\)\n$/);
  });

  test("cli - login, dm, send prints seq and n, chats lists the chat", async () => {
    const login = await natter("ana", ["login", "cli_ana", "--password", PASSWORD]);
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /^logged in as cli_ana \(\S+\) on http/);

    const dm = await natter("ana", ["dm", "cli_ben"]);
    assert.equal(dm.code, 0, dm.stderr);
    chatId = dm.stdout.trim();
    assert.match(chatId, /^[A-Za-z0-9_-]+$/);

    const sent = await natter("ana", ["send", chatId, "hello", "from", "the", "cli"]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, /^sent seq=\d+ n=2\n$/);
    const again = await natter("ben", ["send", chatId, "hi ana"]);
    assert.match(again.stdout, /^sent seq=\d+ n=3\n$/, `${again.stderr}\n${gw.output()}`);

    const chats = await natter("ben", ["chats"]);
    assert.equal(chats.code, 0, chats.stderr);
    const row = chats.stdout.split("\n").find((l) => l.startsWith(chatId));
    assert.ok(row, chats.stdout);
    assert.match(row, /\tdirect\t@\S+\tn=3\t/);
    // Ben did not start the chat: it is named by Ana's handle all the same.
    assert.match(row, /\tdirect\t@cli_ana\tn=3\t/);
  });

  test("cli - export writes the whole history as JSON Lines", async () => {
    // The history consumer writes shortly after `sent`.
    let lines: { n: number; kind: string; body?: string }[] = [];
    for (let i = 0; i < 100 && lines.length < 3; i++) {
      const r = await natter("ana", ["export", chatId]);
      assert.equal(r.code, 0, r.stderr);
      lines = r.stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      if (lines.length < 3) await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(
      lines.map((e) => [e.n, e.kind, e.body]),
      [
        [1, "chat.created", undefined],
        [2, "message.created", "hello from the cli"],
        [3, "message.created", "hi ana"],
      ],
    );
  });

  test("cli - export pages through more than 100 events", async () => {
    // The bulk goes through the SDK's HTTP client with ana's stored token (120 spawns would be slow).
    const http = new NatterHttp({ servers: gw.url, token: (await credentials("ana")).token });
    for (let i = 0; i < 120; i++) await http.sendMessage(chatId, `bulk-${i}`, "bulk");
    let count = 0;
    for (let i = 0; i < 100 && count < 123; i++) {
      const r = await natter("ben", ["export", chatId]);
      assert.equal(r.code, 0, r.stderr);
      const ns = r.stdout
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { n: number }).n);
      assert.deepEqual(
        ns,
        Array.from({ length: ns.length }, (_, k) => k + 1),
      );
      count = ns.length;
      if (count < 123) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(count, 123);
  });

  test("cli - tail prints the last events, then live ones, and stops on SIGINT", async () => {
    const tail = startTail("ben", [chatId, "--last", "2"]);
    try {
      await tail.waitOut(/^#122 .*: bulk\n#123 .*: bulk\n$/);
      // Connected once it printed the backfill and the socket is up; a send shows up live.
      await new Promise((r) => setTimeout(r, 300));
      const s = await natter("ana", ["send", chatId, "live one"]);
      assert.equal(s.code, 0, s.stderr);
      await tail.waitOut(/#124 \S+ \S+: live one\n$/);
      assert.equal(
        tail.printed.stdout.split("\n").filter(Boolean).length,
        3,
        "the backfill and the live event, nothing twice",
      );
      // People by handle, not by id.
      assert.match(
        tail.printed.stdout,
        /^#122 \S+ @cli_ana: bulk\n#123 \S+ @cli_ana: bulk\n#124 \S+ @cli_ana: live one\n$/,
      );
    } finally {
      tail.child.kill("SIGINT");
    }
    assert.equal(await tail.exited, 0, tail.printed.stderr);
  });

  test("cli - tail names people by handle: a group's creation, a member added while tailing", async () => {
    const cara = await natter("cara", ["signup", "cli_cara", "--name", "Cara", "--password", PASSWORD]);
    assert.equal(cara.code, 0, cara.stderr);
    const group = await natter("ana", ["group", "Club", "cli_ben"]);
    assert.equal(group.code, 0, group.stderr);
    const groupId = group.stdout.trim();
    const tail = startTail("ben", [groupId]);
    try {
      await tail.waitOut(/^#1 \S+ @cli_ana created group "Club" with @cli_ana, @cli_ben\n$/);
      await new Promise((r) => setTimeout(r, 300));
      // Cara, not a member when the tail started, is added: named by a lookup.
      const { token } = await credentials("ana");
      await new NatterHttp({ servers: gw.url, token }).addMember(groupId, (await credentials("cara")).userId);
      await tail.waitOut(/\n#2 \S+ @cli_ana added @cli_cara\n$/);
    } finally {
      tail.child.kill("SIGINT");
    }
    assert.equal(await tail.exited, 0, tail.printed.stderr);
  });

  test("cli - send --file uploads each file and sends them in one message; tail and export show them", async () => {
    const image = path.join(dir, "pic.png");
    const notes = path.join(dir, "notes.txt");
    // The PNG signature and an IHDR of 3 x 2: enough for the gateway to record the size.
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(3, 0);
    ihdr.writeUInt32BE(2, 4);
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
      Buffer.from("IHDR"),
      ihdr,
    ]);
    await writeFile(image, png);
    await writeFile(notes, "remember the milk\n");
    const sent = await natter("ana", ["send", chatId, "--file", image, "--file", notes]);
    assert.equal(sent.code, 0, sent.stderr);
    const lines = sent.stdout.trim().split("\n");
    assert.equal(lines.length, 3, sent.stdout);
    assert.match(lines[0]!, /^uploaded pic\.png a_\S+ \d+ bytes sha256=[0-9a-f]{64}$/);
    assert.match(lines[1]!, /^uploaded notes\.txt a_\S+ 18 bytes sha256=/);
    assert.match(lines[2]!, /^sent seq=\d+ n=\d+$/);
    const n = Number(/ n=(\d+)/.exec(lines[2]!)![1]);
    const exported = await natter("ben", ["export", chatId]);
    const e = exported.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { n: number; body: string; attachments?: Record<string, unknown>[] })
      .find((x) => x.n === n)!;
    assert.equal(e.body, "");
    assert.deepEqual(
      e.attachments?.map((a) => [a.name, a.contentType, a.width, a.height]),
      [
        ["pic.png", "image/png", 3, 2],
        ["notes.txt", "text/plain", undefined, undefined],
      ],
    );
    // A missing file is an error before anything is sent.
    const missing = await natter("ana", ["send", chatId, "--file", path.join(dir, "nope.bin")]);
    assert.equal(missing.code, 1);
  });

  test("cli - send --reply-to sends a reply; reactions lists each emoji with its count and who", async () => {
    const asked = await natter("ana", ["send", chatId, "pizza tonight?"]);
    assert.equal(asked.code, 0, asked.stderr);
    const n = Number(/ n=(\d+)/.exec(asked.stdout)![1]);
    const reply = await natter("ben", ["send", chatId, "yes", "--reply-to", String(n)]);
    assert.equal(reply.code, 0, reply.stderr);
    const replyN = Number(/ n=(\d+)/.exec(reply.stdout)![1]);
    const bad = await natter("ben", ["send", chatId, "no", "--reply-to", "0"]);
    assert.equal(bad.code, 2, "a usage error");
    const notMessage = await natter("ben", ["send", chatId, "no", "--reply-to", "1"]);
    assert.equal(notMessage.code, 1);
    assert.match(notMessage.stderr, /invalid_input/);

    // Reactions over HTTP (the users' stored tokens), then listed by the CLI.
    const react = async (user: string, emoji: string, method = "PUT") => {
      const { token } = await credentials(user);
      const res = await fetch(`${gw.url}/v1/chats/${chatId}/messages/${n}/reactions/${encodeURIComponent(emoji)}`, {
        method,
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 200, await res.text());
    };
    await react("ana", "🍕");
    await react("ben", "🍕");
    await react("ben", "🎉");
    await react("ana", "👍");
    await react("ana", "👍", "DELETE");
    const listed = await natter("ben", ["reactions", chatId, String(n)]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout, "🍕 2 @cli_ana @cli_ben\n🎉 1 @cli_ben\n");
    const none = await natter("ben", ["reactions", chatId, String(replyN)]);
    assert.equal(none.stdout, "", "no reactions: nothing printed");
    const missing = await natter("ben", ["reactions", chatId, "9999"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not_found/);
    // The reply carries its replyTo in the export.
    const exported = await natter("ben", ["export", chatId]);
    const replied = exported.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { n: number; replyTo?: number })
      .find((e) => e.n === replyN);
    assert.equal(replied?.replyTo, n);
  });

  test("cli - an unknown chat exits 1 with not_found", async () => {
    const send = await natter("ana", ["send", "no-such-chat", "hello"]);
    assert.equal(send.code, 1);
    assert.match(send.stderr, /^natter: not_found: no such chat\n$/);
    const exp = await natter("ana", ["export", "no-such-chat"]);
    assert.equal(exp.code, 1);
    assert.match(exp.stderr, /^natter: not_found: no such chat \(HTTP 404\)\n$/);
    const tail = await natter("ana", ["tail", "no-such-chat"]);
    assert.equal(tail.code, 1);
    assert.match(tail.stderr, /^natter: not_found: /);
  });

  test("cli - a bad token exits 1 with unauthorized, over HTTP and over the socket", async () => {
    await writeFile(
      path.join(dir, "forged.json"),
      JSON.stringify({
        server: gw.url,
        handle: "x",
        userId: "u",
        deviceId: "d",
        token: "v1.forged.token",
        expiresAt: 0,
      }),
    );
    const chats = await natter("forged", ["chats"]);
    assert.equal(chats.code, 1);
    assert.match(chats.stderr, /^natter: unauthorized: .+ \(HTTP 401\)\n$/);
    const send = await natter("forged", ["send", chatId, "hello"]);
    assert.equal(send.code, 1);
    assert.equal(send.stderr, "natter: unauthorized: the server refused the token; run natter login\n");
  });

  test("cli - usage errors exit 2, not logged in and no server exit 1", async () => {
    const none = await natter("ana", []);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^usage: natter/);
    const unknown = await natter("ana", ["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^natter: unknown command "frobnicate"\n/);
    const missing = await natter("ana", ["send", chatId]);
    assert.equal(missing.code, 2);
    const flag = await natter("ana", ["chats", "--bogus"]);
    assert.equal(flag.code, 2);
    const out = await natter("nobody", ["chats"]);
    assert.equal(out.code, 1);
    assert.match(
      out.stderr,
      /^natter: unauthorized: not logged in \(no .+nobody\.json\); run natter login <handle>\n$/,
    );
    const down = await natter("ana", ["send", chatId, "x"], { NATTER_SERVER: "http://127.0.0.1:9" });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^natter: unavailable: could not connect to http:\/\/127\.0\.0\.1:9\/v1\/ws\n$/);
    const help = await natter("ana", ["--help"]);
    assert.equal(help.code, 0);
  });
});
