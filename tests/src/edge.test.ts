import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { repoRoot } from "@natter/testkit";
import type { PhaseRow } from "../../bench/src/edge/story.ts";

// The CI-sized run of `npm run edge` (bench/src/edge): a hub and an edge site as real
// nats-server leaf nodes (JetStream domains `hub` and `s1`), the leaf link through a TCP
// proxy, a gateway and a consumers process per domain, a hub user and a site user in one
// chat on sockets. Linked, they get each other's messages live; cut, the site's own chat
// and the hub's keep answering `sent` and delivering; the site's nats-server is killed and
// restarted while cut; restored, the site user's pending sends go out with their ids and
// every device and both stores hold every message once, at the n its home gave it.
const MESSAGES = 5;
/** The story takes about a minute here; a hung one is killed well inside the test timeout. */
const LIMIT_MS = 170_000;

test("edge - hub and site chat live over a real leaf link, keep working through a cut and a site restart, reconcile with nothing lost, duplicated or misordered", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "natter-edge-"));
  const json = path.join(dir, "edge.json");
  try {
    const child = spawn(
      process.execPath,
      [path.join(repoRoot, "bench/src/edge/cli.ts"), "--messages", String(MESSAGES), "--json", json],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const timer = setTimeout(() => child.kill("SIGKILL"), LIMIT_MS);
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    clearTimeout(timer);
    assert.equal(code, 0, `npm run edge failed:\n${out.slice(-6000)}`);
    const rows = JSON.parse(readFileSync(json, "utf8")) as PhaseRow[];
    const row = (phase: string) => rows.find((r) => r.phase === phase)!;
    assert.deepEqual(
      rows.map((r) => r.phase),
      ["linked", "cut", "site-restart", "restored"],
    );
    // Six senders (two per chat) send MESSAGES each per phase; all are answered `sent` in the end.
    for (const r of rows) {
      assert.equal(r.sent, 6 * MESSAGES, `${r.phase}: ${JSON.stringify(r)}`);
      assert.deepEqual([r.lost, r.duplicated, r.outOfOrder], [0, 0, 0], `${r.phase}: ${JSON.stringify(r)}`);
      assert.ok(r.reconcileMs >= 0, `${r.phase}: never reconciled`);
    }
    // Linked: every message reached every member's socket live, across the leaf link too.
    assert.equal(row("linked").deliveredLive, row("linked").deliveries);
    assert.equal(row("linked").retried, 0);
    // Cut (and the restart while cut): only the site user's sends to the hub's chat waited
    // (home_unreachable, then sent after the link returned); the site's own chat and the
    // hub's were delivered live to both their members: 4 of 6 senders, 2 devices each.
    for (const phase of ["cut", "site-restart"]) {
      assert.equal(row(phase).retried, MESSAGES, phase);
      assert.ok(row(phase).deliveredLive >= 4 * MESSAGES * 2, `${phase}: ${JSON.stringify(row(phase))}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
