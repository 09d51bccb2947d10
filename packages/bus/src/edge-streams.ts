import type { Logger } from "@natter/config";
import { HUB_SITE } from "@natter/protocol";
import { copyStreamAt, hubCopyStreamConfig, sitesCopyStreamConfig } from "@natter/subjects";
import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream";

export interface EdgeStreamOptions {
  /** This domain: `hub`, or an edge site's name. */
  site: string;
  /** At the hub: the sites whose chats it copies. */
  sites: readonly string[];
  replicas: number;
  maxAgeMs: number;
}

/**
 * Creates this domain's copy of the chats homed elsewhere (ARCHITECTURE.md "Edge sites"):
 * at a site `CHATS_HUB`, a mirror of the hub's `CHATS`; at the hub `CHATS_EDGE`, sourcing
 * every site's `CHATS`. Both pull over the leaf link through the other domain's JetStream API
 * and resume by themselves after an outage, so this only runs at start-up. Creating needs no
 * link: the server keeps retrying the upstream. At the hub a changed site list updates the
 * sources (a removed site's source is dropped, an added one starts from its first message).
 */
export async function ensureEdgeStreams(jsm: JetStreamManager, opts: EdgeStreamOptions, logger: Logger): Promise<void> {
  const copy = { replicas: opts.replicas, maxAgeMs: opts.maxAgeMs };
  const want = (
    opts.site === HUB_SITE ? sitesCopyStreamConfig(opts.sites, copy) : hubCopyStreamConfig(copy)
  ) as unknown as StreamConfig;
  const name = copyStreamAt(opts.site);
  let current: StreamConfig | undefined;
  try {
    current = (await jsm.streams.info(name)).config;
  } catch (err) {
    if ((err as { name?: string }).name !== "StreamNotFoundError" && !/stream not found/i.test(String(err))) throw err;
  }
  if (!current) {
    await jsm.streams.add(want);
    logger.info({ stream: name, site: opts.site }, "edge copy stream created");
    return;
  }
  if (opts.site !== HUB_SITE) return;
  const has = new Set((current.sources ?? []).map((s) => s.external?.api));
  const wanted = new Set((want.sources ?? []).map((s) => s.external?.api));
  if (has.size !== wanted.size || [...wanted].some((a) => !has.has(a))) {
    await jsm.streams.update(name, { ...current, sources: want.sources });
    logger.info({ stream: name, sites: opts.sites }, "edge copy stream sources updated");
  }
}
