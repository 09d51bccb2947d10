// Prints the NATS identities table that subjects.md carries (`npm run permissions:doc`),
// from packages/subjects/src/permissions.ts; a test fails when subjects.md's copy drifts.
import { permissionsMarkdown } from "@natter/subjects/permissions";

console.log(permissionsMarkdown());
