#!/usr/bin/env bash
# The challenge's final test, RUNS times, each on a freshly started local stack (so no run inherits
# the previous one's tables, caches or autovacuum debt), with the final's fees, the challenge's
# resource limits (LIMITS=1 unless LIMITS=0 is given) and PostgreSQL's statistics on:
#   bench/final.sh NAME [RUNS]      -> bench/reports/final-<date>-NAME-run<k>/
# Each run directory holds the runner's result.json, seconds.csv and chart.svg, plus
#   phases.txt    the engine's POST phases over the run (bench/prom_phases.py: p50/p99 per phase)
#   pg_stats.txt  pg_stat_statements (top statements by total time), pg_stat_wal, commits
#   sched.txt     CPU used and time spent waiting for a CPU, per component (bench/schedstat.py)
#   timeline.csv.gz with TIMELINE=1: each component's CPU and CPU wait every 100 ms (bench/schedstat.py)
#   tcp.txt       TCP retransmissions, timeouts and loss probes over the run (nstat, whole machine)
#   vmstat.txt    vmstat every second of the run (disk writes, iowait, blocked processes, steal)
#   wal_segments.txt  each WAL segment file's creation time (none should be created during a run)
#   last_payments.txt the 20 payments whose processor answered last (or never): when each was
#                 requested, how long until its row was inserted (received_at: before the commit's
#                 flush) and until its processor's answer reached us (processed_at, whole ms).
#                 A lag at the end is payments answered but not yet held by a processor when the
#                 runner read the totals: these are they, and this says how late they were.
#   machine.txt   the load balancer (bench/stack.sh's LB), the host CPU model, the VM's boot time
#                 and idle driver, and how fast the machine
#                 was just before the run, on the idle stack: a SELECT 1 round trip and the cheapest
#                 durable commit at 45/s (pg_floor ... floor), and a wake-up across CPUs
#                 (wakeup_bench). Runs compare only at a like speed (bench/README.md).
#   postgres.log  the server's log (warnings; PG_OPTS="-c log_autovacuum_min_duration=0" adds more)
#   fsync.txt     with FSYNC_TRACE=1: each fdatasync split into device time and the rest, from the
#                 kernel's trace (bench/fsync_trace.py; the raw trace.gz stays in the state dir).
#                 The trace slows the run: diagnostic runs only.
# Env passes through to bench/stack.sh (ENGINE_ENV, UNIX_SOCKETS, BUILD_DIR, ...); PRESET (final)
# and RUNNER_ARGS go to the runner. Prints a one-line summary per run and the median of the runs.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
NAME=${1:?usage: bench/final.sh NAME [RUNS]}
RUNS=${2:-3}
STATE=${STACK_DIR:-/tmp/payeng-stack}
PG_PORT=${PG_PORT:-5433}
BUILD=${BUILD_DIR:-$REPO/build}
export FEE_DEFAULT=${FEE_DEFAULT:-0.07} FEE_FALLBACK=${FEE_FALLBACK:-0.10} LIMITS=${LIMITS:-1} PG_STATS=1

psql_q() { psql -X -q -h "$STATE" -p "$PG_PORT" -U postgres -d postgres -c "$1"; }
scrape() { "$REPO/bench/stack.sh" metrics; }

summaries=()
for k in $(seq "$RUNS"); do
  out=$REPO/bench/reports/final-$(date -u +%Y-%m-%d)-$NAME-run$k
  rm -rf "$out"
  "$REPO/bench/stack.sh" down >/dev/null 2>&1 || true
  "$REPO/bench/stack.sh" up >/dev/null
  if [ -n "${AFTER_UP:-}" ]; then eval "$AFTER_UP"; fi  # an experiment's extra step on the running stack
  { echo "# load balancer $(cat "$STATE/lb.kind" 2>/dev/null || echo unknown)"
    echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), up since $(uptime -s),"\
      "cpuidle $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo -)"\
      "guest_halt_poll_ns $(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns 2>/dev/null || echo -)"\
      "cpu_dma_latency $({ od -An -td4 /dev/cpu_dma_latency 2>/dev/null || echo -; } | tr -d ' ') us"
    "$BUILD/bench/pg_floor/pg_floor" "host=$STATE port=$PG_PORT user=postgres dbname=postgres" 45 4 floor
    "$BUILD/bench/wakeup/wakeup_bench" 1000; } > "$STATE/machine.txt" 2>&1 || true
  psql_q "SELECT pg_stat_statements_reset(); SELECT pg_stat_reset_shared('wal');" >/dev/null
  scrape > "$STATE/before.prom"
  /usr/bin/python3 "$REPO/bench/schedstat.py" snap "$STATE" "$STATE/sched-before.json"
  nstat -az > "$STATE/nstat-before.txt"
  timeline_pid=""
  if [ "${TIMELINE:-0}" = 1 ]; then  # CPU per component every 100 ms (costs the sampler ~3 % of a CPU)
    /usr/bin/python3 "$REPO/bench/schedstat.py" timeline "$STATE" "$STATE/timeline.csv" & timeline_pid=$!
  fi
  # The machine each second (run queue, blocked processes, disk writes, iowait, steal): a disk
  # that pauses or a burst of writes shows here (bench/README.md, "New WAL segments").
  vmstat -t -n 1 > "$STATE/vmstat.txt" 2>&1 & vmstat_pid=$!
  if [ "${FSYNC_TRACE:-0}" = 1 ]; then  # a failed run must not leave the kernel tracing
    /usr/bin/python3 "$REPO/bench/fsync_trace.py" start
    trap '/usr/bin/python3 "$REPO/bench/fsync_trace.py" stop "$STATE/trace.gz" || true' EXIT
  fi
  date -u +%H:%M:%S.%N > "$STATE/runner-start.txt"
  "$BUILD/bench/runner/scenario_runner" --preset "${PRESET:-final}" --quiet --out "$out" ${RUNNER_ARGS:-} > "$out.log" 2>&1 ||
    { cat "$out.log"; exit 1; }
  mv "$out.log" "$out/runner.log"
  if [ "${FSYNC_TRACE:-0}" = 1 ]; then
    trap - EXIT
    /usr/bin/python3 "$REPO/bench/fsync_trace.py" stop "$STATE/trace.gz"
    /usr/bin/python3 "$REPO/bench/fsync_trace.py" report "$STATE/trace.gz" > "$out/fsync.txt"
  fi
  kill "$vmstat_pid" 2>/dev/null || true; wait "$vmstat_pid" 2>/dev/null || true
  { echo "# runner started at $(cat "$STATE/runner-start.txt") UTC; vmstat's time column ends each second"
    cat "$STATE/vmstat.txt"; } > "$out/vmstat.txt"
  # When each WAL segment file was created (birth time): a segment created during the run was
  # zero-filled under WALWriteLock while every commit waited (sql/server/prealloc_wal.sql).
  stat -c '%w %n' "$STATE"/pgdata/pg_wal/0* | sed "s|$STATE/pgdata/pg_wal/||" > "$out/wal_segments.txt"
  if [ -n "$timeline_pid" ]; then kill "$timeline_pid"; wait "$timeline_pid" 2>/dev/null || true; gzip -c "$STATE/timeline.csv" > "$out/timeline.csv.gz"; fi
  scrape > "$STATE/after.prom"
  /usr/bin/python3 "$REPO/bench/schedstat.py" snap "$STATE" "$STATE/sched-after.json"
  /usr/bin/python3 "$REPO/bench/schedstat.py" diff "$STATE/sched-before.json" "$STATE/sched-after.json" > "$out/sched.txt"
  # Lost or late TCP segments over the run (the whole machine's counters): a retransmission
  # timeout costs at least 200 ms, a tail loss probe 10 ms or more.
  nstat -az | awk 'NR == FNR { before[$1] = $2; next }
    $1 ~ /^(TcpRetransSegs|TcpExtTCPTimeouts|TcpExtTCPLossProbes|TcpExtTCPSpuriousRTOs|TcpExtListenOverflows|TcpExtTCPBacklogDrop|TcpExtTCPRcvQDrop|TcpExtTCPZeroWindowDrop)$/ {
      print $1, $2 - before[$1] }' "$STATE/nstat-before.txt" - > "$out/tcp.txt"
  /usr/bin/python3 "$REPO/bench/prom_phases.py" "$STATE/before.prom" "$STATE/after.prom" > "$out/phases.txt"
  cp "$STATE/before.prom" "$out/metrics-before.prom"
  cp "$STATE/after.prom" "$out/metrics-after.prom"
  cp "$STATE/postgres.log" "$out/postgres.log"  # warnings only, unless PG_OPTS asks for more
  cp "$STATE/machine.txt" "$out/machine.txt"
  {
    echo "# pg_stat_statements over the run, top 12 by total time"
    psql_q "SELECT calls, round(total_exec_time) AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms, rows,
                   left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS query
            FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12"
    psql_q "SELECT wal_records, wal_fpi, pg_size_pretty(wal_bytes) AS wal, wal_write, wal_sync,
                   round((wal_sync_time / greatest(wal_sync, 1))::numeric, 3) AS sync_mean_ms FROM pg_stat_wal"
    psql_q "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = 'postgres'"
  } > "$out/pg_stats.txt"
  psql_q "SELECT to_char(p.requested_at AT TIME ZONE 'UTC', 'HH24:MI:SS.MS') AS requested_utc,
                 round((extract(epoch FROM p.received_at - p.requested_at) * 1000)::numeric, 2) AS in_db_after_ms,
                 pp.processor,
                 round((extract(epoch FROM pp.processed_at - p.requested_at) * 1000)::numeric, 2) AS answered_after_ms
          FROM payments p LEFT JOIN processed_payments pp USING (correlation_id, requested_at)
          ORDER BY pp.processed_at DESC NULLS FIRST LIMIT 20" > "$out/last_payments.txt" 2>&1 ||
    echo "(query failed)" >> "$out/last_payments.txt"
  "$REPO/bench/stack.sh" down >/dev/null
  line=$(/usr/bin/python3 - "$out/result.json" "$out/machine.txt" <<'EOF'
import json, re, sys
r = json.load(open(sys.argv[1]))
m = open(sys.argv[2]).read()
def p50(pattern):
    hit = re.search(pattern + r".*?p50\s+([0-9.]+)", m)
    return hit.group(1) if hit else "-"
pg = r.get("resources", {}).get("components", {}).get("postgres", {})
print(f"p99 {r['p99']:.2f} ms | POST p50 {r['post_latency_ms']['p50']:.2f} p99 {r['post_latency_ms']['p99']:.2f} |"
      f" score {r['score']:,.0f} | failures {r['failures']} | inconsistencies {r['inconsistencies']} |"
      f" lag {r['lag']} | PG throttled {pg.get('nr_throttled', '-')} periods |"
      f" machine: SELECT 1 p50 {p50('SELECT 1')} ms, durable insert p50 {p50('INSERT one row')} ms,"
      f" wake-up across CPUs after 2 ms p50 {p50('two CPUs  gap 2000')} us")
EOF
)
  echo "run $k: $line ($out)"
  summaries+=("$out/result.json")
done
/usr/bin/python3 - "${summaries[@]}" <<'EOF'
import json, statistics, sys
rs = [json.load(open(p)) for p in sys.argv[1:]]
def med(vals): return f"{statistics.median(vals):.2f} ({min(vals):.2f}-{max(vals):.2f})"
print(f"median of {len(rs)}: p99 {med([r['p99'] for r in rs])} ms, POST p50 {med([r['post_latency_ms']['p50'] for r in rs])} ms,"
      f" score {statistics.median([r['score'] for r in rs]):,.0f}")
EOF
