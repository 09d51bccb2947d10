import cassandra from "cassandra-driver";
import type { Store, StoreWrite } from "../store.ts";
import { tableStore } from "../tables.ts";
import * as chats from "./chats.ts";
import { Cql } from "./cql.ts";
import * as events from "./events.ts";
import * as heads from "./heads.ts";
import * as push from "./push.ts";
import * as reactions from "./reactions.ts";
import * as relations from "./relations.ts";
import { DEFAULT_REPLICATION, migrate } from "./schema.ts";
import * as users from "./users.ts";
import { writeAll } from "./writes.ts";

export type CassandraStoreOptions =
  | {
      contactPoints: string[];
      localDataCenter: string;
      keyspace: string;
      /** CQL replication map for `migrate()`'s CREATE KEYSPACE; default SimpleStrategy, RF 1. */
      replication?: string;
    }
  | {
      /** A client the caller owns: the store never shuts it down. Need not be bound to the keyspace. */
      client: cassandra.Client;
      keyspace: string;
      replication?: string;
    };

/** The production store on Cassandra 5. See the package README for the schema and its guards. */
export class CassandraStore
  extends tableStore<Cql>({ ...users, ...chats, ...events, ...heads, ...reactions, ...relations, ...push })
  implements Store
{
  readonly backend = "cassandra" as const;
  readonly #cql: Cql;
  readonly #ownsClient: boolean;
  readonly #replication: string;

  constructor(options: CassandraStoreOptions) {
    const client =
      "client" in options
        ? options.client
        : new cassandra.Client({
            contactPoints: options.contactPoints,
            localDataCenter: options.localDataCenter,
            socketOptions: { connectTimeout: 5_000, readTimeout: 10_000 },
            // Back within seconds of Cassandra's return, not the driver's default of up to 10
            // minutes between attempts: history catches up by itself after an outage.
            policies: {
              reconnection: new cassandra.policies.reconnection.ExponentialReconnectionPolicy(500, 5_000, false),
            },
          });
    const cql = new Cql(client, options.keyspace);
    super(cql);
    this.#cql = cql;
    this.#ownsClient = !("client" in options);
    this.#replication = options.replication ?? DEFAULT_REPLICATION;
  }

  async migrate(): Promise<void> {
    await migrate(this.#cql, this.#replication);
  }
  async ping(): Promise<void> {
    await this.#cql.execute("SELECT release_version FROM system.local");
  }
  async close(): Promise<void> {
    if (this.#ownsClient) await this.#cql.client.shutdown();
  }

  /**
   * No transactions here: each chat's writes in order, chats concurrently, in as few
   * requests as that allows (`writes.ts`: unlogged batches within one partition key).
   */
  writeAll(writes: readonly StoreWrite[]): Promise<void> {
    return writeAll(this.#cql, this, writes);
  }
}
