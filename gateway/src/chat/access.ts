import { setNewest } from "@natter/collections";
import { NatterError } from "@natter/protocol";
import type { ChatRequest, Member, Store } from "@natter/store";

/** Direct chats whose pair is remembered (their membership never changes). */
const DIRECT_MAX = 50_000;

/**
 * Has the user accepted the chat? No request row (a chat they made, or were brought into
 * by someone they already talk to) or an accepted one. A `pending` or `declined` row: not
 * (yet). The one rule of message requests, used by this module and by `Contacts`.
 */
export function accepted(request: ChatRequest | undefined): boolean {
  return request === undefined || request.state === "accepted";
}

/**
 * Who may do what in a chat, from the store's membership rows: the one check every path
 * uses (HTTP routes, socket frames, receipts and typing), and the one rule for what an
 * outsider is told. Someone who was never a member gets `not_found` whether the chat
 * exists or not, so nobody learns that two users have a direct chat, or that a group id
 * is real. A former member, who knows the chat exists, gets `forbidden`.
 *
 * Message requests and blocks sit beside membership (`docs/protocol.md`, "Message
 * requests"): a member whose request is not accepted reads the chat but gives nothing
 * away (`speaks`), and in a direct chat a block either way, or the peer's decline,
 * refuses sends (`checkSend`).
 */
export class ChatAccess {
  readonly #store: Pick<Store, "getMember" | "getChat" | "listMembers" | "getChatRequest" | "getBlock">;
  /** A direct chat's two members by chat id: a direct chat's membership never changes. */
  readonly #pairs = new Map<string, readonly [string, string]>();

  constructor(store: Pick<Store, "getMember" | "getChat" | "listMembers" | "getChatRequest" | "getBlock">) {
    this.#store = store;
  }

  /** The caller's active membership; else `notMember`'s answer. */
  async requireMember(me: string, chatId: string): Promise<Member> {
    const member = await this.#store.getMember(chatId, me);
    if (member?.active) return member;
    throw refusal(member);
  }

  /**
   * The caller's membership row, active or not (a removed member reads up to their
   * removal); `not_found` for someone who was never a member.
   */
  async requireMemberRow(me: string, chatId: string): Promise<Member> {
    const member = await this.#store.getMember(chatId, me);
    if (member) return member;
    throw refusal(member);
  }

  /** Why `me`, not an active member, gets nothing: `forbidden` for a former member, else `not_found`. */
  async notMember(me: string, chatId: string): Promise<NatterError> {
    return refusal(await this.#store.getMember(chatId, me));
  }

  /** Does either of the two block the other? */
  async blockedEitherWay(a: string, b: string): Promise<boolean> {
    const [ab, ba] = await Promise.all([this.#store.getBlock(a, b), this.#store.getBlock(b, a)]);
    return ab?.blocked === true || ba?.blocked === true;
  }

  /** My request row in the chat, if I was ever asked. */
  requestOf(me: string, chatId: string): Promise<ChatRequest | undefined> {
    return this.#store.getChatRequest(me, chatId);
  }

  /**
   * May `me`'s typing and receipts reach the chat's other members? Only once `me` has
   * accepted the chat, and in a direct chat only while neither blocks the other: a
   * stranger who opened a chat learns nothing from its recipient until they answer.
   */
  async speaks(me: string, chatId: string): Promise<boolean> {
    const [request, peer] = await Promise.all([this.#store.getChatRequest(me, chatId), this.peerOf(me, chatId)]);
    if (!accepted(request)) return false;
    return peer === undefined || !(await this.blockedEitherWay(me, peer));
  }

  /**
   * Before `me` sends in a chat: in a direct chat, a block either way or the peer's
   * decline refuses it (`forbidden`, nothing published). Returns `me`'s own request row,
   * so that the send can accept it (replying accepts). Membership itself is the
   * sequencer's check; a non-member is not refused here, so this says nothing about
   * chats the caller is not in.
   */
  async checkSend(me: string, chatId: string): Promise<ChatRequest | undefined> {
    const [mine, peer] = await Promise.all([this.#store.getChatRequest(me, chatId), this.peerOf(me, chatId)]);
    if (peer === undefined) return mine;
    const [blocked, theirs] = await Promise.all([
      this.blockedEitherWay(me, peer),
      this.#store.getChatRequest(peer, chatId),
    ]);
    if (blocked) throw new NatterError("forbidden", "messages between you and this user are blocked");
    if (theirs?.state === "declined") throw new NatterError("forbidden", "this user declined the chat");
    return mine;
  }

  /**
   * The other member of a direct chat `me` is in; undefined for a group, an unknown chat,
   * or a direct chat of others.
   */
  async peerOf(me: string, chatId: string): Promise<string | undefined> {
    let pair = this.#pairs.get(chatId);
    if (!pair) {
      const chat = await this.#store.getChat(chatId);
      if (chat?.kind !== "direct") return undefined;
      const members = (await this.#store.listMembers(chatId)).map((m) => m.userId);
      if (members.length !== 2) return undefined;
      pair = [members[0]!, members[1]!];
      setNewest(this.#pairs, chatId, pair, DIRECT_MAX);
    }
    if (pair[0] === me) return pair[1];
    if (pair[1] === me) return pair[0];
    return undefined;
  }
}

function refusal(member: Member | undefined): NatterError {
  return member
    ? new NatterError("forbidden", "no longer a member of this chat")
    : new NatterError("not_found", "no such chat");
}
