import { ensureChatStream } from "@natter/bus";
import type { Config, Logger } from "@natter/config";
import type { Store } from "@natter/store";
import { copyStreamAt } from "@natter/subjects";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { type Registry, register } from "prom-client";
import { createFanoutConsumer } from "./fanout.ts";
import { createHistoryConsumer } from "./history.ts";
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
  const started: ConsumerRunner<unknown>[] = [];
  for (const r of runners) {
    await r.start().catch(async (err: unknown) => {
      await Promise.all(started.map((s) => s.stop()));
      throw err;
    });
    started.push(r);
  }
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
      await Promise.all(started.map((r) => r.stop()));
    },
  };
}
