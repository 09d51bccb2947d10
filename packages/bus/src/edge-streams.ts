import type { Logger } from "@natter/config";
import { HUB_SITE } from "@natter/protocol";
import { CHAT_STREAM, copyStreamAt, hubCopyStreamConfig, sitesCopyStreamConfig } from "@natter/subjects";
import { type JetStreamManager, jetstreamManager, type StreamConfig } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

export interface EdgeStreamOptions {
  /** This domain: `hub`, or an edge site's name. */
  site: string;
  /** At the hub: the sites whose chats it copies. */
  sites: readonly string[];
  replicas: number;
  maxAgeMs: number;
  /** How often to look again for an upstream that did not answer (ms). Default 1 s. */
  retryMs?: number;
}

function isNotFound(err: unknown): boolean {
  return (err as { name?: string }).name === "StreamNotFoundError" || /stream not found/i.test(String(err));
}

/**
 * Keeps this domain's copy of the chats homed elsewhere (ARCHITECTURE.md "Edge sites"): at a
 * site `CHATS_HUB`, a mirror of the hub's `CHATS`; at the hub `CHATS_EDGE`, sourcing every
 * site's `CHATS`. Once set up, a mirror or source resumes by itself after any outage, a
 * restart of either server included. Only its first start needs care: one created before its
 * upstream stream exists (or answers over the leaf link) backs off for tens of seconds, so an
 * upstream is added only once its `CHATS` answers through its domain's API, looked for again
 * every second until every one is in (a site started during an outage, a site that joins
 * later). Runs in the background of a gateway; `stop()` ends the looking.
 */
export class EdgeStreams {
  readonly #nc: NatsConnection;
  readonly #opts: EdgeStreamOptions;
  readonly #log: Logger;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  /** Resolves once every upstream is in the copy stream. */
  readonly ready: Promise<void>;

  constructor(nc: NatsConnection, opts: EdgeStreamOptions, logger: Logger) {
    this.#nc = nc;
    this.#opts = opts;
    this.#log = logger;
    this.ready = this.#run();
    this.ready.catch((err: unknown) => this.#log.error({ err: String(err) }, "edge copy stream not kept"));
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** The upstream domains: the hub at a site, the configured sites at the hub. */
  #upstreams(): string[] {
    return this.#opts.site === HUB_SITE ? [...this.#opts.sites] : [HUB_SITE];
  }

  async #answers(domain: string): Promise<boolean> {
    try {
      const remote = await jetstreamManager(this.#nc, { domain, checkAPI: false, timeout: 2000 });
      await remote.streams.info(CHAT_STREAM);
      return true;
    } catch {
      return false;
    }
  }

  async #run(): Promise<void> {
    const jsm = await jetstreamManager(this.#nc);
    const name = copyStreamAt(this.#opts.site);
    const wanted = this.#upstreams();
    let logged = false;
    while (!this.#stopped) {
      const have = await this.#current(jsm, name);
      const missing = wanted.filter((d) => !have.includes(d));
      if (missing.length === 0) return;
      const answering = (
        await Promise.all(missing.map(async (d) => ((await this.#answers(d)) ? d : undefined)))
      ).filter((d): d is string => d !== undefined);
      if (answering.length > 0) {
        await this.#apply(jsm, name, [...have, ...answering], have.length > 0 || (await this.#exists(jsm, name)));
        logged = false;
        continue;
      }
      if (!logged)
        this.#log.info({ stream: name, waitingFor: missing }, "edge copy: waiting for upstream chat streams");
      logged = true;
      await new Promise<void>((r) => (this.#timer = setTimeout(r, this.#opts.retryMs ?? 1000)));
    }
  }

  async #exists(jsm: JetStreamManager, name: string): Promise<boolean> {
    try {
      await jsm.streams.info(name);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** The upstream domains the copy stream already has (none when it does not exist). */
  async #current(jsm: JetStreamManager, name: string): Promise<string[]> {
    let config: StreamConfig;
    try {
      config = (await jsm.streams.info(name)).config;
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
    const apis = [config.mirror, ...(config.sources ?? [])].map((s) => s?.external?.api);
    return this.#upstreams().filter((d) => apis.includes(`$JS.${d}.API`));
  }

  async #apply(jsm: JetStreamManager, name: string, domains: string[], exists: boolean): Promise<void> {
    const copy = { replicas: this.#opts.replicas, maxAgeMs: this.#opts.maxAgeMs };
    const want = (this.#opts.site === HUB_SITE
      ? sitesCopyStreamConfig(domains, copy)
      : hubCopyStreamConfig(copy)) as unknown as StreamConfig;
    if (exists) {
      const current = (await jsm.streams.info(name)).config;
      await jsm.streams.update(name, { ...current, sources: want.sources });
    } else {
      await jsm.streams.add(want);
    }
    this.#log.info({ stream: name, upstreams: domains }, "edge copy stream set up");
  }
}
