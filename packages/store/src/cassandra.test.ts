import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChatEvent } from "@natter/protocol";
import { createTestKeyspace } from "@natter/testkit";
import { CassandraStore } from "./cassandra/store.ts";
import { runStoreContract } from "./contract.ts";
import { projectionWrites } from "./projection.ts";

runStoreContract("cassandra", async () => {
  const ks = await createTestKeyspace("store");
  return { store: new CassandraStore({ client: ks.client, keyspace: ks.keyspace }), cleanup: () => ks.drop() };
});

test("cassandra - migrate of a keyspace from an older release adds `disabled` and indexes the handles it holds", async () => {
  const ks = await createTestKeyspace("storeold");
  try {
    // The users tables as they were before `disabled` and the handle-prefix index.
    const t = (name: string) => `${ks.keyspace}.${name}`;
    await ks.client.execute(`CREATE TABLE ${t("users")} (
      user_id text PRIMARY KEY, handle text, display_name text, password_hash text, created_at bigint)`);
    await ks.client.execute(`CREATE TABLE ${t("users_by_handle")} (handle text PRIMARY KEY, user_id text)`);
    const old = ["oldana", "oldben", "olive"].map((handle, i) => ({
      userId: `u_old${i}`,
      handle,
      displayName: handle,
      passwordHash: "hash",
      createdAt: 1 + i,
    }));
    for (const u of old) {
      await ks.client.execute(
        `INSERT INTO ${t("users")} (user_id, handle, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
        [u.userId, u.handle, u.displayName, u.passwordHash, u.createdAt],
        { prepare: true },
      );
      await ks.client.execute(
        `INSERT INTO ${t("users_by_handle")} (handle, user_id) VALUES (?, ?)`,
        [u.handle, u.userId],
        {
          prepare: true,
        },
      );
    }
    const store = new CassandraStore({ client: ks.client, keyspace: ks.keyspace });
    await store.migrate();
    await store.migrate();
    assert.deepEqual(await store.findUsers({ prefix: "ol", limit: 10 }), old);
    assert.deepEqual(await store.findUsers({ prefix: "o", limit: 10 }), old);
    assert.deepEqual(await store.findUsers({ prefix: "oldb", limit: 10 }), [old[1]]);
    assert.equal(await store.setUserDisabled("u_old0", true), true);
    assert.deepEqual(await store.getUser("u_old0"), { ...old[0], disabled: true });
  } finally {
    await ks.drop();
  }
});

test("cassandra - migrate of a keyspace from before the per-sender client-message index copies the old index once", async () => {
  const ks = await createTestKeyspace("storecm");
  try {
    // The client-message index as it was: one partition per message.
    const t = (name: string) => `${ks.keyspace}.${name}`;
    await ks.client.execute(`CREATE TABLE ${t("client_msgs")} (
      chat_id text, user_id text, client_msg_id text, n bigint, seq bigint, ts bigint,
      PRIMARY KEY ((chat_id, user_id, client_msg_id)))`);
    const old = [
      { chat: "c_old", user: "bob", id: "m1", n: 2, seq: 102, ts: 1002 },
      { chat: "c_old", user: "bob", id: "m2", n: 3, seq: 103, ts: 1003 },
      { chat: "c_old", user: "ann", id: "m1", n: 4, seq: 104, ts: 1004 },
    ];
    for (const r of old) {
      await ks.client.execute(
        `INSERT INTO ${t("client_msgs")} (chat_id, user_id, client_msg_id, n, seq, ts) VALUES (?, ?, ?, ?, ?, ?)
         USING TIMESTAMP ?`,
        [r.chat, r.user, r.id, r.n, r.seq, r.ts, 2 ** 53 - r.n],
        { prepare: true },
      );
    }
    const store = new CassandraStore({ client: ks.client, keyspace: ks.keyspace });
    await store.migrate();
    await store.migrate();
    for (const r of old) {
      assert.deepEqual(await store.findClientMsg(r.chat, r.user, r.id), { n: r.n, seq: r.seq, ts: r.ts });
    }
    assert.equal(await store.findClientMsg("c_old", "bob", "m3"), undefined);
    // A later landing of a copied client message (a retry stored again) does not move it.
    await store.appendEvents([
      { kind: "message.created", chat: "c_old", seq: 109, n: 9, ts: 1009, from: "bob", id: "m1", body: "again" },
    ]);
    assert.deepEqual(await store.findClientMsg("c_old", "bob", "m1"), { n: 2, seq: 102, ts: 1002 });
  } finally {
    await ks.drop();
  }
});

test("cassandra - a history batch is written as one request per partition: events, each sender's index, each chat's head and pointers", async () => {
  const ks = await createTestKeyspace("storebatch");
  try {
    const store = new CassandraStore({ client: ks.client, keyspace: ks.keyspace });
    await store.migrate();
    // Every request the store sends from here on: a lone statement, or a batch's statements.
    const requests: { logged?: boolean; queries: { query: string; params: unknown[] }[] }[] = [];
    const client = ks.client as unknown as {
      execute(query: string, params: unknown[], options: object): Promise<unknown>;
      batch(queries: { query: string; params: unknown[] }[], options: { logged?: boolean }): Promise<unknown>;
    };
    const execute = client.execute.bind(client);
    const batch = client.batch.bind(client);
    client.execute = (query, params, options) => {
      requests.push({ queries: [{ query, params }] });
      return execute(query, params, options);
    };
    client.batch = (queries, options) => {
      requests.push({ logged: options.logged, queries });
      return batch(queries, options);
    };
    const events: ChatEvent[] = [];
    for (const chat of ["c_a", "c_b", "c_c"]) {
      for (let n = 1; n <= 8; n++) {
        const from = n % 2 === 0 ? "bob" : "ann";
        events.push({ kind: "message.created", chat, seq: n, n, ts: 1000 + n, from, id: `${chat}-${n}`, body: "hi" });
      }
    }
    await store.writeAll([{ op: "appendEvents", events }, ...projectionWrites(events)]);
    const tableOf = (q: string) => /(?:INTO|UPDATE)\s+\S+\.(\w+)/.exec(q)?.[1];
    const summary = requests.map((r) => [...new Set(r.queries.map((q) => tableOf(q.query)))].sort().join("+")).sort();
    assert.deepEqual(summary, [
      ...Array<string>(3).fill("chat_heads+read_state"),
      ...Array<string>(6).fill("client_msgs_by_sender"),
      ...Array<string>(3).fill("events"),
    ]);
    // Each batch is unlogged and within one partition key: one chat (and one sender for the index).
    for (const r of requests) {
      assert.equal(r.logged ?? false, false);
      assert.equal(
        new Set(r.queries.map((q) => q.params.find((p) => typeof p === "string" && p.startsWith("c_")))).size,
        1,
      );
      if (r.queries.some((q) => tableOf(q.query) === "client_msgs_by_sender")) {
        assert.equal(new Set(r.queries.map((q) => q.params[1])).size, 1);
      }
    }
    // And it is all there, as the calls one by one would leave it.
    assert.equal((await store.getEvents("c_b", { afterN: 0, limit: 100 })).length, 8);
    assert.deepEqual(await store.findClientMsg("c_c", "bob", "c_c-6"), { n: 6, seq: 6, ts: 1006 });
    assert.equal((await store.getChatHead("c_a"))?.lastN, 8);
    assert.deepEqual(await store.getReadState("c_a", "ann"), { chatId: "c_a", userId: "ann", deliveredN: 7, readN: 7 });
  } finally {
    await ks.drop();
  }
});
