export { type BuiltApp, buildApp } from "./app.ts";
export { createGateway, type Gateway } from "./gateway.ts";
export { listenGateway } from "./process.ts";
