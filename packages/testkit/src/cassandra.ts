import { randomBytes } from "node:crypto";
import cassandra from "cassandra-driver";

/** Where the suite's Cassandra is: CASSANDRA_CONTACT_POINTS (host:port, comma separated). */
export function cassandraContactPoints(): string[] {
  return (process.env.CASSANDRA_CONTACT_POINTS ?? "127.0.0.1:9042").split(",").map((s) => s.trim());
}

export interface TestKeyspace {
  /** The keyspace's name, unique to this suite. */
  keyspace: string;
  /** A client connected to the cluster (not bound to the keyspace). */
  client: cassandra.Client;
  /** Drops the keyspace and shuts the client down. */
  drop(): Promise<void>;
}

/**
 * Gives one test suite its own keyspace on the Cassandra that `npm run services -- up`
 * started (SimpleStrategy, RF 1), and drops it afterwards. Fails with a clear message
 * when Cassandra is not running: the tests need the real server, never a stand-in.
 */
export async function createTestKeyspace(prefix = "t"): Promise<TestKeyspace> {
  const keyspace = `${prefix}_${randomBytes(6).toString("hex")}`;
  const client = new cassandra.Client({
    contactPoints: cassandraContactPoints(),
    localDataCenter: process.env.CASSANDRA_LOCAL_DC ?? "datacenter1",
    socketOptions: { connectTimeout: 10_000, readTimeout: 30_000 },
  });
  try {
    await client.connect();
  } catch (err) {
    await client.shutdown().catch(() => {});
    throw new Error(
      `Cassandra is not reachable at ${cassandraContactPoints().join(",")}: start it with \`npm run services -- up\` (${(err as Error).message})`,
      { cause: err },
    );
  }
  await client.execute(
    `CREATE KEYSPACE ${keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
  );
  return {
    keyspace,
    client,
    async drop() {
      try {
        await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
      } finally {
        await client.shutdown();
      }
    },
  };
}
