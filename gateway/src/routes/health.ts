import { Type } from "typebox";
import type { GatewayContext } from "../context.ts";
import { errors } from "../schemas.ts";
import type { App } from "../server-types.ts";

export function healthRoutes(app: App, ctx: GatewayContext): void {
  app.get(
    "/healthz",
    { schema: { tags: ["ops"], summary: "Liveness", response: { 200: Type.Object({ ok: Type.Boolean() }) } } },
    async () => ({ ok: true }),
  );

  app.get(
    "/readyz",
    {
      schema: {
        tags: ["ops"],
        summary: "Readiness: NATS connected and the store answers",
        response: {
          200: Type.Object({ ok: Type.Boolean(), nats: Type.Boolean(), store: Type.Boolean() }),
          503: Type.Object({ ok: Type.Boolean(), nats: Type.Boolean(), store: Type.Boolean() }),
        },
      },
    },
    async (_req, reply) => {
      const nats =
        !ctx.nc.isClosed() &&
        (await ctx.nc.flush().then(
          () => true,
          () => false,
        ));
      const store = await ctx.store.ping().then(
        () => true,
        () => false,
      );
      const ok = nats && store;
      reply.code(ok ? 200 : 503);
      return { ok, nats, store };
    },
  );

  app.get(
    "/metrics",
    {
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
