export { type BuiltApp, buildApp } from "./app.ts";
export { createGateway, type Gateway } from "./gateway.ts";
export { runGatewayProcess } from "./process.ts";
