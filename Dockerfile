# syntax=docker/dockerfile:1
# One image for every Natter process (docker-compose.yml builds it):
#   node gateway/src/main.ts     the gateway, serving the web client built below (default)
#   node consumers/src/main.ts   the consumers; NATTER_CONSUMERS picks history, fanout or both
# Node 24 runs the TypeScript sources as they are (type stripping): nothing is compiled but
# the web bundle. The process runs as the image's unprivileged `node` user; the app files
# stay root-owned and read-only to it.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY . .
# Every dependency from the lockfile, the web bundle (packages/web/dist), then the dev
# dependencies (TypeScript, ESLint, Rollup…) dropped again.
RUN npm ci --no-audit --no-fund \
  && npm run build:web \
  && npm prune --omit=dev --no-audit --no-fund \
  && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
# The one writable folder: the default SQLite store (NATTER_SQLITE_PATH=.data/natter.db).
RUN mkdir -p /app/.data && chown node:node /app/.data
# `node` (uid 1000) of the base image, by number so Kubernetes runAsNonRoot can verify it.
USER 1000:1000
# The gateway's HTTP port (API, WebSocket, web client, probes); a consumers process's
# metrics and probes port.
EXPOSE 8080 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "scripts/healthcheck.ts"]
CMD ["node", "gateway/src/main.ts"]
