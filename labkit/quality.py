"""Data quality for the data-layer labs: drift statistics with a decision, planted defects to test
validators against, and a quality gate that returns a structured verdict.

- drift: PSI (numeric on reference quantile bins, categorical with missing as a category) and the
  two-sample Kolmogorov-Smirnov test, each wrapped as a `DriftStat` that carries its decision;
- defects: `plant_defect` copies a fraud-transactions batch and breaks it in one known way, so a
  suite or schema can be tested on a batch whose faults are known exactly;
- gate: `run_gate` runs every check (even after one fails, so the report is complete), fails
  closed (a check that raises or does not answer True/False counts as failed) and returns a
  `Verdict` that can be written as JSON or JUnit XML (what CI systems display) or raised.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

PSI_FLOOR = 1e-4
MISSING = "<missing>"

# ---------------------------------------------------------------------------------------------
# drift statistics


def quantile_edges(reference: Iterable[float], bins: int = 10) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (duplicates dropped): `bins` equal-mass bins."""
    values = pd.Series(reference, dtype=float).dropna().to_numpy()
    if values.size == 0:
        raise ValueError("reference has no values")
    return np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))


def bin_fractions(values: Iterable[float], edges: np.ndarray) -> np.ndarray:
    """Share of the (non-missing) values in each of the `len(edges) + 1` bins; sums to 1."""
    v = pd.Series(values, dtype=float).dropna().to_numpy()
    if v.size == 0:
        raise ValueError("no values to bin")
    idx = np.searchsorted(edges, v, side="right")
    return np.bincount(idx, minlength=len(edges) + 1) / v.size


def psi(expected: Iterable[float], actual: Iterable[float], floor: float = PSI_FLOOR) -> float:
    """Population stability index sum((a - e) * ln(a / e)) of two share vectors, floored at `floor`."""
    e = np.maximum(np.asarray(list(expected), dtype=float), floor)
    a = np.maximum(np.asarray(list(actual), dtype=float), floor)
    if e.shape != a.shape:
        raise ValueError(f"share vectors differ in length: {e.shape} vs {a.shape}")
    return float(np.sum((a - e) * np.log(a / e)))


def psi_numeric(reference: Iterable[float], current: Iterable[float], bins: int = 10) -> float:
    """PSI of a numeric feature on `bins` quantile bins of the reference."""
    edges = quantile_edges(reference, bins)
    return psi(bin_fractions(reference, edges), bin_fractions(current, edges))


def psi_categorical(reference: Iterable[Any], current: Iterable[Any]) -> float:
    """PSI of a categorical feature; missing is a category, unseen categories count against the batch."""
    ref = pd.Series(reference, dtype=object).fillna(MISSING).astype(str).value_counts(normalize=True)
    cur = pd.Series(current, dtype=object).fillna(MISSING).astype(str).value_counts(normalize=True)
    ref, cur = ref.align(cur, fill_value=0.0)
    return psi(ref.to_numpy(), cur.to_numpy())


@dataclass(frozen=True)
class DriftStat:
    """One feature's drift statistic and the decision taken on it."""

    feature: str
    test: str  # "ks" or "psi"
    statistic: float
    p_value: float  # NaN for PSI
    threshold: float  # alpha for KS, PSI limit for PSI
    drifted: bool


def ks_drift(feature: str, reference: Iterable[float], current: Iterable[float], *, alpha: float) -> DriftStat:
    """Two-sample KS test; drifted when the p-value is below `alpha`. Missing values are dropped."""
    ref = pd.Series(reference, dtype=float).dropna().to_numpy()
    cur = pd.Series(current, dtype=float).dropna().to_numpy()
    if ref.size == 0 or cur.size == 0:
        raise ValueError(f"{feature}: no values to compare")
    result = stats.ks_2samp(ref, cur)
    return DriftStat(feature, "ks", float(result.statistic), float(result.pvalue), alpha, bool(result.pvalue < alpha))


def psi_drift(
    feature: str,
    reference: Iterable[Any],
    current: Iterable[Any],
    *,
    threshold: float,
    categorical: bool,
    bins: int = 10,
) -> DriftStat:
    """PSI with a decision: drifted when PSI >= `threshold` (0.1 investigate, 0.2 significant)."""
    value = psi_categorical(reference, current) if categorical else psi_numeric(reference, current, bins)
    return DriftStat(feature, "psi", value, math.nan, threshold, bool(value >= threshold))


# ---------------------------------------------------------------------------------------------
# planted defects (fraud transactions batches)

DEFECTS = (
    "null_key",  # TransactionID missing
    "duplicate_key",  # TransactionID repeated from other rows
    "negative_amount",  # TransactionAmt < 0 (refunds leaking into purchases)
    "unknown_category",  # ProductCD in lower case: an upstream encoding change
    "amount_in_cents",  # every TransactionAmt x100: an upstream unit change
    "truncated",  # only the first n rows arrived
    "missing_column",  # DeviceInfo dropped by the exporter
    "inconsistent_device",  # DeviceInfo present where DeviceType is missing
)


def plant_defect(batch: pd.DataFrame, kind: str, n: int = 20, seed: int = 0) -> pd.DataFrame:
    """A copy of a fraud-transactions batch with one known defect in `n` rows (see `DEFECTS`).

    Integer columns stay integers (nullable `Int64` where values go missing), so the batch written
    to CSV looks like what a broken exporter would write, not like a float-converted table.
    """
    if kind not in DEFECTS:
        raise ValueError(f"unknown defect {kind!r}; choose from {DEFECTS}")
    out = batch.copy().reset_index(drop=True)
    if len(out) < 2 * n:
        raise ValueError(f"batch of {len(out)} rows is too small to plant {n} defects")
    rows = np.sort(np.random.default_rng(seed).choice(len(out), size=n, replace=False))
    if kind == "null_key":
        out["TransactionID"] = out["TransactionID"].astype("Int64")
        out.loc[rows, "TransactionID"] = pd.NA
    elif kind == "duplicate_key":
        others = np.setdiff1d(np.arange(len(out)), rows)[:n]
        out.loc[rows, "TransactionID"] = out.loc[others, "TransactionID"].to_numpy()
    elif kind == "negative_amount":
        out.loc[rows, "TransactionAmt"] = -out.loc[rows, "TransactionAmt"].abs()
    elif kind == "unknown_category":
        out.loc[rows, "ProductCD"] = out.loc[rows, "ProductCD"].str.lower()
    elif kind == "amount_in_cents":
        out["TransactionAmt"] = (out["TransactionAmt"] * 100).round(0)
    elif kind == "truncated":
        out = out.iloc[:n].copy()
    elif kind == "missing_column":
        out = out.drop(columns="DeviceInfo")
    elif kind == "inconsistent_device":
        with_info = np.flatnonzero(out["DeviceInfo"].notna().to_numpy())[:n]
        out.loc[with_info, "DeviceType"] = np.nan
    return out


# ---------------------------------------------------------------------------------------------
# the gate


@dataclass(frozen=True)
class CheckResult:
    """One gate check: its name, whether it passed, whether a failure blocks the run, and details."""

    name: str
    passed: bool
    blocking: bool = True
    details: dict[str, Any] = field(default_factory=dict)


class QualityGateError(RuntimeError):
    """Raised by `Verdict.raise_for_status()` when a blocking check failed; carries the verdict."""

    def __init__(self, verdict: Verdict):
        super().__init__(f"quality gate failed: {', '.join(verdict.failed)}")
        self.verdict = verdict


@dataclass(frozen=True)
class Verdict:
    """The gate's structured answer: every check's outcome, and whether the run may go on."""

    checks: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        """True when no blocking check failed."""
        return all(c.passed for c in self.checks if c.blocking)

    @property
    def failed(self) -> list[str]:
        """Names of the blocking checks that failed."""
        return [c.name for c in self.checks if c.blocking and not c.passed]

    @property
    def warnings(self) -> list[str]:
        """Names of the non-blocking checks that failed."""
        return [c.name for c in self.checks if not c.blocking and not c.passed]

    @property
    def status(self) -> str:
        if not self.passed:
            return "failed"
        return "passed_with_warnings" if self.warnings else "passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "passed": self.passed,
            "failed": self.failed,
            "warnings": self.warnings,
            "checks": [asdict(c) for c in self.checks],
        }

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str))
        return path

    def write_junit(self, path: str | Path, suite: str = "quality-gate") -> Path:
        """JUnit XML, the report format CI systems (GitHub Actions, GitLab, Jenkins) display."""
        failures = sum(not c.passed for c in self.checks)
        root = ET.Element("testsuite", name=suite, tests=str(len(self.checks)), failures=str(failures))
        for check in self.checks:
            case = ET.SubElement(root, "testcase", classname=suite, name=check.name)
            if not check.passed:
                kind = "failure" if check.blocking else "skipped"
                ET.SubElement(case, kind, message=json.dumps(check.details, default=str)[:500])
        path = Path(path)
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
        return path

    def raise_for_status(self) -> None:
        if not self.passed:
            raise QualityGateError(self)


CheckFn = Callable[[], "bool | np.bool_ | tuple[bool, dict[str, Any]]"]


def run_gate(checks: Mapping[str, CheckFn], warn_only: Iterable[str] = ()) -> Verdict:
    """Run every check in order and return the verdict.

    A check answers `True`/`False`, or `(passed, details)`. It fails closed: a check that raises,
    or answers anything else (None, a result object that happens to be truthy), counts as failed.
    Checks named in `warn_only` are reported but do not block.
    """
    soft = set(warn_only)
    unknown = soft - set(checks)
    if unknown:
        raise ValueError(f"warn_only names checks that do not exist: {sorted(unknown)}")
    results = []
    for name, check in checks.items():
        details: dict[str, Any] = {}
        try:
            answer = check()
            if isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[1], dict):
                answer, details = answer
            if not isinstance(answer, bool | np.bool_):
                raise TypeError(f"check returned {type(answer).__name__}, expected True or False")
            passed = bool(answer)
        except Exception as exc:  # a check that cannot run must not let the batch through
            passed, details = False, {**details, "error": f"{type(exc).__name__}: {exc}"}
        results.append(CheckResult(name, passed, name not in soft, dict(details)))
    return Verdict(tuple(results))
