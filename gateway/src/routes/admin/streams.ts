import { NatterError } from "@natter/protocol";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { GatewayContext } from "../../context.ts";
import { errors } from "../../schemas.ts";
import type { App } from "../../server-types.ts";
import type { AdminRun } from "./guard.ts";
import { readJetStreamState } from "./jetstream-state.ts";
import { StreamsView } from "./schemas.ts";

/** `GET /v1/admin/streams`: stream state and each durable's lag, read-only. */
export function adminStreamRoutes(app: App, ctx: GatewayContext, run: AdminRun): void {
  // Made on first use: without `checkAPI`, so building it costs no request.
  let jsm: Promise<JetStreamManager> | undefined;
  app.get(
    "/v1/admin/streams",
    {
      preHandler: app.requireAuth,
      schema: {
        tags: ["admin"],
        security: [{ bearer: [] }],
        summary: "Stream state (messages, bytes, first and last seq, replicas, leader) and each durable consumer's lag",
        response: { 200: StreamsView, ...errors(401, 403, 503) },
      },
    },
    async (req) =>
      run(req, "read-streams", "jetstream", async () => {
        jsm ??= jetstreamManager(ctx.nc, { checkAPI: false });
        try {
          return await readJetStreamState(await jsm);
        } catch (err) {
          // NATS away, a stream without a leader (an election): the state cannot be read now.
          throw new NatterError("unavailable", "JetStream did not answer; retry", { cause: err });
        }
      }),
  );
}
