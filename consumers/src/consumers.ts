import { AttachmentBucket, ensureChatStream } from "@natter/bus";
import type { Config, Logger } from "@natter/config";
import type { Store } from "@natter/store";
import { copyStreamAt } from "@natter/subjects";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { type Registry, register } from "prom-client";
import { AttachmentSweeper } from "./attachment-sweeper.ts";
import { createFanoutConsumer } from "./fanout.ts";
import { createHistoryConsumer } from "./history.ts";
import { createPushConsumer } from "./push.ts";
import { PushCursors } from "./push-cursors.ts";
import { pushAgent } from "./push-http.ts";
import { WebhookSender } from "./push-webhook.ts";
import { WebPushSender } from "./push-web.ts";
import type { ConsumerRunner } from "./runner.ts";

export interface StartConsumersOptions {
  config: Config;
  nc: NatsConnection;
  /** Migrated store; the caller owns it (and closes it after `stop()`). */
  store: Store;
  logger: Logger;
  /** Where the consumers' metrics go; prom-client's default registry when absent. */
  registry?: Registry;
}

export interface RunningConsumers {
  /** The started runners, in the order of `history`, `fanout`, those of `config.consumers`. */
  readonly runners: readonly ConsumerRunner<unknown>[];
  /** Stops every runner (each finishes its in-flight batch). Does not drain NATS or close the store. */
  stop(): Promise<void>;
}

/**
 * Wires the Natter consumers that `config.consumers` names (history, fanout; both by default)
 * onto one NATS connection and store, the way Dendrite's `syncapi.AddPublicRoutes` wires its
 * consumers. Used by `main.ts` (the
 * consumers process) and by the all-in-one `npm start` process. Ensures the chat stream
 * first (idempotent), so it does not depend on the gateway having started.
 */
export async function startConsumers(opts: StartConsumersOptions): Promise<RunningConsumers> {
  const { config, nc, store, registry = register } = opts;
  const logger = opts.logger.child({ component: "consumers" });
  await ensureChatStream(
    await jetstreamManager(nc),
    { replicas: config.streamReplicas, maxAgeMs: config.streamMaxAge, duplicateWindowMs: config.dedupWindow },
    logger,
  );
  const wanted = new Set(config.consumers);
  const runner = {
    heartbeatMs: config.consumerHeartbeat,
    stallMs: config.consumerStall,
    checkIntervalMs: config.consumerCheckInterval,
  };
  const runners: ConsumerRunner<unknown>[] = [];
  if (wanted.has("history")) {
    runners.push(
      createHistoryConsumer({
        nc,
        store,
        logger,
        registry,
        batchSize: config.historyBatch,
        lingerMs: config.historyLinger,
        runner,
        ...(config.site === undefined ? {} : { site: config.site }),
      }) as ConsumerRunner<unknown>,
    );
  }
  if (wanted.has("fanout"))
    runners.push(
      createFanoutConsumer({
        nc,
        store,
        logger,
        registry,
        batchSize: config.fanoutBatch,
        maxChats: config.fanoutMaxChats,
        runner,
      }) as ConsumerRunner<unknown>,
    );
  if (wanted.has("push")) runners.push((await pushConsumer(config, opts, registry, runner)) as ConsumerRunner<unknown>);
  const started: ConsumerRunner<unknown>[] = [];
  for (const r of runners) {
    await r.start().catch(async (err: unknown) => {
      await Promise.all(started.map((s) => s.stop()));
      throw err;
    });
    started.push(r);
  }
  // Unreferenced uploads are purged beside history: the same identity may purge the
  // attachments bucket, and every history replica sweeping is safe (`AttachmentSweeper`).
  const sweeper = wanted.has("history")
    ? new AttachmentSweeper({
        bucket: new AttachmentBucket(jetstream(nc), await jetstreamManager(nc)),
        ttlMs: config.attachmentUnreferencedTtl,
        intervalMs: config.attachmentSweepInterval,
        logger: logger.child({ component: "attachment-sweeper" }),
        registry,
      })
    : undefined;
  sweeper?.start();
  logger.info({ consumers: started.map((r) => r.name) }, "consumers started");
  // At an edge site (or the hub), history also writes the copy of the chats homed elsewhere,
  // so the local store holds every chat its users are in; fanout stays with the home's. The
  // copy stream appears once the other domain first answers (a gateway sets it up), so this
  // runner starts in the background and joins `runners` then.
  let stopped = false;
  const copy =
    wanted.has("history") && config.site !== undefined
      ? (async () => {
          const stream = copyStreamAt(config.site!);
          const jsm = await jetstreamManager(nc);
          while (!stopped) {
            const exists = await jsm.streams.info(stream).then(
              () => true,
              () => false,
            );
            if (exists) break;
            await new Promise((r) => setTimeout(r, 1000));
          }
          if (stopped) return;
          const r = createHistoryConsumer({
            nc,
            store,
            logger,
            registry,
            batchSize: config.historyBatch,
            lingerMs: config.historyLinger,
            runner,
            stream,
            site: config.site!,
          }) as ConsumerRunner<unknown>;
          await r.start();
          started.push(r);
          logger.info({ consumer: r.name }, "edge copy history consumer started");
        })().catch((err: unknown) => logger.error({ err: String(err) }, "edge copy history consumer failed to start"))
      : undefined;
  return {
    runners: started,
    async stop() {
      stopped = true;
      await copy;
      await Promise.all([...started.map((r) => r.stop()), sweeper?.stop()]);
    },
  };
}

/** The push consumer with the channels the configuration enables (Web Push, the webhook, or both). */
async function pushConsumer(
  config: Config,
  opts: StartConsumersOptions,
  registry: Registry,
  runner: { heartbeatMs: number; stallMs: number; checkIntervalMs: number },
) {
  if (config.pushVapidPrivateKey === undefined && config.pushWebhookUrl === undefined) {
    throw new Error(
      "NATTER_CONSUMERS names push, but neither NATTER_PUSH_VAPID_PUBLIC_KEY/_PRIVATE_KEY nor NATTER_PUSH_WEBHOOK_URL is set: it would have nowhere to push",
    );
  }
  const agent = pushAgent(config.pushCaFile);
  const logger = opts.logger.child({ consumer: "push" });
  return createPushConsumer({
    nc: opts.nc,
    cursors: await PushCursors.open(opts.nc, config.streamReplicas),
    store: opts.store,
    logger: opts.logger,
    registry,
    graceMs: config.pushGrace,
    maxAgeMs: config.pushTtl,
    preview: config.pushPreview === "on",
    runner,
    ...(config.pushVapidPrivateKey !== undefined && config.pushVapidPublicKey !== undefined
      ? {
          webPush: new WebPushSender({
            vapid: {
              publicKey: config.pushVapidPublicKey,
              privateKey: config.pushVapidPrivateKey,
              subject: config.pushVapidSubject,
            },
            agent,
            ttlMs: config.pushTtl,
            logger,
          }),
        }
      : {}),
    ...(config.pushWebhookUrl !== undefined && config.pushWebhookSecret !== undefined
      ? { webhook: new WebhookSender({ url: config.pushWebhookUrl, secret: config.pushWebhookSecret, agent, logger }) }
      : {}),
  });
}
