import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, makeNatsIdentities, type NatsServer, startNatsServer } from "./nats-server.ts";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.ts";

/** A JetStream cluster whose routes run through TCP proxies, so a node can be cut off. */
export interface PartitionableCluster {
  servers: NatsServer[];
  /** Cuts every route to and from node `k` (0-based); its clients still reach it. */
  isolate(k: number): void;
  /** Lets node `k` route again (the servers re-dial their explicit routes). */
  heal(k: number): void;
  /** Stops the servers and the proxies. */
  stop(): Promise<void>;
}

/**
 * `startNatsCluster` with a TCP proxy per ordered pair of nodes: node i dials node j only
 * through proxy (i→j), so cutting every proxy into and out of node k partitions it from
 * the others while its client port stays open (a node cut off from its peers that clients
 * still reach: the partition of issue 15). Each server advertises an address nobody
 * listens on, so the routes the servers gossip to each other can never by-pass the
 * proxies; the explicit full mesh through the proxies is the whole cluster.
 */
export async function startPartitionableNatsCluster(size = 3): Promise<PartitionableCluster> {
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const deadPort = await freePort();
  const proxies: TcpProxy[][] = [];
  for (let i = 0; i < size; i++) {
    proxies.push(await Promise.all(routePorts.map((port) => startTcpProxy({ port }))));
  }
  const idDir = mkdtempSync(path.join(tmpdir(), "natter-ids-"));
  process.once("exit", () => rmSync(idDir, { recursive: true, force: true }));
  const identities = makeNatsIdentities(idDir);
  const servers = await Promise.all(
    routePorts.map((port, i) =>
      startNatsServer({
        identities,
        extraConfig: [
          `server_name: natter-n${i + 1}`,
          `cluster { name: natter-chaos, listen: 127.0.0.1:${port}, advertise: "127.0.0.1:${deadPort}", routes: [${routePorts
            .map((_, j) => j)
            .filter((j) => j !== i)
            .map((j) => `nats-route://127.0.0.1:${proxies[i]![j]!.port}`)
            .join(", ")}] }`,
        ].join("\n"),
      }),
    ),
  );
  const each = (k: number, f: (p: TcpProxy) => void) => {
    for (let j = 0; j < size; j++) {
      if (j === k) continue;
      f(proxies[k]![j]!);
      f(proxies[j]![k]!);
    }
  };
  return {
    servers,
    isolate: (k) => each(k, (p) => p.cut()),
    heal: (k) => each(k, (p) => p.restore()),
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
      await Promise.all(proxies.flat().map((p) => p.close()));
    },
  };
}
