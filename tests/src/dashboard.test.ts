import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { KEYS } from "@natter/config";
import { docTable, repoRoot, stackSuite } from "@natter/testkit";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { Api } from "./http-client.ts";

// The operator's view (issue 17, item 7): the Grafana dashboard and the alert rules may
// name only metrics that Natter's processes really export, Prometheus must scrape the
// ports compose really serves them on, and OPERATIONS.md's alert table must be the rules'.
// The exported names come from the processes themselves: a real stack, scraped.

const run = promisify(execFile);
const read = (file: string) => readFile(path.join(repoRoot, file), "utf8");
const yamlOf = async (file: string) => parseYaml(await read(file), { merge: true }) as Record<string, unknown>;

interface Target {
  refId: string;
  expr: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string; current?: { value?: string } }[] };
}
interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: { severity?: string };
  annotations?: { summary?: string };
}

const DASHBOARD = "ops/grafana/natter.json";
const ALERTS = "ops/prometheus/alerts.yml";
const SCRAPE = "ops/prometheus/prometheus.yml";

const dashboard = async () => JSON.parse(await read(DASHBOARD)) as Dashboard;
const rules = async () => ((await yamlOf(ALERTS)).groups as { rules: Rule[] }[]).flatMap((g) => g.rules);
/** Every PromQL expression of the dashboard and the rules, with where it is. */
async function expressions(): Promise<{ where: string; expr: string }[]> {
  const panels = (await dashboard()).panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ where: `panel ${p.id} "${p.title}" ${t.refId}`, expr: t.expr })),
  );
  return [...panels, ...(await rules()).map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))];
}

// --- a small PromQL reader: enough to tell metric names from functions, keywords and labels.

/** The PromQL functions and aggregations these files may use; anything else is a typo. */
const FUNCTIONS = new Set([
  "rate",
  "irate",
  "increase",
  "delta",
  "deriv",
  "sum",
  "max",
  "min",
  "avg",
  "count",
  "topk",
  "bottomk",
  "histogram_quantile",
  "min_over_time",
  "max_over_time",
  "avg_over_time",
  "absent",
  "clamp_min",
  "clamp_max",
]);
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"]);
const KEYWORDS_GROUPING = ["by", "without", "on", "ignoring", "group_left", "group_right"];
/** A series name: the label names of its samples, and whether it had any. */
interface Series {
  labels: Set<string>;
  sampled: boolean;
}
/** Series Prometheus makes itself for every target, not exported by a process. */
const PER_TARGET = new Map<string, Series>([["up", { labels: new Set(), sampled: true }]]);
/** Labels Prometheus adds to every series it scrapes. */
const TARGET_LABELS = ["job", "instance"];

interface Parsed {
  metrics: string[];
  functions: string[];
  /** Label names each selector matches on, by metric. */
  matchers: { metric: string; labels: string[] }[];
}

function parsePromQL(expr: string): Parsed {
  // Grafana's variables ($__rate_interval, ${datasource}) stand where PromQL has a duration.
  let e = expr.replace(/\$\{?\w+\}?/g, "5m");
  const matchers: Parsed["matchers"] = [];
  for (const m of e.matchAll(/([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}/g)) {
    const body = m[2]!.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
    matchers.push({ metric: m[1]!, labels: [...body.matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!) });
  }
  e = e
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(new RegExp(`\\b(${KEYWORDS_GROUPING.join("|")})\\s*\\([^)]*\\)`, "g"), " ")
    .replace(/\b(group_left|group_right)\b/g, " ");
  const metrics: string[] = [];
  const functions: string[] = [];
  for (const t of e.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const name = t[1]!;
    if (t[2]) functions.push(name);
    else if (!KEYWORDS.has(name) && !/^(inf|nan)$/i.test(name)) metrics.push(name);
  }
  return { metrics, functions, matchers };
}

/** The series names a /metrics page exports (a histogram's _bucket, _sum, _count) and the label names of each. */
function exported(page: string, out: Map<string, Series>): void {
  const add = (name: string) => {
    if (!out.has(name)) out.set(name, { labels: new Set(), sampled: false });
    return out.get(name)!;
  };
  for (const line of page.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const [, name, kind] = type;
      const series =
        kind === "histogram" ? ["_bucket", "_sum", "_count"] : kind === "summary" ? ["", "_sum", "_count"] : [""];
      for (const s of series) add(name! + s);
      continue;
    }
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s/.exec(line);
    if (!sample) continue;
    const series = add(sample[1]!);
    series.sampled = true;
    for (const l of (sample[2] ?? "").matchAll(/(\w+)="/g)) series.labels.add(l[1]!);
  }
}

describe("dashboard - the metrics it reads are the ones the processes export", () => {
  const live = stackSuite({ store: "sqlite" }, "SIGKILL");

  test("dashboard - every metric, function and label matcher of the dashboard and the alerts exists", async () => {
    // Traffic, so the labelled series the expressions match on have samples: a send (its
    // latency, the publish, store calls), and a refused request (errors by code).
    const ana = await new Api(live.g1.url).signup("ana");
    const ben = await new Api(live.g1.url).signup("ben");
    const dm = await ana.call("POST", "/v1/chats", { kind: "direct", userId: ben.userId });
    assert.equal(dm.status, 201, JSON.stringify(dm.body));
    const sent = await ana.call("POST", `/v1/chats/${dm.body.chatId}/messages`, { id: "m1", body: "hello" });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    assert.equal((await ana.call("GET", "/v1/no-such-route")).status, 404);

    const pages = {
      gateway: await (await fetch(`${live.g1.url}/metrics`)).text(),
      consumers: await (await fetch(`${live.stack.consumers.url}/metrics`)).text(),
    };
    // The metrics added for the dashboard count what happened: one send, answered ok, and
    // one not_found over HTTP (each sample line: name{labels} value).
    const value = (page: string, name: string, labels: Record<string, string>) =>
      page
        .split("\n")
        .filter((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
    assert.equal(value(pages.gateway, "natter_send_seconds_count", { outcome: "ok" }), 1);
    assert.ok(value(pages.gateway, "natter_errors_total", { code: "not_found", via: "http" }) >= 1);
    assert.ok(value(pages.gateway, "natter_store_seconds_count", { op: "findClientMsg", outcome: "ok" }) >= 1);

    const series = new Map<string, Series>(PER_TARGET);
    for (const page of Object.values(pages)) exported(page, series);
    assert.ok(series.has("natter_publish_seconds_bucket") && series.has("natter_consumer_lag"), "both pages read");

    const problems: string[] = [];
    const used = new Set<string>();
    for (const { where, expr } of await expressions()) {
      const p = parsePromQL(expr);
      if (p.metrics.length === 0) problems.push(`${where}: no metric in ${expr}`);
      for (const f of p.functions) if (!FUNCTIONS.has(f)) problems.push(`${where}: unknown function ${f}(`);
      for (const m of p.metrics) {
        used.add(m);
        if (!series.has(m)) problems.push(`${where}: ${m} is exported by no process`);
      }
      for (const { metric, labels } of p.matchers) {
        const known = series.get(metric);
        if (!known) continue; // reported above
        if (!known.sampled) problems.push(`${where}: ${metric} has no samples to match`);
        for (const l of labels) {
          if (!known.labels.has(l) && !TARGET_LABELS.includes(l))
            problems.push(`${where}: ${metric} has no label ${l}`);
        }
      }
    }
    assert.deepEqual(problems, []);

    // The issue's list: send rate and latency, deliveries, sockets, consumer lag, stalls,
    // errors by code, store latency. Each names its metric family as exported above.
    for (const family of [
      "natter_send_seconds_count",
      "natter_send_seconds_bucket",
      "natter_deliveries_total",
      "natter_ws_connections",
      "natter_consumer_lag",
      "natter_consumer_stalls_total",
      "natter_errors_total",
      "natter_store_seconds_bucket",
    ]) {
      assert.ok(series.has(family), `${family} is exported`);
      assert.ok(used.has(family), `the dashboard or an alert reads ${family}`);
    }
  });
});

describe("dashboard - the files", () => {
  test("dashboard - the JSON's structure: ids unique, every panel placed, every query on the Prometheus variable", async () => {
    const d = await dashboard();
    assert.equal(typeof d.uid, "string");
    assert.ok(d.title && d.schemaVersion >= 36);
    const ds = d.templating.list.find((v) => v.type === "datasource");
    assert.equal(ds?.query, "prometheus");
    const ref = `\${${ds!.name}}`;
    const ids = d.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
    assert.ok(ids.every((id) => Number.isInteger(id) && id > 0));
    for (const p of d.panels) {
      const { x, y, w, h } = p.gridPos;
      assert.ok([x, y, w, h].every(Number.isInteger) && x >= 0 && y >= 0 && w >= 1 && h >= 1, `${p.id} gridPos`);
      assert.ok(x + w <= 24, `panel ${p.id} fits the 24 columns`);
      if (p.type === "row") {
        assert.equal(p.targets, undefined, `row ${p.id} has no queries`);
        continue;
      }
      assert.ok(["timeseries", "stat"].includes(p.type), `panel ${p.id} type ${p.type}`);
      assert.deepEqual(p.datasource, { type: "prometheus", uid: ref }, `panel ${p.id} datasource`);
      assert.ok(p.targets && p.targets.length > 0, `panel ${p.id} has queries`);
      const refIds = p.targets.map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `panel ${p.id} refIds unique`);
      for (const t of p.targets) {
        assert.ok(typeof t.expr === "string" && t.expr.trim(), `panel ${p.id} ${t.refId} expr`);
        assert.deepEqual(t.datasource ?? p.datasource, p.datasource);
      }
    }
    // No two panels overlap.
    for (const [i, a] of d.panels.entries()) {
      for (const b of d.panels.slice(i + 1)) {
        const apart =
          a.gridPos.x + a.gridPos.w <= b.gridPos.x ||
          b.gridPos.x + b.gridPos.w <= a.gridPos.x ||
          a.gridPos.y + a.gridPos.h <= b.gridPos.y ||
          b.gridPos.y + b.gridPos.h <= a.gridPos.y;
        assert.ok(apart, `panels ${a.id} and ${b.id} overlap`);
      }
    }
  });

  test("dashboard - Prometheus scrapes every Natter service of compose on the port it serves /metrics on", async () => {
    const compose = (await yamlOf("docker-compose.yml")) as {
      services: Record<
        string,
        { image?: string; command?: string[]; environment?: Record<string, string>; volumes?: string[] }
      >;
    };
    const scrape = (await yamlOf(SCRAPE)) as {
      rule_files: string[];
      scrape_configs: {
        job_name: string;
        dns_sd_configs?: { names: string[]; port: number }[];
        static_configs?: { targets: string[] }[];
      }[];
    };
    const scraped = new Map<string, number>();
    for (const job of scrape.scrape_configs) {
      for (const sd of job.dns_sd_configs ?? []) for (const n of sd.names) scraped.set(n, sd.port);
      for (const s of job.static_configs ?? []) {
        for (const t of s.targets) {
          const [host, port] = t.split(":");
          if (host !== "localhost") scraped.set(host!, Number(port));
        }
      }
    }
    // A Natter process of compose: the image's default command (a gateway) or a main.ts.
    const natter = Object.entries(compose.services).filter(
      ([, s]) => s.image === "natter:local" && (s.command === undefined || s.command.join(" ").includes("src/main.ts")),
    );
    assert.ok(natter.length >= 3, "gateway, history and fanout");
    for (const [name, s] of natter) {
      const env = s.environment ?? {};
      const consumers = s.command?.join(" ").includes("consumers/src/main.ts") ?? false;
      const [hostKey, portKey] = consumers ? [KEYS.metricsHost, KEYS.metricsPort] : [KEYS.httpHost, KEYS.httpPort];
      assert.equal(env[hostKey.env], "0.0.0.0", `${name} serves /metrics beyond its container (${hostKey.env})`);
      const port = Number(env[portKey.env] ?? portKey.default);
      assert.equal(scraped.get(name), port, `${name} scraped on ${portKey.env} = ${port}`);
    }
    for (const host of scraped.keys()) assert.ok(compose.services[host], `scrape target ${host} is a compose service`);

    // The files the scrape config, Prometheus and Grafana name are the ones compose mounts.
    for (const f of scrape.rule_files) await read(path.join("ops/prometheus", f));
    const prometheus = compose.services.prometheus!;
    assert.ok(prometheus.volumes?.includes("./ops/prometheus:/etc/prometheus:ro"));
    assert.ok(prometheus.command?.includes("--config.file=/etc/prometheus/prometheus.yml"));
    const grafana = compose.services.grafana!;
    const provider = (await yamlOf("ops/grafana/provisioning/dashboards/natter.yml")) as {
      providers: { options: { path: string } }[];
    };
    const mount = `./${DASHBOARD}:${provider.providers[0]!.options.path}/natter.json:ro`;
    assert.ok(grafana.volumes?.includes(mount), `grafana mounts ${mount}`);
    assert.ok(grafana.volumes?.includes("./ops/grafana/provisioning:/etc/grafana/provisioning:ro"));
    const source = (await yamlOf("ops/grafana/provisioning/datasources/prometheus.yml")) as {
      datasources: { uid: string; url: string }[];
    };
    const d = await dashboard();
    assert.equal(d.templating.list.find((v) => v.type === "datasource")?.current?.value, source.datasources[0]!.uid);
    assert.equal(source.datasources[0]!.url, "http://prometheus:9090");
  });

  test("dashboard - every alert has a severity and a meaning, and OPERATIONS.md's alert table is the rules'", async () => {
    const all = await rules();
    const names = all.map((r) => r.alert);
    assert.equal(new Set(names).size, names.length, "alert names are unique");
    for (const r of all) {
      assert.ok(["critical", "warning", "info"].includes(r.labels?.severity ?? ""), `${r.alert} severity`);
      assert.ok(r.annotations?.summary?.trim(), `${r.alert} summary`);
    }
    const table = await docTable("OPERATIONS.md", "alerts-table");
    assert.ok(table, "OPERATIONS.md has the alerts-table markers");
    const [header, ...rows] = table;
    assert.deepEqual(header!.slice(1, 4), ["alert", "severity", "meaning"]);
    assert.deepEqual(
      rows.map((c) => ({ alert: c[1], severity: c[2], meaning: c[3] })),
      all.map((r) => ({ alert: `\`${r.alert}\``, severity: r.labels!.severity, meaning: r.annotations!.summary })),
    );
    for (const c of rows) assert.ok(c[4]?.trim(), `${c[1]}: what to do`);
  });

  test("dashboard - promtool checks the scrape config and the rules", async (t) => {
    const found = await run("bash", [path.join(repoRoot, "scripts/ensure-promtool.sh")]).catch(() => undefined);
    if (!found) {
      t.skip("promtool 3.16.0 is not on this machine: bash scripts/ensure-promtool.sh --build makes it (go install)");
      return;
    }
    const promtool = path.join(found.stdout.trim(), "promtool");
    const config = await run(promtool, ["check", "config", path.join(repoRoot, SCRAPE)]);
    assert.match(config.stdout + config.stderr, /SUCCESS/);
    const checked = await run(promtool, ["check", "rules", path.join(repoRoot, ALERTS)]);
    assert.match(checked.stdout + checked.stderr, new RegExp(`SUCCESS: ${(await rules()).length} rules found`));

    // Each alert fires on the series that mean trouble, and stays quiet on healthy ones
    // (promtool's rule unit tests; the expected annotations are the rules' own).
    const all = new Map((await rules()).map((r) => [r.alert, r]));
    assert.deepEqual([...Object.keys(ALERT_CASES)].sort(), [...all.keys()].sort(), "a case for every alert");
    const tests = Object.entries(ALERT_CASES).flatMap(([alert, c]) => {
      const rule = all.get(alert)!;
      const fired = { ...c.labels, severity: rule.labels!.severity! };
      return [
        {
          interval: "1m",
          input_series: c.firing,
          alert_rule_test: [
            {
              eval_time: c.at,
              alertname: alert,
              exp_alerts: [{ exp_labels: fired, exp_annotations: rule.annotations }],
            },
          ],
        },
        {
          interval: "1m",
          input_series: c.healthy,
          alert_rule_test: [{ eval_time: c.at, alertname: alert, exp_alerts: [] }],
        },
      ];
    });
    const dir = await mkdtemp(path.join(tmpdir(), "natter-promtool-"));
    try {
      const file = path.join(dir, "alerts.test.yml");
      await writeFile(
        file,
        stringifyYaml({ rule_files: [path.join(repoRoot, ALERTS)], evaluation_interval: "1m", tests }),
      );
      const unit = await run(promtool, ["test", "rules", file]).catch((err: { stdout?: string; stderr?: string }) => {
        assert.fail(`promtool test rules:\n${err.stdout ?? ""}${err.stderr ?? ""}`);
      });
      assert.match(unit.stdout + unit.stderr, /SUCCESS/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A series of a promtool rule test: `name{label="value"}` and its values, one a minute. */
const series = (name: string, labels: Record<string, string>, values: string) => ({
  series: `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(", ")}}`,
  values,
});
const GATEWAY = { job: "natter-gateway", instance: "10.0.0.2:8080" };
const HISTORY = { job: "natter-history", instance: "10.0.0.3:9464", consumer: "history" };
const FANOUT = { job: "natter-fanout", instance: "10.0.0.4:9464", consumer: "fanout" };
/** A histogram whose observations all fall between `low` and `high` seconds: its p99 is just under `high`. */
const between = (name: string, labels: Record<string, string>, low: string, high: string, perMinute: number) => [
  series(`${name}_bucket`, { ...labels, le: low }, "0+0x20"),
  series(`${name}_bucket`, { ...labels, le: high }, `0+${perMinute}x20`),
  series(`${name}_bucket`, { ...labels, le: "+Inf" }, `0+${perMinute}x20`),
];

/**
 * For each alert: series on which it must fire by `at` (with `labels`, besides its
 * severity), and healthy series on which it must not.
 */
const ALERT_CASES: Record<string, { at: string; labels: Record<string, string>; firing: object[]; healthy: object[] }> =
  {
    NatterGatewayDown: {
      at: "5m",
      labels: GATEWAY,
      firing: [series("up", GATEWAY, "1 1 0 0 0 0")],
      healthy: [series("up", GATEWAY, "1x5")],
    },
    NatterConsumerDown: {
      at: "5m",
      labels: { job: FANOUT.job, instance: FANOUT.instance },
      firing: [series("up", { job: FANOUT.job, instance: FANOUT.instance }, "1 0 0 0 0 0")],
      healthy: [series("up", { job: FANOUT.job, instance: FANOUT.instance }, "1x5")],
    },
    NatterConsumerLagGrowing: {
      at: "25m",
      labels: HISTORY,
      firing: [series("natter_consumer_lag", HISTORY, "2000+500x30")],
      healthy: [series("natter_consumer_lag", HISTORY, "5000x30")],
    },
    NatterConsumerNotProgressing: {
      at: "10m",
      labels: FANOUT,
      firing: [
        series("natter_consumer_lag", FANOUT, "100x10"),
        series("natter_consumer_messages_processed_total", FANOUT, "50x10"),
      ],
      healthy: [
        series("natter_consumer_lag", FANOUT, "100x10"),
        series("natter_consumer_messages_processed_total", FANOUT, "50+100x10"),
      ],
    },
    NatterConsumerStalls: {
      at: "5m",
      labels: { ...FANOUT, reason: "heartbeats" },
      firing: [series("natter_consumer_stalls_total", { ...FANOUT, reason: "heartbeats" }, "0 1 2 3 4 4")],
      healthy: [series("natter_consumer_stalls_total", { ...FANOUT, reason: "heartbeats" }, "0 1 1 1 1 1")],
    },
    NatterConsumerHandlerErrors: {
      at: "10m",
      labels: HISTORY,
      firing: [series("natter_consumer_handler_errors_total", HISTORY, "0+1x10")],
      healthy: [series("natter_consumer_handler_errors_total", HISTORY, "3x10")],
    },
    NatterPoisonMessages: {
      at: "3m",
      labels: HISTORY,
      firing: [series("natter_consumer_poison_messages_total", HISTORY, "0 0 1 1")],
      healthy: [series("natter_consumer_poison_messages_total", HISTORY, "0x3")],
    },
    NatterServerErrors: {
      at: "10m",
      labels: { job: GATEWAY.job, code: "unavailable" },
      firing: [series("natter_errors_total", { ...GATEWAY, code: "unavailable", via: "http" }, "0+60x10")],
      healthy: [series("natter_errors_total", { ...GATEWAY, code: "rate_limited", via: "ws" }, "0+600x10")],
    },
    NatterSendLatencyHigh: {
      at: "20m",
      labels: {},
      firing: between("natter_send_seconds", { ...GATEWAY, outcome: "ok" }, "0.5", "1", 100),
      healthy: between("natter_send_seconds", { ...GATEWAY, outcome: "ok" }, "0.01", "0.025", 100),
    },
    NatterStoreSlow: {
      at: "20m",
      labels: { job: HISTORY.job },
      firing: between("natter_store_seconds", { ...HISTORY, op: "writeAll", outcome: "ok" }, "0.25", "1", 100),
      healthy: between("natter_store_seconds", { ...HISTORY, op: "writeAll", outcome: "ok" }, "0.005", "0.01", 100),
    },
    NatterStoreErrors: {
      at: "10m",
      labels: { job: GATEWAY.job, op: "getEvents" },
      firing: [series("natter_store_seconds_count", { ...GATEWAY, op: "getEvents", outcome: "error" }, "0+1x10")],
      healthy: [series("natter_store_seconds_count", { ...GATEWAY, op: "getEvents", outcome: "ok" }, "0+100x10")],
    },
  };
