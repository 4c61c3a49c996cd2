"""The fraud transactions as a keyed event stream, in arrival order, with the usual stream troubles.

Each transaction becomes one event keyed by its card. Events arrive after a small network delay;
a few arrive late (minutes to hours, past a typical watermark) and so out of order, some are
delivered twice (producer retries: same ``event_id``), and partway through the producer is
upgraded to schema v2 (one field renamed, one added). Chargeback labels arrive days later in a
second stream, for delayed-feedback exercises.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_datasets import fraud
from mlops_datasets.common import Size, Writer, epoch_day, iso_millis, read_json, read_jsonl, rng_for

NAME = "events"
SUMMARY = "the fraud transactions as keyed events: late, out-of-order, duplicated, schema v1 -> v2"
MIRRORS = "a Kafka topic of card payments (Vesta/IEEE-CIS transactions replayed as events)"

LATE_SHARE = 0.03  # delayed 2-60 min
VERY_LATE_SHARE = 0.005  # delayed 1-6 h
DUPLICATE_SHARE = 0.015
V2_CUTOVER_QUANTILE = 0.75  # producers switch to v2 after 75% of the stream's arrival span
SUGGESTED_WATERMARK_S = 60

V1_FIELDS = {
    "event_id": "string",
    "schema_version": "integer",
    "event_time": "string",
    "key": "string",
    "transaction_id": "integer",
    "amount": "number",
    "product_cd": "string",
    "card_type": "string",
    "email_domain": ["string", "null"],
    "device_type": ["string", "null"],
    "device_info": ["string", "null"],
}
V2_RENAMED = {"email_domain": "payer_email_domain"}
V2_ADDED = {"channel": "string"}  # "web", "app" or "unknown", derived from the device


def _schema(version: int) -> dict[str, Any]:
    fields = {V2_RENAMED.get(k, k) if version == 2 else k: v for k, v in V1_FIELDS.items()}
    if version == 2:
        fields.update(V2_ADDED)
    props: dict[str, Any] = {k: {"type": v} for k, v in fields.items()}
    props["schema_version"] = {"const": version}
    props["event_time"] = {"type": "string", "format": "date-time"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:mlops-course:card-payment:v{version}",
        "title": f"card payment event, schema v{version}",
        "type": "object",
        "properties": props,
        "required": sorted(fields),
        "additionalProperties": False,
    }


def _event_ids(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.bytes(16 * n)
    return [str(uuid.UUID(bytes=raw[16 * i : 16 * i + 16], version=4)) for i in range(n)]


def _stream(size: Size) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    tx = fraud.simulate(size)
    rng = rng_for(NAME, size, "stream")
    n = len(tx)
    base_ms = epoch_day(fraud.REFERENCE_DATE) * 86_400_000
    event_ms = base_ms + tx["TransactionDT"].to_numpy() * 1000 + rng.integers(0, 1000, n)
    delay_ms = (200 + rng.lognormal(np.log(800.0), 0.8, n)).astype(np.int64)
    u = rng.random(n)
    late = u < LATE_SHARE
    very_late = (u >= LATE_SHARE) & (u < LATE_SHARE + VERY_LATE_SHARE)
    delay_ms[late] = rng.integers(120_000, 3_600_000, int(late.sum()))
    delay_ms[very_late] = rng.integers(3_600_000, 21_600_000, int(very_late.sum()))
    addr = tx["addr1"].to_numpy()
    addr_s = np.where(np.isnan(addr), "na", np.char.mod("%d", np.nan_to_num(addr).astype(np.int64)))
    events = pd.DataFrame(
        {
            "event_id": _event_ids(rng, n),
            "event_ms": event_ms,
            "arrival_ms": event_ms + delay_ms,
            "key": np.char.add(np.char.mod("card-%d-", tx["card1"].to_numpy()), addr_s),
            "transaction_id": tx["TransactionID"].to_numpy(),
            "amount": tx["TransactionAmt"].to_numpy(),
            "product_cd": tx["ProductCD"].to_numpy(),
            "card_type": tx["card4"].to_numpy(),
            "email_domain": tx["P_emaildomain"].to_numpy(),
            "device_type": tx["DeviceType"].to_numpy(),
            "device_info": tx["DeviceInfo"].to_numpy(),
            "is_fraud": tx["isFraud"].to_numpy(),
        }
    )
    cutover_ms = int(np.quantile(events["arrival_ms"], V2_CUTOVER_QUANTILE))
    events["schema_version"] = np.where(events["arrival_ms"] >= cutover_ms, 2, 1)
    # Retries re-send the identical record, so the copy keeps the original's schema version.
    dup = events.loc[np.sort(rng.choice(n, int(DUPLICATE_SHARE * n), replace=False))].copy()
    dup["arrival_ms"] += rng.integers(100, 30_000, len(dup))
    stream = pd.concat([events, dup], ignore_index=True)
    stream = stream.sort_values(["arrival_ms", "event_id"], kind="stable", ignore_index=True)
    # Chargebacks come 1-60 days after a fraud; a legit payment is confirmed when the 60-day window closes.
    label_delay_days = np.where(events["is_fraud"] == 1, rng.uniform(1, 60, n), 60.0)
    labels = pd.DataFrame(
        {
            "transaction_id": events["transaction_id"],
            "key": events["key"],
            "label_ms": events["event_ms"] + (label_delay_days * 86_400_000).astype(np.int64),
            "is_fraud": events["is_fraud"],
        }
    ).sort_values(["label_ms", "transaction_id"], kind="stable", ignore_index=True)
    behind = stream["event_ms"].to_numpy() < np.maximum.accumulate(stream["event_ms"].to_numpy())
    info = {
        "events": n,
        "records": len(stream),
        "duplicates": len(dup),
        "late_2min_60min": int(late.sum()),
        "very_late_1h_6h": int(very_late.sum()),
        "out_of_order_records": int(behind.sum()),
        "v2_cutover_arrival_time": str(iso_millis(np.array([cutover_ms]))[0]),
        "v2_records": int((stream["schema_version"] == 2).sum()),
        "suggested_watermark_s": SUGGESTED_WATERMARK_S,
        "v2_changes": {"renamed": V2_RENAMED, "added": V2_ADDED},
    }
    return stream, labels, info


def _records(stream: pd.DataFrame) -> list[dict[str, Any]]:
    event_time = iso_millis(stream["event_ms"].to_numpy())
    arrival_time = iso_millis(stream["arrival_ms"].to_numpy())
    channel = np.where(
        stream["device_type"].isna(), "unknown", np.where(stream["device_type"] == "mobile", "app", "web")
    )
    cols = ["event_id", "key", "transaction_id", "amount", "product_cd", "card_type"]
    cols += ["email_domain", "device_type", "device_info", "schema_version"]
    records = []
    for i, row in enumerate(stream[cols].itertuples(index=False)):
        rec = dict(zip(cols, row, strict=True))
        rec = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in rec.items()}
        rec["event_time"] = event_time[i]
        rec["arrival_time"] = arrival_time[i]
        if rec["schema_version"] == 2:
            rec["payer_email_domain"] = rec.pop("email_domain")
            rec["channel"] = channel[i]
        records.append(rec)
    return records


def generate(size: Size, out: Writer) -> None:
    stream, labels, info = _stream(size)
    out.jsonl("events.jsonl", _records(stream))
    out.jsonl(
        "labels.jsonl",
        (
            {"transaction_id": t, "key": k, "label_time": lt, "is_fraud": f}
            for t, k, lt, f in zip(
                labels["transaction_id"], labels["key"], iso_millis(labels["label_ms"].to_numpy()),
                labels["is_fraud"], strict=True,
            )
        ),
    )  # fmt: skip
    out.json("schema_v1.json", _schema(1))
    out.json("schema_v2.json", _schema(2))
    out.planted(info)


def load(directory: Path) -> dict[str, Any]:
    events = read_jsonl(directory / "events.jsonl")
    for col in ("event_time", "arrival_time"):
        events[col] = pd.to_datetime(events[col], utc=True)
    labels = read_jsonl(directory / "labels.jsonl")
    labels["label_time"] = pd.to_datetime(labels["label_time"], utc=True)
    return {
        "events": events,
        "labels": labels,
        "schemas": {1: read_json(directory / "schema_v1.json"), 2: read_json(directory / "schema_v2.json")},
        "planted": read_json(directory / "planted.json"),
    }
