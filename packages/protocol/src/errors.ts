/**
 * Stable error codes of the v1 contract. HTTP bodies and WebSocket `error` frames carry
 * `{ code, message, field? }`; clients branch on `code`, never on `message`.
 */
export const ERROR_STATUS = {
  invalid_input: 400,
  invalid_json: 400,
  unauthorized: 401,
  bad_credentials: 401,
  forbidden: 403,
  /** Login (with the right password) to an account an operator disabled (`POST /v1/admin/users/:userId/disable`). */
  account_disabled: 403,
  not_found: 404,
  /** The path exists but not with this method; the answer's `Allow` header lists the methods it has. */
  method_not_allowed: 405,
  /** The client did not send the whole request in time (Node's request timeout). */
  request_timeout: 408,
  handle_taken: 409,
  conflict: 409,
  /** The sole admin of a group that has other members may not leave (nobody could manage it). */
  last_admin: 409,
  too_large: 413,
  /** A request body in a media type the route does not read (send `application/json`). */
  unsupported_media_type: 415,
  /** A byte range that starts beyond the end of an attachment (the answer's `Content-Range` says its size). */
  range_not_satisfiable: 416,
  member_limit: 422,
  rate_limited: 429,
  /** The request's headers are over the server's limit (answered before any route runs). */
  headers_too_large: 431,
  internal: 500,
  /** A frame or feature this gateway does not implement yet (e.g. `typing`, `watch`). */
  unsupported: 501,
  unavailable: 503,
  /**
   * The chat is homed at another site (edge deployments) and that site cannot be reached
   * now (its leaf link is down): retry with the same id; the SDK resends until `sent`.
   */
  home_unreachable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  field?: string;
  retryAfterMs?: number;
}

/** An error with a stable code; the gateway turns it into an HTTP status or an `error` frame. */
export class NatterError extends Error {
  override name = "NatterError";
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, opts: { field?: string; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.field = opts.field;
    this.retryAfterMs = opts.retryAfterMs;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toBody(): ErrorBody {
    return {
      code: this.code,
      message: this.message,
      ...(this.field === undefined ? {} : { field: this.field }),
      ...(this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs }),
    };
  }
}

export function isNatterError(err: unknown): err is NatterError {
  return err instanceof NatterError;
}

/**
 * A dependency (the store, NATS) did not answer: what the fallbacks that keep sends and
 * reads going through an outage catch, and nothing else, so a bug is never served around.
 */
export function isUnavailable(err: unknown): err is NatterError {
  return err instanceof NatterError && err.code === "unavailable";
}
