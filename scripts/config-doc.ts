// Prints the configuration table that README.md carries (`npm run config:doc`); a test
// fails when the README's copy drifts from the schema.
import { configTableMarkdown } from "@natter/config";

console.log(configTableMarkdown());
