import { readFileSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { HUB_SITE } from "@natter/protocol";
import { type GatewayProc, type Proc, type StackStore, stackStore, startConsumers, startGateway } from "./stack.ts";
import {
  freePort,
  makeNatsIdentities,
  type NatsIdentities,
  type NatsServer,
  startNatsServer,
  testCertificates,
} from "./nats-server.ts";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.ts";

/** One JetStream domain of an edge deployment: its nats-server, store and Natter processes. */
export interface EdgeDomain {
  /** `hub`, or the site's name (its `NATTER_SITE` and JetStream domain). */
  name: string;
  nats: NatsServer;
  store: StackStore;
  /** What its processes got (store, `NATTER_SITE`, the caller's). */
  env: Record<string, string>;
  gateway: GatewayProc;
  consumers: Proc;
  /** Sites only: the proxy the leaf link to the hub runs through; `cut()` is a WAN outage. */
  link?: TcpProxy;
}

export interface EdgeDeployment {
  hub: EdgeDomain;
  sites: EdgeDomain[];
  site(name: string): EdgeDomain;
  /** Kills every process, stops every nats-server and proxy, drops every store. */
  stop(): Promise<void>;
}

/**
 * The hub's `leafnodes` block: TLS on the leaf port, the sites authenticate as the `leaf`
 * identity (an nkey user of the Natter account, so no `authorization` block here), as
 * `nats/hub-leafnodes.conf` does for a deployment.
 */
function hubLeafnodes(port: number): string {
  const tls = testCertificates();
  return `leafnodes { listen: 127.0.0.1:${port}, tls { cert_file: "${tls.cert}", key_file: "${tls.key}", timeout: 2 } }`;
}

/**
 * A site's leaf remote (`nats/leaf.conf`): to the hub through `port` (the proxy), TLS
 * checked against the test CA, the `leaf` identity's seed, bound to the Natter account;
 * `chat.>` never crosses, so each domain stores only the chats it sequences.
 */
function siteLeafnodes(port: number, identities: NatsIdentities): string {
  const tls = testCertificates();
  const seed = readFileSync(identities.seedFiles.leaf, "utf8").trim();
  return [
    "leafnodes {",
    '  reconnect: "1s"',
    "  remotes: [ {",
    `    url: "nats-leaf://127.0.0.1:${port}"`,
    `    nkey: "${seed}"`,
    "    account: NATTER",
    `    tls { ca_file: "${tls.ca}", timeout: 2 }`,
    '    deny_imports: ["chat.>"]',
    '    deny_exports: ["chat.>"]',
    "  } ]",
    "}",
  ].join("\n");
}

/**
 * Starts a hub and `sites` as real nats-server leaf nodes of it (each its own JetStream
 * domain), every leaf link through a `startTcpProxy` the test can cut, and a gateway and a
 * consumers process per domain on its own store. One identity set for all servers, so the
 * hub knows the sites' `leaf` key. A start that fails part way stops what it started.
 */
export async function startEdge(
  opts: { sites: string[]; store?: "sqlite" | "cassandra"; env?: Record<string, string> } = { sites: ["s1"] },
): Promise<EdgeDeployment> {
  const stoppers: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stoppers.reverse()) await s().catch(() => undefined);
  };
  try {
    const idDir = mkdtempSync(path.join(tmpdir(), "natter-edge-ids-"));
    stoppers.push(async () => rmSync(idDir, { recursive: true, force: true }));
    const identities = makeNatsIdentities(idDir);
    const leafPort = await freePort();
    const hubNats = await startNatsServer({
      identities,
      tls: true,
      jetstream: `domain: ${HUB_SITE}`,
      extraConfig: [`server_name: natter-${HUB_SITE}`, hubLeafnodes(leafPort)].join("\n"),
    });
    stoppers.push(() => hubNats.stop());
    const domain = async (name: string, nats: NatsServer, extra: Record<string, string>, link?: TcpProxy) => {
      const store = await stackStore(opts.store ?? "sqlite");
      stoppers.push(() => store.cleanup());
      const env = { ...store.env, NATTER_SITE: name, ...extra, ...opts.env };
      const gateway = await startGateway(nats.url, env, `${name}-gateway`);
      stoppers.push(() => gateway.kill());
      const consumers = await startConsumers(nats.url, env, `${name}-consumers`);
      stoppers.push(() => consumers.kill());
      return { name, nats, store, env, gateway, consumers, ...(link ? { link } : {}) } satisfies EdgeDomain;
    };
    const hub = await domain(HUB_SITE, hubNats, { NATTER_EDGE_SITES: opts.sites.join(",") });
    const sites: EdgeDomain[] = [];
    for (const name of opts.sites) {
      const link = await startTcpProxy({ port: leafPort });
      stoppers.push(() => link.close());
      const nats = await startNatsServer({
        identities,
        tls: true,
        jetstream: `domain: ${name}`,
        extraConfig: [`server_name: natter-${name}`, siteLeafnodes(link.port, identities)].join("\n"),
      });
      stoppers.push(() => nats.stop());
      sites.push(await domain(name, nats, {}, link));
    }
    return {
      hub,
      sites,
      site(name) {
        const s = sites.find((d) => d.name === name);
        if (!s) throw new Error(`no site ${name}`);
        return s;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
