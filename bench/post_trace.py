#!/usr/bin/env python3
"""Where one POST /payments spends its time on an idle stack, from the kernel's own trace (ftrace):
every syscall, wake-up, context switch and block request of wrk, the engine and PostgreSQL while
wrk -t1 -c1 sends one POST every ~21.5 ms (DELAY_MS=20), split per POST into

  1 client write -> statement read     wrk's write, the engine's parse and send, the backend's wake
  2 statement -> WAL write              the backend executing the accept and preparing its commit
  3 WAL write -> flush returns          pwrite + fdatasync; the device time of each block request
  4 flush -> result sent                the backend finishing the commit and sending the result
  5 result -> answer written           the engine reading the result and writing the 2XX
  6 answer -> client reads              waking wrk (6a: until wrk is on a CPU)

Root only; needs the local stack up (bench/stack.sh up) and wrk. Tracing costs ~1-2 us per event,
so the traced total is above wrk's untraced p50; read the split, not the sum.

  post_trace.py [SECONDS] [OUT.md]     default 10 s, report to stdout

Env: URL and SCRIPT (wrk's target and Lua script; default POST /payments through the balancer),
SERVER (the server's process name, as the trace shows it; default payment_engine). For the
floors: URL=http://127.0.0.1:9998/floor/commit SCRIPT=... SERVER=floor_server (bench/latency.sh).
"""
import os
import statistics
import subprocess
import sys
import tempfile

import ftrace

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSCALLS = ["write", "read", "sendto", "recvfrom", "sendmsg", "recvmsg", "writev", "epoll_wait",
            "epoll_pwait", "fdatasync", "pwrite64"]
EVENTS = (["sched/sched_switch", "sched/sched_waking", "block/block_rq_issue", "block/block_rq_complete"]
          + [f"syscalls/sys_{d}_{s}" for s in SYSCALLS for d in ("enter", "exit")])
URL = os.environ.get("URL", "http://127.0.0.1:9999/payments")
SCRIPT = os.environ.get("SCRIPT", f"{REPO}/bench/wrk/post_payments.lua")
SERVER = os.environ.get("SERVER", "payment_engine")[:15]  # the kernel keeps 15 characters of a name
BUFFER_KB = 32768  # per CPU: ~60 events per POST, 500 POSTs in 10 s, with room for the rest


def record(seconds, path):
    # One clock across CPUs: a POST's steps run on both.
    ftrace.start(EVENTS, BUFFER_KB, clock="mono")
    saved = None
    try:
        env = dict(os.environ, DELAY_MS=os.environ.get("DELAY_MS", "20"), REPO=REPO)
        subprocess.run(["wrk", "-t1", "-c1", f"-d{seconds}s", "-s", SCRIPT, URL], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        saved = path
    finally:
        ftrace.stop(EVENTS, saved)


def parse(path):
    """(microseconds, comm, event, rest without its leading ":", "(" or " ", pid) per traced line."""
    return [(ts * 1e6, comm, name, rest.lstrip(":( "), pid)
            for ts, comm, pid, _, name, rest in ftrace.events_of(path)]


def is_exit_with_data(e):
    return e[3].startswith("-> 0x") and not e[3].startswith("-> 0xffff") and e[3] != "-> 0x0"


def block_kind(rest):
    flags = rest.split()[1]
    return "flush" if flags.startswith("F") else ("inode (metadata)" if "M" in flags else "data")


def split(events):
    """One dict of segment durations (us) per POST: from wrk's write of the request to its read of
    the answer."""
    posts = []
    i = 0
    while i < len(events):
        e = events[i]
        if not (e[1] == "wrk" and e[2] == "sys_write" and e[3].startswith("fd")):
            i += 1
            continue
        j = i + 1
        while j < len(events) and not (events[j][1] == "wrk" and events[j][2] == "sys_read" and is_exit_with_data(events[j])):
            j += 1
        if j == len(events):
            break
        w = events[i:j + 1]
        i = j + 1

        def first(pred, after):
            return next((x for x in w if x[0] >= after and pred(x)), None)

        t0 = w[0][0]
        read = first(lambda x: x[1] == "postgres" and x[2] == "sys_recvfrom" and is_exit_with_data(x), t0)
        if not read:
            continue
        backend = read[4]  # the rest of the commit is this process's (not another backend's flush)
        wal = first(lambda x: x[4] == backend and x[2] == "sys_pwrite64" and x[3].startswith("fd"), read[0])
        synced = wal and first(lambda x: x[4] == backend and x[2] == "sys_fdatasync" and x[3].startswith("->"), wal[0])
        sent = synced and first(lambda x: x[4] == backend and x[2] == "sys_sendto" and x[3].startswith("fd"), synced[0])
        answer = sent and first(lambda x: x[1] == SERVER and x[2] == "sched_waking" and "comm=wrk " in x[3], sent[0])
        on_cpu = answer and first(lambda x: x[2] == "sched_switch" and "next_comm=wrk " in x[3], answer[0])
        if not (answer and on_cpu):
            continue
        p = {
            "1 client write -> statement read": read[0] - t0,
            "2 statement -> WAL write": wal[0] - read[0],
            "3 WAL write -> flush returns": synced[0] - wal[0],
            "4 flush -> result sent": sent[0] - synced[0],
            "5 result -> answer written": answer[0] - sent[0],
            "6 answer -> client reads": w[-1][0] - answer[0],
            "6a answer -> client on a CPU": on_cpu[0] - answer[0],
            "total (traced)": w[-1][0] - t0,
        }
        issued = {}
        for x in w:
            if not (wal[0] <= x[0] <= synced[0]) or not x[2].startswith("block_rq_"):
                continue
            kind = block_kind(x[3])
            if x[2] == "block_rq_issue":
                issued.setdefault(kind, x[0])
            elif kind in issued:
                p.setdefault(f"3.{kind}: device time", x[0] - issued[kind])
        p["block requests per flush"] = sum(1 for x in w if wal[0] <= x[0] <= synced[0] and x[2] == "block_rq_issue")
        p["server syscalls per POST"] = sum(1 for x in w if x[1] == SERVER and x[2].startswith("sys_")
                                            and not x[3].startswith("->"))
        posts.append(p)
    return posts


def report(posts, seconds):
    keys = sorted({k for p in posts for k in p})
    out = [f"### One POST, traced ({URL}, {SERVER}: {len(posts)} POSTs in {seconds} s, wrk -t1 -c1, DELAY_MS="
           f"{os.environ.get('DELAY_MS', '20')}; us)", "",
           "| segment | n | p10 | p50 | p90 | mean |", "|---|---|---|---|---|---|"]
    for k in keys:
        v = sorted(p[k] for p in posts if k in p)
        q = lambda f: v[min(len(v) - 1, int(f * len(v)))]
        out.append(f"| {k} | {len(v)} | {q(0.1):.0f} | {q(0.5):.0f} | {q(0.9):.0f} | {statistics.mean(v):.1f} |")
    return "\n".join(out) + "\n"


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.txt")
        record(seconds, path)
        posts = split(parse(path))
    if not posts:
        sys.exit("post_trace: no complete POST in the trace")
    text = report(posts, seconds)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
