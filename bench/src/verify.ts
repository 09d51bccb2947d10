import { api } from "./http.ts";

export interface HistoryVerdict {
  problems: string[];
  checkedHistory: number;
  /** Acked messages missing from history, message ids found more than once, `n` out of 1..N. */
  lost: number;
  duplicated: number;
  misordered: number;
}

/**
 * G1/G2/G4 on the history (the socket side is checked by each load worker on its own
 * sockets): every acked message is in the chat's history once, and the history's `n` are
 * 1..N. Reads `GET /v1/chats/:id/messages` page by page as the chat's first member, waiting
 * up to 30 s for the history consumer to catch up.
 */
export async function verifyHistory(
  gateway: string,
  acked: Map<string, string[]>,
  tokenOf: Map<string, string>,
): Promise<HistoryVerdict> {
  const problems: string[] = [];
  let checkedHistory = 0;
  let lost = 0;
  let duplicated = 0;
  let misordered = 0;
  const note = (p: string) => {
    if (problems.length < 20) problems.push(p);
  };
  for (const [chat, token] of tokenOf) {
    const want = acked.get(chat) ?? [];
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ns: number[] = [];
      const ids: string[] = [];
      let after = 0;
      for (;;) {
        const page = await api<{ events: { n: number; kind: string; id?: string }[]; hasMore: boolean }>(
          gateway,
          "GET",
          `/v1/chats/${chat}/messages?after=${after}&limit=100`,
          undefined,
          token,
        );
        for (const e of page.events) {
          ns.push(e.n);
          if (e.kind === "message.created") ids.push(e.id!);
        }
        if (!page.hasMore || page.events.length === 0) break;
        after = page.events.at(-1)!.n;
      }
      const have = new Set(ids);
      const complete = want.every((id) => have.has(id));
      if (!complete && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 250));
        continue;
      }
      checkedHistory += ids.length;
      if (!complete) {
        lost += want.filter((id) => !have.has(id)).length;
        note(`G1: history of ${chat} misses acked messages`);
      }
      if (have.size !== ids.length) {
        duplicated += ids.length - have.size;
        note(`G2: history of ${chat} holds a message twice`);
      }
      if (!ns.every((n, i) => n === i + 1)) {
        misordered += ns.filter((n, i) => n !== i + 1).length;
        note(`G4: history of ${chat} is not 1..N`);
      }
      break;
    }
  }
  return { problems, checkedHistory, lost, duplicated, misordered };
}
