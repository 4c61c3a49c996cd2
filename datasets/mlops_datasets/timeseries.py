"""Daily store sales in a hierarchy (store -> region -> total) with the usual real-world mess.

Each store's sales = level x trend x weekly x annual x holiday effects x lognormal noise.
Stores in a region share part of their noise (a regional factor), so the levels are related.
Planted: weekly seasonality (weekend peak), annual seasonality (December peak), holiday uplifts,
missing days (scattered, plus a multi-day outage at one store), outliers (x3 or x0.2 days),
and a regime change: from ``REGIME_CHANGE`` one region's stores drop in level and flatten
their trend (a competitor opened).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_datasets.common import Size, Writer, epoch_day, iso_dates, read_csv, read_json, rng_for

NAME = "timeseries"
SUMMARY = "hierarchical daily store sales: trend, weekly/annual seasonality, holidays, gaps, outliers, a regime change"
MIRRORS = "M5 (Walmart) / Rossmann store sales"

SIZES = {"ci": {"regions": 3, "stores_per_region": 4}, "full": {"regions": 6, "stores_per_region": 15}}
START_DATE, END_DATE = "2021-01-01", "2024-01-01"  # three full years, end exclusive
REGIME_CHANGE = "2023-03-01"
REGIME_REGION = 0  # the first region is hit
REGIME_LEVEL, REGIME_TREND = 0.7, 0.0  # level multiplier; yearly trend after the change
WEEKLY = np.array([0.85, 0.9, 0.9, 0.95, 1.1, 1.35, 0.95])  # Monday .. Sunday
ANNUAL_AMPLITUDE = 0.15  # +-15%, peak in mid-December
HOLIDAYS = {  # month-day: (name, multiplier)
    "01-01": ("New Year's Day", 0.4),
    "02-14": ("Valentine's Day", 1.3),
    "07-04": ("Independence Day", 1.5),
    "11-25": ("Black Friday", 2.2),
    "12-24": ("Christmas Eve", 1.8),
    "12-25": ("Christmas Day", 0.3),
    "12-31": ("New Year's Eve", 1.4),
}
MISSING_SHARE = 0.01
OUTLIER_SHARE = 0.003
OUTAGE_DAYS = 10


def _calendar() -> tuple[np.ndarray, np.ndarray]:
    days = np.arange(epoch_day(START_DATE), epoch_day(END_DATE))
    return days, iso_dates(days)


def _simulate(size: Size) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    rng = rng_for(NAME, size, "sales")
    n_regions, per_region = SIZES[size]["regions"], SIZES[size]["stores_per_region"]
    n_stores = n_regions * per_region
    days, dates = _calendar()
    n = len(days)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    as_date = days.astype("datetime64[D]")
    day_of_year = (as_date - as_date.astype("datetime64[Y]")).astype(np.int64)  # 0 = 1 January
    years = (days - days[0]) / 365.25
    annual = 1 + ANNUAL_AMPLITUDE * np.cos(2 * np.pi * (day_of_year - 348) / 365.25)  # peak ~15 December
    holiday = np.ones(n)
    is_holiday = np.zeros(n, dtype=bool)
    for md, (_, mult) in HOLIDAYS.items():
        hit = np.char.endswith(dates.astype(str), md)
        holiday[hit] = mult
        is_holiday |= hit

    region = np.repeat(np.arange(n_regions), per_region)
    level = rng.lognormal(np.log(1000.0), 0.4, n_stores)[:, None]
    trend = rng.normal(0.06, 0.05, n_stores)[:, None]  # yearly growth rate
    change = days >= epoch_day(REGIME_CHANGE)
    years_at_change = years[np.argmax(change)]
    growth = np.exp(trend * years[None, :])
    hit = (region == REGIME_REGION)[:, None] & change[None, :]
    frozen = np.exp(trend * years_at_change + REGIME_TREND * (years[None, :] - years_at_change))
    growth = np.where(hit, REGIME_LEVEL * frozen, growth)
    regional_noise = rng.normal(0, 0.05, (n_regions, n))[region]
    noise = np.exp(regional_noise + rng.normal(0, 0.07, (n_stores, n)))
    sales = level * growth * WEEKLY[weekday][None, :] * annual[None, :] * holiday[None, :] * noise

    outlier = rng.random(sales.shape) < OUTLIER_SHARE
    sales[outlier] *= np.where(rng.random(int(outlier.sum())) < 0.7, 3.0, 0.2)
    missing = rng.random(sales.shape) < MISSING_SHARE
    outage_store, outage_start = int(rng.integers(n_stores)), int(rng.integers(60, n - 60))
    missing[outage_store, outage_start : outage_start + OUTAGE_DAYS] = True
    outlier &= ~missing
    sales = np.where(missing, np.nan, np.round(sales, 2))

    store_ids = np.char.mod("store-%02d", np.arange(n_stores))
    region_ids = np.char.mod("region-%d", np.arange(n_regions))
    frame = pd.DataFrame(
        {
            "date": np.tile(dates, n_stores),
            "store_id": np.repeat(store_ids, n),
            "region_id": np.repeat(region_ids[region], n),
            "sales": sales.ravel(),
            "is_holiday": np.tile(is_holiday.astype(np.int8), n_stores),
        }
    )
    hierarchy = pd.DataFrame({"store_id": store_ids, "region_id": region_ids[region], "total_id": "total"})
    years_in_range = sorted({d[:4] for d in dates.astype(str)})
    holidays = pd.DataFrame(
        [(f"{y}-{md}", name, mult) for y in years_in_range for md, (name, mult) in HOLIDAYS.items()],
        columns=["date", "holiday", "planted_multiplier"],
    )
    out_rows = np.argwhere(outlier)
    outliers = pd.DataFrame({"date": dates[out_rows[:, 1]], "store_id": store_ids[out_rows[:, 0]]})
    info = {
        "stores": n_stores,
        "regions": n_regions,
        "days": n,
        "weekly_multipliers_mon_to_sun": WEEKLY.tolist(),
        "annual_amplitude": ANNUAL_AMPLITUDE,
        "trend_per_year": {"mean": 0.06, "sd": 0.05},
        "noise": "lognormal: regional sd 0.05 + store sd 0.07",
        "missing_share": round(float(missing.mean()), 5),
        "outage": {"store_id": store_ids[outage_store], "start": dates[outage_start], "days": OUTAGE_DAYS},
        "outliers": {"count": int(outlier.sum()), "multipliers": [3.0, 0.2]},
        "regime_change": {
            "date": REGIME_CHANGE,
            "region_id": region_ids[REGIME_REGION],
            "level_multiplier": REGIME_LEVEL,
            "trend_after": REGIME_TREND,
        },
    }
    return frame, hierarchy, holidays, {"outliers_table": outliers, **info}


def generate(size: Size, out: Writer) -> None:
    sales, hierarchy, holidays, info = _simulate(size)
    outliers = info.pop("outliers_table")
    out.csv("sales.csv", sales, decimals={"sales": 2})
    out.csv("hierarchy.csv", hierarchy)
    out.csv("holidays.csv", holidays, decimals={"planted_multiplier": 2})
    out.csv("outliers.csv", outliers)
    out.planted(info)


def load(directory: Path) -> dict[str, Any]:
    frames = {name: read_csv(directory / f"{name}.csv") for name in ("sales", "hierarchy", "holidays", "outliers")}
    for name in ("sales", "holidays", "outliers"):
        frames[name]["date"] = pd.to_datetime(frames[name]["date"])
    return {**frames, "planted": read_json(directory / "planted.json")}
