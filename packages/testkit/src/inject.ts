// JSON requests to a Fastify app through `inject()` (no port), for the gateway's HTTP tests.
// Typed by what it calls, so testkit does not depend on Fastify.
import assert from "node:assert/strict";

/** The part of a Fastify instance these helpers use. */
export interface Injectable {
  inject(opts: {
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
    url: string;
    payload?: object;
    headers?: Record<string, string>;
  }): PromiseLike<{ statusCode: number; body: string }>;
}

export type Method = Parameters<Injectable["inject"]>[0]["method"];

/**
 * Sends `body` (when given) as JSON, with `token` as the bearer (when given); the answer's
 * body parsed (as JSON.parse gives it: a test reads whatever the route answered).
 */
export async function injectJson(app: Injectable, method: Method, url: string, body?: unknown, token?: string) {
  const res = await app.inject({
    method,
    url,
    ...(body === undefined ? {} : { payload: body as object }),
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
}

export interface SignedUp {
  userId: string;
  deviceId: string;
  token: string;
  expiresAt: number;
}

/** Signs `handle` up (201 or the test fails) and returns the session. */
export async function injectSignup(
  app: Injectable,
  handle: string,
  opts: { displayName?: string; password?: string } = {},
): Promise<SignedUp> {
  const r = await injectJson(app, "POST", "/v1/auth/signup", {
    handle,
    displayName: opts.displayName ?? handle,
    password: opts.password ?? "correct horse",
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body as SignedUp;
}
