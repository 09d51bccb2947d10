import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";

/** What `natter login` keeps: the session and the server it belongs to. */
export interface Credentials {
  server: string;
  handle: string;
  userId: string;
  deviceId: string;
  token: string;
  expiresAt: number;
}

/** `NATTER_CREDENTIALS`, else `~/.config/natter/credentials.json`. */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.NATTER_CREDENTIALS || path.join(homedir(), ".config", "natter", "credentials.json");
}

export async function loadCredentials(file: string): Promise<Credentials | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const data = JSON.parse(text) as Partial<Credentials>;
  if (typeof data.token !== "string" || typeof data.server !== "string") {
    throw new Error(`${file} is not a natter credentials file; run natter login again`);
  }
  return data as Credentials;
}

/** Writes the file readable by the owner only (it holds a bearer token). */
export async function saveCredentials(file: string, creds: Credentials): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
}

export async function removeCredentials(file: string): Promise<void> {
  await rm(file, { force: true });
}
