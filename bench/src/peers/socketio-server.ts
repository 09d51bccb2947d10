/**
 * `node bench/src/peers/socketio-server.ts [--port 0]`: the Socket.IO peer for the load
 * generator, its own process. One room per chat, the default in-memory adapter, no
 * persistence and no authentication beyond the handshake's `auth.userId`: a client names
 * its chats in the handshake and joins their rooms. A `send` (chat, id, body, ack) gets the
 * next per-chat number `n` from an in-memory counter, is emitted to the room (the sender's
 * socket included, as Natter delivers to every member socket) and acked with `n`.
 *
 * What it does not do, and Natter does: keep anything (a client that is disconnected when
 * a message is emitted never gets it; a restart loses every counter), check membership
 * against a store, deduplicate retries. Prints `listening <port>` when ready.
 */
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const { values: a } = parseArgs({ options: { port: { type: "string", default: "0" } } });

const http = createServer();
const io = new Server(http, { transports: ["websocket"], perMessageDeflate: false, serveClient: false });
const counters = new Map<string, number>();

io.on("connection", (socket) => {
  const { userId, chats } = socket.handshake.auth as { userId?: string; chats?: string[] };
  if (typeof userId !== "string" || !Array.isArray(chats)) {
    socket.disconnect(true);
    return;
  }
  void socket.join(chats);
  socket.on(
    "send",
    (msg: { chat: string; id: string; body: string }, ack: (r: { n?: number; error?: string }) => void) => {
      if (!socket.rooms.has(msg.chat)) return ack({ error: "forbidden" });
      const n = (counters.get(msg.chat) ?? 0) + 1;
      counters.set(msg.chat, n);
      io.to(msg.chat).emit("event", { chat: msg.chat, n, id: msg.id, from: userId, body: msg.body, ts: Date.now() });
      ack({ n });
    },
  );
});

http.listen(Number(a.port), "127.0.0.1", () => {
  const addr = http.address();
  console.log(`listening ${typeof addr === "object" && addr ? addr.port : a.port}`);
});
process.on("SIGTERM", () => {
  void io.close();
  process.exit(0);
});
