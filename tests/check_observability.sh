#!/usr/bin/env bash
# The observability files are valid as their tools read them:
#   - docker-compose accepts the challenge deployment together with docker-compose.observability.yml;
#   - promtool accepts the Prometheus scrape configuration;
#   - the Grafana dashboard and provisioning files parse.
# (test_engine_api checks that the dashboard only queries metrics the engine exports.)
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "check_observability: FAIL: $*" >&2; exit 1; }
docker-compose -f docker-compose.yml -f docker-compose.observability.yml config -q ||
  fail "docker-compose rejects docker-compose.yml + docker-compose.observability.yml"
promtool check config deploy/prometheus/prometheus.yml >/dev/null || fail "promtool rejects deploy/prometheus/prometheus.yml"
python3 - <<'PY' || fail "a Grafana file does not parse"
import json, yaml, glob
for f in glob.glob("deploy/grafana/dashboards/*.json"):
    d = json.load(open(f))
    assert d["panels"] and all(p["targets"] for p in d["panels"]), f
for f in glob.glob("deploy/grafana/provisioning/*/*.yml"):
    yaml.safe_load(open(f))
PY
echo "check_observability: ok"
