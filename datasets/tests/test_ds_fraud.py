"""Fraud: rate, learnable patterns on a time-based split, velocity signal, drift between periods."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlops_datasets import fraud, load
from scipy.stats import ks_2samp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score


@pytest.fixture(scope="module")
def tx(ci_dir: Path) -> pd.DataFrame:
    df = load("fraud", "ci", ci_dir)["transactions"]
    t = df["TransactionDT"].to_numpy()
    # Velocity: the card's transactions in the previous hour, with (card1, addr1) as the card id.
    card = df.groupby(["card1", "addr1"], dropna=False).ngroup().to_numpy()
    order = np.lexsort((t, card))
    key = card[order] * 10**9 + t[order]
    velocity = np.empty(len(df))
    velocity[order] = np.arange(len(df)) - np.searchsorted(key, key - 3600)
    return df.assign(velocity=velocity, day=(t - fraud.DT_OFFSET) // 86_400, hour=(t // 3600) % 24)


def features(df: pd.DataFrame, velocity: bool = True) -> pd.DataFrame:
    cats = df[["ProductCD", "DeviceType", "DeviceInfo", "P_emaildomain"]].fillna("NA")
    x = pd.get_dummies(cats, dtype=float).assign(
        log_amount=np.log1p(df["TransactionAmt"]),
        round_amount=(df["TransactionAmt"] % 50 == 0).astype(float),
        night=(df["hour"] < 6).astype(float),
    )
    return x.assign(log_velocity=np.log1p(df["velocity"])) if velocity else x


def auc(train: pd.DataFrame, test: pd.DataFrame, velocity: bool = True) -> float:
    x = features(pd.concat([train, test]), velocity)
    model = LogisticRegression(max_iter=500, C=0.5).fit(x.iloc[: len(train)], train["isFraud"])
    return float(roc_auc_score(test["isFraud"], model.predict_proba(x.iloc[len(train) :])[:, 1]))


def test_schema_mirrors_ieee_cis(tx: pd.DataFrame) -> None:
    assert list(tx.columns[: len(fraud.COLUMNS)]) == fraud.COLUMNS
    assert tx["TransactionID"].is_unique and tx["TransactionDT"].is_monotonic_increasing
    assert tx["addr1"].isna().mean() > 0.02 and tx["DeviceType"].isna().mean() > 0.2  # real data has gaps
    assert not tx.duplicated(["card1", "addr1", "TransactionDT", "TransactionAmt"]).any()


def test_fraud_rate_is_about_three_and_a_half_percent(tx: pd.DataFrame) -> None:
    assert 0.030 <= tx["isFraud"].mean() <= 0.040


def test_a_simple_model_learns_fraud_on_a_time_based_split(tx: pd.DataFrame) -> None:
    train, valid = tx[tx["day"] < 120], tx[(tx["day"] >= 120) & (tx["day"] < fraud.DRIFT_START_DAY)]
    with_velocity, without = auc(train, valid), auc(train, valid, velocity=False)
    assert with_velocity >= 0.85, f"logistic regression ROC AUC {with_velocity:.3f}"
    # The velocity bursts carry signal of their own, beyond amount/device/e-mail.
    assert with_velocity - without >= 0.03, (with_velocity, without)


def test_velocity_bursts_concentrate_fraud(tx: pd.DataFrame) -> None:
    rate = tx.groupby(tx["velocity"] >= 2)["isFraud"].mean()
    assert rate[True] > 5 * rate[False], rate.to_dict()


def test_drift_period_differs_from_the_reference(tx: pd.DataFrame) -> None:
    ref, drift = tx[tx["day"] < fraud.DRIFT_START_DAY], tx[tx["day"] >= fraud.DRIFT_START_DAY]
    legit = lambda d: d.loc[d["isFraud"] == 0, "TransactionAmt"]  # noqa: E731
    assert ks_2samp(legit(ref), legit(drift)).pvalue < 1e-6
    assert psi(ref["DeviceInfo"], drift["DeviceInfo"]) > 0.1
    assert drift["isFraud"].mean() > ref["isFraud"].mean() * 1.2
    # Concept drift: a model of the reference period is clearly worse on the drift period.
    train = tx[tx["day"] < 120]
    valid = tx[(tx["day"] >= 120) & (tx["day"] < fraud.DRIFT_START_DAY)]
    assert auc(train, valid) - auc(train, drift) >= 0.05
    # ... while two halves of the reference period look alike.
    early, late = ref[ref["day"] < 75], ref[ref["day"] >= 75]
    assert psi(early["DeviceInfo"], late["DeviceInfo"]) < 0.02


def psi(a: pd.Series, b: pd.Series) -> float:
    """Population stability index over categories (missing is a category)."""
    pa = a.fillna("NA").value_counts(normalize=True)
    pb = b.fillna("NA").value_counts(normalize=True)
    pa, pb = pa.align(pb, fill_value=0.0)
    pa, pb = pa + 1e-4, pb + 1e-4
    return float(((pa - pb) * np.log(pa / pb)).sum())
