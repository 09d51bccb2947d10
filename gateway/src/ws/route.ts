import websocket from "@fastify/websocket";
import type { App } from "../server-types.ts";
import type { Realtime } from "./realtime.ts";

/**
 * Registers `@fastify/websocket` and `GET /v1/ws`. Must run before the HTTP routes (the
 * plugin intercepts upgrades on every route). `maxPayload` makes `ws` close a socket
 * that sends a bigger frame with 1009; compression is off (CPU and memory per socket).
 */
export async function websocketRoutes(app: App, realtime: Realtime): Promise<void> {
  await app.register(websocket, {
    options: { maxPayload: realtime.opts.maxFrameBytes, perMessageDeflate: false },
    // Errors of an established socket (an unclean disconnect, an oversize or invalid UTF-8
    // frame): `ws` has already sent the close frame (1009, 1007) or destroyed the socket;
    // terminating here could cut that close frame off. They are the client's problem.
    errorHandler: (err, _socket, req) => {
      req.log.debug({ err: String(err) }, "websocket error");
    },
  });
  app.get("/v1/ws", { websocket: true }, (socket, req) => {
    realtime.accept(socket, req.headers.authorization);
  });
}
