// The gateway process: `node gateway/src/main.ts` (configuration from NATTER_* variables).
import { onShutdown, openRuntime } from "@natter/runtime";
import { listenGateway } from "./process.ts";

const rt = await openRuntime("gateway");
const { gw } = await listenGateway(rt);
onShutdown(
  rt.logger,
  async () => {
    await gw.close();
    await rt.nc.drain();
    await rt.store.close();
  },
  rt.config.shutdownGrace,
);
