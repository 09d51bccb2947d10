import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

let natsBinDir: string | undefined;

/**
 * The folder holding `nats-server` and `nats`, found (or built) by scripts/ensure-nats.sh,
 * the same script the services use, so tests run the version the project pins.
 * NATS_BIN_DIR overrides it.
 */
export function natsBin(): string {
  if (process.env.NATS_BIN_DIR) return process.env.NATS_BIN_DIR;
  natsBinDir ??= execFileSync("bash", [path.join(root, "scripts/ensure-nats.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
  const server = path.join(natsBinDir, "nats-server");
  if (!existsSync(server)) throw new Error(`nats-server not found in ${natsBinDir}`);
  return natsBinDir;
}

export const repoRoot = root;
