"""Command line: ``python -m mlops_datasets build|list|verify``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mlops_datasets.checksums import ChecksumMismatch
from mlops_datasets.common import SIZES
from mlops_datasets.registry import DATASETS, build, default_data_dir, path, verify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_datasets", description="course datasets")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (("build", "generate datasets (skips those already matching the manifest)"),
                        ("verify", "check files on disk against the manifest"),
                        ("list", "list datasets and where they live")):  # fmt: skip
        p = sub.add_parser(name, help=help_)
        p.add_argument("--size", choices=SIZES, default="ci")
        p.add_argument("--only", nargs="+", choices=list(DATASETS), metavar="NAME", help="only these datasets")
        p.add_argument("--data-dir", type=Path, default=None, help=f"default: $DATA_DIR or {default_data_dir()}")
        if name == "build":
            p.add_argument("--force", action="store_true", help="regenerate even if the files match")
    args = parser.parse_args(argv)
    names = args.only or list(DATASETS)

    if args.command == "list":
        for name in names:
            print(f"{name:<11} {DATASETS[name].SUMMARY}\n{'':<11} {path(name, args.size, args.data_dir)}")
        return 0
    if args.command == "verify":
        failed = 0
        for name in names:
            try:
                verify(name, args.size, args.data_dir)
                print(f"ok        {name}")
            except ChecksumMismatch as exc:
                failed += 1
                print(f"MISMATCH  {exc}")
        return 1 if failed else 0
    for name in names:
        start = time.perf_counter()
        target = build([name], args.size, args.data_dir, force=args.force)[name]
        print(f"{name:<11} {time.perf_counter() - start:6.2f} s  {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
