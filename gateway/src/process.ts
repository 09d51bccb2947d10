import type { Runtime } from "@natter/runtime";
import { createGateway, type Gateway } from "./gateway.ts";

/**
 * Starts a gateway on the configured address. The returned `stop` stops accepting and
 * closes sockets; the caller drains NATS and closes the store after it.
 */
export async function listenGateway(rt: Runtime): Promise<{ gw: Gateway; address: string }> {
  const gw = await createGateway(rt);
  const address = await gw.app.listen({ host: rt.config.httpHost, port: rt.config.httpPort });
  rt.logger.info({ address }, `Natter gateway listening on ${address}`);
  return { gw, address };
}
