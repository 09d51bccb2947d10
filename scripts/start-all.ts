// `npm start`: the gateway and every consumer in one process over one NATS connection and
// one store (SQLite by default), for development and small installs. Production runs
// `gateway/src/main.ts` and `consumers/src/main.ts` as separate processes.
import { startConsumers } from "@natter/consumers";
import { listenGateway } from "@natter/gateway";
import { onShutdown, openRuntime } from "@natter/runtime";

const rt = await openRuntime("natter");
const consumers = await startConsumers(rt);
const { gw, address } = await listenGateway(rt);
console.log(
  `\n  Natter is running at ${address.replace("127.0.0.1", "localhost")}  (store: ${rt.config.store}, NATS: ${rt.config.natsUrl.join(",")})\n`,
);
onShutdown(
  rt.logger,
  async () => {
    await gw.close();
    await consumers.stop();
    await rt.nc.drain();
    await rt.store.close();
  },
  rt.config.shutdownGrace,
);
