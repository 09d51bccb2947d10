import { RESUME_PARAM } from "@natter/protocol";
import { WebSocket } from "ws";
import type { BenchClient, ClientHandlers, ClientSpec, SystemAdapter } from "./adapter.ts";

/** Error codes a resilient client retries with the same id (the outcome was not final). */
const RETRYABLE = new Set(["unavailable", "internal", "request_timeout", "rate_limited"]);
/** A send unanswered this long is sent again with the same id (an uncertain send). */
const RESEND_AFTER_MS = 8_000;

/**
 * Natter over its WebSocket protocol (gateway/README.md): bearer token on the upgrade; a
 * fresh socket takes live events from `ready` on; a reopen resumes at connect time
 * (`?resume=1`, then `sync` from the last `n` held per chat right after `ready`); `send`
 * answered by `sent`, `event` frames.
 *
 * With `spec.resilient` (the chaos run) it behaves as the SDK does under faults: a socket
 * that drops by itself reconnects (the spec's endpoint, then `spec.fallbacks`, round
 * robin, backing off) and resumes; every send not yet answered `sent` is sent again with
 * the same id after a reconnect, after a retryable error and after `RESEND_AFTER_MS`
 * without an answer, so the client learns the outcome of an uncertain send by retrying.
 * A second `sent` for one id is expected then; with a different `n` it is a G2 violation,
 * reported through `onDoubleAck`.
 */
export const natterAdapter: SystemAdapter = {
  name: "Natter",
  async open(spec: ClientSpec, h: ClientHandlers): Promise<BenchClient> {
    const last = new Map<string, number>();
    const endpoints = [spec.endpoint, ...(spec.fallbacks ?? [])];
    let at = 0;
    const pending = new Map<string, { chat: string; id: string; body: string; tried: number }>();
    const ackedN = new Map<string, number>();
    let ws!: WebSocket;
    let ready = false;
    let closedByUs = false;
    let sweep: NodeJS.Timeout | undefined;
    // A resend says so, as the SDK's do (docs/protocol.md, "Resends").
    const frame = (p: { chat: string; id: string; body: string }, retry = false) =>
      JSON.stringify({
        type: "send",
        ref: `${p.chat}/${p.id}`,
        chat: p.chat,
        id: p.id,
        body: p.body,
        ...(retry ? { retry: true } : {}),
      });
    const resend = (ref: string) => {
      const p = pending.get(ref);
      if (!p || !ready) return;
      p.tried = Date.now();
      ws.send(frame(p, true));
    };
    const connect = (endpoint = spec.endpoint) =>
      new Promise<void>((resolve, reject) => {
        const resume = last.size > 0;
        ready = false;
        const sock = new WebSocket(endpoint.replace(/^http/, "ws") + "/v1/ws" + (resume ? `?${RESUME_PARAM}=1` : ""), {
          headers: { authorization: `Bearer ${spec.token}` },
          perMessageDeflate: false,
          ...(spec.localAddress ? { localAddress: spec.localAddress } : {}),
        });
        ws = sock;
        sock.once("error", reject);
        sock.once("close", () => {
          reject(new Error("closed before ready"));
          if (ws === sock) ready = false;
          if (spec.resilient && !closedByUs && ws === sock) void reconnect();
        });
        sock.on("message", (data) => {
          const f = JSON.parse(String(data)) as Record<string, unknown>;
          switch (f.type) {
            case "ready":
              if (resume) sock.send(JSON.stringify({ type: "sync", cursors: Object.fromEntries(last) }));
              ready = true;
              for (const ref of pending.keys()) resend(ref);
              resolve();
              break;
            case "event": {
              const chat = f.chat as string;
              const n = f.n as number;
              last.set(chat, n);
              h.onEvent(chat, n, f.kind === "message.created" ? (f.id as string) : undefined);
              break;
            }
            case "sent": {
              const chat = f.chat as string;
              const id = f.id as string;
              const ref = `${chat}/${id}`;
              const n = f.n as number;
              if (!spec.resilient) {
                h.onAck(chat, id, n);
                break;
              }
              const before = ackedN.get(ref);
              if (before !== undefined) {
                if (before !== n) h.onDoubleAck?.(chat, id, before, n);
                break;
              }
              ackedN.set(ref, n);
              pending.delete(ref);
              h.onAck(chat, id, n);
              break;
            }
            case "error":
              if (typeof f.ref === "string") {
                const ref = f.ref;
                const i = ref.lastIndexOf("/");
                if (spec.resilient && RETRYABLE.has(String(f.code)) && pending.has(ref)) {
                  h.onRetry?.(ref.slice(0, i), ref.slice(i + 1), String(f.code));
                  setTimeout(() => resend(ref), 300);
                  break;
                }
                pending.delete(ref);
                h.onError(ref.slice(0, i), ref.slice(i + 1), `${String(f.code)}: ${String(f.message)}`);
              }
              break;
          }
        });
      });
    let reconnecting = false;
    const reconnect = async () => {
      if (reconnecting) return;
      reconnecting = true;
      try {
        for (let attempt = 0; !closedByUs; attempt++) {
          await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2_000)));
          if (closedByUs) return;
          at = (at + (attempt === 0 ? 0 : 1)) % endpoints.length;
          try {
            await connect(endpoints[at]);
            return;
          } catch {
            // the next endpoint, after a longer wait
          }
        }
      } finally {
        reconnecting = false;
      }
    };
    await connect();
    if (spec.resilient) {
      sweep = setInterval(() => {
        const now = Date.now();
        for (const [ref, p] of pending) if (now - p.tried > RESEND_AFTER_MS) resend(ref);
      }, 1_000);
      sweep.unref();
    }
    return {
      send(chat, id, body) {
        const p = { chat, id, body, tried: Date.now() };
        if (spec.resilient) pending.set(`${chat}/${id}`, p);
        if (ready || !spec.resilient) ws.send(frame(p));
      },
      close() {
        closedByUs = true;
        ready = false;
        ws.removeAllListeners("message");
        ws.terminate();
      },
      async reopen() {
        closedByUs = false;
        try {
          await connect();
        } catch {
          // its gateway is down: the resilient loop finds another
          if (spec.resilient) await reconnect();
          else throw new Error("reopen failed");
        }
      },
      stop() {
        closedByUs = true;
        clearInterval(sweep);
        ws.terminate();
      },
    };
  },
};
