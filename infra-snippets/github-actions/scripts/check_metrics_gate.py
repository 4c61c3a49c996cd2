"""Model promotion gate: compare a candidate's offline metrics with thresholds and with production.

    python check_metrics_gate.py --candidate c.json --production p.json \
        --min auc=0.80 --max p95_latency_ms=120 --min-improvement auc=0.002

Exit 0 and passed=true when every rule holds, exit 1 (and passed=false) otherwise, so the
workflow can both stop and branch on it. Missing metrics fail closed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _pairs(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, _, value = item.partition("=")
        if not name or not value:
            raise argparse.ArgumentTypeError(f"expected metric=value, got {item!r}")
        out[name] = float(value)
    return out


def evaluate(
    candidate: dict[str, float],
    production: dict[str, float] | None,
    minimum: dict[str, float],
    maximum: dict[str, float],
    improvement: dict[str, float],
) -> list[str]:
    """Return the list of failed rules (empty: promote)."""
    failures: list[str] = []
    for name, bound in minimum.items():
        value = candidate.get(name)
        if value is None or value < bound:
            failures.append(f"{name}={value} is below the minimum {bound}")
    for name, bound in maximum.items():
        value = candidate.get(name)
        if value is None or value > bound:
            failures.append(f"{name}={value} is above the maximum {bound}")
    for name, delta in improvement.items():
        if production is None or name not in production:
            continue  # first model: nothing to beat
        value = candidate.get(name)
        if value is None or value < production[name] + delta:
            failures.append(f"{name}={value} does not beat production {production[name]} by {delta}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidate", type=Path, required=True)
    parser.add_argument("--production", type=Path, help="missing file = no production model yet")
    parser.add_argument("--min", nargs="*", default=[], metavar="METRIC=VALUE")
    parser.add_argument("--max", nargs="*", default=[], metavar="METRIC=VALUE")
    parser.add_argument("--min-improvement", nargs="*", default=[], metavar="METRIC=DELTA")
    parser.add_argument("--github-output", type=Path, help="append passed=true|false here")
    args = parser.parse_args(argv)

    candidate = json.loads(args.candidate.read_text())
    production = (
        json.loads(args.production.read_text()) if args.production is not None and args.production.exists() else None
    )
    failures = evaluate(candidate, production, _pairs(args.min), _pairs(args.max), _pairs(args.min_improvement))
    for failure in failures:
        print(f"GATE FAILED: {failure}")
    if not failures:
        print("gate passed: " + ", ".join(f"{k}={v}" for k, v in sorted(candidate.items())))
    if args.github_output is not None:
        with args.github_output.open("a") as fh:
            fh.write(f"passed={'false' if failures else 'true'}\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
