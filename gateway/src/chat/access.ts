import { NatterError } from "@natter/protocol";
import type { ChatStore, Member } from "@natter/store";

/**
 * Who may do what in a chat, from the store's membership rows: the one check every path
 * uses (HTTP routes, socket frames, receipts and typing), and the one rule for what an
 * outsider is told: 404 for a chat that does not exist, 403 for one they are not in.
 */
export class ChatAccess {
  readonly #store: Pick<ChatStore, "getMember" | "getChat">;

  constructor(store: Pick<ChatStore, "getMember" | "getChat">) {
    this.#store = store;
  }

  /** The caller's active membership; 404 for an unknown chat, 403 otherwise. */
  async requireMember(me: string, chatId: string): Promise<Member> {
    const member = await this.#store.getMember(chatId, me);
    if (member?.active) return member;
    throw await this.notMember(chatId);
  }

  /**
   * The caller's membership row, active or not (a removed member reads up to their
   * removal); 404 for an unknown chat, 403 for someone who was never a member.
   */
  async requireMemberRow(me: string, chatId: string): Promise<Member> {
    const member = await this.#store.getMember(chatId, me);
    if (member) return member;
    throw await this.notMember(chatId);
  }

  /** Why a user who is not an active member gets nothing: 404 for an unknown chat, else 403. */
  async notMember(chatId: string): Promise<NatterError> {
    if (!(await this.#store.getChat(chatId))) return new NatterError("not_found", "no such chat");
    return new NatterError("forbidden", "not a member of this chat");
  }
}
