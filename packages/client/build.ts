/**
 * Builds `@natter/client` into `dist/`, a package directory that `npm pack` turns into
 * an installable tarball: ES modules for browsers and Node, `.d.ts` declarations, source
 * maps with the sources inlined. `@natter/protocol` (the SDK's one dependency, a
 * workspace package that is not published) is compiled into the same package
 * (`dist/protocol/`) and imported by relative path, so the tarball installs with no
 * registry at all.
 *
 *   scripts/node packages/client/build.ts                 # dist/
 *   scripts/node packages/client/build.ts --pack <dir>    # and dist packed into <dir>/natter-client-<version>.tgz
 *
 * Layout: `dist/client/src/*.js` (entry `index.js`; `node.js` for `@natter/client/node`),
 * `dist/protocol/src/*.js`, each with `.d.ts` and `.js.map`; `dist/package.json` (no
 * dependencies), `dist/README.md`.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const here = path.dirname(fileURLToPath(import.meta.url));
const packages = path.dirname(here);
const dist = path.join(here, "dist");
const args = process.argv.slice(2);
const packAt = args.indexOf("--pack");
const packDir = packAt >= 0 ? args[packAt + 1] : undefined;
if (packAt >= 0 && !packDir) throw new Error("--pack needs a directory");

const sources = (pkg: string) =>
  readdirSync(path.join(packages, pkg, "src"))
    // Tests and their helpers (`test-*.ts`) stay out of the package.
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.startsWith("test-"))
    .map((f) => path.join(packages, pkg, "src", f));

await rm(dist, { recursive: true, force: true });
const program = ts.createProgram({
  rootNames: [...sources("client"), ...sources("protocol")],
  options: {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ["lib.es2023.d.ts", "lib.dom.d.ts"],
    types: ["node"],
    strict: true,
    skipLibCheck: true,
    declaration: true,
    sourceMap: true,
    inlineSources: true,
    rewriteRelativeImportExtensions: true,
    rootDir: packages,
    outDir: dist,
  },
});
const toProtocol = (file: string) => {
  const rel = path.relative(path.dirname(file), path.join(dist, "protocol", "src", "index.js")).replace(/\\/g, "/");
  return rel.startsWith(".") ? rel : `./${rel}`;
};
const result = program.emit(undefined, (file, text) => {
  // The SDK imports the protocol by package name; in the package it is a relative path.
  let out = text.replace(/(["'])@natter\/protocol\1/g, (_m, q: string) => `${q}${toProtocol(file)}${q}`);
  // Declarations keep the sources' `.ts` specifiers; the package has `.js` beside `.d.ts`.
  if (file.endsWith(".d.ts")) out = out.replace(/(from\s+["']\.{1,2}\/[^"']+)\.ts(["'])/g, "$1.js$2");
  ts.sys.writeFile(file, out);
});
const diagnostics = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
if (diagnostics.length > 0) {
  console.error(
    ts.formatDiagnosticsWithColorAndContext(diagnostics, {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => process.cwd(),
      getNewLine: () => "\n",
    }),
  );
  process.exit(1);
}

const source = JSON.parse(readFileSync(path.join(here, "package.json"), "utf8")) as {
  version: string;
  description: string;
};
const entry = (name: string) => ({
  types: `./client/src/${name}.d.ts`,
  default: `./client/src/${name}.js`,
});
await mkdir(dist, { recursive: true });
await writeFile(
  path.join(dist, "package.json"),
  `${JSON.stringify(
    {
      name: "@natter/client",
      version: source.version,
      description: source.description,
      license: "Apache-2.0",
      type: "module",
      engines: { node: ">=22" },
      sideEffects: false,
      exports: { ".": entry("index"), "./node": entry("node"), "./package.json": "./package.json" },
      types: "./client/src/index.d.ts",
    },
    null,
    2,
  )}\n`,
);
await writeFile(path.join(dist, "README.md"), readFileSync(path.join(here, "README.md"), "utf8"));
console.log(`@natter/client ${source.version} built into ${path.relative(process.cwd(), dist) || "."}`);

if (packDir) {
  await mkdir(packDir, { recursive: true });
  const out = execFileSync("npm", ["pack", "--pack-destination", path.resolve(packDir), "--json"], {
    cwd: dist,
    encoding: "utf8",
  });
  const [info] = JSON.parse(out) as { filename: string }[];
  console.log(path.join(path.resolve(packDir), info!.filename));
}
