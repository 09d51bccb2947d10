import { RESUME_PARAM } from "@natter/protocol";
import { WebSocket } from "ws";
import type { BenchClient, ClientHandlers, ClientSpec, SystemAdapter } from "./adapter.ts";

/**
 * Natter over its WebSocket protocol (gateway/README.md): bearer token on the upgrade; a
 * fresh socket takes live events from `ready` on; a reopen resumes at connect time
 * (`?resume=1`, then `sync` from the last `n` held per chat right after `ready`); `send`
 * answered by `sent`, `event` frames.
 */
export const natterAdapter: SystemAdapter = {
  name: "Natter",
  async open(spec: ClientSpec, h: ClientHandlers): Promise<BenchClient> {
    const last = new Map<string, number>();
    let ws!: WebSocket;
    const connect = () =>
      new Promise<void>((resolve, reject) => {
        const resume = last.size > 0;
        ws = new WebSocket(spec.endpoint.replace(/^http/, "ws") + "/v1/ws" + (resume ? `?${RESUME_PARAM}=1` : ""), {
          headers: { authorization: `Bearer ${spec.token}` },
          perMessageDeflate: false,
          ...(spec.localAddress ? { localAddress: spec.localAddress } : {}),
        });
        ws.once("error", reject);
        ws.on("message", (data) => {
          const f = JSON.parse(String(data)) as Record<string, unknown>;
          switch (f.type) {
            case "ready":
              if (resume) ws.send(JSON.stringify({ type: "sync", cursors: Object.fromEntries(last) }));
              resolve();
              break;
            case "event": {
              const chat = f.chat as string;
              const n = f.n as number;
              last.set(chat, n);
              h.onEvent(chat, n, f.kind === "message.created" ? (f.id as string) : undefined);
              break;
            }
            case "sent":
              h.onAck(f.chat as string, f.id as string, f.n as number);
              break;
            case "error":
              if (typeof f.ref === "string") {
                const ref = f.ref;
                const i = ref.lastIndexOf("/");
                h.onError(ref.slice(0, i), ref.slice(i + 1), `${String(f.code)}: ${String(f.message)}`);
              }
              break;
          }
        });
      });
    await connect();
    return {
      send(chat, id, body) {
        ws.send(JSON.stringify({ type: "send", ref: `${chat}/${id}`, chat, id, body }));
      },
      close() {
        ws.removeAllListeners("message");
        ws.terminate();
      },
      reopen: connect,
    };
  },
};
