#!/usr/bin/env bash
# Runner vs wrk against one processor simulator (POSTs straight to it), same per-connection
# pacing (answer, then 1 s pause), RUNS times each; prints one line per run.
#   bench/runner/compare_wrk.sh            (from the repository root, after building)
# Env: RUNS (3), VUS (550), DURATION (60), WRK_CONNS (275: the preview ramp's average VU count)
#      JITTER_MS (1000: wrk pauses 0.5..1.5 s so its connections do not stay in lockstep)
set -euo pipefail
cd "$(dirname "$0")/../.."
SIM=${SIM:-build/bench/processor/processor_sim}
RUNNER=${RUNNER:-build/bench/runner/scenario_runner}
RUNS=${RUNS:-3}; VUS=${VUS:-550}; DURATION=${DURATION:-60}; WRK_CONNS=${WRK_CONNS:-275}
PORT=${PORT:-27101}  # uncommon: other tools on this machine use 18xxx
OUT=${OUT:-bench/results/compare-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

"$SIM" --port $PORT --fee 0.05 >"$OUT/sim-default.log" 2>&1 & d=$!
"$SIM" --port $((PORT + 1)) --fee 0.15 >"$OUT/sim-fallback.log" 2>&1 & f=$!
trap 'kill $d $f 2>/dev/null || true' EXIT
sleep 0.5
kill -0 $d && kill -0 $f || { echo "simulator ports $PORT/$((PORT + 1)) busy?" >&2; exit 1; }

for i in $(seq 1 "$RUNS"); do
  /usr/bin/time -f "%U %S %e" -o "$OUT/runner-$i.time" \
    "$RUNNER" --preset preview --vus "$VUS" --duration "$DURATION" --direct --quiet \
      --default http://127.0.0.1:$PORT --fallback http://127.0.0.1:$((PORT + 1)) --out "$OUT/runner-$i" >/dev/null
  python3 - "$OUT/runner-$i/result.json" "$OUT/runner-$i.time" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); u, s, e = map(float, open(sys.argv[2]).read().split()[-3:])
p = r["post_latency_ms"]
print(f"runner  n={p['count']} p50={p['p50']:.3f} p90={p['p90']:.3f} p99={p['p99']:.3f} max={p['max']:.3f} ms "
      f"failures={r['failures']} lag={r['lag']} cpu={u+s:.2f}s ({100*(u+s)/e:.1f}% of {e:.0f}s)")
PY
done

for i in $(seq 1 "$RUNS"); do
  curl -s -X POST -H 'X-Rinha-Token: 123' http://127.0.0.1:$PORT/admin/purge-payments >/dev/null
  DIRECT=1 DELAY_MS=1000 JITTER_MS=${JITTER_MS:-1000} /usr/bin/time -f "%U %S %e" -o "$OUT/wrk-$i.time" \
    wrk -t1 -c"$WRK_CONNS" -d"${DURATION}s" --timeout 2s --latency -s bench/wrk/post_payments.lua \
      http://127.0.0.1:$PORT >"$OUT/wrk-$i.txt"
  python3 - "$OUT/wrk-$i.txt" "$OUT/wrk-$i.time" <<'PY'
import re, sys
t = open(sys.argv[1]).read(); u, s, e = map(float, open(sys.argv[2]).read().split()[-3:])
def ms(v, unit): return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
pct = {m.group(1): ms(m.group(2), m.group(3)) for m in re.finditer(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)", t, re.M)}
mx = re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", t)
n = re.search(r"(\d+) requests in", t).group(1)
print(f"wrk     n={n} p50={pct['50']:.3f} p90={pct['90']:.3f} p99={pct['99']:.3f} max={ms(*mx.groups()):.3f} ms "
      f"cpu={u+s:.2f}s ({100*(u+s)/e:.1f}% of {e:.0f}s)")
PY
done
