#!/usr/bin/env bash
# Where a single POST /payments spends its time, on an idle stack: one wrk connection at about
# 45 requests/s (DELAY_MS=20) for SECONDS (30) through the load balancer, repeated RUNS (3) times, against
#   - POST /payments on the engines (the real thing),
#   - POST /floor: the same load balancer (its frontend on :9998, the API's kind: bench/stack.sh's
#     LB) to a server on the same event loop and HTTP code that answers 202 at once
#     (bench/floor): everything but the engine's own work,
#   - POST /floor/commit and /floor/accept: the same server answering after the cheapest durable
#     commit (the floor of any design that commits before it answers) and after the engine's own
#     accept statement, each on a PostgreSQL connection like the engine's, in a database of their own,
#   - GET /health through the load balancer;
# every other run in the opposite order; for the POST runs, the engine's own phase histograms
# (queued / commit / answered); and for each kind that commits, PostgreSQL's view
# (pg_stat_statements: the statement's calls and execution time; pg_stat_wal: fsyncs and their
# time). Every answer must be 2XX, or the script fails. Needs the stack started with PG_STATS=1
# (and LIMITS=1 for the quoted figures): PG_STATS=1 LIMITS=1 bench/stack.sh up; then
# bench/latency.sh [OUT.md].
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
STATE=${STACK_DIR:-/tmp/payeng-stack}
PG_PORT=${PG_PORT:-5433}
SECS=${SECONDS_PER_RUN:-30}
RUNS=${RUNS:-3}
OUT=${1:-/dev/stdout}
export DELAY_MS=${DELAY_MS:-20}

psql_q() { psql -X -q -At -F " " -h "$STATE" -p "$PG_PORT" -U postgres -d postgres -c "$1"; }
wrk_ms() {  # url script -> "p50 p90 p99 rps" in ms; fails if any answer was not 2XX
  wrk -t1 -c1 -d"${SECS}s" --latency -s "$2" "$1" 2>/dev/null | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { p50 = ms($2) } $1 == "90%" { p90 = ms($2) } $1 == "99%" { p99 = ms($2) }
    $1 == "Requests/sec:" { rps = $2 } /^ *Non-2xx/ { bad = $NF }
    END { if (bad > 0) { print bad " answers were not 2XX" > "/dev/stderr"; exit 1 }
          printf "%.3f %.3f %.3f %.1f\n", p50, p90, p99, rps }'
}
scrape() { "$REPO/bench/stack.sh" metrics; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat > "$TMP/floor.lua" <<'EOF'
dofile(os.getenv("REPO") .. "/bench/wrk/common.lua")
function request()
  return wrk.format("POST", os.getenv("FLOOR_PATH"), json_headers, string.format('{"correlationId":"%s","amount":20.05}', uuid()))
end
EOF
export REPO

KINDS="post floor commit accept health"
DURABLE="post commit accept"  # the kinds that commit: PostgreSQL's figures are taken for each
for kind in $KINDS; do : > "$TMP/$kind.txt"; done
floor_ms() { FLOOR_PATH=$1 wrk_ms "http://127.0.0.1:9998$1" "$TMP/floor.lua"; }  # a path of the floor server
measure() {  # kind
  case $1 in
    post) wrk_ms http://127.0.0.1:9999/payments "$REPO/bench/wrk/post_payments.lua" ;;
    floor) floor_ms /floor ;;
    commit) floor_ms /floor/commit ;;
    accept) floor_ms /floor/accept ;;
    health) wrk_ms http://127.0.0.1:9999/health "$REPO/bench/wrk/common.lua" ;;
  esac
}
for run in $(seq "$RUNS"); do
  # Every other run in the opposite order, so that no kind always follows the same one.
  order=$KINDS
  [ $((run % 2)) = 0 ] && order=$(echo $KINDS | tr ' ' '\n' | tac | tr '\n' ' ')
  for kind in $order; do
    psql_q "SELECT pg_stat_statements_reset(); SELECT pg_stat_reset_shared('wal');" >/dev/null
    [ "$kind" = post ] && scrape > "$TMP/before.prom"
    measure "$kind" >> "$TMP/$kind.txt"
    case " $DURABLE " in *" $kind "*) ;; *) continue ;; esac
    # The statement each request waits for: the accept (either form), or the floor's INSERT.
    psql_q "SELECT calls, round(mean_exec_time::numeric, 3), round(stddev_exec_time::numeric, 3)
            FROM pg_stat_statements WHERE query LIKE 'WITH input AS%' OR query LIKE 'WITH ins AS (INSERT INTO payments%'
            OR query LIKE 'INSERT INTO floor_rows%' ORDER BY calls DESC LIMIT 1" >> "$TMP/pgss-$kind.txt"
    psql_q "SELECT wal_sync, round((wal_sync_time / greatest(wal_sync, 1))::numeric, 3), wal_write FROM pg_stat_wal" >> "$TMP/wal-$kind.txt"
    if [ "$kind" = post ]; then
      scrape > "$TMP/after.prom"
      /usr/bin/python3 "$REPO/bench/prom_phases.py" "$TMP/before.prom" "$TMP/after.prom" >> "$TMP/phases.txt"
    fi
  done
done

label() {
  case $1 in
    post) echo "POST /payments (the engine)" ;;
    floor) echo "floor: 202 at once" ;;
    commit) echo "floor: 202 after the cheapest durable commit" ;;
    accept) echo "floor: 202 after the engine's accept statement" ;;
    health) echo "GET /health (the engine)" ;;
  esac
}
med() {  # file column -> "median (min-max)"
  awk -v c="$2" '{print $c}' "$1" | sort -n | awk '{v[NR]=$1} END {printf "%s (%s-%s)", v[int((NR+1)/2)], v[1], v[NR]}'
}
{
  echo "### Single POST on an idle stack ($(date -u +%Y-%m-%d), ${RUNS} runs of ${SECS} s, wrk -t1 -c1, DELAY_MS=$DELAY_MS; limits: $(/usr/bin/python3 -c "import json;print(json.load(open('$STATE/limits.json'))['mode'])" 2>/dev/null || echo unknown))"
  echo
  echo "| through the load balancer ($(cat "$STATE/lb.kind" 2>/dev/null || echo unknown)) | p50 ms | p90 ms | p99 ms | req/s |"
  echo "|---|---|---|---|---|"
  for kind in $KINDS; do
    echo "| $(label "$kind") | $(med "$TMP/$kind.txt" 1) | $(med "$TMP/$kind.txt" 2) | $(med "$TMP/$kind.txt" 3) | $(med "$TMP/$kind.txt" 4) |"
  done
  echo
  echo "Inside the engine (its histograms, interpolated; median of the runs' p50 / p99, ms; socket, the"
  echo "wait from the kernel's receipt of the request to its parsing, comes before the others and is not"
  echo "in total; its lowest bucket is 0-50 us, so a p50 inside it is a linear guess):"
  echo
  echo "| phase | p50 | p99 |"
  echo "|---|---|---|"
  for ph in socket queued commit answered total; do
    grep "^$ph " "$TMP/phases.txt" > "$TMP/ph_$ph.txt" || true
    echo "| $ph | $(med "$TMP/ph_$ph.txt" 2) | $(med "$TMP/ph_$ph.txt" 3) |"
  done
  echo
  echo "PostgreSQL during each durable kind (medians of the runs): the statement each request waits for"
  echo "(pg_stat_statements: calls, mean execution), and WAL fsyncs (pg_stat_wal: count, mean time, with"
  echo "track_wal_io_timing, PG_STATS=1). More fsyncs than requests for the engine: its recorder's commits."
  echo
  echo "| kind | statements run | statement mean exec ms | WAL fsyncs | WAL fsync mean ms |"
  echo "|---|---|---|---|---|"
  for kind in $DURABLE; do
    echo "| $(label "$kind") | $(med "$TMP/pgss-$kind.txt" 1) | $(med "$TMP/pgss-$kind.txt" 2) | $(med "$TMP/wal-$kind.txt" 1) | $(med "$TMP/wal-$kind.txt" 2) |"
  done
} | sed 's/|/|/g' > "$TMP/report.md"
cat "$TMP/report.md" > "$OUT"
