import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { consumersIdentity } from "@natter/subjects/permissions";
import {
  freePort,
  type NatsServer,
  natsEnvFor,
  repoRoot,
  type StackStore,
  stackStore,
  startNatsCluster,
  startNatsServer,
  TOKEN_SECRET,
  trackChild,
} from "@natter/testkit";

// How processes start and what they say while they run, as an operator meets it: each
// needs only its own secrets, waits for its dependencies instead of crashing, is named as
// configured, answers /healthz and /readyz in one shape, keeps probes out of its info log,
// and a clashing metrics port stops it with one line naming the setting.

interface Spawned {
  child: ChildProcess;
  /** Every log line so far, parsed (pino JSON); other lines as `{ raw }`. */
  lines(): Record<string, unknown>[];
  text(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

function spawnProcess(script: string, args: string[], env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, [path.join(repoRoot, script), ...args], {
    env: { ...process.env, NATTER_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  trackChild(child);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    text: () => out,
    lines: () =>
      out
        .split("\n")
        .filter(Boolean)
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return { raw: l };
          }
        }),
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await exited;
    },
  };
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await Promise.resolve(fn()).catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function get(url: string): Promise<{ status: number; body: unknown } | undefined> {
  try {
    const r = await fetch(url);
    const text = await r.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON (metrics)
    }
    return { status: r.status, body };
  } catch {
    return undefined;
  }
}

function consumersEnv(nats: NatsServer, store: StackStore, consumers: string): Record<string, string> {
  return {
    NATTER_NATS_URL: nats.url,
    ...natsEnvFor(nats.url, consumersIdentity(consumers.split(","))),
    ...store.env,
    NATTER_CONSUMERS: consumers,
  };
}

function gatewayEnv(nats: NatsServer, store: StackStore, port: number): Record<string, string> {
  return {
    NATTER_NATS_URL: nats.url,
    ...natsEnvFor(nats.url, "gateway"),
    ...store.env,
    NATTER_HTTP_PORT: String(port),
    NATTER_TOKEN_SECRET: TOKEN_SECRET,
  };
}

describe("startup - one server", () => {
  let nats: NatsServer;
  let store: StackStore;
  const procs: Spawned[] = [];
  let gatewayUrl: string;
  let gateway: Spawned;

  before(async () => {
    nats = await startNatsServer();
    store = await stackStore("sqlite");
    const port = await freePort();
    gatewayUrl = `http://127.0.0.1:${port}`;
    gateway = spawnProcess("gateway/src/main.ts", [], {
      ...gatewayEnv(nats, store, port),
      NATTER_NATS_NAME: "gateway-1",
    });
    procs.push(gateway);
    await until("the gateway ready", async () => (await get(`${gatewayUrl}/readyz`))?.status === 200 || undefined);
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await nats?.stop();
    await store?.cleanup();
  });

  test("startup - the gateway logs no info line for probes and scrapes, one for other requests; is named as configured; never sweeps itself", async () => {
    for (let i = 0; i < 5; i++)
      for (const p of ["/healthz", "/readyz", "/metrics"]) assert.equal((await get(gatewayUrl + p))?.status, 200);
    assert.equal((await get(`${gatewayUrl}/v1/openapi.json`))?.status, 200);
    const lines = await until("the openapi request logged", () => {
      const l = gateway.lines();
      return l.some((x) => JSON.stringify(x).includes("/v1/openapi.json")) ? l : undefined;
    });
    const probes = lines.filter((x) => /"\/(healthz|readyz|metrics)"/.test(JSON.stringify(x)));
    assert.deepEqual(probes, [], "no log line for a probe or a scrape");
    // Named exactly NATTER_NATS_NAME, in its logs and in the server's connection list.
    const names = new Set(lines.map((x) => x.name));
    assert.deepEqual([...names], ["gateway-1"], gateway.text());
    const connz = (await (await fetch(`http://127.0.0.1:${nats.monitorPort}/connz`)).json()) as {
      connections: { name?: string }[];
    };
    assert.ok(
      connz.connections.some((c) => c.name === "gateway-1"),
      JSON.stringify(connz.connections.map((c) => c.name)),
    );
    assert.ok(!/sweeping|clearing its previous users/.test(gateway.text()), gateway.text());
  });

  test("startup - /healthz and /readyz have one shape on the gateway and the consumers", async () => {
    assert.deepEqual(await get(`${gatewayUrl}/healthz`), { status: 200, body: { ok: true } });
    assert.deepEqual(await get(`${gatewayUrl}/readyz`), {
      status: 200,
      body: { ok: true, nats: true, jetstream: true, store: true },
    });
    const port = await freePort();
    const consumers = spawnProcess("consumers/src/main.ts", [], {
      ...consumersEnv(nats, store, "history,fanout"),
      NATTER_TOKEN_SECRET: TOKEN_SECRET,
      NATTER_METRICS_PORT: String(port),
    });
    procs.push(consumers);
    const ready = await until("the consumers ready", async () => {
      const r = await get(`http://127.0.0.1:${port}/readyz`);
      return r?.status === 200 ? r : undefined;
    });
    assert.deepEqual(ready.body, { ok: true, nats: true, jetstream: true, store: true });
    assert.deepEqual(await get(`http://127.0.0.1:${port}/healthz`), { status: 200, body: { ok: true } });
    assert.ok(!/\/readyz|\/healthz/.test(consumers.text()));
    // Both consumers run here: named `consumers`.
    assert.deepEqual([...new Set(consumers.lines().map((x) => x.name))], ["consumers"]);
    await consumers.stop();
  });

  test("startup - consumers start without NATTER_TOKEN_SECRET, each named after what it runs or as configured", async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const history = spawnProcess("consumers/src/main.ts", [], {
      ...consumersEnv(nats, store, "history"),
      NATTER_TOKEN_SECRET: "",
      NATTER_METRICS_PORT: String(p1),
    });
    const fanout = spawnProcess("consumers/src/main.ts", [], {
      ...consumersEnv(nats, store, "fanout"),
      NATTER_TOKEN_SECRET: "",
      NATTER_METRICS_PORT: String(p2),
      NATTER_NATS_NAME: "fanout-a",
    });
    procs.push(history, fanout);
    for (const p of [p1, p2])
      await until(
        "a consumers process ready",
        async () => (await get(`http://127.0.0.1:${p}/readyz`))?.status === 200 || undefined,
      );
    assert.deepEqual([...new Set(history.lines().map((x) => x.name))], ["history"]);
    assert.deepEqual([...new Set(fanout.lines().map((x) => x.name))], ["fanout-a"]);

    // A gateway without it refuses to start, with the variable named and no stack trace.
    const gw = spawnProcess("gateway/src/main.ts", [], { ...gatewayEnv(nats, store, 0), NATTER_TOKEN_SECRET: "" });
    assert.equal(await gw.exited, 1);
    assert.match(gw.text(), /NATTER_TOKEN_SECRET is required by a gateway process/);
    assert.doesNotMatch(gw.text(), /\n\s+at /);
    await Promise.all([history.stop(), fanout.stop()]);
  });

  test("startup - a second consumers process on a taken metrics port stops with one line naming NATTER_METRICS_PORT", async () => {
    const port = await freePort();
    const first = spawnProcess("consumers/src/main.ts", [], {
      ...consumersEnv(nats, store, "history"),
      NATTER_METRICS_PORT: String(port),
    });
    procs.push(first);
    await until(
      "the first ready",
      async () => (await get(`http://127.0.0.1:${port}/readyz`))?.status === 200 || undefined,
    );
    const second = spawnProcess("consumers/src/main.ts", [], {
      ...consumersEnv(nats, store, "fanout"),
      NATTER_METRICS_PORT: String(port),
    });
    assert.equal(await second.exited, 1);
    const lines = second.text().trim().split("\n");
    assert.equal(lines.length, 1, second.text());
    const line = JSON.parse(lines[0]!) as { level: number; msg: string };
    assert.equal(line.level, 60);
    assert.match(line.msg, new RegExp(`127\\.0\\.0\\.1:${port} is in use.*NATTER_METRICS_PORT`));
    await first.stop();
  });
});

describe("startup - before JetStream is available", () => {
  let cluster: NatsServer[];
  let store: StackStore;
  const procs: Spawned[] = [];

  before(async () => {
    cluster = await startNatsCluster(3);
    store = await stackStore("sqlite");
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all(cluster.map((s) => s.stop()));
    await store?.cleanup();
  });

  test("startup - a gateway and a consumers process started on a cluster without a JetStream quorum wait, then serve", async () => {
    const [n1, n2, n3] = cluster as [NatsServer, NatsServer, NatsServer];
    // Two of three nodes down: the node left accepts connections but JetStream has no meta leader.
    await Promise.all([n2.kill(), n3.kill()]);
    const port = await freePort();
    const mport = await freePort();
    const gateway = spawnProcess("gateway/src/main.ts", [], gatewayEnv(n1, store, port));
    const consumers = spawnProcess("consumers/src/main.ts", [], {
      ...consumersEnv(n1, store, "history,fanout"),
      NATTER_METRICS_PORT: String(mport),
    });
    procs.push(gateway, consumers);
    await until("both waiting for JetStream", () =>
      /waiting for JetStream/.test(gateway.text()) && /waiting for JetStream/.test(consumers.text()) ? true : undefined,
    );
    // Alive meanwhile, not ready.
    assert.deepEqual(await get(`http://127.0.0.1:${mport}/healthz`), { status: 200, body: { ok: true } });
    assert.equal((await get(`http://127.0.0.1:${mport}/readyz`))?.status, 503);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(gateway.child.exitCode, null, gateway.text());
    assert.equal(consumers.child.exitCode, null, consumers.text());

    await Promise.all([n2.restart(), n3.restart()]);
    await until(
      "the gateway ready",
      async () => (await get(`http://127.0.0.1:${port}/readyz`))?.status === 200 || undefined,
      90_000,
    );
    await until(
      "the consumers ready",
      async () => (await get(`http://127.0.0.1:${mport}/readyz`))?.status === 200 || undefined,
      90_000,
    );
    assert.match(gateway.text(), /JetStream available/);
    assert.doesNotMatch(gateway.text() + consumers.text(), /\n\s+at /);
  });
});
