// The stack's plan: ports never shared and never the dev services', options refused with
// the setting named, env files that read back what was written.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DEV_PORTS,
  MAX_GATEWAYS,
  natsPorts,
  natterEnv,
  parseEnvFile,
  PlanError,
  renderEnvFile,
  stackPlan,
  type StackOptions,
} from "./stack-plan.ts";

const options = (o: Partial<StackOptions> = {}): StackOptions => ({
  dir: "/tmp/stack",
  root: "/repo",
  basePort: 14200,
  gateways: 2,
  keyspace: "natter_stack",
  cassandra: "127.0.0.1:9042",
  natsBin: "/bin",
  node: "/usr/bin/node",
  ...o,
});

function allPorts(plan: ReturnType<typeof stackPlan>): number[] {
  return plan.processes.flatMap((p) =>
    p.kind === "nats" ? Object.values(natsPorts(plan.basePort, Number(p.name.slice(5)) - 1)) : [p.port],
  );
}

test("stack-plan - every port of the largest stack is its own, none a dev service's", () => {
  const plan = stackPlan(options({ gateways: MAX_GATEWAYS }));
  const ports = allPorts(plan);
  assert.equal(ports.length, 3 * 3 + MAX_GATEWAYS + 3);
  assert.equal(new Set(ports).size, ports.length);
  assert.deepEqual(
    ports.filter((p) => (DEV_PORTS as readonly number[]).includes(p)),
    [],
  );
  assert.deepEqual(
    plan.processes.map((p) => p.name),
    [
      "nats-1",
      "nats-2",
      "nats-3",
      ...Array.from({ length: MAX_GATEWAYS }, (_, i) => `gateway-${i + 1}`),
      "history",
      "fanout",
      "push",
    ],
  );
});

test("stack-plan - a base port whose block holds a dev port, too many gateways or a bad keyspace are refused by name", () => {
  assert.throws(
    () => stackPlan(options({ basePort: 8050 })),
    (e: unknown) => e instanceof PlanError && /8080/.test(e.message) && /NATTER_STACK_BASE_PORT/.test(e.message),
  );
  assert.throws(() => stackPlan(options({ basePort: 65500 })), /NATTER_STACK_BASE_PORT/);
  assert.throws(() => stackPlan(options({ gateways: MAX_GATEWAYS + 1 })), /NATTER_STACK_GATEWAYS/);
  assert.throws(() => stackPlan(options({ gateways: 0 })), /NATTER_STACK_GATEWAYS/);
  assert.throws(() => stackPlan(options({ keyspace: "Bad-Name" })), /NATTER_STACK_KEYSPACE/);
});

test("stack-plan - each kind's env names its own seed; an env file reads back what was written", () => {
  const plan = stackPlan(options());
  for (const kind of ["gateway", "history", "fanout", "push"] as const) {
    const env = natterEnv(plan, kind);
    assert.equal(env.NATTER_NATS_NKEY_SEED, `/tmp/stack/${kind}/nats.nk`);
    assert.deepEqual(parseEnvFile(renderEnvFile({ ...env, NATTER_X: 'a "quoted" value' }, "about")), {
      ...env,
      NATTER_X: 'a "quoted" value',
    });
  }
  const gw = plan.processes.filter((p) => p.kind === "gateway");
  assert.deepEqual(
    gw.map((p) => p.env.NATTER_HTTP_PORT),
    ["14230", "14231"],
  );
  assert.ok(gw.every((p) => p.envFiles.at(-1) === "/tmp/stack/gateway/env"));
  const consumers = plan.processes.filter((p) => p.kind === "consumers");
  assert.deepEqual(
    consumers.map((p) => [p.env.NATTER_CONSUMERS, p.envFiles.at(-1)]),
    [
      ["history", "/tmp/stack/history/env"],
      ["fanout", "/tmp/stack/fanout/env"],
      ["push", "/tmp/stack/push/env"],
    ],
  );
});
