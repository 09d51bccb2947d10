import type { ChatEvent, ChatKind, ErasedEvent, MemberRole } from "@natter/protocol";

/** Events per history partition: `bucket = floor((n - 1) / BUCKET_SIZE)`, so partitions stay bounded. */
export const BUCKET_SIZE = 10_000;
export function bucketOf(n: number): number {
  return Math.floor((n - 1) / BUCKET_SIZE);
}

export interface User {
  userId: string;
  /** Normalized (lowercase) handle, unique. */
  handle: string;
  displayName: string;
  /** scrypt hash in the gateway's own encoding; the store treats it as opaque. */
  passwordHash: string;
  createdAt: number;
  /**
   * True once an operator disabled the account (`setUserDisabled`): it may not log in.
   * Absent for an enabled one, so a user written before the field existed reads the same.
   */
  disabled?: boolean;
}

/** `findUsers`: handles that start with `prefix`, in handle order, after `after`, at most `limit`. */
export interface UserQuery {
  /** A normalized (lowercase) handle prefix, at least one character. */
  prefix: string;
  /** Only handles after this one (the last of the previous page). */
  after?: string;
  /** 1..100 */
  limit: number;
}

/** Most users one `findUsers` call returns. */
export const MAX_USER_PAGE = 100;

export interface DeviceSession {
  userId: string;
  deviceId: string;
  deviceName: string;
  createdAt: number;
  expiresAt: number;
  /** Set once logged out; a revoked session never authenticates again. */
  revoked: boolean;
}

export interface Chat {
  chatId: string;
  kind: ChatKind;
  title?: string;
  createdBy: string;
  createdAt: number;
}

/** A membership row as projected from the log. `active` false once removed. */
export interface Member {
  chatId: string;
  userId: string;
  role: MemberRole;
  /** `n` of the event that (last) added the user. */
  joinedN: number;
  active: boolean;
  /** `n` of the last membership event applied to this row (projection guard). */
  changedN: number;
}

/** Each chat's head, projected from the log: only moves forward (guarded by `lastN`). */
export interface ChatHead {
  chatId: string;
  lastN: number;
  lastSeq: number;
  lastActivity: number;
  /** Preview of the last message, if the last message event had a body. */
  preview?: string;
  previewFrom?: string;
}

/** Per (chat, user) pointers that only go forward. */
export interface ReadState {
  chatId: string;
  userId: string;
  deliveredN: number;
  readN: number;
}

/**
 * The client-message index's key of an edit with client id `id` (`findClientMsg`): `~` is
 * in no client id, so an edit's key never meets a message's.
 */
export function editClientKey(id: string): string {
  return `~edit:${id}`;
}

/** The client-message index's key of an event (a message's id, an edit's `editClientKey`); none for other kinds. */
export function clientKeyOf(e: ChatEvent): string | undefined {
  if (e.kind === "message.created") return e.id;
  if (e.kind === "message.edited") return editClientKey(e.id);
  return undefined;
}

/** Where an earlier client message (or edit) landed, for retries after the JetStream dedup window. */
export interface ClientMsgRef {
  n: number;
  seq: number;
  ts: number;
}

export interface UnreadCount {
  /** Unread events after the pointer (`countsAsUnread`: messages from others), at most the cap asked for. */
  count: number;
  /** The highest n stored for the chat (0 for none). */
  storedN: number;
}

export interface EventPageQuery {
  /** Events with n > afterN (ascending from there). */
  afterN?: number;
  /** Events with n < beforeN (the newest ones below it). */
  beforeN?: number;
  /** Lowest n the reader may see (their joinedN); nothing below is returned. */
  minN?: number;
  /** Highest n the reader may see (for a removed member); nothing above is returned. */
  maxN?: number;
  /** 1..1000 */
  limit: number;
}

/** A membership change from event `n` (see `Store.applyMembership`). */
export interface MembershipChange {
  chatId: string;
  userId: string;
  role: MemberRole;
  active: boolean;
  n: number;
}

/**
 * Where a user stands in a chat that someone they shared no accepted chat with brought
 * them into (a direct chat they opened, a group they were added to): `pending` until the
 * user answers, then `accepted` or `declined`. No row means accepted: chats a user made
 * themselves, or was brought into by someone they already talk to, are never requests.
 */
export type RequestState = "pending" | "accepted" | "declined";

export interface ChatRequest {
  /** The user asked. */
  userId: string;
  chatId: string;
  /** Who opened the chat or added the user. */
  from: string;
  /** When the request was made (ms). */
  at: number;
  state: RequestState;
}

/** `userId` blocks `blockedId` while `blocked`; an unblock writes `blocked: false` (no delete, no tombstone). */
export interface Block {
  userId: string;
  blockedId: string;
  blocked: boolean;
  /** When it last changed (ms). */
  at: number;
}

/**
 * One user's reaction with one emoji to one message, as the log last set it (v1.1):
 * `active` after a `reaction.added`, not after a `reaction.removed`; `n` is that event's.
 * What makes adds idempotent and bounds them (the gateway reads it before publishing).
 */
export interface Reaction {
  chatId: string;
  /** The `n` of the message. */
  target: number;
  userId: string;
  emoji: string;
  /** The `n` of the last reaction event of this (user, message, emoji) applied. */
  n: number;
  active: boolean;
}

/** One write of a batch (`BatchWrites.writeAll`): the write methods of the contract as data. */
export type StoreWrite =
  | { op: "appendEvents"; events: ChatEvent[] }
  | { op: "eraseMessage"; erased: ErasedEvent }
  | { op: "applyReaction"; reaction: Reaction }
  | { op: "createChat"; chat: Chat }
  | { op: "applyMembership"; change: MembershipChange }
  | { op: "advanceChatHead"; head: ChatHead }
  | { op: "advanceReadState"; state: ReadState };

/*
 * The contract is composed of small interfaces, one per kind of data, so a caller can
 * depend on just the part it uses. Every write is idempotent: the history consumer
 * re-applies events after a restart, and the gateway applies membership right after its
 * publish so its own reads see it. Writes keyed by `n` (events, membership, heads) apply
 * only when they move state forward, so applying the same or an older event again
 * changes nothing.
 */

/** Users (handles unique) and their device sessions. */
export interface UserStore {
  /** Creates a user; returns false (and writes nothing) if the handle is taken. */
  createUser(user: User): Promise<boolean>;
  getUser(userId: string): Promise<User | undefined>;
  getUserByHandle(handle: string): Promise<User | undefined>;

  createSession(session: DeviceSession): Promise<void>;
  getSession(userId: string, deviceId: string): Promise<DeviceSession | undefined>;
  revokeSession(userId: string, deviceId: string): Promise<void>;
  /** Every device session of the user (revoked and expired ones too), in no set order. */
  listSessions(userId: string): Promise<DeviceSession[]>;
  /** Replaces the user's password hash (nothing for an unknown user). */
  setPasswordHash(userId: string, passwordHash: string): Promise<void>;
  /**
   * Users whose handle starts with `query.prefix`, ascending by handle, after `query.after`,
   * at most `query.limit` (capped at `MAX_USER_PAGE`): the operators' search.
   */
  findUsers(query: UserQuery): Promise<User[]>;
  /** Disables (true) or enables (false) an account; idempotent. False for an unknown user (nothing written). */
  setUserDisabled(userId: string, disabled: boolean): Promise<boolean>;
}

/** Chat rows, direct-chat claims and membership, projected from the log. */
export interface ChatStore {
  /** Creates the chat row if absent (idempotent). */
  createChat(chat: Chat): Promise<void>;
  getChat(chatId: string): Promise<Chat | undefined>;
  /**
   * The direct chat of a pair is unique: returns the chat id already claimed for the
   * pair (in either order), or claims `chatId` for it and returns `chatId`.
   */
  claimDirectChat(userA: string, userB: string, chatId: string): Promise<string>;

  /** Applies a membership change from event `n`; ignored unless `n` > the row's changedN. */
  applyMembership(change: MembershipChange): Promise<void>;
  /** The membership row (active or not), if the user was ever a member. */
  getMember(chatId: string, userId: string): Promise<Member | undefined>;
  /** Active members of a chat. */
  listMembers(chatId: string): Promise<Member[]>;
  /** Ids of the chats where the user is an active member. */
  listChatIdsForUser(userId: string): Promise<string[]>;
}

/** The chat log as history: events by (chat, n), client message ids, unread counts, each chat's head. */
export interface EventStore {
  /** Stores events; the same (chat, n) again is a no-op. Also records client message ids. */
  appendEvents(events: ChatEvent[]): Promise<void>;
  /**
   * Replaces message `(erased.chat, erased.n)` with `erased`, its deleted form (`deleted`,
   * no body: `erasedMessage` in protocol), whether or not the original was stored yet; an
   * `appendEvents` of the original afterwards (a redelivery) never brings the body back.
   * The chat head's preview goes too when it was this message's or an older one's (the
   * chat list has no preview until the next message; neither the original nor an older
   * message, applied late, becomes the preview again). Idempotent.
   *
   * An erased edit (`erasedEdit`: a deleted message's `message.edited`) replaces its row
   * the same way; it drops the preview only when the edit had set it (`latest`), since an
   * edit of an older message never was the preview.
   */
  eraseMessage(erased: ErasedEvent): Promise<void>;
  /** Events of one chat, ascending by n, honouring the page query. */
  getEvents(chatId: string, query: EventPageQuery): Promise<ChatEvent[]>;
  /**
   * Unread events for `userId`: events of the chat with n > `afterN` that `countsAsUnread`
   * (`@natter/protocol`: messages whose `from` is not the user), counted up to `cap`
   * (counting stops there). `storedN` is the highest n the store
   * holds for the chat (0 for none), so a caller can count the events the history consumer
   * has not written yet from the stream.
   */
  countUnread(chatId: string, userId: string, afterN: number, cap: number): Promise<UnreadCount>;
  /** Where a client message landed, if it is in history; an edit's under `editClientKey(id)`. */
  findClientMsg(chatId: string, userId: string, clientMsgId: string): Promise<ClientMsgRef | undefined>;

  /** Moves the chat head forward; ignored unless `head.lastN` > the stored lastN. */
  advanceChatHead(head: ChatHead): Promise<void>;
  getChatHead(chatId: string): Promise<ChatHead | undefined>;
  getChatHeads(chatIds: string[]): Promise<ChatHead[]>;
}

/** Reactions by (chat, message, user, emoji), projected from the log (`reaction.*` events). */
export interface ReactionStore {
  /** Writes the row; ignored unless `reaction.n` > the stored row's n. */
  applyReaction(reaction: Reaction): Promise<void>;
  getReaction(chatId: string, target: number, userId: string, emoji: string): Promise<Reaction | undefined>;
  /** The active reactions to message `target`, ascending by n. */
  listReactions(chatId: string, target: number): Promise<Reaction[]>;
}

/** Per (chat, user) delivered and read pointers. */
export interface ReadStateStore {
  /** Moves pointers forward (each field independently; never backwards). */
  advanceReadState(state: ReadState): Promise<void>;
  getReadState(chatId: string, userId: string): Promise<ReadState | undefined>;
  listReadStates(chatId: string): Promise<ReadState[]>;
}

/**
 * Message requests and blocks: per-user state beside membership (who is a member stays
 * the log's business). Both are whole-row writes where the last write wins; a state
 * changes by writing the row again, never by deleting it.
 */
export interface RelationStore {
  /** Writes the request row of (userId, chatId), replacing any earlier one. */
  putChatRequest(request: ChatRequest): Promise<void>;
  getChatRequest(userId: string, chatId: string): Promise<ChatRequest | undefined>;
  /** Every request row of the user, any state, in no set order. */
  listChatRequests(userId: string): Promise<ChatRequest[]>;
  /** Every request row of the chat, any state, in no set order. */
  listChatRequestsOfChat(chatId: string): Promise<ChatRequest[]>;

  /** Writes the block row of (userId, blockedId), replacing any earlier one. */
  putBlock(block: Block): Promise<void>;
  getBlock(userId: string, blockedId: string): Promise<Block | undefined>;
  /** The users `userId` blocks now (`blocked` true only). */
  listBlocked(userId: string): Promise<Block[]>;
  /** The users who block `userId` now (`blocked` true only). */
  listBlockedBy(userId: string): Promise<Block[]>;
}

/** Many writes in one call: what a history batch, a projection or a flush of read marks uses. */
export interface BatchWrites {
  /**
   * Applies `writes` with the same effect as calling the methods one by one in order.
   * SQLite does it in one synchronous transaction (one commit, and no other call can run
   * in between). A backend without transactions keeps `writeOneByOne`'s order (`writes.ts`):
   * each chat's writes in order, different chats concurrently (Cassandra: `cassandra/writes.ts`).
   */
  writeAll(writes: readonly StoreWrite[]): Promise<void>;
}

/**
 * A browser's Web Push subscription (v1.1 push), bound to the device session that made it:
 * the push consumer sends to it only while that session is live, so a logout or a
 * revocation ends it wherever it happened.
 */
export interface PushSubscriptionRow {
  userId: string;
  subscriptionId: string;
  deviceId: string;
  /** The push service URL the browser gave (`PushSubscription.endpoint`). */
  endpoint: string;
  /** The browser's P-256 public key and auth secret, base64url (RFC 8291). */
  p256dh: string;
  auth: string;
  createdAt: number;
}

/** `mutedUntil` of a chat muted for good (a time no clock reaches; fits Cassandra's bigint). */
export const MUTED_FOREVER = Number.MAX_SAFE_INTEGER;

/** A user's settings of one chat (v1.1): muted until a time (ms), 0 for not muted. */
export interface ChatSettings {
  chatId: string;
  userId: string;
  mutedUntil: number;
}

/** Push subscriptions and per-chat settings: per-user rows the push consumer reads. */
export interface PushStore {
  /** Writes the subscription, replacing one with the same (userId, subscriptionId). */
  putPushSubscription(sub: PushSubscriptionRow): Promise<void>;
  /** The user's subscriptions, in no set order. */
  listPushSubscriptions(userId: string): Promise<PushSubscriptionRow[]>;
  /** Removes it; a missing one is no error (a repeat, or the push consumer got there first). */
  deletePushSubscription(userId: string, subscriptionId: string): Promise<void>;
  /** Writes the user's settings of the chat, replacing earlier ones (last write wins). */
  putChatSettings(settings: ChatSettings): Promise<void>;
  getChatSettings(chatId: string, userId: string): Promise<ChatSettings | undefined>;
}

/**
 * Natter's storage contract: the small interfaces above plus the lifecycle.
 * Implementations: Cassandra (production) and SQLite (`node:sqlite`, the embedded
 * default). `contract.ts` is the one test suite both pass.
 */
export interface Store
  extends UserStore, ChatStore, EventStore, ReactionStore, ReadStateStore, RelationStore, PushStore, BatchWrites {
  readonly backend: "cassandra" | "sqlite";
  /** Creates tables idempotently. */
  migrate(): Promise<void>;
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
