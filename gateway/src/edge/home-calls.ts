import type { Logger } from "@natter/config";
import { type ErrorCode, ERROR_STATUS, homeOf, NatterError } from "@natter/protocol";
import { edgeCallSubject } from "@natter/subjects";
import type { NatsConnection } from "@nats-io/transport-node";
import type { SendOptions } from "../chat/service.ts";

/** The operations one domain's gateway forwards to a gateway of another (`edge.<site>.call`). */
export type HomeCall =
  | { op: "send"; me: string; chatId: string; id: string; body: string; opts?: SendOptions }
  | { op: "openDirect"; me: string; peer: string }
  | { op: "createGroup"; me: string; title: string; members: string[] }
  | { op: "addMember" | "removeMember"; me: string; chatId: string; userId: string }
  | { op: "edit"; me: string; chatId: string; target: number; id: string; body: string }
  | { op: "react" | "unreact"; me: string; chatId: string; target: number; emoji: string }
  | { op: "delete"; me: string; chatId: string; target: number }
  /** A user's directory entry, so chats with them can be opened there (no password: they log in at home). */
  | { op: "user"; user: { userId: string; handle: string; displayName: string; createdAt: number } };

/** The answer on the wire: the operation's result, or the stable error it threw. */
export type HomeAnswer = { ok: unknown } | { error: { code: ErrorCode; message: string; field?: string } };

/** How long a forwarded operation may take before the caller answers `home_unreachable`. */
const CALL_TIMEOUT_MS = 5_000;

/**
 * Forwarding to the home of a chat (README "Edge sites"). A chat is sequenced only at its
 * home domain (one stream sequence per chat: G4), so a gateway elsewhere sends there as a
 * request to a gateway of that domain over the leaf link, which runs the same `ChatService`
 * (membership, blocks, dedup) and answers with its result. During a leaf outage nobody
 * answers: the caller fails fast with `home_unreachable` (503, retry with the same id),
 * never queues: a queued send would give the client no `n`, and the SDK already resends
 * until `sent` (within `NATTER_DEDUP_WINDOW`, and after it the home's client-message index,
 * answer the retry with the original).
 */
export class HomeCalls {
  readonly site: string;
  readonly #nc: NatsConnection;
  readonly #log: Logger;

  constructor(opts: { nc: NatsConnection; site: string; logger: Logger }) {
    this.#nc = opts.nc;
    this.site = opts.site;
    this.#log = opts.logger;
  }

  /** Whether `id` (a chat) is homed at this gateway's site. */
  isHome(id: string): boolean {
    return homeOf(id) === this.site;
  }

  /** The home of chat `id` when it is another domain (its operations go there), else undefined. */
  elsewhere(id: string): string | undefined {
    const home = homeOf(id);
    return home === this.site ? undefined : home;
  }

  async call<T>(home: string, call: HomeCall): Promise<T> {
    let answer: HomeAnswer;
    try {
      const m = await this.#nc.request(edgeCallSubject(home), JSON.stringify(call), { timeout: CALL_TIMEOUT_MS });
      answer = m.json<HomeAnswer>();
    } catch (err) {
      this.#log.warn({ home, op: call.op, err: String(err) }, "home site unreachable");
      throw new NatterError(
        "home_unreachable",
        `the chat's home (${home}) cannot be reached now; retry with the same id`,
        {
          cause: err,
        },
      );
    }
    if ("ok" in answer) return answer.ok as T;
    const e = answer.error;
    const code: ErrorCode = e && e.code in ERROR_STATUS ? e.code : "internal";
    throw new NatterError(code, e?.message ?? "the home site failed", e?.field === undefined ? {} : { field: e.field });
  }
}
