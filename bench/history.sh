#!/usr/bin/env bash
# History size: how GET /payments-summary and POST /payments behave with 1M and 10M processed
# payments in the tables (issue 10). On a running local stack (bench/stack.sh up), for each SIZE:
# fills payments and processed_payments with SIZE rows spread over the last 24 hours (plus the
# engine's own partitions), VACUUM ANALYZE, then one wrk connection for SECONDS each against
#   - the summary of a 15 s window (what the challenge's checker asks),
#   - the summary of the whole day,
#   - POST /payments at ~45/s (the ingress at that size).
#   bench/history.sh [SIZES...]     (default: 1000000 10000000)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
STATE=${STACK_DIR:-/tmp/payeng-stack}
PG_PORT=${PG_PORT:-5433}
SECS=${SECONDS_PER_RUN:-20}
SIZES=("${@:-1000000 10000000}")
[ $# -eq 0 ] && SIZES=(1000000 10000000)
psql_q() { psql -X -q -At -F ' ' -h "$STATE" -p "$PG_PORT" -U postgres -d postgres -c "$1"; }
wrk_ms() {  # url script -> "p50 p99 rps"
  wrk -t1 -c1 -d"${SECS}s" --latency ${2:+-s "$2"} "$1" 2>/dev/null | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) } $1 == "Requests/sec:" { rps = $2 }
    END { printf "%.2f %.2f %.1f\n", p50, p99, rps }'
}
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%S.000Z; }

echo "| processed payments | summary, 15 s window: p50 / p99 ms | summary, whole day: p50 / p99 ms | POST: p50 / p99 ms |"
echo "|---|---|---|---|"
have=0
for n in "${SIZES[@]}"; do
  add=$((n - have))
  # In batches of 1M: one transaction per batch keeps the WAL and memory in bounds.
  while [ "$add" -gt 0 ]; do
    k=$((add > 1000000 ? 1000000 : add))
    psql_q "WITH g AS (SELECT gen_random_uuid() AS cid, now() - random() * interval '23 hours 59 minutes' AS req
                       FROM generate_series(1, $k)),
                 p AS (INSERT INTO payments (correlation_id, amount_cents, requested_at, accepted_on, processor)
                       SELECT cid, 2005, req, (req AT TIME ZONE 'UTC')::date, (random() < 0.3)::int FROM g
                       RETURNING correlation_id, requested_at, processor)
            INSERT INTO processed_payments (correlation_id, processor, amount_cents, requested_at)
            SELECT correlation_id, processor, 2005, requested_at FROM p" >/dev/null
    add=$((add - k))
  done
  have=$n
  # One statement per call: psql -c sends a multi-statement string as one transaction, where VACUUM cannot run.
  psql_q "VACUUM ANALYZE payments" >/dev/null
  psql_q "VACUUM ANALYZE processed_payments" >/dev/null
  now=$(date +%s)
  w15=$(wrk_ms "http://127.0.0.1:9999/payments-summary?from=$(iso $((now - 17)))&to=$(iso $((now - 2)))")
  day=$(wrk_ms "http://127.0.0.1:9999/payments-summary?from=$(iso $((now - 86400)))&to=$(iso "$now")")
  post=$(DELAY_MS=20 wrk_ms http://127.0.0.1:9999/payments "$REPO/bench/wrk/post_payments.lua")
  printf "| %s | %s / %s | %s / %s | %s / %s |\n" "$n" $(echo "$w15" | cut -d' ' -f1,2) $(echo "$day" | cut -d' ' -f1,2) \
    $(echo "$post" | cut -d' ' -f1,2)
done
