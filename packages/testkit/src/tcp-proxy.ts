import net from "node:net";

export interface TcpProxy {
  /** The port clients connect to (on 127.0.0.1). */
  readonly port: number;
  /** Cuts every connection and refuses new ones (a dead peer, a partition). */
  cut(): void;
  /** Accepts and forwards again. */
  restore(): void;
  readonly isCut: boolean;
  close(): Promise<void>;
}

/**
 * A TCP proxy on a random local port to `host:port`, which a test can cut and restore:
 * a real network fault between a process and a server (Cassandra, a NATS route) without
 * stopping the server that other tests share. Cutting destroys the open connections, so
 * the client sees them drop, and refuses new ones until restored.
 */
export async function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  const host = target.host ?? "127.0.0.1";
  const open = new Set<net.Socket>();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host, port: target.port });
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    cut() {
      cut = true;
      for (const s of open) s.destroy();
      open.clear();
    },
    restore() {
      cut = false;
    },
    get isCut() {
      return cut;
    },
    close() {
      cut = true;
      for (const s of open) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
