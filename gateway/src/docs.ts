/**
 * The API's documentation page: Swagger UI (`@fastify/swagger-ui`, the maintained Fastify
 * plugin) over the OpenAPI document that `@fastify/swagger` builds from the routes' own
 * schemas, so the page can never drift from the server. Its routes are hidden from that
 * document (the plugin marks them `hide`), and `app.ts` leaves them out of the route list
 * the OpenAPI coverage and authorization tests walk.
 */
import swaggerUi from "@fastify/swagger-ui";
import type { App } from "./server-types.ts";

/** Where the page lives; `${DOCS_PREFIX}/json` is the document it renders (the same as `/v1/openapi.json`). */
export const DOCS_PREFIX = "/docs";

/**
 * The page's own policy, not the plugin's `staticCSP: true`: that one carries
 * `upgrade-insecure-requests`, which breaks the page on a plain-HTTP gateway behind no
 * TLS proxy. Swagger UI's scripts are files of its own; it sets inline styles.
 */
const DOCS_CSP = {
  "default-src": "'self'",
  "script-src": "'self'",
  "style-src": "'self' 'unsafe-inline'",
  "img-src": "'self' data:",
  "connect-src": "'self'",
  "object-src": "'none'",
  "base-uri": "'none'",
  "form-action": "'self'",
  "frame-ancestors": "'none'",
};

export async function docsRoutes(app: App): Promise<void> {
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: DOCS_CSP,
    uiConfig: { docExpansion: "list", deepLinking: true },
  });
}
