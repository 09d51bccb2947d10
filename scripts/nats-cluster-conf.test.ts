// The cluster config generator: the compose files are its output, what it renders is a
// config nats-server accepts (`-t`, with real includes and certificates), and addresses
// it cannot use are refused with the flag named.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { makeNatsIdentities, natsBin, repoRoot, testCertificates } from "@natter/testkit";
import { composeFile, composeNodes, renderNatsNode } from "./nats-cluster-conf.ts";

const run = promisify(execFile);

test("nats-cluster-conf - nats/cluster-n*.conf are the generator's compose nodes (regenerate: scripts/node scripts/nats-cluster-conf.ts compose)", async () => {
  const nodes = composeNodes();
  assert.equal(nodes.length, 3);
  for (const [i, node] of nodes.entries()) {
    assert.equal(await readFile(composeFile(repoRoot, i), "utf8"), renderNatsNode(node), composeFile(repoRoot, i));
  }
});

test("nats-cluster-conf - nats-server accepts a rendered node, includes and TLS files resolved", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "natter-cluster-conf-"));
  try {
    const ids = makeNatsIdentities(path.join(dir, "secrets"), { anonymous: false });
    await writeFile(path.join(dir, "auth.conf"), ids.config);
    const conf = path.join(dir, "node.conf");
    await writeFile(
      conf,
      renderNatsNode({
        name: "n1",
        client: "127.0.0.1:4999",
        monitor: "127.0.0.1:8999",
        cluster: "127.0.0.1:6999",
        routes: ["127.0.0.1:6999", "127.0.0.1:7000"],
        clusterAdvertise: "127.0.0.1:6999",
        store: path.join(dir, "with space", "store"),
        tlsDir: testCertificates().dir,
        syncInterval: "always",
      }),
    );
    const { stdout, stderr } = await run(path.join(natsBin(), "nats-server"), ["-c", conf, "-t"], { timeout: 15_000 });
    assert.match(stdout + stderr, /configuration file .* is valid/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("nats-cluster-conf - an address without a port, a single route or a bad name is refused", () => {
  const node = {
    name: "n1",
    client: "127.0.0.1:4222",
    monitor: "127.0.0.1:8222",
    cluster: "127.0.0.1:6222",
    routes: ["a:6222", "b:6222"],
    store: "/s",
    tlsDir: "/t",
  };
  assert.throws(() => renderNatsNode({ ...node, client: "127.0.0.1" }), /--client 127\.0\.0\.1: expected host:port/);
  assert.throws(() => renderNatsNode({ ...node, routes: ["a:6222"] }), /--routes: a cluster needs at least two/);
  assert.throws(() => renderNatsNode({ ...node, name: "n 1" }), /--name n 1/);
  assert.throws(() => renderNatsNode({ ...node, syncInterval: "soon" }), /--sync-interval soon/);
});
