/**
 * Homes of ids at edge sites (README "Edge sites"). Every user and every chat has a home
 * JetStream domain, fixed when it is created and readable from its id alone, so routing a
 * send or a read needs no lookup and cannot go stale during an outage:
 *
 * - `<kind>_<random>`: homed at the hub (and every id of a deployment without sites, so a
 *   deployment with `NATTER_SITE` unset mints exactly the ids it always did);
 * - `<kind>e_<site>_<random>`: homed at edge site `<site>`.
 *
 * `<kind>` is one lowercase letter (`u` user, `g` group, `d` direct chat). The forms never
 * overlap: a hub id has `_` second, a site id `e`.
 */

/** The hub's JetStream domain and site name: where chats spanning sites are homed. */
export const HUB_SITE = "hub";

/** Site names: JetStream domains and id tokens at once, so short lowercase letters and digits. */
export const SITE_PATTERN = /^[a-z][a-z0-9]{0,15}$/;

export function isSiteName(v: unknown): v is string {
  return typeof v === "string" && SITE_PATTERN.test(v);
}

const SITE_ID = /^[a-z]e_([a-z][a-z0-9]{0,15})_/;

/** The id prefix for something of `kind` (`u`, `g`, `d`) created at `site` (undefined or the hub: the plain form). */
export function homedPrefix(kind: string, site: string | undefined): string {
  return site === undefined || site === HUB_SITE ? `${kind}_` : `${kind}e_${site}_`;
}

/** The home site of an id: the site it names, else the hub. */
export function homeOf(id: string): string {
  return SITE_ID.exec(id)?.[1] ?? HUB_SITE;
}

/**
 * Where a chat among `members` is homed: at their common site when every member is homed
 * there, else at the hub (a chat spanning sites, or with a hub user, is sequenced by the
 * hub, which every site reaches).
 */
export function chatHome(members: readonly string[]): string {
  const homes = new Set(members.map(homeOf));
  return homes.size === 1 ? [...homes][0]! : HUB_SITE;
}
