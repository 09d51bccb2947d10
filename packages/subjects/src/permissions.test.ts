import assert from "node:assert/strict";
import { test } from "node:test";
import { docTable, tableCells } from "@natter/testkit";
import { NATS_IDENTITIES, NATS_IDENTITY_NAMES, natsAccountsConfig, permissionsMarkdown } from "./permissions.ts";

test("permissions - subjects.md lists every identity exactly as permissions.ts defines it", async () => {
  const table = await docTable("subjects.md", "permissions");
  assert.ok(table, "subjects.md has the permissions table markers");
  assert.deepEqual(table, tableCells(permissionsMarkdown()), "subjects.md is stale: run `npm run permissions:doc`");
});

test("permissions - only operators have unrestricted identities; nobody but gateways publishes chat events", () => {
  for (const name of NATS_IDENTITY_NAMES) {
    const spec = NATS_IDENTITIES[name] as { permissions?: { publish: { allow: readonly string[] } } };
    if (!spec.permissions) {
      assert.ok(name === "admin" || name === "sys", `${name} is unrestricted`);
      continue;
    }
    const writesChats = spec.permissions.publish.allow.some((s) => s === "chat.*.msg" || s === ">" || s === "chat.>");
    assert.equal(writesChats, name === "gateway" || name === "natter", `${name} and chat.*.msg`);
  }
});

test("permissions - the server config quotes every subject and maps anonymous clients only when asked", () => {
  const conf = natsAccountsConfig({ tail: { nkey: "UTAIL" }, admin: { user: "admin", password: "pw" } });
  assert.match(conf, /# tail: /);
  assert.match(conf, /"\$JS\.API\.INFO"/);
  assert.doesNotMatch(conf, /no_auth_user/);
  assert.match(
    natsAccountsConfig({ admin: { user: "admin", password: "pw" } }, { noAuthUser: "admin" }),
    /no_auth_user: "admin"/,
  );
  assert.throws(() => natsAccountsConfig({ tail: { nkey: "U" } }, { noAuthUser: "tail" }), /user\/password/);
});
