// Issue 13's acceptance for an installable SDK: `build.ts --pack` builds the package
// (JavaScript, .d.ts, source maps; @natter/protocol compiled in), the tarball is installed
// with npm into a scratch project outside the workspace (offline: nothing comes from a
// registry, no workspace link), the example echo bot is type-checked against the
// installed declarations and run from there against a real stack.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFile, lstat, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { repoRoot, stackSuite } from "@natter/testkit";
import { NatterClient, NatterHttp } from "./index.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const live = stackSuite({}, "SIGKILL");
let dir: string;
let bot: ChildProcess | undefined;
live.beforeStop(() => bot?.kill("SIGKILL"));

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "natter-pack-"));
});
after(() => rm(dir, { recursive: true, force: true }));

test("pack - the packed SDK installs into a scratch project and runs the echo bot from it", async () => {
  const built = execFileSync(process.execPath, [path.join(here, "..", "build.ts"), "--pack", dir], {
    encoding: "utf8",
  });
  const tarball = built.trim().split("\n").at(-1)!;
  assert.match(tarball, /natter-client-[\d.]+\.tgz$/);

  const scratch = path.join(dir, "scratch");
  execFileSync("mkdir", ["-p", scratch]);
  await writeFile(
    path.join(scratch, "package.json"),
    JSON.stringify({ name: "scratch", private: true, type: "module" }),
  );
  execFileSync("npm", ["install", tarball, "--offline", "--no-audit", "--no-fund"], { cwd: scratch, stdio: "pipe" });
  const installed = path.join(scratch, "node_modules", "@natter", "client");
  assert.ok((await lstat(installed)).isDirectory(), "a real copy, not a workspace link");
  const pkg = JSON.parse(await readFile(path.join(installed, "package.json"), "utf8")) as Record<string, unknown>;
  assert.equal(pkg.dependencies, undefined, "no dependency to fetch: @natter/protocol is inside");
  const files = await readdir(path.join(installed, "client", "src"));
  for (const f of ["index.js", "index.d.ts", "index.js.map", "node.js", "node.d.ts"]) assert.ok(files.includes(f), f);
  assert.ok(!files.some((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")), "no TypeScript sources to strip");
  // Browser-safe: nothing but the Node entry and its file store imports node:*.
  for (const f of files.filter((x) => x.endsWith(".js") && x !== "node.js" && x !== "file-cursor-store.js")) {
    assert.doesNotMatch(await readFile(path.join(installed, "client", "src", f), "utf8"), /from "node:/, f);
  }

  // The example, type-checked against the installed declarations (skipLibCheck off).
  await copyFile(path.join(here, "..", "examples", "echo-bot.ts"), path.join(scratch, "echo-bot.ts"));
  await writeFile(
    path.join(scratch, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "es2022",
        module: "nodenext",
        moduleResolution: "nodenext",
        strict: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        types: ["node"],
        typeRoots: [path.join(repoRoot, "node_modules", "@types")],
      },
      files: ["echo-bot.ts"],
    }),
  );
  execFileSync(process.execPath, [path.join(repoRoot, "node_modules", "typescript", "bin", "tsc"), "-p", scratch], {
    encoding: "utf8",
  });

  // And run from there: it answers a message.
  const url = live.g1.url;
  const botSession = await new NatterHttp({ servers: url }).signup("packed_bot", "Packed bot", "password-123");
  bot = spawn(process.execPath, ["echo-bot.ts"], {
    cwd: scratch,
    env: { ...process.env, NATTER_SERVER: url, NATTER_TOKEN: botSession.token, NATTER_CURSORS: "cursors.json" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  bot.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  bot.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!out.includes("echo-bot ready")) {
    assert.ok(Date.now() < deadline && bot.exitCode === null, `the bot did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const { client: ana } = await NatterClient.signup({
    servers: url,
    handle: "pack_ana",
    displayName: "Ana",
    password: "password-123",
  });
  live.closing(ana);
  const echoes: string[] = [];
  ana.on("event", (e) => {
    if (e.kind === "message.created" && e.from === botSession.userId) echoes.push(e.body ?? "");
  });
  await ana.connect();
  const { chatId } = await ana.http.createDirect(botSession.userId);
  await ana.send(chatId, "hello packed bot");
  while (echoes.length === 0) {
    assert.ok(Date.now() < deadline + 15_000, `no echo:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(echoes, ["echo: hello packed bot"]);
});
