import type { Logger } from "@natter/config";
import { isNatterError, isId, NatterError } from "@natter/protocol";
import type { Store } from "@natter/store";
import { EDGE_CALL_QUEUE, edgeCallSubject } from "@natter/subjects";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { MessageDeletes } from "../chat/deletes.ts";
import type { MessageEdits } from "../chat/edits.ts";
import type { MessageReactions } from "../chat/reactions.ts";
import type { ChatService } from "../chat/service.ts";
import type { HomeAnswer, HomeCall } from "./home-calls.ts";

/** The stored password hash of a directory entry: never a valid hash, so nobody logs in with it here. */
export const REMOTE_USER_HASH = "remote";

/**
 * Answers the operations other domains forward to the chats homed at this site
 * (`edge.<site>.call`, queue group `gateways`: one gateway of the site answers each). The
 * caller is another domain's gateway, which authenticated the user; the operation runs
 * through this gateway's own `ChatService`, so every check a local request gets applies.
 */
export class EdgeResponder {
  readonly #sub: Subscription;
  readonly #done: Promise<void>;

  constructor(opts: {
    nc: NatsConnection;
    site: string;
    chats: ChatService;
    edits: Pick<MessageEdits, "edit">;
    reactions: Pick<MessageReactions, "add" | "remove">;
    deletes: Pick<MessageDeletes, "byMember">;
    store: Store;
    logger: Logger;
  }) {
    const { chats, store, logger } = opts;
    const sub = opts.nc.subscribe(edgeCallSubject(opts.site), { queue: EDGE_CALL_QUEUE });
    this.#sub = sub;
    const handle = async (call: HomeCall): Promise<unknown> => {
      switch (call.op) {
        case "send":
          return chats.send(call.me, call.chatId, call.id, call.body, call.opts ?? {});
        case "openDirect":
          return chats.openDirect(call.me, call.peer);
        case "createGroup":
          return chats.createGroup(call.me, call.title, call.members);
        case "addMember":
          return chats.addMember(call.me, call.chatId, call.userId);
        case "removeMember":
          return chats.removeMember(call.me, call.chatId, call.userId);
        case "edit":
          return opts.edits.edit(call.me, call.chatId, call.target, call.id, call.body);
        case "react":
          return opts.reactions.add(call.me, call.chatId, call.target, call.emoji);
        case "unreact":
          return opts.reactions.remove(call.me, call.chatId, call.target, call.emoji);
        case "delete":
          return opts.deletes.byMember(call.me, call.chatId, call.target);
        case "user": {
          const u = call.user;
          if (!isId(u.userId)) throw new NatterError("invalid_input", "bad user id", { field: "userId" });
          // A handle taken here keeps the entry out (the user stays reachable by id at home only).
          const created = await store.createUser({ ...u, passwordHash: REMOTE_USER_HASH });
          return { created };
        }
        default:
          throw new NatterError("invalid_input", "unknown operation");
      }
    };
    this.#done = (async () => {
      for await (const m of sub) {
        void (async () => {
          let answer: HomeAnswer;
          try {
            answer = { ok: await handle(m.json<HomeCall>()) };
          } catch (err) {
            if (!isNatterError(err)) logger.error({ err }, "forwarded operation failed");
            const e = isNatterError(err) ? err : new NatterError("internal", "the home site failed");
            answer = { error: e.toBody() };
          }
          m.respond(JSON.stringify(answer));
        })();
      }
    })();
  }

  async close(): Promise<void> {
    this.#sub.unsubscribe();
    await this.#done;
  }
}
