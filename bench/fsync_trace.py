#!/usr/bin/env python3
"""What each fdatasync of the run waited for: the kernel's own trace (ftrace) of every fdatasync
call and every block request, split into time in the device and time outside it. Root only.

  fsync_trace.py start            enable the events (tracefs mounted if needed), clear the buffer
  fsync_trace.py stop OUT.gz      stop, save the raw trace, disable the events
  fsync_trace.py report OUT.gz    the split, per call (bench/README.md, "What the fsync waits for")

bench/final.sh does start/stop/report around the runner with FSYNC_TRACE=1 (trace.gz, fsync.txt).
The trace costs: one traced run gave p99 4.06 ms against 3.0-3.2 untraced in the same hour, so
trace a diagnostic run, never a quoted one.
"""
import sys
from collections import Counter

import ftrace

EVENTS = ["syscalls/sys_enter_fdatasync", "syscalls/sys_exit_fdatasync",
          "block/block_rq_issue", "block/block_rq_complete"]
BUFFER_KB = 98304  # per CPU: a final run's ~70,000 fsyncs and their ~170,000 requests fit


def calls_of(path):
    """Each fdatasync: start, end, and the block requests issued and completed meanwhile (PostgreSQL
    flushes under WALWriteLock, so no two of its fdatasyncs overlap and these are its own)."""
    events = [(ts, comm, pid, cpu, name, rest.lstrip(":").split())
              for ts, comm, pid, cpu, name, rest in ftrace.events_of(path)]
    calls, cur = [], None
    for ts, comm, pid, cpu, name, args in events:
        if name == "sys_fdatasync":
            if args and args[0].startswith("(fd"):
                cur = {"t0": ts, "pid": pid, "comm": comm, "steps": []}
            elif cur and pid == cur["pid"]:
                cur["t1"] = ts
                calls.append(cur)
                cur = None
        elif cur and name in ("block_rq_issue", "block_rq_complete"):
            # steps: (time, issue|complete, rwbs, the task on the CPU at that instant, cpu)
            cur["steps"].append((ts, name[len("block_rq_"):], args[1], comm, cpu))
    return calls


def pct(ordered, q):
    """Nearest-rank percentile of seconds already sorted, in ms."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def report(path):
    calls = [c for c in calls_of(path) if c["comm"] == "postgres"]
    total, device, outside = [], [], []
    sequences = Counter()
    for c in calls:
        in_device, opened = 0.0, {}
        for ts, kind, rwbs, _, _ in c["steps"]:
            if kind == "issue":
                opened.setdefault(rwbs, []).append(ts)
            elif opened.get(rwbs):
                in_device += ts - opened[rwbs].pop(0)
        total.append(c["t1"] - c["t0"])
        device.append(in_device)
        outside.append(c["t1"] - c["t0"] - in_device)
        sequences[" ".join(s[2] for s in c["steps"] if s[1] == "issue")] += 1
    print(f"PostgreSQL's fdatasync calls: {len(calls)}")
    print("| ms | p50 | p90 | p99 | p99.9 |")
    print("|---|---|---|---|---|")
    for name, v in (("whole call", total), ("in the device (its requests, issue to completion)", device),
                    ("outside the device (issuing, completions, wake-ups, waiting for a CPU)", outside)):
        v = sorted(v)
        print(f"| {name} | {pct(v, .5):.3f} | {pct(v, .9):.3f} | {pct(v, .99):.3f} | {pct(v, .999):.3f} |")
    print(f"\ncalls over 1 ms: {sum(t > .001 for t in total)}, over 2 ms: {sum(t > .002 for t in total)}")
    print("requests per call (WS data write, WSM inode write, FF cache flush):")
    for seq, n in sequences.most_common(4):
        print(f"  {seq or '(none)'}: {n}")
    # Who held the CPU when the device answered: a task there delays the next step of the call.
    slow = 0
    on_slow, on_all = Counter(), Counter()
    for c in calls:
        held = {s[3] for s in c["steps"] if s[1] == "complete"}
        on_all.update(held)
        if c["t1"] - c["t0"] > 0.001:
            slow += 1
            on_slow.update(held)
    print("task on the CPU at a completion: share of calls over 1 ms / of all calls")
    for comm, n in on_slow.most_common(10):
        print(f"  {comm:20} {n / max(slow, 1):6.1%} / {on_all[comm] / max(len(calls), 1):6.1%}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd = sys.argv[1]
    if cmd == "start":
        ftrace.start(EVENTS, BUFFER_KB)
    elif cmd == "stop" and len(sys.argv) == 3:
        ftrace.stop(EVENTS, sys.argv[2])
    elif cmd == "report" and len(sys.argv) == 3:
        report(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
