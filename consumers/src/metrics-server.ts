import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface MetricsServer {
  /** The bound port (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

/**
 * What `/readyz` answers, the same shape on every Natter process (the gateway's too):
 * `ok` decides the status (200 or 503), the others say what was checked.
 */
export interface Readiness {
  ok: boolean;
  nats: boolean;
  jetstream: boolean;
  store: boolean;
}

/** A port already taken: the caller logs one line naming the setting, no stack trace. */
export class PortInUseError extends Error {
  override name = "PortInUseError";
  readonly host: string;
  readonly port: number;
  constructor(host: string, port: number) {
    super(`${host}:${port} is in use by another process`);
    this.host = host;
    this.port = port;
  }
}

/**
 * `/metrics` (Prometheus text), `/healthz` (liveness: `{ok: true}` while the process
 * answers) and `/readyz` (`Readiness`, 503 unless `ok`) for the consumers process. A bare
 * node:http server: three read-only routes do not need the gateway's framework. Probes
 * and scrapes are never logged.
 */
export async function serveMetrics(opts: {
  host: string;
  port: number;
  registry: Registry;
  /** The process's readiness, checked on every `/readyz`. */
  readiness: () => Promise<Readiness>;
}): Promise<MetricsServer> {
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/metrics") {
      opts.registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": opts.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(String(err));
        },
      );
    } else if (req.method === "GET" && path === "/healthz") {
      json(res, 200, { ok: true });
    } else if (req.method === "GET" && path === "/readyz") {
      opts.readiness().then(
        (r) => json(res, r.ok ? 200 : 503, r),
        () => json(res, 503, { ok: false, nats: false, jetstream: false, store: false }),
      );
    } else {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "EADDRINUSE" ? new PortInUseError(opts.host, opts.port) : err),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
