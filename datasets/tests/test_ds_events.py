"""Events: one per transaction plus duplicates; late and out-of-order arrivals; schema v1 -> v2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pytest
from mlops_datasets import events, load


@pytest.fixture(scope="module")
def ev(ci_dir: Path) -> dict[str, Any]:
    return load("events", "ci", ci_dir)


def test_every_transaction_is_an_event_keyed_by_card(ev: dict[str, Any], ci_dir: Path) -> None:
    tx = load("fraud", "ci", ci_dir)["transactions"]
    stream = ev["events"]
    assert set(stream["transaction_id"]) == set(tx["TransactionID"])
    assert stream.groupby("event_id")["transaction_id"].nunique().max() == 1
    assert stream["key"].str.fullmatch(r"card-\d+-(\d+|na)").all()
    # One key per card: all rows of a card share it.
    keys = tx.set_index("TransactionID")["card1"].reindex(stream["transaction_id"]).to_numpy()
    assert (stream["key"].str.split("-").str[1].astype(int).to_numpy() == keys).all()


def test_duplicates_for_idempotency(ev: dict[str, Any]) -> None:
    stream = ev["events"]
    dup_share = stream["event_id"].duplicated().mean()
    assert 0.01 <= dup_share <= 0.02
    dups = stream[stream["event_id"].duplicated(keep=False)].sort_values(["event_id", "arrival_time"])
    payload = [c for c in stream.columns if c != "arrival_time"]
    assert dups.groupby("event_id")[payload].nunique(dropna=False).max().max() == 1, "retries must be identical"


def test_late_and_out_of_order_arrivals(ev: dict[str, Any]) -> None:
    stream = ev["events"]
    assert stream["arrival_time"].is_monotonic_increasing, "file order is arrival order"
    lateness = (stream["arrival_time"] - stream["event_time"]).dt.total_seconds()
    assert (lateness > 0).all()
    late_share = (lateness > events.SUGGESTED_WATERMARK_S).mean()
    assert 0.02 <= late_share <= 0.05
    behind = stream["event_time"] < stream["event_time"].cummax()
    assert behind.mean() > 0.02 and behind.sum() == ev["planted"]["out_of_order_records"]


def test_schema_v2_renames_and_adds_a_field(ev: dict[str, Any], ci_dir: Path) -> None:
    schemas = ev["schemas"]
    raw = pd.read_json(ci_dir / "ci" / "events" / "events.jsonl", lines=True, dtype=False)
    v1, v2 = raw[raw["schema_version"] == 1], raw[raw["schema_version"] == 2]
    assert 0.15 <= len(v2) / len(raw) <= 0.35
    for version, part in ((1, v1), (2, v2)):
        validator = jsonschema.Draft202012Validator(schemas[version])
        for rec in part.sample(300, random_state=0).to_dict("records"):
            rec = {k: v for k, v in rec.items() if k != "arrival_time" and not (isinstance(v, float) and v != v)}
            rec.update({k: None for k in schemas[version]["required"] if k not in rec})
            validator.validate(rec)
    # A v2 record breaks the v1 contract (renamed field) and vice versa.
    v2_rec = {k: v for k, v in v2.iloc[0].to_dict().items() if k != "arrival_time" and k in schemas[2]["properties"]}
    assert not jsonschema.Draft202012Validator(schemas[1]).is_valid(v2_rec)
    # The cutover is by arrival: apart from retries of old records, no v1 after the first v2.
    first_v2 = raw.index[raw["schema_version"] == 2][0]
    late_v1 = raw.loc[first_v2:][raw.loc[first_v2:, "schema_version"] == 1]
    assert late_v1["event_id"].isin(raw.loc[: first_v2 - 1, "event_id"]).all()


def test_labels_arrive_after_the_events(ev: dict[str, Any]) -> None:
    labels, stream = ev["labels"], ev["events"].drop_duplicates("event_id")
    merged = labels.merge(stream[["transaction_id", "event_time"]], on="transaction_id", validate="one_to_one")
    delay_days = (merged["label_time"] - merged["event_time"]).dt.total_seconds() / 86_400
    assert (delay_days >= 1).all()
    assert 0.03 <= labels["is_fraud"].mean() <= 0.04
