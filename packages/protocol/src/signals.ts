/**
 * Ephemeral signals between gateways over core NATS (never stored): `typing` and `receipt`
 * on `user.<userId>.signal`, `presence` on `presence.<userId>`. The payload of each is the
 * very server frame a socket receives, so a gateway checks it and forwards it unchanged.
 */
import type { PresenceFrame, ReceiptFrame, TypingSignalFrame } from "./frames.ts";
import { isId } from "./limits.ts";

export type SignalFrame = TypingSignalFrame | ReceiptFrame | PresenceFrame;

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** The signal in a message payload (already JSON-parsed), with only its known fields; undefined if it is not one. */
export function parseSignal(data: unknown): SignalFrame | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const o = data as Record<string, unknown>;
  switch (o.type) {
    case "typing":
      return isId(o.chat) && isId(o.user) ? { type: "typing", chat: o.chat, user: o.user } : undefined;
    case "receipt":
      return isId(o.chat) && isId(o.user) && isCount(o.deliveredN) && isCount(o.readN)
        ? { type: "receipt", chat: o.chat, user: o.user, deliveredN: o.deliveredN, readN: o.readN }
        : undefined;
    case "presence":
      return isId(o.user) && typeof o.online === "boolean" && isCount(o.lastSeen)
        ? { type: "presence", user: o.user, online: o.online, lastSeen: o.lastSeen }
        : undefined;
    default:
      return undefined;
  }
}

/**
 * On `user.<userId>.session`: the listed device sessions of the user are revoked; every
 * gateway holding one of their sockets closes it with 4001. Never sent to a client.
 */
export interface SessionsRevokedSignal {
  type: "sessions.revoked";
  user: string;
  deviceIds: string[];
}

/** The session signal in a message payload (already JSON-parsed); undefined if it is not one. */
export function parseSessionSignal(data: unknown): SessionsRevokedSignal | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const o = data as Record<string, unknown>;
  if (o.type !== "sessions.revoked" || !isId(o.user) || !Array.isArray(o.deviceIds)) return undefined;
  if (!o.deviceIds.every((d) => isId(d))) return undefined;
  return { type: "sessions.revoked", user: o.user, deviceIds: o.deviceIds as string[] };
}
