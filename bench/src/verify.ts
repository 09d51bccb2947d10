import { api } from "./http.ts";
import type { LoadResult } from "./natter-load.ts";

export interface Verdict {
  ok: boolean;
  problems: string[];
  checkedDeliveries: number;
  checkedHistory: number;
}

/** Waits until every member socket holds every acked message, or `ms` passes. */
export async function settle(r: LoadResult, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  const expected = () => {
    let missing = 0;
    for (const s of r.sockets)
      for (const [chat, members] of r.chatMembers) {
        if (!members.includes(s.user.userId)) continue;
        missing += Math.max(0, (r.acked.get(chat)?.length ?? 0) - (s.ids.get(chat)?.length ?? 0));
      }
    return missing;
  };
  while (Date.now() < deadline && expected() > 0) await new Promise((res) => setTimeout(res, 100));
}

/**
 * After a run, checks the guarantees on what the sockets and the history hold:
 * G1 every acked message reached every member socket and is in history;
 * G2 none twice (sockets and history); G4 each socket saw each chat's n with no gap or
 * reordering, and history pages are 1..N.
 */
export async function verify(r: LoadResult, gateway: string, checkHistory: boolean): Promise<Verdict> {
  const problems: string[] = [];
  let checkedDeliveries = 0;
  let checkedHistory = 0;
  const note = (p: string) => {
    if (problems.length < 20) problems.push(p);
  };
  for (const s of r.sockets) {
    for (const [chat, members] of r.chatMembers) {
      if (!members.includes(s.user.userId)) continue;
      const ns = s.received.get(chat) ?? [];
      for (let i = 1; i < ns.length; i++) {
        if (ns[i] !== ns[i - 1]! + 1) {
          note(`G4: ${s.user.userId} in ${chat} got n ${ns[i - 1]} then ${ns[i]}`);
          break;
        }
      }
      const ids = s.ids.get(chat) ?? [];
      const seen = new Set(ids);
      if (seen.size !== ids.length) note(`G2: ${s.user.userId} in ${chat} got a message twice`);
      for (const id of r.acked.get(chat) ?? []) {
        checkedDeliveries++;
        if (!seen.has(id)) {
          note(`G1: ${s.user.userId} in ${chat} never got acked message ${id}`);
          break;
        }
      }
    }
  }
  if (checkHistory) {
    for (const [chat, owner] of r.owners) {
      const want = new Set(r.acked.get(chat) ?? []);
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
            owner.token,
          );
          for (const e of page.events) {
            ns.push(e.n);
            if (e.kind === "message.created") ids.push(e.id!);
          }
          if (!page.hasMore || page.events.length === 0) break;
          after = page.events.at(-1)!.n;
        }
        const complete = [...want].every((id) => ids.includes(id));
        if (!complete && Date.now() < deadline) {
          await new Promise((res) => setTimeout(res, 250));
          continue;
        }
        checkedHistory += ids.length;
        if (!complete) note(`G1: history of ${chat} misses acked messages`);
        if (new Set(ids).size !== ids.length) note(`G2: history of ${chat} holds a message twice`);
        if (!ns.every((n, i) => n === i + 1)) note(`G4: history of ${chat} is not 1..N`);
        break;
      }
    }
  }
  return { ok: problems.length === 0, problems, checkedDeliveries, checkedHistory };
}
