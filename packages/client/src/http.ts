/**
 * The HTTP half of the SDK: accounts, chats, history, receipts, presence over `/v1`
 * with the standard `fetch`. Every 4xx/5xx becomes a `NatterError` with the server's
 * stable `code` (and `status`); a server that cannot be reached becomes
 * `NatterError("unavailable")` with the network error as `cause`, after every server
 * in the list was tried once.
 */
import { type ChatEvent, type ErrorCode, NatterError } from "@natter/protocol";

import type { ChatCreated, ChatSummary, ChatView } from "@natter/protocol";

export type { ChatCreated, ChatSummary, ChatView };

export interface Session {
  userId: string;
  deviceId: string;
  token: string;
  expiresAt: number;
}
export interface User {
  userId: string;
  handle: string;
  displayName: string;
}
export interface Page {
  events: ChatEvent[];
  hasMore: boolean;
}
export interface SentMessage {
  chat: string;
  id: string;
  seq: number;
  n: number;
  ts: number;
}
/** The `message.deleted` event a delete appended (or, on a repeat, had appended). */
export interface DeletedMessage {
  chat: string;
  seq: number;
  n: number;
  ts: number;
}
export interface Receipts {
  members: { userId: string; deliveredN: number; readN: number }[];
}
export interface Presence {
  userId: string;
  online: boolean;
  lastSeen: number;
}

/** A `NatterError` from an HTTP answer: also carries the HTTP status. */
export class HttpError extends NatterError {
  override name = "HttpError";
  readonly httpStatus: number;
  constructor(httpStatus: number, code: ErrorCode, message: string, opts: { field?: string; retryAfterMs?: number }) {
    super(code, message, opts);
    this.httpStatus = httpStatus;
  }
}

export interface HttpOptions {
  /** Base URLs of gateways (`http://host:port`); the first is tried first. */
  servers: string | string[];
  token?: string;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
  /** Per-request timeout, ms. Default 15 000. */
  timeoutMs?: number;
}

export class NatterHttp {
  readonly servers: string[];
  token: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  #current = 0;

  constructor(opts: HttpOptions) {
    const list = typeof opts.servers === "string" ? [opts.servers] : opts.servers;
    if (list.length === 0) throw new TypeError("at least one server URL");
    this.servers = list.map((s) => s.replace(/\/+$/, ""));
    this.token = opts.token;
    this.#fetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#timeoutMs = opts.timeoutMs ?? 15_000;
  }

  /** The server requests go to first (the WebSocket moves it to the gateway it is connected to). */
  get server(): string {
    return this.servers[this.#current]!;
  }
  useServer(index: number): void {
    this.#current = ((index % this.servers.length) + this.servers.length) % this.servers.length;
  }

  // ------------------------------------------------------------ accounts

  signup(handle: string, displayName: string, password: string): Promise<Session> {
    return this.request("POST", "/v1/auth/signup", { handle, displayName, password }, false);
  }
  login(handle: string, password: string, deviceName?: string): Promise<Session> {
    return this.request(
      "POST",
      "/v1/auth/login",
      { handle, password, ...(deviceName === undefined ? {} : { deviceName }) },
      false,
    );
  }
  logout(): Promise<void> {
    return this.request("POST", "/v1/auth/logout");
  }
  me(): Promise<User> {
    return this.request("GET", "/v1/me");
  }
  userByHandle(handle: string): Promise<User> {
    return this.request("GET", `/v1/users?handle=${encodeURIComponent(handle)}`);
  }
  user(userId: string): Promise<User> {
    return this.request("GET", `/v1/users/${encodeURIComponent(userId)}`);
  }

  // ------------------------------------------------------------ chats

  createDirect(userId: string): Promise<ChatCreated> {
    return this.request("POST", "/v1/chats", { kind: "direct", userId });
  }
  createGroup(title: string, members: string[]): Promise<ChatCreated> {
    return this.request("POST", "/v1/chats", { kind: "group", title, members });
  }
  /** My chats; `requests: "only"` just my unanswered message requests, `"exclude"` all but those. */
  chats(
    opts: { limit?: number; cursor?: string; requests?: "only" | "exclude" } = {},
  ): Promise<{ chats: ChatSummary[]; next?: string }> {
    return this.request("GET", `/v1/chats${query(opts)}`);
  }
  chat(chatId: string): Promise<ChatView> {
    return this.request("GET", `/v1/chats/${enc(chatId)}`);
  }
  addMember(chatId: string, userId: string): Promise<{ n: number }> {
    return this.request("POST", `/v1/chats/${enc(chatId)}/members`, { userId });
  }
  removeMember(chatId: string, userId: string): Promise<{ n: number }> {
    return this.request("DELETE", `/v1/chats/${enc(chatId)}/members/${enc(userId)}`);
  }
  /** Accepts a message request (replying does too): the chat's members see my presence, typing and receipts. */
  acceptChat(chatId: string): Promise<void> {
    return this.request("POST", `/v1/chats/${enc(chatId)}/accept`);
  }
  /** Declines a message request: a group is left; a direct chat leaves my list and refuses the requester's sends. */
  declineChat(chatId: string): Promise<void> {
    return this.request("POST", `/v1/chats/${enc(chatId)}/decline`);
  }
  /** Blocks a user: their sends to me are refused, their requests leave my list, presence stops both ways. */
  block(userId: string): Promise<void> {
    return this.request("POST", `/v1/users/${enc(userId)}/block`);
  }
  unblock(userId: string): Promise<void> {
    return this.request("DELETE", `/v1/users/${enc(userId)}/block`);
  }
  /** The users I block, newest first. */
  async blocks(): Promise<(User & { at: number })[]> {
    return (await this.request<{ users: (User & { at: number })[] }>("GET", "/v1/blocks")).users;
  }

  // ------------------------------------------------------------ messages

  /** A page of events ascending by n: `after` pages forward, `before` backward, neither the newest. */
  messages(chatId: string, opts: { before?: number; after?: number; limit?: number } = {}): Promise<Page> {
    return this.request("GET", `/v1/chats/${enc(chatId)}/messages${query(opts)}`);
  }
  /** Sends over HTTP; a retry with the same `id` returns the same `seq` and `n`. */
  sendMessage(chatId: string, id: string, body: string): Promise<SentMessage> {
    return this.request("POST", `/v1/chats/${enc(chatId)}/messages`, { id, body });
  }
  /**
   * Deletes message `n` for everyone (its author, or a group admin): the `message.deleted`
   * event's `{chat, seq, n, ts}`; a repeat answers the same. `invalid_input` when it is no
   * message or someone else deleted it; `forbidden` when not mine and I am no group admin.
   */
  deleteMessage(chatId: string, n: number): Promise<DeletedMessage> {
    return this.request("DELETE", `/v1/chats/${enc(chatId)}/messages/${n}`);
  }
  receipts(chatId: string): Promise<Receipts> {
    return this.request("GET", `/v1/chats/${enc(chatId)}/receipts`);
  }
  async presence(users: string[]): Promise<Presence[]> {
    const r = await this.request<{ presence: Presence[] }>(
      "GET",
      `/v1/presence?users=${users.map(encodeURIComponent).join(",")}`,
    );
    return r.presence;
  }

  // ------------------------------------------------------------ plumbing

  /**
   * One request. A network failure (or timeout) moves on to the next server and tries
   * each once; requests here are safe to repeat (reads, or idempotent by `id`).
   */
  async request<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    const headers: Record<string, string> = {};
    if (auth) {
      if (!this.token) throw new NatterError("unauthorized", "not logged in: no token");
      headers.authorization = `Bearer ${this.token}`;
    }
    if (body !== undefined) headers["content-type"] = "application/json";
    let lastErr: unknown;
    for (let tries = 0; tries < this.servers.length; tries++) {
      const base = this.server;
      let res: Response;
      try {
        res = await this.#fetch(base + path, {
          method,
          headers,
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
      } catch (err) {
        lastErr = err;
        this.useServer(this.#current + 1);
        continue;
      }
      const text = await res.text();
      let data: unknown;
      try {
        data = text ? JSON.parse(text) : undefined;
      } catch {
        data = undefined;
      }
      if (res.ok) return data as T;
      const e = (data ?? {}) as { code?: string; message?: string; field?: string; retryAfterMs?: number };
      throw new HttpError(
        res.status,
        (e.code ?? (res.status >= 500 ? "unavailable" : "invalid_input")) as ErrorCode,
        e.message ?? `HTTP ${res.status} ${res.statusText}`,
        {
          ...(e.field === undefined ? {} : { field: e.field }),
          ...(e.retryAfterMs === undefined ? {} : { retryAfterMs: e.retryAfterMs }),
        },
      );
    }
    const reason = lastErr instanceof Error ? lastErr.message : String(lastErr);
    throw new NatterError("unavailable", `no server answered (${this.servers.join(", ")}): ${reason}`, {
      cause: lastErr,
    });
  }
}

function enc(id: string): string {
  return encodeURIComponent(id);
}

function query(q: Record<string, string | number | undefined>): string {
  const parts = Object.entries(q)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join("&")}` : "";
}
