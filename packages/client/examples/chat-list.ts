// The live chat list: names, last message and unread counts, kept up to date by events.
//   NATTER_SERVER=http://localhost:8080 NATTER_TOKEN=<token> scripts/node packages/client/examples/chat-list.ts
import { ChatList, NatterClient } from "@natter/client";

const client = new NatterClient({
  servers: process.env.NATTER_SERVER ?? "http://localhost:8080",
  token: process.env.NATTER_TOKEN ?? "",
  discoverChats: "from-head", // a list shows history with the pager; it needs only new events
});
const list = new ChatList(client);
const stop = list.follow(); // events, my sends, reads on my other devices, reconnects

const print = () => {
  for (const c of list.items()) {
    const unread = c.unread > 999 ? "999+" : String(c.unread);
    console.log(`${list.title(c.chatId)}\t${unread} unread\t${c.preview ?? ""}`);
  }
};
await client.connect();
await list.refresh();
print();

// Reading a chat: its unread count goes to 0 and a read mark goes to the server.
const first = list.items()[0];
if (first) list.read(first.chatId);
console.log(`after reading: ${list.get(first?.chatId ?? "")?.unread ?? 0} unread in the first chat`);

stop();
client.close();
