import { NatterError } from "@natter/protocol";
import type { ChatStore, Member } from "@natter/store";

/**
 * Who may do what in a chat, from the store's membership rows: the one check every path
 * uses (HTTP routes, socket frames, receipts and typing), and the one rule for what an
 * outsider is told. Someone who was never a member gets `not_found` whether the chat
 * exists or not, so nobody learns that two users have a direct chat, or that a group id
 * is real. A former member, who knows the chat exists, gets `forbidden`.
 */
export class ChatAccess {
  readonly #store: Pick<ChatStore, "getMember">;

  constructor(store: Pick<ChatStore, "getMember">) {
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
}

function refusal(member: Member | undefined): NatterError {
  return member
    ? new NatterError("forbidden", "no longer a member of this chat")
    : new NatterError("not_found", "no such chat");
}
