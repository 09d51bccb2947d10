// The gateway process: `node gateway/src/main.ts` (configuration from NATTER_* variables).
import { openRuntime, runGatewayProcess } from "./process.ts";

const rt = await openRuntime("gateway");
await runGatewayProcess(rt);
