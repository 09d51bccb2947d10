import assert from "node:assert/strict";
import { test } from "node:test";
import { createTestKeyspace } from "@natter/testkit";
import { CassandraStore } from "./cassandra/store.ts";
import { runStoreContract } from "./contract.ts";

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
