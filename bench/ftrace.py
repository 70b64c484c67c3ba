"""The kernel's own trace (ftrace) for the bench tools that read it (fsync_trace.py, post_trace.py):
turn events on, save what they recorded, read its lines back. Root only."""
import gzip
import os
import re
import subprocess

T = "/sys/kernel/tracing"
DEFAULT_BUFFER_KB = 1408  # what this kernel had before the first start; stop() puts it back
DEFAULT_CLOCK = "local"
# "  comm-pid  [cpu] flags  seconds: event<rest>", rest starting with ":", "(" or " ->"
LINE = re.compile(r"^\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+(\d+\.\d+): (\w+)(.*)$")


def put(path, value):
    with open(os.path.join(T, path), "w") as f:
        f.write(str(value))


def start(events, buffer_kb, clock=DEFAULT_CLOCK):
    """Clears the buffer and records events (tracefs mounted if needed). A clock other than the
    default (e.g. "mono") keeps one time line across CPUs when a tool follows a task that moves."""
    if not os.path.exists(os.path.join(T, "trace")):
        subprocess.run(["mount", "-t", "tracefs", "nodev", T], check=True)
    put("tracing_on", 0)
    put("trace", "")
    put("buffer_size_kb", buffer_kb)
    put("trace_clock", clock)
    for e in events:
        put(f"events/{e}/enable", 1)
    put("tracing_on", 1)


def stop(events, out=None):
    """Stops, saves the raw trace to out (gzip if it ends in .gz) when given, and puts the kernel's
    defaults back."""
    put("tracing_on", 0)
    if out:
        with open(os.path.join(T, "trace"), "rb") as src, \
                (gzip.open(out, "wb") if out.endswith(".gz") else open(out, "wb")) as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    for e in events:
        put(f"events/{e}/enable", 0)
    put("trace", "")
    put("buffer_size_kb", DEFAULT_BUFFER_KB)
    put("trace_clock", DEFAULT_CLOCK)


def events_of(path):
    """(seconds, comm, pid, cpu, event, rest) per line of a saved trace, in time order; rest keeps
    its leading ":", "(" or " ->"."""
    opener = gzip.open if path.endswith(".gz") else open
    out = []
    with opener(path, "rt", errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                out.append((float(m.group(4)), m.group(1).strip(), int(m.group(2)), int(m.group(3)),
                            m.group(5), m.group(6)))
    out.sort(key=lambda e: e[0])
    return out
