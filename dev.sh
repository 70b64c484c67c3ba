#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine: installs what is missing, builds, and runs.
#   ./dev.sh test    install deps, build (Release + ASan/UBSan test build), run every test with ctest
#   ./dev.sh run     install deps, build, start the whole local stack (bench/stack.sh up)
#   ./dev.sh stop    stop the local stack
#   ./dev.sh build   install deps and build only
set -euo pipefail
cd "$(dirname "$0")"

PKGS=(build-essential cmake pkg-config git ca-certificates
      libpqxx-dev libpq-dev libcpp-httplib-dev libssl-dev zlib1g-dev libbrotli-dev
      libsimdjson-dev libconcurrentqueue-dev libfmt-dev doctest-dev
      postgresql postgresql-client wrk haproxy docker-compose)

install_deps() {
  local missing=()
  for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "dev.sh: installing ${missing[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian postgresql package starts a system cluster; we never use it (tests make their own).
  $sudo systemctl disable --now postgresql >/dev/null 2>&1 || $sudo service postgresql stop >/dev/null 2>&1 || true
}

build() {  # $1 = build dir, rest = cmake args
  local dir=$1; shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)"
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
    ;;
  run)  install_deps; build build -DCMAKE_BUILD_TYPE=Release; exec bench/stack.sh up ;;
  stop) exec bench/stack.sh down ;;
  *) echo "usage: $0 {test|run|stop|build}" >&2; exit 2 ;;
esac
