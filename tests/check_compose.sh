#!/usr/bin/env bash
# Checks docker-compose.yml against the challenge's resource rules (SPEC section 3):
#   - `docker-compose config -q` accepts the file;
#   - every service has deploy.resources.limits (cpus and memory), summing to <= 1.5 CPU
#     and <= 350 MB (docker's M, i.e. MiB, as the challenge counts it);
#   - no privileged mode, no replicas/scale, no host network (nor other host namespaces),
#     only bridge (or external) networks;
#   - api1 and api2 exist and something publishes port 9999.
# Validation only: no Docker engine is needed. Works from any directory.
# Usage: tests/check_compose.sh [compose-file]   (default: docker-compose.yml at the repo root)
set -euo pipefail
cd "$(dirname "$0")/.."
FILE=${1:-docker-compose.yml}

fail() { echo "check_compose: FAIL: $*" >&2; exit 1; }

[ -f "$FILE" ] || fail "$FILE not found in $(pwd)"

if command -v docker-compose >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
else
  fail "docker-compose not found (install it: apt-get install -y docker-compose)"
fi

"${COMPOSE[@]}" -f "$FILE" config -q || fail "'${COMPOSE[*]} config -q' rejected $FILE"

# A python3 with PyYAML (Debian's docker-compose brings python3-yaml to /usr/bin/python3).
PY=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml' >/dev/null 2>&1; then PY=$p; break; fi
done
[ -n "$PY" ] || fail "no python3 with PyYAML found (apt-get install -y python3-yaml)"

# Check the normalised file (anchors, merges and extends resolved) as compose sees it.
CHECK_PY=$(cat <<'PYEOF'
import re, sys, yaml

MAX_CPUS, MAX_MEM_MB = 1.5, 350
cfg = yaml.safe_load(sys.stdin) or {}
services = cfg.get("services") or {}
errors = []

def mem_mb(v):
    """docker memory value -> MiB (docker units are binary: 70M = 70 MiB)."""
    if isinstance(v, (int, float)):
        return float(v) / 2**20                      # compose v2 prints bytes
    m = re.fullmatch(r"\s*([0-9.]+)\s*([bkmg]?)b?\s*", str(v).lower())
    if not m:
        raise ValueError(f"unreadable memory value {v!r}")
    n, u = float(m.group(1)), m.group(2)
    return n * {"": 2**-20, "b": 2**-20, "k": 2**-10, "m": 1, "g": 2**10}[u]

cpu_total = mem_total = 0.0
rows = []
for name, s in sorted(services.items()):
    s = s or {}
    if s.get("privileged"):
        errors.append(f"{name}: privileged mode is not allowed")
    dep = s.get("deploy") or {}
    replicas = dep.get("replicas", 1)
    if int(replicas) != 1 or int(s.get("scale", 1)) != 1:
        errors.append(f"{name}: replicas/scale > 1 is not allowed (write explicit services)")
    if dep.get("mode") == "global":
        errors.append(f"{name}: deploy.mode global is not allowed")
    for key in ("network_mode", "pid", "ipc", "uts", "userns_mode"):
        val = str(s.get(key, ""))
        if val == "host" or (key == "network_mode" and val and not val.startswith("bridge")):
            errors.append(f"{name}: {key}: {val} is not allowed (bridge network only)")
    lim = (dep.get("resources") or {}).get("limits") or {}
    if "cpus" not in lim:
        errors.append(f"{name}: no deploy.resources.limits.cpus")
    if "memory" not in lim:
        errors.append(f"{name}: no deploy.resources.limits.memory")
    try:
        c = float(lim.get("cpus", 0)); m = mem_mb(lim.get("memory", 0))
    except ValueError as e:
        errors.append(f"{name}: {e}"); continue
    cpu_total += c; mem_total += m
    rows.append((name, c, m))

for name, n in sorted((cfg.get("networks") or {}).items()):
    n = n or {}
    if n.get("external"):
        continue
    drv = n.get("driver", "bridge")
    if drv != "bridge":
        errors.append(f"network {name}: driver {drv} (bridge only)")

for needed in ("api1", "api2"):
    if needed not in services:
        errors.append(f"service {needed} missing (at least 2 engine instances)")

def publishes_9999(p):
    if isinstance(p, dict):
        return str(p.get("published", "")).split("-")[0] == "9999"
    parts = str(p).split("/")[0].split(":")
    return len(parts) >= 2 and parts[-2] == "9999"
if not any(publishes_9999(p) for s in services.values() for p in ((s or {}).get("ports") or [])):
    errors.append("no service publishes port 9999")

# conn_balancer hands clients over on unix sockets (net/balancer.h): whatever the publishing
# service names after --frontend ...=, each engine must listen there (HANDOFF_SOCKET), in a volume
# that both mount at the same place. A typo here would leave an engine without clients.
def mounts(s):
    out = {}
    for v in (s or {}).get("volumes") or []:
        if isinstance(v, dict):
            out[str(v.get("target"))] = str(v.get("source"))
        else:
            parts = str(v).split(":")
            if len(parts) >= 2:
                out[parts[1]] = parts[0]
    return out
def volume_of(s, path):
    best = None
    for target, source in mounts(s).items():
        if path.startswith(target.rstrip("/") + "/") and (best is None or len(target) > len(best[0])):
            best = (target, source)
    return best
for name, s in services.items():
    cmd = (s or {}).get("command") or []
    cmd = cmd.split() if isinstance(cmd, str) else [str(a) for a in cmd]
    if not any(a.endswith("conn_balancer") for a in cmd):
        continue
    socks = [p for i, a in enumerate(cmd[:-1]) if a == "--frontend" for p in cmd[i + 1].split("=", 1)[-1].split(",")]
    engines = {str(((e or {}).get("environment") or {}).get("HANDOFF_SOCKET", "")): en for en, e in services.items()}
    for sock in socks:
        if sock not in engines:
            errors.append(f"{name}: hands clients to {sock}, where no service's HANDOFF_SOCKET listens")
        elif volume_of(s, sock) is None or volume_of(s, sock) != volume_of(services[engines[sock]], sock):
            errors.append(f"{name} and {engines[sock]}: {sock} is not in a volume both mount at the same place")
    for needed in ("api1", "api2"):
        hs = str(((services.get(needed) or {}).get("environment") or {}).get("HANDOFF_SOCKET", ""))
        if hs not in socks:
            errors.append(f"{needed}: its HANDOFF_SOCKET ({hs or 'unset'}) is not among {name}'s backends")

print(f"{'service':<10} {'cpus':>6} {'memory':>9}")
for name, c, m in rows:
    print(f"{name:<10} {c:>6.2f} {m:>8.1f}M")
print(f"{'total':<10} {cpu_total:>6.2f} {mem_total:>8.1f}M   (limits {MAX_CPUS} CPU / {MAX_MEM_MB}M)")
if cpu_total > MAX_CPUS + 1e-9:
    errors.append(f"CPU limits sum to {cpu_total:.2f} > {MAX_CPUS}")
if mem_total > MAX_MEM_MB + 1e-9:
    errors.append(f"memory limits sum to {mem_total:.1f}M > {MAX_MEM_MB}M")

if errors:
    for e in errors:
        print("check_compose: FAIL: " + e, file=sys.stderr)
    sys.exit(1)
print("check_compose: OK")
PYEOF
)
"${COMPOSE[@]}" -f "$FILE" config | "$PY" -c "$CHECK_PY"
