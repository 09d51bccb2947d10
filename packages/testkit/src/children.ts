import type { ChildProcess } from "node:child_process";

/**
 * Every server process the testkit starts, so none outlives the process that started it:
 * a benchmark stopped by Ctrl-C or `timeout` used to leave its nats-server and gateways
 * running, and their CPU skewed the next run's figures.
 */
const children = new Set<ChildProcess>();
let hooked = false;

export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once("exit", () => children.delete(child));
  if (hooked) return;
  hooked = true;
  // Synchronous, so it also runs from process.exit().
  process.on("exit", () => {
    for (const c of children) c.kill("SIGKILL");
  });
}

/**
 * For command-line tools (benchmarks): SIGINT and SIGTERM exit the process, which kills
 * what `trackChild` holds. Not for test files: node's test runner handles its own signals.
 */
export function exitOnSignals(): void {
  process.once("SIGINT", () => process.exit(130));
  process.once("SIGTERM", () => process.exit(143));
}
