#!/usr/bin/env python3
"""prom_phases.py BEFORE AFTER: the engine's POST phases between two scrapes of both engines.

Prints one line per phase, "name p50_ms p99_ms count", from the difference of the cumulative
histogram buckets (payments_ingress_phase_seconds by phase: socket, the wait before the engine
reads the request, then queued, commit and answered; and http_request_duration_seconds of
POST /payments as "total"), interpolating linearly inside a bucket.
"""
import re
import sys

SAMPLE = re.compile(r'^(\w+)_bucket\{([^}]*)le="([^"]+)"\} (\S+)$')


def buckets(path):
    out = {}  # (metric, label) -> {le: count}, summed over the scraped engines
    for line in open(path):
        m = SAMPLE.match(line.strip())
        if not m:
            continue
        name, labels, le, value = m.groups()
        if name == "payments_ingress_phase_seconds":
            key = re.search(r'phase="(\w+)"', labels).group(1)
        elif name == "http_request_duration_seconds" and 'route="post_payments"' in labels:
            key = "total"
        else:
            continue
        le = float("inf") if le == "+Inf" else float(le)
        out.setdefault(key, {})
        out[key][le] = out[key].get(le, 0) + float(value)
    return out


def quantile(cum, q):
    les = sorted(cum)
    total = cum[les[-1]]
    if total <= 0:
        return float("nan")
    rank, prev_le, prev_c = q * total, 0.0, 0.0
    for le in les:
        c = cum[le]
        if c >= rank:
            if le == float("inf"):
                return prev_le * 1000
            frac = (rank - prev_c) / (c - prev_c) if c > prev_c else 0
            return (prev_le + frac * (le - prev_le)) * 1000
        prev_le, prev_c = le, c
    return prev_le * 1000


def main():
    before, after = buckets(sys.argv[1]), buckets(sys.argv[2])
    for key in ("socket", "queued", "commit", "answered", "total"):
        if key not in after:
            continue
        cum = {le: after[key][le] - before.get(key, {}).get(le, 0) for le in after[key]}
        n = cum[max(cum)]
        if n == 0:  # e.g. "socket" with the engines' HTTP_RECEIVE_TIMES=0
            continue
        print(f"{key} {quantile(cum, 0.5):.3f} {quantile(cum, 0.99):.3f} {int(n)}")


if __name__ == "__main__":
    main()
