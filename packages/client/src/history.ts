import type { ChatEvent } from "@natter/protocol";
import type { NatterHttp } from "./http.ts";

/**
 * Pages a chat's history backwards: the first `older()` returns the newest page, each
 * next one the page before it (`?before=<oldest n so far>`), ascending by n within a
 * page. `hasMore` turns false at the start of the chat (or of the user's membership).
 */
export class HistoryPager {
  readonly chat: string;
  readonly pageSize: number;
  readonly #http: NatterHttp;
  #before: number | undefined;
  #hasMore = true;

  constructor(http: NatterHttp, chat: string, opts: { pageSize?: number; before?: number } = {}) {
    this.#http = http;
    this.chat = chat;
    this.pageSize = Math.min(100, Math.max(1, opts.pageSize ?? 50));
    this.#before = opts.before;
  }

  get hasMore(): boolean {
    return this.#hasMore;
  }

  /** The oldest n loaded so far (undefined before the first page). */
  get oldestN(): number | undefined {
    return this.#before;
  }

  /** The next older page (empty once `hasMore` is false). */
  async older(): Promise<ChatEvent[]> {
    if (!this.#hasMore) return [];
    const page = await this.#http.messages(this.chat, {
      limit: this.pageSize,
      ...(this.#before === undefined ? {} : { before: this.#before }),
    });
    const first = page.events[0];
    if (first) this.#before = first.n;
    this.#hasMore = page.hasMore && first !== undefined && first.n > 1;
    return page.events;
  }
}
