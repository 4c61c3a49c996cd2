"""Benchmark: a 200-submission class of one lab on this machine, sandboxed, vs nbgrader's CLI.

Ours: grade_batch with workers = cores (every kernel in the sandbox this machine
allows); throughput in submissions per minute and peak memory, the summed RSS
of the worker and kernel process trees sampled with psutil. Baseline:
`nbgrader autograde --student X`, one call per submission, on a sample.

    .venv/bin/python bench/grade_scale.py [--n 200] [--sample 10] [--ray local]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from grade_throughput import make_course_repo, time_nbgrader_cli, write_submissions  # noqa: E402

from autograder import sandbox  # noqa: E402
from autograder.grading.autograde import Limits  # noqa: E402
from autograder.grading.batch import RayRunner, grade_batch  # noqa: E402


class PeakRss:
    """Sum of RSS over this process's descendants (workers, bwrap, kernels), sampled every 0.5 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.5):
            total = 0
            for proc in me.children(recursive=True):
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--sample", type=int, default=10, help="submissions for the nbgrader CLI baseline")
    parser.add_argument("--ray", default=None, help="grade on Ray (address or 'local') instead of local workers")
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        base = Path(tmp)
        lab = make_course_repo(base / "repo")
        students = write_submissions(lab, base / "subs", args.n)
        runner = RayRunner(args.ray, local_cpus=workers) if args.ray else None
        params = {"RUN_ID": "bench", "FAST": True}
        started = time.perf_counter()
        with PeakRss() as rss:
            results = grade_batch(
                lab, base / "subs", base / "out", params=params, limits=Limits(), workers=workers, runner=runner
            )
        ours = time.perf_counter() - started
        statuses = {str(r.status) for r in results}
        theirs = time_nbgrader_cli(lab, base / "subs", students[: args.sample], base / "nbgrader-course")
    ours_rate = len(results) / ours * 60
    theirs_rate = args.sample / theirs * 60
    print(f"machine: {workers} cores, load {os.getloadavg()[0]:.1f}; sandbox: {sandbox.detect()[0]}")
    print(
        f"ours: {len(results)} submissions in {ours:.0f} s = {ours_rate:.1f}/min, {workers} workers, "
        f"statuses {sorted(statuses)}; peak RSS (workers+kernels) {rss.peak / 1e6:.0f} MB"
    )
    print(f"nbgrader autograde CLI, one at a time: {args.sample} in {theirs:.0f} s = {theirs_rate:.1f}/min")
    print(f"ratio: {ours_rate / theirs_rate:.2f}x")


if __name__ == "__main__":
    main()
