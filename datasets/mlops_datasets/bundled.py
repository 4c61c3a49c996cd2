"""Real (not synthetic) small datasets that scikit-learn ships inside its wheel, exported as
checksummed CSVs so that labs load them like every other course dataset. No download: only the
``load_*`` functions, never ``fetch_*``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn import datasets as skd

from mlops_datasets.common import Size, Writer, read_csv, read_json

NAME = "bundled"
SUMMARY = "real datasets bundled with scikit-learn: digits, breast_cancer, wine, iris, diabetes"
MIRRORS = "itself: UCI datasets as shipped in scikit-learn's wheel (real measurements, not synthetic)"

# name: (loader, what the target means)
TABLES: dict[str, tuple[Callable[..., Any], str]] = {
    "digits": (skd.load_digits, "digit 0-9; 64 pixel columns are an 8x8 image, grey levels 0-16"),
    "breast_cancer": (skd.load_breast_cancer, "1 = benign, 0 = malignant (Wisconsin diagnostic)"),
    "wine": (skd.load_wine, "cultivar 0-2"),
    "iris": (skd.load_iris, "species 0-2"),
    # unscaled: the original measurements (age, sex, bmi, ...), not the mean-centred copy
    "diabetes": (partial(skd.load_diabetes, scaled=False), "disease progression after one year (regression)"),
}


def _frame(loader: Callable[..., Any]) -> pd.DataFrame:
    bunch = loader(as_frame=True)
    frame = bunch.frame.copy()
    # Column names as shipped, but safe for every tool (no spaces or parentheses).
    frame.columns = [c.replace(" ", "_").replace("(", "").replace(")", "") for c in frame.columns]
    return frame


def generate(size: Size, out: Writer) -> None:
    # The same real data for both sizes: there is nothing to scale.
    shapes = {}
    for name, (loader, target) in TABLES.items():
        frame = _frame(loader)
        # %.10g keeps every shipped digit (none has more than 6 significant digits).
        out.csv(f"{name}.csv", frame, float_format="%.10g")
        shapes[name] = {"rows": len(frame), "columns": len(frame.columns), "target": target}
    out.planted({"source": "sklearn.datasets.load_* (bundled files, no download)", "tables": shapes})


def load(directory: Path) -> dict[str, Any]:
    frames: dict[str, Any] = {name: read_csv(directory / f"{name}.csv") for name in TABLES}
    frames["planted"] = read_json(directory / "planted.json")
    return frames
