#!/usr/bin/env python3
"""fdatasync latency as a commit sees it: after an idle gap, not back to back.

pg_test_fsync flushes in a tight loop; a payment's commit at low load comes after the disk (and
the VM) have been idle for tens of milliseconds. This writes WRITE_BYTES into a pre-zeroed 16 MB
file (as PostgreSQL writes into a recycled WAL segment), makes it durable, sleeps GAP ms, and
reports the flush's p50/p90/p99 per gap.

MODE: fdatasync (write, then fdatasync: PostgreSQL's default wal_sync_method on Linux) or dsync
(one write on a file opened O_DSYNC: wal_sync_method = open_datasync).

usage: bench/fsync_gap.py [DIR] [WRITE_BYTES] [COUNT] [GAPS_MS] [MODE]
       (DIR: the disk under test, default /tmp; GAPS_MS: comma-separated, default 0,1,5,20)
"""
import os
import statistics
import sys
import time

directory = sys.argv[1] if len(sys.argv) > 1 else "/tmp"
size = int(sys.argv[2]) if len(sys.argv) > 2 else 1400  # about one payment's WAL
count = int(sys.argv[3]) if len(sys.argv) > 3 else 300
gaps = [float(g) for g in (sys.argv[4] if len(sys.argv) > 4 else "0,1,5,20").split(",")]
mode = sys.argv[5] if len(sys.argv) > 5 else "fdatasync"
if mode not in ("fdatasync", "dsync"):
    sys.exit(__doc__)
segment = 16 << 20

path = os.path.join(directory, f"fsync_gap.{os.getpid()}")
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
try:
    os.write(fd, b"\0" * segment)
    os.fsync(fd)
    if mode == "dsync":
        os.close(fd)
        fd = os.open(path, os.O_RDWR | os.O_DSYNC)
    buf = b"x" * size
    offset = 0
    for gap_ms in gaps:
        lat = []
        for _ in range(count):
            t = time.perf_counter()
            os.pwrite(fd, buf, offset)
            if mode == "fdatasync":
                os.fdatasync(fd)
            lat.append((time.perf_counter() - t) * 1e3)
            offset = (offset + size) % (segment - size)
            if gap_ms:
                time.sleep(gap_ms / 1e3)
        lat.sort()
        q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
        print(f"{mode} gap {gap_ms:g} ms, {size} B: write+flush p50 {q(0.5):.3f} p90 {q(0.9):.3f} "
              f"p99 {q(0.99):.3f} max {lat[-1]:.3f} mean {statistics.mean(lat):.3f} ms")
finally:
    os.close(fd)
    os.unlink(path)
