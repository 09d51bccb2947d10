/**
 * The `natter` commands. `run(argv, io)` parses the arguments, runs one command and
 * returns the exit code: 0 on success, 1 on an error (printed as one line,
 * `natter: <code>: <message>`), 2 on a usage error. Everything talks to the server
 * through `@natter/client`.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import {
  type ChatEvent,
  ChatList,
  ChatMessages,
  HttpError,
  MemoryCursorStore,
  NatterClient,
  NatterError,
  NatterHttp,
  SendTimeoutError,
  Users,
  usersIn,
} from "@natter/client";
import { ADMIN_USAGE, AdminUsageError, runAdmin } from "./admin.ts";
import {
  type Credentials,
  credentialsPath,
  loadCredentials,
  removeCredentials,
  saveCredentials,
} from "./credentials.ts";

export const DEFAULT_SERVER = "http://localhost:8080";

export const USAGE = `usage: natter <command> [options]

  signup <handle> --name <display name> --password <pw>   create an account and log in
  login <handle> --password <pw>                          log in (stores the token)
  logout                                                  revoke this device's token
  whoami                                                  the logged-in user
  chats                                                   list chats, most recent first
  dm <handle>                                             open a direct chat, print its id
  group <title> <handle>...                               create a group, print its id
  send <chatId> <text> [--reply-to <n>]                   send a message (a reply to message n), print seq and n
  send <chatId> [text] --file <path> [--type <mime>]      upload files (--file again for more) and send them in one message
  reactions <chatId> <n>                                  the reactions to message n: each emoji, its count and who
  tail <chatId> [--last 20]                               print the last events, then live ones
  export <chatId>                                         the whole history as JSON Lines
  admin <command>                                         operators: users, chats, messages, state (natter admin --help)

options:
  --server <url>        gateway URL (default: $NATTER_SERVER, the logged-in server, ${DEFAULT_SERVER})
  --password <pw>       also $NATTER_PASSWORD, or --password-stdin
  --json                tail: print events as JSON Lines; admin: the server's answers as JSON
credentials: $NATTER_CREDENTIALS or ~/.config/natter/credentials.json`;

export interface Io {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
  /** Reads all of stdin (for --password-stdin). */
  stdin(): Promise<string>;
  /** Resolves when the user interrupts (`tail` runs until then). */
  interrupted: Promise<void>;
}

class UsageError extends Error {
  override name = "UsageError";
}

/** A failure with a stable code that is not an HTTP or frame error (no server, not logged in). */
class CliError extends Error {
  override name = "CliError";
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

type Values = {
  server?: string;
  name?: string;
  password?: string;
  "password-stdin"?: boolean;
  last?: string;
  json?: boolean;
  help?: boolean;
  limit?: string;
  after?: string;
  "reply-to"?: string;
  /** `send --file`: paths of files to upload and send (repeatable). */
  file?: string[];
  /** `send --type`: the media type of every `--file` (default: from each file's extension). */
  type?: string;
};

export async function run(argv: string[], io: Io): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        server: { type: "string" },
        name: { type: "string" },
        password: { type: "string" },
        "password-stdin": { type: "boolean" },
        last: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        limit: { type: "string" },
        after: { type: "string" },
        "reply-to": { type: "string" },
        file: { type: "string", multiple: true },
        type: { type: "string" },
      },
    }));
  } catch (err) {
    io.err(`natter: ${(err as Error).message}`);
    io.err(USAGE);
    return 2;
  }
  const [command, ...args] = positionals;
  if (command === "admin" && (values.help || args[0] === "help")) {
    io.out(ADMIN_USAGE);
    return 0;
  }
  if (values.help || command === undefined || command === "help") {
    (command === undefined && !values.help ? io.err : io.out)(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  try {
    await dispatch(command, args, values, io);
    return 0;
  } catch (err) {
    if (err instanceof AdminUsageError) {
      io.err(`natter: ${err.message}`);
      io.err(ADMIN_USAGE);
      return 2;
    }
    if (err instanceof UsageError) {
      io.err(`natter: ${err.message}`);
      io.err(USAGE);
      return 2;
    }
    io.err(`natter: ${describe(err)}`);
    return 1;
  }
}

/** One line for any error: `<code>: <message>` when it has a code. */
function describe(err: unknown): string {
  if (err instanceof HttpError) return `${err.code}: ${err.message} (HTTP ${err.httpStatus})`;
  if (err instanceof NatterError || err instanceof CliError || err instanceof SendTimeoutError) {
    return `${err.code}: ${err.message}`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

function need(args: string[], count: number, what: string): void {
  if (args.length < count) throw new UsageError(`missing ${what}`);
}

async function dispatch(command: string, args: string[], v: Values, io: Io): Promise<void> {
  const file = credentialsPath(io.env);
  switch (command) {
    case "signup": {
      need(args, 1, "<handle>");
      if (!v.name) throw new UsageError("signup needs --name <display name>");
      const password = await passwordOf(v, io);
      const server = serverOf(v, io, undefined);
      const http = new NatterHttp({ servers: server });
      const s = await http.signup(args[0]!, v.name, password);
      await saveCredentials(file, { server, handle: args[0]!.toLowerCase(), ...s });
      io.out(`signed up ${args[0]!.toLowerCase()} (${s.userId}); logged in on ${server}`);
      return;
    }
    case "login": {
      need(args, 1, "<handle>");
      const password = await passwordOf(v, io);
      const server = serverOf(v, io, undefined);
      const http = new NatterHttp({ servers: server });
      const s = await http.login(args[0]!, password, "natter-cli");
      await saveCredentials(file, { server, handle: args[0]!.toLowerCase(), ...s });
      io.out(`logged in as ${args[0]!.toLowerCase()} (${s.userId}) on ${server}`);
      return;
    }
    case "logout": {
      const { http } = await session(v, io, file);
      await http.logout().catch((err: unknown) => {
        // A token the server no longer accepts is logged out already.
        if (!(err instanceof NatterError && err.code === "unauthorized")) throw err;
      });
      await removeCredentials(file);
      io.out("logged out");
      return;
    }
    case "whoami": {
      const { http } = await session(v, io, file);
      const me = await http.me();
      io.out(`${me.handle} (${me.userId}) "${me.displayName}" on ${http.server}`);
      return;
    }
    case "chats": {
      const { creds, server } = await session(v, io, file);
      // The SDK's chat-list model (the web client's too): names, unread, preview.
      const client = new NatterClient({ servers: server, token: creds.token, discoverChats: false });
      const list = new ChatList(client);
      await list.refresh();
      for (const c of list.items()) {
        // A direct chat by its peer's handle (the id when the server did not name it).
        const name = list.title(c.chatId, { handle: true });
        const unread = c.unread > 0 ? `${c.unread} unread` : "";
        io.out([c.chatId, c.kind, name, `n=${c.lastN}`, unread, c.preview ?? ""].join("\t"));
      }
      return;
    }
    case "dm": {
      need(args, 1, "<handle>");
      const { http } = await session(v, io, file);
      const peer = await http.userByHandle(args[0]!);
      const chat = await http.createDirect(peer.userId);
      io.out(chat.chatId);
      return;
    }
    case "group": {
      need(args, 2, "<title> <handle>...");
      const { http } = await session(v, io, file);
      const members = await Promise.all(args.slice(1).map(async (h) => (await http.userByHandle(h)).userId));
      const chat = await http.createGroup(args[0]!, members);
      io.out(chat.chatId);
      return;
    }
    case "send": {
      const files = v.file ?? [];
      need(args, files.length ? 1 : 2, files.length ? "<chatId>" : "<chatId> <text>");
      const { creds, server, http } = await session(v, io, file);
      const client = new NatterClient({
        servers: server,
        token: creds.token,
        sendTimeoutMs: 30_000,
        discoverChats: false,
      });
      try {
        const replyTo = v["reply-to"] === undefined ? undefined : Number(v["reply-to"]);
        if (replyTo !== undefined && !(Number.isSafeInteger(replyTo) && replyTo >= 1)) {
          throw new UsageError("--reply-to is the n of a message (1 or more)");
        }
        // Each file streamed from disk (never read whole), before the message that carries them.
        const attachments: string[] = [];
        for (const f of files) {
          const size = (await stat(f)).size;
          const a = await http.uploadAttachment(
            args[0]!,
            Readable.toWeb(createReadStream(f)) as ReadableStream<Uint8Array>,
            {
              name: path.basename(f),
              contentType: v.type ?? contentTypeOf(f),
              size,
            },
          );
          io.out(`uploaded ${a.name} ${a.attachmentId} ${a.size} bytes sha256=${a.sha256}`);
          attachments.push(a.attachmentId);
        }
        await connectOnce(client);
        const sent = await client.send(args[0]!, args.slice(1).join(" "), {
          ...(replyTo === undefined ? {} : { replyTo }),
          ...(attachments.length ? { attachments } : {}),
        });
        io.out(`sent seq=${sent.seq} n=${sent.n}`);
      } finally {
        client.close();
      }
      return;
    }
    case "tail": {
      need(args, 1, "<chatId>");
      const chat = args[0]!;
      const last = v.last === undefined ? 20 : Number(v.last);
      if (!Number.isInteger(last) || last < 0 || last > 100) throw new UsageError("--last is 0..100");
      const { creds, server } = await session(v, io, file);
      const client = new NatterClient({
        servers: server,
        token: creds.token,
        cursors: new MemoryCursorStore(),
        discoverChats: false, // this one chat only
      });
      // People by @handle from the SDK's users cache: a chat's members come with their
      // handles, anyone else (a former member, someone added while tailing) is looked up once.
      const users = client.users;
      // Lines go out in event order, each once the people it names are known.
      let printed = Promise.resolve();
      const print = (e: ChatEvent) => {
        if (v.json) return io.out(JSON.stringify(e));
        printed = printed.then(async () => {
          await users.ensure(usersIn(e));
          io.out(formatEvent(e, (u) => users.handle(u)));
        });
      };
      try {
        // The chat's members come with their handles: most lines need no lookup.
        const [view, page] = await Promise.all([
          client.http.chat(chat),
          last > 0 ? client.http.messages(chat, { limit: last }) : undefined,
        ]);
        users.learnMembers(view);
        let afterN = view.lastN;
        if (page) {
          for (const e of page.events) print(e);
          afterN = page.events.at(-1)?.n ?? 0;
        }
        client.track(chat, afterN);
        client.on("event", (e) => {
          if (e.chat === chat) print(e);
        });
        let failed: Error | undefined;
        const stopped = new Promise<void>((resolve) => {
          client.on("unauthorized", () => {
            failed = new NatterError("unauthorized", "the server refused the token; run natter login");
            resolve();
          });
          client.on("error", (err) => {
            // The chat cannot be followed (unknown, or not a member): stop with that.
            if (err instanceof NatterError && (err.code === "not_found" || err.code === "forbidden")) {
              failed = err;
              resolve();
            }
          });
          client.on("state", (s) => {
            if (s === "reconnecting") io.err("natter: connection lost; reconnecting…");
          });
        });
        await connectOnce(client);
        await Promise.race([io.interrupted, stopped]);
        if (failed) throw failed;
        await printed;
      } finally {
        client.close();
      }
      return;
    }
    case "reactions": {
      need(args, 2, "<chatId> <n>");
      const n = Number(args[1]);
      if (!Number.isSafeInteger(n) || n < 1) throw new UsageError("<n> is the n of a message (1 or more)");
      const { http } = await session(v, io, file);
      // The message and every event after it, folded as an app folds them (`ChatMessages`).
      const messages = new ChatMessages();
      for (let afterN = n - 1; ;) {
        const page = await http.messages(args[0]!, { after: afterN, limit: 100 });
        for (const e of page.events) messages.apply(e);
        const lastN = page.events.at(-1)?.n;
        if (!page.hasMore || lastN === undefined) break;
        afterN = lastN;
      }
      const message = messages.get(n);
      if (!message) throw new NatterError("not_found", `no message #${n} in this chat`, { field: "n" });
      const reactions = message.reactions ?? [];
      if (v.json) {
        io.out(JSON.stringify(reactions));
        return;
      }
      const users = new Users(http);
      await users.ensure(reactions.flatMap((r) => r.users));
      for (const r of reactions)
        io.out(`${r.emoji} ${r.users.length} ${r.users.map((u) => users.handle(u)).join(" ")}`);
      return;
    }
    case "export": {
      need(args, 1, "<chatId>");
      const { http } = await session(v, io, file);
      let afterN = 0;
      for (;;) {
        const page = await http.messages(args[0]!, { after: afterN, limit: 100 });
        for (const e of page.events) io.out(JSON.stringify(e));
        const lastN = page.events.at(-1)?.n;
        if (!page.hasMore || lastN === undefined) return;
        afterN = lastN;
      }
    }
    case "admin": {
      if (args.length === 0) throw new AdminUsageError("admin needs a command");
      const { http } = await session(v, io, file);
      await runAdmin(args, v, io, http);
      return;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/** `--server`, else `$NATTER_SERVER`, else the server of the stored login, else localhost:8080. */
function serverOf(v: Values, io: Io, creds: Credentials | undefined): string {
  const server = v.server ?? io.env.NATTER_SERVER ?? creds?.server ?? DEFAULT_SERVER;
  try {
    const u = new URL(server);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
  } catch {
    throw new UsageError(`--server must be an http(s) URL, not ${JSON.stringify(server)}`);
  }
  return server.replace(/\/+$/, "");
}

async function passwordOf(v: Values, io: Io): Promise<string> {
  if (v.password !== undefined) return v.password;
  if (v["password-stdin"]) return (await io.stdin()).replace(/\r?\n$/, "");
  if (io.env.NATTER_PASSWORD) return io.env.NATTER_PASSWORD;
  throw new UsageError("a password is needed: --password, --password-stdin or $NATTER_PASSWORD");
}

async function session(
  v: Values,
  io: Io,
  file: string,
): Promise<{ creds: Credentials; server: string; http: NatterHttp }> {
  const creds = await loadCredentials(file);
  if (!creds) throw new CliError("unauthorized", `not logged in (no ${file}); run natter login <handle>`);
  const server = serverOf(v, io, creds);
  return { creds, server, http: new NatterHttp({ servers: server, token: creds.token }) };
}

/**
 * Connects, but gives up at the first failure instead of retrying with backoff as an
 * app would: a script wants a quick, clear error.
 */
async function connectOnce(client: NatterClient): Promise<void> {
  let off = () => {};
  const failed = new Promise<never>((_, reject) => {
    off = client.on("state", (s) => {
      if (s === "reconnecting") {
        reject(new CliError("unavailable", `could not connect to ${client.http.server}/v1/ws`));
      }
    });
  });
  try {
    await Promise.race([client.connect(), failed]);
  } catch (err) {
    if (err instanceof NatterError && err.code === "unauthorized") {
      throw new NatterError("unauthorized", "the server refused the token; run natter login");
    }
    throw err;
  } finally {
    off();
  }
}

/**
 * `#17 2025-11-23T04:13:20.000Z @ana: hi` and similar for the other kinds; `name` turns a
 * user id into what is printed (`@handle`).
 */
/** A file's media type from its extension (what browsers need to show an image); else bytes. */
function contentTypeOf(file: string): string {
  const types: Record<string, string> = {
    png: "image/png",
    jpg: "image/jpeg",
    jpeg: "image/jpeg",
    gif: "image/gif",
    webp: "image/webp",
    pdf: "application/pdf",
    txt: "text/plain",
    json: "application/json",
  };
  return types[path.extname(file).slice(1).toLowerCase()] ?? "application/octet-stream";
}

export function formatEvent(e: ChatEvent, name: (userId: string) => string = (u) => u): string {
  const head = `#${e.n} ${new Date(e.ts).toISOString()} ${name(e.from)}`;
  switch (e.kind) {
    case "message.created": {
      const reply = e.replyTo === undefined ? "" : ` (reply to #${e.replyTo})`;
      const files = (e.attachments ?? []).map((a) => ` [file ${a.name}, ${a.size} bytes, ${a.attachmentId}]`).join("");
      return e.deleted ? `${head}: (message deleted)` : `${head}${reply}: ${e.body}${files}`;
    }
    case "message.edited":
      return e.deleted ? `${head} edited #${e.target} (message deleted)` : `${head} edited #${e.target}: ${e.body}`;
    case "reaction.added":
      return `${head} reacted ${e.emoji} to #${e.target}`;
    case "reaction.removed":
      return `${head} took back ${e.emoji} on #${e.target}`;
    case "chat.created":
      return `${head} created ${e.chatKind === "group" ? `group ${JSON.stringify(e.title ?? "")}` : "the chat"} with ${e.members.map(name).join(", ")}`;
    case "member.added":
      return `${head} added ${name(e.user)}`;
    case "member.removed":
      return `${head} removed ${name(e.user)}`;
    case "message.deleted":
      return `${head} deleted #${e.target}`;
    default:
      return `${head} ${(e as { kind: string }).kind}`;
  }
}
