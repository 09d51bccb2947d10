import { createTestKeyspace } from "@natter/testkit";
import { CassandraStore } from "./cassandra/store.ts";
import { runStoreContract } from "./contract.ts";

runStoreContract("cassandra", async () => {
  const ks = await createTestKeyspace("store");
  return { store: new CassandraStore({ client: ks.client, keyspace: ks.keyspace }), cleanup: () => ks.drop() };
});
