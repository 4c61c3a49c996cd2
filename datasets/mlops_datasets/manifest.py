"""The checksum manifest (``datasets/manifest.json``): sha256 and size of every generated file.

    python -m mlops_datasets.manifest --write            # regenerate (ci and full)
    python -m mlops_datasets.manifest --write --size ci  # only one size
    python -m mlops_datasets.manifest --check            # regenerate in a temp dir and compare
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlops_datasets.common import SIZES, check_size, dumps, read_json, seed_for, sha256_file

MANIFEST_PATH = Path(__file__).resolve().parent.parent / "manifest.json"
FORMAT_VERSION = 1


class ChecksumMismatch(RuntimeError):
    """A dataset file is missing, unexpected, or its bytes differ from the manifest."""

    def __init__(self, name: str, size: str, file: str, expected: str | None, actual: str | None) -> None:
        self.name, self.size, self.file, self.expected, self.actual = name, size, file, expected, actual
        if actual is None:
            what = "is missing"
        elif expected is None:
            what = "is not in the manifest"
        else:
            what = f"has sha256 {actual[:12]}…, manifest says {expected[:12]}…"
        super().__init__(
            f"dataset {name!r} (size {size!r}): file {file} {what}. Rebuild it with "
            f"`python -m mlops_datasets build --only {name} --size {size} --force`; if it still differs, "
            "the installed numpy/pandas differ from constraints.txt (or the generator changed: "
            "regenerate the manifest with `python -m mlops_datasets.manifest --write`)."
        )


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, Any]:
    if not path.exists():
        return {"format": FORMAT_VERSION, "datasets": {}}
    return read_json(path)


def expected_files(name: str, size: str, manifest: dict[str, Any] | None = None) -> dict[str, str] | None:
    """``{filename: sha256}`` recorded for a dataset and size, or None when the manifest has none."""
    entry = (manifest or load_manifest())["datasets"].get(name, {}).get(size)
    if entry is None:
        return None
    return {fname: meta["sha256"] for fname, meta in entry["files"].items()}


def dataset_files(directory: Path) -> list[Path]:
    """The checksummed files of a dataset directory (dot-files are bookkeeping, not data)."""
    return [p for p in sorted(directory.iterdir()) if p.is_file() and not p.name.startswith(".")]


def checksums(directory: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in dataset_files(directory)}


def compare(name: str, size: str, actual: dict[str, str], expected: dict[str, str]) -> None:
    """Raise ChecksumMismatch for the first file (in name order) that differs."""
    for fname in sorted(set(actual) | set(expected)):
        if actual.get(fname) != expected.get(fname):
            raise ChecksumMismatch(name, size, fname, expected.get(fname), actual.get(fname))


def describe(name: str, size: str, directory: Path) -> dict[str, Any]:
    files = {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in dataset_files(directory)}
    return {"seed": seed_for(name, size), "files": files}


def generate_entries(sizes: list[str], names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    from mlops_datasets.registry import DATASETS, generate_into  # late import: registry imports us

    entries: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="mlops-datasets-") as tmp:
        for name in names or list(DATASETS):
            for size in sizes:
                out = Path(tmp) / size / name
                generate_into(name, check_size(size), out)
                entries.setdefault(name, {})[size] = describe(name, size, out)
    return entries


def write_manifest(sizes: list[str], path: Path = MANIFEST_PATH) -> dict[str, Any]:
    import numpy
    import pandas

    manifest = load_manifest(path)
    for name, by_size in generate_entries(sizes).items():
        manifest["datasets"].setdefault(name, {}).update(by_size)
    manifest["format"] = FORMAT_VERSION
    manifest["generated_with"] = {"numpy": numpy.__version__, "pandas": pandas.__version__}
    path.write_text(dumps_pretty(manifest), encoding="utf-8", newline="\n")
    return manifest


def dumps_pretty(obj: Any) -> str:
    import json

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
