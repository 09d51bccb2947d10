// An echo bot that survives a crash at any point with no lost and no duplicate reply.
//   NATTER_SERVER=http://localhost:8080 NATTER_TOKEN=<token> scripts/node packages/client/examples/echo-bot.ts
// (or NATTER_HANDLE and NATTER_PASSWORD to log in; NATTER_CURSORS names the cursor file).
import { NatterClient, replyId } from "@natter/client";
import { FileCursorStore } from "@natter/client/node";

const servers = process.env.NATTER_SERVER ?? "http://localhost:8080";
// Cursors in a file, written atomically: a restart resumes after the last event processed.
const cursors = new FileCursorStore(process.env.NATTER_CURSORS ?? "echo-bot.cursors.json");

let token = process.env.NATTER_TOKEN;
if (!token) {
  const { session } = await NatterClient.login({
    servers,
    handle: process.env.NATTER_HANDLE ?? "echo",
    password: process.env.NATTER_PASSWORD ?? "",
  });
  token = session.token;
}
const client = new NatterClient({ servers, token, cursors });

// The cursor moves past an event only when this promise resolves, so an event whose
// reply was not acknowledged comes again after a crash. The reply's id is derived from
// the event (reply-<chat>-<n>): sent again, it is deduplicated by the server. `retry`
// because it may have been sent before this start, longer ago than the dedup window.
client.on("event", async (e) => {
  if (e.kind !== "message.created" || e.from === client.userId) return;
  await client.send(e.chat, `echo: ${e.body}`, { id: replyId(e), retry: true });
});
client.on("error", (err) => console.error(`echo-bot: ${err.message}`));

// Resolves once every chat is synced, chats created while the bot was down included.
await client.connect();
console.log(`echo-bot ready as ${client.userId}`);

process.once("SIGTERM", () => {
  client.close();
  process.exit(0);
});
