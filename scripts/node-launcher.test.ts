/**
 * The README's commands on a machine whose own `node` cannot load TypeScript (a Node 20, as
 * a fresh machine may have). npm runs package.json scripts and links bins with whatever
 * `node` is first on PATH, so each script and the `natter` bin must reach a Node that
 * strips types through scripts/node or scripts/with-node (ensure-node.sh: that Node, else
 * Node 24 from ~/.cache/natter). Two stand-ins for the old Node: this Node run with
 * --no-experimental-strip-types (everywhere), and the machine's /usr/bin/node when it is
 * older (the real case).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";

const repoRoot = path.resolve(import.meta.dirname, "..");

interface Manifest {
  name: string;
  workspaces?: string[];
  scripts?: Record<string, string>;
  bin?: string | Record<string, string>;
}

function manifests(): { dir: string; pkg: Manifest }[] {
  const read = (dir: string) => JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as Manifest;
  const root = read(repoRoot);
  const out = [{ dir: repoRoot, pkg: root }];
  for (const ws of root.workspaces ?? []) {
    // Workspaces here are plain folders or `folder/*` (fs.globSync is not in every Node 22).
    const parent = path.join(repoRoot, ws.slice(0, -2));
    const dirs = ws.endsWith("/*") ? readdirSync(parent).map((d) => path.join(parent, d)) : [path.join(repoRoot, ws)];
    for (const dir of dirs) {
      try {
        out.push({ dir, pkg: read(dir) });
      } catch {
        // a folder without package.json (packages/README.md's neighbours) is no workspace
      }
    }
  }
  return out;
}

// The commands a script may start with: the launchers, or a bash script that finds its
// Node itself (start.sh via ensure-node.sh; services.sh runs no Node), or npm (which runs
// another script of this list). Anything else (`node`, `tsc`, `npx tsx`) would run under
// the machine's Node.
const LAUNCHED = /^(?:(?:\.\.\/)*scripts\/(?:node|with-node)|bash|npm)$/;

describe("every npm script and bin reaches a Node that strips types", () => {
  test("package.json scripts start with scripts/node, scripts/with-node, bash or npm", () => {
    const bad: string[] = [];
    for (const { dir, pkg } of manifests()) {
      for (const [name, script] of Object.entries(pkg.scripts ?? {})) {
        for (const command of script.split(/&&|\|\||[;|]/)) {
          const first = command.trim().split(/\s+/)[0] ?? "";
          if (!LAUNCHED.test(first)) bad.push(`${path.relative(repoRoot, dir) || "."}: ${name}: ${command.trim()}`);
        }
      }
    }
    assert.deepEqual(bad, [], "run these through scripts/node or scripts/with-node");
  });

  test("bins are executable launchers, not TypeScript files", () => {
    const bins = manifests().flatMap(({ dir, pkg }) =>
      Object.values(typeof pkg.bin === "string" ? { [pkg.name]: pkg.bin } : (pkg.bin ?? {})).map((b) =>
        path.join(dir, b),
      ),
    );
    assert.ok(bins.length > 0, "packages/cli declares the natter bin");
    for (const bin of bins) {
      assert.doesNotMatch(bin, /\.[cm]?ts$/, `${bin}: a Node older than 22.18 cannot run a .ts bin`);
      accessSync(bin, constants.X_OK);
    }
  });
});

/** The environment of a fresh shell with `oldNodeDir` first on PATH (no npm run context, not CI). */
function envWith(oldNodeDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_|^CI$|^INIT_CWD$/i.test(k)) env[k] = v;
  }
  env.PATH = `${oldNodeDir}${path.delimiter}${process.env.PATH ?? ""}`;
  return env;
}

function run(env: NodeJS.ProcessEnv, cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { cwd: repoRoot, env, encoding: "utf8", timeout: 120_000 });
  const said = `${cmd} ${args.join(" ")} exited ${r.status} (${r.error?.message ?? r.signal ?? ""}):\n${r.stdout}\n${r.stderr}`;
  return { ...r, said };
}

function commandsWork(env: NodeJS.ProcessEnv) {
  // The Node a launched script gets, and the one its children and `#!/usr/bin/env node`
  // tools find on PATH.
  const probe = run(env, path.join(repoRoot, "scripts/with-node"), [
    "bash",
    "-c",
    'node -p "JSON.stringify([process.versions.node, process.features.typescript])"',
  ]);
  assert.equal(probe.status, 0, probe.said);
  const [version, typescript] = JSON.parse(probe.stdout) as [string, unknown];
  const [major = 0, minor = 0] = version.split(".").map(Number);
  assert.ok(major > 22 || (major === 22 && minor >= 18), `launched Node ${version} is older than 22.18`);
  assert.ok(typescript, `launched Node ${version} does not strip types`);

  // An npm script that runs a .ts file, as the README gives it.
  const doc = run(env, "npm", ["run", "--silent", "config:doc"]);
  assert.equal(doc.status, 0, doc.said);
  assert.match(doc.stdout, /\| `NATTER_NATS_URL`/, doc.said);

  // The `natter` bin as npm linked it (README "Use it").
  const natter = run(env, path.join(repoRoot, "node_modules/.bin/natter"), ["--help"]);
  assert.equal(natter.status, 0, natter.said);
  assert.match(natter.stdout, /^usage: natter /, natter.said);
}

describe("the README's commands with an old Node first on PATH", () => {
  const tmp = mkdtempSync(path.join(tmpdir(), "natter-old-node-"));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test("a Node that does not strip types (this Node with --no-experimental-strip-types)", () => {
    writeFileSync(
      path.join(tmp, "node"),
      `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} --no-experimental-strip-types "$@"\n`,
      { mode: 0o755 },
    );
    writeFileSync(path.join(tmp, "typed.ts"), "const n: number = 1;\nconsole.log(n);\n");
    const env = envWith(tmp);
    // The stand-in must fail where a Node 20 fails, or this test proves nothing.
    const plain = run(env, "node", [path.join(tmp, "typed.ts")]);
    assert.notEqual(plain.status, 0, `the stand-in ran TypeScript: ${plain.said}`);
    commandsWork(env);
  });

  const machine = spawnSync("/usr/bin/node", ["-p", "process.features.typescript ? 1 : 0"], { encoding: "utf8" });
  test(
    "the machine's own /usr/bin/node",
    { skip: machine.stdout?.trim() === "0" ? false : "/usr/bin/node is missing or strips types itself" },
    () => {
      commandsWork(envWith("/usr/bin"));
    },
  );
});
