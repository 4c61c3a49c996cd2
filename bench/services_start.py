"""Cold start of the native service stack: time to all-ready per service and in total, and total RSS.

    .venv/bin/python bench/services_start.py                 # aws mlflow postgres redis kafka prometheus
    .venv/bin/python bench/services_start.py --with-cluster  # + the 3-broker kafka-cluster and kafka-connect

Each run uses a fresh state dir (no data, nothing running), so every service starts
from scratch; the Kafka jars must already be fetched (`python -m autograder.services.kafka fetch`).
Goals on the 2-core reference machine: all ready < 20 s, total RSS < 3 GB.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

DEFAULT = ["aws", "mlflow", "postgres", "redis", "kafka", "prometheus"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", nargs="+", default=DEFAULT)
    ap.add_argument("--with-cluster", action="store_true", help="add kafka-cluster and kafka-connect")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds after all-ready before measuring RSS")
    args = ap.parse_args()
    names = args.services + (["kafka-cluster", "kafka-connect"] if args.with_cluster else [])

    os.environ["LABS_STATE_DIR"] = tempfile.mkdtemp(prefix="labs-bench-")
    from rich.console import Console
    from rich.table import Table

    from autograder.services import commands
    from autograder.services.state import load_state

    console = Console()
    load_before = os.getloadavg()[0]
    t0 = time.monotonic()
    try:
        commands.up(names, quiet=True)
        total = time.monotonic() - t0
        time.sleep(args.settle)  # RSS once the services are idle, as a lab sees them
        rows = commands.status(quiet=True)
        state = load_state()
    finally:
        commands.down(quiet=True)

    table = Table(title=f"cold start, {os.cpu_count()} cores (state dir {os.environ['LABS_STATE_DIR']})")
    for col in ("service", "provider", "ready s", "RSS MB", "processes"):
        table.add_column(col, justify="right" if col in ("ready s", "RSS MB", "processes") else "left")
    rss_total = 0.0
    for r in sorted(rows, key=lambda r: state[str(r["name"])].extra.get("ready_s", 0)):
        run = state[str(r["name"])]
        rss_total += float(r["rss_mb"])  # type: ignore[arg-type]
        table.add_row(
            str(r["name"]),
            str(r["provider"]),
            f"{run.extra.get('ready_s', 0):.1f}",
            f"{r['rss_mb']:.0f}",
            str(len(run.procs)),
        )
    table.add_section()
    table.add_row("total", "", f"{total:.1f}", f"{rss_total:.0f}", "")
    console.print(table)
    # Other work on the machine slows a cold start a lot on 2 cores: say how busy it was.
    console.print(f"load average (1 min) before start: {load_before:.1f} on {os.cpu_count()} cores")
    ok = total < 20 and rss_total < 3072
    console.print(f"goals (< 20 s, < 3072 MB): {'[green]met[/]' if ok else '[red]missed[/]'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
