import type { Store } from "@natter/store";
import { Histogram, type Registry } from "prom-client";

/** Not timed: run once at start-up or shut-down, they would only skew the histogram. */
const UNTIMED = new Set<PropertyKey>(["migrate", "close"]);

/**
 * `store` with every call timed in `natter_store_seconds` by method and outcome, for every
 * process alike (the gateway's reads, the history consumer's batch writes, readiness pings),
 * without either backend knowing. Store methods all return promises; a method that throws
 * synchronously counts as an error too.
 */
export function timedStore(store: Store, registry: Registry): Store {
  const seconds = new Histogram({
    name: "natter_store_seconds",
    help: "Calls to the store (Cassandra or SQLite) from this process, by method (op) and outcome (ok, error)",
    labelNames: ["op", "outcome"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      let fn = wrapped.get(prop);
      if (fn !== undefined) return fn;
      const method = value as (...args: unknown[]) => unknown;
      // Always called on the store itself, never on the proxy: the backends keep their
      // state in private fields, which only the real instance has.
      if (UNTIMED.has(prop) || typeof prop !== "string") {
        fn = method.bind(target);
      } else {
        fn = (...args: unknown[]) => {
          const end = seconds.startTimer({ op: prop });
          let result: unknown;
          try {
            result = method.apply(target, args);
          } catch (err) {
            end({ outcome: "error" });
            throw err;
          }
          return Promise.resolve(result).then(
            (v) => {
              end({ outcome: "ok" });
              return v;
            },
            (err: unknown) => {
              end({ outcome: "error" });
              throw err;
            },
          );
        };
      }
      wrapped.set(prop, fn);
      return fn;
    },
  });
}
