"""Card transactions shaped like IEEE-CIS (Kaggle 2019) with planted fraud patterns and a drift period.

Cards are simulated first (card1–card6, addr1, owner e-mail, usual device, typical amount); legit
purchases follow a daily rhythm and the card's habits, while fraud arrives mostly as velocity
bursts on compromised cards: bigger or round amounts, an unfamiliar device, anonymous e-mail
domains, night hours. From ``DRIFT_START_DAY`` on, prices rise, the device mix changes and the
fraudsters switch to small "card testing" amounts (covariate + concept drift).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_datasets.common import Size, Writer, read_csv, read_json, rng_for, weighted_choice

NAME = "fraud"
SUMMARY = "IEEE-CIS-like card transactions, 3.5% fraud, velocity bursts, a drift period"
MIRRORS = "IEEE-CIS Fraud Detection (Kaggle, Vesta Corporation)"

N_ROWS: dict[str, int] = {"ci": 20_000, "full": 400_000}
N_DAYS = 182
DRIFT_START_DAY = 150  # days [0, 150) are the reference period, [150, 182) the drift period
FRAUD_RATE = {"reference": 0.032, "drift": 0.048}
BURST_SHARE = 0.7  # share of fraud rows that belong to a velocity burst
BURST_EXTRA_MEAN, BURST_GAP_S = 2.5, 240.0  # burst size 2 + Poisson(2.5); gaps 20 s + Exp(240 s)
SPREE_SHARE, SPREE_GAP_S = 0.035, 400.0  # legit sprees: share of anchors, gaps 30 s + Exp(400 s)
FRAUD_AMOUNT_FACTOR, FRAUD_AMOUNT_SD, ROUND_SHARE = 1.7, 0.7, 0.15
FRAUD_KEEPS_EMAIL, FRAUD_KEEPS_DEVICE = 0.45, 0.35  # else drawn from the fraud mixes below
LEGIT_KEEPS_EMAIL, LEGIT_KEEPS_DEVICE = 0.95, 0.92
DRIFT_INFLATION, DRIFT_NEW_PHONE_SHARE, DRIFT_TINY_SHARE = 1.2, 0.25, 0.45
DT_OFFSET = 86_400  # IEEE's TransactionDT starts at one day past its reference date
REFERENCE_DATE = "2017-12-01"  # the date the Kaggle community maps TransactionDT = 0 to
TRANSACTION_ID_START = 2_987_000

PRODUCTS = np.array(["W", "C", "R", "H", "S"])
PRODUCT_P = {"legit": [0.75, 0.10, 0.07, 0.06, 0.02], "fraud_ref": [0.45, 0.33, 0.07, 0.10, 0.05]}
PRODUCT_P["fraud_drift"] = [0.62, 0.10, 0.04, 0.04, 0.20]
PRODUCT_AMOUNT = np.array([1.0, 0.45, 1.6, 0.8, 0.6])  # amount multiplier per product

EMAILS = np.array(
    ["gmail.com", "yahoo.com", "hotmail.com", "anonymous.com", "aol.com", "outlook.com", "comcast.net",
     "icloud.com", "protonmail.com", "mail.com", ""]
)  # fmt: skip
EMAIL_P = {
    "owner": [0.40, 0.17, 0.08, 0.05, 0.05, 0.04, 0.04, 0.03, 0.0, 0.0, 0.14],
    "fraud_ref": [0.33, 0.08, 0.10, 0.18, 0.0, 0.06, 0.0, 0.02, 0.07, 0.07, 0.09],
    "fraud_drift": [0.55, 0.05, 0.08, 0.10, 0.0, 0.06, 0.0, 0.06, 0.05, 0.03, 0.02],
}

DEVICES = np.array(
    [("", ""), ("desktop", "Windows"), ("desktop", "MacOS"), ("desktop", "Trident/7.0"), ("desktop", "Linux"),
     ("desktop", "rv:11.0"), ("mobile", "iOS Device"), ("mobile", "SM-G960U"), ("mobile", "Moto G (5) Plus"),
     ("mobile", "SM-J700M"), ("mobile", "Moto E (4)"), ("mobile", "SM-S911B")]
)  # fmt: skip
DEVICE_P = {
    "legit_ref": [0.36, 0.26, 0.09, 0.04, 0.01, 0.01, 0.15, 0.04, 0.03, 0.005, 0.005, 0.0],
    # new phone model launched, more app traffic, fewer desktops
    "legit_drift": [0.29, 0.14, 0.08, 0.02, 0.01, 0.01, 0.24, 0.04, 0.03, 0.005, 0.005, 0.12],
    "fraud_ref": [0.25, 0.22, 0.06, 0.03, 0.08, 0.05, 0.15, 0.03, 0.03, 0.05, 0.05, 0.0],
    "fraud_drift": [0.15, 0.20, 0.05, 0.02, 0.08, 0.04, 0.20, 0.03, 0.02, 0.06, 0.05, 0.10],
}
# Purchases follow the day; fraudsters (other time zones, bots) much less so.
HOUR_P = {
    "legit": np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 5, 5.5, 6, 6, 5.5, 5.5, 6, 6.5, 7, 7, 6, 5, 3.5, 2]),
    "fraud": np.array([3, 3, 3, 3, 3, 3, 3, 3.5, 4, 4.5, 5, 5, 5.5, 5.5, 5, 5, 5.5, 5.5, 6, 6, 5.5, 5, 4, 3.5]),
}
WEEKDAY_W = np.array([1.0, 0.95, 0.95, 1.0, 1.1, 1.25, 1.2])  # day 0 (2017-12-02) is a Saturday
ROUND_AMOUNTS = np.array([50.0, 100.0, 150.0, 200.0, 250.0, 300.0, 500.0])

COLUMNS = [
    "TransactionID", "isFraud", "TransactionDT", "TransactionAmt", "ProductCD", "card1", "card2", "card3",
    "card4", "card5", "card6", "addr1", "P_emaildomain", "DeviceType", "DeviceInfo",
]  # fmt: skip


@dataclass(frozen=True)
class Cards:
    card1: np.ndarray
    card2: np.ndarray
    card3: np.ndarray
    card4: np.ndarray
    card5: np.ndarray
    card6: np.ndarray
    addr1: np.ndarray
    email: np.ndarray  # index into EMAILS
    device: np.ndarray  # usual device, index into DEVICES
    typical_amount: np.ndarray
    activity: np.ndarray

    def __len__(self) -> int:
        return len(self.card1)


def _cards(rng: np.random.Generator, n: int) -> Cards:
    # (card1, addr1) identifies a card: sampled without replacement so that it is unique.
    has_addr = rng.random(n) > 0.06
    n_addr = int(has_addr.sum())
    pair = rng.choice(17_397 * 441, size=n_addr, replace=False)
    card1 = np.empty(n, dtype=np.int64)
    addr1 = np.full(n, np.nan)
    card1[has_addr] = 1000 + pair // 441
    addr1[has_addr] = 100 + pair % 441
    card1[~has_addr] = 1000 + rng.choice(17_397, size=n - n_addr, replace=False)
    card2 = rng.integers(100, 601, n).astype(float)
    card2[rng.random(n) < 0.015] = np.nan
    return Cards(
        card1=card1,
        card2=card2,
        card3=rng.choice([150, 185, 144, 146, 119], n, p=[0.88, 0.08, 0.02, 0.01, 0.01]),
        card4=rng.choice(["visa", "mastercard", "american express", "discover"], n, p=[0.65, 0.32, 0.015, 0.015]),
        card5=rng.choice([226, 224, 166, 102, 117, 138, 195, 137], n, p=[0.5, 0.14, 0.1, 0.08, 0.06, 0.05, 0.04, 0.03]),
        card6=rng.choice(["debit", "credit"], n, p=[0.75, 0.25]),
        addr1=addr1,
        email=weighted_choice(rng, np.array(EMAIL_P["owner"]), n),
        device=weighted_choice(rng, np.array(DEVICE_P["legit_ref"]), n),
        typical_amount=rng.lognormal(np.log(55.0), 0.7, n),
        activity=rng.lognormal(0.0, 1.0, n),
    )


def _times(rng: np.random.Generator, n: int, day_lo: int, day_hi: int, hour_w: np.ndarray) -> np.ndarray:
    """Seconds since the reference date: weekly rhythm over days, ``hour_w`` within a day."""
    days = np.arange(day_lo, day_hi)
    day = days[weighted_choice(rng, WEEKDAY_W[days % 7] * (1 + 0.002 * days), n)]
    hour = weighted_choice(rng, hour_w, n)
    return DT_OFFSET + day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, n)


def _mix_usual(rng: np.random.Generator, usual: np.ndarray, p_keep: float, p_other: list[float]) -> np.ndarray:
    """Keep the card's usual value with probability ``p_keep``, else draw from ``p_other``."""
    other = weighted_choice(rng, np.array(p_other), len(usual))
    return np.where(rng.random(len(usual)) < p_keep, usual, other)


def _legit(rng: np.random.Generator, cards: Cards, n: int, period: str, day_lo: int, day_hi: int) -> dict:
    # Shopping sprees: 1-4 quick follow-up purchases, so that velocity alone does not mean fraud.
    sizes = rng.integers(1, 5, int(SPREE_SHARE * n))
    n_base = n - int(sizes.sum())
    card = weighted_choice(rng, cards.activity, n_base)
    t = _times(rng, n_base, day_lo, day_hi, HOUR_P["legit"])
    follow = np.repeat(rng.choice(n_base, len(sizes), replace=False), sizes)
    gaps = _cumsum_within(rng.exponential(SPREE_GAP_S, len(follow)).astype(np.int64) + 30, sizes)
    card = np.concatenate([card, card[follow]])
    t = np.concatenate([t, t[follow] + gaps])
    product = weighted_choice(rng, np.array(PRODUCT_P["legit"]), len(card))
    inflation = DRIFT_INFLATION if period == "drift" else 1.0
    usual_device = cards.device
    if period == "drift":  # a quarter of the customers changed their phone or moved to the app
        upgraded = rng.random(len(cards)) < DRIFT_NEW_PHONE_SHARE
        new = weighted_choice(rng, np.array(DEVICE_P["legit_drift"]), len(cards))
        usual_device = np.where(upgraded, new, cards.device)
    amount = cards.typical_amount[card] * PRODUCT_AMOUNT[product] * rng.lognormal(0.0, 0.5, len(card)) * inflation
    return {
        "card": card,
        "t": t,
        "amount": amount,
        "product": product,
        "email": _mix_usual(rng, cards.email[card], LEGIT_KEEPS_EMAIL, EMAIL_P["owner"]),
        "device": _mix_usual(rng, usual_device[card], LEGIT_KEEPS_DEVICE, DEVICE_P[f"legit_{period}"]),
        "fraud": np.zeros(len(card), dtype=np.int8),
    }


def _fraud(rng: np.random.Generator, cards: Cards, n: int, period: str, day_lo: int, day_hi: int) -> dict:
    # Bursts: several rows on one compromised card, a few minutes apart.
    sizes = 2 + rng.poisson(BURST_EXTRA_MEAN, max(1, int(BURST_SHARE * n / (2 + BURST_EXTRA_MEAN))))
    sizes = sizes[: np.searchsorted(sizes.cumsum(), int(BURST_SHARE * n), side="right")]
    n_single = n - int(sizes.sum())
    starts = _times(rng, len(sizes) + n_single, day_lo, day_hi, HOUR_P["fraud"])
    victims = rng.integers(0, len(cards), len(sizes) + n_single)
    burst = np.repeat(np.arange(len(sizes)), sizes)
    first = np.repeat(sizes.cumsum() - sizes, sizes)
    gaps = rng.exponential(BURST_GAP_S, len(burst)).astype(np.int64) + 20
    gaps[np.arange(len(burst)) == first] = 0
    offsets = _cumsum_within(gaps, sizes)
    card = np.concatenate([victims[burst], victims[len(sizes) :]])
    t = np.concatenate([starts[burst] + offsets, starts[len(sizes) :]])
    m = len(card)
    product = weighted_choice(rng, np.array(PRODUCT_P[f"fraud_{period}"]), m)
    factor = rng.lognormal(np.log(FRAUD_AMOUNT_FACTOR), FRAUD_AMOUNT_SD, m)
    amount = cards.typical_amount[card] * PRODUCT_AMOUNT[product] * factor
    round_ = rng.random(m) < ROUND_SHARE
    amount[round_] = rng.choice(ROUND_AMOUNTS, int(round_.sum()))
    if period == "drift":  # card testing: many tiny amounts
        tiny = rng.random(m) < DRIFT_TINY_SHARE
        amount[tiny] = rng.uniform(0.5, 5.0, int(tiny.sum()))
    return {
        "card": card,
        "t": t,
        "amount": amount,
        "product": product,
        "email": _mix_usual(rng, cards.email[card], FRAUD_KEEPS_EMAIL, EMAIL_P[f"fraud_{period}"]),
        "device": _mix_usual(rng, cards.device[card], FRAUD_KEEPS_DEVICE, DEVICE_P[f"fraud_{period}"]),
        "fraud": np.ones(m, dtype=np.int8),
    }


def _cumsum_within(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each group of consecutive ``sizes``."""
    total = values.cumsum()
    group_start = np.repeat(total[sizes.cumsum() - sizes] - values[sizes.cumsum() - sizes], sizes)
    return total - group_start


def simulate(size: Size) -> pd.DataFrame:
    """The transactions table (IEEE-CIS column names), sorted by TransactionDT: a fresh copy of a
    per-size cache, because `events` replays the same rows."""
    return _transactions(size).copy()


def clear_cache() -> None:
    _transactions.cache_clear()


@lru_cache(maxsize=2)
def _transactions(size: Size) -> pd.DataFrame:
    n_rows = N_ROWS[size]
    cards = _cards(rng_for(NAME, size, "cards"), n_rows // 10)
    parts = []
    periods = {"reference": (0, DRIFT_START_DAY), "drift": (DRIFT_START_DAY, N_DAYS)}
    for period, (lo, hi) in periods.items():
        rng = rng_for(NAME, size, period)
        n = round(n_rows * (hi - lo) / N_DAYS)
        n_fraud = round(n * FRAUD_RATE[period])
        key = "ref" if period == "reference" else "drift"
        parts.append(_legit(rng, cards, n - n_fraud, key, lo, hi))
        parts.append(_fraud(rng, cards, n_fraud, key, lo, hi))
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((cols["card"], cols["t"]))  # by time; ties broken by card, deterministically
    c = cols["card"][order]
    device = DEVICES[cols["device"][order]]
    frame = pd.DataFrame(
        {
            "TransactionID": TRANSACTION_ID_START + np.arange(len(order)),
            "isFraud": cols["fraud"][order],
            "TransactionDT": cols["t"][order],
            "TransactionAmt": np.round(cols["amount"][order], 2),
            "ProductCD": PRODUCTS[cols["product"][order]],
            "card1": cards.card1[c],
            "card2": cards.card2[c],
            "card3": cards.card3[c],
            "card4": cards.card4[c],
            "card5": cards.card5[c],
            "card6": cards.card6[c],
            "addr1": cards.addr1[c],
            "P_emaildomain": EMAILS[cols["email"][order]],
            "DeviceType": device[:, 0],
            "DeviceInfo": device[:, 1],
        }
    )
    return frame.replace({"P_emaildomain": {"": None}, "DeviceType": {"": None}, "DeviceInfo": {"": None}})


def drift_start_dt() -> int:
    return DT_OFFSET + DRIFT_START_DAY * 86_400


def generate(size: Size, out: Writer) -> None:
    tx = simulate(size)
    out.csv("transactions.csv", tx, decimals={"TransactionAmt": 2, "card2": 0, "addr1": 0})
    drift = tx["TransactionDT"] >= drift_start_dt()
    out.planted(
        {
            "rows": len(tx),
            "cards": int(tx.groupby(["card1", "addr1"], dropna=False).ngroups),
            "fraud_rate": round(float(tx["isFraud"].mean()), 5),
            "fraud_rate_by_period": {
                "reference": round(float(tx.loc[~drift, "isFraud"].mean()), 5),
                "drift": round(float(tx.loc[drift, "isFraud"].mean()), 5),
            },
            "reference_date": REFERENCE_DATE,
            "transaction_dt_offset_s": DT_OFFSET,
            "periods": {
                "reference": {"days": [0, DRIFT_START_DAY], "TransactionDT": [DT_OFFSET, drift_start_dt()]},
                "drift": {
                    "days": [DRIFT_START_DAY, N_DAYS],
                    "TransactionDT": [drift_start_dt(), DT_OFFSET + N_DAYS * 86_400],
                },
            },
            "suggested_split_days": {"train": [0, 120], "valid": [120, 150], "drift_test": [150, 182]},
            "signals": {
                "burst_share_of_fraud": BURST_SHARE,
                "burst_size": f"2 + Poisson({BURST_EXTRA_MEAN}) rows, gaps 20 s + Exp(mean {BURST_GAP_S:.0f} s)",
                "legit_sprees": f"{SPREE_SHARE:.1%} of legit rows start a spree of 1-4 more purchases, "
                f"gaps 30 s + Exp(mean {SPREE_GAP_S:.0f} s)",
                "fraud_amount": f"card's typical x lognormal(log {FRAUD_AMOUNT_FACTOR}, sd {FRAUD_AMOUNT_SD}); "
                f"{ROUND_SHARE:.0%} round amounts 50..500",
                "fraud_device": f"{1 - FRAUD_KEEPS_DEVICE:.0%} drawn from a fraud device mix (more Linux, rv:11.0, "
                f"SM-J700M, Moto E (4)); legit keeps the card's device {LEGIT_KEEPS_DEVICE:.0%} of the time",
                "fraud_email": f"{1 - FRAUD_KEEPS_EMAIL:.0%} drawn from a fraud mix (anonymous.com, protonmail.com, "
                "mail.com over-represented)",
                "fraud_hours": "flatter over the day, more at night, than daytime legit purchases",
                "fraud_product": "ProductCD C over-represented (33% of fraud vs 10% of legit)",
                "drift": f"legit amounts x{DRIFT_INFLATION}, {DRIFT_NEW_PHONE_SHARE:.0%} of customers on a new device "
                f"(new DeviceInfo SM-S911B, more iOS); fraud: {DRIFT_TINY_SHARE:.0%} tiny amounts 0.5-5 "
                "(card testing), ProductCD W/S, gmail.com; fraud rate "
                f"{FRAUD_RATE['reference']:.1%} -> {FRAUD_RATE['drift']:.1%}",
            },
        }
    )


def load(directory: Path) -> dict[str, Any]:
    return {
        "transactions": read_csv(directory / "transactions.csv"),
        "planted": read_json(directory / "planted.json"),
    }
