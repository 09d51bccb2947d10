import { Readable } from "node:stream";
import type { StoredAttachment } from "@natter/bus";
import { isInlineType, MAX_ATTACHMENT_NAME_LENGTH, NatterError } from "@natter/protocol";
import { Type } from "typebox";
import type { GatewayContext } from "../context.ts";
import { AttachmentView, ChatParams, errors, Id } from "../schemas.ts";
import type { App } from "../server-types.ts";

const Bytes = { content: { "*/*": { schema: { type: "string", format: "binary" } } } };

/**
 * `POST /v1/chats/:chatId/attachments?name=` and `GET /v1/attachments/:attachmentId`
 * (v1.1; the rules are `chat/attachments.ts`). Registered in a scope of their own: the
 * upload's body is the file's raw bytes in any media type, handed to the route as the
 * request stream (this scope's only body parser), never buffered.
 */
export async function attachmentRoutes(app: App, ctx: GatewayContext): Promise<void> {
  await app.register(async (scope: App) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_req, payload, done) => done(null, payload));

    scope.post(
      "/v1/chats/:chatId/attachments",
      {
        preHandler: scope.requireAuth,
        schema: {
          tags: ["attachments"],
          summary:
            "Upload a file into a chat (members only): the raw bytes with their Content-Type, streamed; at most NATTER_ATTACHMENT_MAX_BYTES (25 MiB by default)",
          security: [{ bearer: [] }],
          params: ChatParams,
          querystring: Type.Object({
            name: Type.String({ minLength: 1, maxLength: MAX_ATTACHMENT_NAME_LENGTH, description: "the file name" }),
          }),
          consumes: ["*/*"],
          body: Type.Unsafe<unknown>({ description: "the file's bytes", format: "binary" }),
          response: {
            201: AttachmentView,
            ...errors(
              [400, "invalid_input: a bad name or Content-Type, an empty body, or one shorter than its Content-Length"],
              401,
              [403, "forbidden: no longer a member"],
              [404, "not_found: no such chat"],
              [413, "too_large: over the limit, or longer than its Content-Length; nothing is kept"],
              [415, "unsupported_media_type: a Content-Type that is no media type"],
              503,
            ),
          },
        },
      },
      async (req, reply) => {
        const length = req.headers["content-length"];
        const descriptor = await ctx.attachments
          .upload(
            req.auth.userId,
            req.params.chatId,
            {
              name: req.query.name,
              contentType: req.headers["content-type"],
              contentLength: length === undefined ? undefined : Number(length),
            },
            req.body as Readable | undefined,
          )
          .catch((err: unknown) => {
            // Refused with the body unread. Refused before any of it was read and announced
            // at most twice the limit, the rest is read and dropped after the answer (Node's
            // dump of an unread body), so a client that writes its whole body before reading,
            // as fetch does, reads the 413 instead of a reset. Otherwise (refused midway,
            // unannounced, or larger) the connection closes: it cannot carry another request,
            // and nobody is owed a drain of an oversized body.
            const announced = length === undefined ? undefined : Number(length);
            const drains =
              !req.raw.readableDidRead && announced !== undefined && announced <= 2 * ctx.config.attachmentMaxBytes;
            if (req.raw.readableEnded === false && !drains) reply.header("connection", "close");
            const socket = req.raw.socket;
            if (socket.destroyed || socket.writableEnded) {
              req.log.info(
                // No file name: it is the user's content, and logs are kept beyond a delete.
                { chatId: req.params.chatId, err: String(err) },
                "upload abandoned: its connection ended before the answer",
              );
            }
            throw err;
          });
        // The connection ended before the answer: nobody can learn the id, so nothing is
        // kept. This is also a body longer than its Content-Length over HTTP/1.1: the bytes
        // after it parse as a malformed next request, which Node answers 400 and closes.
        const socket = req.raw.socket;
        if (socket.destroyed || socket.writableEnded) {
          await ctx.attachmentBucket.purge(descriptor.attachmentId);
          req.log.info(
            { chatId: req.params.chatId, attachmentId: descriptor.attachmentId },
            "upload purged: its connection ended before the answer",
          );
          return reply.hijack();
        }
        reply.code(201);
        return descriptor;
      },
    );

    scope.get(
      "/v1/attachments/:attachmentId",
      {
        preHandler: scope.requireAuth,
        schema: {
          tags: ["attachments"],
          summary:
            "An attachment's bytes (active members of its chat only), with its Content-Type, nosniff, Content-Disposition, ETag; one byte range (206, 416)",
          security: [{ bearer: [] }],
          params: Type.Object({ attachmentId: Id }),
          response: {
            200: { description: "the whole file", ...Bytes },
            206: { description: "the range asked for (Content-Range)", ...Bytes },
            304: { description: "If-None-Match named its ETag: unchanged" },
            ...errors(
              400,
              401,
              [403, "forbidden: no longer a member of its chat"],
              [404, "not_found: no such attachment (or purged: its message was deleted, or no message took it)"],
              [416, "range_not_satisfiable: the range starts beyond the end (Content-Range: bytes */size)"],
              503,
            ),
          },
        },
      },
      async (req, reply) => {
        const a = await ctx.attachments.forReader(req.auth.userId, req.params.attachmentId);
        const etag = `"${a.sha256}"`;
        reply
          .header("content-type", a.contentType)
          .header("x-content-type-options", "nosniff")
          .header("content-disposition", contentDisposition(a))
          // Nothing in it may run, even opened on its own in a browser tab.
          .header("content-security-policy", "default-src 'none'; sandbox")
          .header("cache-control", "private, no-cache")
          .header("etag", etag)
          .header("accept-ranges", "bytes");
        if (req.headers["if-none-match"]?.split(",").some((t) => t.trim() === etag)) return reply.code(304).send();
        const range = parseRange(req.headers.range, a.size);
        if (range === "unsatisfiable") {
          reply.header("content-range", `bytes */${a.size}`);
          throw new NatterError("range_not_satisfiable", `the file has ${a.size} bytes`, { field: "range" });
        }
        if (range) {
          reply
            .code(206)
            .header("content-range", `bytes ${range.start}-${range.end}/${a.size}`)
            .header("content-length", range.end - range.start + 1);
        } else {
          reply.code(200).header("content-length", a.size);
        }
        return reply.send(Readable.from(ctx.attachmentBucket.read(a, range)));
      },
    );
  });
}

/**
 * `attachment` (downloaded, never shown) for anything but the image types a browser shows
 * and never runs; the name as `filename*` (RFC 6266, UTF-8) with an ASCII fallback.
 */
function contentDisposition(a: StoredAttachment): string {
  const fallback = a.name.replace(/[^A-Za-z0-9._ -]/g, "_");
  const encoded = encodeURIComponent(a.name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${isInlineType(a.contentType) ? "inline" : "attachment"}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

/**
 * One byte range (`bytes=a-b`, `bytes=a-`, `bytes=-n`) within `size`; undefined for no
 * Range header, or one this server ignores (several ranges, another unit, malformed: the
 * whole file is answered, as RFC 9110 allows); "unsatisfiable" for a range past the end.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== "" && Number(m[2]) < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end };
}
