/**
 * `natter admin …`: the operators' API (`/v1/admin`, docs/admin.md) from a terminal, as
 * the logged-in user, who must be one of `NATTER_ADMINS` (the server answers 403 to
 * anyone else). Tables for people, `--json` for scripts.
 */
import { HttpError, type NatterHttp } from "@natter/client";

export const ADMIN_USAGE = `usage: natter admin <command> [options]   (the logged-in user must be an admin: NATTER_ADMINS)

  users find <prefix> [--limit 20] [--after <handle>]   users whose handle starts with <prefix>, in handle order
  users disable <handle|id>                            refuse the user's logins and end every session now
  users enable <handle|id>                             let a disabled user log in again
  users sessions <handle|id>                           the user's device sessions (no tokens)
  users revoke <handle|id>                             end every session of the user now
  chats remove-member <chatId> <handle|id>             remove a member from a group (an event from you)
  messages delete <chatId> <n>                         delete message n of the chat for everyone (message.deleted from you)
  state                                                streams (messages, bytes, seqs, leader) and consumer lag

options:
  --json                print the server's answer as JSON instead of a table`;

/** A usage mistake in an admin command: exit 2 with the admin usage. */
export class AdminUsageError extends Error {
  override name = "AdminUsageError";
}

export interface AdminIo {
  out(line: string): void;
  err(line: string): void;
}

export interface AdminOptions {
  json?: boolean | undefined;
  limit?: string | undefined;
  after?: string | undefined;
}

interface AdminUser {
  userId: string;
  handle: string;
  displayName: string;
  createdAt: number;
  disabled: boolean;
}

interface Peer {
  name: string;
  current: boolean;
  offline: boolean;
  lag?: number;
}
interface Cluster {
  name?: string;
  leader?: string;
  replicas: Peer[];
}
interface StreamsView {
  streams: {
    name: string;
    replicas: number;
    messages: number;
    bytes: number;
    firstSeq: number;
    lastSeq: number;
    consumers: number;
    cluster?: Cluster;
  }[];
  consumers: {
    stream: string;
    name: string;
    exists: boolean;
    numPending?: number;
    numAckPending?: number;
    numRedelivered?: number;
    numWaiting?: number;
    deliveredSeq?: number;
    lastActive?: string;
    cluster?: Cluster;
  }[];
}

const enc = encodeURIComponent;

/** Runs `natter admin <args>`. */
export async function runAdmin(args: string[], v: AdminOptions, io: AdminIo, http: NatterHttp): Promise<void> {
  const [area, command, ...rest] = args;
  const need = (count: number, what: string) => {
    if (rest.length < count) throw new AdminUsageError(`admin ${area} ${command}: missing ${what}`);
  };
  const print = (value: unknown, table: () => string[]) => {
    if (v.json) io.out(JSON.stringify(value, null, 2));
    else for (const line of table()) io.out(line);
  };
  switch (`${area ?? ""} ${command ?? ""}`.trim()) {
    case "users find": {
      need(1, "<prefix>");
      const limit = v.limit === undefined ? 20 : Number(v.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new AdminUsageError("--limit is 1..100");
      const q = `handle=${enc(strip(rest[0]!))}&limit=${limit}${v.after ? `&after=${enc(strip(v.after))}` : ""}`;
      const page = await http.request<{ users: AdminUser[]; next?: string }>("GET", `/v1/admin/users?${q}`);
      print(page, () => [
        ...table(
          ["USER ID", "HANDLE", "NAME", "CREATED", "DISABLED"],
          page.users.map((u) => [u.userId, u.handle, u.displayName, iso(u.createdAt), u.disabled ? "yes" : "no"]),
        ),
        ...(page.next ? [`(more: --after ${page.next})`] : []),
      ]);
      return;
    }
    case "users disable":
    case "users enable": {
      need(1, "<handle|id>");
      const user = await resolveUser(http, rest[0]!);
      const r = await http.request<{ userId: string; disabled: boolean; revoked: number }>(
        "POST",
        `/v1/admin/users/${enc(user.userId)}/${command}`,
      );
      print(r, () => [
        r.disabled
          ? `disabled ${who(user)}; ${plural(r.revoked, "session")} ended`
          : `enabled ${who(user)}; they may log in again`,
      ]);
      return;
    }
    case "users sessions": {
      need(1, "<handle|id>");
      const user = await resolveUser(http, rest[0]!);
      const r = await http.request<{
        online: boolean;
        lastSeen: number;
        sessions: {
          deviceId: string;
          deviceName: string;
          createdAt: number;
          expiresAt: number;
          revoked: boolean;
          live: boolean;
        }[];
      }>("GET", `/v1/admin/users/${enc(user.userId)}/sessions`);
      print(r, () => [
        `${who(user)}: ${r.online ? "online" : r.lastSeen ? `offline, last seen ${iso(r.lastSeen)}` : "never seen"}`,
        ...table(
          ["DEVICE", "NAME", "CREATED", "EXPIRES", "STATE"],
          r.sessions.map((s) => [
            s.deviceId,
            s.deviceName || "-",
            iso(s.createdAt),
            iso(s.expiresAt),
            s.live ? "live" : s.revoked ? "revoked" : "expired",
          ]),
        ),
      ]);
      return;
    }
    case "users revoke": {
      need(1, "<handle|id>");
      const user = await resolveUser(http, rest[0]!);
      const r = await http.request<{ revoked: number }>("POST", `/v1/admin/users/${enc(user.userId)}/revoke-sessions`);
      print(r, () => [`${plural(r.revoked, "session")} of ${who(user)} ended`]);
      return;
    }
    case "chats remove-member": {
      need(2, "<chatId> <handle|id>");
      const chat = rest[0]!;
      const user = await resolveUser(http, rest[1]!);
      const r = await http.request<{ n: number }>("DELETE", `/v1/admin/chats/${enc(chat)}/members/${enc(user.userId)}`);
      print(r, () => [`removed ${who(user)} from ${chat} at n=${r.n}`]);
      return;
    }
    case "messages delete": {
      need(2, "<chatId> <n>");
      const [chat, n] = [rest[0]!, Number(rest[1])];
      if (!Number.isInteger(n) || n < 1)
        throw new AdminUsageError("admin messages delete: <n> is a message's n (1 or more)");
      const r = await http.request<{ chat: string; seq: number; n: number; ts: number }>(
        "DELETE",
        `/v1/admin/chats/${enc(chat)}/messages/${n}`,
      );
      print(r, () => [`deleted #${n} of ${chat} for everyone: message.deleted n=${r.n} seq=${r.seq}`]);
      return;
    }
    case "state": {
      const r = await http.request<StreamsView>("GET", "/v1/admin/streams");
      print(r, () => [
        ...table(
          ["STREAM", "MESSAGES", "BYTES", "FIRST SEQ", "LAST SEQ", "CONSUMERS", "REPLICAS", "LEADER"],
          r.streams.map((s) => [
            s.name,
            String(s.messages),
            String(s.bytes),
            String(s.firstSeq),
            String(s.lastSeq),
            String(s.consumers),
            String(s.replicas),
            leader(s.cluster),
          ]),
        ),
        "",
        ...table(
          ["CONSUMER", "PENDING", "ACK PENDING", "REDELIVERED", "WAITING", "DELIVERED SEQ", "LAST ACTIVE", "LEADER"],
          r.consumers.map((c) =>
            c.exists
              ? [
                  `${c.stream}/${c.name}`,
                  String(c.numPending),
                  String(c.numAckPending),
                  String(c.numRedelivered),
                  String(c.numWaiting),
                  String(c.deliveredSeq),
                  c.lastActive ?? "-",
                  leader(c.cluster),
                ]
              : [`${c.stream}/${c.name}`, "(not created)", "", "", "", "", "", ""],
          ),
        ),
      ]);
      return;
    }
    default:
      throw new AdminUsageError(
        area === undefined
          ? "admin needs a command"
          : `unknown admin command ${JSON.stringify(args.slice(0, 2).join(" "))}`,
      );
  }
}

/** `@ana` and `ana` are the same handle. */
function strip(handle: string): string {
  return handle.replace(/^@/, "");
}

/**
 * A user named by handle (`ana`, `@ana`) or by id (`u_…`): an id is looked up by id first,
 * anything else (or an id that is no user) by its exact handle.
 */
async function resolveUser(http: NatterHttp, arg: string): Promise<AdminUser> {
  if (arg.startsWith("u_")) {
    try {
      return await http.request<AdminUser>("GET", `/v1/admin/users/${enc(arg)}`);
    } catch (err) {
      if (!(err instanceof HttpError && (err.httpStatus === 404 || err.httpStatus === 400))) throw err;
    }
  }
  const handle = strip(arg).toLowerCase();
  if (/^[a-z0-9_.]{1,32}$/.test(handle)) {
    const page = await http.request<{ users: AdminUser[] }>("GET", `/v1/admin/users?handle=${enc(handle)}&limit=1`);
    const user = page.users[0];
    if (user?.handle === handle) return user;
  }
  throw new HttpError(404, "not_found", `no user with the handle or id ${JSON.stringify(arg)}`, {});
}

function who(u: AdminUser): string {
  return `@${u.handle} (${u.userId})`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The stream's or consumer's leader; "-" on a single server, which reports none. */
function leader(c: Cluster | undefined): string {
  return c?.leader ?? "-";
}

/** Rows under a header, each column padded to its widest cell (two spaces apart). */
export function table(header: string[], rows: string[][]): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd(),
  );
}
