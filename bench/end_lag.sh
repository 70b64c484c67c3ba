#!/usr/bin/env bash
# The load test's last instant, many times over: N short runs of the final's load (603 VUs ramped
# over 20 s, no processor stages) against the running stack, each ending as the final does: the
# runner reads both processors' totals the moment the last answer is in, with no grace. A lag
# above 0 is a payment answered 2XX that no processor held yet at that moment.
#   bench/stack.sh up; bench/end_lag.sh N [OUT_DIR]   -> one line per run, then the count
# Each run's result.json is kept under OUT_DIR (default /tmp/end-lag). A short run's p99 is not
# the final's (lower load, no stages): compare only runs of this tool, alternated.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
N=${1:?usage: bench/end_lag.sh N [OUT_DIR]}
OUT=${2:-/tmp/end-lag}
BUILD=${BUILD_DIR:-$REPO/build}
mkdir -p "$OUT"
lagged=0
for k in $(seq 1 "$N"); do
  "$BUILD/bench/runner/scenario_runner" --preset final --quiet --duration 20 --vus 603 --no-stages \
    --out "$OUT/run$k" > "$OUT/run$k.log" 2>&1 || { echo "run $k: runner failed (see $OUT/run$k.log)"; exit 1; }
  read -r lag p99 < <(/usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['lag'], r['p99'])" "$OUT/run$k/result.json")
  [ "$lag" -gt 0 ] && lagged=$((lagged + 1))
  echo "run $k: lag $lag, p99 $p99 ms"
done
echo "lag above 0 at the end in $lagged of $N runs"
