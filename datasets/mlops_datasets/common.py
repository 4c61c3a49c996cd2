"""Shared helpers for every generator: sizes, seeds, byte-stable writers, checksums, readers.

Bytes must not depend on library build details, so every writer pins its format:
CSV with fixed float formatting and "\\n" line ends, JSON/JSONL with sorted keys and
compact separators, and uncompressed ``.npy`` (no zip container, hence no timestamps).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

Size = Literal["ci", "full"]
SIZES: tuple[Size, ...] = ("ci", "full")

PLANTED_FILE = "planted.json"


def check_size(size: str) -> Size:
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected one of {SIZES}")
    return size  # type: ignore[return-value]


def seed_for(name: str, size: str) -> int:
    """A fixed seed per (dataset, size), derived with sha256 (never Python's salted ``hash()``)."""
    digest = hashlib.sha256(f"mlops-datasets/{name}/{size}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def rng_for(name: str, size: str, stream: str = "") -> np.random.Generator:
    """An independent PCG64 stream per (dataset, size, purpose) so that changing one part of a
    generator does not reshuffle the random numbers of the others."""
    return np.random.default_rng([seed_for(name, size), *stream.encode()])


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _format_floats(values: pd.Series, decimals: int) -> pd.Series:
    arr = values.to_numpy(dtype=float)
    out = np.char.mod(f"%.{decimals}f", arr).astype(object)
    out[np.isnan(arr)] = ""
    return pd.Series(out, index=values.index)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(obj: Any) -> str:
    """Canonical JSON: sorted keys, compact, UTF-8 kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


@dataclass
class Writer:
    """Writes the files of one dataset into ``directory`` and remembers what it wrote."""

    directory: Path
    files: list[str] = field(default_factory=list)

    def _target(self, filename: str) -> Path:
        if filename in self.files:
            raise ValueError(f"{filename} written twice")
        self.files.append(filename)
        return self.directory / filename

    def csv(
        self,
        filename: str,
        frame: pd.DataFrame,
        decimals: Mapping[str, int] | None = None,
        float_format: str = "%.4f",
    ) -> None:
        """CSV, no index, "\\n" line ends; floats as ``float_format`` unless ``decimals`` says otherwise."""
        frame = frame.copy()
        for col, d in (decimals or {}).items():
            frame[col] = _format_floats(frame[col], d)
        for col in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[col]):
                raise TypeError(f"{filename}:{col}: format datetimes as strings before writing")
        frame.to_csv(self._target(filename), index=False, float_format=float_format, lineterminator="\n")

    def jsonl(self, filename: str, records: Iterable[Mapping[str, Any]]) -> None:
        with self._target(filename).open("w", encoding="utf-8", newline="\n") as fh:
            for rec in records:
                fh.write(dumps(rec) + "\n")

    def json(self, filename: str, obj: Any) -> None:
        self._target(filename).write_text(dumps(obj) + "\n", encoding="utf-8", newline="\n")

    def text(self, filename: str, text: str) -> None:
        self._target(filename).write_text(text, encoding="utf-8", newline="\n")

    def npy(self, filename: str, array: np.ndarray) -> None:
        # Plain .npy, C order, no pickle: the header holds only dtype, order and shape.
        np.save(self._target(filename), np.ascontiguousarray(array), allow_pickle=False)

    def planted(self, info: Mapping[str, Any]) -> None:
        """``planted.json``: the signals planted and their realised sizes (cards and tests read it)."""
        self.json(PLANTED_FILE, info)


# ---- readers -------------------------------------------------------------------------------


def read_csv(path: Path, dtype: Mapping[str, Any] | None = None) -> pd.DataFrame:
    # Strings that look like "NA" or "None" stay strings: only empty fields are missing.
    return pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=[""])


def read_jsonl(path: Path) -> pd.DataFrame:
    with path.open(encoding="utf-8") as fh:
        return pd.DataFrame([json.loads(line) for line in fh])


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_npy(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


# ---- small numeric helpers shared by generators ----------------------------------------------


def iso_seconds(epoch_seconds: np.ndarray) -> np.ndarray:
    """UTC ISO-8601 strings with second resolution, e.g. ``2024-01-31T23:59:59Z``."""
    return np.datetime_as_string(np.asarray(epoch_seconds, dtype="int64").astype("datetime64[s]")) + "Z"


def iso_millis(epoch_millis: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(epoch_millis, dtype="int64").astype("datetime64[ms]")) + "Z"


def iso_dates(epoch_days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(epoch_days, dtype="int64").astype("datetime64[D]"))


def epoch_day(date: str) -> int:
    return int(np.datetime64(date, "D").astype("int64"))


def weighted_choice(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """Indices drawn with probability proportional to ``weights`` (inverse-CDF, vectorised)."""
    cdf = np.cumsum(weights, dtype=float)
    return np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right").clip(0, len(weights) - 1)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
