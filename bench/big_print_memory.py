"""Benchmark: the grading worker's peak memory when a submission prints 100 MB.

With the output cap inside the kernel the worker stays near its baseline (~180 MB);
without it the whole message reaches the worker first (~460 MB). Prints the figure for
several runs, since one full-suite CI run once measured 540 MB (cause not yet found).

    .venv/bin/python bench/big_print_memory.py [--runs 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.build import LabSource, build_labs  # noqa: E402
from tests.harness.test_sandbox import _grade_in_subprocess  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-print-") as tmp:
        lab = LabSource("fx_basic", REPO / "tests/fixtures/labs/fx_basic.py", Path(tmp) / "fx_basic.ipynb")
        assert build_labs([lab]) == []
        for run in range(args.runs):
            work = Path(tmp) / f"run{run}"
            work.mkdir()
            data = _grade_in_subprocess(lab, "print_100mb", work)
            print(f"run {run}: {data['result']['status']}, worker peak RSS {data['maxrss_kb'] / 1024:.0f} MB")


if __name__ == "__main__":
    main()
