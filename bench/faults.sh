#!/usr/bin/env bash
# The fault-injection suite at full scale (tests/test_fault_*.cpp and the crash tests with
# FAULT_SCALE=full: longer faults, higher rates, e.g. a 3-minute outage of both processors at
# 500 payments/s), one fault at a time, writing the fault table to bench/reports/.
#   bench/faults.sh [BUILD_DIR]        (default: build; build it first: ./dev.sh build)
# CI runs the same tests at a small scale through ctest (./dev.sh test).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$REPO/build}
OUT=$REPO/bench/reports/faults-$(date -u +%Y-%m-%d)
mkdir -p "$OUT"
TABLE=$OUT/table.md
{
  echo "# Fault table, full scale ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo
  echo "| fault | accepted | lost | duplicated | wrong requestedAt | held unacknowledged | recovery | settled (ms) | notes |"
  echo "|---|---|---|---|---|---|---|---|---|"
} > "$TABLE"
status=0
for t in test_fault_postgres test_fault_indoubt test_fault_processor test_fault_instance test_fault_outage \
         test_fault_shutdown test_fault_processor_address test_engine_crash; do
  echo "faults: $t"
  FAULT_SCALE=full FAULT_TABLE=$TABLE "$BUILD/tests/$t" >"$OUT/$t.log" 2>&1 || { status=1; echo "faults: $t FAILED (see $OUT/$t.log)"; }
done
echo "faults: table in $TABLE"
cat "$TABLE"
exit $status
