/**
 * The web client (`packages/web`, built by `npm run build:web` into `packages/web/dist`)
 * at `/`: `index.html` (revalidated on every load) and `/assets/<file>` (content-hashed
 * names, cached for a year as immutable). Files are read from disk on request and kept in
 * memory while their size and mtime stay the same, so a rebuild shows up without a
 * restart. Without a build, `/` answers 503 with a page that says how to make one.
 */
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { NatterError } from "@natter/protocol";
import type { FastifyReply, FastifyRequest } from "fastify";
import { Type } from "typebox";
import { errors } from "./schemas.ts";
import type { App } from "./server-types.ts";

/** `packages/web/dist` of this checkout. */
export const WEB_DIST = fileURLToPath(new URL("../../packages/web/dist/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".webmanifest": "application/manifest+json",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/** A name with a content hash (`app.3f9a1c2b.js`) never changes content. */
const HASHED = /\.[0-9a-f]{8,}\./;
const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/**
 * Same-origin only: the page, its scripts, styles, the API and the WebSocket; `blob:`
 * images are attachments the page fetched with its token (an `<img>` cannot send one).
 */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const MISSING = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Natter: web client not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5">
<h1>The web client is not built yet</h1>
<p>This gateway serves Natter's web client from <code>packages/web/dist</code>, which does not exist.
Build it from the repository root, then reload this page:</p>
<pre style="background: #f3f3f3; padding: .75rem 1rem">npm run build:web</pre>
<p>The HTTP API (<code>/v1</code>) and the WebSocket endpoint (<code>/v1/ws</code>) work without it.</p>
</body></html>
`;

const NOT_MODIFIED = { description: "Not modified: If-None-Match named the current ETag", type: "null" } as const;

interface Cached {
  size: number;
  mtimeMs: number;
  body: Buffer;
  etag: string;
}

export function webRoutes(app: App, opts: { dir?: string } = {}): void {
  const dir = opts.dir ?? WEB_DIST;
  const cache = new Map<string, Cached>();

  async function load(file: string): Promise<Cached | undefined> {
    let st;
    try {
      st = await stat(file);
    } catch {
      cache.delete(file);
      return undefined;
    }
    if (!st.isFile()) return undefined;
    const hit = cache.get(file);
    if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit;
    const body = await readFile(file);
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
    const entry = { size: st.size, mtimeMs: st.mtimeMs, body, etag };
    cache.set(file, entry);
    return entry;
  }

  /**
   * Sends the file and says whether it existed. It must not return the reply: a reply is
   * thenable, so an async function returning it resolves (to undefined) only once the
   * response has finished, and the caller took that for "no file" and set 503 or 404 on a
   * 200 already sent (the client saw 200, the metrics and logs the other status).
   */
  async function serve(req: FastifyRequest, reply: FastifyReply, file: string, cacheControl: string) {
    const f = await load(file);
    if (!f) return false;
    reply
      .header("content-type", TYPES[path.extname(file)] ?? "application/octet-stream")
      .header("cache-control", cacheControl)
      .header("etag", f.etag)
      .header("x-content-type-options", "nosniff");
    if (req.headers["if-none-match"] === f.etag) reply.code(304).send();
    else reply.send(f.body);
    return true;
  }

  app.get(
    "/",
    {
      schema: {
        tags: ["web"],
        summary: "The web client (HTML); 503 with instructions when it is not built",
        response: {
          200: { description: "index.html of the web client", content: { "text/html": { schema: Type.String() } } },
          304: NOT_MODIFIED,
          503: {
            description: "The web client is not built: a page that says how to build it",
            content: { "text/html": { schema: Type.String() } },
          },
        },
      },
    },
    async (req, reply) => {
      reply
        .header("content-security-policy", CSP)
        .header("referrer-policy", "no-referrer")
        .header("x-frame-options", "DENY");
      if (await serve(req, reply, path.join(dir, "index.html"), "no-cache")) return reply;
      return reply
        .code(503)
        .removeHeader("content-security-policy") // the page below styles itself inline
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .send(MISSING);
    },
  );

  app.get(
    "/assets/:file",
    {
      schema: {
        tags: ["web"],
        summary: "A static file of the web client (hashed names are immutable)",
        params: Type.Object({ file: Type.String({ maxLength: 128 }) }),
        response: {
          200: {
            description: "The file, in the media type of its extension",
            content: { "*/*": { schema: Type.String({ format: "binary" }) } },
          },
          304: NOT_MODIFIED,
          ...errors([404, "No such file"]),
        },
      },
    },
    async (req, reply) => {
      const { file } = req.params as { file: string };
      const cacheControl = HASHED.test(file) ? "public, max-age=31536000, immutable" : "no-cache";
      if (SAFE_NAME.test(file) && (await serve(req, reply, path.join(dir, "assets", file), cacheControl))) return reply;
      throw new NatterError("not_found", "no such file", { field: "file" });
    },
  );
}
