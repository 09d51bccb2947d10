// The NATS identities of one deployment: `scripts/node scripts/nats-auth.ts DIR`.
//   DIR/secrets/<identity>.nk  an nkey seed per identity (packages/subjects/src/permissions.ts),
//                              made once and kept: a restart never changes who is who
//   DIR/leaf-remote.conf       the `leaf` identity's seed as `nkey: …`, included by an edge
//                              site's leaf remote (nats/leaf.conf)
//   DIR/auth.conf              the nats-server `accounts` block with each identity's public
//                              key and permissions, rendered again on every run, so a
//                              permission changed in permissions.ts takes effect on restart
// Files are mode 600 in a mode-700 folder. Rotating an identity: delete its seed, run this
// again, restart nats-server and the processes using it (SECURITY.md). Used by
// scripts/services.sh (the dev node of `npm start` and `npm run services`) and for compose.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { natsAccountsConfig, type NatsCredential, NATS_IDENTITY_NAMES } from "@natter/subjects/permissions";
import { createUser, fromSeed } from "@nats-io/nkeys";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: nats-auth.ts DIR");
  process.exit(2);
}
const secrets = path.join(dir, "secrets");
mkdirSync(secrets, { recursive: true, mode: 0o700 });
chmodSync(dir, 0o700);
chmodSync(secrets, 0o700);

const creds: Partial<Record<(typeof NATS_IDENTITY_NAMES)[number], NatsCredential>> = {};
for (const name of NATS_IDENTITY_NAMES) {
  const file = path.join(secrets, `${name}.nk`);
  if (!existsSync(file)) {
    writeFileSync(file, `${new TextDecoder().decode(createUser().getSeed())}\n`, { mode: 0o600 });
  }
  chmodSync(file, 0o600);
  const seed = new TextEncoder().encode(readFileSync(file, "utf8").trim());
  creds[name] = { nkey: fromSeed(seed).getPublicKey() };
}
const conf = path.join(dir, "auth.conf");
writeFileSync(conf, natsAccountsConfig(creds), { mode: 0o600 });
chmodSync(conf, 0o600);
// An edge site's leaf remote authenticates as the `leaf` identity: nats/leaf.conf includes
// this file inside its remote, so the seed stays in a mode-600 file, never in the config or
// the environment. A site gets the hub's copy (README "Edge sites").
const leafRemote = path.join(dir, "leaf-remote.conf");
const leafSeed = readFileSync(path.join(secrets, "leaf.nk"), "utf8").trim();
writeFileSync(
  leafRemote,
  `# The leaf identity's seed (scripts/nats-auth.ts): do not edit.\nnkey: ${JSON.stringify(leafSeed)}\n`,
  {
    mode: 0o600,
  },
);
chmodSync(leafRemote, 0o600);
