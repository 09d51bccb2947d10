import { runStoreContract } from "./contract.ts";
import { SqliteStore } from "./sqlite/store.ts";

runStoreContract("sqlite", async () => ({ store: new SqliteStore({ path: ":memory:" }), cleanup: async () => {} }));
