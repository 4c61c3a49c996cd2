"""Checksums of generated files and the manifest that records them (``datasets/manifest.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_datasets.common import read_json, seed_for, sha256_file

MANIFEST_PATH = Path(__file__).resolve().parent.parent / "manifest.json"
FORMAT_VERSION = 1


class ChecksumMismatch(RuntimeError):
    """A dataset file is missing, unexpected, or its bytes differ from the manifest."""

    def __init__(self, name: str, size: str, file: str, expected: str | None, actual: str | None) -> None:
        self.name, self.size, self.file, self.expected, self.actual = name, size, file, expected, actual
        rebuild = f"python -m mlops_datasets build --only {name} --size {size} --force"
        if actual is None:
            what, hint = "is missing", f"(Re)build it: `{rebuild}`."
        elif expected is None:
            what, hint = "is not in the manifest", f"Remove it, or rebuild the dataset: `{rebuild}`."
        else:
            what = f"has sha256 {actual[:12]}…, manifest says {expected[:12]}…"
            hint = (
                f"Rebuild it: `{rebuild}`. If fresh bytes still differ, the installed numpy/pandas/scipy "
                "differ from constraints.txt, or the generator changed on purpose: then regenerate the "
                "manifest with `python -m mlops_datasets.manifest --write`."
            )
        super().__init__(f"dataset {name!r} (size {size!r}): file {file} {what}. {hint}")


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
