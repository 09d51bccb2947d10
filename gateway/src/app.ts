import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import swagger from "@fastify/swagger";
import { Ajv } from "ajv";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { ERROR_STATUS, type ErrorCode, isNatterError, NatterError } from "@natter/protocol";
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyReply, type RouteOptions } from "fastify";
import { bearer } from "./auth/authenticate.ts";
import type { GatewayContext } from "./context.ts";
import { attachmentRoutes } from "./routes/attachments.ts";
import { authRoutes } from "./routes/auth.ts";
import { blockRoutes } from "./routes/blocks.ts";
import { pushRoutes } from "./routes/push.ts";
import { chatRoutes } from "./routes/chats.ts";
import { DOCS_PREFIX, docsRoutes } from "./docs.ts";
import { healthRoutes } from "./routes/health.ts";
import { messageRoutes } from "./routes/messages.ts";
import { adminRoutes } from "./routes/admin.ts";
import { messageDeleteRoutes } from "./routes/message-deletes.ts";
import { messageEditRoutes } from "./routes/message-edits.ts";
import { messageReactionRoutes } from "./routes/message-reactions.ts";
import { presenceRoutes } from "./routes/presence.ts";
import { ErrorBody, errorResponse } from "./schemas.ts";
import type { App } from "./server-types.ts";
import type { Realtime } from "./ws/realtime.ts";
import { websocketRoutes } from "./ws/route.ts";
import { webRoutes } from "./web.ts";

/** Every route registered, for the OpenAPI coverage test. */
export interface BuiltApp {
  app: App;
  routes: { method: string; url: string }[];
}

/**
 * The gateway's HTTP application. It only wires: routes live in `routes/`, rules in
 * `chat/`, the WebSocket endpoint in `ws/`, and `process.ts` listens.
 */
export async function buildApp(
  ctx: GatewayContext,
  realtime?: Realtime,
  opts: { /** The web client's files (default: `packages/web/dist`). */ webDir?: string } = {},
): Promise<BuiltApp> {
  const app = Fastify({
    loggerInstance: ctx.logger.child({ component: "http" }) as FastifyBaseLogger,
    // Room for a 4 KiB message in JSON escapes; bigger bodies get 413 before parsing.
    bodyLimit: Math.max(64 * 1024, ctx.config.bodyLimit * 8),
    // The client address (`req.ip`) of login limits and logs: the socket's, or
    // `X-Forwarded-For`'s when the request comes through a proxy the operator names.
    trustProxy: ctx.config.trustProxy ?? false,
    // What Fastify answers before any route runs (a malformed URL, an over-long path
    // parameter) gets the same `{code, message}` body as every other error.
    // Such replies skip the onResponse hook, so they are counted here.
    frameworkErrors: (err, _req, reply) => {
      const e = toNatterError(err);
      ctx.metrics.httpRequests.inc({ route: "unknown", status: String(e.status) });
      return sendError(reply, e, ctx);
    },
    // Requests Node's HTTP parser refuses (headers over the limit, malformed HTTP, a request
    // that does not arrive in time) never reach Fastify: answered here on the raw socket.
    clientErrorHandler: (err, socket) => answerClientError(err, socket, ctx),
  }).withTypeProvider<TypeBoxTypeProvider>() as App;

  // Query strings and params are text and need coercion ("?limit=5"); JSON bodies are
  // typed already, and coercing them would accept `{"body": 42}` as the string "42".
  // `verbose` gives body errors their schema, for `x-too-large` (see toNatterError).
  // `binary` is OpenAPI's format for raw bytes (an upload's body, a download): a stream
  // the validator never sees, known here so Ajv does not warn about it on stdout.
  const formats = { binary: true as const };
  const coercing = new Ajv({
    coerceTypes: "array",
    useDefaults: true,
    removeAdditional: false,
    strict: false,
    formats,
  });
  const exact = new Ajv({
    coerceTypes: false,
    useDefaults: true,
    removeAdditional: false,
    strict: false,
    verbose: true,
    formats,
  });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === "body" ? exact : coercing).compile(schema as object),
  );

  const routes: { method: string; url: string }[] = [];
  // Every path and method served (HEAD and the WebSocket included), for 405 and `Allow`.
  const served: { method: string; path: RegExp }[] = [];
  app.addHook("onRoute", (r) => {
    for (const m of [r.method].flat()) served.push({ method: m, path: pathPattern(r.url) });
    // The WebSocket endpoint is documented in gateway/README.md; OpenAPI cannot describe it.
    // The documentation page and the document itself are not part of the API they describe.
    if (r.url.startsWith(DOCS_PREFIX) || r.url === "/v1/openapi.json" || r.websocket) return;
    declareFrameworkErrors(r);
    for (const m of [r.method].flat()) if (m !== "HEAD") routes.push({ method: m, url: r.url });
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "Natter v1", version: "1.0.0", description: "Natter's HTTP API. See docs/protocol.md." },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    },
  });
  app.addSchema(ErrorBody);

  // Declared up front (null) so every request object has the same shape.
  app.decorateRequest("auth", null as never);
  app.decorate("requireAuth", async (req, _reply) => {
    const info = await ctx.authenticator.authenticate(bearer(req.headers.authorization));
    (req as { auth: unknown }).auth = info;
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const e = toNatterError(err);
    if (e.status >= 500) req.log.error({ err, url: req.url }, "request failed");
    sendError(reply, e, ctx);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split("?", 1)[0] ?? "";
    const allow = [...new Set(served.filter((r) => r.path.test(path)).map((r) => r.method))];
    if (allow.length === 0) return sendError(reply, new NatterError("not_found", "no such route"), ctx);
    reply.header("allow", allow.join(", "));
    return sendError(
      reply,
      new NatterError("method_not_allowed", `${req.method} is not served here: ${allow.join(", ")}`),
      ctx,
    );
  });
  // A reply that carries an error status and no body (e.g. the WebSocket plugin's 404 for a
  // GET of /v1/ws without an upgrade) gets the `{code, message}` body all errors have.
  app.addHook("onSend", async (req, reply, payload) => {
    const empty =
      payload === undefined || payload === null || payload === "" || (Buffer.isBuffer(payload) && !payload.length);
    if (reply.statusCode < 400 || !empty || req.method === "HEAD") return payload;
    const e = new NatterError(codeForStatus(reply.statusCode), STATUS_CODES[reply.statusCode] ?? "error");
    ctx.metrics.errors.inc({ code: e.code, via: "http" });
    reply.code(e.status).header("content-type", "application/json; charset=utf-8");
    return JSON.stringify(e.toBody());
  });
  app.addHook("onResponse", async (req, reply) => {
    ctx.metrics.httpRequests.inc({ route: req.routeOptions.url ?? "unknown", status: String(reply.statusCode) });
  });

  // Before every HTTP route: the plugin intercepts upgrades on all of them.
  if (realtime) await websocketRoutes(app, realtime);
  healthRoutes(app, ctx);
  authRoutes(app, ctx);
  chatRoutes(app, ctx);
  blockRoutes(app, ctx);
  messageRoutes(app, ctx);
  messageDeleteRoutes(app, ctx);
  messageEditRoutes(app, ctx);
  messageReactionRoutes(app, ctx);
  presenceRoutes(app, ctx);
  pushRoutes(app, ctx);
  await attachmentRoutes(app, ctx);
  adminRoutes(app, ctx);
  webRoutes(app, opts.webDir === undefined ? {} : { dir: opts.webDir });
  app.get("/v1/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  await docsRoutes(app);

  await app.ready();
  return { app, routes };
}

/** Answers `e` as `{code, message}` with its status, counted by code in `natter_errors_total`. */
function sendError(reply: FastifyReply, e: NatterError, ctx: GatewayContext) {
  ctx.metrics.errors.inc({ code: e.code, via: "http" });
  if (e.code === "rate_limited" && e.retryAfterMs) reply.header("retry-after", Math.ceil(e.retryAfterMs / 1000));
  return reply.code(e.status).send(e.toBody());
}

/** The generic code of each error status, for errors that come with a status only. */
const GENERIC: readonly ErrorCode[] = [
  "invalid_input",
  "unauthorized",
  "forbidden",
  "not_found",
  "method_not_allowed",
  "request_timeout",
  "conflict",
  "too_large",
  "unsupported_media_type",
  "rate_limited",
  "headers_too_large",
  "internal",
  "unsupported",
  "unavailable",
];

function codeForStatus(status: number): ErrorCode {
  return GENERIC.find((c) => ERROR_STATUS[c] === status) ?? (status >= 500 ? "internal" : "invalid_input");
}

/** Maps Fastify's own errors (validation, parsing, size, URL) onto the stable codes. */
function toNatterError(err: FastifyError): NatterError {
  if (isNatterError(err)) return err;
  if (err.validation) {
    const v = err.validation[0];
    const where = err.validationContext ?? "body";
    const path =
      v?.instancePath?.replace(/^\//, "").replace(/\//g, ".") ||
      (v?.params as { missingProperty?: string })?.missingProperty;
    // A field whose length limit stands for a size limit (a message body) is refused the
    // way the size check behind it refuses: 413 too_large, the same as over WebSocket.
    const sized = (v as { parentSchema?: Record<string, unknown> } | undefined)?.parentSchema?.["x-too-large"] === true;
    const code = sized && v?.keyword === "maxLength" ? "too_large" : "invalid_input";
    return new NatterError(code, `${where}${path ? `.${path}` : ""} ${v?.message ?? "is invalid"}`, {
      ...(path ? { field: path } : {}),
    });
  }
  if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") return new NatterError("too_large", "request body too large");
  if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
    return new NatterError("unsupported_media_type", "send the body as application/json");
  }
  if (err.code?.startsWith("FST_ERR_CTP") || err instanceof SyntaxError) {
    return new NatterError("invalid_json", "the body is not valid JSON");
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return new NatterError(codeForStatus(err.statusCode), err.message);
  }
  return new NatterError("internal", "internal error", { cause: err });
}

/** A Fastify route URL (`/v1/chats/:chatId`) as a pattern of the paths it serves. */
function pathPattern(url: string): RegExp {
  const parts = url
    .split("/")
    .map((p) => (p.startsWith(":") ? "[^/]+" : p === "*" ? ".*" : p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  return new RegExp(`^${parts.join("/")}$`);
}

const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Adds to a route's documented responses the errors the framework answers for it, so no
 * route file has to remember them: 400 where a part is validated or a body parsed (also
 * invalid_json), 413 and 415 where Fastify reads a body, 401 behind a bearer token, and
 * 500 everywhere. The statuses a route declares itself stay as they are.
 */
function declareFrameworkErrors(r: RouteOptions): void {
  const schema = (r.schema ??= {}) as Record<string, unknown> & { response?: Record<string, unknown> };
  if (schema.hide) return;
  const response = (schema.response ??= {});
  const methods = [r.method].flat();
  const add: number[] = [500];
  if (schema.params || schema.querystring || schema.body) add.push(400);
  if (methods.some((m) => BODY_METHODS.has(m))) add.push(400, 413, 415);
  if (schema.security) add.push(401);
  for (const status of add) response[status] ??= errorResponse(status);
}

/** Answers what Node's HTTP parser refused, on the raw socket (no request object exists). */
function answerClientError(err: Error & { code?: string }, socket: Socket, ctx: GatewayContext): void {
  // A reset connection has nobody left to answer.
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const e =
    err.code === "HPE_HEADER_OVERFLOW"
      ? new NatterError("headers_too_large", `the request headers are over the server's limit`)
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? new NatterError("request_timeout", "the request did not arrive in time")
        : new NatterError("invalid_input", "malformed HTTP request");
  ctx.metrics.httpRequests.inc({ route: "unknown", status: String(e.status) });
  ctx.metrics.errors.inc({ code: e.code, via: "http" });
  const body = JSON.stringify(e.toBody());
  if (!socket.writable) return void socket.destroy();
  socket.end(
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
