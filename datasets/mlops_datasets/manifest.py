"""The checksum manifest (``datasets/manifest.json``): sha256 and size of every generated file.

python -m mlops_datasets.manifest --write            # regenerate (ci and full)
python -m mlops_datasets.manifest --write --size ci  # only one size
python -m mlops_datasets.manifest --check            # regenerate in a temp dir and compare
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlops_datasets.checksums import (
    FORMAT_VERSION,
    MANIFEST_PATH,
    ChecksumMismatch,
    compare,
    describe,
    expected_files,
    load_manifest,
)
from mlops_datasets.common import SIZES, check_size, dumps
from mlops_datasets.registry import DATASETS, generate_into


def generate_entries(sizes: list[str], names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Generate each dataset in a scratch dir, record its checksums, and delete it again."""
    entries: dict[str, dict[str, Any]] = {}
    for name in names or list(DATASETS):
        for size in sizes:
            with tempfile.TemporaryDirectory(prefix=f"mlops-datasets-{name}-") as tmp:
                out = Path(tmp) / name
                generate_into(name, check_size(size), out)
                entries.setdefault(name, {})[size] = describe(name, size, out)
    return entries


def write_manifest(sizes: list[str], path: Path = MANIFEST_PATH) -> dict[str, Any]:
    import numpy
    import pandas
    import scipy

    manifest = load_manifest(path)
    for name, by_size in generate_entries(sizes).items():
        manifest["datasets"].setdefault(name, {}).update(by_size)
    manifest["format"] = FORMAT_VERSION
    manifest["generated_with"] = {"numpy": numpy.__version__, "pandas": pandas.__version__, "scipy": scipy.__version__}
    # Atomic replace: labs may be reading the manifest while it is rewritten.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(dumps_pretty(manifest), encoding="utf-8", newline="\n")
    os.replace(tmp, path)
    return manifest


def dumps_pretty(obj: Any) -> str:
    return json.dumps(json.loads(dumps(obj)), indent=2, sort_keys=True) + "\n"


def check_manifest(sizes: list[str]) -> list[str]:
    """Regenerate and list every difference against the manifest (empty list: all identical)."""
    manifest = load_manifest()
    problems: list[str] = []
    for name, by_size in generate_entries(sizes).items():
        for size, entry in by_size.items():
            expected = expected_files(name, size, manifest)
            if expected is None:
                problems.append(f"{name}/{size}: not in manifest")
                continue
            actual = {f: m["sha256"] for f, m in entry["files"].items()}
            try:
                compare(name, size, actual, expected)
            except ChecksumMismatch as exc:
                problems.append(str(exc))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_datasets.manifest", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="regenerate and write manifest.json")
    action.add_argument("--check", action="store_true", help="regenerate in a temp dir and compare")
    parser.add_argument("--size", choices=SIZES, action="append", help="size(s) to cover (default: all)")
    args = parser.parse_args(argv)
    sizes = args.size or list(SIZES)
    if args.write:
        write_manifest(sizes)
        print(f"wrote {MANIFEST_PATH} for sizes {', '.join(sizes)}")
        return 0
    problems = check_manifest(sizes)
    for line in problems:
        print(line, file=sys.stderr)
    print("manifest OK" if not problems else f"{len(problems)} dataset(s) differ")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
