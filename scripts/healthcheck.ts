// The container health check (Dockerfile HEALTHCHECK): exits 0 when this container's Natter
// process answers `GET /healthz` with 200 (docs/health.md), else 1. One image runs every
// process, so it asks both ports: a gateway's NATTER_HTTP_PORT (8080), a consumers
// process's NATTER_METRICS_PORT (9464); whichever answers decides.
// Usage: node scripts/healthcheck.ts
const ports = [process.env.NATTER_HTTP_PORT || "8080", process.env.NATTER_METRICS_PORT || "9464"];
for (const port of ports) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
    if (res.ok) process.exit(0);
  } catch {
    // nothing on this port: try the next
  }
}
process.exit(1);
