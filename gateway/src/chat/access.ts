import type { ChatLog } from "@natter/bus";
import { setNewest } from "@natter/collections";
import { isUnavailable, NatterError } from "@natter/protocol";
import type { ChatRequest, Member, Store } from "@natter/store";

/** Direct chats whose pair is remembered (their membership never changes). */
const DIRECT_MAX = 50_000;
/** Send verdicts remembered per (chat, sender), for a store that cannot be read (stale-if-error). */
const VERDICTS_MAX = 100_000;
/** How old a remembered verdict may be and still stand in for the store (as sessions' stale-if-error). */
const STALE_OK_MS = 5 * 60_000;
/** How long a verdict is used without asking the store again. */
const FRESH_MS = 2_000;

/** What `checkSend` found: a refusal, or the sender's own request row. */
interface Verdict {
  at: number;
  refusal?: string;
  mine?: ChatRequest;
}

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
  readonly #store: Pick<Store, "getChat" | "listMembers" | "getChatRequest" | "getBlock">;
  /** Membership rows: the store's, or the stream's copy of the log while the store cannot be read. */
  readonly #log: Pick<ChatLog, "member">;
  /** A direct chat's two members by chat id: a direct chat's membership never changes. */
  readonly #pairs = new Map<string, readonly [string, string] | null>();
  /** The last `checkSend` verdict per `chat\nsender`. */
  readonly #verdicts = new Map<string, Verdict>();

  constructor(opts: {
    store: Pick<Store, "getChat" | "listMembers" | "getChatRequest" | "getBlock">;
    chatLog: Pick<ChatLog, "member">;
  }) {
    this.#store = opts.store;
    this.#log = opts.chatLog;
  }

  /** The caller's active membership; else `notMember`'s answer. */
  async requireMember(me: string, chatId: string): Promise<Member> {
    const member = await this.#log.member(chatId, me);
    if (member?.active) return member;
    throw refusal(member);
  }

  /**
   * The caller's membership row, active or not (a removed member reads up to their
   * removal); `not_found` for someone who was never a member.
   */
  async requireMemberRow(me: string, chatId: string): Promise<Member> {
    const member = await this.#log.member(chatId, me);
    if (member) return member;
    throw refusal(member);
  }

  /** Why `me`, not an active member, gets nothing: `forbidden` for a former member, else `not_found`. */
  async notMember(me: string, chatId: string): Promise<NatterError> {
    return refusal(await this.#log.member(chatId, me));
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
   *
   * The store's absence never fails a send (sends go on from the stream during an outage):
   * if it cannot be read, the last verdict for this sender and chat (up to five minutes
   * old) stands in; with none, the send goes through unchecked — a block made before the
   * outage holds wherever this gateway saw the pair send since it was made.
   */
  async checkSend(me: string, chatId: string): Promise<ChatRequest | undefined> {
    const key = `${chatId}\n${me}`;
    const seen = this.#verdicts.get(key);
    let verdict: Verdict;
    if (seen && Date.now() - seen.at < FRESH_MS) {
      // A burst of sends costs no store read: a block or decline made elsewhere takes
      // effect here within FRESH_MS; one made through this gateway at once (`forget`).
      verdict = seen;
    } else {
      try {
        verdict = await this.#judge(me, chatId);
        setNewest(this.#verdicts, key, verdict, VERDICTS_MAX);
      } catch (err) {
        if (!isUnavailable(err)) throw err;
        verdict = seen && Date.now() - seen.at < STALE_OK_MS ? seen : { at: 0 };
      }
    }
    if (verdict.refusal !== undefined) throw new NatterError("forbidden", verdict.refusal);
    return verdict.mine;
  }

  /** Drops the verdicts of a chat (a request, decline or block changed it here). */
  forget(chatId: string): void {
    for (const key of this.#verdicts.keys()) if (key.startsWith(`${chatId}\n`)) this.#verdicts.delete(key);
  }

  /**
   * Drops the verdicts of a sender, whose relationships changed on some gateway (its
   * `user.<userId>.contacts` signal): a block elsewhere holds here at once for a user whose
   * socket is here. Rare, so a scan of the map is fine.
   */
  forgetSender(userId: string): void {
    for (const key of this.#verdicts.keys()) if (key.endsWith(`\n${userId}`)) this.#verdicts.delete(key);
  }

  async #judge(me: string, chatId: string): Promise<Verdict> {
    const at = Date.now();
    const [mine, peer] = await Promise.all([this.#store.getChatRequest(me, chatId), this.peerOf(me, chatId)]);
    const verdict: Verdict = { at, ...(mine === undefined ? {} : { mine }) };
    if (peer === undefined) return verdict;
    const [blocked, theirs] = await Promise.all([
      this.blockedEitherWay(me, peer),
      this.#store.getChatRequest(peer, chatId),
    ]);
    if (blocked) return { ...verdict, refusal: "messages between you and this user are blocked" };
    if (theirs?.state === "declined") return { ...verdict, refusal: "this user declined the chat" };
    return verdict;
  }

  /**
   * The other member of a direct chat `me` is in; undefined for a group, an unknown chat,
   * or a direct chat of others.
   */
  async peerOf(me: string, chatId: string): Promise<string | undefined> {
    let pair = this.#pairs.get(chatId);
    if (pair === undefined) {
      const chat = await this.#store.getChat(chatId);
      if (!chat) return undefined;
      // A chat's kind and a direct chat's pair never change: remembered, groups as `null`.
      const members = chat.kind === "direct" ? (await this.#store.listMembers(chatId)).map((m) => m.userId) : [];
      pair = members.length === 2 ? [members[0]!, members[1]!] : null;
      setNewest(this.#pairs, chatId, pair, DIRECT_MAX);
    }
    if (pair === null) return undefined;
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
