"""Poll a Prometheus query during a canary and fail if it goes above a threshold.

    python watch_canary.py --prometheus http://prometheus:9090 \
        --query 'slo:http_error_ratio:rate5m{service="churn-predictor-canary"}' --max 0.01 --duration 600

Exit 0: the query stayed at or under --max for --duration seconds. Exit 1: it went over
(roll back). Exit 2: no data at all, which is treated as a failure (a dead canary sends no metrics).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
import urllib.request


def query(base_url: str, promql: str, timeout: float = 10.0) -> list[float]:
    url = f"{base_url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body = json.load(resp)
    if body.get("status") != "success":
        raise RuntimeError(f"query failed: {body}")
    return [float(sample["value"][1]) for sample in body["data"]["result"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prometheus", required=True)
    parser.add_argument("--query", required=True)
    parser.add_argument("--max", type=float, required=True)
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--interval", type=float, default=30)
    args = parser.parse_args(argv)

    deadline = time.monotonic() + args.duration
    seen_data = False
    while True:
        values = query(args.prometheus, args.query)
        seen_data = seen_data or bool(values)
        worst = max(values, default=0.0)
        print(f"{args.query} = {worst:.5f} (max {args.max})")
        if worst > args.max:
            print("canary is over the threshold: roll back")
            return 1
        if time.monotonic() >= deadline:
            break
        time.sleep(min(args.interval, max(0.0, deadline - time.monotonic())))
    if not seen_data:
        print("no data for the canary query: treating as failure")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
