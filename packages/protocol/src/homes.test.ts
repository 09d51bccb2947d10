import assert from "node:assert/strict";
import { test } from "node:test";
import { chatHome, homedPrefix, homeOf, HUB_SITE, isSiteName } from "./homes.ts";
import { isId } from "./limits.ts";

test("homes - ids without a site (every deployment without NATTER_SITE) are homed at the hub, in the plain form", () => {
  assert.equal(homedPrefix("u", undefined), "u_");
  assert.equal(homedPrefix("g", HUB_SITE), "g_");
  for (const id of ["u_abc", "d_Xq3kP0c8Lm2RZ1aB", "g_-e_s1_looks_like_a_site", "u_e_x"])
    assert.equal(homeOf(id), HUB_SITE, id);
});

test("homes - a site's ids name the site, and stay valid ids and subject tokens", () => {
  const id = `${homedPrefix("u", "shop1")}AbC-_12`;
  assert.equal(id, "ue_shop1_AbC-_12");
  assert.equal(homeOf(id), "shop1");
  assert.equal(homeOf("de_ship2_hash"), "ship2");
  assert.ok(
    isId(`${homedPrefix("g", "a234567890123456")}${"x".repeat(22)}`),
    "the longest form is at most 64 characters",
  );
});

test("homes - a chat is homed at its members' common site, else at the hub", () => {
  assert.equal(chatHome(["ue_s1_a", "ue_s1_b"]), "s1");
  assert.equal(chatHome(["ue_s1_a", "ue_s2_b"]), HUB_SITE);
  assert.equal(chatHome(["ue_s1_a", "u_hub"]), HUB_SITE);
  assert.equal(chatHome(["u_a", "u_b"]), HUB_SITE);
});

test("homes - site names are short lowercase tokens (JetStream domains and id parts)", () => {
  for (const ok of ["s1", "hub", "shop42", "a"]) assert.ok(isSiteName(ok), ok);
  for (const bad of ["", "1shop", "Shop", "shop-1", "shop_1", "s.1", "a23456789012345678", 7])
    assert.ok(!isSiteName(bad), String(bad));
});
