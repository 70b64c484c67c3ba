#!/usr/bin/env python3
"""What a run's per-second p99 says (the runner's seconds.csv): whether slow seconds recur with a
period (a timer somewhere: autovacuum's naptime, a checker, a health poll) or stand alone (a stall).

  seconds.py RUN_DIR [RUN_DIR ...]   per run: the median of the seconds' p99 (from second 30 on:
                                      the ramp's first seconds are few requests), that median by
                                      second mod 5 and mod 10, and the ten worst seconds; and where
                                      the requests slower than the run's p99 fall (the over_run_p99
                                      column, runs from 2026-12-05 on): in how few seconds, and
                                      how many in the seconds ending in 0 (the checker's)
"""
import csv
import os
import statistics
import sys


def report(run_dir):
    with open(os.path.join(run_dir, "seconds.csv")) as f:
        table = list(csv.DictReader(f))
    rows = [(int(r["second"]), float(r["p99_ms"])) for r in table
            if r["p99_ms"] and int(r["second"]) >= 30 and int(r["requests"]) > 0]
    if not rows:
        print(f"{run_dir}: no seconds")
        return
    print(f"{os.path.basename(os.path.normpath(run_dir))}: median of the seconds' p99 "
          f"{statistics.median(p for _, p in rows):.2f} ms over {len(rows)} s")
    for m in (5, 10):
        by = [statistics.median([p for s, p in rows if s % m == k] or [0]) for k in range(m)]
        print(f"  by second mod {m:2}: " + " ".join(f"{v:.2f}" for v in by))
    worst = sorted(rows, key=lambda r: -r[1])[:10]
    print("  worst seconds: " + ", ".join(f"{s} ({p:.1f} ms)" for s, p in worst))
    tail(table)


def tail(rows):
    """The requests over the run's p99, every second (the run's p99 is over all of them)."""
    if "over_run_p99" not in rows[0]:
        return
    over = sorted(((int(r["over_run_p99"]), int(r["second"])) for r in rows), reverse=True)
    total = sum(n for n, _ in over)
    if total == 0:
        return
    with_any = sum(1 for n, _ in over if n > 0)
    share = lambda k: 100.0 * sum(n for n, _ in over[:k]) / total
    print(f"  {total} requests over the run's p99, in {with_any} of {len(rows)} seconds; "
          f"the worst 10 seconds hold {share(10):.0f} %, the worst 30 {share(30):.0f} %, "
          f"the seconds ending in 0 {100.0 * sum(n for n, s in over if s % 10 == 0) / total:.0f} %")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for d in sys.argv[1:]:
        report(d)
