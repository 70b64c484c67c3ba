#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine: installs what is missing, builds, and runs.
#   ./dev.sh test    install deps, build (Release + ASan/UBSan test build), run every test with ctest
#   ./dev.sh run     install deps, build, start the whole local stack (bench/stack.sh up)
#   ./dev.sh stop    stop the local stack
#   ./dev.sh build   install deps and build only
#   ./dev.sh fuzz    install deps, build the libFuzzer targets and run each for FUZZ_SECONDS (30)
set -euo pipefail
cd "$(dirname "$0")"

PKGS=(build-essential cmake pkg-config git ca-certificates
      libpqxx-dev libpq-dev libcpp-httplib-dev libssl-dev zlib1g-dev libbrotli-dev
      libsimdjson-dev libconcurrentqueue-dev libfmt-dev doctest-dev
      postgresql postgresql-client wrk haproxy docker-compose
      clang libfuzzer-14-dev prometheus
      curl iproute2 procps)  # bench/stack.sh probes with curl; bench/final.sh reads TCP counters
                             # with nstat and the machine each second with vmstat

install_deps() {
  local missing=()
  for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "dev.sh: installing ${missing[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian postgresql and prometheus packages start system services; we never use them (tests
  # make their own cluster; promtool lints /metrics; bench/stack.sh starts its own Prometheus).
  for svc in postgresql prometheus prometheus-node-exporter; do
    $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || $sudo service "$svc" stop >/dev/null 2>&1 || true
  done
}

build() {  # $1 = build dir, rest = cmake args
  local dir=$1; shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)"
}

# Each fuzzer runs for a bounded time from the committed seeds only (a fresh working corpus every
# time, so the run depends on the checkout alone); a crash or a wrong answer fails the run and
# leaves the input in build-fuzz/artifacts/, to be committed as a regression seed.
FUZZERS=(request_parser response_parser payment_request iso8601 money)
fuzz() {
  cmake -S . -B build-fuzz -DFUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build-fuzz -j"$(nproc)" --target fuzzers
  mkdir -p build-fuzz/artifacts
  for t in "${FUZZERS[@]}"; do
    local work=build-fuzz/corpus/$t log=build-fuzz/fuzz_$t.log
    rm -rf "$work" && mkdir -p "$work"
    if ! build-fuzz/tests/fuzz/fuzz_"$t" -max_total_time="${FUZZ_SECONDS:-30}" -timeout=10 -print_final_stats=1 \
         -artifact_prefix=build-fuzz/artifacts/"$t"- "$work" tests/fuzz/corpus/"$t" >"$log" 2>&1; then
      tail -n 40 "$log"
      echo "dev.sh: fuzz_$t failed; its input is in build-fuzz/artifacts/ (add it to tests/fuzz/corpus/$t/)" >&2
      return 1
    fi
    echo "fuzz_$t: $(grep -o 'number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$') executions," \
         "$(grep -o 'DONE *cov: [0-9]* ft: [0-9]*' "$log" | sed 's/DONE *//')"
  done
}

cmd=${1:-test}
case "$cmd" in
  build) install_deps; build build -DCMAKE_BUILD_TYPE=Release ;;
  test)
    install_deps
    build build -DCMAKE_BUILD_TYPE=Release
    (cd build && ctest --output-on-failure -j1 --timeout 900)
    # The same tests under AddressSanitizer/UBSan (unit and integration alike).
    build build-asan -DCMAKE_BUILD_TYPE=Debug -DSANITIZE=ON
    (cd build-asan && LSAN_OPTIONS="suppressions=$PWD/../tests/lsan.supp" ctest --output-on-failure -j1 --timeout 1800)
    fuzz
    ;;
  fuzz) install_deps; fuzz ;;
  run)  install_deps; build build -DCMAKE_BUILD_TYPE=Release; exec bench/stack.sh up ;;
  stop) exec bench/stack.sh down ;;
  *) echo "usage: $0 {test|run|stop|build|fuzz}" >&2; exit 2 ;;
esac
