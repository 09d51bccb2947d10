import { CassandraStore } from "./cassandra/store.ts";
import { SqliteStore } from "./sqlite/store.ts";
import type { Store } from "./store.ts";

export * from "./store.ts";
export { projectEvents, projectionWrites } from "./projection.ts";
export { applyWrite, type WriteMethods, writeOneByOne } from "./writes.ts";
export { CassandraStore, type CassandraStoreOptions } from "./cassandra/store.ts";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite/store.ts";

export type StoreConfig =
  | { backend: "sqlite"; sqlitePath: string }
  | { backend: "cassandra"; contactPoints: string[]; localDataCenter: string; keyspace: string; replication?: string };

/** The configured backend, not yet migrated: call `migrate()` before use. */
export function createStore(config: StoreConfig): Store {
  switch (config.backend) {
    case "sqlite":
      return new SqliteStore({ path: config.sqlitePath });
    case "cassandra":
      return new CassandraStore({
        contactPoints: config.contactPoints,
        localDataCenter: config.localDataCenter,
        keyspace: config.keyspace,
        ...(config.replication === undefined ? {} : { replication: config.replication }),
      });
  }
}
