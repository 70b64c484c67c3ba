#!/usr/bin/env python3
"""The challenge's resource rules on the local stack, without Docker (used by bench/stack.sh).

  limits.py apply STATE_DIR COMPOSE_FILE   put each component in its own CPU cgroup with the
                                            quota its docker-compose service gets (cpus x 100 ms
                                            per 100 ms period, as Docker does); write limits.json
  limits.py none STATE_DIR                  record that no limits apply (limits.json)
  limits.py sample STATE_DIR                until killed: each component's memory every 5 s
                                            (summed Pss: shared memory counted once) and its
                                            cgroup's throttling every second, kept as peaks in
                                            usage.json, and
                                            each second in which a component was throttled (its
                                            UTC time, periods and ms), to match against logs
  limits.py remove STATE_DIR                move what is left back to the root cgroups, remove ours
  limits.py pg-options COMPOSE_FILE         print the db service's `-c name=value` settings (all but
                                            listen_addresses), for the stack's PostgreSQL

Components: postgres (the postmaster and every backend it forks: children inherit the cgroup),
engine-1, engine-2, lb (the load balancer); the scenario runner and the simulators stay outside, as in the
challenge. Memory is not limited (the memory cgroup the processes start in is left alone): each
component's peak is recorded against its compose limit instead. cgroup v1 (the cpu controller
mounted at /sys/fs/cgroup/cpu) and v2 (unified, cpu.max) are both supported. Root is needed.
"""
import json
import os
import sys
import time

import yaml

from schedstat import children_by_parent  # beside this file

COMPONENTS = {"postgres": "db", "engine-1": "api1", "engine-2": "api2", "lb": "lb"}
PERIOD_US = 100_000
# Pss is read every PSS_EVERY_S seconds, not every second: reading smaps_rollup and walking /proc
# take ~3.5 ms of kernel time per sample, and a traced final run found the sampler on the CPU when
# the disk answered a WAL flush in 26 % of the fdatasyncs over 1 ms, against 0.6 % of all
# (bench/README.md, "What the fsync waits for").
PSS_EVERY_S = 5
V1 = "/sys/fs/cgroup/cpu"
V2 = "/sys/fs/cgroup"


def cgroup_version():
    if os.path.exists(os.path.join(V1, "cpu.cfs_quota_us")):
        return 1
    if os.path.exists(os.path.join(V2, "cgroup.controllers")):
        return 2
    sys.exit("limits: no writable cpu cgroup controller (v1 at /sys/fs/cgroup/cpu or v2 unified)")


def cgroup_dir(version, component):
    return os.path.join(V1, "payeng", component) if version == 1 else os.path.join(V2, "payeng-" + component)


def write(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def pid_file(state, component):
    try:
        with open(os.path.join(state, component + ".pid")) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def processes(state, component, kids=None):
    """The component's processes: its pid and its direct children (PostgreSQL's backends, haproxy's
    worker when LB=haproxy). kids: children_by_parent() when the caller looks up several components at once."""
    pid = pid_file(state, component)
    if pid is None or not os.path.exists(f"/proc/{pid}"):
        return []
    return [pid] + (kids if kids is not None else children_by_parent()).get(pid, [])


def compose_limits(compose_file):
    with open(compose_file) as f:
        doc = yaml.safe_load(f)
    out = {}
    for component, service in COMPONENTS.items():
        limits = doc["services"][service]["deploy"]["resources"]["limits"]
        mem = str(limits["memory"])
        mb = float(mem[:-1]) * {"M": 1, "G": 1024, "K": 1 / 1024}[mem[-1].upper()] if mem[-1].isalpha() else float(mem) / 2**20
        out[component] = {"service": service, "cpus": float(limits["cpus"]), "memory_limit_mb": mb}
    return out


def pg_options(compose_file):
    """The PostgreSQL settings of the db service's command, so the stack runs the same server."""
    with open(compose_file) as f:
        doc = yaml.safe_load(f)
    cmd = [str(a) for a in doc["services"]["db"].get("command", [])]
    opts = [cmd[i + 1] for i, a in enumerate(cmd[:-1]) if a == "-c"]
    return [o for o in opts if not o.startswith("listen_addresses=")]


def apply(state, compose_file):
    version = cgroup_version()
    limits = compose_limits(compose_file)
    if version == 2:
        with open(os.path.join(V2, "cgroup.subtree_control"), "a") as f:
            f.write("+cpu")
    for component, lim in limits.items():
        d = cgroup_dir(version, component)
        os.makedirs(d, exist_ok=True)
        quota = int(lim["cpus"] * PERIOD_US)
        if version == 1:
            write(os.path.join(d, "cpu.cfs_period_us"), PERIOD_US)
            write(os.path.join(d, "cpu.cfs_quota_us"), quota)
        else:
            write(os.path.join(d, "cpu.max"), f"{quota} {PERIOD_US}")
        # Every thread of every process: cgroup.procs moves whole thread groups. The component's own
        # process first: what it forks from then on starts inside. A child listed and gone before
        # its move (a short-lived backend: a psql or a start-up connection ending) has nothing left
        # to limit; the component itself gone is a failure.
        for i, pid in enumerate(processes(state, component)):
            try:
                write(os.path.join(d, "cgroup.procs"), pid)
            except ProcessLookupError:
                if i == 0:
                    raise
        lim["cgroup"] = d
        lim["quota_us_per_period"] = quota
    with open(os.path.join(state, "limits.json"), "w") as f:
        json.dump({"mode": "limits", "cgroup_version": version, "period_us": PERIOD_US,
                   "source": os.path.abspath(compose_file), "components": limits}, f, indent=2)
    for component, lim in limits.items():
        print(f"limits: {component:9} {lim['cpus']:.2f} CPU ({lim['service']}), memory recorded against "
              f"{lim['memory_limit_mb']:.0f} MB")


def pss_mb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total / 1024


def cpu_stat(path):
    out = {}
    try:
        with open(os.path.join(path, "cpu.stat")) as f:
            for line in f:
                k, v = line.split()
                out[k] = int(v)
    except OSError:
        pass
    return out


def sample(state):
    try:
        with open(os.path.join(state, "limits.json")) as f:
            limits = json.load(f)
    except OSError:
        limits = {"mode": "none"}
    comps = limits.get("components", {c: {} for c in COMPONENTS})
    peaks = {c: 0.0 for c in COMPONENTS}
    last = {}  # component -> (nr_throttled, throttled_ms) at the previous sample
    events = []
    usage_path = os.path.join(state, "usage.json")
    # SCHED_IDLE: a task of the stack that wakes on this CPU preempts the sample instead of waiting
    # for it to end.
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    tick = 0  # Pss is read at tick 0 and every PSS_EVERY_S ticks after
    while True:
        out = {"mode": limits.get("mode", "none"), "components": {}, "throttle_events": events}
        if tick % PSS_EVERY_S == 0:
            kids = children_by_parent()
            mbs = {c: pss_mb(processes(state, c, kids)) for c in COMPONENTS}
        tick += 1
        for c in COMPONENTS:
            mb = mbs[c]
            peaks[c] = max(peaks[c], mb)
            entry = {"pss_mb": round(mb, 1), "peak_pss_mb": round(peaks[c], 1)}
            lim = comps.get(c, {})
            if "memory_limit_mb" in lim:
                entry["memory_limit_mb"] = lim["memory_limit_mb"]
                entry["cpus"] = lim["cpus"]
            if "cgroup" in lim:
                st = cpu_stat(lim["cgroup"])
                entry["nr_periods"] = st.get("nr_periods", 0)
                entry["nr_throttled"] = st.get("nr_throttled", 0)
                # v1 reports nanoseconds, v2 microseconds
                entry["throttled_ms"] = round(st.get("throttled_time", 0) / 1e6 if "throttled_time" in st
                                              else st.get("throttled_usec", 0) / 1e3, 1)
                prev = last.get(c)
                now = (entry["nr_throttled"], entry["throttled_ms"])
                if prev and now[0] > prev[0]:
                    events.append({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "component": c,
                                   "periods": now[0] - prev[0], "ms": round(now[1] - prev[1], 1)})
                last[c] = now
            out["components"][c] = entry
        tmp = usage_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=2)
        os.replace(tmp, usage_path)
        time.sleep(1)


def remove(state):
    for version in (1, 2):
        for c in COMPONENTS:
            d = cgroup_dir(version, c)
            if not os.path.isdir(d):
                continue
            root = V1 if version == 1 else V2
            try:
                with open(os.path.join(d, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        write(os.path.join(root, "cgroup.procs"), pid)
            except OSError:
                pass
            try:
                os.rmdir(d)
            except OSError:
                pass
    try:
        os.rmdir(os.path.join(V1, "payeng"))
    except OSError:
        pass


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd, state = sys.argv[1], sys.argv[2]
    if cmd == "pg-options":
        print(" ".join("-c " + o for o in pg_options(state)))
    elif cmd == "apply":
        apply(state, sys.argv[3])
    elif cmd == "none":
        with open(os.path.join(state, "limits.json"), "w") as f:
            json.dump({"mode": "none"}, f)
    elif cmd == "sample":
        sample(state)
    elif cmd == "remove":
        remove(state)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
