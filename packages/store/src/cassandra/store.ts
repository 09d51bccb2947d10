import type { ChatEvent } from "@natter/protocol";
import cassandra from "cassandra-driver";
import type {
  Block,
  Chat,
  ChatHead,
  ChatRequest,
  ClientMsgRef,
  DeviceSession,
  EventPageQuery,
  Member,
  MembershipChange,
  ReadState,
  Store,
  StoreWrite,
  UnreadCount,
  User,
} from "../store.ts";
import { writeOneByOne } from "../writes.ts";
import * as chats from "./chats.ts";
import { Cql } from "./cql.ts";
import * as events from "./events.ts";
import * as heads from "./heads.ts";
import * as relations from "./relations.ts";
import { DEFAULT_REPLICATION, migrate } from "./schema.ts";
import * as users from "./users.ts";

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
export class CassandraStore implements Store {
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
    this.#ownsClient = !("client" in options);
    this.#cql = new Cql(client, options.keyspace);
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

  createUser(user: User): Promise<boolean> {
    return users.createUser(this.#cql, user);
  }
  getUser(userId: string): Promise<User | undefined> {
    return users.getUser(this.#cql, userId);
  }
  getUserByHandle(handle: string): Promise<User | undefined> {
    return users.getUserByHandle(this.#cql, handle);
  }

  createSession(session: DeviceSession): Promise<void> {
    return users.createSession(this.#cql, session);
  }
  getSession(userId: string, deviceId: string): Promise<DeviceSession | undefined> {
    return users.getSession(this.#cql, userId, deviceId);
  }
  listSessions(userId: string): Promise<DeviceSession[]> {
    return users.listSessions(this.#cql, userId);
  }
  setPasswordHash(userId: string, passwordHash: string): Promise<void> {
    return users.setPasswordHash(this.#cql, userId, passwordHash);
  }
  revokeSession(userId: string, deviceId: string): Promise<void> {
    return users.revokeSession(this.#cql, userId, deviceId);
  }

  createChat(chat: Chat): Promise<void> {
    return chats.createChat(this.#cql, chat);
  }
  getChat(chatId: string): Promise<Chat | undefined> {
    return chats.getChat(this.#cql, chatId);
  }
  claimDirectChat(userA: string, userB: string, chatId: string): Promise<string> {
    return chats.claimDirectChat(this.#cql, userA, userB, chatId);
  }

  applyMembership(change: MembershipChange): Promise<void> {
    return chats.applyMembership(this.#cql, change);
  }
  getMember(chatId: string, userId: string): Promise<Member | undefined> {
    return chats.getMember(this.#cql, chatId, userId);
  }
  listMembers(chatId: string): Promise<Member[]> {
    return chats.listMembers(this.#cql, chatId);
  }
  listChatIdsForUser(userId: string): Promise<string[]> {
    return chats.listChatIdsForUser(this.#cql, userId);
  }

  appendEvents(list: ChatEvent[]): Promise<void> {
    return events.appendEvents(this.#cql, list);
  }
  getEvents(chatId: string, query: EventPageQuery): Promise<ChatEvent[]> {
    return events.getEvents(this.#cql, chatId, query);
  }
  countUnread(chatId: string, userId: string, afterN: number, cap: number): Promise<UnreadCount> {
    return events.countUnread(this.#cql, chatId, userId, afterN, cap);
  }
  findClientMsg(chatId: string, userId: string, clientMsgId: string): Promise<ClientMsgRef | undefined> {
    return events.findClientMsg(this.#cql, chatId, userId, clientMsgId);
  }

  advanceChatHead(head: ChatHead): Promise<void> {
    return heads.advanceChatHead(this.#cql, head);
  }
  getChatHead(chatId: string): Promise<ChatHead | undefined> {
    return heads.getChatHead(this.#cql, chatId);
  }
  getChatHeads(chatIds: string[]): Promise<ChatHead[]> {
    return heads.getChatHeads(this.#cql, chatIds);
  }

  advanceReadState(state: ReadState): Promise<void> {
    return heads.advanceReadState(this.#cql, state);
  }
  getReadState(chatId: string, userId: string): Promise<ReadState | undefined> {
    return heads.getReadState(this.#cql, chatId, userId);
  }
  listReadStates(chatId: string): Promise<ReadState[]> {
    return heads.listReadStates(this.#cql, chatId);
  }

  putChatRequest(request: ChatRequest): Promise<void> {
    return relations.putChatRequest(this.#cql, request);
  }
  getChatRequest(userId: string, chatId: string): Promise<ChatRequest | undefined> {
    return relations.getChatRequest(this.#cql, userId, chatId);
  }
  listChatRequests(userId: string): Promise<ChatRequest[]> {
    return relations.listChatRequests(this.#cql, userId);
  }
  listChatRequestsOfChat(chatId: string): Promise<ChatRequest[]> {
    return relations.listChatRequestsOfChat(this.#cql, chatId);
  }
  putBlock(block: Block): Promise<void> {
    return relations.putBlock(this.#cql, block);
  }
  getBlock(userId: string, blockedId: string): Promise<Block | undefined> {
    return relations.getBlock(this.#cql, userId, blockedId);
  }
  listBlocked(userId: string): Promise<Block[]> {
    return relations.listBlocked(this.#cql, userId);
  }
  listBlockedBy(userId: string): Promise<Block[]> {
    return relations.listBlockedBy(this.#cql, userId);
  }

  /** No transactions here: the writes call by call, each chat's in order, chats concurrently. */
  writeAll(writes: readonly StoreWrite[]): Promise<void> {
    return writeOneByOne(this, writes);
  }
}
