import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { rootCertificates } from "node:tls";

/**
 * The HTTPS agent of the push consumer: the system's roots plus `NATTER_PUSH_CA_FILE`'s
 * certificates (a private push service, the tests' local one). Adding a root is the only
 * knob: verification is never turned off.
 */
export function pushAgent(caFile: string | undefined): https.Agent {
  return new https.Agent({
    keepAlive: true,
    ...(caFile ? { ca: [...rootCertificates, readFileSync(caFile, "utf8")] } : {}),
  });
}

/** POSTs `body` and answers the status (the response body read and dropped); rejects on a network error or after `timeoutMs`. */
export function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  agent: https.Agent,
  timeoutMs: number,
): Promise<number> {
  const u = new URL(url);
  const mod = u.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers },
        timeout: timeoutMs,
        ...(u.protocol === "https:" ? { agent } : {}),
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`POST ${u.origin}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** Waits `ms`, or less when `signal` aborts (a stopping consumer does not sit out a back-off). */
export function backoffSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}
