import {
  createECDH,
  createDecipheriv,
  createHmac,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  randomUUID,
  timingSafeEqual,
  verify,
} from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import {
  type PushNotification,
  type PushWebhookBody,
  parseWebhookSignature,
  WEBHOOK_SIGNATURE_HEADER,
  webhookSignedContent,
} from "@natter/protocol";
import { testCertificates } from "./nats-server.ts";

/**
 * A browser's side of a Web Push subscription: what `pushManager.subscribe()` returns
 * (`endpoint`, `keys`), plus the private key only the browser holds, which the test push
 * service uses to decrypt what it receives, as the browser would.
 */
export interface TestSubscription {
  id: string;
  endpoint: string;
  keys: { p256dh: string; auth: string };
  /** The browser's ECDH private key (raw, base64url). */
  privateKey: string;
}

/** One push as the browser would see it, with what the push service checked. */
export interface ReceivedPush {
  subscriptionId: string;
  /** Decrypted and parsed: what the service worker's `push` event would hold. */
  notification: PushNotification;
  /** The VAPID public key (`k=`) whose signature checked out. */
  vapidKey: string;
  jwt: { aud: string; exp: number; sub: string };
  ttl: number;
  urgency: string | undefined;
  topic: string | undefined;
  /** What the service answered. */
  status: number;
}

export interface TestPushService {
  /** `https://127.0.0.1:<port>` */
  origin: string;
  /** The CA that signs its certificate: the push consumer's `NATTER_PUSH_CA_FILE`. */
  caFile: string;
  /** A fresh browser-side subscription on this service. */
  subscribe(): TestSubscription;
  /** Pushes accepted (checked, decrypted; answered 201 unless the sender died first), in arrival order. */
  received: ReceivedPush[];
  /** Requests refused, with why (a bad VAPID token, a payload that does not decrypt…). */
  refused: { subscriptionId: string; status: number; reason: string }[];
  /** Answer this status to every push to the subscription from now on (410: it is gone). */
  answer(subscriptionId: string, status: number): void;
  /**
   * Runs before a push is answered (after it was checked and recorded): a test can kill the
   * sender here, so it never learns the push landed.
   */
  beforeAnswer?: (push: ReceivedPush) => void | Promise<void>;
  /** Resolves once `count` pushes were accepted, or rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs: number): Promise<ReceivedPush[]>;
  close(): Promise<void>;
}

const b64u = (b: Buffer) => b.toString("base64url");

/** RFC 8292: verifies `Authorization: vapid t=<ES256 JWT>, k=<P-256 public key>`; returns the claims and key or why not. */
export function checkVapid(
  header: string | undefined,
  audience: string,
  now = Date.now(),
): { ok: true; key: string; jwt: { aud: string; exp: number; sub: string } } | { ok: false; reason: string } {
  const m = /^vapid t=([\w-]+\.[\w-]+\.[\w-]+),\s*k=([\w-]+)$/.exec(header ?? "");
  if (!m) return { ok: false, reason: `Authorization is not "vapid t=…, k=…": ${header}` };
  const [token, k] = [m[1]!, m[2]!];
  const raw = Buffer.from(k, "base64url");
  if (raw.length !== 65 || raw[0] !== 4) return { ok: false, reason: "k is not an uncompressed P-256 point" };
  const key = createPublicKey({
    key: { kty: "EC", crv: "P-256", x: b64u(raw.subarray(1, 33)), y: b64u(raw.subarray(33)) },
    format: "jwk",
  });
  const [h, p, s] = token.split(".") as [string, string, string];
  const header64 = JSON.parse(Buffer.from(h, "base64url").toString()) as { alg?: string; typ?: string };
  if (header64.alg !== "ES256") return { ok: false, reason: `JWT alg ${header64.alg}, expected ES256` };
  const good = verify(
    "sha256",
    Buffer.from(`${h}.${p}`),
    { key, dsaEncoding: "ieee-p1363" },
    Buffer.from(s, "base64url"),
  );
  if (!good) return { ok: false, reason: "JWT signature does not verify with k" };
  const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as { aud: string; exp: number; sub: string };
  if (claims.aud !== audience) return { ok: false, reason: `aud ${claims.aud}, expected ${audience}` };
  const seconds = now / 1000;
  if (!(claims.exp > seconds && claims.exp <= seconds + 24 * 3600))
    return { ok: false, reason: `exp ${claims.exp} not within 24 h from now` };
  if (!/^(mailto:|https:)/.test(claims.sub ?? "")) return { ok: false, reason: `sub ${claims.sub} is no contact` };
  return { ok: true, key: k, jwt: claims };
}

/**
 * RFC 8291 (RFC 8188 `aes128gcm`): decrypts a Web Push body with the browser's keys, via
 * `node:crypto` only. Throws when it does not decrypt (a wrong key, a tampered body).
 */
export function decryptWebPush(body: Buffer, sub: TestSubscription): string {
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idLen = body[20]!;
  const asPublic = body.subarray(21, 21 + idLen);
  const records = body.subarray(21 + idLen);
  if (records.length > rs) throw new Error(`more than one record (${records.length} > rs ${rs})`);
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(Buffer.from(sub.privateKey, "base64url"));
  const uaPublic = Buffer.from(sub.keys.p256dh, "base64url");
  const secret = ecdh.computeSecret(asPublic);
  const auth = Buffer.from(sub.keys.auth, "base64url");
  const keyInfo = Buffer.concat([Buffer.from("WebPush: info\0"), uaPublic, asPublic]);
  const ikm = Buffer.from(hkdfSync("sha256", secret, auth, keyInfo, 32));
  const cek = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: aes128gcm\0"), 16));
  const nonce = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: nonce\0"), 12));
  const decipher = createDecipheriv("aes-128-gcm", cek, nonce);
  decipher.setAuthTag(records.subarray(records.length - 16));
  const plain = Buffer.concat([decipher.update(records.subarray(0, records.length - 16)), decipher.final()]);
  // The last record's padding: a 0x02 delimiter, then zeros.
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0) end--;
  if (plain[end] !== 2) throw new Error("no last-record padding delimiter");
  return plain.subarray(0, end).toString("utf8");
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/**
 * A local HTTPS Web Push service, as a browser vendor runs one (RFC 8030), for tests with
 * no internet: its certificate is signed by the testkit's CA (`testCertificates`), which the
 * push consumer trusts through `NATTER_PUSH_CA_FILE` (never by turning verification off).
 * Every push must carry a VAPID token that verifies (RFC 8292, for `vapidKey` when given)
 * and a body that decrypts with its subscription's keys (RFC 8291), else it is refused 401
 * or 400 and recorded in `refused`. A push to an unknown subscription answers 404.
 */
export async function startTestPushService(opts: { vapidKey?: string } = {}): Promise<TestPushService> {
  const certs = testCertificates();
  const subs = new Map<string, TestSubscription>();
  const answers = new Map<string, number>();
  const waiters: { count: number; resolve: () => void }[] = [];
  let origin = "";
  const service: TestPushService = {
    origin: "",
    caFile: certs.ca,
    received: [],
    refused: [],
    subscribe() {
      const ecdh = createECDH("prime256v1");
      ecdh.generateKeys();
      const id = randomUUID();
      const sub: TestSubscription = {
        id,
        endpoint: `${origin}/push/${id}`,
        keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(randomBytes(16)) },
        privateKey: b64u(ecdh.getPrivateKey()),
      };
      subs.set(id, sub);
      return sub;
    },
    answer(subscriptionId, status) {
      answers.set(subscriptionId, status);
    },
    waitFor(count, timeoutMs) {
      if (service.received.length >= count) return Promise.resolve(service.received.slice());
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`${service.received.length} pushes after ${timeoutMs} ms, expected ${count}`)),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(t);
            resolve(service.received.slice());
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const refuse = (res: http.ServerResponse, subscriptionId: string, status: number, reason: string) => {
    service.refused.push({ subscriptionId, status, reason });
    res.writeHead(status).end(reason);
  };
  const server = https.createServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) }, (req, res) => {
    void (async () => {
      const body = await readBody(req);
      const id = /^\/push\/([\w-]+)$/.exec(req.url ?? "")?.[1] ?? "";
      const sub = subs.get(id);
      if (req.method !== "POST" || !sub) return refuse(res, id, 404, "no such subscription");
      const forced = answers.get(id);
      if (forced !== undefined) return refuse(res, id, forced, `answered ${forced} as told`);
      const vapid = checkVapid(req.headers.authorization, origin);
      if (!vapid.ok) return refuse(res, id, 401, vapid.reason);
      if (opts.vapidKey !== undefined && vapid.key !== opts.vapidKey)
        return refuse(res, id, 403, "signed with another VAPID key than the deployment's");
      if (req.headers["content-encoding"] !== "aes128gcm")
        return refuse(res, id, 415, `Content-Encoding ${req.headers["content-encoding"]}`);
      const ttl = Number(req.headers.ttl);
      if (!Number.isInteger(ttl) || ttl < 0) return refuse(res, id, 400, `TTL ${req.headers.ttl}`);
      let notification: PushNotification;
      try {
        notification = JSON.parse(decryptWebPush(body, sub)) as PushNotification;
      } catch (err) {
        return refuse(res, id, 400, `payload does not decrypt: ${String(err)}`);
      }
      const push: ReceivedPush = {
        subscriptionId: id,
        notification,
        vapidKey: vapid.key,
        jwt: vapid.jwt,
        ttl,
        urgency: req.headers.urgency as string | undefined,
        topic: req.headers.topic as string | undefined,
        status: 201,
      };
      // Recorded first: a push service that took it delivers it, whatever the sender hears.
      service.received.push(push);
      for (const w of waiters.splice(0)) {
        if (service.received.length >= w.count) w.resolve();
        else waiters.push(w);
      }
      await service.beforeAnswer?.(push);
      res.writeHead(201, { location: `${origin}/message/${randomUUID()}` }).end();
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  service.origin = origin;
  return service;
}

/** Whether `header` is a valid `Natter-Signature` of `rawBody` under `secret` (the receiver's check). */
export function verifyWebhookSignature(header: string | undefined, rawBody: string, secret: string): boolean {
  const sig = parseWebhookSignature(header);
  if (!sig) return false;
  const want = createHmac("sha256", secret).update(webhookSignedContent(sig.t, rawBody)).digest();
  return timingSafeEqual(want, Buffer.from(sig.v1, "hex"));
}

export interface ReceivedWebhook {
  body: PushWebhookBody;
  raw: string;
  signature: string | undefined;
  /** Checked with the receiver's secret. */
  verified: boolean;
}

export interface TestWebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** Every POST, the failed ones (`fail`) included. */
  attempts: number;
  /** Answer this status to the next `times` requests (then 204 again). */
  fail(status: number, times: number): void;
  waitFor(count: number, timeoutMs: number): Promise<ReceivedWebhook[]>;
  close(): Promise<void>;
}

/**
 * An operator's webhook endpoint (plain HTTP on loopback): it records every POST and
 * whether its `Natter-Signature` verifies with `secret` (`verifyWebhookSignature`).
 */
export async function startTestWebhookReceiver(secret: string): Promise<TestWebhookReceiver> {
  const waiters: { count: number; resolve: () => void }[] = [];
  let failing = { status: 0, times: 0 };
  const receiver: TestWebhookReceiver = {
    url: "",
    received: [],
    attempts: 0,
    fail(status, times) {
      failing = { status, times };
    },
    waitFor(count, timeoutMs) {
      if (receiver.received.length >= count) return Promise.resolve(receiver.received.slice());
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`${receiver.received.length} webhooks after ${timeoutMs} ms, expected ${count}`)),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(t);
            resolve(receiver.received.slice());
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    void readBody(req).then((buf) => {
      receiver.attempts++;
      if (failing.times > 0) {
        failing.times--;
        res.writeHead(failing.status).end();
        return;
      }
      const raw = buf.toString("utf8");
      const signature = req.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()] as string | undefined;
      receiver.received.push({
        body: JSON.parse(raw) as PushWebhookBody,
        raw,
        signature,
        verified: verifyWebhookSignature(signature, raw, secret),
      });
      res.writeHead(204).end();
      for (const w of waiters.splice(0)) {
        if (receiver.received.length >= w.count) w.resolve();
        else waiters.push(w);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/natter`;
  return receiver;
}

/**
 * A fresh VAPID key pair in the shapes the configuration takes (base64url: the public key
 * an uncompressed P-256 point, the private key its 32-byte scalar), as
 * `web-push generate-vapid-keys` makes one: for test gateways and push consumers.
 */
export function testVapidKeys(): { publicKey: string; privateKey: string } {
  // As a JWK: `d`, `x` and `y` always 32 bytes (leading zeros kept), as web-push requires.
  const jwk = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });
  const point = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]);
  return { publicKey: b64u(point), privateKey: jwk.d! };
}

/** A subscription body as a browser's `PushSubscription.toJSON()` gives one (for route tests). */
export function fakeSubscriptionKeys(): { p256dh: string; auth: string } {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  return { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(randomBytes(16)) };
}
