import type { Config, Logger } from "@natter/config";
import type { Store } from "@natter/store";
import type { AttachmentBucket, ChatLog } from "@natter/bus";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Authenticator } from "./auth/authenticate.ts";
import type { LoginGuard } from "./auth/login-guard.ts";
import type { Sessions } from "./auth/sessions.ts";
import type { ChatAccess } from "./chat/access.ts";
import type { Attachments } from "./chat/attachments.ts";
import type { MessageDeletes } from "./chat/deletes.ts";
import type { MessageEdits } from "./chat/edits.ts";
import type { MessageReactions } from "./chat/reactions.ts";
import type { TokenSigner } from "./auth/tokens.ts";
import type { ChatService } from "./chat/service.ts";
import type { HomeCalls } from "./edge/home-calls.ts";
import type { Signals } from "./chat/signals.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { Contacts } from "./presence/contacts.ts";
import type { Presence } from "./presence/presence.ts";
import type { RateLimiter } from "./rate-limit.ts";

/** Everything a route needs, built once by `createGateway`. */
export interface GatewayContext {
  config: Config;
  logger: Logger;
  store: Store;
  nc: NatsConnection;
  /** The chat log over the stream and the store: every read of heads, ranges and history pages. */
  chatLog: ChatLog;
  signer: TokenSigner;
  chats: ChatService;
  /** Edge sites only (`NATTER_SITE` set): forwarding to other domains' gateways. */
  edge?: HomeCalls;
  /** Deletes for everyone: by members (author, group admin) and by operators. */
  deletes: MessageDeletes;
  /** Attachments: uploads into a chat, who reads them, a send taking them. */
  attachments: Attachments;
  /** The attachments' object store bucket (downloads stream from it). */
  attachmentBucket: AttachmentBucket;
  /** Edits by their author (`message.edited`). */
  edits: MessageEdits;
  /** Reactions, idempotent per (user, message, emoji). */
  reactions: MessageReactions;
  metrics: GatewayMetrics;
  /** Typing signals and receipts (core NATS to members' `user.<userId>.signal`). */
  signals: Signals;
  /** Presence in the PRESENCE bucket, changes on `presence.<userId>`. */
  presence: Presence;
  /** Who may see whose presence (users sharing a chat). */
  contacts: Contacts;
  /** Checks bearer tokens against the store's device sessions (stale-if-error). */
  authenticator: Authenticator;
  /** Who may read, send and speak in a chat (membership, requests, blocks). */
  access: ChatAccess;
  /** Ends device sessions everywhere at once (store, then the user's session subject). */
  sessions: Sessions;
  /** Failed logins per handle and address, per address, and per handle (`LoginGuard`). */
  loginGuard: LoginGuard;
  /** Signups per client address: 20x the login budget, since many users may share an address (NAT). */
  signupLimiter: RateLimiter;
  /** Handle look-ups per user (`GET /v1/users?handle=`), so handles cannot be enumerated fast. */
  lookupLimiter: RateLimiter;
}

export interface AuthInfo {
  userId: string;
  deviceId: string;
  /** When the device session (and its token) expires, ms since the epoch. */
  expiresAt: number;
}
