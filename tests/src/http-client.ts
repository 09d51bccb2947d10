/** A tiny HTTP client for tests: JSON in, `{status, body}` out, never throws on 4xx/5xx. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response JSON in tests is checked by the assertions that read it
export interface Res<T = any> {
  status: number;
  body: T;
}

export class Api {
  readonly base: string;
  token: string | undefined;
  userId = "";
  constructor(base: string, token?: string) {
    this.base = base;
    this.token = token;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
  async call<T = any>(
    method: string,
    path: string,
    body?: unknown,
    raw?: { body: string; type?: string },
  ): Promise<Res<T>> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (raw) {
      payload = raw.body;
      headers["content-type"] = raw.type ?? "application/json";
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers["content-type"] = "application/json";
    }
    const res = await fetch(this.base + path, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  /** Signs up a new user and keeps its token. */
  async signup(handle: string): Promise<this> {
    const r = await this.call("POST", "/v1/auth/signup", { handle, displayName: handle, password: "password-123" });
    if (r.status !== 201) throw new Error(`signup ${handle}: ${r.status} ${JSON.stringify(r.body)}`);
    this.token = r.body.token;
    this.userId = r.body.userId;
    return this;
  }

  /** The same user, talking to another gateway. */
  via(base: string): Api {
    const other = new Api(base, this.token);
    other.userId = this.userId;
    return other;
  }
}

/** Polls until `check` returns a value, or throws after `ms`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false>,
  ms = 20_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}
