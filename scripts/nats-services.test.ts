// The dev node as `npm start` and `npm run services -- up` leave it, from outside: a
// client without credentials is refused, secrets are mode 600 under .data/nats, and the
// saved `natter-tail` context tails `chat.*.msg` but publishes nothing. Runs services.sh
// on free ports with its own data folder and nats CLI config folder (XDG_CONFIG_HOME), so
// it never touches the checkout's node or the user's contexts.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { connectNats } from "@natter/bus";
import { createLogger } from "@natter/config";
import { freePort, natsBin, repoRoot } from "@natter/testkit";
import { connect } from "@nats-io/transport-node";

const run = promisify(execFile);
let dir: string;
let env: NodeJS.ProcessEnv;
let port: number;
const services = (...args: string[]) =>
  run("bash", [path.join(repoRoot, "scripts/services.sh"), ...args], { env, timeout: 120_000 });
const nats = (...args: string[]) => run(path.join(natsBin(), "nats"), args, { env, timeout: 15_000 });

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "natter-services-"));
  port = await freePort();
  env = {
    ...process.env,
    NATTER_DATA: path.join(dir, "data"),
    NATS_PORT: String(port),
    NATS_MONITOR_PORT: String(await freePort()),
    XDG_CONFIG_HOME: path.join(dir, "config"),
  };
  await services("up", "nats");
});
after(async () => {
  await services("down", "nats").catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

test("services up nats: secrets are 600 in a 700 folder, and up again keeps them", async () => {
  const nd = path.join(dir, "data", "nats");
  assert.equal((await stat(nd)).mode & 0o777, 0o700);
  const seeds = await readdir(path.join(nd, "secrets"));
  assert.ok(seeds.includes("tail.nk") && seeds.includes("natter.nk") && seeds.includes("gateway.nk"), seeds.join());
  for (const f of [...seeds.map((s) => path.join("secrets", s)), "auth.conf", "tls/ca-key.pem", "tls/server-key.pem"]) {
    assert.equal((await stat(path.join(nd, f))).mode & 0o777, 0o600, f);
  }
  const seedBefore = (await stat(path.join(nd, "secrets", "natter.nk"))).mtimeMs;
  const again = await services("up", "nats");
  assert.match(again.stderr, /already running/);
  assert.equal((await stat(path.join(nd, "secrets", "natter.nk"))).mtimeMs, seedBefore);
});

test("a client without credentials is refused; natter-tail tails chat.*.msg and publishes nothing", async () => {
  const nd = path.join(dir, "data", "nats");
  const ca = path.join(nd, "tls", "ca.pem");
  await assert.rejects(connect({ servers: `127.0.0.1:${port}`, tls: { caFile: ca } }), /Authorization/i);
  await assert.rejects(nats("--server", `tls://127.0.0.1:${port}`, "--tlsca", ca, "stream", "ls"));

  // What `npm start` runs as: the all-in-one identity.
  const nc = await connectNats({
    servers: [`tls://127.0.0.1:${port}`],
    name: "services-test",
    logger: createLogger("silent", "test"),
    access: { natsNkeySeed: path.join(nd, "secrets", "natter.nk"), natsTlsCa: ca },
  });
  try {
    const tail = nats("--context", "natter-tail", "sub", "chat.*.msg", "--count", "1", "--raw");
    await new Promise((r) => setTimeout(r, 700));
    nc.publish("chat.d_services.msg", JSON.stringify({ hello: "tail" }));
    await nc.flush();
    assert.match((await tail).stdout, /"hello":"tail"/);
  } finally {
    await nc.close();
  }
  const pub = await nats("--context", "natter-tail", "pub", "chat.d_services.msg", "forged").then(
    (r) => r.stdout + r.stderr,
    (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ""}${e.stderr ?? ""}`,
  );
  assert.match(pub, /Permissions Violation/);
  assert.match((await nats("--context", "natter-sys", "server", "list")).stdout, /natter-dev/);
  await nats("--context", "natter-admin", "stream", "ls");
});
