import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { tokenClaims } from "../../../packages/client/src/token.ts";
import { TokenSigner, unknownKeyWarner } from "./tokens.ts";

const A = "a".repeat(32);
const B = "b".repeat(32);
const claims = { userId: "u_1", deviceId: "d_1", expiresAt: Date.now() + 60_000 };

/** A token as gateways before key ids signed it with NATTER_TOKEN_SECRET. */
function oldFormat(secret: string): string {
  const payload = Buffer.from(JSON.stringify({ u: "u_1", d: "d_1", exp: claims.expiresAt })).toString("base64url");
  return `v1.${payload}.${createHmac("sha256", secret).update(payload).digest("base64url")}`;
}

test("tokens - a secret alone is the key default and signs in the old form, read by old and new alike", () => {
  const signer = new TokenSigner(A);
  const token = signer.sign(claims);
  assert.equal(token, oldFormat(A));
  assert.deepEqual(signer.verify(oldFormat(A)), claims);
  // Still accepted while default is only accepted and another key signs.
  const rotating = new TokenSigner({ keys: { default: A, k2: B }, signingKey: "k2" });
  assert.deepEqual(rotating.verify(oldFormat(A)), claims);
});

test("tokens - a key id rides in the token and is covered by the MAC", () => {
  const signer = new TokenSigner({ keys: { k1: A, k2: B }, signingKey: "k2" });
  const token = signer.sign(claims);
  assert.match(token, /^v1\.k2\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  assert.deepEqual(signer.verify(token), claims);
  assert.deepEqual(new TokenSigner({ keys: { k2: B }, signingKey: "k2" }).verify(token), claims);
  // Relabelled to another accepted key: refused.
  assert.equal(signer.verify(token.replace("v1.k2.", "v1.k1.")), undefined);
  // Tampered payload, wrong shapes, expired: refused.
  const [, , payload, mac] = token.split(".");
  assert.equal(signer.verify(`v1.k2.${payload}x.${mac}`), undefined);
  assert.equal(signer.verify(`v2.k2.${payload}.${mac}`), undefined);
  assert.equal(signer.verify(`v1.a.k2.${payload}.${mac}`), undefined);
  assert.equal(signer.verify(token, claims.expiresAt), undefined);
});

test("tokens - a token of a removed key is refused and its key id reported, never the token", () => {
  const before = new TokenSigner({ keys: { k1: A, k2: B }, signingKey: "k1" });
  const old = before.sign(claims);
  const unknown: string[] = [];
  const after = new TokenSigner({ keys: { k2: B }, signingKey: "k2", onUnknownKey: (kid) => unknown.push(kid) });
  assert.equal(after.verify(old), undefined);
  assert.deepEqual(unknown, ["k1"]);
  // The key default removed: an old-form token is an unknown key's too.
  assert.equal(after.verify(oldFormat(A)), undefined);
  assert.deepEqual(unknown, ["k1", "default"]);
  // A known key with a wrong MAC is no unknown key; a malformed id is not echoed.
  assert.equal(after.verify(before.sign(claims).replace("v1.k1.", "v1.k2.")), undefined);
  assert.equal(after.verify(old.replace("v1.k1.", "v1.<script>.")), undefined);
  assert.deepEqual(unknown, ["k1", "default"]);
});

test("tokens - the unknown-key warning is rate limited and carries ids and counts only", () => {
  let t = 0;
  const lines: Record<string, unknown>[] = [];
  const warn = unknownKeyWarner(
    (fields) => lines.push(fields),
    60_000,
    () => t,
  );
  const signer = new TokenSigner({ keys: { k2: B }, signingKey: "k2", onUnknownKey: warn });
  const old = new TokenSigner({ keys: { k1: A }, signingKey: "k1" }).sign(claims);
  for (let i = 0; i < 100; i++) signer.verify(old);
  assert.deepEqual(lines, [{ kids: ["k1"], tokens: 1 }]);
  t = 60_000;
  signer.verify(old);
  assert.deepEqual(lines[1], { kids: ["k1"], tokens: 100 });
  assert.equal(lines.length, 2);
  assert.ok(!JSON.stringify(lines).includes(old.split(".")[2] as string), "no token in the log");
});

test("tokens - the signing key must be among the keys", () => {
  assert.throws(() => new TokenSigner({ keys: { k1: A }, signingKey: "k2" }), /not among the keys/);
});

test("tokens - the client SDK reads the claims of both forms", () => {
  assert.deepEqual(tokenClaims(new TokenSigner(A).sign(claims)), claims);
  assert.deepEqual(tokenClaims(new TokenSigner({ keys: { k2: B }, signingKey: "k2" }).sign(claims)), claims);
});
