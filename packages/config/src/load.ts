import { accessSync, constants } from "node:fs";
import { CHECKS, type Config, type ConfigKey, type Key, KEYS, type ProcessKind } from "./schema.ts";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `250ms`, `10s`, `2m`, `7d` (or a bare number of milliseconds). */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * (UNITS[m[2] ?? "ms"] ?? 1);
}

export class ConfigError extends Error {
  override name = "ConfigError";
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.problems = problems;
  }
}

function parse(key: Key, raw: string): { value?: unknown; problem?: string } {
  switch (key.kind) {
    case "int": {
      if (!/^-?\d+$/.test(raw.trim())) return { problem: `${key.env}=${raw}: expected an integer` };
      const n = Number(raw);
      if (key.min !== undefined && n < key.min) return { problem: `${key.env}=${raw}: must be at least ${key.min}` };
      if (key.max !== undefined && n > key.max) return { problem: `${key.env}=${raw}: must be at most ${key.max}` };
      return { value: n };
    }
    case "duration": {
      const ms = parseDuration(raw);
      if (ms === undefined || ms <= 0)
        return { problem: `${key.env}=${raw}: expected a duration such as 500ms, 10s, 2m, 7d` };
      return { value: ms };
    }
    case "enum":
      if (!key.values?.includes(raw))
        return { problem: `${key.env}=${raw}: expected one of ${key.values?.join(", ")}` };
      return { value: raw };
    case "list": {
      const items = raw
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      if (items.length === 0) return { problem: `${key.env}: expected at least one value` };
      const unknown = key.values ? items.filter((i) => !key.values?.includes(i)) : [];
      if (unknown.length)
        return {
          problem: `${key.env}=${raw}: unknown ${unknown.join(", ")}; expected some of ${key.values?.join(", ")}`,
        };
      return { value: [...new Set(items)] };
    }
    case "file":
      // A path read later (a key, a certificate): refused now, not at first use, if unreadable.
      try {
        accessSync(raw, constants.R_OK);
      } catch (err) {
        return { problem: `${key.env}=${raw}: cannot read the file (${(err as NodeJS.ErrnoException).code})` };
      }
      return { value: raw };
    case "secret":
      if (raw.length < 32) return { problem: `${key.env}: must be at least 32 characters (try: openssl rand -hex 32)` };
      return { value: raw };
    default:
      return { value: raw };
  }
}

/**
 * Validates the environment once, at start-up, and returns typed config. Every problem is
 * reported at once, so an operator fixes them in one go. `overrides` (tests, embedders)
 * take precedence over the environment and use the same raw string forms. `kind`, the kind
 * of process starting, requires only its own secrets (a key's `requiredBy`); without it
 * every such key is required.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Record<ConfigKey, string>> = {},
  kind?: ProcessKind,
): Config {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(KEYS) as [ConfigKey, Key][]) {
    const raw = overrides[name] ?? env[key.env] ?? key.default;
    if (raw === undefined || raw === "") {
      if (key.optional) continue;
      if (key.requiredBy) {
        if (kind !== undefined && !key.requiredBy.includes(kind)) continue;
        const other = key.requiredUnless ? (KEYS as Record<string, Key>)[key.requiredUnless] : undefined;
        if (other && (overrides[key.requiredUnless as ConfigKey] || env[other.env])) continue;
        problems.push(`${key.env} is required${kind ? ` by a ${kind} process` : ""}: ${key.doc}`);
        continue;
      }
      problems.push(`${key.env} is required: ${key.doc}`);
      continue;
    }
    const { value, problem } = parse(key, raw);
    if (problem) problems.push(problem);
    else out[name] = value;
  }
  if (!problems.length) for (const check of CHECKS) problems.push(...check(out as Config));
  if (problems.length) throw new ConfigError(problems);
  return out as Config;
}

/** The configuration table for the README, generated from the schema. */
export function configTableMarkdown(): string {
  const rows = Object.values(KEYS as Record<string, Key>).map(
    (k) =>
      `| \`${k.env}\` | ${k.kind === "enum" ? (k.values ?? []).join(" \\| ") : k.kind} | ${k.default === undefined ? (k.optional ? "(unset)" : k.requiredBy ? `(required: ${k.requiredBy.join(", ")})` : "(required)") : `\`${k.default.replace(/\|/g, "\\|")}\``} | ${k.doc} |`,
  );
  return ["| variable | type | default | meaning |", "|---|---|---|---|", ...rows].join("\n");
}
