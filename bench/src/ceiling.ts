/**
 * The ceiling: the real `nats bench` CLI (natscli v0.5.1, from scripts/ensure-nats.sh's
 * folder) publishing to JetStream on the stack's own nats-server, with the chat stream's
 * settings: file storage, one replica, a message id on every publish (the dedup window),
 * one subject per chat (`--multisubject --multisubjectmax <chats>`), and the size of the
 * event Natter publishes for the run's body. Two modes:
 *
 * - `sync`: one publish outstanding per client, `--clients` = the chats under load (at most
 *   64): the shape of Natter's sequencer, which waits for each chat's PubAck before the
 *   next publish of that chat;
 * - `async`: batches of 500 publishes in flight from one client: what the server and disk
 *   take at most.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { natsBin } from "@natter/testkit";

const run = promisify(execFile);

export interface CeilingResult {
  mode: "sync" | "async";
  clients: number;
  msgs: number;
  size: number;
  msgsPerS: number;
  p50Us?: number;
  p99Us?: number;
  command: string;
}

/** Bytes of the `message.created` event Natter publishes for a body of `bodyBytes`. */
export function natterEventBytes(bodyBytes: number): number {
  return JSON.stringify({
    kind: "message.created",
    chat: "d_b0123456789abcdef",
    n: 12345,
    ts: Date.now(),
    from: "u_b0123456789abcdef",
    id: "b12345",
    body: "x".repeat(bodyBytes),
  }).length;
}

const num = (s: string | undefined) => (s === undefined ? undefined : Number(s.replace(/,/g, "")));

/** Parses `aggregated stats: 17,280 msgs/sec` and the P50/P99 of `latencies per operation`. */
function parse(out: string): { msgsPerS: number; p50Us?: number; p99Us?: number } {
  const agg = /aggregated stats: ([\d,]+) msgs\/sec/.exec(out) ?? /stats: ([\d,]+) msgs\/sec/.exec(out);
  if (!agg) throw new Error(`nats bench printed no aggregated stats:\n${out.slice(-2000)}`);
  const lat = /latencies per operation.*?P50 ([\d.,]+)us.*?P99 ([\d.,]+)us/.exec(out);
  return { msgsPerS: num(agg[1])!, ...(lat ? { p50Us: num(lat[1])!, p99Us: num(lat[2])! } : {}) };
}

export async function runCeiling(
  natsUrl: string,
  opts: { mode: "sync" | "async"; chats: number; size: number; msgs: number; clients?: number; replicas?: number },
): Promise<CeilingResult> {
  const nats = path.join(natsBin(), "nats");
  const stream = `CEILING_${opts.mode.toUpperCase()}`;
  const clients = opts.clients ?? (opts.mode === "sync" ? Math.min(64, opts.chats) : 1);
  const args = [
    "--server",
    natsUrl,
    "bench",
    "js",
    "pub",
    opts.mode,
    `ceiling${opts.mode}.chat`,
    "--create",
    "--storage=file",
    `--replicas=${opts.replicas ?? 1}`,
    "--dedup",
    "--dedupwindow=2m",
    `--stream=${stream}`,
    "--multisubject",
    `--multisubjectmax=${opts.chats}`,
    `--size=${opts.size}B`,
    `--msgs=${opts.msgs}`,
    `--clients=${clients}`,
    "--no-progress",
    ...(opts.mode === "async" ? ["--batch=500"] : []),
  ];
  const { stdout, stderr } = await run(nats, args, { maxBuffer: 16 << 20, timeout: 120_000 });
  await run(nats, ["--server", natsUrl, "stream", "rm", "-f", stream]).catch(() => {});
  return {
    mode: opts.mode,
    clients,
    msgs: opts.msgs,
    size: opts.size,
    ...parse(stdout + stderr),
    command: `nats ${args.filter((x) => x !== natsUrl && x !== "--server").join(" ")}`,
  };
}
