import { type ChatEvent, parseEventPayload } from "@natter/protocol";
import type { JsMsg } from "@nats-io/jetstream";

/**
 * A chat stream message as an event, the stream seq becoming its `seq`; throws (poison)
 * for anything that is not one. The parser of every consumer on the chat stream.
 */
export function parseChatEvent(msg: JsMsg): ChatEvent {
  return parseEventPayload(msg.json(), msg.seq);
}
