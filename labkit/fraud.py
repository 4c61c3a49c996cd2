"""The fraud project's baseline feature matrix and time-based split, shared by the labs that need one.

Labs about feature engineering build their own; labs about tracking,
serving or monitoring use this one so they stay about their topic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RISKY_DOMAINS = ("anonymous.com", "protonmail.com", "mail.com")
FEATURES = [
    "log_amount",
    "round_amount",
    "hour",
    "night",
    "product_C",
    "product_W",
    "device_missing",
    "risky_email",
    "card_tx_last_hour",
]


def feature_frame(tx: pd.DataFrame) -> pd.DataFrame:
    """Numeric features per transaction (rows in TransactionDT order)."""
    tx = tx.sort_values("TransactionDT")
    hour = (tx["TransactionDT"] // 3600) % 24
    velocity = card_velocity(tx, window_s=3600)
    frame = pd.DataFrame(
        {
            "log_amount": np.log1p(tx["TransactionAmt"].to_numpy()),
            "round_amount": (tx["TransactionAmt"] % 50 == 0).astype(float).to_numpy(),
            "hour": hour.to_numpy(dtype=float),
            "night": hour.between(0, 5).astype(float).to_numpy(),
            "product_C": (tx["ProductCD"] == "C").astype(float).to_numpy(),
            "product_W": (tx["ProductCD"] == "W").astype(float).to_numpy(),
            "device_missing": tx["DeviceType"].isna().astype(float).to_numpy(),
            "risky_email": tx["P_emaildomain"].isin(RISKY_DOMAINS).astype(float).to_numpy(),
            "card_tx_last_hour": velocity,
        },
        index=tx.index,
    )
    return frame[FEATURES]


def card_velocity(tx: pd.DataFrame, window_s: int = 3600) -> np.ndarray:
    """For each row, how many earlier transactions the same card made within `window_s` seconds."""
    card_codes = pd.factorize(tx["card1"].astype(str) + "-" + tx["addr1"].astype(str))[0]
    seconds = tx["TransactionDT"].to_numpy(dtype=np.int64)
    # one sort key: card first, then time; seconds stay far below the card stride
    key = card_codes.astype(np.int64) * 10**10 + seconds
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    first_in_window = np.searchsorted(sorted_key, sorted_key - window_s, side="left")
    counts = np.empty(len(tx), dtype=float)
    counts[order] = np.arange(len(tx)) - first_in_window
    return counts


def time_split(tx: pd.DataFrame, train_fraction: float = 0.7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Earlier rows train, later rows validate: no peeking at the future."""
    tx = tx.sort_values("TransactionDT")
    cut = int(len(tx) * train_fraction)
    return tx.iloc[:cut], tx.iloc[cut:]
