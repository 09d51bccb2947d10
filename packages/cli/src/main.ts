#!/usr/bin/env node
// The `natter` command: see cli.ts and this package's README.
import { run } from "./cli.ts";

const interrupted = new Promise<void>((resolve) => {
  process.once("SIGINT", () => resolve());
  process.once("SIGTERM", () => resolve());
});

const code = await run(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  async stdin() {
    let text = "";
    for await (const chunk of process.stdin) text += String(chunk);
    return text;
  },
  interrupted,
});
process.exitCode = code;
// Let stdout drain, then leave even if a socket or timer is still winding down.
process.stdout.write("", () => process.exit(code));
