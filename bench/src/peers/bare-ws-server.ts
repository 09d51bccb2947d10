/**
 * `node bench/src/peers/bare-ws-server.ts`: the baseline for memory per idle connection, a
 * `ws` WebSocketServer (the library the gateway uses underneath Fastify) that accepts
 * sockets and does nothing with them (permessage-deflate off, as on the gateway). Prints
 * `listening <port>`.
 */
import { WebSocketServer } from "ws";

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false, backlog: 4096 });
wss.on("connection", (ws) => {
  ws.on("error", () => {});
});
wss.on("listening", () => {
  const addr = wss.address();
  console.log(`listening ${typeof addr === "object" && addr ? addr.port : String(addr)}`);
});
process.on("SIGTERM", () => process.exit(0));
