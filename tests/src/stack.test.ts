import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { KEYS } from "@natter/config";
import type { ChatEvent } from "@natter/protocol";
import { createTestKeyspace, natsBin, repoRoot, type TestKeyspace, WsClient } from "@natter/testkit";
import { Api, eventually } from "./http-client.ts";

// The production shape on one machine, as an operator runs it from the README: `npm run
// stack -- up` (3 NATS nodes with R3 streams, two gateways, the history, fanout and push
// consumers, each a process of its own under the stack's supervisor, on Cassandra), chat
// through both gateways while one gateway and one NATS node are killed and brought back by
// the supervisor, then `down`. Nothing acked may be lost or duplicated, history must agree
// on both gateways, and no process of the stack may be left. Its own folder, ports, keyspace
// and nats CLI contexts (XDG_CONFIG_HOME): it never touches a stack of the checkout.

const run = promisify(execFile);
/** The marker the supervisor sets on itself and every process it starts (scripts/stack-plan.ts). */
const MEMBER = "NATTER_STACK_MEMBER";

let work: string;
let stackDir: string;
let env: NodeJS.ProcessEnv;
let keyspace: string;
let cassandra: TestKeyspace;

interface Plan {
  processes: { name: string; kind: string; port: number; ready: string; url: string; pidFile: string; log: string }[];
}
interface Status {
  ok: boolean;
  supervisor: number | null;
  processes: { process: string; pid: string; state: string; restarts: number }[];
}

const stack = (...args: string[]) =>
  run("npm", ["run", "--silent", "stack", "--", ...args], { cwd: repoRoot, env, timeout: 200_000 });
const nats = (...args: string[]) => run(path.join(natsBin(), "nats"), args, { env, timeout: 20_000 });

async function portsFree(ports: number[]): Promise<boolean> {
  for (const port of ports) {
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once("error", () => resolve(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
    if (!free) return false;
  }
  return true;
}

/** A base port whose whole block (B … B+41) is free now; the stack refuses a taken one itself. */
async function freeBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + 50 * Math.floor(Math.random() * 800);
    if (await portsFree(Array.from({ length: 42 }, (_, i) => base + i))) return base;
  }
  throw new Error("no free block of 42 ports");
}

/** Live processes whose environment marks them as the stack's in `dir`. */
async function members(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = await readFile(`/proc/${entry}/environ`, "latin1");
      if (environ.split("\0").includes(`${MEMBER}=${dir}`)) out.push(Number(entry));
    } catch {
      // exited, or not ours
    }
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function status(): Promise<Status> {
  const r = await run("npm", ["run", "--silent", "stack", "--", "status", "--json"], {
    cwd: repoRoot,
    env,
    timeout: 30_000,
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? "" }));
  return JSON.parse(r.stdout) as Status;
}

async function pidOf(plan: Plan, name: string): Promise<number> {
  const p = plan.processes.find((x) => x.name === name)!;
  return Number((await readFile(p.pidFile, "utf8")).trim());
}

before(async () => {
  work = await mkdtemp(path.join(tmpdir(), "natter-stack-"));
  stackDir = path.join(work, "stack");
  keyspace = `stack_${randomBytes(5).toString("hex")}`;
  // A client for dropping the stack's keyspace afterwards (and one empty keyspace of its own).
  cassandra = await createTestKeyspace("stack_probe");
  env = {
    ...process.env,
    NATTER_STACK_DIR: stackDir,
    NATTER_STACK_BASE_PORT: String(await freeBase()),
    NATTER_STACK_KEYSPACE: keyspace,
    XDG_CONFIG_HOME: path.join(work, "config"),
  };
});

after(async () => {
  await stack("down").catch(() => {});
  // Never leave a process behind, even when the test failed before `down`.
  for (const pid of await members(stackDir)) process.kill(pid, "SIGKILL");
  await cassandra.client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => {});
  await cassandra.drop();
  await rm(work, { recursive: true, force: true });
});

/** POSTs one message until it is acked (200/201), retrying with the same id, as the SDK does. */
async function send(api: Api, chat: string, id: string): Promise<number> {
  const deadline = Date.now() + 60_000;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const r = await api.call("POST", `/v1/chats/${chat}/messages`, { id, body: `body of ${id}` });
      if (r.status === 200 || r.status === 201) return r.body.n as number;
      last = `${r.status} ${JSON.stringify(r.body)}`;
      if (r.status < 500) throw new Error(`send ${id}: ${last}`);
    } catch (err) {
      if (String(err).includes(`send ${id}`)) throw err;
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`send ${id} not acked within 60 s: ${last}`);
}

async function sendMany(api: Api, chat: string, prefix: string, count: number, acked: Map<string, number>) {
  for (let i = 0; i < count; i++) {
    const id = `${prefix}-${i}`;
    acked.set(id, await send(api, chat, id));
  }
}

async function history(api: Api, chat: string): Promise<ChatEvent[]> {
  const out: ChatEvent[] = [];
  for (let after = 0; ;) {
    const r = await api.call("GET", `/v1/chats/${chat}/messages?after=${after}&limit=100`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    out.push(...r.body.events);
    if (!r.body.hasMore || !r.body.events.length) return out;
    after = r.body.events.at(-1).n;
  }
}

test("stack - up, chat through two gateways across a gateway and a NATS node restart, down leaves nothing", async () => {
  const up = await stack("up", "--gateways", "2");
  const plan = JSON.parse(await readFile(path.join(stackDir, "stack.json"), "utf8")) as Plan;
  assert.deepEqual(
    plan.processes.map((p) => p.name),
    ["nats-1", "nats-2", "nats-3", "gateway-1", "gateway-2", "history", "fanout", "push"],
  );
  for (const p of plan.processes) assert.match(up.stdout, new RegExp(`${p.name}\\s+\\d+\\s+ready\\s+${p.port}`));
  const ports = plan.processes.map((p) => p.port);
  assert.equal(new Set(ports).size, ports.length, "every process has its own port");
  // Every process waited for what it needs (a log line) instead of crashing at start.
  const started = await status();
  assert.deepEqual(
    started.processes.filter((p) => p.restarts > 0).map((p) => p.process),
    [],
    `restarted at start:\n${await readFile(path.join(stackDir, "logs", "supervisor.log"), "utf8")}`,
  );
  // Again while it runs: nothing is started or restarted.
  const pidsBefore = await Promise.all(plan.processes.map((p) => pidOf(plan, p.name)));
  const again = await stack("up", "--gateways", "2");
  assert.match(again.stderr, /already running/);
  assert.deepEqual(await Promise.all(plan.processes.map((p) => pidOf(plan, p.name))), pidsBefore);

  // Each process got only its own secrets: only gateways the token secret, each its own seed.
  const envFile = (kind: string) => readFile(path.join(stackDir, kind, "env"), "utf8");
  assert.match(await envFile("gateway"), /^NATTER_TOKEN_SECRET=/m);
  assert.doesNotMatch(await envFile("gateway"), /NATTER_PUSH_VAPID_PRIVATE_KEY/);
  assert.match(await envFile("push"), /^NATTER_PUSH_VAPID_PRIVATE_KEY=/m);
  for (const kind of ["history", "fanout", "push"]) {
    const text = await envFile(kind);
    assert.doesNotMatch(text, /NATTER_TOKEN_SECRET/);
    assert.match(text, new RegExp(`^NATTER_NATS_NKEY_SEED=${path.join(stackDir, kind, "nats.nk")}$`, "m"));
    assert.equal((await stat(path.join(stackDir, kind, "nats.nk"))).mode & 0o777, 0o600);
  }

  // The operator's view through the system account: three servers, every process by its name.
  const servers = await nats("--context", "natter-stack-sys", "server", "list");
  for (const n of ["nats-1", "nats-2", "nats-3"]) assert.match(servers.stdout, new RegExp(`\\b${n}\\b`));
  const conns = await nats("--context", "natter-stack-sys", "server", "report", "connections");
  for (const n of ["gateway-1", "gateway-2", "history", "fanout", "push"])
    assert.match(conns.stdout, new RegExp(`\\b${n}\\b`));
  const replication = await cassandra.client.execute(
    "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
    [keyspace],
    { prepare: true },
  );
  assert.equal(replication.first()?.get("replication").class, "org.apache.cassandra.locator.NetworkTopologyStrategy");

  const g1 = plan.processes.find((p) => p.name === "gateway-1")!.url.replace(/\/$/, "");
  const g2 = plan.processes.find((p) => p.name === "gateway-2")!.url.replace(/\/$/, "");
  const tag = randomBytes(3).toString("hex");
  const ana = await new Api(g1).signup(`stack_ana_${tag}`);
  const ben = await new Api(g2).signup(`stack_ben_${tag}`);
  const chat = (await ana.call("POST", "/v1/chats", { kind: "direct", userId: ben.userId })).body.chatId as string;
  const anaWs = await WsClient.connect(g1, ana.token!, { name: "ana@g1" });
  let benWs = await WsClient.connect(g2, ben.token!, { name: "ben@g2" });
  const acked = new Map<string, number>();

  await Promise.all([sendMany(ana, chat, "a1", 8, acked), sendMany(ben, chat, "b1", 8, acked)]);

  // A gateway crashes: ben's sends through it retry until the supervisor has it back.
  const gwPid = await pidOf(plan, "gateway-2");
  process.kill(gwPid, "SIGKILL");
  await Promise.all([sendMany(ana, chat, "a2", 8, acked), sendMany(ben, chat, "b2", 8, acked)]);
  assert.notEqual(await pidOf(plan, "gateway-2"), gwPid, "the supervisor started a new gateway-2");
  await benWs.until(() => benWs.closeCode !== undefined, 10_000, "ben's socket closed with its gateway");
  // The device resumes from what it holds: replay, then live, with no gap or duplicate.
  benWs = await WsClient.connect(g2, ben.token!, { name: "ben@g2 again", held: benWs.held });

  // A NATS node crashes while both keep sending; the supervisor restarts it.
  const natsPid = await pidOf(plan, "nats-2");
  const sending = Promise.all([sendMany(ana, chat, "a3", 8, acked), sendMany(ben, chat, "b3", 8, acked)]);
  process.kill(natsPid, "SIGKILL");
  await sending;
  const nats2 = plan.processes.find((p) => p.name === "nats-2")!;
  await eventually(
    async () => (await fetch(nats2.ready, { signal: AbortSignal.timeout(2000) })).ok,
    60_000,
    "nats-2 healthy again",
  );
  assert.notEqual(await pidOf(plan, "nats-2"), natsPid, "the supervisor started a new nats-2");
  await sendMany(ana, chat, "a4", 2, acked);

  // Every ack has its own n; history agrees on both gateways and holds each acked id once, at its n.
  assert.equal(acked.size, 6 * 8 + 2);
  assert.equal(new Set(acked.values()).size, acked.size, "two acks with one n");
  const head = Math.max(...acked.values());
  const fromG1 = await eventually(
    async () => {
      const h = await history(ana, chat);
      return h.length === head && h;
    },
    30_000,
    `history up to n=${head}`,
  );
  const fromG2 = await history(ana.via(g2), chat);
  assert.deepEqual(fromG2, fromG1, "both gateways read the same history");
  assert.deepEqual(
    fromG1.map((e) => e.n),
    Array.from({ length: head }, (_, i) => i + 1),
  );
  const stored = new Map(fromG1.flatMap((e) => (e.kind === "message.created" ? [[e.id, e.n] as const] : [])));
  assert.deepEqual(new Map([...stored].sort()), new Map([...acked].sort()), "history = exactly the acked messages");

  // Live delivery: each device reaches the head in order, nothing twice, nothing skipped.
  for (const ws of [anaWs, benWs]) {
    await ws.until(() => ws.held.get(chat) === head, 30_000, `${ws.name} at n=${head}`);
    assert.deepEqual(ws.violations, [], `${ws.name} saw a gap or a duplicate`);
  }
  await anaWs.close();
  await benWs.close();

  // The restarted node's peers report healthy again once it has caught up.
  const st = await eventually(
    async () => {
      const s = await status();
      return s.ok && s;
    },
    30_000,
    "npm run stack -- status all ready",
  );
  const restarts = (name: string) => st.processes.find((p) => p.process === name)!.restarts;
  assert.ok(restarts("gateway-2") >= 1 && restarts("nats-2") >= 1, JSON.stringify(st.processes));
  const pids = [st.supervisor!, ...st.processes.map((p) => Number(p.pid))];
  assert.equal(pids.filter(alive).length, plan.processes.length + 1);

  const down = await stack("down");
  assert.match(down.stderr, /no process of the stack/);
  assert.deepEqual(pids.filter(alive), [], "a process of the stack outlived down");
  assert.deepEqual(await members(stackDir), [], "a process marked as the stack's outlived down");
  assert.equal((await status()).ok, false, "status says the stack is down");
});

// The systemd templates for real hosts (deploy/systemd): systemd's own checker accepts an
// instance of each (with the binaries this machine has: verify requires ExecStart to exist),
// its offline security review rates each OK, and every NATTER_* they set is a config key.
test("stack - the systemd unit templates pass systemd-analyze verify and security", async (t) => {
  const analyze = await run("systemd-analyze", ["--version"]).catch(() => undefined);
  if (!analyze) return t.skip("systemd-analyze is not installed on this machine");
  const units = path.join(repoRoot, "deploy/systemd");
  const dir = await mkdtemp(path.join(tmpdir(), "natter-units-"));
  try {
    const instances = { "nats-server@": "nats-1", "natter-gateway@": "8080", "natter-consumers@": "history" };
    for (const template of Object.keys(instances)) {
      const text = await readFile(path.join(units, `${template}.service`), "utf8");
      for (const name of text.matchAll(/\b(NATTER_[A-Z_]+)=/g)) {
        assert.ok(
          Object.values(KEYS).some((k) => k.env === name[1]),
          `${template}.service sets ${name[1]}, which is not a config key`,
        );
      }
      await writeFile(
        path.join(dir, `${template}.service`),
        text
          .replace("/usr/local/bin/node", process.execPath)
          .replace("/usr/local/bin/nats-server", path.join(natsBin(), "nats-server")),
      );
    }
    const names = Object.entries(instances).map(([template, i]) => `${template}${i}.service`);
    const verify = await run("systemd-analyze", ["verify", "--man=no", ...names], { cwd: dir });
    assert.equal(verify.stderr.trim(), "", "systemd-analyze verify complained");
    for (const unit of names) {
      const { stdout } = await run("systemd-analyze", ["security", "--offline=yes", unit], { cwd: dir });
      const score = Number(/Overall exposure level for .*: ([\d.]+)/.exec(stdout)?.[1]);
      assert.ok(score <= 2, `${unit}: exposure ${score} (systemd-analyze security)`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
