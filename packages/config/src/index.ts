export { ConfigError, configTableMarkdown, loadConfig, parseDuration } from "./load.ts";
export { createLogger, type Logger } from "./logger.ts";
export { type Config, type ConfigKey, KEYS, type ProcessKind, type TokenKeyring, tokenKeyring } from "./schema.ts";
