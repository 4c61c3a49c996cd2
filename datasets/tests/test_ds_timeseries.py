"""Time series: hierarchy, weekly/annual seasonality, holidays, gaps, outliers, a regime change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlops_datasets import load, timeseries


@pytest.fixture(scope="module")
def ts(ci_dir: Path) -> dict[str, Any]:
    return load("timeseries", "ci", ci_dir)


@pytest.fixture(scope="module")
def total(ts: dict[str, Any]) -> pd.Series:
    return ts["sales"].groupby("date")["sales"].sum()


def test_hierarchy_is_consistent(ts: dict[str, Any]) -> None:
    sales, hierarchy = ts["sales"], ts["hierarchy"]
    pairs = sales[["store_id", "region_id"]].drop_duplicates()
    assert pairs.merge(hierarchy, on=["store_id", "region_id"]).shape[0] == len(hierarchy) == len(pairs)
    assert hierarchy.groupby("region_id").size().min() >= 2
    assert sales.groupby("store_id")["date"].nunique().nunique() == 1, "every store has every date"


def test_weekly_seasonality_recovered_by_autocorrelation(total: pd.Series) -> None:
    detrended = np.log(total) - np.log(total).rolling(28, center=True, min_periods=7).mean()
    acf = {lag: detrended.autocorr(lag) for lag in (3, 7, 14)}
    assert acf[7] >= 0.5 and acf[14] >= 0.4 and acf[7] > acf[3] + 0.5, acf
    by_weekday = total.groupby(total.index.day_of_week).mean()
    assert by_weekday.idxmax() == 5  # Saturday peak


def test_annual_seasonality_and_holidays(ts: dict[str, Any], total: pd.Series) -> None:
    by_month = total.groupby(total.index.month).mean()
    assert by_month[12] / by_month[6] > 1.2
    hol = ts["holidays"].set_index("date")["planted_multiplier"]
    ratio = total.reindex(hol.index) / total.rolling(15, center=True, min_periods=5).median().reindex(hol.index)
    assert np.corrcoef(ratio, hol)[0, 1] > 0.9
    assert (ratio[hol > 1.2] > 1.1).all() and (ratio[hol < 0.5] < 0.7).all()


def test_missing_values_and_outliers(ts: dict[str, Any]) -> None:
    sales, planted = ts["sales"], ts["planted"]
    assert 0.005 <= sales["sales"].isna().mean() <= 0.03
    outage = sales[(sales["store_id"] == planted["outage"]["store_id"])].set_index("date")["sales"]
    start = pd.Timestamp(planted["outage"]["start"])
    assert outage[start : start + pd.Timedelta(days=timeseries.OUTAGE_DAYS - 1)].isna().all()
    # Planted outliers stand out from their store's rolling median.
    wide = sales.pivot(index="date", columns="store_id", values="sales")
    ratio = (wide / wide.rolling(15, center=True, min_periods=5).median()).stack()
    flagged = ratio[(ratio > 2.2) | (ratio < 0.3)].index
    planted_idx = pd.MultiIndex.from_frame(ts["outliers"][["date", "store_id"]])
    assert len(planted_idx.intersection(flagged)) >= 0.8 * len(planted_idx)


def test_regime_change_is_located(ts: dict[str, Any]) -> None:
    sales, change = ts["sales"], ts["planted"]["regime_change"]
    by_region = sales.groupby(["date", "region_id"])["sales"].sum().unstack()
    hit = by_region[change["region_id"]]
    others = by_region.drop(columns=change["region_id"]).sum(axis=1)
    log_ratio = np.log(hit / others)
    cusum = (log_ratio - log_ratio.mean()).cumsum()
    found = cusum.abs().idxmax()
    assert abs((found - pd.Timestamp(change["date"])).days) <= 14
    date = pd.Timestamp(change["date"])
    before = log_ratio[date - pd.Timedelta(days=90) : date - pd.Timedelta(days=1)].mean()
    after = log_ratio[date : date + pd.Timedelta(days=89)].mean()
    assert -0.5 < after - before < -0.2  # ~ log(0.7)
