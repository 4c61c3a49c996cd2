"""Data-engineering helpers for the Module 20 lab: the card-payment events as Kafka payloads, a paced
replay into a topic, latency summaries, and the planted faults (train-serve skew, stale snapshot
rows, bad records) whose answers are known exactly, so detectors can be graded against them.

Kafka work goes through confluent-kafka against the real broker; topic deletion reuses
`labkit.streaming`. Nothing here computes the lab's features: the lab's exercises do.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

V1_FIELDS = (
    "event_id",
    "schema_version",
    "event_time",
    "key",
    "transaction_id",
    "amount",
    "product_cd",
    "card_type",
    "email_domain",
    "device_type",
    "device_info",
)
V2_FIELDS = (*("payer_email_domain" if f == "email_domain" else f for f in V1_FIELDS), "channel")
PRODUCTS = ("W", "C", "R", "H", "S")
DEFECT_KINDS = (
    "null_amount",
    "negative_amount",
    "huge_amount",
    "null_key",
    "unknown_product",
    "future_event_time",
)


def iso_ms(ts: pd.Timestamp) -> str:
    """ISO-8601 UTC with milliseconds and a Z, the format of the events data set."""
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return iso_ms(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def event_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """The record a producer sends for one events row: its schema version's fields, JSON-ready.

    `arrival_time` is not part of the payload (the broker stamps its own time).
    """
    fields = V2_FIELDS if int(row["schema_version"]) == 2 else V1_FIELDS
    return {name: _clean(row.get(name)) for name in fields}


def recreate_topic(bootstrap: str, topic: str, partitions: int = 3, timeout: float = 30.0) -> None:
    """Delete `topic` if it exists, create it empty with `partitions`, wait until the metadata shows them."""
    from confluent_kafka.admin import NewTopic

    from labkit.streaming import admin_client, delete_topics, wait_until

    admin = admin_client(bootstrap)
    delete_topics(admin, [topic], timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:  # a delete finishing on the controller can make an immediate create fail: retry
        future = admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=timeout)[topic]
        try:
            future.result(timeout)
            break
        except Exception as exc:  # KafkaException: TOPIC_ALREADY_EXISTS while the delete settles
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not create {topic}: {exc}") from None
            time.sleep(0.5)

    def ready() -> bool:
        md = admin.list_topics(topic, timeout=5).topics.get(topic)
        return md is not None and md.error is None and len(md.partitions) == partitions

    wait_until(ready, timeout, f"topic {topic} with {partitions} partitions")


@dataclass
class Replay:
    """Produce payloads to a topic at a steady rate from a background thread.

    Each record is keyed by the payload's `key`; its Kafka timestamp is the wall-clock time of the
    `produce` call (CreateTime), so a consumer can measure end-to-end latency against it.
    """

    bootstrap: str
    topic: str
    payloads: Sequence[Mapping[str, Any]]
    rate: float = 2000.0  # records per second
    produced: int = 0
    delivered: int = 0
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    _thread: threading.Thread | None = None

    def start(self) -> Replay:
        self._thread = threading.Thread(target=self._run, name=f"replay-{self.topic}", daemon=True)
        self._thread.start()
        return self

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(str(err))
        else:
            self.delivered += 1

    def _run(self) -> None:
        from confluent_kafka import Producer

        from labkit.streaming import _quiet

        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "linger.ms": 5,
                "acks": "all",
                "enable.idempotence": True,
                "partitioner": "murmur2_random",
                "allow.auto.create.topics": False,
                "logger": _quiet,
            }
        )
        self.started = time.time()
        try:
            for i, payload in enumerate(self.payloads):
                due = self.started + i / self.rate
                pause = due - time.time()
                if pause > 0:
                    time.sleep(pause)
                producer.produce(
                    self.topic,
                    key=str(payload["key"]).encode(),
                    value=json.dumps(payload).encode(),
                    on_delivery=self._on_delivery,
                )
                self.produced += 1
                producer.poll(0)
            producer.flush(30)
        except Exception as exc:  # surfaced by join(): a replay thread must not die silently
            self.errors.append(repr(exc))
        self.finished = time.time()

    def join(self, timeout: float = 60.0) -> Replay:
        """Wait for the replay to finish and raise if any record was not delivered."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"replay into {self.topic} still running after {timeout:.0f} s")
        if self.errors:
            raise RuntimeError(f"replay into {self.topic}: {len(self.errors)} errors, first: {self.errors[0]}")
        return self


def latency_summary(values: Iterable[float]) -> dict[str, float]:
    """count, p50, p95, p99 and max of a set of latencies (same unit in, same unit out)."""
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        return {"count": 0.0, "p50": math.nan, "p95": math.nan, "p99": math.nan, "max": math.nan}
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {"count": float(arr.size), "p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(arr.max())}


# --------------------------------------------------------------------------- planted faults


def online_features_with_skew(events: pd.DataFrame) -> pd.DataFrame:
    """What a (buggy) online feature service serves per card: tx_count, amount_sum, last_event_time.

    Two differences from the offline definition, one harmful and one not:
    - it does not drop producer retries (records repeating an `event_id`), so cards with a retry
      are over-counted: real train-serve skew;
    - its store keeps `amount_sum` as float32: relative error ~1e-7, harmless at any sane tolerance.
    """
    grouped = events.groupby("key")
    online = pd.DataFrame(
        {
            "tx_count": grouped["event_id"].size().astype("int64"),
            "amount_sum": grouped["amount"].sum().astype(np.float32).astype(float),
            "last_event_time": grouped["event_time"].max(),
        }
    )
    online.index.name = "key"
    return online


def plant_stale_rows(
    fresh: pd.DataFrame,
    old: pd.DataFrame,
    fresh_ts: pd.Timestamp,
    old_ts: pd.Timestamp,
    n: int,
    seed: int = 20,
) -> tuple[pd.DataFrame, set[str]]:
    """An online-store snapshot where `n` keys (present in both runs) still hold an old run's rows.

    Every row gets `feature_ts` = the cut-off its values were computed at and `written_at` = when the
    snapshot was written (`fresh_ts` for all rows: a copy job re-wrote the old values too).
    Returns the snapshot and the stale keys.
    """
    common = sorted(set(fresh.index) & set(old.index))
    if n > len(common):
        raise ValueError(f"only {len(common)} keys are in both runs, cannot plant {n}")
    rng = np.random.default_rng(seed)
    stale = set(rng.choice(common, size=n, replace=False).tolist())
    snap = fresh.copy()
    snap["feature_ts"] = fresh_ts
    rows = old.loc[sorted(stale)].copy()
    rows["feature_ts"] = old_ts
    snap.loc[rows.index, rows.columns] = rows
    snap["feature_ts"] = pd.to_datetime(snap["feature_ts"], utc=True)
    snap["written_at"] = pd.Timestamp(fresh_ts)
    return snap, stale


def plant_event_defects(
    events: pd.DataFrame, per_kind: int = 5, seed: int = 20
) -> tuple[pd.DataFrame, dict[str, set[str]]]:
    """A copy of an events batch with `per_kind` records broken in each of `DEFECT_KINDS`.

    Every broken record has exactly one defect; returns the batch and kind -> broken event_ids.
    Nullable fields (device, e-mail domain) are left as they are: their nulls are legitimate.
    """
    need = per_kind * len(DEFECT_KINDS)
    if need > len(events):
        raise ValueError(f"batch has {len(events)} rows, {need} needed")
    dirty = events.copy().reset_index(drop=True)
    dirty["amount"] = dirty["amount"].astype(float)
    dirty["key"] = dirty["key"].astype(object)
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(dirty), size=need, replace=False)
    planted: dict[str, set[str]] = {}
    for k, kind in enumerate(DEFECT_KINDS):
        idx = rows[k * per_kind : (k + 1) * per_kind]
        planted[kind] = set(dirty.loc[idx, "event_id"])
        if kind == "null_amount":
            dirty.loc[idx, "amount"] = np.nan
        elif kind == "negative_amount":
            dirty.loc[idx, "amount"] = -dirty.loc[idx, "amount"].abs()
        elif kind == "huge_amount":
            dirty.loc[idx, "amount"] = 1e7  # a cents/dollars unit mix-up upstream
        elif kind == "null_key":
            dirty.loc[idx, "key"] = None
        elif kind == "unknown_product":
            dirty.loc[idx, "product_cd"] = "X"
        elif kind == "future_event_time":
            dirty.loc[idx, "event_time"] = dirty.loc[idx, "arrival_time"] + pd.Timedelta(days=3)
    return dirty, planted
