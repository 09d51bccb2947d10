/**
 * The one place where Natter names things on NATS: streams, subjects, consumers, headers.
 * `subjects.md` at the repository root documents every entry here for people tailing
 * with the `nats` CLI; change both together.
 */

import { HUB_SITE, homeOf, isId, isSiteName } from "@natter/protocol";

export { ID_PATTERN } from "@natter/protocol";

/** True when `id` is safe as one NATS subject token: a protocol id (`isId`). */
export const isSafeId: (id: unknown) => id is string = isId;

function token(id: string, what: string): string {
  if (!isSafeId(id)) throw new TypeError(`${what} ${JSON.stringify(id)} is not a safe subject token`);
  return id;
}

/** The durable chat log: one subject per chat, the stream sequence is the global order. */
export const CHAT_STREAM = "CHATS";
/** Subjects of the chat stream: `chat.<chatId>.msg`. */
export const CHAT_STREAM_SUBJECTS = ["chat.*.msg"];
export function chatSubject(chatId: string): string {
  return `chat.${token(chatId, "chatId")}.msg`;
}
/** The chat id in a `chat.<chatId>.msg` subject, or undefined for anything else. */
export function chatIdFromSubject(subject: string): string | undefined {
  const parts = subject.split(".");
  return parts.length === 3 && parts[0] === "chat" && parts[2] === "msg" ? parts[1] : undefined;
}

/** Core NATS, not stored: every event of every chat a user is in, for the gateways holding that user. */
export function userInboxSubject(userId: string): string {
  return `user.${token(userId, "userId")}.inbox`;
}

/**
 * Core NATS, not stored: ephemeral signals for a user's devices (`typing` and `receipt`
 * frames, as JSON). Gateways subscribe to it alongside the inbox, so it follows the same
 * interest routing.
 */
export function userSignalSubject(userId: string): string {
  return `user.${token(userId, "userId")}.signal`;
}

/**
 * Core NATS, not stored: "these device sessions of the user are revoked" (logout, a
 * password change, an admin). It rides the user's `user.<userId>.*` subscription, so
 * interest routing carries it to exactly the gateways holding a socket of that user, all
 * of them at once, and they close those sockets (4001).
 */
export function userSessionSubject(userId: string): string {
  return `user.${token(userId, "userId")}.session`;
}

/**
 * Core NATS, not stored: "whom this user may see changed" (a block, an unblock, an
 * accepted or declined message request, a removal from a shared chat). It rides the
 * user's `user.<userId>.*` subscription; each gateway holding a socket of the user
 * forgets the user's cached contacts and re-checks that user's presence watches. Empty
 * payload: the subject says whose.
 */
export function userContactsSubject(userId: string): string {
  return `user.${token(userId, "userId")}.contacts`;
}

/**
 * `user.<userId>.*`: what a gateway subscribes to for a user, inbox and signals in one
 * subscription (one interest per user on the server, one SUB and UNSUB per connect).
 */
export function userSubjects(userId: string): string {
  return `user.${token(userId, "userId")}.*`;
}

/**
 * Core NATS, not stored: a user's presence changes (`{type:"presence", user, online,
 * lastSeen}`). A gateway subscribes only while one of its sockets watches the user.
 */
export function presenceSubject(userId: string): string {
  return `presence.${token(userId, "userId")}`;
}

/**
 * The presence KV bucket (stream `KV_PRESENCE`). Keys:
 * - `lease.<gatewayId>`: a gateway's heartbeat, written with a per-message TTL
 *   (`Nats-TTL`); when it lapses the server leaves a delete marker that watchers see.
 * - `gateway.<gatewayId>`: a gateway that may hold connections (no TTL); removed after a sweep.
 * - `conn.<userId>.<gatewayId>`: the user has at least one device on that gateway (no TTL;
 *   valid only while the gateway's lease lives). Value `{since}`.
 * - `seen.<userId>`: last seen, ms since the epoch (no TTL). Value `{lastSeen}`.
 */
export const PRESENCE_BUCKET = "PRESENCE";
export const PRESENCE_KEYS = {
  lease: (gatewayId: string) => `lease.${token(gatewayId, "gatewayId")}`,
  gateway: (gatewayId: string) => `gateway.${token(gatewayId, "gatewayId")}`,
  conn: (userId: string, gatewayId: string) => `conn.${token(userId, "userId")}.${token(gatewayId, "gatewayId")}`,
  /** Every gateway's connection key of a user (a KV key filter). */
  connsOf: (userId: string) => `conn.${token(userId, "userId")}.*`,
  /** Every user's connection key on a gateway (a KV key filter). */
  connsOn: (gatewayId: string) => `conn.*.${token(gatewayId, "gatewayId")}`,
  seen: (userId: string) => `seen.${token(userId, "userId")}`,
} as const;
/** The subject under which the KV stores `key` (for direct gets). */
export function presenceKeySubject(key: string): string {
  return `$KV.${PRESENCE_BUCKET}.${key}`;
}

/**
 * The push consumer's cursors (v1.1): a KV bucket (stream `KV_PUSH`) with one key per chat,
 * `chat.<chatId>`, whose value `{n}` is the last `n` a notification window of that chat
 * covered. The next window starts at the first message after it, so windows are cut from
 * the log, the same whatever batches the messages came in, before or after a crash.
 */
export const PUSH_BUCKET = "PUSH";
export const PUSH_KEYS = {
  cursor: (chatId: string) => `chat.${token(chatId, "chatId")}`,
} as const;

/** Durable consumers on the chat stream. */
export const CONSUMERS = {
  /** Writes events, membership and chat heads to the store; acks after the write. */
  history: "history",
  /** Publishes each event to its members' inboxes. */
  fanout: "fanout",
  /** Notifies members with no connected device. */
  push: "push",
} as const;

/** Header names Natter sets or reads. */
export const HEADERS = {
  /** JetStream dedup id, scoped `<chatId>:<userId>:<clientMsgId>` so ids of different senders or chats never collide. */
  msgId: "Nats-Msg-Id",
  /** The stream sequence of the chat's previous event: JetStream accepts exactly one event per position. */
  expectedLastSubjectSequence: "Nats-Expected-Last-Subject-Sequence",
  /** The event's dense per-chat number, duplicated from the payload so `nats sub --headers-only` shows it. */
  n: "Natter-N",
  /** The event kind, duplicated from the payload for the same reason. */
  kind: "Natter-Kind",
  /** Atomic batch (group commit): the batch's id, each message's 1-based place in it, and "1" on the last. */
  batchId: "Nats-Batch-Id",
  batchSequence: "Nats-Batch-Sequence",
  batchCommit: "Nats-Batch-Commit",
} as const;

/** The JetStream dedup id of a client message. */
export function msgId(chatId: string, userId: string, clientMsgId: string): string {
  return `${chatId}:${userId}:${clientMsgId}`;
}

/**
 * The JetStream dedup id of the delete of message `target`: one per target, whoever asks
 * (`~` is in no user id, so it never meets a client message's id), so two deletes of one
 * message racing inside the dedup window append one `message.deleted`.
 */
export function deleteMsgId(chatId: string, target: number): string {
  return `${chatId}:~delete:${target}`;
}

/**
 * The JetStream dedup id of `userId`'s edit with client id `editId` (v1.1): a retry of the
 * same edit inside the dedup window appends nothing. `~` is in no client id, so it never
 * meets a message's id.
 */
export function editMsgId(chatId: string, userId: string, editId: string): string {
  return `${chatId}:${userId}:~edit:${editId}`;
}

/**
 * The JetStream dedup id of `userId` adding (`+`) or removing (`-`) `emoji` on message
 * `target`, at `version`: the `n` of the last reaction event of that (user, message,
 * emoji), 0 for none (the store's reactions row). Two gateways adding the same reaction at
 * once read the same version, so the stream keeps one event and the second gets the
 * first's answer; the next add after a removal has a new version. The emoji goes in hex
 * (a header value stays ASCII).
 */
export function reactionMsgId(
  chatId: string,
  userId: string,
  target: number,
  emoji: string,
  op: "+" | "-",
  version: number,
): string {
  return `${chatId}:${userId}:~react:${target}:${Buffer.from(emoji, "utf8").toString("hex")}:${op}${version}`;
}

export interface ChatStreamOptions {
  /** Replicas: 1 for a single node, 3 on the cluster. */
  replicas: number;
  /** How long the stream keeps events (ms); older ones live in the history store only. */
  maxAgeMs: number;
  /** Dedup window for `Nats-Msg-Id` (ms). */
  duplicateWindowMs: number;
}

/** The chat stream's configuration, as passed to `jsm.streams.add` / `update`. */
export function chatStreamConfig(opts: ChatStreamOptions) {
  return {
    name: CHAT_STREAM,
    subjects: CHAT_STREAM_SUBJECTS,
    retention: "limits" as const,
    storage: "file" as const,
    discard: "old" as const,
    num_replicas: opts.replicas,
    max_age: opts.maxAgeMs * 1_000_000,
    duplicate_window: opts.duplicateWindowMs * 1_000_000,
    allow_direct: true,
    // Atomic batches (server 2.12+): a gateway publishes a chat's queued sends as one batch.
    allow_atomic: true,
    max_msg_size: 64 * 1024,
  };
}

/*
 * Edge sites (README "Edge sites", ARCHITECTURE.md "Edge sites"). Each site's nats-server is
 * a leaf node of the hub with its own JetStream domain (`NATTER_SITE`); the hub's domain is
 * `HUB_SITE`. Every domain sequences the chats homed there in its own `CHATS` (subjects
 * `chat.*.msg`, never carried over a leaf link: `nats/leaf.conf` denies `chat.>` both ways and
 * the `leaf` identity is not allowed it), and holds a read-only copy of the chats homed
 * elsewhere that its users are in, in one more stream:
 */

/** At a site: a mirror of the hub's `CHATS` (the hub's sequence numbers, read-only). */
export const HUB_COPY_STREAM = "CHATS_HUB";
/** At the hub: every site's `CHATS`, sourced (hub sequence numbers; per-chat order kept, since one chat comes from one source). */
export const SITES_COPY_STREAM = "CHATS_EDGE";

/** The JetStream API prefix of another domain, reached over the leaf link. */
export function jsApiPrefix(domain: string): string {
  if (!isSiteName(domain)) throw new TypeError(`domain ${JSON.stringify(domain)} is not a site name`);
  return `$JS.${domain}.API`;
}

/**
 * Where the stream holding `chatId`'s events is at a process of site `here` (undefined: no
 * sites, the one `CHATS`): `CHATS` for the chats homed here, the copy stream for chats homed
 * where this domain copies from (the hub at a site, every site at the hub), undefined for a
 * chat this domain does not hold (another site's: its users are all there).
 */
export function chatStreamAt(here: string | undefined, chatId: string): string | undefined {
  if (here === undefined) return CHAT_STREAM;
  const home = homeOf(chatId);
  if (home === here) return CHAT_STREAM;
  if (here === HUB_SITE) return SITES_COPY_STREAM;
  return home === HUB_SITE ? HUB_COPY_STREAM : undefined;
}

/** The copy stream of a site's domain: `CHATS_HUB` at a site, `CHATS_EDGE` at the hub. */
export function copyStreamAt(here: string): string {
  return here === HUB_SITE ? SITES_COPY_STREAM : HUB_COPY_STREAM;
}

/**
 * Core NATS request/reply, not stored: chat operations a gateway forwards to a gateway of
 * the chat's home (a send to a chat homed elsewhere, opening a chat homed elsewhere, a
 * user's directory entry). Home gateways answer in queue group `EDGE_CALL_QUEUE`; during a
 * leaf outage there is no responder and the caller answers `home_unreachable` at once.
 */
export function edgeCallSubject(site: string): string {
  if (!isSiteName(site)) throw new TypeError(`site ${JSON.stringify(site)} is not a site name`);
  return `edge.${site}.call`;
}
export const EDGE_CALL_QUEUE = "gateways";

type CopyOptions = Pick<ChatStreamOptions, "replicas" | "maxAgeMs">;

/** `CHATS_HUB` at a site: a mirror of the hub's `CHATS`, kept as long as the hub keeps it. */
export function hubCopyStreamConfig(opts: CopyOptions) {
  return {
    name: HUB_COPY_STREAM,
    retention: "limits" as const,
    storage: "file" as const,
    discard: "old" as const,
    num_replicas: opts.replicas,
    max_age: opts.maxAgeMs * 1_000_000,
    allow_direct: true,
    mirror: { name: CHAT_STREAM, external: { api: jsApiPrefix(HUB_SITE), deliver: "" } },
  };
}

/** `CHATS_EDGE` at the hub: the `CHATS` of every site in `sites`, sourced over their leaf links. */
export function sitesCopyStreamConfig(sites: readonly string[], opts: CopyOptions) {
  return {
    name: SITES_COPY_STREAM,
    retention: "limits" as const,
    storage: "file" as const,
    discard: "old" as const,
    num_replicas: opts.replicas,
    max_age: opts.maxAgeMs * 1_000_000,
    allow_direct: true,
    sources: sites.map((s) => ({ name: CHAT_STREAM, external: { api: jsApiPrefix(s), deliver: "" } })),
  };
}

/**
 * Attachments: one NATS Object Store bucket per deployment (stream `OBJ_ATTACHMENTS`, the
 * layout of `@nats-io/obj` and `nats object`): each upload is an object named by its
 * attachment id, its bytes in chunks on `$O.ATTACHMENTS.C.<nuid>` and its description (the
 * object info, with Natter's fields in `metadata`) on `$O.ATTACHMENTS.M.<base64url(id)>`,
 * one message per object kept by rollup.
 */
export const ATTACHMENT_BUCKET = "ATTACHMENTS";
export const ATTACHMENT_STREAM = `OBJ_${ATTACHMENT_BUCKET}`;
/** Every subject of the bucket's stream. */
export const ATTACHMENT_SUBJECTS = `$O.${ATTACHMENT_BUCKET}.>`;
/** Every object's description (`multi_last` of these lists the bucket). */
export const ATTACHMENT_META_SUBJECTS = `$O.${ATTACHMENT_BUCKET}.M.>`;
/**
 * Chunk size: the object store's default (128 KiB). It must stay under the server's
 * `max_payload` (1 MiB by default); smaller chunks cost more PubAcks per upload, larger ones
 * more memory per read.
 */
export const ATTACHMENT_CHUNK_BYTES = 128 * 1024;

/** The subject of an attachment's description: the object store encodes names as padded base64url. */
export function attachmentMetaSubject(attachmentId: string): string {
  const name = Buffer.from(token(attachmentId, "attachmentId"), "utf8").toString("base64url");
  return `$O.${ATTACHMENT_BUCKET}.M.${name}${"=".repeat((4 - (name.length % 4)) % 4)}`;
}
/** The subject of an object's chunks (`nuid` from its description). */
export function attachmentChunkSubject(nuid: string): string {
  if (!/^[A-Za-z0-9]{1,64}$/.test(nuid))
    throw new TypeError(`nuid ${JSON.stringify(nuid)} is not a safe subject token`);
  return `$O.${ATTACHMENT_BUCKET}.C.${nuid}`;
}

/**
 * The bucket's stream, as `@nats-io/obj` creates one (`discard: new`, rollups for the
 * descriptions, direct gets), replicated like the chat stream. No max age: an object lives
 * until a delete purges it or the sweeper purges an upload no message took.
 */
export function attachmentStreamConfig(opts: { replicas: number }) {
  return {
    name: ATTACHMENT_STREAM,
    subjects: [`$O.${ATTACHMENT_BUCKET}.C.>`, ATTACHMENT_META_SUBJECTS],
    retention: "limits" as const,
    storage: "file" as const,
    discard: "new" as const,
    num_replicas: opts.replicas,
    max_age: 0,
    allow_rollup_hdrs: true,
    allow_direct: true,
  };
}
