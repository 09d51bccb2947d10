import { readdirSync, readFileSync } from "node:fs";

const TICKS = 100; // USER_HZ on Linux

/** CPU seconds (user + system) and RSS of a process, read from /proc. */
export function procSample(pid: number): { cpuS: number; rssMiB: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpuS = (Number(fields[11]) + Number(fields[12])) / TICKS;
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuS, rssMiB: Math.round(rssKiB / 102.4) / 10 };
  } catch {
    return undefined;
  }
}

/** CPU used between two samples as a share of one core (1.0 = one core busy). */
export function cpuShare(a: { cpuS: number }, b: { cpuS: number }, seconds: number): number {
  return Math.round(((b.cpuS - a.cpuS) / seconds) * 100) / 100;
}

/** CPU used between two samples per message, in µs (0 when no message was counted). */
export function cpuPerMessageUs(a: { cpuS: number }, b: { cpuS: number }, messages: number): number {
  return messages > 0 ? Math.round(((b.cpuS - a.cpuS) * 1e7) / messages) / 10 : 0;
}

/** The pid of the local Cassandra (its JVM's main class on the command line), if one runs. */
export function cassandraPid(): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("org.apache.cassandra.service.CassandraDaemon")) {
        return Number(entry);
      }
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return undefined;
}
