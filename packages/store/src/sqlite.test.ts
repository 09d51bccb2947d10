import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { runStoreContract } from "./contract.ts";
import { SqliteStore } from "./sqlite/store.ts";

runStoreContract("sqlite", async () => ({ store: new SqliteStore({ path: ":memory:" }), cleanup: async () => {} }));

test("sqlite - migrate adds the columns a file from an older release lacks, keeping its rows", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "natter-sqlite-"));
  const file = path.join(dir, "old.db");
  try {
    // The users table as it was before `disabled`.
    const old = new DatabaseSync(file);
    old.exec(`CREATE TABLE users (user_id TEXT PRIMARY KEY, handle TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
      password_hash TEXT NOT NULL, created_at INTEGER NOT NULL) STRICT`);
    old.exec(`INSERT INTO users VALUES ('u1', 'oldie', 'Old', 'hash', 1)`);
    old.close();
    const store = new SqliteStore({ path: file });
    await store.migrate();
    await store.migrate();
    const u = { userId: "u1", handle: "oldie", displayName: "Old", passwordHash: "hash", createdAt: 1 };
    assert.deepEqual(await store.getUser("u1"), u);
    assert.equal(await store.setUserDisabled("u1", true), true);
    assert.deepEqual(await store.findUsers({ prefix: "old", limit: 5 }), [{ ...u, disabled: true }]);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
