/**
 * Chat events: the one shape shared by the JetStream payload, history pages and live
 * delivery. `seq` is the JetStream stream sequence (global position); `n` is the dense
 * per-chat number from 1.
 */
import { type Attachment, parseAttachmentIds, parseEventAttachments } from "./attachments.ts";
import { isEmoji } from "./limits.ts";

export const EVENT_KINDS = [
  "chat.created",
  "member.added",
  "member.removed",
  "message.created",
  "message.deleted",
  "message.edited",
  "reaction.added",
  "reaction.removed",
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export type ChatKind = "direct" | "group";
export type MemberRole = "admin" | "member";

interface EventBase {
  chat: string;
  /** JetStream stream sequence. */
  seq: number;
  /** Dense per-chat number, 1, 2, 3, … */
  n: number;
  /** Milliseconds since the epoch, set by the publishing gateway. */
  ts: number;
  /** The user who caused the event. */
  from: string;
}

export interface ChatCreatedEvent extends EventBase {
  kind: "chat.created";
  chatKind: ChatKind;
  title?: string;
  /** Initial members, the creator first; the creator of a group is its admin. */
  members: string[];
}
export interface MemberAddedEvent extends EventBase {
  kind: "member.added";
  user: string;
}
export interface MemberRemovedEvent extends EventBase {
  kind: "member.removed";
  user: string;
}
export interface MessageCreatedEvent extends EventBase {
  kind: "message.created";
  /** The client's message id. */
  id: string;
  /** The text; absent once the message is deleted (`deleted`). */
  body?: string;
  /** The `n` of the earlier message of the chat this one replies to (v1.1). */
  replyTo?: number;
  /**
   * The files the message carries (v1.1), uploaded before into the same chat by the sender;
   * absent once the message is deleted (the files are purged with it). A message with
   * attachments may have an empty `body`.
   */
  attachments?: Attachment[];
  /**
   * Set once a `message.deleted` targeted this message: history, sync and gap fills return
   * it so, with no `body` (the content is erased from the stream and the store).
   */
  deleted?: true;
  /** With `deleted`: the `n` of the `message.deleted` event (an extension of v1.1). */
  deletedN?: number;
}
/** A message deleted for everyone by its author, a group admin or an operator. */
export interface MessageDeletedEvent extends EventBase {
  kind: "message.deleted";
  /** The `n` of the deleted `message.created`. */
  target: number;
  /**
   * The ids of the deleted message's attachments, copied by the gateway from the message
   * (an extension of v1.1): the history consumer purges them from the object store with
   * nothing else to read, even once the original has left the stream.
   */
  attachmentIds?: string[];
}

/**
 * The author's new body for message `target` (v1.1): an event of its own, so every device
 * and history see it in `n` order; the message's body is the newest edit's.
 */
export interface MessageEditedEvent extends EventBase {
  kind: "message.edited";
  /** The client's id of the edit (idempotency key, as a message's `id`). */
  id: string;
  /** The `n` of the edited `message.created`. */
  target: number;
  /** The new text; absent once the target is deleted (`deleted`: the edit is erased with it). */
  body?: string;
  /**
   * Set by the gateway when `target` was the chat's newest message as the edit was
   * published: the chat list's preview then shows this body (an extension of v1.1).
   */
  latest?: true;
  /** Set once the target is deleted: history returns the edit with no `body`. */
  deleted?: true;
}
/** `from` reacted to message `target` with `emoji` (v1.1). */
export interface ReactionAddedEvent extends EventBase {
  kind: "reaction.added";
  target: number;
  emoji: string;
}
/** `from` took back their `emoji` reaction to message `target` (v1.1). */
export interface ReactionRemovedEvent extends EventBase {
  kind: "reaction.removed";
  target: number;
  emoji: string;
}

export type ChatEvent =
  | ChatCreatedEvent
  | MemberAddedEvent
  | MemberRemovedEvent
  | MessageCreatedEvent
  | MessageDeletedEvent
  | MessageEditedEvent
  | ReactionAddedEvent
  | ReactionRemovedEvent;

/** What is published to JetStream: the event without `seq`, which only the stream knows. */
export type ChatEventPayload = ChatEvent extends infer E ? (E extends ChatEvent ? Omit<E, "seq"> : never) : never;

/**
 * A short preview of an event for chat lists: a message's body, or an edit's when it
 * edits the chat's newest message (`latest`). Reactions and other kinds have none.
 */
export function previewOf(event: ChatEvent): string | undefined {
  let body =
    event.kind === "message.created" || (event.kind === "message.edited" && event.latest) ? event.body : undefined;
  if (body === undefined) return undefined;
  // A message of attachments only: its files' names.
  if (body === "" && event.kind === "message.created" && event.attachments?.length) {
    body = `📎 ${event.attachments.map((a) => a.name).join(", ")}`;
  }
  return body.length > 100 ? `${body.slice(0, 99)}…` : body;
}

/**
 * A message as history returns it once deleted: the same event with `deleted: true` and no
 * `body` (nor anything else that carried content). `deletedN` is the delete event's `n`.
 */
export function erasedMessage(message: MessageCreatedEvent, deletedN: number): MessageCreatedEvent {
  const { chat, seq, n, ts, from, id } = message;
  return { chat, seq, n, ts, from, kind: "message.created", id, deleted: true, deletedN };
}

/**
 * An edit as history returns it once its target is deleted: `deleted: true` and no `body`
 * (`latest` stays: the store uses it to drop a preview the edit had set).
 */
export function erasedEdit(edit: MessageEditedEvent): MessageEditedEvent {
  const { chat, seq, n, ts, from, id, target, latest } = edit;
  return { chat, seq, n, ts, from, kind: "message.edited", id, target, ...(latest ? { latest } : {}), deleted: true };
}

/** What an erasure writes: a deleted message, or an edit of one. */
export type ErasedEvent = MessageCreatedEvent | MessageEditedEvent;

/**
 * Folds the deletes a run of events carries into the messages they target within it
 * (erased as `erasedMessage`), and into the edits of those messages (`erasedEdit`), so a
 * read that covers both never shows a body, whichever copy of the log each came from.
 * Returns the same array when nothing changes.
 */
export function foldDeletes(events: ChatEvent[]): ChatEvent[] {
  let deletes: Map<number, number> | undefined;
  for (const e of events) {
    if (e.kind === "message.deleted") (deletes ??= new Map()).set(e.target, e.n);
    // A message already erased (the store's row) takes its edits in the same run along.
    else if (e.kind === "message.created" && e.deleted) (deletes ??= new Map()).set(e.n, e.deletedN ?? 0);
  }
  if (!deletes) return events;
  return events.map((e) => {
    if (e.kind === "message.edited") return !e.deleted && deletes.has(e.target) ? erasedEdit(e) : e;
    const by = e.kind === "message.created" && !e.deleted ? deletes.get(e.n) : undefined;
    return by === undefined ? e : erasedMessage(e as MessageCreatedEvent, by);
  });
}

/**
 * Parses a JetStream payload into an event, given the stream sequence. Throws
 * `TypeError` for anything that is not a well-formed event (a poison message).
 */
export function parseEventPayload(data: unknown, seq: number): ChatEvent {
  if (typeof data !== "object" || data === null) throw new TypeError("event is not an object");
  const e = data as Record<string, unknown>;
  const str = (k: string) => {
    if (typeof e[k] !== "string" || e[k] === "") throw new TypeError(`event.${k} is not a string`);
    return e[k] as string;
  };
  const int = (k: string) => {
    if (!Number.isSafeInteger(e[k]) || (e[k] as number) < 0) throw new TypeError(`event.${k} is not an integer`);
    return e[k] as number;
  };
  const base = { chat: str("chat"), seq, n: int("n"), ts: int("ts"), from: str("from") };
  if (base.n < 1) throw new TypeError("event.n must be at least 1");
  /** The `n` of an earlier event of the chat (a target, a reply's message). */
  const earlier = (k: string) => {
    const v = e[k];
    if (!Number.isSafeInteger(v) || (v as number) < 1 || (v as number) >= base.n) {
      throw new TypeError(`event.${k} is not the n of an earlier event`);
    }
    return v as number;
  };
  switch (e.kind) {
    case "chat.created": {
      const members = e.members;
      if (!Array.isArray(members) || !members.every((m) => typeof m === "string")) {
        throw new TypeError("event.members is not a list of user ids");
      }
      const chatKind = e.chatKind;
      if (chatKind !== "direct" && chatKind !== "group") throw new TypeError("event.chatKind is invalid");
      return {
        ...base,
        kind: "chat.created",
        chatKind,
        members: members as string[],
        ...(typeof e.title === "string" ? { title: e.title } : {}),
      };
    }
    case "member.added":
    case "member.removed":
      return { ...base, kind: e.kind, user: str("user") };
    case "message.created":
      if (typeof e.body !== "string") throw new TypeError("event.body is not a string");
      return {
        ...base,
        kind: "message.created",
        id: str("id"),
        body: e.body,
        ...(e.replyTo === undefined ? {} : { replyTo: earlier("replyTo") }),
        ...withAttachments(parseEventAttachments(e.attachments)),
      };
    case "message.edited":
      if (typeof e.body !== "string") throw new TypeError("event.body is not a string");
      return {
        ...base,
        kind: "message.edited",
        id: str("id"),
        target: earlier("target"),
        body: e.body,
        ...(e.latest === true ? { latest: true as const } : {}),
      };
    case "reaction.added":
    case "reaction.removed":
      if (!isEmoji(e.emoji)) throw new TypeError("event.emoji is not an emoji");
      return { ...base, kind: e.kind, target: earlier("target"), emoji: e.emoji };
    case "message.deleted":
      if (!Number.isSafeInteger(e.target) || (e.target as number) < 1 || (e.target as number) >= base.n) {
        throw new TypeError("event.target is not the n of an earlier event");
      }
      return {
        ...base,
        kind: "message.deleted",
        target: e.target as number,
        ...(e.attachmentIds === undefined ? {} : { attachmentIds: parseAttachmentIds(e.attachmentIds) }),
      };
    default:
      throw new TypeError(`unknown event kind ${JSON.stringify(e.kind)}`);
  }
}

function withAttachments(attachments: Attachment[] | undefined): { attachments?: Attachment[] } {
  return attachments ? { attachments } : {};
}
