#!/usr/bin/env bash
# Where a single POST /payments spends its time, on an idle stack: one wrk connection at about
# 45 requests/s (DELAY_MS=20) for SECONDS (30) through the load balancer, repeated RUNS (3) times, against
#   - POST /payments on the engines (the real thing),
#   - POST /floor: the same load balancer (its frontend on :9998, the API's kind: bench/stack.sh's
#     LB) to a server on the same event loop and HTTP code that answers 202 at once
#     (bench/floor): everything but the engine's own work,
#   - GET /health through the load balancer;
# and, for the POST runs, the engine's own phase histograms (queued / commit / answered) and
# PostgreSQL's view (pg_stat_statements: the accept statement's execution time; pg_stat_wal:
# fsyncs and their time). Needs the stack started with PG_STATS=1 (and LIMITS=1 for the quoted
# figures): PG_STATS=1 LIMITS=1 bench/stack.sh up; then bench/latency.sh [OUT.md].
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
STATE=${STACK_DIR:-/tmp/payeng-stack}
PG_PORT=${PG_PORT:-5433}
SECS=${SECONDS_PER_RUN:-30}
RUNS=${RUNS:-3}
OUT=${1:-/dev/stdout}
export DELAY_MS=${DELAY_MS:-20}

psql_q() { psql -X -q -At -F " " -h "$STATE" -p "$PG_PORT" -U postgres -d postgres -c "$1"; }
wrk_ms() {  # url script -> "p50 p90 p99 rps" in ms
  wrk -t1 -c1 -d"${SECS}s" --latency -s "$2" "$1" 2>/dev/null | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { p50 = ms($2) } $1 == "90%" { p90 = ms($2) } $1 == "99%" { p99 = ms($2) }
    $1 == "Requests/sec:" { rps = $2 }
    END { printf "%.3f %.3f %.3f %.1f\n", p50, p90, p99, rps }'
}
scrape() { "$REPO/bench/stack.sh" metrics; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat > "$TMP/floor.lua" <<'EOF'
dofile(os.getenv("REPO") .. "/bench/wrk/common.lua")
function request()
  return wrk.format("POST", "/floor", json_headers, string.format('{"correlationId":"%s","amount":20.05}', uuid()))
end
EOF
export REPO

for kind in post floor health; do : > "$TMP/$kind.txt"; done
for run in $(seq "$RUNS"); do
  psql_q "SELECT pg_stat_statements_reset(); SELECT pg_stat_reset_shared('wal');" >/dev/null
  scrape > "$TMP/before.prom"
  wrk_ms http://127.0.0.1:9999/payments "$REPO/bench/wrk/post_payments.lua" >> "$TMP/post.txt"
  scrape > "$TMP/after.prom"
  psql_q "SELECT calls, round(mean_exec_time::numeric, 3), round(stddev_exec_time::numeric, 3)
          FROM pg_stat_statements WHERE query LIKE 'WITH input AS%' OR query LIKE 'WITH ins AS (INSERT INTO payments%'
          ORDER BY calls DESC LIMIT 1" >> "$TMP/pgss.txt"
  psql_q "SELECT wal_sync, round((wal_sync_time / greatest(wal_sync, 1))::numeric, 3), wal_write FROM pg_stat_wal" >> "$TMP/wal.txt"
  /usr/bin/python3 "$REPO/bench/prom_phases.py" "$TMP/before.prom" "$TMP/after.prom" >> "$TMP/phases.txt"
  wrk_ms http://127.0.0.1:9998/floor "$TMP/floor.lua" >> "$TMP/floor.txt"
  wrk_ms http://127.0.0.1:9999/health "$REPO/bench/wrk/common.lua" >> "$TMP/health.txt"
done

med() {  # file column -> "median (min-max)"
  awk -v c="$2" '{print $c}' "$1" | sort -n | awk '{v[NR]=$1} END {printf "%s (%s-%s)", v[int((NR+1)/2)], v[1], v[NR]}'
}
{
  echo "### Single POST on an idle stack ($(date -u +%Y-%m-%d), ${RUNS} runs of ${SECS} s, wrk -t1 -c1, DELAY_MS=$DELAY_MS; limits: $(/usr/bin/python3 -c "import json;print(json.load(open('$STATE/limits.json'))['mode'])" 2>/dev/null || echo unknown))"
  echo
  echo "| through the load balancer ($(cat "$STATE/lb.kind" 2>/dev/null || echo unknown)) | p50 ms | p90 ms | p99 ms | req/s |"
  echo "|---|---|---|---|---|"
  for kind in post floor health; do
    echo "| $kind | $(med "$TMP/$kind.txt" 1) | $(med "$TMP/$kind.txt" 2) | $(med "$TMP/$kind.txt" 3) | $(med "$TMP/$kind.txt" 4) |"
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
  echo "PostgreSQL: accept statement mean execution (pg_stat_statements) $(med "$TMP/pgss.txt" 2) ms;" \
       "WAL fsync mean (pg_stat_wal) $(med "$TMP/wal.txt" 2) ms over $(med "$TMP/wal.txt" 1) fsyncs per run."
} | sed 's/|/|/g' > "$TMP/report.md"
cat "$TMP/report.md" > "$OUT"
