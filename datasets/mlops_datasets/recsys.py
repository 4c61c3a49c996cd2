"""Users, items with metadata, and implicit interactions with popularity bias and a held-out period.

Each user has a taste vector over latent factors and a favourite category; each item has a
category, a brand, a price, a release date and a Zipf popularity. A user's choice probability
is ``popularity^ALPHA * exp(BETA * taste . factors + CATEGORY_BOOST * [favourite category])``,
so a popularity baseline works and a personalised model works better. Interactions cover
``N_DAYS`` days; the last ``TEST_DAYS`` are the held-out period.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_datasets.common import Size, Writer, epoch_day, iso_dates, iso_seconds, read_csv, read_json, rng_for

NAME = "recsys"
SUMMARY = "users, items with metadata, implicit timestamped interactions with popularity bias"
MIRRORS = "MovieLens / RetailRocket-style implicit feedback"

SIZES = {
    "ci": {"users": 2000, "items": 800, "interactions": 60_000},
    "full": {"users": 50_000, "items": 10_000, "interactions": 2_000_000},
}
N_DAYS, TEST_DAYS = 120, 14
START_DATE = "2024-01-01"
N_FACTORS = 8
ALPHA, BETA, CATEGORY_BOOST = 0.8, 1.0, 1.5
ZIPF_S = 1.0
CATEGORIES = np.array(
    ["books", "music", "movies", "games", "electronics", "home", "sports", "toys", "beauty", "garden"]
)
COUNTRIES = np.array(["US", "GB", "DE", "FR", "IN", "BR", "JP", "CA"])
EVENTS = np.array(["view", "add_to_cart", "purchase"])
EVENT_P = np.array([0.80, 0.13, 0.07])
USER_CHUNK = 2048  # users per block when sampling, to bound memory on the full size


def _sample_rows(rng: np.random.Generator, weights: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """For each row of ``weights``, ``counts[row]`` column indices drawn proportionally to it."""
    cdf = np.cumsum(weights, axis=1)
    cdf /= cdf[:, -1:]
    rows = np.repeat(np.arange(len(weights)), counts)
    # Offsetting row r's CDF by r turns all rows into one sorted array: one searchsorted for all.
    flat = (cdf + np.arange(len(weights))[:, None]).ravel()
    idx = np.searchsorted(flat, rows + rng.random(len(rows)), side="right")
    return np.minimum(idx - rows * weights.shape[1], weights.shape[1] - 1)


def _simulate(size: Size) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    cfg = SIZES[size]
    rng = rng_for(NAME, size, "world")
    n_users, n_items = cfg["users"], cfg["items"]
    t0 = epoch_day(START_DATE) * 86_400
    end = t0 + N_DAYS * 86_400

    item_cat = rng.integers(0, len(CATEGORIES), n_items)
    cat_factors = rng.normal(0, 1, (len(CATEGORIES), N_FACTORS))
    item_factors = (0.7 * cat_factors[item_cat] + 0.7 * rng.normal(0, 1, (n_items, N_FACTORS))) / np.sqrt(N_FACTORS)
    popularity = 1.0 / rng.permutation(np.arange(1, n_items + 1)) ** ZIPF_S
    # A fifth of the catalogue is released during the period (cold-start items); the rest existed.
    new_item = rng.random(n_items) < 0.2
    release = np.where(
        new_item, rng.integers(t0, end - 7 * 86_400, n_items), t0 - 86_400 * rng.integers(30, 2000, n_items)
    )
    items = pd.DataFrame(
        {
            "item_id": np.char.mod("i%05d", np.arange(n_items)),
            "category": CATEGORIES[item_cat],
            "brand": np.char.mod("brand-%02d", rng.integers(0, 40, n_items)),
            "price": np.round(rng.lognormal(np.log(25.0), 0.8, n_items), 2),
            "release_date": iso_dates(release // 86_400),
        }
    )

    fav = rng.integers(0, len(CATEGORIES), n_users)
    user_factors = cat_factors[fav] * 0.8 + rng.normal(0, 0.6, (n_users, N_FACTORS))
    signup = t0 - 86_400 * rng.integers(0, 700, n_users)
    new = rng.random(n_users) < 0.15  # users who sign up during the period
    signup[new] = rng.integers(t0, end - 86_400, int(new.sum()))
    activity = rng.lognormal(0, 1.0, n_users)
    counts = rng.multinomial(cfg["interactions"], activity / activity.sum())

    users_idx, items_idx = [], []
    for lo in range(0, n_users, USER_CHUNK):
        hi = min(lo + USER_CHUNK, n_users)
        logits = BETA * user_factors[lo:hi] @ item_factors.T + CATEGORY_BOOST * (fav[lo:hi, None] == item_cat[None, :])
        weights = popularity[None, :] ** ALPHA * np.exp(logits)
        items_idx.append(_sample_rows(rng, weights, counts[lo:hi]))
        users_idx.append(np.repeat(np.arange(lo, hi), counts[lo:hi]))
    u, i = np.concatenate(users_idx), np.concatenate(items_idx)
    # An interaction happens after both the signup and the item's release.
    start = np.maximum(np.maximum(signup[u], release[i]), t0)
    ts = start + (rng.random(len(u)) * (end - start)).astype(np.int64)
    inter = pd.DataFrame({"u": u, "i": i, "ts": ts, "event": EVENTS[rng.choice(3, len(u), p=EVENT_P)]})
    inter = inter.sort_values(["ts", "u", "i"], kind="stable").drop_duplicates(["u", "i", "event"])
    users = pd.DataFrame(
        {
            "user_id": np.char.mod("u%06d", np.arange(n_users)),
            "signup_date": iso_dates(signup // 86_400),
            "country": COUNTRIES[rng.integers(0, len(COUNTRIES), n_users)],
            "age_band": rng.choice(["18-24", "25-34", "35-44", "45-54", "55+"], n_users, p=[0.2, 0.3, 0.25, 0.15, 0.1]),
        }
    )
    interactions = pd.DataFrame(
        {
            "user_id": users["user_id"].to_numpy()[inter["u"]],
            "item_id": items["item_id"].to_numpy()[inter["i"]],
            "timestamp": iso_seconds(inter["ts"].to_numpy()),
            "event": inter["event"].to_numpy(),
        }
    )
    cutoff = end - TEST_DAYS * 86_400
    top10 = np.sort(inter.groupby("i").size().to_numpy())[::-1][: max(1, n_items // 10)].sum()
    info = {
        "users": n_users,
        "items": n_items,
        "interactions": len(interactions),
        "period": [str(iso_dates(np.array([t0 // 86_400]))[0]), str(iso_dates(np.array([end // 86_400]))[0])],
        "test_cutoff": str(iso_seconds(np.array([cutoff]))[0]),
        "test_interactions": int((inter["ts"] >= cutoff).sum()),
        "top10pct_items_share": round(float(top10 / len(inter)), 4),
        "model": {
            "alpha_popularity": ALPHA,
            "beta_taste": BETA,
            "category_boost": CATEGORY_BOOST,
            "zipf_s": ZIPF_S,
            "factors": N_FACTORS,
        },
        "cold_start_items": int((release >= t0).sum()),
        "event_mix": dict(zip(EVENTS.tolist(), EVENT_P.tolist(), strict=True)),
    }
    return users, items, interactions, info


def generate(size: Size, out: Writer) -> None:
    users, items, interactions, info = _simulate(size)
    out.csv("users.csv", users)
    out.csv("items.csv", items, decimals={"price": 2})
    out.csv("interactions.csv", interactions)
    out.planted(info)


def load(directory: Path) -> dict[str, Any]:
    interactions = read_csv(directory / "interactions.csv")
    interactions["timestamp"] = pd.to_datetime(interactions["timestamp"], utc=True)
    planted = read_json(directory / "planted.json")
    cutoff = pd.Timestamp(planted["test_cutoff"])
    return {
        "users": read_csv(directory / "users.csv"),
        "items": read_csv(directory / "items.csv"),
        "interactions": interactions,
        "train": interactions[interactions["timestamp"] < cutoff].reset_index(drop=True),
        "test": interactions[interactions["timestamp"] >= cutoff].reset_index(drop=True),
        "planted": planted,
    }
