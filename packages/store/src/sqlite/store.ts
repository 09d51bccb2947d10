import type { ChatEvent } from "@natter/protocol";
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
import { applyWrite, type WriteMethods } from "../writes.ts";
import * as chats from "./chats.ts";
import { SqliteDb } from "./db.ts";
import * as events from "./events.ts";
import * as heads from "./heads.ts";
import * as relations from "./relations.ts";
import * as users from "./users.ts";

export interface SqliteStoreOptions {
  /** A file path, or ":memory:" for a private in-memory database. */
  path: string;
}

/**
 * The embedded store on `node:sqlite`. Calls are synchronous underneath; the async
 * signatures are the Store contract's. One connection per store: within a process every
 * call runs to completion before the next, so upserts need no extra locking.
 */
export class SqliteStore implements Store {
  readonly backend = "sqlite" as const;
  readonly #db: SqliteDb;
  /** The write methods as the synchronous calls `writeAll` makes inside its transaction. */
  readonly #writes: WriteMethods<void> = {
    appendEvents: (list) => events.appendEvents(this.#db, list),
    createChat: (chat) => chats.createChat(this.#db, chat),
    applyMembership: (change) => chats.applyMembership(this.#db, change),
    advanceChatHead: (head) => heads.advanceChatHead(this.#db, head),
    advanceReadState: (state) => heads.advanceReadState(this.#db, state),
  };

  constructor(options: SqliteStoreOptions | string) {
    this.#db = new SqliteDb(typeof options === "string" ? options : options.path);
  }

  async migrate(): Promise<void> {
    this.#db.migrate();
  }
  async ping(): Promise<void> {
    this.#db.get("SELECT 1");
  }
  async close(): Promise<void> {
    this.#db.close();
  }

  async createUser(user: User): Promise<boolean> {
    return users.createUser(this.#db, user);
  }
  async getUser(userId: string): Promise<User | undefined> {
    return users.getUser(this.#db, userId);
  }
  async getUserByHandle(handle: string): Promise<User | undefined> {
    return users.getUserByHandle(this.#db, handle);
  }

  async createSession(session: DeviceSession): Promise<void> {
    users.createSession(this.#db, session);
  }
  async getSession(userId: string, deviceId: string): Promise<DeviceSession | undefined> {
    return users.getSession(this.#db, userId, deviceId);
  }
  async listSessions(userId: string): Promise<DeviceSession[]> {
    return users.listSessions(this.#db, userId);
  }
  async setPasswordHash(userId: string, passwordHash: string): Promise<void> {
    users.setPasswordHash(this.#db, userId, passwordHash);
  }
  async revokeSession(userId: string, deviceId: string): Promise<void> {
    users.revokeSession(this.#db, userId, deviceId);
  }

  async createChat(chat: Chat): Promise<void> {
    chats.createChat(this.#db, chat);
  }
  async getChat(chatId: string): Promise<Chat | undefined> {
    return chats.getChat(this.#db, chatId);
  }
  async claimDirectChat(userA: string, userB: string, chatId: string): Promise<string> {
    return chats.claimDirectChat(this.#db, userA, userB, chatId);
  }

  async applyMembership(change: MembershipChange): Promise<void> {
    chats.applyMembership(this.#db, change);
  }
  async getMember(chatId: string, userId: string): Promise<Member | undefined> {
    return chats.getMember(this.#db, chatId, userId);
  }
  async listMembers(chatId: string): Promise<Member[]> {
    return chats.listMembers(this.#db, chatId);
  }
  async listChatIdsForUser(userId: string): Promise<string[]> {
    return chats.listChatIdsForUser(this.#db, userId);
  }

  async appendEvents(list: ChatEvent[]): Promise<void> {
    events.appendEvents(this.#db, list);
  }
  async getEvents(chatId: string, query: EventPageQuery): Promise<ChatEvent[]> {
    return events.getEvents(this.#db, chatId, query);
  }
  async countUnread(chatId: string, userId: string, afterN: number, cap: number): Promise<UnreadCount> {
    return events.countUnread(this.#db, chatId, userId, afterN, cap);
  }
  async findClientMsg(chatId: string, userId: string, clientMsgId: string): Promise<ClientMsgRef | undefined> {
    return events.findClientMsg(this.#db, chatId, userId, clientMsgId);
  }

  async advanceChatHead(head: ChatHead): Promise<void> {
    heads.advanceChatHead(this.#db, head);
  }
  async getChatHead(chatId: string): Promise<ChatHead | undefined> {
    return heads.getChatHead(this.#db, chatId);
  }
  async getChatHeads(chatIds: string[]): Promise<ChatHead[]> {
    return heads.getChatHeads(this.#db, chatIds);
  }

  async advanceReadState(state: ReadState): Promise<void> {
    heads.advanceReadState(this.#db, state);
  }
  async getReadState(chatId: string, userId: string): Promise<ReadState | undefined> {
    return heads.getReadState(this.#db, chatId, userId);
  }
  async listReadStates(chatId: string): Promise<ReadState[]> {
    return heads.listReadStates(this.#db, chatId);
  }

  async putChatRequest(request: ChatRequest): Promise<void> {
    relations.putChatRequest(this.#db, request);
  }
  async getChatRequest(userId: string, chatId: string): Promise<ChatRequest | undefined> {
    return relations.getChatRequest(this.#db, userId, chatId);
  }
  async listChatRequests(userId: string): Promise<ChatRequest[]> {
    return relations.listChatRequests(this.#db, userId);
  }
  async listChatRequestsOfChat(chatId: string): Promise<ChatRequest[]> {
    return relations.listChatRequestsOfChat(this.#db, chatId);
  }
  async putBlock(block: Block): Promise<void> {
    relations.putBlock(this.#db, block);
  }
  async getBlock(userId: string, blockedId: string): Promise<Block | undefined> {
    return relations.getBlock(this.#db, userId, blockedId);
  }
  async listBlocked(userId: string): Promise<Block[]> {
    return relations.listBlocked(this.#db, userId);
  }
  async listBlockedBy(userId: string): Promise<Block[]> {
    return relations.listBlockedBy(this.#db, userId);
  }

  /** One transaction, run synchronously: one commit for a history batch instead of one per chat. */
  async writeAll(writes: readonly StoreWrite[]): Promise<void> {
    if (writes.length === 0) return;
    this.#db.tx(() => {
      for (const w of writes) applyWrite(this.#writes, w);
    });
  }
}
