"""Events: one per transaction plus duplicates; late and out-of-order arrivals; schema v1 -> v2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
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
    lines = (ci_dir / "ci" / "events" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    versions = [r["schema_version"] for r in records]
    assert 0.15 <= versions.count(2) / len(records) <= 0.35
    validators = {v: jsonschema.Draft202012Validator(schemas[v]) for v in (1, 2)}
    payloads = [{k: v for k, v in r.items() if k != "arrival_time"} for r in records]
    for payload in payloads[::37]:  # a spread-out sample of both versions
        validators[payload["schema_version"]].validate(payload)
    # A v2 record breaks the v1 contract (renamed field), and a v1 record breaks v2.
    first_v2 = versions.index(2)
    assert not validators[1].is_valid({**payloads[first_v2], "schema_version": 1})
    assert not validators[2].is_valid({**payloads[0], "schema_version": 2})
    # The cutover is by arrival: after the first v2 record, v1 appears only as retries of older ones.
    seen_before = {r["event_id"] for r in records[:first_v2]}
    assert all(r["event_id"] in seen_before for r in records[first_v2:] if r["schema_version"] == 1)


def test_labels_arrive_after_the_events(ev: dict[str, Any]) -> None:
    labels, stream = ev["labels"], ev["events"].drop_duplicates("event_id")
    merged = labels.merge(stream[["transaction_id", "event_time"]], on="transaction_id", validate="one_to_one")
    delay_days = (merged["label_time"] - merged["event_time"]).dt.total_seconds() / 86_400
    assert (delay_days >= 1).all()
    assert 0.03 <= labels["is_fraud"].mean() <= 0.04
