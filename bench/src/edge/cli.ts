/**
 * `npm run edge [-- --messages 20] [--json file]`: the edge-site story (story.ts) on this
 * machine: a hub and a site as real nats-server leaf nodes, the link cut and restored, the
 * site's nats-server restarted while cut. Prints a table per phase and exits 1 unless every
 * phase shows 0 lost, 0 duplicated, 0 out of order and the site's own chat kept working
 * while cut.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { exitOnSignals } from "@natter/testkit";
import { phaseTable, runEdgeStory } from "./story.ts";

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "20" },
    json: { type: "string" },
  },
});
const messages = Number(values.messages);
if (!Number.isInteger(messages) || messages < 1 || messages > 100) {
  // Two senders a chat, four phases: at most 801 events a chat, under one store page (1000).
  console.error("--messages: expected 1..100 (per sender, chat and phase)");
  process.exit(2);
}
exitOnSignals();
const started = Date.now();
const rows = await runEdgeStory({
  messages,
  log: (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${line}`),
});
console.log(`\n${phaseTable(rows)}\n`);
if (values.json) writeFileSync(values.json, JSON.stringify(rows, null, 2));
const bad = rows.filter((r) => r.lost || r.duplicated || r.outOfOrder || r.reconcileMs < 0);
const cut = rows.find((r) => r.phase === "cut");
// While cut, the site's own chat (two senders) and the hub's chat (two senders) must have
// been answered `sent`: 4 of the 6 senders; the site user's sends to the hub's chat wait.
const localWorked = cut !== undefined && cut.sent - cut.retried >= 4 * messages;
if (bad.length || !localWorked) {
  console.error(bad.length ? `FAILED: ${bad.map((r) => r.phase).join(", ")}` : "FAILED: local sends during the cut");
  process.exit(1);
}
console.log("edge story passed: nothing lost, duplicated or out of order; local chats kept working through the cut");
process.exit(0);
