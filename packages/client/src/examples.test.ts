// The README's examples are real: each `<!-- example: examples/<file> -->` block in
// README.md is that file exactly, the files type-check (`tsc -p examples/tsconfig.json`),
// and the quickstart and the chat-list example run against a real stack (testkit
// nats-server, gateway and consumers, SQLite). The echo bot runs in echo-bot.test.ts and,
// installed from the packed tarball, in pack.test.ts.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { repoRoot, type Stack, startStack } from "@natter/testkit";
import { NatterHttp } from "./index.ts";

const pkg = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const run = promisify(execFile);
let stack: Stack;
let dir: string;

before(async () => {
  stack = await startStack();
  dir = await mkdtemp(path.join(tmpdir(), "natter-examples-"));
});
after(async () => {
  await stack?.stop("SIGKILL");
  await rm(dir, { recursive: true, force: true });
});

test("examples - the README shows each example file exactly", async () => {
  const readme = await readFile(path.join(pkg, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/<!-- example: (\S+) -->\s*```ts\n([\s\S]*?)```/g)];
  assert.deepEqual(
    blocks.map((b) => b[1]),
    ["examples/echo-bot.ts", "examples/quickstart.ts", "examples/chat-list.ts"],
  );
  for (const [, file, code] of blocks) assert.equal(code, await readFile(path.join(pkg, file!), "utf8"), file);
});

test("examples - type-check", async () => {
  await run(process.execPath, [
    path.join(repoRoot, "node_modules", "typescript", "bin", "tsc"),
    "-p",
    path.join(pkg, "examples", "tsconfig.json"),
  ]);
});

test("examples - the quickstart and the chat list run against a real stack", async () => {
  const url = stack.gateways[0]!.url;
  const http = new NatterHttp({ servers: url });
  await http.signup("ex_ana", "Ana", "correct horse");
  const ben = await http.signup("ex_ben", "Ben Example", "battery staple");
  const env = {
    ...process.env,
    NATTER_SERVER: url,
    NATTER_HANDLE: "ex_ana",
    NATTER_PASSWORD: "correct horse",
    NATTER_PEER: "ex_ben",
  };
  const quick = await run(process.execPath, [path.join(pkg, "examples", "quickstart.ts")], { cwd: dir, env });
  assert.match(quick.stdout, /^sent as #2 \(stream seq \d+\)$/m);
  assert.match(quick.stdout, /#2\] Ana: hello ben$/m, "its own message came back as an event, with the name");
  assert.match(quick.stdout, /^2 older events, from #1$/m);
  const cursors = JSON.parse(await readFile(path.join(dir, ".natter", "cursors-ex_ana.json"), "utf8")) as object;
  assert.deepEqual(Object.values(cursors), [2], "the cursor file has the chat up to #2");

  const list = await run(process.execPath, [path.join(pkg, "examples", "chat-list.ts")], {
    cwd: dir,
    env: { ...process.env, NATTER_SERVER: url, NATTER_TOKEN: ben.token },
  });
  assert.match(list.stdout, /^Ana\t1 unread\thello ben$/m);
  assert.match(list.stdout, /^after reading: 0 unread in the first chat$/m);
});
