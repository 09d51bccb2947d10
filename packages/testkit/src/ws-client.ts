import { type ClientFrame, type EventFrame, RESUME_PARAM, type ServerFrame } from "@natter/protocol";
import WebSocket from "ws";

/**
 * A small WebSocket client for tests: connects to `/v1/ws`, keeps every frame it receives,
 * checks the per-chat `n` order of events as they arrive (a duplicate or a gap is recorded
 * in `violations`), and awaits conditions. `held` is what the device holds per chat (the
 * last n in order), so a reconnect can `sync` from it and the order check carries over.
 */
export class WsClient {
  readonly ws: WebSocket;
  readonly name: string;
  readonly frames: ServerFrame[] = [];
  readonly events: EventFrame[] = [];
  /** Per event (same index as `events`): arrival time minus the event's `ts`, in ms (send→deliver on one machine). */
  readonly latencies: number[] = [];
  /** The last n held per chat: the `sync` cursors of the next connection. */
  readonly held: Map<string, number>;
  /** Order problems seen, as text: "c1: 7 after 7" (duplicate) or "c1: 9 after 7" (gap). */
  readonly violations: string[] = [];
  /** Resolves with the close code and reason once the socket is closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
  closeCode: number | undefined;
  #waiters = new Set<() => void>();

  private constructor(ws: WebSocket, name: string, held: Map<string, number>) {
    this.ws = ws;
    this.name = name;
    this.held = held;
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.closeCode = code;
        resolve({ code, reason: reason.toString() });
        this.#wake();
      });
    });
    ws.on("error", () => {
      // A refused or cut connection shows as a close; the test asserts on that.
    });
    ws.on("message", (data) => {
      const frame = JSON.parse(String(data)) as ServerFrame;
      this.frames.push(frame);
      if (frame.type === "event") this.#onEvent(frame);
      this.#wake();
    });
  }

  /**
   * Opens a socket to `<base>/v1/ws` (base is the gateway's http:// URL). With `token`,
   * authenticates by header (default) or by a first `auth` frame (`auth: "frame"`).
   * Resolves once the socket is open (not yet `ready`).
   */
  static async open(
    base: string,
    opts: {
      token?: string;
      auth?: "header" | "frame";
      name?: string;
      held?: Map<string, number>;
      headers?: Record<string, string>;
      path?: string;
      /** False: do not answer the server's pings (a dead client, for heartbeat tests). */
      autoPong?: boolean;
      /**
       * Resume at connect time: by header, `?resume=1` (live events wait for the first
       * `sync`); by frame, the held cursors in the `auth` frame.
       */
      resume?: boolean;
    } = {},
  ): Promise<WsClient> {
    const path = opts.path ?? "/v1/ws";
    const resumeByUrl = opts.resume === true && opts.auth !== "frame";
    const url =
      base.replace(/^http/, "ws") + path + (resumeByUrl ? `${path.includes("?") ? "&" : "?"}${RESUME_PARAM}=1` : "");
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token && opts.auth !== "frame") headers.authorization = `Bearer ${opts.token}`;
    const ws = new WebSocket(url, { headers, maxPayload: 16 * 1024 * 1024, autoPong: opts.autoPong ?? true });
    const client = new WsClient(ws, opts.name ?? "client", opts.held ?? new Map());
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
    });
    if (opts.token && opts.auth === "frame") {
      const cursors = opts.resume ? { cursors: Object.fromEntries(client.held) } : {};
      client.send({ type: "auth", token: opts.token, ...cursors });
    }
    return client;
  }

  /**
   * Opens resuming from the cursors held (connect-time resume: replay, then live, with no
   * gap or duplicate at the seam), waits for `ready` and for the `synced` (or error) of
   * every held chat.
   */
  static async connect(
    base: string,
    token: string,
    opts: { name?: string; held?: Map<string, number>; auth?: "header" | "frame"; syncMs?: number } = {},
  ): Promise<WsClient> {
    const c = await WsClient.open(base, { token, ...opts, resume: true });
    await c.waitFor((f) => f.type === "ready", 10_000, "ready");
    if (opts.auth !== "frame") {
      await c.sync(opts.syncMs);
      return c;
    }
    // The auth frame carried the cursors: one `synced` (or error) per held chat, no ref.
    const chats = [...c.held.keys()];
    await c.until(
      () =>
        chats.every((chat) =>
          c.frames.some((f) => (f.type === "synced" || f.type === "error") && "chat" in f && f.chat === chat),
        ),
      opts.syncMs ?? 60_000,
      `${chats.length} synced frames`,
    );
    return c;
  }

  /** Sends `sync` with the held cursors and waits for a `synced` (or error) per chat. */
  async sync(ms = 60_000): Promise<void> {
    const cursors = Object.fromEntries(this.held);
    const ref = `sync-${Math.random().toString(36).slice(2)}`;
    this.send({ type: "sync", ref, cursors });
    const want = Object.keys(cursors).length;
    await this.until(
      () =>
        this.frames.filter((f) => (f.type === "synced" || f.type === "error") && "ref" in f && f.ref === ref).length >=
        want,
      ms,
      `${want} synced frames`,
    );
  }

  send(frame: ClientFrame | Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  /** The first frame (already received or still to come) matching `pred`. */
  async waitFor<T extends ServerFrame = ServerFrame>(
    pred: (f: ServerFrame) => boolean,
    ms = 10_000,
    what = "frame",
  ): Promise<T> {
    let found: ServerFrame | undefined;
    await this.until(
      () => {
        found = this.frames.find(pred);
        return found !== undefined;
      },
      ms,
      what,
    );
    return found as T;
  }

  /** Resolves when `cond()` holds; checked on every frame and on close. Throws after `ms`. */
  until(cond: () => boolean, ms = 10_000, what = "condition"): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!cond()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`${this.name}: timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      this.#waiters.add(check);
    });
  }

  /** The ns of the chat's events in the order they arrived. */
  ns(chat: string): number[] {
    return this.events.filter((e) => e.chat === chat).map((e) => e.n);
  }

  errors(): Extract<ServerFrame, { type: "error" }>[] {
    return this.frames.filter((f): f is Extract<ServerFrame, { type: "error" }> => f.type === "error");
  }

  /** Closes and waits for the close to finish. */
  async close(code = 1000): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(code);
    const t = setTimeout(() => this.ws.terminate(), 2000);
    await this.closed;
    clearTimeout(t);
  }

  #onEvent(e: EventFrame): void {
    this.events.push(e);
    this.latencies.push(Date.now() - e.ts);
    const last = this.held.get(e.chat);
    if (last !== undefined && e.n !== last + 1) {
      // A jump is fine only where the device was not a member (skipped by the gateway);
      // tests that need it check the ns themselves, so record and let them decide.
      this.violations.push(`${e.chat}: ${e.n} after ${last}`);
    }
    if (last === undefined || e.n > last) this.held.set(e.chat, e.n);
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}
