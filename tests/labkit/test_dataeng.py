"""labkit.dataeng: payloads, latency summaries and the planted faults (no broker needed).

The Kafka-facing parts (`recreate_topic`, `Replay`) run for real in the Module 20 lab.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from labkit import dataeng


def _events(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    arrival = pd.Timestamp("2018-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 60, unit="s")
    frame = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "schema_version": 1,
            "event_time": arrival - pd.Timedelta(seconds=1),
            "arrival_time": arrival,
            "key": [f"card-{i % 7}-na" for i in range(n)],
            "transaction_id": np.arange(n),
            "amount": rng.uniform(1, 500, n).round(2),
            "product_cd": "W",
            "card_type": "visa",
            "email_domain": [None if i % 3 else "gmail.com" for i in range(n)],
            "device_type": None,
            "device_info": None,
        }
    )
    return frame


def test_event_payload_is_json_ready_and_versioned() -> None:
    row = _events().iloc[0].to_dict()
    payload = dataeng.event_payload(row)
    assert set(payload) == set(dataeng.V1_FIELDS)
    assert "arrival_time" not in payload
    assert payload["event_time"] == "2017-12-31T23:59:59.000Z"
    assert isinstance(payload["transaction_id"], int)
    json.dumps(payload)  # no numpy or pandas types left

    v2 = {**row, "schema_version": 2, "payer_email_domain": float("nan"), "channel": "web"}
    payload = dataeng.event_payload(v2)
    assert set(payload) == set(dataeng.V2_FIELDS)
    assert payload["payer_email_domain"] is None and payload["channel"] == "web"


def test_latency_summary() -> None:
    summary = dataeng.latency_summary(range(1, 101))
    assert summary["count"] == 100
    assert summary["p50"] == pytest.approx(50.5)
    assert summary["max"] == 100
    assert summary["p50"] <= summary["p95"] <= summary["p99"] <= summary["max"]
    assert math.isnan(dataeng.latency_summary([])["p50"])


def test_online_features_skew_only_where_retries_are() -> None:
    events = _events()
    retried = pd.concat([events, events.iloc[[3]]], ignore_index=True)  # one producer retry
    online = dataeng.online_features_with_skew(retried)
    offline = events.groupby("key").agg(tx_count=("event_id", "size"), amount_sum=("amount", "sum"))
    card = events.loc[3, "key"]
    assert online.loc[card, "tx_count"] == offline.loc[card, "tx_count"] + 1
    others = offline.index != card
    assert (online.loc[others, "tx_count"].to_numpy() == offline.loc[others, "tx_count"].to_numpy()).all()
    # the float32 store is off by ~1e-7 relative: not equal, but within any sane tolerance
    assert np.allclose(online.loc[others, "amount_sum"], offline.loc[others, "amount_sum"], rtol=1e-6, atol=0)


def test_plant_stale_rows() -> None:
    events = _events()
    fresh = dataeng.online_features_with_skew(events)
    old = dataeng.online_features_with_skew(events.iloc[:30])
    t_new, t_old = pd.Timestamp("2018-01-02", tz="UTC"), pd.Timestamp("2017-12-25", tz="UTC")
    snap, stale = dataeng.plant_stale_rows(fresh, old, t_new, t_old, n=3, seed=1)
    assert len(stale) == 3 and stale <= set(fresh.index)
    assert set(snap.index[snap["feature_ts"] == t_old]) == stale
    assert (snap["written_at"] == t_new).all()
    for key in stale:
        assert snap.loc[key, "tx_count"] == old.loc[key, "tx_count"]
    with pytest.raises(ValueError):
        dataeng.plant_stale_rows(fresh, old, t_new, t_old, n=100)


def test_plant_event_defects_one_defect_per_record() -> None:
    events = _events()
    dirty, planted = dataeng.plant_event_defects(events, per_kind=2, seed=3)
    assert set(planted) == set(dataeng.DEFECT_KINDS)
    ids = [i for kind in planted.values() for i in kind]
    assert len(ids) == len(set(ids)) == 2 * len(dataeng.DEFECT_KINDS)
    by_id = dirty.set_index("event_id")
    assert by_id.loc[list(planted["null_amount"]), "amount"].isna().all()
    assert (by_id.loc[list(planted["negative_amount"]), "amount"] < 0).all()
    assert (by_id.loc[list(planted["huge_amount"]), "amount"] > 10_000).all()
    assert by_id.loc[list(planted["null_key"]), "key"].isna().all()
    assert (by_id.loc[list(planted["unknown_product"]), "product_cd"] == "X").all()
    future = by_id.loc[list(planted["future_event_time"])]
    assert (future["event_time"] > future["arrival_time"]).all()
    untouched = by_id.drop(ids)
    assert untouched["amount"].between(0, 10_000, inclusive="neither").all()
    # the legitimately nullable fields keep their nulls: they are not defects
    assert untouched["email_domain"].isna().sum() == events.set_index("event_id").drop(ids)["email_domain"].isna().sum()
    with pytest.raises(ValueError):
        dataeng.plant_event_defects(events.head(5), per_kind=2)
