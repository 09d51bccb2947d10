import { io, type Socket } from "socket.io-client";
import type { BenchClient, ClientHandlers, ClientSpec, SystemAdapter } from "./adapter.ts";

/**
 * The Socket.IO peer (bench/src/peers/socketio-server.ts): WebSocket transport only, the
 * user's chats named in the handshake (the server joins their rooms), `send` with an ack
 * carrying the chat's `n`, `event` to every socket in the room. A reopen just reconnects:
 * Socket.IO has nothing to resume from, so what was emitted meanwhile is gone.
 */
export const socketioAdapter: SystemAdapter = {
  name: "Socket.IO",
  async open(spec: ClientSpec, h: ClientHandlers): Promise<BenchClient> {
    let socket!: Socket;
    const connect = () =>
      new Promise<void>((resolve, reject) => {
        socket = io(spec.endpoint, {
          transports: ["websocket"],
          reconnection: false,
          forceNew: true,
          perMessageDeflate: false,
          auth: { userId: spec.userId, chats: spec.chats },
          ...(spec.localAddress ? { localAddress: spec.localAddress } : {}),
        } as unknown as Parameters<typeof io>[1]);
        socket.once("connect_error", reject);
        socket.on("event", (e: { chat: string; n: number; id: string }) => h.onEvent(e.chat, e.n, e.id));
        // `connect` fires once the handshake is done; the server joins the rooms in its
        // connection handler, before it reads anything from this socket.
        socket.once("connect", () => resolve());
      });
    await connect();
    return {
      send(chat, id, body) {
        socket.emit("send", { chat, id, body }, (r: { n?: number; error?: string }) => {
          if (r.n !== undefined) h.onAck(chat, id, r.n);
          else h.onError(chat, id, r.error ?? "error");
        });
      },
      close() {
        socket.off("event");
        socket.disconnect();
      },
      reopen: connect,
    };
  },
};
