import { type Bucket, takeToken } from "../rate-limit.ts";

/** The limits of `ws/options.ts` that `FrameLimits` applies. */
export interface FrameLimitOptions {
  frameBurst: number;
  framesPerSecond: number;
  badFrameLimit: number;
  badFrameWindowMs: number;
  rateLimitCloseAfter: number;
}

/**
 * One socket's frame budgets: a token bucket for frames in, and per window the invalid
 * frames and the frames the bucket refused. Over a window's budget the socket closes
 * (1008 for invalid frames, 4008 for refused ones); below it each gets an `error` frame.
 */
export class FrameLimits implements Bucket {
  // The token bucket's own fields: the limits are the bucket (one object per socket, not two).
  tokens: number;
  at: number;
  #bad = 0;
  #refused = 0;
  #windowStart = Date.now();

  constructor(opts: FrameLimitOptions) {
    this.tokens = opts.frameBurst;
    this.at = Date.now();
  }

  /** Takes a frame's token: 0 when allowed, else the ms until one is available. */
  take(opts: FrameLimitOptions): number {
    this.#roll(opts);
    return takeToken(this, opts.frameBurst, opts.framesPerSecond / 1000);
  }

  /** A frame refused by the bucket: true when the window has had too many (close 4008). */
  refusedTooOften(opts: FrameLimitOptions): boolean {
    return ++this.#refused > opts.rateLimitCloseAfter;
  }

  /** An invalid frame: true when the window has had too many (close 1008). */
  badTooOften(opts: FrameLimitOptions): boolean {
    this.#roll(opts);
    return ++this.#bad > opts.badFrameLimit;
  }

  #roll(opts: FrameLimitOptions): void {
    const now = Date.now();
    if (now - this.#windowStart < opts.badFrameWindowMs) return;
    this.#windowStart = now;
    this.#bad = 0;
    this.#refused = 0;
  }
}
