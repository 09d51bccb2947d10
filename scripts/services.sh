#!/usr/bin/env bash
# Local services for development and CI: nats-server (JetStream) and Cassandra 5.0.
#   scripts/services.sh up [nats|cassandra]     start (idempotent), wait for readiness
#   scripts/services.sh down [nats|cassandra]   stop
#   scripts/services.sh status                  what runs, where it listens
# Data, logs and pid files live under .data/ (git-ignored); the nats-server's identities,
# certificates and config under .data/nats (mode 700, secrets 600). Ports come from the
# environment: NATS_PORT (4222), NATS_MONITOR_PORT (8222), CASSANDRA_PORT (9042),
# CASSANDRA_STORAGE_PORT (7000), CASSANDRA_HEAP (768M).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

NATS_PORT=${NATS_PORT:-4222}
NATS_MONITOR_PORT=${NATS_MONITOR_PORT:-8222}
CASSANDRA_PORT=${CASSANDRA_PORT:-9042}
CASSANDRA_STORAGE_PORT=${CASSANDRA_STORAGE_PORT:-7000}
CASSANDRA_HEAP=${CASSANDRA_HEAP:-768M}
nats_dir="$NATTER_DATA/nats"
cass_dir="$NATTER_DATA/cassandra"

pid_of() { cat "$1/pid" 2>/dev/null || true; }

# The dev node's config, identities and certificates, all under .data/nats (mode 700):
# secrets/<identity>.nk (nkey seeds, made once), auth.conf (rendered from
# packages/subjects/src/permissions.ts every time), tls/ (a local CA, made once), nats.conf.
# Prints "changed" when auth.conf or nats.conf differ from what the server last read.
nats_render() {
  local before after
  before=$({ cat "$nats_dir/auth.conf" "$nats_dir/nats.conf" 2>/dev/null || true; } | cksum)
  mkdir -p "$nats_dir/store"
  chmod 700 "$nats_dir"
  bash "$NATTER_ROOT/scripts/nats-certs.sh" "$nats_dir/tls"
  "$NATTER_ROOT/scripts/node" "$NATTER_ROOT/scripts/nats-auth.ts" "$nats_dir"
  local sync=${NATTER_NATS_SYNC_INTERVAL:-2m}
  [[ $sync =~ ^(always|[0-9]+(ms|s|m|h))$ ]] || die "NATTER_NATS_SYNC_INTERVAL must be 'always' or a duration like 2m, not '$sync'"
  sed -e "s#@STORE@#$nats_dir/store#" -e "s#@PORT@#$NATS_PORT#" -e "s#@MONITOR_PORT@#$NATS_MONITOR_PORT#" \
    -e "s#@SYNC@#$sync#" -e "s#@TLS@#$nats_dir/tls#g" "$NATTER_ROOT/nats/dev.conf" > "$nats_dir/nats.conf"
  after=$(cat "$nats_dir/auth.conf" "$nats_dir/nats.conf" | cksum)
  [ "$before" = "$after" ] || echo changed
}

# `nats` CLI contexts for this node: natter-tail (read-only, for developers), natter-admin
# (the Natter account) and natter-sys (the system account: nats server list). They point at
# the seed files, never copy them, and never become the selected context.
nats_contexts() {
  local bin=$1 who desc
  for who in tail admin sys; do
    case $who in
      tail) desc="Natter dev node: read-only (subscribe, read streams; publishes nothing)" ;;
      admin) desc="Natter dev node: operator, everything in the Natter account" ;;
      sys) desc="Natter dev node: operator, the system account" ;;
    esac
    "$bin/nats" context save "natter-$who" --server "tls://127.0.0.1:$NATS_PORT" \
      --nkey "$nats_dir/secrets/$who.nk" --tlsca "$nats_dir/tls/ca.pem" --description "$desc" >/dev/null
  done
}

nats_up() {
  local bin pid changed
  bin=$("$NATTER_ROOT/scripts/ensure-nats.sh")
  pid=$(pid_of "$nats_dir")
  if pid_alive "$pid"; then
    changed=$(nats_render)
    if [ -n "$changed" ]; then
      # Permissions or identities changed (permissions.ts, a deleted seed): the server reloads them.
      "$bin/nats-server" --signal "reload=$pid" && log "nats-server reloaded its configuration (pid $pid)"
    else
      log "nats-server already running (pid $pid)"
    fi
    nats_contexts "$bin"
    return 0
  fi
  if port_open 127.0.0.1 "$NATS_PORT"; then
    # Another checkout (or the user) already runs one: use it rather than fail. Its
    # identities are its own: point NATTER_NATS_* at them.
    curl_free_healthz || die "port $NATS_PORT is taken by something that is not a JetStream nats-server; set NATS_PORT"
    log "a nats-server with JetStream already listens on 127.0.0.1:$NATS_PORT (not started from this checkout); using it"
    return 0
  fi
  nats_render >/dev/null
  nohup "$bin/nats-server" -c "$nats_dir/nats.conf" > "$nats_dir/nats.log" 2>&1 &
  echo $! > "$nats_dir/pid"
  wait_for "nats" 30 curl_free_healthz || { tail -n 20 "$nats_dir/nats.log" >&2; die "nats-server did not become ready"; }
  nats_contexts "$bin"
  log "nats-server $("$bin/nats-server" --version | sed 's/.* //') ready on tls://127.0.0.1:$NATS_PORT (monitor :$NATS_MONITOR_PORT, JetStream store $nats_dir/store; identities in $nats_dir/secrets; nats CLI contexts natter-tail, natter-admin, natter-sys)"
}

# Readiness without curl: the monitor port answers /healthz?js-enabled-only=true with "ok".
curl_free_healthz() {
  exec 3<>"/dev/tcp/127.0.0.1/$NATS_MONITOR_PORT" || return 1
  printf 'GET /healthz?js-enabled-only=true HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
  grep -q '"status":"ok"' <&3
  local rc=$?
  exec 3>&-
  return $rc
}

# Fails fast (exit 2 from wait_for's view: still false) once the JVM has died.
cql_ready() { pid_alive "$(pid_of "$cass_dir")" || { cass_dead=1; return 0; }; grep -q "Starting listening for CQL clients" "$cass_dir/logs/system.log" 2>/dev/null && port_open 127.0.0.1 "$CASSANDRA_PORT"; }

cassandra_up() {
  local lib pid opts
  lib=$("$NATTER_ROOT/scripts/ensure-cassandra.sh")
  pid=$(pid_of "$cass_dir")
  if pid_alive "$pid"; then
    log "Cassandra already running (pid $pid)"
  else
    if port_open 127.0.0.1 "$CASSANDRA_PORT"; then
      # Another checkout already runs one; the tests give every suite its own keyspace.
      log "something already listens on 127.0.0.1:$CASSANDRA_PORT (not started from this checkout); using it as Cassandra"
      return 0
    fi
    mkdir -p "$cass_dir/logs" "$cass_dir/conf"
    sed -e "s#@DATA@#$cass_dir#g" -e "s#@CQL_PORT@#$CASSANDRA_PORT#g" -e "s#@STORAGE_PORT@#$CASSANDRA_STORAGE_PORT#g" \
      "$NATTER_ROOT/scripts/cassandra/cassandra.yaml.template" > "$cass_dir/conf/cassandra.yaml"
    cp "$NATTER_ROOT/scripts/cassandra/logback.xml" "$cass_dir/conf/logback.xml"
    : > "$cass_dir/logs/system.log"
    # "--add-opens X" lines become "--add-opens=X" so each option is one argument.
    mapfile -t opts < <(grep -E '^-' "$NATTER_ROOT/scripts/cassandra/jvm17-server.options" | sed -E 's/^(--add-[a-z]+) /\1=/')
    local jamm
    jamm=$(ls "$lib"/jamm-*.jar 2>/dev/null | head -n1 || true)
    # -Dcassandra.* test settings: skip gossip settling and ring delay (single node).
    nohup java "${opts[@]}" \
      -Xms"$CASSANDRA_HEAP" -Xmx"$CASSANDRA_HEAP" -Xmn128m \
      ${jamm:+-javaagent:$jamm} \
      -Dcassandra.config="file://$cass_dir/conf/cassandra.yaml" \
      -Dlogback.configurationFile="file://$cass_dir/conf/logback.xml" \
      -Dcassandra.logdir="$cass_dir/logs" \
      -Dcassandra.storagedir="$cass_dir" \
      -Dcassandra-foreground=yes \
      -Dcassandra.skip_wait_for_gossip_to_settle=0 \
      -Dcassandra.ring_delay_ms=100 \
      -Dcassandra.initial_token=0 \
      -Dcassandra.jmx.local.port=0 \
      -cp "$cass_dir/conf:$lib/*" \
      org.apache.cassandra.service.CassandraDaemon > "$cass_dir/logs/stdout.log" 2>&1 &
    echo $! > "$cass_dir/pid"
    log "starting Cassandra (pid $!, heap $CASSANDRA_HEAP); waiting for CQL on 127.0.0.1:$CASSANDRA_PORT"
  fi
  cass_dead=0
  if ! wait_for "cassandra" 240 cql_ready || [ "$cass_dead" = 1 ]; then
    tail -n 30 "$cass_dir/logs/stdout.log" "$cass_dir/logs/system.log" >&2 || true
    die "Cassandra did not answer CQL within 240 s (logs in $cass_dir/logs)"
  fi
  log "Cassandra ready on 127.0.0.1:$CASSANDRA_PORT (data $cass_dir)"
}

stop_pid_dir() {
  local name=$1 dir=$2 pid i
  pid=$(pid_of "$dir")
  if ! pid_alive "$pid"; then log "$name not running"; rm -f "$dir/pid"; return 0; fi
  kill "$pid"
  for ((i = 0; i < 60; i++)); do pid_alive "$pid" || break; sleep 1; done
  pid_alive "$pid" && kill -9 "$pid"
  rm -f "$dir/pid"
  log "$name stopped"
}

status() {
  local pid
  pid=$(pid_of "$nats_dir")
  if pid_alive "$pid"; then echo "nats-server: running (pid $pid) tls://127.0.0.1:$NATS_PORT monitor http://127.0.0.1:$NATS_MONITOR_PORT (nats --context natter-tail)"
  else echo "nats-server: stopped"; fi
  pid=$(pid_of "$cass_dir")
  if pid_alive "$pid"; then
    if cql_ready; then echo "cassandra: running (pid $pid) 127.0.0.1:$CASSANDRA_PORT"
    else echo "cassandra: starting (pid $pid)"; fi
  else echo "cassandra: stopped"; fi
}

cmd=${1:-status}
what=${2:-all}
case "$cmd" in
  up)
    case "$what" in nats) nats_up ;; cassandra) cassandra_up ;; all) nats_up; cassandra_up ;; *) die "unknown service $what" ;; esac
    status ;;
  down)
    case "$what" in
      nats) stop_pid_dir nats-server "$nats_dir" ;;
      cassandra) stop_pid_dir Cassandra "$cass_dir" ;;
      all) stop_pid_dir nats-server "$nats_dir"; stop_pid_dir Cassandra "$cass_dir" ;;
      *) die "unknown service $what" ;;
    esac ;;
  status) status ;;
  *) die "usage: services.sh up|down|status [nats|cassandra]" ;;
esac
