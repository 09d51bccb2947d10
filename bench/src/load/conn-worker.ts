/**
 * One connection-scale load process (forked by conn-scale.ts): holds up to ~19k idle
 * WebSocket clients (the per-process open-files limit), from its own loopback source
 * addresses. IPC:
 *
 *   `open` {clients}  → opens them, at most `concurrency` handshakes at once → `opened`
 *   `storm`           → drops every client at once, reconnects all → `stormed`
 *   `close`           → closes and exits
 *
 * A Natter client counts as ready when its `sync` (cursor = the last `n` it holds of its
 * one chat) is answered with `synced`; a bare-ws client when the socket is open.
 */
import { WebSocket } from "ws";

export interface ConnClient {
  url: string;
  /** Natter: bearer token and the chat to sync; absent for the bare ws server. */
  token?: string;
  chat?: string;
}

interface Held {
  spec: ConnClient;
  ws?: WebSocket;
  source: string;
}

let sources: string[] = [];
/** Addresses of the storm's reconnects: fresh, as the dropped sockets sit in TIME_WAIT on `sources`. */
let stormSources: string[] = [];
let concurrency = 200;
const held: Held[] = [];
let failures = 0;
const send = (m: unknown) => process.send!(m);

/**
 * The next source port of `address`. Each socket is bound to its source address with an
 * explicit port: with port 0 the kernel searches the address's ports for a free one on
 * every connect, and that search was most of the load processes' CPU (measured alone,
 * 8,000 connects: 0.94 s of kernel time on a fresh address, 7.8 s on one whose previous
 * 8,000 sockets were in TIME_WAIT, 0.16 s with explicit ports or with no bind at all).
 * Every attempt takes a new port, so a retry never meets its predecessor's TIME_WAIT.
 */
const nextPort = new Map<string, number>();
const FIRST_PORT = 10_000;
const LAST_PORT = 65_000;
function portOf(address: string): number {
  const port = nextPort.get(address) ?? FIRST_PORT;
  if (port > LAST_PORT) throw new Error(`out of source ports on ${address}`);
  nextPort.set(address, port + 1);
  return port;
}

function openOne(h: Held): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(h.spec.url, {
      perMessageDeflate: false,
      localAddress: h.source,
      localPort: portOf(h.source),
      handshakeTimeout: 60_000,
      ...(h.spec.token ? { headers: { authorization: `Bearer ${h.spec.token}` } } : {}),
    });
    h.ws = ws;
    ws.once("error", reject);
    ws.once("close", (code) => reject(new Error(`closed ${code}`)));
    if (!h.spec.token) {
      ws.once("open", () => resolve());
      return;
    }
    ws.on("message", (data) => {
      const text = String(data);
      if (text.includes('"type":"ready"')) ws.send(JSON.stringify({ type: "sync", cursors: { [h.spec.chat!]: 1 } }));
      else if (text.includes('"type":"synced"')) {
        ws.removeAllListeners("message");
        resolve();
      } else if (text.includes('"type":"error"')) reject(new Error(text));
    });
  });
}

/** Opens `list` with `concurrency` in flight, each retried up to 3 times. */
async function openMany(list: Held[]): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, list.length) }, async () => {
      while (next < list.length) {
        const h = list[next++]!;
        for (let attempt = 1; ; attempt++) {
          try {
            await openOne(h);
            // Keep the socket quiet but alive: `ws` answers the gateway's pings by itself.
            h.ws!.removeAllListeners("close");
            h.ws!.removeAllListeners("error");
            h.ws!.on("error", () => {});
            break;
          } catch (err) {
            h.ws?.terminate();
            if (attempt >= 3) {
              failures++;
              if (failures <= 3) console.error(`connect failed: ${(err as Error).message}`);
              break;
            }
            await new Promise((r) => setTimeout(r, 500 * attempt));
          }
        }
      }
    }),
  );
  return Math.round(performance.now() - t0);
}

process.on(
  "message",
  async (
    m:
      | { type: "init"; sources: string[]; stormSources: string[]; concurrency: number }
      | { type: "open"; clients: ConnClient[] }
      | { type: "storm" }
      | { type: "close" },
  ) => {
    if (m.type === "init") {
      sources = m.sources;
      stormSources = m.stormSources;
      concurrency = m.concurrency;
      send({ type: "inited" });
    } else if (m.type === "open") {
      const list = m.clients.map((spec, i) => ({ spec, source: sources[(held.length + i) % sources.length]! }));
      held.push(...list);
      const before = failures;
      const ms = await openMany(list);
      send({ type: "opened", ms, failed: failures - before, held: held.length });
    } else if (m.type === "storm") {
      // Everyone drops at once (a network blip, a load balancer restart), then reconnects.
      for (const h of held) {
        h.ws?.removeAllListeners();
        h.ws?.terminate();
      }
      held.forEach((h, i) => (h.source = stormSources[i % stormSources.length]!));
      const before = failures;
      const ms = await openMany(held);
      send({ type: "stormed", ms, failed: failures - before });
    } else {
      for (const h of held) {
        h.ws?.removeAllListeners();
        h.ws?.terminate();
      }
      setTimeout(() => process.exit(0), 200);
    }
  },
);
process.on("disconnect", () => process.exit(0));
