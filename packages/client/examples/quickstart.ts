// Log in, listen, connect, send, read marks, history: the SDK's main calls in one script.
//   NATTER_SERVER=http://localhost:8080 NATTER_HANDLE=ana NATTER_PASSWORD='correct horse' \
//   NATTER_PEER=ben scripts/node packages/client/examples/quickstart.ts
import { NatterClient, SendTimeoutError } from "@natter/client";
import { FileCursorStore } from "@natter/client/node";

const servers = (process.env.NATTER_SERVER ?? "http://localhost:8080").split(",");

// 1. Log in over HTTP (or NatterClient.signup({ …, displayName })). Cursors in a file: a
//    restart syncs only what it has not processed (in a browser: LocalStorageCursorStore).
const { client, session } = await NatterClient.login({
  servers, // several gateways: each reconnect moves to the next
  handle: process.env.NATTER_HANDLE ?? "ana",
  password: process.env.NATTER_PASSWORD ?? "correct horse",
  cursors: new FileCursorStore(`.natter/cursors-${process.env.NATTER_HANDLE ?? "ana"}.json`),
});
// Keep session.token to build the client next time: new NatterClient({ servers, token, cursors }).
console.log(`logged in as ${session.userId} (client.userId: ${client.userId})`);

// 2. Listen. Each chat's events arrive in n order, live or replayed after a reconnect; a
//    listener may return a promise, and the chat's cursor moves when it resolves.
client.on("event", (e) => {
  const who = client.users.name(e.from);
  if (e.kind === "message.created") console.log(`[${e.chat} #${e.n}] ${who}: ${e.body}`);
  else console.log(`[${e.chat} #${e.n}] ${e.kind}`);
});
client.on("state", (state, prev) => console.log(`connection: ${prev} → ${state}`));
client.on("synced", ({ chat, n }) => console.log(`${chat} replayed up to #${n}`));
client.on("typing", ({ chat, user }) => console.log(`${client.users.name(user)} is typing in ${chat}`));
client.on("presence", ({ user, online }) => console.log(`${user} is ${online ? "online" : "offline"}`));
client.on("receipt", ({ chat, user, readN }) => console.log(`${user} read ${chat} up to ${readN}`));
client.on("error", (err) => console.warn("natter:", err.message));
client.on("unauthorized", () => console.log("token refused: log in again, then client.setToken(t); client.connect()"));

// 3. Connect: resolves once `ready` and the replay of every chat (`synced`) are done.
await client.connect();

// 4. Chats and sends. A send works while offline too; it resolves with seq and n once acked.
const ben = await client.http.userByHandle(process.env.NATTER_PEER ?? "ben");
const { chatId } = await client.http.createDirect(ben.userId);
client.track(chatId); // new chats start by themselves; track() makes sure, from the start
try {
  const { seq, n } = await client.send(chatId, "hello ben");
  console.log(`sent as #${n} (stream seq ${seq})`);
} catch (err) {
  if (err instanceof SendTimeoutError) console.log("not acknowledged in 90 s; its event will tell if it landed");
  else throw err; // NatterError with a stable code: forbidden, not_found, too_large, …
}

// 5. Read marks, typing, presence.
client.read(chatId, client.cursor(chatId) ?? 0);
client.typing(chatId);
client.watch([ben.userId]);

// 6. History, newest page first, scrolling up.
const pager = client.history(chatId, { pageSize: 50 });
while (pager.hasMore) {
  const page = await pager.older(); // ascending by n within the page
  console.log(`${page.length} older events, from #${pager.oldestN}`);
}

// 7. Done: pending acks are flushed, cursors stay in the file.
client.close();
