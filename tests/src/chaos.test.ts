import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { repoRoot } from "@natter/testkit";

// The CI-sized run of `npm run chaos` (bench/src/chaos): the same stack, load and
// verification, four of its faults and shorter phases: a gateway SIGKILLed, a NATS node
// SIGKILLed and restarted, Cassandra cut off for 10 s through its proxy (the shared
// Cassandra keeps running for the other test files), the push consumer SIGKILLed and
// restarted. Every acked message must be in history once and reach every member device
// once, in `n` order; every group message must reach the group's device-less listener in
// exactly one push notification (the webhook), whatever was killed.
test("chaos - gateway kill, NATS node kill, Cassandra cut, push consumer kill: nothing acked is lost, duplicated or misordered, nor any push", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "natter-chaos-"));
  const json = path.join(dir, "chaos.json");
  try {
    const child = spawn(
      process.execPath,
      [
        path.join(repoRoot, "bench/src/chaos/cli.ts"),
        "--faults",
        "gateway,nats-node,cassandra,push",
        "--phase",
        "20",
        "--cassandra-down",
        "10",
        "--direct",
        "8",
        "--groups",
        "2",
        "--members",
        "4",
        "--rate",
        "40",
        "--json",
        json,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    assert.equal(code, 0, `npm run chaos failed:\n${out.slice(-6000)}`);
    const { rows } = JSON.parse(readFileSync(json, "utf8")) as {
      rows: {
        fault: string;
        acked: number;
        lost: number;
        duplicated: number;
        "order violations": number;
        "push lost": number;
        "push duplicated": number;
      }[];
    };
    assert.deepEqual(
      rows.map((r) => r.fault),
      ["gateway", "nats-node", "cassandra", "push"],
    );
    for (const r of rows) {
      assert.ok(r.acked > 0, `${r.fault}: nothing was acked`);
      assert.deepEqual(
        [r.lost, r.duplicated, r["order violations"], r["push lost"], r["push duplicated"]],
        [0, 0, 0, 0, 0],
        `${r.fault}: ${JSON.stringify(r)}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
