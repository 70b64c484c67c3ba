#!/usr/bin/env bash
# The local stack, loopback only: a throwaway PostgreSQL 15 cluster, the two processor simulators,
# and (when build/payment_engine exists) two engine instances behind the load balancer on
# 127.0.0.1:9999: conn_balancer (net/balancer.h), as in docker-compose.yml, or haproxy (LB=haproxy).
#   bench/stack.sh up      start what is not running, wait until each part answers, print URLs/pids
#   bench/stack.sh down    stop everything it started (by pid file) and remove the state dir
#   bench/stack.sh status  what is running
#   bench/stack.sh metrics both engines' /metrics, one after the other (over TCP or their sockets)
# Env: STACK_DIR (state dir, default /tmp/payeng-stack), BUILD_DIR (default <repo>/build),
#      PG_PORT (5433), FEE_DEFAULT (0.05), FEE_FALLBACK (0.15), ADMIN_TOKEN (123),
#      PROMETHEUS=1 also starts a local Prometheus on 127.0.0.1:9090 scraping both engines every
#      second (Debian's prometheus binary; metrics kept in the state dir), to watch a scenario run;
#      PG_STATS=1 loads pg_stat_statements and times WAL I/O (bench/latency.sh's breakdown);
#      ENGINE_ENV="NAME=value ..." adds settings to both engines (engine/config.h);
#      PG_OPTS="-c name=value ..." adds PostgreSQL settings after the compose file's (experiments);
#      PREALLOC_WAL=0 skips sql/server/prealloc_wal.sql on a new cluster (experiments);
#      LB=haproxy puts haproxy (bench/haproxy.cfg, TCP mode) where conn_balancer is (comparisons);
#      HAPROXY_CFG=path replaces bench/haproxy.cfg (with LB=haproxy: another balance or timeout);
#      UNIX_SOCKETS=1 (with LB=haproxy) puts haproxy and the engines on unix sockets instead of TCP;
#      LIMITS=1 applies the challenge's resource rules without Docker (bench/limits.py): PostgreSQL
#      with all its backends, each engine and the balancer each in a CPU cgroup with the quota their
#      docker-compose.yml service gets; the runner and the simulators stay outside. Either way a
#      sampler records each component's peak memory (and throttling) in usage.json, which the
#      scenario runner copies into its result.json together with limits.json.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
STATE=${STACK_DIR:-/tmp/payeng-stack}
BUILD=${BUILD_DIR:-$REPO/build}
PGBIN=/usr/lib/postgresql/15/bin
PG_PORT=${PG_PORT:-5433}
SIM=$BUILD/bench/processor/processor_sim
FLOOR=$BUILD/bench/floor/floor_server
ENGINE=$BUILD/payment_engine
BALANCER=$BUILD/conn_balancer
LB=${LB:-handoff}
HAPROXY_CFG=${HAPROXY_CFG:-$REPO/bench/haproxy.cfg}
MARKER=.payeng-stack  # only a directory carrying this file is ever deleted by `down`

# name port extra-args...: the simulators
SIMS=("default 8001 ${FEE_DEFAULT:-0.05}" "fallback 8002 ${FEE_FALLBACK:-0.15}")
ENGINES=("1 9001" "2 9002")

say() { echo "stack: $*"; }
die() { echo "stack: $*" >&2; exit 1; }

as_pg() {  # postgres refuses to run as root
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { [ -f "$STATE/$1.pid" ] && head -n1 "$STATE/$1.pid" || true; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_until <seconds> <pid or ""> <command...>: polls the command; fails early if the pid dies.
wait_until() {
  local secs=$1 pid=$2; shift 2
  local deadline=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    if [ -n "$pid" ] && ! alive "$pid"; then return 1; fi
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}

http_ok() { curl -s -o /dev/null --max-time 1 -w '%{http_code}' "$1" | grep -q "^$2$"; }

components() {  # every pid-file name the stack may own, in start order
  echo postgres
  for s in "${SIMS[@]}"; do set -- $s; echo "sim-$1"; done
  for e in "${ENGINES[@]}"; do set -- $e; echo "engine-$1"; done
  echo floor
  echo lb
  echo prometheus
  echo sampler
}

any_alive() {
  local c
  for c in $(components); do alive "$(pid_of "$c")" && return 0; done
  return 1
}

start_bg() {  # name logfile cmd...: detached daemon with its pid in $STATE/name.pid
  local name=$1 log=$2; shift 2
  setsid "$@" >"$log" 2>&1 < /dev/null &
  echo $! > "$STATE/$name.pid"
}

fail_with_log() {
  say "$1 did not come up; last lines of $2:"
  tail -n 20 "$2" >&2 || true
  exit 1
}

start_postgres() {
  local data=$STATE/pgdata
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$STATE"; fi
  local fresh=0
  if [ ! -f "$data/PG_VERSION" ]; then
    as_pg "$PGBIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-locale >"$STATE/initdb.log" 2>&1 ||
      fail_with_log "initdb" "$STATE/initdb.log"
    fresh=1
  fi
  port_busy "$PG_PORT" && die "port $PG_PORT is already in use by something else"
  # PG_STATS=1: pg_stat_statements and WAL I/O timing, for bench/latency.sh's breakdown.
  local pg_stats=""
  [ "${PG_STATS:-0}" = 1 ] && pg_stats="-c shared_preload_libraries=pg_stat_statements -c track_wal_io_timing=on"
  # The server the challenge deployment runs: the db service's settings in docker-compose.yml
  # (read from it, so the two cannot drift); unix socket in the state dir, TCP on loopback only.
  local compose_opts
  compose_opts=$(/usr/bin/python3 "$REPO/bench/limits.py" pg-options "$REPO/docker-compose.yml")
  as_pg "$PGBIN/pg_ctl" -D "$data" -l "$STATE/postgres.log" -w -t 30 start \
    -o "$compose_opts -c listen_addresses=127.0.0.1 -p $PG_PORT -k $STATE -c fsync=on $pg_stats ${PG_OPTS:-}" >/dev/null ||
    fail_with_log "postgres" "$STATE/postgres.log"
  head -n1 "$data/postmaster.pid" > "$STATE/postgres.pid"
  wait_until 15 "" "$PGBIN/pg_isready" -q -h "$STATE" -p "$PG_PORT" || fail_with_log "postgres" "$STATE/postgres.log"
  if [ "$fresh" = 1 ] && [ "${PREALLOC_WAL:-1}" = 1 ]; then
    # As the compose deployment's init script does: WAL segments ready ahead (sql/server/prealloc_wal.sql).
    as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$STATE" -p "$PG_PORT" -U postgres -d postgres \
      -f "$REPO/sql/server/prealloc_wal.sql" >/dev/null || die "sql/server/prealloc_wal.sql failed"
  fi
  if [ "${PG_STATS:-0}" = 1 ]; then
    as_pg psql -q -h "$STATE" -p "$PG_PORT" -U postgres -d postgres -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
  fi
}

start_sim() {  # name port fee
  local name=$1 port=$2 fee=$3 log=$STATE/sim-$1.log
  port_busy "$port" && die "port $port is already in use by something else"
  start_bg "sim-$name" "$log" "$SIM" --listen "127.0.0.1:$port" --name "$name" --fee "$fee" --token "${ADMIN_TOKEN:-123}"
  # Any well-formed id that is not stored answers 404: proves the HTTP path without spending the
  # health endpoint's rate limit.
  wait_until 10 "$(pid_of "sim-$name")" http_ok "http://127.0.0.1:$port/payments/00000000-0000-0000-0000-000000000000" 404 ||
    fail_with_log "simulator $name" "$log"
}

engine_listen() {  # instance port
  if [ "${UNIX_SOCKETS:-0}" = 1 ]; then echo "unix:$STATE/engine-$1.sock"; else echo "127.0.0.1:$2"; fi
}

engine_health_ok() {  # instance port
  if [ "${UNIX_SOCKETS:-0}" = 1 ]; then
    curl -s -o /dev/null --max-time 1 -w '%{http_code}' --unix-socket "$STATE/engine-$1.sock" http://engine/health | grep -q '^200$'
  else
    http_ok "http://127.0.0.1:$2/health" 200
  fi
}

start_engine() {  # instance port
  local id=$1 port=$2 log=$STATE/engine-$1.log
  [ "${UNIX_SOCKETS:-0}" = 1 ] || ! port_busy "$port" || die "port $port is already in use by something else"
  start_bg "engine-$id" "$log" env \
    LISTEN_ADDR="$(engine_listen "$id" "$port")" \
    DATABASE_URL="host=$STATE port=$PG_PORT dbname=postgres user=postgres" \
    PAYMENT_PROCESSOR_URL_DEFAULT=http://127.0.0.1:8001 \
    PAYMENT_PROCESSOR_URL_FALLBACK=http://127.0.0.1:8002 \
    INSTANCE_ID="$id" ADMIN_TOKEN="${ADMIN_TOKEN:-123}" \
    HANDOFF_SOCKET="$(handoff_socket "engine-$id")" \
    ${ENGINE_ENV:-} \
    "$ENGINE"
  wait_until 20 "$(pid_of "engine-$id")" engine_health_ok "$id" "$port" ||
    fail_with_log "engine $id" "$log"
}

# Where the balancer hands a component its clients (empty with haproxy, which connects instead).
handoff_socket() { if [ "$LB" = handoff ]; then echo "$STATE/handoff-$1.sock"; fi; }

start_floor() {  # the latency floors behind the balancer's frontend on :9998 (bench/latency.sh)
  port_busy 9003 && die "port 9003 is already in use by something else"
  local handoff
  handoff=$(handoff_socket floor)
  # Its durable paths write to a database of their own, never to the engine's tables.
  as_pg psql -X -q -h "$STATE" -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE payeng_floor" >/dev/null 2>&1 || true
  start_bg floor "$STATE/floor.log" "$FLOOR" --listen 127.0.0.1:9003 ${handoff:+--handoff "$handoff"} \
    --db "host=$STATE port=$PG_PORT dbname=payeng_floor user=postgres"
}

start_lb() {
  local port
  for port in 9999 9998; do  # the API, and the latency floor
    port_busy $port && die "port $port is already in use by something else"
  done
  case "$LB" in
    handoff) start_balancer ;;
    haproxy) start_haproxy ;;
    *) die "LB must be handoff or haproxy, not '$LB'" ;;
  esac
  echo "$LB" > "$STATE/lb.kind"  # which one ran, for the reports (final.sh, latency.sh)
  wait_until 10 "$(pid_of lb)" http_ok "http://127.0.0.1:9999/health" 200 || fail_with_log "$LB" "$STATE/lb.log"
}

start_balancer() {  # as docker-compose.yml runs it; the floor's frontend only if the floor runs
  [ "${UNIX_SOCKETS:-0}" = 1 ] && die "UNIX_SOCKETS=1 is for LB=haproxy (conn_balancer hands the engines their clients itself)"
  [ -x "$BALANCER" ] || die "$BALANCER not found: build first (cmake --build build)"
  local engines="" e
  for e in "${ENGINES[@]}"; do set -- $e; engines+="${engines:+,}$(handoff_socket "engine-$1")"; done
  local floor=()
  [ -f "$STATE/floor.pid" ] && floor=(--frontend "127.0.0.1:9998=$(handoff_socket floor)")
  start_bg lb "$STATE/lb.log" "$BALANCER" --frontend "127.0.0.1:9999=$engines" "${floor[@]}"
}

start_haproxy() {
  local cfg=$HAPROXY_CFG
  if [ "${UNIX_SOCKETS:-0}" = 1 ]; then  # the same configuration, servers on the engines' sockets
    cfg=$STATE/haproxy.cfg
    sed -E "s#server engine([0-9]+) 127\.0\.0\.1:[0-9]+#server engine\1 $STATE/engine-\1.sock#" "$HAPROXY_CFG" > "$cfg"
  fi
  haproxy -c -q -f "$cfg" || die "invalid $cfg"
  # -Ws keeps haproxy in the foreground as a single master we can track by pid.
  start_bg lb "$STATE/lb.log" haproxy -Ws -f "$cfg"
}

start_prometheus() {
  command -v prometheus >/dev/null || die "prometheus not found (./dev.sh installs Debian's prometheus package)"
  port_busy 9090 && die "port 9090 is already in use by something else"
  cat > "$STATE/prometheus.yml" <<PROM
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: payment-engine
    static_configs:
      - targets: [$(for e in "${ENGINES[@]}"; do set -- $e; printf '"127.0.0.1:%s",' "$2"; done | sed 's/,$//')]
PROM
  start_bg prometheus "$STATE/prometheus.log" prometheus --config.file="$STATE/prometheus.yml" \
    --storage.tsdb.path="$STATE/prometheus-data" --web.listen-address=127.0.0.1:9090
  wait_until 20 "$(pid_of prometheus)" http_ok "http://127.0.0.1:9090/-/ready" 200 ||
    fail_with_log "prometheus" "$STATE/prometheus.log"
}

cmd_status() {
  if [ ! -f "$STATE/$MARKER" ]; then
    say "down (no state dir at $STATE)"
    return 0
  fi
  local c pid
  for c in $(components); do
    pid=$(pid_of "$c")
    if [ -z "$pid" ]; then continue; fi
    if alive "$pid"; then printf '  %-16s running  pid %s\n' "$c" "$pid"
    else printf '  %-16s DEAD     (pid %s, see %s)\n' "$c" "$pid" "$STATE/$c.log"; fi
  done
}

print_urls() {
  say "state dir $STATE (logs and pid files)"
  say "postgres    host=$STATE port=$PG_PORT dbname=postgres user=postgres (also 127.0.0.1:$PG_PORT)"
  for s in "${SIMS[@]}"; do set -- $s; say "$(printf '%-11s' "sim $1") http://127.0.0.1:$2  (fee $3, admin token ${ADMIN_TOKEN:-123})"; done
  if [ -f "$STATE/lb.pid" ]; then
    for e in "${ENGINES[@]}"; do set -- $e; say "engine $1    http://127.0.0.1:$2"; done
    say "api         http://127.0.0.1:9999  ($(sed 's/^handoff$/conn_balancer/' "$STATE/lb.kind"))"
  fi
  if [ -f "$STATE/prometheus.pid" ]; then say "prometheus  http://127.0.0.1:9090  (dashboards: deploy/grafana)"; fi
}

cmd_up() {
  if [ -f "$STATE/$MARKER" ] && any_alive; then
    say "already up"
    cmd_status
    print_urls
    return 0
  fi
  [ -x "$SIM" ] || die "$SIM not found: build first (cmake --build build)"
  if [ -d "$STATE" ]; then
    [ -f "$STATE/$MARKER" ] || die "$STATE exists and is not a stack state dir; refusing to touch it"
    say "removing stale state dir $STATE (nothing was running)"
    rm -rf "$STATE"
  fi
  mkdir -p "$STATE"
  touch "$STATE/$MARKER"
  # A failure part-way leaves what already started; `down` cleans it up.
  trap 'say "start-up failed; run bench/stack.sh down to clean up"' ERR

  start_postgres
  for s in "${SIMS[@]}"; do start_sim $s; done
  if [ -x "$ENGINE" ]; then
    for e in "${ENGINES[@]}"; do start_engine $e; done
    [ -x "$FLOOR" ] && start_floor
    start_lb
    if [ "${PROMETHEUS:-0}" = 1 ]; then start_prometheus; fi
    if [ "${LIMITS:-0}" = 1 ]; then
      [ "$(id -u)" -eq 0 ] || die "LIMITS=1 needs root (cgroups)"
      /usr/bin/python3 "$REPO/bench/limits.py" apply "$STATE" "$REPO/docker-compose.yml" | sed 's/^/stack: /'
    else
      /usr/bin/python3 "$REPO/bench/limits.py" none "$STATE"
    fi
    start_bg sampler "$STATE/sampler.log" /usr/bin/python3 "$REPO/bench/limits.py" sample "$STATE"
  else
    say "$ENGINE does not exist: starting postgres and the simulators only"
  fi
  trap - ERR
  say "up"
  cmd_status
  print_urls
}

stop_pid() {  # name: TERM, wait up to 5 s, then KILL
  local name=$1 pid
  pid=$(pid_of "$name")
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do alive "$pid" || return 0; sleep 0.1; done
  say "$name (pid $pid) ignored SIGTERM; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

cmd_down() {
  if [ ! -d "$STATE" ]; then
    say "already down"
    return 0
  fi
  [ -f "$STATE/$MARKER" ] || die "$STATE is not a stack state dir; refusing to touch it"
  stop_pid sampler
  stop_pid prometheus
  stop_pid lb
  stop_pid floor
  for e in "${ENGINES[@]}"; do set -- $e; stop_pid "engine-$1"; done
  for s in "${SIMS[@]}"; do set -- $s; stop_pid "sim-$1"; done
  if [ -f "$STATE/pgdata/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$STATE/pgdata" -m fast -w -t 30 stop >/dev/null 2>&1 || stop_pid postgres
  fi
  [ "$(id -u)" -eq 0 ] && /usr/bin/python3 "$REPO/bench/limits.py" remove "$STATE" 2>/dev/null || true
  rm -rf "$STATE"
  say "down"
}

cmd_metrics() {
  for e in "${ENGINES[@]}"; do
    set -- $e
    if [ -S "$STATE/engine-$1.sock" ]; then curl -s --unix-socket "$STATE/engine-$1.sock" http://engine/metrics
    else curl -s "http://127.0.0.1:$2/metrics"; fi
  done
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  metrics) cmd_metrics ;;
  *) echo "usage: $0 {up|down|status|metrics}" >&2; exit 2 ;;
esac
