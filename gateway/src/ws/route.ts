import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import websocket from "@fastify/websocket";
import type { App } from "../server-types.ts";
import { RESUME_PARAM } from "@natter/protocol";
import type { Realtime } from "./realtime.ts";

/**
 * Registers `@fastify/websocket` and `GET /v1/ws`. Must run before the HTTP routes (the
 * plugin intercepts upgrades on every route). `maxPayload` makes `ws` close a socket
 * that sends a bigger frame with 1009; compression is off (CPU and memory per socket).
 */
export async function websocketRoutes(app: App, realtime: Realtime): Promise<void> {
  // Errors of an established socket (an unclean disconnect, an oversize or invalid UTF-8
  // frame): `ws` has already sent the close frame (1009, 1007) or destroyed the socket;
  // terminating here could cut that close frame off. They are the client's problem.
  const onSocketError = (err: Error) => realtime.log.debug({ err: String(err) }, "websocket error");
  await app.register(websocket, {
    options: { maxPayload: realtime.opts.maxFrameBytes, perMessageDeflate: false },
    // Errors thrown by the handler below.
    errorHandler: (err, _socket, req) => {
      req.log.debug({ err: String(err) }, "websocket error");
    },
  });
  app.get("/v1/ws", { websocket: true }, (socket, req) => {
    // Nothing of the upgrade request may outlive this call: the plugin's `error` listener
    // closes over the request and its reply, and the upgrade's ServerResponse stays the TCP
    // socket's `_httpMessage` (its `finish` listener holds the reply, the request, their
    // logger and headers): ~3.5 KiB of heap per idle socket, for the socket's whole life.
    socket.removeAllListeners("error");
    socket.on("error", onSocketError);
    const raw = req.raw.socket as Socket & { _httpMessage?: ServerResponse | null };
    raw._httpMessage?.detachSocket(raw);
    realtime.accept(socket, req.headers.authorization, resumeRequested(req.url));
  });
}

/**
 * `?resume=1` (or `true`) on the upgrade URL: the client will send `sync` with its cursors,
 * so its live events wait for that instead of starting each chat at its first live event.
 * Not a credential (the token never travels in a URL); for sockets authenticated by header,
 * which have no `auth` frame to carry the cursors.
 */
export function resumeRequested(url: string): boolean {
  const q = url.indexOf("?");
  if (q < 0) return false;
  const v = new URLSearchParams(url.slice(q + 1)).get(RESUME_PARAM);
  return v === "1" || v === "true";
}
