import swagger from "@fastify/swagger";
import { Ajv } from "ajv";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { isNatterError, NatterError } from "@natter/protocol";
import Fastify, { type FastifyBaseLogger, type FastifyError } from "fastify";
import { authenticate, bearer } from "./auth/authenticate.ts";
import type { GatewayContext } from "./context.ts";
import { authRoutes } from "./routes/auth.ts";
import { chatRoutes } from "./routes/chats.ts";
import { healthRoutes } from "./routes/health.ts";
import { messageRoutes } from "./routes/messages.ts";
import { presenceRoutes } from "./routes/presence.ts";
import { ErrorBody } from "./schemas.ts";
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
export async function buildApp(ctx: GatewayContext, realtime?: Realtime): Promise<BuiltApp> {
  const app = Fastify({
    loggerInstance: ctx.logger.child({ component: "http" }) as FastifyBaseLogger,
    // Room for a 4 KiB message in JSON escapes; bigger bodies get 413 before parsing.
    bodyLimit: Math.max(64 * 1024, ctx.config.bodyLimit * 8),
    trustProxy: false,
  }).withTypeProvider<TypeBoxTypeProvider>() as App;

  // Query strings and params are text and need coercion ("?limit=5"); JSON bodies are
  // typed already, and coercing them would accept `{"body": 42}` as the string "42".
  const coercing = new Ajv({ coerceTypes: "array", useDefaults: true, removeAdditional: false, strict: false });
  const exact = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, strict: false });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === "body" ? exact : coercing).compile(schema as object),
  );

  const routes: { method: string; url: string }[] = [];
  app.addHook("onRoute", (r) => {
    // The WebSocket endpoint is documented in gateway/README.md; OpenAPI cannot describe it.
    if (r.url.startsWith("/documentation") || r.url === "/v1/openapi.json" || r.websocket) return;
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
    const info = await authenticate(ctx.signer, ctx.store, bearer(req.headers.authorization));
    (req as { auth: unknown }).auth = info;
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const e = toNatterError(err);
    if (e.status >= 500) req.log.error({ err, url: req.url }, "request failed");
    if (e.code === "rate_limited" && e.retryAfterMs) reply.header("retry-after", Math.ceil(e.retryAfterMs / 1000));
    reply.code(e.status).send(e.toBody());
  });
  app.setNotFoundHandler((_req, reply) => {
    reply.code(404).send(new NatterError("not_found", "no such route").toBody());
  });
  app.addHook("onResponse", async (req, reply) => {
    ctx.metrics.httpRequests.inc({ route: req.routeOptions.url ?? "unknown", status: String(reply.statusCode) });
  });

  // Before every HTTP route: the plugin intercepts upgrades on all of them.
  if (realtime) await websocketRoutes(app, realtime);
  healthRoutes(app, ctx);
  authRoutes(app, ctx);
  chatRoutes(app, ctx);
  messageRoutes(app, ctx);
  presenceRoutes(app, ctx);
  webRoutes(app);
  app.get("/v1/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  await app.ready();
  return { app, routes };
}

/** Maps Fastify's own errors (validation, parsing, size) onto the stable codes. */
function toNatterError(err: FastifyError): NatterError {
  if (isNatterError(err)) return err;
  if (err.validation) {
    const v = err.validation[0];
    const where = err.validationContext ?? "body";
    const path =
      v?.instancePath?.replace(/^\//, "").replace(/\//g, ".") ||
      (v?.params as { missingProperty?: string })?.missingProperty;
    return new NatterError("invalid_input", `${where}${path ? `.${path}` : ""} ${v?.message ?? "is invalid"}`, {
      ...(path ? { field: path } : {}),
    });
  }
  if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") return new NatterError("too_large", "request body too large");
  if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return new NatterError("invalid_input", "send application/json");
  if (err.code?.startsWith("FST_ERR_CTP") || err instanceof SyntaxError) {
    return new NatterError("invalid_json", "the body is not valid JSON");
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return new NatterError("invalid_input", err.message);
  }
  return new NatterError("internal", "internal error", { cause: err });
}
