#!/usr/bin/env python3
"""How long the stack's threads waited for a CPU: the kernel's per-thread scheduler statistics.

  schedstat.py snap STATE_DIR OUT.json    every thread of the stack's processes (PostgreSQL and its
                                          backends, both engines, the balancer, the simulators, the
                                          scenario runner): cpu time, run-queue wait, time slices
  schedstat.py diff BEFORE.json AFTER.json per group: CPU used, time spent runnable but waiting
                                          for a CPU, and that wait per time slice
  schedstat.py timeline STATE_DIR OUT.csv every 100 ms until killed: each group's CPU and wait in
                                          that interval (unix_ms,group,cpu_ms,wait_ms), to see which
                                          part of the stack used the CPU in a slow second

/proc/PID/task/TID/schedstat holds three counters per thread: nanoseconds on a CPU, nanoseconds
runnable on a run queue without a CPU, and the number of time slices. The wait is what CPU
contention costs a thread (a throttled cgroup's wait shows there too). PostgreSQL backends are
named by their application_name (the engines name each connection by role), read from
pg_stat_activity at the snapshot.
"""
import json
import os
import subprocess
import sys
import time

GROUPS = {"engine-1": "engine-1", "engine-2": "engine-2", "lb": "lb", "sim-default": "simulators",
          "sim-fallback": "simulators"}


def pid_file(state, name):
    try:
        with open(os.path.join(state, name + ".pid")) as f:
            return int(f.readline())
    except (OSError, ValueError):
        return None


def children_by_parent():
    """ppid -> child pids, from one walk of /proc (a walk per process looked up cost the timeline's
    sampler most of its CPU)."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    out.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def threads(pid):
    out = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                cpu, wait, slices = (int(x) for x in f.read().split())
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            out[tid] = {"cpu_ns": cpu, "wait_ns": wait, "slices": slices, "comm": comm}
    except OSError:
        pass
    return out


def backend_names(state):
    """pid -> application_name (or backend_type) of the stack's PostgreSQL."""
    try:
        rows = subprocess.run(["psql", "-X", "-At", "-F", "|", "-h", state, "-p", os.environ.get("PG_PORT", "5433"),
                               "-U", "postgres", "-d", "postgres", "-c",
                               "SELECT pid, coalesce(nullif(application_name, ''), backend_type) FROM pg_stat_activity"],
                              capture_output=True, text=True, timeout=10).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return {}
    out = {}
    for r in rows:
        if "|" in r:
            pid, name = r.split("|", 1)
            out[int(pid)] = name
    return out


def collect(state, names):
    snapshot = {}
    kids = children_by_parent()
    for name, group in GROUPS.items():
        pid = pid_file(state, name)
        if pid:
            for p in [pid] + kids.get(pid, []):
                for tid, st in threads(p).items():
                    snapshot[f"{group}/{p}/{tid}"] = st
    pg = pid_file(state, "postgres")
    if pg:
        for p in [pg] + kids.get(pg, []):
            role = "postmaster" if p == pg else names.get(p, "other")
            # payeng1-ingress-... -> ingress: the engines' connections by role, both instances together
            if role.startswith("payeng"):
                role = role.split("-")[1] if "-" in role else role
            for tid, st in threads(p).items():
                snapshot[f"postgres:{role}/{p}/{tid}"] = st
    out = subprocess.run(["pgrep", "-x", "scenario_runner"], capture_output=True, text=True).stdout.split()
    for p in out:
        for tid, st in threads(int(p)).items():
            snapshot[f"runner/{p}/{tid}"] = st
    return snapshot


def snap(state, path):
    with open(path, "w") as f:
        json.dump(collect(state, backend_names(state)), f)


def timeline(state, path):
    names, names_at, prev = backend_names(state), time.monotonic(), None
    with open(path, "w") as f:
        f.write("unix_ms,group,cpu_ms,wait_ms\n")
        while True:
            if time.monotonic() - names_at > 1:
                names, names_at = backend_names(state), time.monotonic()
            now, cur = int(time.time() * 1000), collect(state, names)
            if prev is not None:
                groups = {}
                for key, a in cur.items():
                    # By pid/tid: a backend named only at the next refresh of the names keeps its
                    # past. A thread not seen before started since the last sample (an autovacuum
                    # worker): all its time is this interval's.
                    group, thread = key.split("/", 1)
                    b = prev.get(thread, {"cpu_ns": 0, "wait_ns": 0})
                    g = groups.setdefault(group, [0, 0])
                    g[0] += a["cpu_ns"] - b["cpu_ns"]
                    g[1] += a["wait_ns"] - b["wait_ns"]
                for name, (cpu, wait) in sorted(groups.items()):
                    if cpu or wait:
                        f.write(f"{now},{name},{cpu / 1e6:.2f},{wait / 1e6:.2f}\n")
                f.flush()
            prev = {key.split("/", 1)[1]: st for key, st in cur.items()}
            time.sleep(0.1)


def diff(before_path, after_path):
    before, after = json.load(open(before_path)), json.load(open(after_path))
    groups = {}
    for key, a in after.items():
        b = before.get(key, {"cpu_ns": 0, "wait_ns": 0, "slices": 0})
        g = groups.setdefault(key.split("/")[0], [0, 0, 0])
        g[0] += a["cpu_ns"] - b["cpu_ns"]
        g[1] += a["wait_ns"] - b["wait_ns"]
        g[2] += a["slices"] - b["slices"]
    print("| group | CPU s | waiting for a CPU, s | slices | wait per slice, us |")
    print("|---|---|---|---|---|")
    for name, (cpu, wait, slices) in sorted(groups.items(), key=lambda kv: -kv[1][0]):
        per = wait / slices / 1e3 if slices else 0
        print(f"| {name} | {cpu / 1e9:.1f} | {wait / 1e9:.1f} | {slices:,} | {per:.0f} |")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "snap":
        snap(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "timeline":
        timeline(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "diff":
        diff(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
