export * from "./errors.ts";
export * from "./events.ts";
export * from "./frames.ts";
export * from "./limits.ts";
export * from "./membership.ts";
export * from "./signals.ts";
export * from "./http.ts";
export * from "./frame-schemas.ts";
