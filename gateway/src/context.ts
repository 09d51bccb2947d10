import type { Config, Logger } from "@natter/config";
import type { Store } from "@natter/store";
import type { NatsConnection } from "@nats-io/transport-node";
import type { TokenSigner } from "./auth/tokens.ts";
import type { ChatService } from "./chat/service.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { RateLimiter } from "./rate-limit.ts";

/** Everything a route needs, built once by `createGateway`. */
export interface GatewayContext {
  config: Config;
  logger: Logger;
  store: Store;
  nc: NatsConnection;
  signer: TokenSigner;
  chats: ChatService;
  metrics: GatewayMetrics;
  /** Login attempts per handle. */
  loginLimiter: RateLimiter;
  /** Logins and signups per client address: 20x the per-handle budget, since many users may share an address (NAT). */
  addressLimiter: RateLimiter;
}

export interface AuthInfo {
  userId: string;
  deviceId: string;
}
