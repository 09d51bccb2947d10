/**
 * The HTTP half of the SDK: accounts, chats, history, receipts, presence over `/v1`
 * with the standard `fetch`. Every 4xx/5xx becomes a `NatterError` with the server's
 * stable `code` (and `status`); a server that cannot be reached becomes
 * `NatterError("unavailable")` with the network error as `cause`, after every server
 * in the list was tried once.
 */
import { type Attachment, type ChatEvent, type ErrorCode, NatterError } from "@natter/protocol";

import type { ChatCreated, ChatSummary, ChatView } from "@natter/protocol";

export type { Attachment, ChatCreated, ChatSummary, ChatView };

/** What to upload: bytes in memory, a browser `Blob`/`File`, or a stream (Node: `Readable.toWeb(fs.createReadStream(…))`). */
export type UploadData = Uint8Array | Blob | ReadableStream<Uint8Array>;

export interface UploadOptions {
  /** The file name the attachment keeps (and downloads with). */
  name: string;
  /** Its media type; default the Blob's, else `application/octet-stream`. */
  contentType?: string;
  /** Its size in bytes, for a stream (sent as `Content-Length`, and the total of `onProgress`). */
  size?: number;
  /** Bytes sent so far, and the total when known; called as the upload goes. */
  onProgress?: (sent: number, total: number | undefined) => void;
}

/** An attachment's bytes as downloaded. */
export interface Download {
  bytes: Uint8Array;
  contentType: string;
  /** 206 with `range`: which bytes these are, and the whole size. */
  range?: { start: number; end: number; size: number };
}

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
  /**
   * Sends over HTTP; a retry with the same `id` returns the same `seq` and `n`.
   * `attachments`: ids from `uploadAttachment` into the same chat (the body may then be "").
   */
  sendMessage(
    chatId: string,
    id: string,
    body: string,
    opts: { replyTo?: number; attachments?: string[] } = {},
  ): Promise<SentMessage> {
    return this.request("POST", `/v1/chats/${enc(chatId)}/messages`, {
      id,
      ...(body === "" && opts.attachments?.length ? {} : { body }),
      ...(opts.replyTo === undefined ? {} : { replyTo: opts.replyTo }),
      ...(opts.attachments?.length ? { attachments: opts.attachments } : {}),
    });
  }

  // ------------------------------------------------------------ attachments

  /**
   * Uploads a file into a chat (members only), streamed; answers its descriptor, whose
   * `attachmentId` a message then carries (`sendMessage(…, {attachments})`). Over the
   * server's limit (25 MiB by default): `too_large`. `onProgress` reports bytes sent: in a
   * browser through `XMLHttpRequest`'s upload events, elsewhere as `fetch` pulls the body.
   * Not retried on another server (a body stream can be read once).
   */
  async uploadAttachment(chatId: string, data: UploadData, opts: UploadOptions): Promise<Attachment> {
    if (!this.token) throw new NatterError("unauthorized", "not logged in: no token");
    const url = `${this.server}/v1/chats/${enc(chatId)}/attachments?name=${encodeURIComponent(opts.name)}`;
    const contentType = opts.contentType ?? (isBlob(data) && data.type ? data.type : "application/octet-stream");
    const total = data instanceof Uint8Array ? data.byteLength : isBlob(data) ? data.size : opts.size;
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, "content-type": contentType };
    if (opts.onProgress && XHR && !(data instanceof ReadableStream)) {
      return xhrUpload(url, headers, data, opts.onProgress);
    }
    let sent = 0;
    const counted = (chunk: Uint8Array) => {
      sent += chunk.byteLength;
      opts.onProgress?.(sent, total);
    };
    const body = opts.onProgress || data instanceof ReadableStream ? countingStream(data, counted) : data;
    if (total !== undefined && body instanceof ReadableStream) headers["content-length"] = String(total);
    let res: Response;
    try {
      res = await this.#fetch(url, {
        method: "POST",
        headers,
        body: body as Uint8Array | Blob | ReadableStream<Uint8Array>,
        // A streamed request body (Node's fetch and browsers' need it said).
        ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
      } as RequestInit);
    } catch (err) {
      throw new NatterError("unavailable", `upload failed: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
    return answer<Attachment>(res);
  }

  /** The URL of an attachment's bytes (read it with the `Authorization` header: `downloadAttachment`). */
  attachmentUrl(attachmentId: string): string {
    return `${this.server}/v1/attachments/${enc(attachmentId)}`;
  }

  /**
   * An attachment's response, to stream its body (`res.body`) or read its headers; members
   * of its chat only. `range` asks for bytes `start`…`end` (206).
   */
  async attachmentResponse(attachmentId: string, range?: { start: number; end?: number }): Promise<Response> {
    if (!this.token) throw new NatterError("unauthorized", "not logged in: no token");
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (range) headers.range = `bytes=${range.start}-${range.end ?? ""}`;
    let res: Response;
    try {
      res = await this.#fetch(this.attachmentUrl(attachmentId), { headers });
    } catch (err) {
      throw new NatterError("unavailable", `download failed: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
    if (!res.ok) await answer(res);
    return res;
  }

  /** An attachment's bytes, whole or `range` (members of its chat only). */
  async downloadAttachment(attachmentId: string, range?: { start: number; end?: number }): Promise<Download> {
    const res = await this.attachmentResponse(attachmentId, range);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const contentType = res.headers.get("content-type") ?? "application/octet-stream";
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get("content-range") ?? "");
    return {
      bytes,
      contentType,
      ...(res.status === 206 && m ? { range: { start: Number(m[1]), end: Number(m[2]), size: Number(m[3]) } } : {}),
    };
  }
  /**
   * Deletes message `n` for everyone (its author, or a group admin): the `message.deleted`
   * event's `{chat, seq, n, ts}`; a repeat answers the same. `invalid_input` when it is no
   * message or someone else deleted it; `forbidden` when not mine and I am no group admin.
   */
  deleteMessage(chatId: string, n: number): Promise<DeletedMessage> {
    return this.request("DELETE", `/v1/chats/${enc(chatId)}/messages/${n}`);
  }
  /**
   * Edits my message `n` (v1.1): the `message.edited` event's `{chat, id, seq, n, ts}`; a
   * retry with the same `id` answers the same. `forbidden` for someone else's message,
   * `invalid_input` for a deleted one or no message.
   */
  editMessage(chatId: string, n: number, id: string, body: string): Promise<SentMessage> {
    return this.request("PATCH", `/v1/chats/${enc(chatId)}/messages/${n}`, { id, body });
  }
  /**
   * Reacts to message `n` with `emoji` (v1.1): `{n}` of the `reaction.added` that added it
   * (the earlier one when it was there). `invalid_input` for what is not one emoji, or a bound.
   */
  react(chatId: string, n: number, emoji: string): Promise<{ n: number }> {
    return this.request("PUT", `/v1/chats/${enc(chatId)}/messages/${n}/reactions/${encodeURIComponent(emoji)}`);
  }
  /** Takes back my `emoji` on message `n`: `{n}` of the `reaction.removed` (0 when there was none). */
  unreact(chatId: string, n: number, emoji: string): Promise<{ n: number }> {
    return this.request("DELETE", `/v1/chats/${enc(chatId)}/messages/${n}/reactions/${encodeURIComponent(emoji)}`);
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

  // ------------------------------------------------------------ push (v1.1)

  /** The deployment's VAPID public key (base64url), for `pushManager.subscribe`; `unsupported` when it has no Web Push. */
  async vapidKey(): Promise<string> {
    return (await this.request<{ publicKey: string }>("GET", "/v1/push/vapid", undefined, false)).publicKey;
  }
  /**
   * Registers a browser's push subscription (`PushSubscription.toJSON()`), bound to this
   * device session: a logout ends it. The same endpoint again answers the same id.
   */
  async subscribePush(sub: { endpoint: string; keys: { p256dh: string; auth: string } }): Promise<string> {
    const body = { endpoint: sub.endpoint, keys: { p256dh: sub.keys.p256dh, auth: sub.keys.auth } };
    return (await this.request<{ subscriptionId: string }>("POST", "/v1/push/subscriptions", body)).subscriptionId;
  }
  unsubscribePush(subscriptionId: string): Promise<void> {
    return this.request("DELETE", `/v1/push/subscriptions/${enc(subscriptionId)}`);
  }
  /** Mutes a chat's pushes for me: for good (`true`), until a time (ms), or not (`false`). */
  async muteChat(chatId: string, muted: boolean | number): Promise<boolean | number> {
    return (await this.request<{ muted: boolean | number }>("PUT", `/v1/chats/${enc(chatId)}/settings`, { muted }))
      .muted;
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
      return answer<T>(res);
    }
    const reason = lastErr instanceof Error ? lastErr.message : String(lastErr);
    throw new NatterError("unavailable", `no server answered (${this.servers.join(", ")}): ${reason}`, {
      cause: lastErr,
    });
  }
}

/** A parsed answer: the JSON of a 2xx, else the `HttpError` of its `{code, message}`. */
async function answer<T>(res: Response): Promise<T> {
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

function isBlob(v: unknown): v is Blob {
  return typeof Blob !== "undefined" && v instanceof Blob;
}

/** `data` as a stream of pieces of at most 64 KiB, each told to `counted` as `fetch` pulls it. */
function countingStream(data: UploadData, counted: (chunk: Uint8Array) => void): ReadableStream<Uint8Array> {
  const source: ReadableStream<Uint8Array> =
    data instanceof ReadableStream
      ? data
      : isBlob(data)
        ? (data.stream() as ReadableStream<Uint8Array>)
        : piecesOf(data);
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const r = await reader.read();
      if (r.done) return c.close();
      counted(r.value);
      c.enqueue(r.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

function piecesOf(bytes: Uint8Array, size = 64 * 1024): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.byteLength) return c.close();
      c.enqueue(bytes.subarray(at, at + size));
      at += size;
    },
  });
}

/** The part of a browser's `XMLHttpRequest` an upload uses (the SDK builds without the DOM types). */
interface Xhr {
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null };
  onerror: (() => void) | null;
  onload: (() => void) | null;
  status: number;
  responseText: string;
  getResponseHeader(name: string): string | null;
  send(body: unknown): void;
}
const XHR = (globalThis as { XMLHttpRequest?: new () => Xhr }).XMLHttpRequest;

/** A browser upload with progress events (`fetch` has none for request bodies in every browser). */
function xhrUpload(
  url: string,
  headers: Record<string, string>,
  data: Uint8Array | Blob,
  onProgress: (sent: number, total: number | undefined) => void,
): Promise<Attachment> {
  return new Promise((resolve, reject) => {
    const xhr = new XHR!();
    xhr.open("POST", url);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : undefined);
    xhr.onerror = () => reject(new NatterError("unavailable", "upload failed: network error"));
    xhr.onload = () => {
      const res = new Response(xhr.responseText, {
        status: xhr.status,
        headers: { "content-type": xhr.getResponseHeader("content-type") ?? "application/json" },
      });
      answer<Attachment>(res).then(resolve, reject);
    };
    xhr.send(data);
  });
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
