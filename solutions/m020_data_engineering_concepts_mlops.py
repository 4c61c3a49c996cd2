# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 20 — Data engineering concepts for MLOps
#
# **Where this sits:** the first module of the data-engineering part. The fraud model of the
# course's running project is only as good as the features it is fed, and features are data
# pipelines: someone lands the raw card payments, computes per-card aggregates for training
# (batch) and for live scoring (streaming), keeps the two in agreement, evolves the event schema
# without breaking readers, and stops bad data before the model sees it. That someone is the
# data engineer; Modules 21–24 go deep on Kafka, Spark, windowing and data quality, and this lab
# puts the ideas side by side on one small, real pipeline.
#
# **You will:**
# 1. land the raw payment events in a *data lake* (Parquet, partitioned) and see ETL vs ELT;
# 2. compute the same per-card feature in **batch** (pandas over the lake) and in **streaming**
#    (a confluent-kafka consumer updating per-card state as events arrive through a real Kafka
#    topic), and prove they agree at the same cut-off;
# 3. measure **latency, throughput and freshness** of both and read the trade-off;
# 4. evolve the event **schema** from v1 to v2 under a **BACKWARD** compatibility rule, and see a
#    breaking change rejected;
# 5. plant and detect the classic pitfalls: **train–serve skew**, **stale features**, and
#    **poor data quality** stopped by a gate.
#
# The data is the `events` set: the fraud transactions replayed as a stream of card-payment
# events, in arrival order, with what real streams have: retries (the same `event_id` twice),
# late and out-of-order events, and a producer upgrade to schema v2 (`datasets/cards/events.md`).

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")

# %% [markdown]
# ## Setup
# Every resource is named from `RUN_ID` (topic, consumer groups, the lake directory), so a rerun
# starts clean and classmates on a shared broker never collide.

# %% locked=true
import json
import shutil
import sqlite3
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from confluent_kafka import Consumer, TopicPartition

from labkit import dataeng, labenv, streaming
from mlops_datasets import load

labenv.configure(DATA_DIR)
streaming.quiet_client_logs()
NAME = labenv.resource_name("m020", RUN_ID)
WORK = Path("m020-work") / NAME
shutil.rmtree(WORK, ignore_errors=True)
WORK.mkdir(parents=True)
TOPIC = f"{NAME}-payments"
GROUP = f"{NAME}-features"
BACKFILL_GROUP = f"{NAME}-backfill"
ADMIN = streaming.admin_client(KAFKA_BOOTSTRAP)
streaming.delete_groups(ADMIN, [GROUP, BACKFILL_GROUP])

events = load("events")["events"]
N_STREAM = 3000 if FAST else 12000
while events["arrival_time"].iloc[N_STREAM - 1] == events["arrival_time"].iloc[N_STREAM]:
    N_STREAM += 1  # the cut-off must separate streamed from not-yet-streamed records
stream_slice = events.iloc[:N_STREAM]
CUTOFF = stream_slice["arrival_time"].iloc[-1]
print(f"{len(events)} records in the data set; the first {N_STREAM} go through Kafka (cut-off {CUTOFF})")
print("topic:", TOPIC, "| lake:", WORK / "lake")

# %% [markdown]
# ## The role of data engineering, and where the data lands
#
# In a production ML system, data engineering owns everything between the systems that *produce*
# data and the model that *consumes* features: ingestion (the payment service publishes an event
# per payment), storage (a lake of raw, immutable history; a warehouse of cleaned, modelled tables),
# transformation (features), serving (an online store for the live model), and the contracts,
# quality checks and lineage that keep it trustworthy. Most production ML incidents are data
# incidents.
#
# **Lake vs warehouse.** A *data lake* keeps raw files in cheap object storage (S3), in open
# columnar formats (Parquet), partitioned so a query reads only the slice it needs. A *warehouse*
# (Redshift, Snowflake, BigQuery) stores curated tables and runs SQL on them. Lakehouse formats
# (Iceberg, Delta, Hudi) add tables with transactions and schema history on top of lake files.
#
# **ETL vs ELT.** ETL transforms *before* loading (a Python job cleans and aggregates, only
# results land). ELT loads the raw data *first* and transforms inside the warehouse with SQL
# (dbt): the raw history stays, so a new feature or a fixed bug can be recomputed from it. ML
# favours ELT-style raw retention: you will want to recompute features you did not think of yet.
#
# Below, the raw events land in a lake partitioned by arrival month (a local directory standing in
# for `s3://…/raw/payments/`), then SQLite stands in for the warehouse: raw rows loaded, the
# transform done in SQL (ELT).

# %% locked=true
LAKE = WORK / "lake" / "payments"
raw = events.assign(month=events["arrival_time"].dt.strftime("%Y-%m"))
raw.to_parquet(LAKE, partition_cols=["month"], index=False)
print("lake partitions:", sorted(p.name for p in LAKE.iterdir()))

lake = pd.read_parquet(LAKE).drop(columns="month").sort_values("arrival_time", kind="stable").reset_index(drop=True)
december = pd.read_parquet(LAKE, filters=[("month", "=", "2017-12")])  # partition pruning: one directory read
print(f"lake: {len(lake)} records; the December partition alone: {len(december)}")

# ELT: load the raw rows as they are, then transform with SQL inside the "warehouse"
warehouse = sqlite3.connect(":memory:")
lake[["event_id", "key", "amount", "product_cd", "arrival_time"]].astype({"arrival_time": str}).to_sql(
    "raw_payments", warehouse, index=False
)
daily = pd.read_sql(
    """SELECT substr(arrival_time, 1, 10) AS day, COUNT(*) AS records, COUNT(DISTINCT event_id) AS payments,
              ROUND(SUM(amount), 2) AS amount
       FROM raw_payments GROUP BY day ORDER BY day LIMIT 3""",
    warehouse,
)
warehouse.close()
print(daily.to_string(index=False))

# %% [markdown]
# Note `records` vs `payments`: the raw stream holds **retries** (a producer that did not get an
# acknowledgement sent the same event again). Any count over raw data must drop them, by
# `event_id`. Events also arrive **late** and **out of order**: `arrival_time` (when the platform
# got it) is not `event_time` (when the payment happened).
#
# ## Exercise 1: the batch feature
#
# The fraud model uses three per-card features, computed from everything that *arrived* up to a
# cut-off time:
#
# | feature | definition |
# |---|---|
# | `tx_count` | number of distinct payments (retries of the same `event_id` count once) |
# | `amount_sum` | total `amount` of those payments |
# | `last_event_time` | the **latest** `event_time` among them (a late event that arrives last may be older) |
#
# Write `batch_features(lake, cutoff)` that takes the lake's records, keeps those with
# `arrival_time <= cutoff`, drops retries, and returns a DataFrame **indexed by `key`** (index
# name `key`) with exactly the columns `tx_count` (int), `amount_sum` (float), `last_event_time`
# (UTC timestamp). This is what a nightly training-data job would run.
#
# <details><summary>Hint 1</summary>Filter first, then
# <code>drop_duplicates("event_id")</code>, then <code>groupby("key").agg(...)</code> with
# named aggregations: <code>tx_count=("event_id", "size")</code>, ...</details>
# <details><summary>Hint 2</summary><code>"last"</code> gives the last <em>arrived</em> event's
# time; a late event makes it go backwards. You want <code>"max"</code>.</details>

# %% answer="batch_feature"
def batch_features(lake: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    ### BEGIN SOLUTION
    seen = lake[lake["arrival_time"] <= cutoff].drop_duplicates("event_id")
    out = seen.groupby("key").agg(
        tx_count=("event_id", "size"),
        amount_sum=("amount", "sum"),
        last_event_time=("event_time", "max"),
    )
    out.index.name = "key"
    return out.astype({"tx_count": "int64", "amount_sum": "float64"})
    ### END SOLUTION


# %% locked=true
_t0 = time.perf_counter()
offline = batch_features(lake, CUTOFF)
BATCH_SECONDS = time.perf_counter() - _t0
print(f"batch job: {len(lake)} records scanned in {BATCH_SECONDS * 1000:.0f} ms -> {len(offline)} cards")
offline.head()

# %% check="batch_feature" points=2
_tiny = pd.DataFrame(
    {
        "event_id": ["a", "b", "b", "c", "d"],
        "key": ["k1", "k1", "k1", "k2", "k1"],
        "amount": [10.0, 5.0, 5.0, 7.5, 100.0],
        "event_time": pd.to_datetime(["2018-01-01 10:00", "2018-01-01 09:00", "2018-01-01 09:00",
                                      "2018-01-01 11:00", "2018-01-02 00:00"], utc=True),
        "arrival_time": pd.to_datetime(["2018-01-01 10:00", "2018-01-01 10:05", "2018-01-01 10:06",
                                        "2018-01-01 11:00", "2018-01-02 00:00"], utc=True),
    }
)
_got = batch_features(_tiny, pd.Timestamp("2018-01-01 12:00", tz="UTC"))
assert sorted(_got.index) == ["k1", "k2"], f"expected cards ['k1', 'k2'], saw {sorted(_got.index)}"
assert set(_got.columns) == {"tx_count", "amount_sum", "last_event_time"}, f"columns are {list(_got.columns)}"
assert _got.loc["k1", "tx_count"] == 2, (
    f"k1: expected 2 payments by the cut-off ('b' and its retry count once, 'd' arrived after the cut-off), "
    f"saw {_got.loc['k1', 'tx_count']}"
)
### BEGIN HIDDEN TESTS
assert abs(_got.loc["k1", "amount_sum"] - 15.0) < 1e-9, f"k1 amount_sum: expected 15.0, saw {_got.loc['k1', 'amount_sum']}"
assert _got.loc["k1", "last_event_time"] == pd.Timestamp("2018-01-01 10:00", tz="UTC"), (
    f"k1 last_event_time: expected the latest event time 10:00 (the late 09:00 event arrived last), "
    f"saw {_got.loc['k1', 'last_event_time']}"
)
for _cut in (CUTOFF, lake["arrival_time"].iloc[len(lake) // 2]):
    _ref = lake[lake["arrival_time"] <= _cut].drop_duplicates("event_id").groupby("key").agg(
        tx_count=("event_id", "size"), amount_sum=("amount", "sum"), last_event_time=("event_time", "max")
    )
    _got = batch_features(lake, _cut)
    assert len(_got) == len(_ref), f"cut-off {_cut}: expected {len(_ref)} cards, saw {len(_got)}"
    _got = _got.reindex(_ref.index)
    _bad = int((_got["tx_count"] != _ref["tx_count"]).sum())
    assert _bad == 0, f"cut-off {_cut}: tx_count differs on {_bad} cards"
    assert np.allclose(_got["amount_sum"], _ref["amount_sum"], rtol=1e-9), f"cut-off {_cut}: amount_sum differs"
    _bad = int((_got["last_event_time"] != _ref["last_event_time"]).sum())
    assert _bad == 0, f"cut-off {_cut}: last_event_time differs on {_bad} cards"
### END HIDDEN TESTS

# %% [markdown]
# ## The stream
#
# In production the payment service publishes each event to Kafka as it happens. Our topic has 3
# partitions and every record is **keyed by card**: all events of one card land in the same
# partition, in order, so one consumer owns each card's state (Module 21 goes deep on keys and
# partitions).
#
# The next cells create the topic, subscribe a consumer (group `GROUP`) and then start a
# *replay*: a background producer that sends the first `N_STREAM` events at a steady rate,
# stamping each record with the wall-clock time it was produced (Kafka's `CreateTime`). Two
# consumer settings matter for latency: `fetch.wait.max.ms` (how long the broker may hold a fetch
# to fill it; default 500 ms) and the producer's `linger.ms` (how long it waits to batch).

# %% locked=true
dataeng.recreate_topic(KAFKA_BOOTSTRAP, TOPIC, partitions=3)
PAYLOADS = [dataeng.event_payload(r) for r in stream_slice.to_dict("records")]
print(json.dumps(PAYLOADS[0], indent=1))

CONSUMER_CONFIG = {
    "bootstrap.servers": KAFKA_BOOTSTRAP,
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,  # we commit after applying the records: at-least-once
    "fetch.wait.max.ms": 20,
    "allow.auto.create.topics": False,
    "logger": streaming._quiet,
}


def subscribed_consumer(group: str) -> Consumer:
    """A consumer in `group`, subscribed to TOPIC, returned once it owns partitions."""
    consumer = Consumer({**CONSUMER_CONFIG, "group.id": group})
    consumer.subscribe([TOPIC])
    deadline = time.monotonic() + 30
    while not consumer.assignment() and time.monotonic() < deadline:
        msg = consumer.poll(0.1)
        if msg is not None and not msg.error():  # don't swallow a record: rewind its partition
            consumer.seek(TopicPartition(TOPIC, msg.partition(), msg.offset()))
    if not consumer.assignment():
        consumer.close()
        raise TimeoutError(f"consumer in {group} got no partitions of {TOPIC} within 30 s")
    return consumer


# %% [markdown]
# ## Exercise 2: the streaming feature
#
# Write `stream_features(consumer, n_records, timeout)`: the streaming job that keeps the same
# three features up to date, one event at a time.
#
# - Poll the (already subscribed) `consumer` until you have read `n_records` records or `timeout`
#   seconds have passed. Skip records whose `msg.error()` is set.
# - Each record's value is the JSON payload you saw above. Keep per-card state and update it
#   with each event, **dropping retries** (remember the `event_id`s you have applied).
# - For every record you read (retries included), append its end-to-end latency in milliseconds:
#   the wall-clock time now minus the record's produce timestamp (`msg.timestamp()[1]`, ms since
#   the epoch).
# - When done, **commit** the consumer's offsets synchronously (`consumer.commit(asynchronous=False)`),
#   so the group's progress is stored in Kafka: a restarted job resumes from there.
# - Return `(features, latencies)`: `features` in the same shape as `batch_features` (index `key`,
#   columns `tx_count`, `amount_sum`, `last_event_time` as UTC timestamps), `latencies` a list.
#
# Don't close the consumer; the cell after yours does.
#
# <details><summary>Hint 1</summary><code>for msg in consumer.consume(500, timeout=0.2):</code>
# returns up to 500 records at once; loop while <code>read &lt; n_records</code> and
# <code>time.monotonic() &lt; deadline</code>.</details>
# <details><summary>Hint 2</summary>State as a dict of dicts: <code>state.setdefault(key,
# {"tx_count": 0, "amount_sum": 0.0, "last_event_time": None})</code>; compare times with
# <code>pd.Timestamp(event["event_time"])</code> (ISO strings with a Z parse as UTC).</details>
# <details><summary>Hint 3</summary><code>pd.DataFrame.from_dict(state, orient="index")</code>,
# then name the index and fix the dtypes.</details>

# %% answer="stream_feature"
def stream_features(consumer: Consumer, n_records: int, timeout: float = 30.0) -> tuple[pd.DataFrame, list[float]]:
    ### BEGIN SOLUTION
    state: dict[str, dict] = {}
    applied: set[str] = set()
    latencies: list[float] = []
    read = 0
    deadline = time.monotonic() + timeout
    while read < n_records and time.monotonic() < deadline:
        for msg in consumer.consume(500, timeout=0.2):
            if msg.error():
                continue
            read += 1
            event = json.loads(msg.value())
            if event["event_id"] not in applied:
                applied.add(event["event_id"])
                card = state.setdefault(event["key"], {"tx_count": 0, "amount_sum": 0.0, "last_event_time": None})
                card["tx_count"] += 1
                card["amount_sum"] += event["amount"]
                when = pd.Timestamp(event["event_time"])
                if card["last_event_time"] is None or when > card["last_event_time"]:
                    card["last_event_time"] = when
            latencies.append(time.time() * 1000 - msg.timestamp()[1])
    consumer.commit(asynchronous=False)
    features = pd.DataFrame.from_dict(state, orient="index")
    features.index.name = "key"
    features["last_event_time"] = pd.to_datetime(features["last_event_time"], utc=True)
    return features.astype({"tx_count": "int64", "amount_sum": "float64"}), latencies
    ### END SOLUTION


# %% locked=true
consumer = subscribed_consumer(GROUP)
replay = dataeng.Replay(KAFKA_BOOTSTRAP, TOPIC, PAYLOADS, rate=2000.0).start()
try:
    _t0 = time.monotonic()
    online_state, stream_latencies = stream_features(consumer, N_STREAM, timeout=60)
    STREAM_SECONDS = time.monotonic() - _t0
finally:
    replay.join(60)
    consumer.close()
print(f"replay: {replay.delivered} records delivered in {replay.finished - replay.started:.2f} s")
print(f"stream job: {len(stream_latencies)} records in {STREAM_SECONDS:.2f} s -> {len(online_state)} cards")
print("latency (ms):", {k: round(v, 1) for k, v in dataeng.latency_summary(stream_latencies).items()})

# %% check="stream_feature" points=2
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _ref = stream_slice.drop_duplicates("event_id").groupby("key").agg(
        tx_count=("event_id", "size"), amount_sum=("amount", "sum"), last_event_time=("event_time", "max")
    )
    _state = globals().get("online_state")
    assert _state is not None, "stream_features did not produce online_state"
    assert len(_state) == len(_ref), f"expected {len(_ref)} cards in the streaming state, saw {len(_state)}"
    assert set(_state.columns) >= {"tx_count", "amount_sum", "last_event_time"}, f"columns are {list(_state.columns)}"
    assert len(stream_latencies) == N_STREAM, f"expected one latency per record read ({N_STREAM}), saw {len(stream_latencies)}"
    ### BEGIN HIDDEN TESTS
    _s = _state.reindex(_ref.index)
    _bad = int((_s["tx_count"] != _ref["tx_count"]).sum())
    assert _bad == 0, f"tx_count differs from the batch definition on {_bad} cards (retries dropped?)"
    assert np.allclose(_s["amount_sum"].astype(float), _ref["amount_sum"], rtol=1e-9), "amount_sum differs from batch"
    _bad = int((pd.to_datetime(_s["last_event_time"], utc=True) != _ref["last_event_time"]).sum())
    assert _bad == 0, f"last_event_time differs on {_bad} cards: the latest event time, not the last arrived"
    _lat = dataeng.latency_summary(stream_latencies)
    assert 0 <= _lat["p50"] < 30_000, f"median latency should be between 0 and 30 s, saw {_lat['p50']:.0f} ms"
    _lag = streaming.group_lag(KAFKA_BOOTSTRAP, GROUP, TOPIC)
    assert sum(_lag.values()) == 0, f"group {GROUP} should have committed every record (lag 0), lag is {_lag}"
    ### END HIDDEN TESTS

# %% [markdown]
# The streaming state equals the batch result at the same cut-off: one definition, two
# implementations, same numbers. Keeping them equal is the whole game (see the skew exercise
# below); frameworks that compile one feature definition to both paths (Feast with a stream
# source, Tecton, Flink SQL + Spark SQL from one query) exist for exactly this.
#
# A streaming job is also a *batch job over the log*: Kafka keeps the events (retention), so a new
# consumer group reading from the earliest offset recomputes the state. That is how a streaming
# feature is *backfilled* (the "kappa" architecture), and it measures the job's throughput when
# it is not waiting for events.

# %% locked=true
BACKFILL_SECONDS = None
try:
    _backfill_consumer = subscribed_consumer(BACKFILL_GROUP)
    try:
        _t0 = time.monotonic()
        backfilled, _ = stream_features(_backfill_consumer, N_STREAM, timeout=60)
        BACKFILL_SECONDS = time.monotonic() - _t0
    finally:
        _backfill_consumer.close()
    print(f"backfill: {N_STREAM} records re-read in {BACKFILL_SECONDS:.2f} s; same state as live: "
          f"{backfilled.sort_index()[['tx_count']].equals(online_state.sort_index()[['tx_count']])}")
except NotImplementedError:
    print("stream_features is not written yet")

# %% [markdown]
# ## Exercise 3: latency, throughput and freshness
#
# Three numbers describe a feature pipeline:
# - **latency**: from an event's arrival to its effect on the served feature;
# - **throughput**: events processed per second;
# - **freshness** (staleness): at the moment a prediction is served, how old is the newest event
#   its features reflect?
#
# The stream's latency you just measured. For the batch path, suppose the training/serving
# features are refreshed by a **daily job** that starts at `run_hour`:00 UTC and takes
# `duration_s` seconds. A run includes every event that arrived **at or before** its start time;
# its features are available at start + `duration_s`.
#
# Write:
# - `batch_latency_s(arrivals, run_hour, duration_s)`: a numpy array, per event (arrival times, a
#   Series of UTC timestamps), of seconds from its arrival until the first run that includes it
#   has finished;
# - `batch_freshness_s(arrivals, serve_time, run_hour, duration_s)`: seconds between `serve_time`
#   and the newest arrival included in the latest run that has **finished** by `serve_time`
#   (a run still in progress serves nothing yet).
#
# <details><summary>Hint 1</summary>The run that includes an arrival <code>t</code> starts at the
# first <code>run_hour</code>:00 at or after <code>t</code>: shift by the run hour, take
# <code>.dt.ceil("D")</code>, shift back.</details>
# <details><summary>Hint 2</summary>For freshness: the latest finished run started at the last
# <code>run_hour</code>:00 at or before <code>serve_time - duration_s</code>
# (<code>floor</code> instead of <code>ceil</code>).</details>

# %% answer="tradeoffs"
def batch_latency_s(arrivals: pd.Series, run_hour: int, duration_s: float) -> np.ndarray:
    ### BEGIN SOLUTION
    shift = pd.Timedelta(hours=run_hour)
    start = (arrivals - shift).dt.ceil("D") + shift
    return ((start - arrivals).dt.total_seconds() + duration_s).to_numpy()
    ### END SOLUTION


def batch_freshness_s(arrivals: pd.Series, serve_time: pd.Timestamp, run_hour: int, duration_s: float) -> float:
    ### BEGIN SOLUTION
    shift = pd.Timedelta(hours=run_hour)
    last_start = (serve_time - pd.Timedelta(seconds=duration_s) - shift).floor("D") + shift
    newest = arrivals[arrivals <= last_start].max()
    return (serve_time - newest).total_seconds()
    ### END SOLUTION


# %% locked=true
RUN_HOUR, NIGHTLY_DURATION_S = 2, 45 * 60  # a nightly job at 02:00 that takes 45 minutes on the full history
SERVE_TIME = lake["arrival_time"].iloc[-1]  # "now" in the data set's timeline
try:
    _batch_lat = dataeng.latency_summary(batch_latency_s(lake["arrival_time"], RUN_HOUR, NIGHTLY_DURATION_S))
    _stream_lat = dataeng.latency_summary(np.asarray(stream_latencies) / 1000)
    tradeoffs = pd.DataFrame(
        {
            "latency p50 (s)": [_batch_lat["p50"], _stream_lat["p50"]],
            "latency p99 (s)": [_batch_lat["p99"], _stream_lat["p99"]],
            "throughput (events/s)": [len(lake) / BATCH_SECONDS, N_STREAM / (BACKFILL_SECONDS or np.nan)],
            "freshness (s)": [
                batch_freshness_s(lake["arrival_time"], SERVE_TIME, RUN_HOUR, NIGHTLY_DURATION_S),
                stream_latencies[-1] / 1000,
            ],
        },
        index=["batch (nightly)", "streaming"],
    )
    print(tradeoffs.round(3).to_string())
except (NotImplementedError, NameError) as exc:
    print("table needs exercises 1-3:", type(exc).__name__)

# %% [markdown]
# Read the table as an engineer would:
# - **Batch** throughput is enormous (a vectorised scan: here the job you timed in Exercise 1)
#   but its latency is hours: half a day on average for a nightly job, and freshness is up to a
#   day plus the run time. Fine for training data and for slowly-changing features (a card's
#   lifetime spend), cheap to run and easy to backfill.
# - **Streaming** latency is milliseconds to seconds and freshness is as good as latency while
#   events flow, but the job runs all the time, holds state, must handle retries, late and
#   out-of-order events, and its throughput (the backfill row) is far lower per core than a
#   vectorised batch scan. Worth it when the *last minutes* matter: card velocity for fraud.
# - Between them: micro-batch (Spark Structured Streaming, a job every few minutes) trades some
#   latency for batch-style simplicity. The streaming throughput here is the replay of a few
#   thousand events on a shared laptop-class machine; the stream's latency here includes the
#   consumer's fetch wait and Python's per-event work.

# %% check="tradeoffs" points=1
_arr = pd.Series(pd.to_datetime(["2018-01-01 01:00:00", "2018-01-01 02:00:00", "2018-01-01 02:00:01",
                                 "2018-01-01 23:30:00"], utc=True))
_got = np.asarray(batch_latency_s(_arr, 2, 600), dtype=float)
assert _got.shape == (4,), f"expected one latency per arrival (4), saw shape {_got.shape}"
assert abs(_got[0] - (3600 + 600)) < 1e-6, f"01:00 arrival: expected 4200 s (run at 02:00 + 600 s), saw {_got[0]}"
### BEGIN HIDDEN TESTS
assert abs(_got[1] - 600) < 1e-6, f"arrival exactly at 02:00 is in that run: expected 600 s, saw {_got[1]}"
assert abs(_got[2] - (86399 + 600)) < 1e-6, f"02:00:01 arrival waits for the next day's run: expected 86999 s, saw {_got[2]}"
assert abs(_got[3] - (2.5 * 3600 + 600)) < 1e-6, f"23:30 arrival: expected 9600 s, saw {_got[3]}"
_f = batch_freshness_s(_arr, pd.Timestamp("2018-01-02 02:05", tz="UTC"), 2, 600)
assert abs(_f - (24 * 3600 + 300)) < 1e-6, (
    f"serving at 02:05 while today's run (02:00-02:10) is still going: the 01-01 run's newest arrival "
    f"(02:00) is 86700 s old, saw {_f}"
)
_f = batch_freshness_s(_arr, pd.Timestamp("2018-01-02 03:00", tz="UTC"), 2, 600)
assert abs(_f - 3.5 * 3600) < 1e-6, f"serving at 03:00 after today's run: newest arrival 23:30 -> 12600 s, saw {_f}"
_got = np.asarray(batch_latency_s(lake["arrival_time"], 5, 120), dtype=float)
_shift = pd.Timedelta(hours=5)
_ref = ((lake["arrival_time"] - _shift).dt.ceil("D") + _shift - lake["arrival_time"]).dt.total_seconds() + 120
assert np.allclose(_got, _ref.to_numpy()), "batch latencies over the lake differ from the definition"
### END HIDDEN TESTS

# %% [markdown]
# ## Schema evolution and governance
#
# Events outlive the code that wrote them: the topic (and the lake) hold months of v1 records
# when producers move to v2. The payment team's v2 renames `email_domain` to
# `payer_email_domain` and adds `channel` (`web`, `app`, `unknown`). A **schema registry** stores
# each version under a *subject* (here `<topic>-value`) and refuses a new version that breaks the
# subject's **compatibility rule**:
#
# | rule | guarantees | so you upgrade first |
# |---|---|---|
# | BACKWARD | a reader on the new schema reads data written with the previous one | consumers |
# | FORWARD | a reader on the previous schema reads data written with the new one | producers |
# | FULL | both | either |
#
# For ML, BACKWARD is the usual default: the training job (a consumer) must read the whole history.
# In Avro, the tools are **defaults** (a field the old data lacks is filled in) and **aliases** (a
# field's old name). Governance is the rest of the contract: who owns the subject, who may
# register versions (CI, not a laptop), lineage from the topic to the features and models that
# read it, and retention/PII rules on fields such as e-mail domains.
#
# `labkit.streaming.SchemaRegistry` applies the Apache Avro library's compatibility checks (the
# same rules Confluent's or Apicurio's registry runs), in memory; Module 21 runs it in front of a
# topic. Here is v1, registered, and a few old records serialised with it (the Confluent wire
# format: magic byte, schema id, Avro binary):

# %% locked=true
V1_AVRO = {
    "type": "record",
    "name": "CardPayment",
    "namespace": "mlops.fraud",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "schema_version", "type": "int"},
        {"name": "event_time", "type": "string"},
        {"name": "key", "type": "string"},
        {"name": "transaction_id", "type": "long"},
        {"name": "amount", "type": "double"},
        {"name": "product_cd", "type": "string"},
        {"name": "card_type", "type": "string"},
        {"name": "email_domain", "type": ["null", "string"], "default": None},
        {"name": "device_type", "type": ["null", "string"], "default": None},
        {"name": "device_info", "type": ["null", "string"], "default": None},
    ],
}
SUBJECT = f"{TOPIC}-value"
registry = streaming.SchemaRegistry(default_level="NONE")  # a registry nobody configured yet
registry.register(SUBJECT, V1_AVRO)
OLD_RECORDS = [streaming.encode(registry, SUBJECT, p) for p in PAYLOADS[:200]]
V2_PAYLOADS = [dataeng.event_payload(r) for r in lake[lake["schema_version"] == 2].head(200).to_dict("records")]
print(f"{len(OLD_RECORDS)} v1 records, e.g. {OLD_RECORDS[0][:24]!r}...; v2 payload fields: {sorted(V2_PAYLOADS[0])}")

# %% [markdown]
# ## Exercise 4: evolve the schema under a compatibility rule
#
# 1. Write `V2_AVRO`: v1 with `email_domain` renamed to `payer_email_domain` (nullable, default
#    null) **declaring its old name as an alias**, and a new field `channel` (a string) with the
#    default `"unknown"`. Keep the record's name and namespace.
# 2. Write `evolve(registry)`: set the subject's compatibility to `BACKWARD` (this registry starts
#    with `NONE`, which accepts anything), register `V2_AVRO` under `SUBJECT` and return its
#    schema id.
# 3. Write `read_payment(data)`: decode wire-format bytes of **any** version with `V2_AVRO` as
#    the reader schema (`streaming.decode(registry, data, reader=...)`), so downstream code sees one
#    shape.
#
# The checks read the old v1 records through your reader, and try to register a breaking v3.
#
# <details><summary>Hint 1</summary>A field with an alias:
# <code>{"name": "payer_email_domain", "type": ["null", "string"], "default": None,
# "aliases": ["email_domain"]}</code>. For a union the default must match its first branch.</details>
# <details><summary>Hint 2</summary>Without the alias the rename still passes BACKWARD (the
# reader has a default), but every old record then reads as null: compatible, and silently
# wrong. Check what <code>read_payment(OLD_RECORDS[0])</code> gives.</details>

# %% answer="schema_evolution"
### BEGIN SOLUTION
V2_AVRO = {
    **V1_AVRO,
    "fields": [
        *(f for f in V1_AVRO["fields"] if f["name"] != "email_domain"),
        {"name": "payer_email_domain", "type": ["null", "string"], "default": None, "aliases": ["email_domain"]},
        {"name": "channel", "type": "string", "default": "unknown"},
    ],
}
### END SOLUTION


def evolve(registry: streaming.SchemaRegistry) -> int:
    ### BEGIN SOLUTION
    registry.set_compatibility(SUBJECT, "BACKWARD")
    return registry.register(SUBJECT, V2_AVRO)
    ### END SOLUTION


def read_payment(data: bytes) -> dict:
    ### BEGIN SOLUTION
    return streaming.decode(registry, data, reader=V2_AVRO)
    ### END SOLUTION


# %% locked=true
v2_id = evolve(registry)
NEW_RECORDS = [streaming.encode(registry, SUBJECT, p) for p in V2_PAYLOADS]
print("v2 schema id:", v2_id, "| versions:", registry.versions(SUBJECT))
print("old record read as v2:", read_payment(OLD_RECORDS[0]))

# %% check="schema_evolution" points=2
assert registry.compatibility(SUBJECT) == "BACKWARD", f"compatibility should be BACKWARD, saw {registry.compatibility(SUBJECT)}"
assert registry.versions(SUBJECT) == [1, 2], f"expected versions [1, 2] under {SUBJECT}, saw {registry.versions(SUBJECT)}"
_old = read_payment(OLD_RECORDS[0])
assert _old.get("channel") == "unknown", f"an old record should read channel='unknown' (the default), saw {_old.get('channel')!r}"
### BEGIN HIDDEN TESTS
_latest_fields = {f["name"]: f for f in registry.latest(SUBJECT)[1]["fields"]}
assert {"payer_email_domain", "channel"} <= set(_latest_fields) and "email_domain" not in _latest_fields, (
    f"v2 should have payer_email_domain and channel and no email_domain, has {sorted(_latest_fields)}"
)
_lost = 0
for _payload, _data in zip(PAYLOADS[:200], OLD_RECORDS, strict=True):
    _rec = read_payment(_data)
    assert "email_domain" not in _rec and _rec["channel"] == "unknown", f"old record read as {_rec}"
    _lost += _rec["payer_email_domain"] != _payload["email_domain"]
assert _lost == 0, f"{_lost} of 200 old records lost their e-mail domain: the rename needs the old name as an alias"
for _payload, _data in zip(V2_PAYLOADS, NEW_RECORDS, strict=True):
    _rec = read_payment(_data)
    assert _rec["channel"] == _payload["channel"], f"a v2 record's channel read as {_rec['channel']!r}"
_v3 = {**registry.latest(SUBJECT)[1]}
_v3["fields"] = [*_v3["fields"], {"name": "risk_tier", "type": "string"}]
try:
    registry.register(SUBJECT, _v3)
    _accepted = True
except streaming.IncompatibleSchema:
    _accepted = False
assert not _accepted, "a v3 adding a field without a default must be rejected under BACKWARD, it was accepted"
### END HIDDEN TESTS

# %% [markdown]
# A breaking change, as a producer team might try it: drop `amount` (every fraud feature needs it)
# and add a field with no default. The registry says no, with the reason:

# %% locked=true
_breaking = {**V1_AVRO, "fields": [*(f for f in V1_AVRO["fields"] if f["name"] != "amount"),
                                   {"name": "merchant_id", "type": "string"}]}
try:
    registry.register(SUBJECT, _breaking)
    print("accepted (the subject's rule is", registry.compatibility(SUBJECT) + ")")
except streaming.IncompatibleSchema as exc:
    print("rejected:", str(exc)[:300])

# %% [markdown]
# ## Common pitfalls
#
# Three ways a model that looked fine offline goes wrong in production, each planted below so you
# can write the detector and see it fire.
#
# **Train–serve skew**: the features served online differ from those the model was trained on,
# because two code paths compute "the same" feature. Below is what the online feature service
# (another team's code, `dataeng.online_features_with_skew`) serves for the same cards at the
# same cut-off. Something differs, and something else differs harmlessly.

# %% [markdown]
# ## Exercise 5: detect skew and stale features
#
# **(a)** Write `detect_skew(offline, online, rtol)`: for each feature column of `offline`, the
# **share of cards** (rows, matched by key; assume both hold the same keys) whose online value
# differs from the offline value. Numbers differ when they are not equal within the relative
# tolerance `rtol` (`np.isclose(..., rtol=rtol, atol=0)`); timestamps differ when not equal.
# Return a `pd.Series` indexed by feature name.
#
# **(b) Stale features.** An online store serves the latest row per card, with `feature_ts`: the
# time as of which the row's values were computed (what Feast calls the row's event timestamp),
# and `written_at`: when the row was last written. A row is **stale** when `serve_time -
# feature_ts > ttl`. Write `stale_keys(snapshot, serve_time, ttl)` returning the set of stale keys.
# Careful: a card that simply has not paid for a week is not stale, its count is still right.
#
# <details><summary>Hint 1</summary>Align first: <code>online = online.reindex(offline.index)</code>.
# For numbers, <code>~np.isclose(a, b, rtol=rtol, atol=0)</code>; <code>.mean()</code> of a boolean
# Series is a share.</details>
# <details><summary>Hint 2</summary>Comparing the means of each feature over all cards hides skew
# that goes both ways and skew on a few cards; compare card by card.</details>
# <details><summary>Hint 3</summary>Staleness is about <code>feature_ts</code>, not
# <code>last_event_time</code> (activity) and not <code>written_at</code> (a copy job can rewrite
# old values).</details>

# %% answer="skew"
def detect_skew(offline: pd.DataFrame, online: pd.DataFrame, rtol: float = 1e-6) -> pd.Series:
    ### BEGIN SOLUTION
    online = online.reindex(offline.index)
    shares = {}
    for col in offline.columns:
        a, b = offline[col], online[col]
        if pd.api.types.is_numeric_dtype(a):
            differs = ~np.isclose(a.to_numpy(float), b.to_numpy(float), rtol=rtol, atol=0)
        else:
            differs = (a != b).to_numpy()
        shares[col] = float(np.mean(differs))
    return pd.Series(shares)
    ### END SOLUTION


# %% answer="stale"
def stale_keys(snapshot: pd.DataFrame, serve_time: pd.Timestamp, ttl: pd.Timedelta) -> set[str]:
    ### BEGIN SOLUTION
    return set(snapshot.index[(serve_time - snapshot["feature_ts"]) > ttl])
    ### END SOLUTION


# %% locked=true
online_served = dataeng.online_features_with_skew(stream_slice)
try:
    skew = detect_skew(offline, online_served)
    print("share of cards whose served value differs from training:")
    print(skew.round(4).to_string())
except (NotImplementedError, NameError) as exc:
    print("needs exercises 1 and 5a:", type(exc).__name__)

TTL = pd.Timedelta(days=2)
SNAPSHOT_TIME = CUTOFF
_old_cut = CUTOFF - pd.Timedelta(days=5)
snapshot, _planted_stale = dataeng.plant_stale_rows(
    online_served,
    dataeng.online_features_with_skew(stream_slice[stream_slice["arrival_time"] <= _old_cut]),
    fresh_ts=SNAPSHOT_TIME,
    old_ts=_old_cut,
    n=25,
)
SERVE_AT = SNAPSHOT_TIME + pd.Timedelta(hours=1)
inactive = int(((SERVE_AT - snapshot["last_event_time"]) > TTL).sum())
print(f"snapshot: {len(snapshot)} cards, {inactive} of them inactive for more than {TTL}")

# %% check="skew" points=1
_off = pd.DataFrame(
    {"n": [1, 2, 3, 4], "x": [1.0, 2.0, 3.0, 4.0], "t": pd.to_datetime(["2018-01-01"] * 4, utc=True)},
    index=pd.Index(list("abcd"), name="key"),
)
_on = pd.DataFrame(  # the same cards in another order: d, c, b, a
    {"n": [4, 3, 5, 1], "x": [4.0, 3.0, 2.0 * (1 + 1e-8), 1.0],
     "t": pd.to_datetime(["2018-01-02"] + ["2018-01-01"] * 3, utc=True)},
    index=pd.Index(list("dcba"), name="key"),
)
_got = detect_skew(_off, _on, rtol=1e-6)
assert isinstance(_got, pd.Series) and set(_got.index) == {"n", "x", "t"}, f"expected a Series over n, x, t, saw {_got!r}"
### BEGIN HIDDEN TESTS
assert abs(_got["n"] - 0.25) < 1e-9, f"matched by key, n differs on 1 of 4 cards (b): share 0.25, saw {_got['n']}"
assert _got["x"] == 0, f"x differs by 1e-8 relative, within rtol 1e-6: share should be 0, saw {_got['x']}"
assert abs(_got["t"] - 0.25) < 1e-9, f"t differs on 1 of 4 cards (d), saw share {_got['t']}"
_got = detect_skew(_off, _on, rtol=0)
assert abs(_got["x"] - 0.25) < 1e-9, f"with rtol=0 the 1e-8 difference counts: share 0.25, saw {_got['x']}"
_ref_off = stream_slice.drop_duplicates("event_id").groupby("key").agg(
    tx_count=("event_id", "size"), amount_sum=("amount", "sum"), last_event_time=("event_time", "max")
)
_got = detect_skew(_ref_off, dataeng.online_features_with_skew(stream_slice), rtol=1e-6)
_retry_cards = stream_slice[stream_slice.duplicated("event_id")]["key"].nunique() / len(_ref_off)
assert abs(_got["tx_count"] - _retry_cards) < 1e-9, (
    f"tx_count is skewed on the cards with a retry ({_retry_cards:.4f} of cards), saw {_got['tx_count']:.4f}"
)
assert abs(_got["amount_sum"] - _retry_cards) < 1e-9, (
    f"amount_sum: expected {_retry_cards:.4f} (retries; the float32 store is within rtol), saw {_got['amount_sum']:.4f}"
)
assert _got["last_event_time"] == 0, f"last_event_time is not skewed, saw share {_got['last_event_time']}"
### END HIDDEN TESTS

# %% check="stale" points=1
_stale = stale_keys(snapshot, SERVE_AT, TTL)
assert isinstance(_stale, set), f"expected a set of keys, saw {type(_stale).__name__}"
assert len(_stale) == len(_planted_stale), f"expected {len(_planted_stale)} stale cards, saw {len(_stale)}"
### BEGIN HIDDEN TESTS
assert _stale == _planted_stale, f"flagged {len(_stale - _planted_stale)} cards that are fresh, missed {len(_planted_stale - _stale)}"
assert stale_keys(snapshot, SERVE_AT, pd.Timedelta(days=6)) == set(), "with a 6-day TTL nothing is stale (rows are at most 5 days + 1 h old)"
assert stale_keys(snapshot, SERVE_AT, pd.Timedelta(minutes=30)) == set(snapshot.index), "with a 30-minute TTL every row is stale"
### END HIDDEN TESTS

# %% [markdown]
# What to do with the results: skew found before launch (compare a sample of online values with
# the offline pipeline's on the same keys and cut-off, as you just did) blocks the launch; in
# production, log the served features with each prediction and run the same comparison daily.
# Stale rows should fall back to a default or a "feature missing" path, and page the team that
# owns the materialisation job: serving a week-old velocity for a card under attack is how fraud
# gets through.
#
# ## Exercise 6: a data-quality gate before the model
#
# A new batch of events arrives for scoring and for tomorrow's training set. Upstream bugs happen:
# this batch has planted defects. Write `quality_gate(batch)` returning `(clean, rejected)`:
# `clean` the rows that pass every rule (same columns), `rejected` a DataFrame with one row per
# failing record and columns `event_id` and `reason`, where `reason` is the **first** rule it breaks,
# in this order:
#
# | reason | rule |
# |---|---|
# | `amount_missing` | `amount` is not null |
# | `amount_out_of_range` | `0 < amount <= 10_000` |
# | `key_invalid` | `key` is a string matching `card-<digits>-<digits or na>` |
# | `product_unknown` | `product_cd` is one of `W C R H S` |
# | `event_time_invalid` | `event_time` is not null and not later than `arrival_time` + 5 minutes |
#
# `device_type`, `device_info` and `email_domain` may be null: that is information (no device
# fingerprint), not a defect.
#
# <details><summary>Hint 1</summary>Build one boolean Series per rule, then walk them in order
# assigning a reason where none is assigned yet.</details>
# <details><summary>Hint 2</summary><code>batch.dropna()</code> throws away a third of the good
# data; <code>batch["key"].str.fullmatch(r"card-\d+-(\d+|na)")</code> gives NaN for a null key:
# <code>.fillna(False)</code> or <code>.eq(True)</code>.</details>

# %% answer="quality_gate"
def quality_gate(batch: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    ### BEGIN SOLUTION
    amount = pd.to_numeric(batch["amount"], errors="coerce")
    key_ok = batch["key"].astype("string").str.fullmatch(r"card-\d+-(\d+|na)").eq(True)
    rules = [
        ("amount_missing", amount.notna()),
        ("amount_out_of_range", amount.gt(0) & amount.le(10_000)),
        ("key_invalid", key_ok),
        ("product_unknown", batch["product_cd"].isin(dataeng.PRODUCTS)),
        (
            "event_time_invalid",
            batch["event_time"].notna() & (batch["event_time"] <= batch["arrival_time"] + pd.Timedelta(minutes=5)),
        ),
    ]
    reason = pd.Series(pd.NA, index=batch.index, dtype="object")
    for name, ok in rules:
        reason[reason.isna() & ~ok.fillna(False).astype(bool)] = name
    bad = reason.notna()
    rejected = pd.DataFrame({"event_id": batch.loc[bad, "event_id"], "reason": reason[bad]}).reset_index(drop=True)
    return batch[~bad], rejected
    ### END SOLUTION


# %% locked=true
incoming = lake.iloc[N_STREAM : N_STREAM + 2000]
dirty, _planted_defects = dataeng.plant_event_defects(incoming, per_kind=5, seed=20)
try:
    clean, rejected = quality_gate(dirty)
    print(f"{len(dirty)} records in, {len(clean)} passed, {len(rejected)} rejected:")
    print(rejected["reason"].value_counts().to_string())
    print("features from the clean batch have no gaps:", not batch_features(clean, clean["arrival_time"].max()).isna().any().any())
except (NotImplementedError, NameError) as exc:
    print("needs exercises 1 and 6:", type(exc).__name__)

# %% check="quality_gate" points=1
_clean, _rejected = quality_gate(dirty)
_planted_ids = set().union(*_planted_defects.values())
assert set(_rejected["event_id"]) >= _planted_ids, f"missed {len(_planted_ids - set(_rejected['event_id']))} planted bad records"
assert len(_clean) + len(_rejected) == len(dirty), f"{len(_clean)} clean + {len(_rejected)} rejected != {len(dirty)} records"
### BEGIN HIDDEN TESTS
assert set(_rejected["event_id"]) == _planted_ids, (
    f"rejected {len(set(_rejected['event_id']) - _planted_ids)} good records (nullable fields are not defects)"
)
_expected = {"amount_missing": 5, "amount_out_of_range": 10, "key_invalid": 5, "product_unknown": 5, "event_time_invalid": 5}
_counts = _rejected["reason"].value_counts().to_dict()
assert _counts == _expected, f"reasons: expected {_expected}, saw {_counts}"
_c2, _r2 = quality_gate(incoming)
assert len(_r2) == 0 and len(_c2) == len(incoming), f"a batch without defects should pass whole, {len(_r2)} rejected"
_d3, _p3 = dataeng.plant_event_defects(lake.iloc[-1500:], per_kind=3, seed=7)
_c3, _r3 = quality_gate(_d3)
assert set(_r3["event_id"]) == set().union(*_p3.values()), "a second dirty batch: rejected set differs from the planted defects"
assert not _c3["amount"].isna().any() and _c3["key"].notna().all(), "clean rows still contain null amounts or keys"
### END HIDDEN TESTS

# %% [markdown]
# ## Wrap-up
#
# **What ran here:** a real Kafka broker (KRaft) carried the events; a confluent-kafka consumer
# group computed the streaming features, committed its offsets and was replayed from the log for
# a backfill; the lake was real Parquet on local disk with partition pruning; SQLite played the
# warehouse for the ELT step; the schema rules were the Apache Avro library's compatibility checks,
# run by an in-memory registry (`labkit.streaming.SchemaRegistry`), not a registry server. The
# latency, throughput and freshness numbers are measurements on this machine (the batch job's
# nightly 45-minute duration is an assumption you can change).
#
# **What the cloud tier adds:** the lake on S3 with a catalogue (Glue Data Catalog, Iceberg
# tables) and Athena or Redshift Spectrum querying it; ELT transforms in dbt on a warehouse;
# Kafka as Amazon MSK (or Kinesis) with the Confluent/Glue Schema Registry as a real service that
# producers' CI registers schemas against; the streaming job on Flink (Managed Service for Apache
# Flink) or Spark Structured Streaming with checkpointed state; an online feature store (Feast on
# Redis/DynamoDB, SageMaker Feature Store) with TTLs; skew and freshness monitors on logged
# predictions; lineage (OpenLineage/DataHub) and access control on PII fields (Lake Formation).
# Modules 21–24 build these pieces one by one.
#
# **Cleanup:** delete the topic and the consumer groups this lab created, and the lake directory.

# %% locked=true
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for _c in ("consumer", "_backfill_consumer"):
        try:
            globals()[_c].close()
        except Exception:
            pass
    streaming.delete_topics(ADMIN, [TOPIC])
    _left = streaming.delete_groups(ADMIN, [GROUP, BACKFILL_GROUP])
shutil.rmtree(WORK, ignore_errors=True)
print("deleted topic", TOPIC, "| groups left:", _left or "none", "| lake removed:", not WORK.exists())
