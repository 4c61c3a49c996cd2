"""Bundled: the CSVs are scikit-learn's real data, unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mlops_datasets import bundled, load
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split


def test_csvs_equal_the_shipped_data(ci_dir: Path) -> None:
    data = load("bundled", "ci", ci_dir)
    for name in bundled.TABLES:
        shipped = bundled.shipped(name)
        assert data[name].shape == shipped.shape, name
        assert np.allclose(data[name].to_numpy(dtype=float), shipped.to_numpy(dtype=float), rtol=1e-9), name


def test_breast_cancer_is_learnable(ci_dir: Path) -> None:
    df = load("bundled", "ci", ci_dir)["breast_cancer"]
    x, y = df.drop(columns="target").to_numpy(), df["target"].to_numpy()
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    mu, sd = x_tr.mean(0), x_tr.std(0)
    model = LogisticRegression(max_iter=1000).fit((x_tr - mu) / sd, y_tr)
    assert roc_auc_score(y_te, model.predict_proba((x_te - mu) / sd)[:, 1]) >= 0.97
