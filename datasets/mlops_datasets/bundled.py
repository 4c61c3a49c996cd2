"""Real (not synthetic) small datasets that scikit-learn ships inside its wheel, exported as
checksummed CSVs so that labs load them like every other course dataset. No download: only the
``load_*`` functions, never ``fetch_*``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mlops_datasets.common import Size, Writer, read_csv, read_json

NAME = "bundled"
SUMMARY = "real datasets bundled with scikit-learn: digits, breast_cancer, wine, iris, diabetes"
MIRRORS = "itself: UCI datasets as shipped in scikit-learn's wheel (real measurements, not synthetic)"

# name: (sklearn.datasets loader, its keyword arguments, what the target means)
TABLES: dict[str, tuple[str, dict[str, Any], str]] = {
    "digits": ("load_digits", {}, "digit 0-9; 64 pixel columns are an 8x8 image, grey levels 0-16"),
    "breast_cancer": ("load_breast_cancer", {}, "1 = benign, 0 = malignant (Wisconsin diagnostic)"),
    "wine": ("load_wine", {}, "cultivar 0-2"),
    "iris": ("load_iris", {}, "species 0-2"),
    # unscaled: the original measurements (age, sex, bmi, ...), not the mean-centred copy
    "diabetes": ("load_diabetes", {"scaled": False}, "disease progression after one year (regression)"),
}


def shipped(name: str) -> pd.DataFrame:
    """The table as scikit-learn ships it, with tool-friendly column names (no spaces or parentheses)."""
    from sklearn import datasets  # imported here: sklearn is slow to import and only this needs it

    loader, kwargs, _ = TABLES[name]
    frame = getattr(datasets, loader)(as_frame=True, **kwargs).frame.copy()
    frame.columns = [c.replace(" ", "_").replace("(", "").replace(")", "") for c in frame.columns]
    return frame


def generate(size: Size, out: Writer) -> None:
    # The same real data for both sizes: there is nothing to scale.
    shapes = {}
    for name, (_, _, target) in TABLES.items():
        frame = shipped(name)
        # %.10g keeps every shipped digit (none has more than 6 significant digits).
        out.csv(f"{name}.csv", frame, float_format="%.10g")
        shapes[name] = {"rows": len(frame), "columns": len(frame.columns), "target": target}
    out.planted({"source": "sklearn.datasets.load_* (bundled files, no download)", "tables": shapes})


def load(directory: Path) -> dict[str, Any]:
    frames: dict[str, Any] = {name: read_csv(directory / f"{name}.csv") for name in TABLES}
    frames["planted"] = read_json(directory / "planted.json")
    return frames
