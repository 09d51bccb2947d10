/**
 * The membership effect of a chat event: the one home of the rule that `chat.created`
 * makes its members members (the creator of a group its admin), `member.added` adds a
 * user and `member.removed` removes one, and that every other event changes nobody's
 * membership. The sequencer, the fanout, the store's projection, the gateway's per-socket
 * feed and the client SDK all fold membership with these functions.
 */
import type { ChatEvent, MemberRole } from "./events.ts";

/** One user's membership as an event leaves it. */
export interface MembershipEffect {
  user: string;
  /** True: a member from this event on; false: not a member from this event on. */
  member: boolean;
  /** The role it gives (a removed user's row keeps `member`). */
  role: MemberRole;
}

const NONE: readonly MembershipEffect[] = Object.freeze([]);

/** The membership changes an event makes, in the order the event names them; none for a message. */
export function membershipEffect(event: ChatEvent): readonly MembershipEffect[] {
  switch (event.kind) {
    case "chat.created":
      return event.members.map((user) => ({
        user,
        member: true,
        role: event.chatKind === "group" && user === event.from ? "admin" : "member",
      }));
    case "member.added":
      return [{ user: event.user, member: true, role: "member" }];
    case "member.removed":
      return [{ user: event.user, member: false, role: "member" }];
    default:
      return NONE;
  }
}

/** Whether the event changes anyone's membership (cheap: no allocation). */
export function changesMembership(event: ChatEvent): boolean {
  return event.kind === "chat.created" || event.kind === "member.added" || event.kind === "member.removed";
}

/** Applies an event to a set of active members, in place. */
export function applyMembership(members: Set<string>, event: ChatEvent): void {
  if (!changesMembership(event)) return;
  for (const c of membershipEffect(event)) {
    if (c.member) members.add(c.user);
    else members.delete(c.user);
  }
}

/** `user`'s membership right after the event: true (made a member), false (removed), undefined (unchanged). */
export function membershipOf(event: ChatEvent, user: string): boolean | undefined {
  if (!changesMembership(event)) return undefined;
  for (const c of membershipEffect(event)) if (c.user === user) return c.member;
  return undefined;
}
