/**
 * Builds the web client into `dist/`: type-checks `ui/` with the SDK it imports
 * (tsconfig.json: DOM types, no Node types), bundles `ui/main.ts` with Rollup (pure
 * JavaScript, no native binaries) into one ES module, strips types with TypeScript's own
 * `transpileModule`, and writes content-hashed assets plus `index.html`:
 *
 *   dist/index.html                 (the gateway serves it at `/`, revalidated)
 *   dist/assets/app.<hash>.js(.map) (cached as immutable)
 *   dist/assets/app.<hash>.css
 *   dist/assets/favicon.svg
 *   dist/assets/sw.<hash>.js        (the service worker: push notifications)
 *
 * Flags: `--no-check` skips the type check; `--if-missing` does nothing when
 * `dist/index.html` exists (what `npm start` uses).
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Plugin, rollup } from "rollup";
import ts from "typescript";

const here = path.dirname(fileURLToPath(import.meta.url));
const ui = path.join(here, "ui");
const dist = path.join(here, "dist");
const args = new Set(process.argv.slice(2));

if (args.has("--if-missing") && existsSync(path.join(dist, "index.html"))) process.exit(0);
const started = Date.now();

if (!args.has("--no-check")) typecheck();

const bundle = await rollup({ input: path.join(ui, "main.ts"), plugins: [typescript()], onwarn: failOnWarning });
const { output } = await bundle.generate({ format: "es", sourcemap: true, entryFileNames: "app.js" });
await bundle.close();
const chunk = output.find((o) => o.type === "chunk" && o.isEntry);
if (!chunk || chunk.type !== "chunk") throw new Error("rollup produced no entry chunk");
// The service worker (push notifications) is a bundle of its own: a classic script with
// no imports, registered by the page from the URL the page's <meta name="natter-sw"> names.
const swBundle = await rollup({ input: path.join(ui, "sw.ts"), plugins: [typescript()], onwarn: failOnWarning });
const swChunk = (await swBundle.generate({ format: "es", entryFileNames: "sw.js" })).output[0];
await swBundle.close();

await rm(dist, { recursive: true, force: true });
await mkdir(path.join(dist, "assets"), { recursive: true });
const js = `app.${hash(chunk.code)}.js`;
await writeFile(path.join(dist, "assets", js), `${chunk.code}//# sourceMappingURL=${js}.map\n`);
await writeFile(path.join(dist, "assets", `${js}.map`), chunk.map!.toString());
const sw = `sw.${hash(swChunk.code)}.js`;
await writeFile(path.join(dist, "assets", sw), swChunk.code);
const cssText = await readFile(path.join(ui, "styles.css"), "utf8");
const css = `app.${hash(cssText)}.css`;
await writeFile(path.join(dist, "assets", css), cssText);
await copyFile(path.join(ui, "favicon.svg"), path.join(dist, "assets", "favicon.svg"));
const html = (await readFile(path.join(ui, "index.html"), "utf8"))
  .replace("%APP_JS%", `/assets/${js}`)
  .replace("%APP_CSS%", `/assets/${css}`)
  .replace("%SW_JS%", `/assets/${sw}`);
await writeFile(path.join(dist, "index.html"), html);

const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
console.log(
  `web client built into ${path.relative(process.cwd(), dist) || "."}: ${js} ${kb(chunk.code.length)}, ${css} ${kb(cssText.length)} (${Date.now() - started} ms)`,
);

function hash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 10);
}

/** `tsc -p tsconfig.json` with the API: exits 1 with the diagnostics on any error. */
function typecheck(): void {
  const host: ts.FormatDiagnosticsHost = {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => process.cwd(),
    getNewLine: () => "\n",
  };
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(here, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.formatDiagnostics([d], host));
      },
    },
  );
  if (!parsed) throw new Error("cannot read packages/web/tsconfig.json");
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length > 0) {
    console.error(ts.formatDiagnosticsWithColorAndContext(diagnostics, host));
    console.error(`web client: ${diagnostics.length} type error(s); nothing built`);
    process.exit(1);
  }
}

/**
 * Resolves bare imports (`@natter/client`, workspace packages whose `exports` point at
 * `.ts` sources) the way Node does, and strips types from `.ts` modules.
 */
function typescript(): Plugin {
  return {
    name: "natter-typescript",
    resolveId(source, importer) {
      if (source.startsWith(".") || path.isAbsolute(source) || !importer) return null;
      return createRequire(importer).resolve(source);
    },
    transform(code, id) {
      if (!id.endsWith(".ts")) return null;
      const out = ts.transpileModule(code, {
        fileName: id,
        compilerOptions: {
          target: ts.ScriptTarget.ES2022,
          module: ts.ModuleKind.ESNext,
          sourceMap: true,
          inlineSources: true,
          removeComments: true,
        },
      });
      return { code: out.outputText.replace(/\n\/\/# sourceMappingURL=.*$/, ""), map: out.sourceMapText ?? null };
    },
  };
}

function failOnWarning(warning: { code?: string; message: string }): void {
  throw new Error(`rollup: ${warning.message}`);
}
