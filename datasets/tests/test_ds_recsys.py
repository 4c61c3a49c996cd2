"""Recommender: popularity bias, a temporal hold-out, and a personalised model beating popularity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlops_datasets import load

K = 10


@pytest.fixture(scope="module")
def rec(ci_dir: Path) -> dict[str, Any]:
    return load("recsys", "ci", ci_dir)


@pytest.fixture(scope="module")
def matrices(rec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Binary user x item matrices of the train period and of new items in the test period."""
    users = {u: i for i, u in enumerate(rec["users"]["user_id"])}
    items = {u: i for i, u in enumerate(rec["items"]["item_id"])}

    def binary(df: pd.DataFrame) -> np.ndarray:
        m = np.zeros((len(users), len(items)))
        m[df["user_id"].map(users), df["item_id"].map(items)] = 1
        return m

    train, test = binary(rec["train"]), binary(rec["test"])
    return train, test * (1 - train)


def evaluate(scores: np.ndarray, train: np.ndarray, test: np.ndarray) -> tuple[float, float]:
    """Mean recall@K and NDCG@K over users with history and new test items."""
    users = (train.sum(1) >= 3) & (test.sum(1) > 0)
    s = np.where(train[users] > 0, -np.inf, scores[users])
    top = np.argsort(-s, axis=1, kind="stable")[:, :K]
    hits = np.take_along_axis(test[users], top, axis=1)
    n_rel = np.minimum(test[users].sum(1), K)
    discounts = 1 / np.log2(np.arange(2, K + 2))
    idcg = np.cumsum(discounts)[n_rel.astype(int) - 1]
    return float((hits.sum(1) / n_rel).mean()), float(((hits * discounts).sum(1) / idcg).mean())


def test_schema_and_temporal_split(rec: dict[str, Any]) -> None:
    inter, cutoff = rec["interactions"], pd.Timestamp(rec["planted"]["test_cutoff"])
    assert set(inter["user_id"]) <= set(rec["users"]["user_id"])
    assert set(inter["item_id"]) <= set(rec["items"]["item_id"])
    assert (rec["train"]["timestamp"] < cutoff).all() and (rec["test"]["timestamp"] >= cutoff).all()
    assert 0.05 <= len(rec["test"]) / len(inter) <= 0.2
    released = pd.to_datetime(rec["items"].set_index("item_id")["release_date"], utc=True)
    assert (inter["timestamp"] >= released.reindex(inter["item_id"]).to_numpy()).all()


def test_popularity_bias(rec: dict[str, Any]) -> None:
    counts = rec["interactions"]["item_id"].value_counts()
    top_decile = counts.iloc[: len(rec["items"]) // 10].sum() / counts.sum()
    assert top_decile >= 0.35, "the top 10% of items should draw a large share of interactions"


def test_popularity_beats_random_and_personalised_beats_popularity(matrices: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = matrices
    rng = np.random.default_rng(0)
    random_recall, _ = evaluate(rng.random(train.shape), train, test)
    pop_recall, pop_ndcg = evaluate(np.tile(train.sum(0), (len(train), 1)), train, test)
    norm = np.sqrt(train.sum(0)) + 1e-9
    similarity = (train.T @ train) / norm[:, None] / norm[None, :]
    np.fill_diagonal(similarity, 0)
    knn_recall, knn_ndcg = evaluate(train @ similarity, train, test)
    assert pop_recall >= 5 * random_recall, (pop_recall, random_recall)
    assert knn_ndcg >= 1.3 * pop_ndcg, (knn_ndcg, pop_ndcg)
    assert knn_recall >= 0.15
