// Per-suite set-up for node:test: the server or stack a test file (or a `describe`) runs
// against, started in its `before` and torn down in its `after`, so each file states only
// what is particular to it. What depends on the server or stack goes in `setup` (node:test
// does not wait for one top-level `before` to end before it starts the next), and what a
// test opened goes in `beforeStop`, closed before the server or stack goes.
import { after, before } from "node:test";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type NatsServer, type NatsServerOptions, startNatsServer } from "./nats-server.ts";
import { type GatewayProc, type Stack, startStack } from "./stack.ts";

/** Clean-ups that run together before a suite's server or stack stops; a failing one is ignored. */
class Closers {
  readonly #pending: (() => unknown)[] = [];
  add(close: () => unknown): void {
    this.#pending.push(close);
  }
  async run(): Promise<void> {
    await Promise.allSettled(this.#pending.splice(0).map(async (close) => close()));
  }
}

/** Reads a value that the suite's `before` sets; a clear error if it is read earlier. */
function ready<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is set in the suite's before(); read it inside a test`);
  return value;
}

export interface NatsSuite {
  readonly server: NatsServer;
  /** A connection as `admin` (no credentials, test servers only). */
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly js: JetStreamClient;
  /** `close` runs after the suite's tests, before the connection closes and the server stops. */
  beforeStop(close: () => unknown): void;
}

/**
 * A nats-server (`startNatsServer`) and one connection to it for the calling suite.
 * `connect` replaces the plain connection (e.g. `connectNats` with a logger); `setup` runs
 * once both are up (a stream the suite needs).
 */
export function natsSuite(
  opts: {
    server?: NatsServerOptions;
    connect?: (url: string) => Promise<NatsConnection>;
    setup?: (nats: NatsSuite) => Promise<unknown>;
  } = {},
): NatsSuite {
  let server: NatsServer | undefined;
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager | undefined;
  let js: JetStreamClient | undefined;
  const closers = new Closers();
  const suite: NatsSuite = {
    get server() {
      return ready(server, "server");
    },
    get nc() {
      return ready(nc, "nc");
    },
    get jsm() {
      return ready(jsm, "jsm");
    },
    get js() {
      return ready(js, "js");
    },
    beforeStop: (close) => closers.add(close),
  };
  before(async () => {
    server = await startNatsServer(opts.server);
    nc = await (opts.connect ?? ((url) => connect({ servers: url })))(server.url);
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
    await opts.setup?.(suite);
  });
  after(async () => {
    await closers.run();
    await nc?.close();
    await server?.stop();
  });
  return suite;
}

export interface StackSuite {
  readonly stack: Stack;
  /** The stack's first gateway. */
  readonly g1: GatewayProc;
  /** The stack's second gateway (`gateways: 2` or more). */
  readonly g2: GatewayProc;
  /** `close` runs after the suite's tests, before the stack stops (sockets, clients, a bot). */
  beforeStop(close: () => unknown): void;
  /** Keeps `c` to be closed before the stack stops, and returns it. */
  closing<T extends { close(): unknown }>(c: T): T;
}

/**
 * A stack (`startStack`) for the calling suite; `setup` runs once it is up. `stopSignal` is
 * how its processes end: SIGKILL for throwaway ones, a teardown that cannot hang on a
 * graceful stop.
 */
export function stackSuite(
  opts: Parameters<typeof startStack>[0] & { setup?: (stack: Stack) => unknown } = {},
  stopSignal?: NodeJS.Signals,
): StackSuite {
  let stack: Stack | undefined;
  const closers = new Closers();
  const gateway = (i: number) => ready(ready(stack, "stack").gateways[i], `gateway ${i + 1}`);
  before(async () => {
    const { setup, ...stackOpts } = opts;
    stack = await startStack(stackOpts);
    await setup?.(stack);
  });
  after(async () => {
    await closers.run();
    await stack?.stop(stopSignal);
  });
  return {
    get stack() {
      return ready(stack, "stack");
    },
    get g1() {
      return gateway(0);
    },
    get g2() {
      return gateway(1);
    },
    beforeStop: (close) => closers.add(close),
    closing(c) {
      closers.add(() => c.close());
      return c;
    },
  };
}
