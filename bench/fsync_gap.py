#!/usr/bin/env python3
"""fdatasync latency as a commit sees it: after an idle gap, not back to back.

pg_test_fsync flushes in a tight loop; a payment's commit at low load comes after the disk (and
the VM) have been idle for tens of milliseconds. This writes WRITE_BYTES into a pre-zeroed 16 MB
file (as PostgreSQL writes into a recycled WAL segment), fdatasyncs, sleeps GAP ms, and reports
the flush's p50/p90/p99 per gap.

usage: bench/fsync_gap.py [DIR] [WRITE_BYTES] [COUNT]   (DIR: the disk under test, default /tmp)
"""
import os
import statistics
import sys
import time

directory = sys.argv[1] if len(sys.argv) > 1 else "/tmp"
size = int(sys.argv[2]) if len(sys.argv) > 2 else 1400  # about one payment's WAL
count = int(sys.argv[3]) if len(sys.argv) > 3 else 300
segment = 16 << 20

path = os.path.join(directory, f"fsync_gap.{os.getpid()}")
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
try:
    os.write(fd, b"\0" * segment)
    os.fsync(fd)
    buf = b"x" * size
    offset = 0
    for gap_ms in (0, 1, 5, 20):
        lat = []
        for _ in range(count):
            os.pwrite(fd, buf, offset)
            offset = (offset + size) % (segment - size)
            t = time.perf_counter()
            os.fdatasync(fd)
            lat.append((time.perf_counter() - t) * 1e3)
            if gap_ms:
                time.sleep(gap_ms / 1e3)
        lat.sort()
        q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
        print(f"gap {gap_ms:2d} ms, {size} B: fdatasync p50 {q(0.5):.3f} p90 {q(0.9):.3f} "
              f"p99 {q(0.99):.3f} mean {statistics.mean(lat):.3f} ms")
finally:
    os.close(fd)
    os.unlink(path)
