import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { before, describe, test } from "node:test";
import { connectNats, ensureChatStream } from "@natter/bus";
import { createLogger } from "@natter/config";
import { SqliteStore } from "@natter/store";
import { CHAT_STREAM, CONSUMERS } from "@natter/subjects";
import { natsSuite, repoRoot } from "@natter/testkit";
import { assertHistoryMatches, createChats, publishWorkload } from "./test-chats.ts";
import { waitFor } from "./test-helpers.ts";

const logger = createLogger(process.env.NATTER_TEST_LOG ?? "silent", "history-crash-test");

/** The consumers process as it runs in production, with its log kept for diagnostics. */
interface Child {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The /metrics and /healthz port, once the process logged it. */
  metricsPort: () => number | undefined;
}

function startChild(env: Record<string, string>): Child {
  const proc = spawn(process.execPath, [path.join(repoRoot, "consumers/src/main.ts"), "--metrics-port", "0"], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let port: number | undefined;
  const take = (d: Buffer) => {
    const text = d.toString();
    output = (output + text).slice(-20_000);
    const m = /"port":(\d+),"msg":"metrics and health listening"/.exec(text);
    if (m) port = Number(m[1]);
  };
  proc.stdout?.on("data", take);
  proc.stderr?.on("data", take);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once("exit", (code, signal) => resolve({ code, signal }));
  });
  return { proc, output: () => output, exited, metricsPort: () => port };
}

describe("history crash - a separate consumers process killed mid-stream", () => {
  const nats = natsSuite({
    connect: (url) => connectNats({ servers: [url], name: "history-crash-test", logger }),
    // The same settings the child derives from the default config, so it does not update the stream.
    setup: ({ jsm }) =>
      ensureChatStream(jsm, { replicas: 1, maxAgeMs: 7 * 86_400_000, duplicateWindowMs: 120_000 }, logger),
  });
  let dir: string;
  const children: Child[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "natter-history-crash-"));
  });
  nats.beforeStop(async () => {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("history crash - SIGKILL mid-stream and a restart leave history complete: n = 1..N per chat, no duplicate, no gap", async (t) => {
    const sqlitePath = path.join(dir, "natter.db");
    const env = {
      NATTER_NATS_URL: nats.server.url,
      NATTER_STORE: "sqlite",
      NATTER_SQLITE_PATH: sqlitePath,
      NATTER_TOKEN_SECRET: "s".repeat(40),
      NATTER_HISTORY_BATCH: "20",
      NATTER_LOG_LEVEL: "info",
    };
    const ackFloor = async () => {
      try {
        return (await nats.jsm.consumers.info(CHAT_STREAM, CONSUMERS.history)).ack_floor.stream_seq;
      } catch {
        return 0;
      }
    };

    // 5,000 events over 20 chats: a backlog of 4,000 before the process starts (so it is busy
    // with full batches when killed: far more than it writes between two polls of its ack
    // floor, even with one transaction per batch), then 1,000 while it runs, throttled.
    const chats = createChats(20, "crash");
    const backlog = 4000;
    const live = 1000;
    const total = backlog + live;
    await publishWorkload(nats.js, chats, backlog, 1234);
    let published = backlog;

    const first = startChild(env);
    children.push(first);
    await waitFor("first consumers process ready", () => first.metricsPort() !== undefined, 30_000).catch((err) => {
      throw new Error(`${(err as Error).message}\n${first.output()}`);
    });
    const publishing = publishWorkload(nats.js, chats, live, 5678, async () => {
      published++;
      await new Promise((r) => setTimeout(r, 40));
    });

    await waitFor("the first process has written part of the stream", async () => (await ackFloor()) >= 300, 30_000);
    first.proc.kill("SIGKILL");
    const killed = await first.exited;
    assert.equal(killed.signal, "SIGKILL");
    const floorAtKill = await ackFloor();
    const info = await nats.jsm.consumers.info(CHAT_STREAM, CONSUMERS.history);
    t.diagnostic(
      `killed at ack floor ${floorAtKill} with ${published}/${total} published, ${info.num_ack_pending} delivered but unacked`,
    );
    assert.ok(published < total, "the crash happened while events were still being published");
    assert.ok(floorAtKill < published, "the crash happened with events not yet written");

    const second = startChild(env);
    children.push(second);
    await publishing;
    // Events the killed process held unacked come back after ack_wait (10 s).
    await waitFor(
      "the restarted process has written everything",
      async () => {
        const i = await nats.jsm.consumers.info(CHAT_STREAM, CONSUMERS.history);
        return i.num_pending === 0 && i.num_ack_pending === 0 && i.ack_floor.stream_seq === total;
      },
      60_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\n${second.output()}`);
    });

    // The process serves health and its metrics while running.
    const port = second.metricsPort();
    assert.ok(port, "second process logged its metrics port");
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /natter_consumer_messages_processed_total\{consumer="history"\} \d+/);
    assert.match(metrics, /natter_history_write_seconds_count \d+/);

    // SIGTERM drains and exits 0.
    second.proc.kill("SIGTERM");
    assert.deepEqual(await second.exited, { code: 0, signal: null }, second.output());

    const store = new SqliteStore(sqlitePath);
    try {
      await assertHistoryMatches(store, chats);
      const events = (
        await Promise.all(chats.map((c) => store.getEvents(c.chatId, { afterN: 0, limit: 1000 })))
      ).flat();
      assert.equal(events.length, total);
      assert.equal(new Set(events.map((e) => e.seq)).size, total, "every stream seq stored exactly once");
    } finally {
      await store.close();
    }
  });
});
