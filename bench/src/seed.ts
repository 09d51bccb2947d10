/**
 * Users, device sessions and chats written straight into the stack's store, with tokens
 * signed by the stack's secret: thousands of scrypt signups over HTTP would take minutes
 * (each one ~30 ms of gateway CPU). Chats are created over HTTP.
 */
import { createStore } from "@natter/store";
import { cassandraContactPoints } from "@natter/testkit";
import { TokenSigner } from "../../gateway/src/auth/tokens.ts";
import { TOKEN_SECRET } from "@natter/testkit";
import { api, type BenchUser } from "./http.ts";

export interface SeededChat {
  chatId: string;
  /** The first member is the sender under load (and the chat's creator). */
  members: BenchUser[];
}

/** The store the stack's processes use, from their environment (`stackStore(...).env`). */
function storeFromEnv(env: Record<string, string>) {
  return env.NATTER_STORE === "cassandra"
    ? createStore({
        backend: "cassandra",
        contactPoints: cassandraContactPoints(),
        localDataCenter: process.env.CASSANDRA_LOCAL_DC ?? "datacenter1",
        keyspace: env.NATTER_CASSANDRA_KEYSPACE!,
      })
    : createStore({ backend: "sqlite", sqlitePath: env.NATTER_SQLITE_PATH! });
}

/**
 * `chats` chats of `members` users each (2: direct chats, more: groups), users
 * `prefix0 … prefixN`. Returns the chats with their members' tokens.
 */
export async function seedChats(
  gateway: string,
  env: Record<string, string>,
  prefix: string,
  chats: number,
  members: number,
): Promise<SeededChat[]> {
  const store = storeFromEnv(env);
  await store.migrate();
  const signer = new TokenSigner(TOKEN_SECRET);
  const now = Date.now();
  const expiresAt = now + 86_400_000;
  const users: BenchUser[] = [];
  const count = chats * members;
  // A few writes in flight: Cassandra wants concurrency, SQLite does not mind.
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) {
        const i = next++;
        const userId = `u_${prefix}${i}`;
        const deviceId = `dv_${prefix}${i}`;
        await store.createUser({
          userId,
          handle: `${prefix}${i}`,
          displayName: `bench ${i}`,
          passwordHash: "x",
          createdAt: now,
        });
        await store.createSession({ userId, deviceId, deviceName: "bench", createdAt: now, expiresAt, revoked: false });
        users[i] = { userId, token: signer.sign({ userId, deviceId, expiresAt }) };
      }
    }),
  );
  await store.close();
  // Chats through the gateway's HTTP API (no scrypt there), so `chat.created` is in the
  // stream: the fanout consumer folds membership from the log, not from the store.
  const out: SeededChat[] = new Array(chats);
  let c = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (c < chats) {
        const k = c++;
        const m = users.slice(k * members, (k + 1) * members);
        const body =
          members === 2
            ? { kind: "direct", userId: m[1]!.userId }
            : { kind: "group", title: `bench ${k}`, members: m.slice(1).map((u) => u.userId) };
        const chat = await api<{ chatId: string }>(gateway, "POST", "/v1/chats", body, m[0]!.token);
        out[k] = { chatId: chat.chatId, members: m };
      }
    }),
  );
  return out;
}
