import { AttachmentBucket, ChatLog, EdgeStreams, JsPublisher } from "@natter/bus";
import { type Config, type Logger, tokenKeyring } from "@natter/config";
import type { Store } from "@natter/store";
import { waitFor } from "@natter/runtime";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Registry } from "prom-client";
import { buildApp } from "./app.ts";
import { Authenticator } from "./auth/authenticate.ts";
import { LoginGuard } from "./auth/login-guard.ts";
import { Sessions } from "./auth/sessions.ts";
import { TokenSigner, unknownKeyWarner } from "./auth/tokens.ts";
import { ChatAccess } from "./chat/access.ts";
import { Attachments } from "./chat/attachments.ts";
import { MessageDeletes } from "./chat/deletes.ts";
import { MessageEdits } from "./chat/edits.ts";
import { MessageReactions } from "./chat/reactions.ts";
import { HistoryLag } from "./chat/history-lag.ts";
import { Sequencer } from "./chat/sequencer.ts";
import { MembersCache } from "./chat/members-cache.ts";
import { ChatService } from "./chat/service.ts";
import { Signals } from "./chat/signals.ts";
import type { GatewayContext } from "./context.ts";
import { EdgeResponder } from "./edge/edge-responder.ts";
import { HomeCalls } from "./edge/home-calls.ts";
import { createGatewayMetrics } from "./metrics.ts";
import { Contacts } from "./presence/contacts.ts";
import { Presence } from "./presence/presence.ts";
import { RateLimiter } from "./rate-limit.ts";
import type { App } from "./server-types.ts";
import { type WsOptions, wsOptions } from "./ws/options.ts";
import { Realtime } from "./ws/realtime.ts";

export interface Gateway {
  app: App;
  ctx: GatewayContext;
  routes: { method: string; url: string }[];
  realtime: Realtime;
  /**
   * Stops accepting, closes every socket with 1001, drains the inbox subscriptions, settles
   * presence (the users' offline changes, then this gateway's lease) and finishes in-flight requests. NATS and the store belong to the caller (it drains NATS after).
   */
  close(): Promise<void>;
}

/** Wires a gateway over an open NATS connection and a migrated store; `server.ts` listens. */
export async function createGateway(opts: {
  config: Config;
  logger: Logger;
  store: Store;
  nc: NatsConnection;
  registry?: Registry;
  /** WebSocket limits and timers; defaults in `ws/options.ts`. */
  ws?: Partial<WsOptions>;
}): Promise<Gateway> {
  const { config, logger, store, nc } = opts;
  // Validated at start-up for a gateway process (`loadConfig(…, "gateway")`); an embedder
  // that built its config for another kind learns it here, before anything starts.
  const { keyring, problems } = tokenKeyring(config);
  if (!keyring)
    throw new Error(
      problems.length ? problems.join("; ") : "NATTER_TOKEN_SECRET or NATTER_TOKEN_KEYS is required by a gateway",
    );
  const metrics = createGatewayMetrics(opts.registry);
  const jsm = await jetstreamManager(nc);
  const sequencer = new Sequencer({
    publisher: new JsPublisher(nc),
    jsm,
    store,
    metrics,
    logger: logger.child({ component: "sequencer" }),
    maxBatch: config.sendBatch,
    ...(config.site === undefined ? {} : { site: config.site }),
  });
  const sendLimiter = new RateLimiter({ burst: config.sendBurst, perSecond: config.sendRate });
  const chatLog = new ChatLog(jsm, store, config.site);
  const edge =
    config.site === undefined
      ? undefined
      : new HomeCalls({ nc, site: config.site, logger: logger.child({ component: "edge" }) });
  const access = new ChatAccess({ store, chatLog });
  // The attachments bucket, created at start-up like the chat stream (replicated as it is);
  // on a fresh cluster its replicas may take a moment to be placed.
  await waitFor("the attachments bucket", logger, () =>
    AttachmentBucket.ensure(jsm, { replicas: config.streamReplicas }, logger),
  );
  const attachmentBucket = new AttachmentBucket(jetstream(nc), jsm);
  const attachments = new Attachments({
    bucket: attachmentBucket,
    access,
    maxBytes: config.attachmentMaxBytes,
    logger: logger.child({ component: "attachments" }),
  });
  const members = new MembersCache({ store });
  const signals = new Signals({
    nc,
    chatLog,
    store,
    access,
    members,
    metrics,
    logger: logger.child({ component: "signals" }),
    typingIntervalMs: config.typingInterval,
  });
  const contacts = new Contacts({ store, nc });
  const historyLag = new HistoryLag({
    jsm,
    maxLag: config.historyMaxLag,
    logger: logger.child({ component: "history-lag" }),
  });
  const chats = new ChatService({
    store,
    chatLog,
    historyLag,
    access,
    signals,
    members,
    contacts,
    sequencer,
    config,
    sendLimiter,
    logger,
    ...(edge ? { edge } : {}),
    metrics,
    attachments,
  });
  const deletes = new MessageDeletes({
    ...(edge ? { edge } : {}),
    store,
    chatLog,
    access,
    sequencer,
    historyLag,
    logger: logger.child({ component: "deletes" }),
  });
  const edits = new MessageEdits({
    ...(edge ? { edge } : {}),
    store,
    chatLog,
    access,
    sequencer,
    bodyLimit: config.bodyLimit,
    limiter: sendLimiter,
    historyLag,
    logger: logger.child({ component: "edits" }),
  });
  const reactions = new MessageReactions({
    ...(edge ? { edge } : {}),
    store,
    chatLog,
    access,
    sequencer,
    limiter: sendLimiter,
    logger: logger.child({ component: "reactions" }),
  });
  // This domain's copy of the chats homed elsewhere, set up in the background (the other
  // side may not answer yet: a site started during an outage).
  const edgeStreams =
    config.site === undefined
      ? undefined
      : new EdgeStreams(
          nc,
          {
            site: config.site,
            sites: config.edgeSites ?? [],
            replicas: config.streamReplicas,
            maxAgeMs: config.streamMaxAge,
          },
          logger.child({ component: "edge-streams" }),
        );
  const edgeResponder =
    config.site === undefined
      ? undefined
      : new EdgeResponder({
          nc,
          site: config.site,
          chats,
          edits,
          reactions,
          deletes,
          store,
          logger: logger.child({ component: "edge" }),
        });
  const presence = new Presence({
    nc,
    js: jetstream(nc),
    jsm,
    metrics,
    logger: logger.child({ component: "presence" }),
    options: {
      gatewayId: config.gatewayId,
      ttlMs: config.presenceTtl,
      onlineDelayMs: config.presenceOnlineDelay,
      replicas: config.streamReplicas,
    },
  });
  await presence.start();
  const authLogger = logger.child({ component: "auth" });
  authLogger.info({ keys: [...keyring.keys.keys()], signingKey: keyring.signingKey }, "token keys");
  const signer = new TokenSigner({
    keys: keyring.keys,
    signingKey: keyring.signingKey,
    onUnknownKey: unknownKeyWarner((fields, msg) => authLogger.warn(fields, msg)),
  });
  const ctx: GatewayContext = {
    config,
    logger,
    store,
    nc,
    chatLog,
    access,
    metrics,
    signer,
    authenticator: new Authenticator(signer, store),
    sessions: new Sessions({ store, nc, logger: logger.child({ component: "sessions" }) }),
    chats,
    ...(edge ? { edge } : {}),
    deletes,
    edits,
    attachments,
    attachmentBucket,
    reactions,
    signals,
    presence,
    contacts,
    loginGuard: new LoginGuard({ burst: config.loginBurst, perMinute: config.loginRatePerMin }),
    signupLimiter: new RateLimiter({ burst: config.loginBurst * 20, perSecond: (config.loginRatePerMin * 20) / 60 }),
    lookupLimiter: new RateLimiter({ burst: config.lookupBurst, perSecond: config.lookupRatePerMin / 60 }),
  };
  const realtime = new Realtime({
    ctx,
    options: wsOptions({
      frameBurst: config.wsFrameBurst,
      framesPerSecond: config.wsFrameRate,
      heartbeatMs: config.wsHeartbeat,
      authTimeoutMs: config.wsAuthTimeout,
      maxBufferedBytes: config.wsMaxBuffered,
      ...opts.ws,
    }),
  });
  const { app, routes } = await buildApp(ctx, realtime);
  return {
    app,
    ctx,
    routes,
    realtime,
    async close() {
      historyLag.stop();
      edgeStreams?.stop();
      await edgeResponder?.close();
      await realtime.close();
      await presence.close();
      await app.close();
    },
  };
}
