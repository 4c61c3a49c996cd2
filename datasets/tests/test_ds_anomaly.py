"""Anomaly: extreme imbalance, and each planted anomaly type found by a simple robust detector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlops_datasets import anomaly, load
from scipy.ndimage import median_filter


@pytest.fixture(scope="module")
def data(ci_dir: Path) -> dict[str, Any]:
    return load("anomaly", "ci", ci_dir)


@pytest.fixture(scope="module")
def grid(data: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Readings as (device, time) arrays of values and anomaly types."""
    r = data["sensor_readings"]
    values = r.pivot(index="device_id", columns="timestamp", values="value").to_numpy()
    kinds = r.pivot(index="device_id", columns="timestamp", values="anomaly_type").to_numpy()
    return values, kinds


def robust_z(x: np.ndarray) -> np.ndarray:
    med = np.median(x, axis=1, keepdims=True)
    mad = np.median(np.abs(x - med), axis=1, keepdims=True)
    return (x - med) / (1.4826 * mad)


def deseasonalised(values: np.ndarray) -> np.ndarray:
    per_day = 86_400 // anomaly.STEP_S
    profile = np.median(values.reshape(len(values), -1, per_day), axis=1)
    return values - np.tile(profile, values.shape[1] // per_day)


def test_extreme_imbalance(data: dict[str, Any]) -> None:
    readings, accounts = data["sensor_readings"], data["account_activity"]
    assert 0.002 <= readings["is_anomaly"].mean() <= 0.01
    assert 0.0005 <= accounts["is_anomaly"].mean() <= 0.002
    assert set(readings["anomaly_type"]) == {"normal", "spike", "level_shift", "drift", "stuck"}
    assert ((readings["anomaly_type"] != "normal") == (readings["is_anomaly"] == 1)).all()


def test_spikes_found_by_robust_z_score(grid: tuple[np.ndarray, np.ndarray]) -> None:
    values, kinds = grid
    residual = deseasonalised(values)
    flagged = np.abs(robust_z(residual - median_filter(residual, size=(1, 7), mode="nearest"))) > 7
    assert flagged[kinds == "spike"].mean() >= 0.9
    assert (kinds[flagged] == "spike").mean() >= 0.6


def test_stuck_sensors_repeat_one_value(grid: tuple[np.ndarray, np.ndarray]) -> None:
    values, kinds = grid
    # Three equal readings in a row: chance repeats of a 4-decimal noisy value come alone.
    same = np.zeros(values.shape, dtype=bool)
    same[:, 1:] = np.diff(values, axis=1) == 0
    repeat = same.copy()
    repeat[:, 1:] &= same[:, :-1]
    assert repeat[kinds == "stuck"].mean() >= 0.9
    assert (kinds[repeat] == "stuck").all()


def test_level_shifts_and_drifts_found_by_rolling_median(grid: tuple[np.ndarray, np.ndarray]) -> None:
    values, kinds = grid
    flagged = np.abs(robust_z(median_filter(deseasonalised(values), size=(1, 15), mode="nearest"))) > 3
    assert flagged[kinds == "level_shift"].mean() >= 0.8
    assert flagged[kinds == "drift"].mean() >= 0.5
    assert flagged[kinds == "normal"].mean() <= 0.03


def test_account_anomalies_rank_first_by_robust_z(data: dict[str, Any]) -> None:
    acc: pd.DataFrame = data["account_activity"]
    score = np.zeros(len(acc))
    for col in ("logins", "failed_logins", "payments", "countries"):
        g = acc.groupby("account_id")[col]
        med = g.transform("median")
        mad = (acc[col] - med).abs().groupby(acc["account_id"]).transform("median")
        score = np.maximum(score, (acc[col] - med) / (1.4826 * mad + 1))
    k = int(acc["is_anomaly"].sum())
    recall_at_k = acc["is_anomaly"].to_numpy()[np.argsort(-score)[:k]].mean()
    assert recall_at_k >= 0.7
