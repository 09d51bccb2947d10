import { KEYS, parseDuration } from "@natter/config";
import { MAX_FRAME_BYTES } from "@natter/protocol";

/**
 * Limits and timers of the WebSocket endpoint. Defaults are filled in one place
 * (`wsOptions`); tests shorten the timers through `createGateway({ ws })`.
 */
export interface WsOptions {
  /** Server pings every this many ms; a socket silent for two intervals is closed (4010). */
  heartbeatMs: number;
  /** Without an `Authorization` header, the `auth` frame must come within this (4002). */
  authTimeoutMs: number;
  /** Largest frame read; bigger closes with 1009. */
  maxFrameBytes: number;
  /** Bytes the socket may have queued for the client; beyond it the client is a slow consumer (4009). */
  maxBufferedBytes: number;
  /** How long a replay may wait for the client to read its queued bytes before 4009. */
  drainTimeoutMs: number;
  /** Live events held per socket while a chat replays or fills a gap; beyond it, 4009. */
  maxPendingEvents: number;
  /** Invalid frames tolerated per `badFrameWindowMs`; one more closes with 1008. */
  badFrameLimit: number;
  badFrameWindowMs: number;
  /** Frame rate per socket (token bucket): over it frames get `rate_limited` errors. */
  frameBurst: number;
  framesPerSecond: number;
  /** Frames refused by the rate limit per `badFrameWindowMs` before the socket is closed (4008). */
  rateLimitCloseAfter: number;
  /** Frames handled at once per socket (sends awaiting their PubAck); beyond it reading pauses. */
  maxInflight: number;
  /** Events per read while replaying or filling a gap. */
  replayPage: number;
}

export const WS_DEFAULTS: WsOptions = {
  // The operator's settings (NATTER_WS_HEARTBEAT, …_AUTH_TIMEOUT, …_MAX_BUFFERED) default here too.
  heartbeatMs: parseDuration(KEYS.wsHeartbeat.default)!,
  authTimeoutMs: parseDuration(KEYS.wsAuthTimeout.default)!,
  maxFrameBytes: MAX_FRAME_BYTES,
  maxBufferedBytes: Number(KEYS.wsMaxBuffered.default),
  drainTimeoutMs: 15_000,
  maxPendingEvents: 10_000,
  badFrameLimit: 20,
  badFrameWindowMs: 10_000,
  frameBurst: 500,
  framesPerSecond: 250,
  rateLimitCloseAfter: 500,
  maxInflight: 32,
  replayPage: 200,
};

export function wsOptions(overrides: Partial<WsOptions> = {}): WsOptions {
  return { ...WS_DEFAULTS, ...overrides };
}
