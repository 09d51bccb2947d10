// The SDK suites' stack: a real nats-server, a gateway and a consumers process (SQLite),
// started before the file's tests and stopped after, and users signed up on it as clients.
import { after, before } from "node:test";
import { type Stack, startStack } from "@natter/testkit";
import { MemoryCursorStore, NatterClient } from "./index.ts";

export interface SdkStack {
  /** The stack (set once `before` ran). */
  readonly stack: Stack;
  /** A new user, handle `<prefix>_<name>_<k>`, as a connected client (closed after the file). */
  user(name: string): Promise<{ client: NatterClient; userId: string }>;
}

export function sdkStack(prefix: string): SdkStack {
  let stack: Stack | undefined;
  const clients: NatterClient[] = [];
  let seq = 0;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    for (const c of clients) c.close();
    await stack?.stop();
  });
  const started = (): Stack => {
    if (!stack) throw new Error("the stack starts in before()");
    return stack;
  };
  return {
    get stack() {
      return started();
    },
    async user(name) {
      const { client, session } = await NatterClient.signup({
        servers: started().gateways[0]!.url,
        handle: `${prefix}_${name}_${++seq}`,
        displayName: name,
        password: "password-123",
        cursors: new MemoryCursorStore(),
      });
      clients.push(client);
      return { client, userId: session.userId };
    },
  };
}
