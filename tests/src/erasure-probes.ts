// What a test of erasure looks into beside the API: every row of the store's tables and
// the chat stream's message at a seq, read directly (a body left anywhere shows up here).
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { CHAT_STREAM } from "@natter/subjects";
import type { Stack } from "@natter/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import cassandra from "cassandra-driver";

/** Every row of every table of the stack's store (SQLite file or Cassandra keyspace), as text. */
export async function storeDump(stack: Stack, backend: "sqlite" | "cassandra"): Promise<string> {
  const env = stack.env;
  if (backend === "sqlite") {
    const db = new DatabaseSync(env.NATTER_SQLITE_PATH!, { readOnly: true, timeout: 5000 });
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
      assert.ok(
        tables.some((r) => r.name === "events"),
        "the store's tables are there",
      );
      return tables.map((r) => JSON.stringify(db.prepare(`SELECT * FROM "${r.name}"`).all())).join("\n");
    } finally {
      db.close();
    }
  }
  const ks = env.NATTER_CASSANDRA_KEYSPACE!;
  const client = new cassandra.Client({
    contactPoints: (process.env.CASSANDRA_CONTACT_POINTS ?? "127.0.0.1:9042").split(","),
    localDataCenter: "datacenter1",
  });
  try {
    const tables = await client.execute("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", [ks]);
    const names = tables.rows.map((r) => r.get("table_name") as string);
    assert.ok(names.includes("events"), "the store's tables are there");
    const out: string[] = [];
    for (const name of names) {
      const rows = await client.execute(`SELECT * FROM ${ks}."${name}"`, [], { fetchSize: 10_000 });
      out.push(JSON.stringify(rows.rows));
    }
    return out.join("\n");
  } finally {
    await client.shutdown();
  }
}

/** The chat stream's message at `seq` (the test server's admin connection), or null once it is gone. */
export async function streamMessage(stack: Stack, seq: number): Promise<string | null> {
  const nc = await connect({ servers: stack.nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    const m = await jsm.streams.getMessage(CHAT_STREAM, { seq }).catch((err: { code?: number }) => {
      if (err.code === 404 || /no message found/i.test(String(err))) return null;
      throw err;
    });
    return m === null ? null : m.string();
  } finally {
    await nc.close();
  }
}
