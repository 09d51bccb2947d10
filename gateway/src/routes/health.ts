import { Type } from "typebox";
import type { GatewayContext } from "../context.ts";
import { errors } from "../schemas.ts";
import type { App } from "../server-types.ts";

const Readiness = Type.Object({
  ok: Type.Boolean(),
  nats: Type.Boolean(),
  jetstream: Type.Boolean(),
  store: Type.Boolean(),
});

/**
 * Probes and scrapes come every few seconds from every load balancer and Prometheus: their
 * requests log at warn and above only (an error still shows), never Fastify's two info lines.
 */
const PROBE_LOG_LEVEL = "warn";

export function healthRoutes(app: App, ctx: GatewayContext): void {
  app.get(
    "/healthz",
    {
      logLevel: PROBE_LOG_LEVEL,
      schema: { tags: ["ops"], summary: "Liveness", response: { 200: Type.Object({ ok: Type.Boolean() }) } },
    },
    async () => ({ ok: true }),
  );

  app.get(
    "/readyz",
    {
      logLevel: PROBE_LOG_LEVEL,
      schema: {
        tags: ["ops"],
        summary:
          "Readiness: NATS connected and the chat stream writable (it has a leader); `store` is reported but does not decide, since sends go on without it",
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (_req, reply) => {
      const nats =
        !ctx.nc.isClosed() &&
        (await ctx.nc.flush().then(
          () => true,
          () => false,
        ));
      const [jetstream, store] = await Promise.all([
        nats ? ctx.chatLog.writable() : false,
        ctx.store.ping().then(
          () => true,
          () => false,
        ),
      ]);
      // Not ready only when this gateway cannot take a send: the store is shared by every
      // gateway, so failing readiness for it would take them all out of rotation at once,
      // while sends, live delivery and recent history go on without it.
      const ok = nats && jetstream;
      reply.code(ok ? 200 : 503);
      return { ok, nats, jetstream, store };
    },
  );

  app.get(
    "/metrics",
    {
      logLevel: PROBE_LOG_LEVEL,
      schema: {
        tags: ["ops"],
        summary: "Prometheus metrics",
        response: {
          200: {
            description: "The Prometheus text exposition format, version 0.0.4",
            content: { "text/plain": { schema: Type.String() } },
          },
          ...errors(500),
        },
      },
    },
    async (_req, reply) => {
      reply.header("content-type", ctx.metrics.registry.contentType);
      return ctx.metrics.registry.metrics();
    },
  );
}
