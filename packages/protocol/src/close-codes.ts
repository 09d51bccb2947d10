/**
 * WebSocket close codes: one table of what each means, the reason the gateway sends with
 * it, and whether a client reconnects. "Reconnect" means with exponential backoff and
 * full jitter, then resume (`sync`); "stop" means do not reconnect until something changes
 * (the user logs in again, the client is fixed). 1xxx codes are the standard ones (RFC
 * 6455); 4xxx are Natter's. Codes not in the table (1006: the connection dropped with no
 * close frame) mean reconnect.
 */
export interface CloseKind {
  code: number;
  /** The close frame's reason (at most 123 bytes). */
  reason: string;
  /** Whether a client reconnects after it. */
  reconnect: boolean;
}

export const CLOSES = {
  /** The client asked. Nothing to do. */
  normal: { code: 1000, reason: "", reconnect: false },
  /** The gateway is shutting down or restarting. Reconnect (any gateway), then sync. */
  goingAway: { code: 1001, reason: "gateway shutting down", reconnect: true },
  /** The client kept sending invalid frames. Stop: a client bug; reconnecting repeats it. */
  policyViolation: { code: 1008, reason: "too many invalid frames", reconnect: false },
  /** A frame over `MAX_FRAME_BYTES` (sent by `ws` itself). Reconnect, but never resend that frame. */
  tooLarge: { code: 1009, reason: "frame too large", reconnect: true },
  /** An internal error on the gateway (e.g. the log could not be read). Reconnect, then sync. */
  internalError: { code: 1011, reason: "internal error; reconnect and sync", reconnect: true },
  /** Missing, invalid, expired or revoked token. Stop: log in again for a new token. */
  unauthorized: { code: 4001, reason: "unauthorized", reconnect: false },
  /** No `auth` frame within 5 s of connecting. Reconnect and authenticate at once. */
  authTimeout: { code: 4002, reason: "no auth frame in time", reconnect: true },
  /** Far over the frame rate limit. Reconnect after a delay of at least several seconds. */
  rateLimited: { code: 4008, reason: "frame rate limit", reconnect: true },
  /** Slow consumer: the socket's send buffer filled up. Reconnect, then sync. */
  slowConsumer: { code: 4009, reason: "slow consumer; reconnect and sync", reconnect: true },
  /** Heartbeat timeout: no pong (nor any frame) for two heartbeat intervals. Reconnect, then sync. */
  idleTimeout: { code: 4010, reason: "heartbeat timeout", reconnect: true },
  /** The user already holds the most sockets a gateway allows (`NATTER_WS_MAX_PER_USER`). Stop: close another first. */
  tooManySockets: { code: 4011, reason: "too many sockets for this user", reconnect: false },
} as const satisfies Record<string, CloseKind>;

type Closes = typeof CLOSES;

/** The codes of `CLOSES` by name (`CLOSE_CODES.slowConsumer` is 4009). */
export const CLOSE_CODES = Object.fromEntries(Object.entries(CLOSES).map(([name, c]) => [name, c.code])) as {
  readonly [K in keyof Closes]: Closes[K]["code"];
};

export type CloseCode = Closes[keyof Closes]["code"];

const BY_CODE = new Map<number, CloseKind>(Object.values(CLOSES).map((c) => [c.code, c]));

/** Whether a client should reconnect after the socket closed with `code` (1006, an abnormal drop, included). */
export function shouldReconnect(code: number): boolean {
  return BY_CODE.get(code)?.reconnect ?? true;
}

/** The reason sent with a close code ("" for one not in the table). */
export function closeReason(code: number): string {
  return BY_CODE.get(code)?.reason ?? "";
}
