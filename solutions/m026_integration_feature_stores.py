# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 26 — Integration with feature stores: from a Kafka pipeline into Feast
#
# **Where this sits:** Module 3 set up Feast (entities, feature views, a Redis online store) on
# features computed in the notebook. Module 20 built streaming pipelines on Kafka. This module joins
# the two: a **pipeline's output becomes a feature store's data**, used twice — for a point-in-time
# correct **training set** and for a **real-time lookup** — with the guarantees that make it
# trustworthy: **TTL** (how old a value may be) and **freshness** (how far behind "now" the store is).
#
# **Why a feature store in MLOps at all (the role):** the pipeline writes features *once*; the
# feature store gives them one name and one definition, keeps their **history** (offline store:
# Parquet files on S3, or a warehouse) for training, keeps the **latest value per entity** (online
# store: Redis or Postgres/DynamoDB) for serving, and copies one into the other (*materialization*).
# Without it, training and serving each re-implement the feature — the skew Module 3 caught.
#
# **You will:**
# 1. run a **Kafka consumer job** that turns card transactions into daily per-card features and
#    writes them as Parquet into Feast's offline store, and register the feature view with a TTL;
# 2. build a **point-in-time training set** from it and check it against an as-of join done by hand —
#    no future values, and nulls where the TTL has expired;
# 3. **materialize incrementally** into Redis while a simulated clock **advances**, and watch the
#    online values follow;
# 4. enforce **TTL on the online path** (Redis keeps stale values forever) and push a **real-time
#    update** for one card from the stream.
#
# Spark would do exercise 1's job the same way at scale (read the topic or the lake, `groupBy` card
# and day, write Parquet); here one consumer and pandas are enough for 20k transactions, and keep the
# lab fast. The Feast side does not care which engine wrote the files.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"  # the lab uses the CI-size fraud data (20k rows) either way
DATA_DIR = os.environ.get("DATA_DIR", "")
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

# %% [markdown]
# ## Setup
# Everything is named from `RUN_ID`: the Kafka topic, the Feast project (it prefixes every Redis key),
# the work folder with the registry and the offline Parquet. Module 3's helpers
# (`labkit.featurestore`) write the `feature_store.yaml` (file registry, file offline store, Redis
# online store) and clean a project's Redis keys.

# %% locked=true
import contextlib
import io
import json
import logging
import shutil
import warnings
from datetime import timedelta
from pathlib import Path

from labkit import labenv

os.environ["FEAST_USAGE"] = "False"  # no telemetry calls
labenv.configure(DATA_DIR)
warnings.filterwarnings("ignore")
logging.getLogger("feast").setLevel(logging.ERROR)

import numpy as np
import pandas as pd
import redis
from confluent_kafka import Producer
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, PushSource, ValueType
from feast.data_source import PushMode
from feast.types import Float64, Int64

from labkit.dataeng import recreate_topic
from labkit.featurestore import card_ids, drop_project_keys, event_time, project_name, write_repo_config
from labkit.streaming import delete_topics, admin_client, read_topic
from mlops_datasets import load


@contextlib.contextmanager
def quiet():
    """Silence library warnings and progress bars (Feast and Dask write them to stderr)."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


PROJECT = project_name("m026", RUN_ID)
NAME = labenv.resource_name("m026", RUN_ID)
TOPIC = f"{NAME}-transactions"
WORK = Path("m026-work") / NAME
REPO = WORK / "feature_repo"
OFFLINE_PATH = (WORK / "offline" / "card_daily.parquet").resolve()

rdb = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
rdb.ping()
shutil.rmtree(WORK, ignore_errors=True)  # a rerun starts clean
drop_project_keys(REDIS_URL, PROJECT)
write_repo_config(REPO, PROJECT, REDIS_URL, registry=WORK / "registry.db")
OFFLINE_PATH.parent.mkdir(parents=True, exist_ok=True)
print("project:", PROJECT, "| topic:", TOPIC, "| offline store:", OFFLINE_PATH)

# %% [markdown]
# ## The stream: card transactions in Kafka
#
# The payment service publishes every transaction to a topic, keyed by card (so one card's events
# stay in order on one partition). Below we replay the fraud data set into `TOPIC`: 3 partitions,
# one JSON record per transaction with the card id, the event time (epoch seconds, UTC) and the
# amount. The simulated clock: the data ends on 2018-06-01, so **now** is `NOW` = 2018-06-02 00:00 UTC.

# %% locked=true
tx = load("fraud")["transactions"].sort_values("TransactionDT").reset_index(drop=True)
tx["card_id"] = card_ids(tx)
tx["event_timestamp"] = event_time(tx)
NOW = tx["event_timestamp"].max().ceil("D")

recreate_topic(KAFKA_BOOTSTRAP, TOPIC, partitions=3)
_producer = Producer({"bootstrap.servers": KAFKA_BOOTSTRAP, "linger.ms": 20, "acks": "all"})
for _card, _ts, _amt in zip(tx["card_id"], tx["event_timestamp"], tx["TransactionAmt"]):
    _value = {"card_id": _card, "event_time": _ts.timestamp(), "amount": float(_amt)}
    _producer.produce(TOPIC, key=_card.encode(), value=json.dumps(_value).encode())
    _producer.poll(0)
_left = _producer.flush(30)
assert _left == 0, f"{_left} records not delivered to {TOPIC}"
print(f"{len(tx)} transactions of {tx['card_id'].nunique()} cards in {TOPIC}; now = {NOW}")

# %% [markdown]
# ## The Feast side, defined once
#
# The entity `card` (join key `card_id`) and the source of our feature view. The source is a
# `PushSource` — the streaming path can push fresh rows straight into the online store (Exercise 4) —
# whose `batch_source` is the Parquet file the pipeline writes: the **offline store**. Here it is a
# local file; in Module 3 the same `FileSource` pointed at `s3://...`, which is all that changes on
# AWS (or a Redshift/Snowflake/Postgres offline store for SQL-sized history).

# %% locked=true
store = FeatureStore(repo_path=str(REPO))
card = Entity(name="card", join_keys=["card_id"], value_type=ValueType.STRING, description="a payment card")
card_daily_source = PushSource(
    name="card_daily_push",
    batch_source=FileSource(name="card_daily_batch", path=str(OFFLINE_PATH), timestamp_field="event_timestamp"),
)
FEATURES = ["card_daily:tx_count_1d", "card_daily:amt_sum_1d"]
FEATURE_COLUMNS = ["tx_count_1d", "amt_sum_1d"]
TTL = timedelta(days=2)

# %% [markdown]
# ## Exercise 1: the pipeline's output into the offline store (3 points)
#
# Write the batch job `feature_job(topic)` and register its feature view:
#
# 1. **consume** every record of `topic` (all partitions, from the beginning);
# 2. per card and **UTC day**, compute `tx_count_1d` (number of transactions, int64) and `amt_sum_1d`
#    (sum of `amount`, float64);
# 3. stamp each row with **`event_timestamp` = the end of that day** (day start + 1 day, UTC): the
#    moment the value became known. Stamping it with the day's start would let a training row at
#    noon see the whole day's total — a leak;
# 4. write the frame (`card_id`, `event_timestamp`, `tx_count_1d`, `amt_sum_1d`) to `OFFLINE_PATH`
#    as Parquet and return it;
# 5. define `card_daily`: a `FeatureView` named `"card_daily"` on `card`, source `card_daily_source`,
#    **TTL = `TTL`** (2 days), schema `tx_count_1d` `Int64`, `amt_sum_1d` `Float64`, `online=True`;
#    register `card`, `card_daily_source` and it with `store.apply([...])`.
#
# <details><summary>Hint 1</summary><code>read_topic(KAFKA_BOOTSTRAP, topic)</code> (from
# <code>labkit.streaming</code>, imported above) is a consumer that reads every partition up to its
# end and returns records with <code>.value</code> (bytes); or write the loop with
# <code>confluent_kafka.Consumer</code> yourself.</details>
# <details><summary>Hint 2</summary><code>pd.to_datetime(df["event_time"], unit="s", utc=True).dt.floor("D")</code>
# is the day; <code>groupby(["card_id", "day"]).agg(tx_count_1d=("amount", "size"), amt_sum_1d=("amount", "sum"))</code>.</details>
# <details><summary>Hint 3</summary>Copy the shape of Module 3's <code>card_realtime</code> view;
# <code>ttl=TTL</code>.</details>

# %% answer="pipeline"
def feature_job(topic: str) -> pd.DataFrame:
    ### BEGIN SOLUTION
    records = read_topic(KAFKA_BOOTSTRAP, topic)
    events = pd.DataFrame([json.loads(r.value) for r in records])
    events["day"] = pd.to_datetime(events["event_time"], unit="s", utc=True).dt.floor("D")
    daily = (
        events.groupby(["card_id", "day"])
        .agg(tx_count_1d=("amount", "size"), amt_sum_1d=("amount", "sum"))
        .reset_index()
    )
    out = pd.DataFrame(
        {
            "card_id": daily["card_id"],
            "event_timestamp": daily["day"] + pd.Timedelta(days=1),
            "tx_count_1d": daily["tx_count_1d"].astype("int64"),
            "amt_sum_1d": daily["amt_sum_1d"].astype("float64"),
        }
    )
    out.to_parquet(OFFLINE_PATH, index=False)
    return out
    ### END SOLUTION


card_daily_df = feature_job(TOPIC)
### BEGIN SOLUTION
card_daily = FeatureView(
    name="card_daily",
    entities=[card],
    ttl=TTL,
    schema=[Field(name="tx_count_1d", dtype=Int64), Field(name="amt_sum_1d", dtype=Float64)],
    source=card_daily_source,
    online=True,
)
with quiet():
    store.apply([card, card_daily_source, card_daily])
### END SOLUTION
card_daily_df.tail(3)

# %% check="pipeline" points=3
_offline = pd.read_parquet(OFFLINE_PATH)
assert {"card_id", "event_timestamp", "tx_count_1d", "amt_sum_1d"} <= set(_offline.columns), (
    f"expected card_id, event_timestamp, tx_count_1d, amt_sum_1d in {OFFLINE_PATH}, saw {list(_offline.columns)}"
)
_fv = FeatureStore(repo_path=str(REPO)).get_feature_view("card_daily")
assert {f.name for f in _fv.features} == set(FEATURE_COLUMNS), f"features registered: {[f.name for f in _fv.features]}"
### BEGIN HIDDEN TESTS
_day = tx["event_timestamp"].dt.floor("D")
_ref = (
    tx.assign(day=_day).groupby(["card_id", "day"])
    .agg(tx_count_1d=("TransactionAmt", "size"), amt_sum_1d=("TransactionAmt", "sum")).reset_index()
)
_ref["event_timestamp"] = _ref["day"] + pd.Timedelta(days=1)
assert len(_offline) == len(_ref), f"expected {len(_ref)} card-days in the Parquet, saw {len(_offline)} (all partitions?)"
_m = _ref.merge(_offline, on=["card_id", "event_timestamp"], how="left", suffixes=("", "_got"))
assert _m["tx_count_1d_got"].notna().all(), (
    "some (card, end-of-day) rows are missing: event_timestamp must be the END of the UTC day"
)
assert (_m["tx_count_1d"] == _m["tx_count_1d_got"]).all(), "tx_count_1d differs from the count per card and day"
assert np.allclose(_m["amt_sum_1d"], _m["amt_sum_1d_got"], rtol=1e-9), "amt_sum_1d differs from the sum per card and day"
assert _fv.ttl == TTL, f"card_daily's TTL should be {TTL}, the registry says {_fv.ttl}"
assert _fv.online, "card_daily must be online=True"
assert _fv.entities == ["card"], f"card_daily should be keyed by 'card', found {_fv.entities}"
assert {f.name: str(f.dtype) for f in _fv.features} == {"tx_count_1d": "Int64", "amt_sum_1d": "Float64"}
assert Path(_fv.batch_source.path).resolve() == OFFLINE_PATH, f"the view should read {OFFLINE_PATH}"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: a point-in-time training set (2 points)
#
# A training row is a labelled transaction; its features must be the values **known at that moment**.
# `get_historical_features` joins each (card, time) to the newest feature row with
# `event_timestamp <= time` **and** not older than the TTL — else the features are null, exactly what
# the online store would (should) have served then.
#
# Write `training_set(labels)`: the entity frame is `labels[["TransactionID", "card_id",
# "event_timestamp"]]`; call `store.get_historical_features(entity_df=..., features=FEATURES).to_df()`
# and **merge the result back onto `labels`** (left join on `TransactionID`), so that every label row
# stays, whatever the offline store does with rows that found no value. Return `labels` + the two
# feature columns. The check recomputes the join by hand with `pd.merge_asof`.
#
# <details><summary>Hint</summary>Same as Module 3's Exercise 3: the entity frame's extra column
# (<code>TransactionID</code>) comes back in Feast's result.</details>

# %% locked=true
LABELS = tx.loc[tx["event_timestamp"] >= NOW - timedelta(days=45), ["TransactionID", "card_id", "event_timestamp", "isFraud"]]
LABELS = LABELS.reset_index(drop=True)
print(len(LABELS), "labelled transactions in the last 45 days")

# %% answer="pit"
def training_set(labels: pd.DataFrame) -> pd.DataFrame:
    ### BEGIN SOLUTION
    entity_df = labels[["TransactionID", "card_id", "event_timestamp"]]
    with quiet():
        joined = store.get_historical_features(entity_df=entity_df, features=FEATURES).to_df()
    return labels.merge(joined[["TransactionID", *FEATURE_COLUMNS]], on="TransactionID", how="left")
    ### END SOLUTION


train_df = training_set(LABELS)
print(f"{train_df['tx_count_1d'].isna().mean():.1%} of rows have no feature value inside the TTL")
train_df.head()

# %% check="pit" points=2
assert len(train_df) == len(LABELS), f"expected {len(LABELS)} rows (one per label), saw {len(train_df)}"
assert set(FEATURE_COLUMNS) <= set(train_df.columns), f"feature columns missing: {list(train_df.columns)}"
### BEGIN HIDDEN TESTS
_asof = pd.merge_asof(
    LABELS.sort_values("event_timestamp"),
    card_daily_df.rename(columns={"event_timestamp": "_fts"}).sort_values("_fts"),
    left_on="event_timestamp", right_on="_fts", by="card_id", tolerance=TTL, direction="backward",
).set_index("TransactionID").loc[train_df["TransactionID"]]
for _col in FEATURE_COLUMNS:
    _same = np.isclose(train_df[_col].to_numpy(float), _asof[_col].to_numpy(float), rtol=1e-9, equal_nan=True)
    assert _same.mean() > 0.999, f"{_col}: {_same.mean():.1%} of rows match a point-in-time join within the TTL"
assert train_df["tx_count_1d"].isna().sum() == _asof["tx_count_1d"].isna().sum(), (
    f"expected {_asof['tx_count_1d'].isna().sum()} null rows (TTL expired), saw {train_df['tx_count_1d'].isna().sum()}"
)
### END HIDDEN TESTS

# %% [markdown]
# Rows with nulls are transactions of cards with no activity in the two days before: the TTL says
# "that old, it no longer counts". Training sees nulls where serving sees nulls — as long as serving
# enforces the same TTL, which Exercise 4 is about.

# %% [markdown]
# ## Exercise 3: materialize incrementally while time advances (3 points)
#
# In production a scheduler (Airflow, EventBridge) runs `feast materialize-incremental <now>` every
# few minutes: each run copies into Redis only the rows **since the previous run's end** (Feast
# records every materialized interval in the registry).
#
# Our clock is simulated, so pass it in. One catch: the very first `materialize_incremental` starts
# one TTL before the **wall-clock** now (`feature_view.most_recent_end_time` is still `None`) — a
# window in 2026 where this 2018 data has no rows. So the first run is an explicit backfill. Write
# - `advance_to(t)`: for `card_daily` only — if the view was never materialized, `store.materialize(
#   start_date=t - TTL, end_date=t, ...)`; otherwise `store.materialize_incremental(end_date=t, ...)`
#   (pass `datetime`s: `t.to_pydatetime()`);
# - `lookup(card_ids)`: `store.get_online_features(features=FEATURES, entity_rows=[{"card_id": c}
#   ...]).to_df()`, one row per card in the order given.
#
# Then run the schedule: advance to `T1` (three days ago), keep `online_t1 = lookup(WATCH)`, advance to
# `T2 = NOW`, keep `online_t2 = lookup(WATCH)`. `WATCH` holds cards active in both periods.
#
# <details><summary>Hint 1</summary><code>store.get_feature_view("card_daily").most_recent_end_time is None</code>
# tells you it is the first run; <code>feature_views=["card_daily"]</code> in both calls.
# Do not use <code>materialize(start, end)</code> over the whole history: at <code>T1</code> Redis
# would then already hold values from the future.</details>
# <details><summary>Hint 2</summary>A <code>datetime</code> with a timezone: <code>T1.to_pydatetime()</code>.</details>

# %% locked=true
T1, T2 = NOW - timedelta(days=3), NOW
_daily = globals().get("card_daily_df", pd.DataFrame(columns=["card_id", "event_timestamp", *FEATURE_COLUMNS]))


def _state_at(t: pd.Timestamp, start: pd.Timestamp) -> pd.DataFrame:
    """Latest row per card with start < event_timestamp <= t: what Redis holds after materializing (start, t]."""
    w = _daily[(_daily["event_timestamp"] > start) & (_daily["event_timestamp"] <= t)]
    return w.sort_values("event_timestamp").groupby("card_id").tail(1).set_index("card_id")


_before = _daily[(card_daily_df["event_timestamp"] <= T1) & (card_daily_df["event_timestamp"] > T1 - TTL)]
_after = _daily[(_daily["event_timestamp"] > T1) & (_daily["event_timestamp"] <= T2)]
WATCH = sorted(set(_before["card_id"]) & set(_after["card_id"]))[:20]
print(len(WATCH), "cards to watch; T1 =", T1, "T2 =", T2)

# %% answer="materialize"
def advance_to(t: pd.Timestamp) -> None:
    ### BEGIN SOLUTION
    with quiet():
        if store.get_feature_view("card_daily").most_recent_end_time is None:
            store.materialize(
                start_date=(t - TTL).to_pydatetime(), end_date=t.to_pydatetime(), feature_views=["card_daily"]
            )
        else:
            store.materialize_incremental(end_date=t.to_pydatetime(), feature_views=["card_daily"])
    ### END SOLUTION


def lookup(card_ids: list[str]) -> pd.DataFrame:
    ### BEGIN SOLUTION
    with quiet():
        return store.get_online_features(features=FEATURES, entity_rows=[{"card_id": c} for c in card_ids]).to_df()
    ### END SOLUTION


### BEGIN SOLUTION
advance_to(T1)
online_t1 = lookup(WATCH)
advance_to(T2)
online_t2 = lookup(WATCH)
### END SOLUTION
online_t1.merge(online_t2, on="card_id", suffixes=("_t1", "_t2")).head()


# %% check="materialize" points=3
assert len(online_t1) == len(WATCH) and len(online_t2) == len(WATCH), "one row per watched card expected"
_changed = (online_t1.set_index("card_id")["amt_sum_1d"] != online_t2.set_index("card_id")["amt_sum_1d"]).mean()
assert _changed > 0.5, f"online values should move between T1 and T2 for cards active in both periods ({_changed:.0%} did)"
### BEGIN HIDDEN TESTS
_s1 = _state_at(T1, T1 - TTL).loc[WATCH]
_s2 = _state_at(T2, T1 - TTL).loc[WATCH]
for _got, _exp, _when in ((online_t1, _s1, "T1"), (online_t2, _s2, "T2")):
    _g = _got.set_index("card_id").loc[WATCH]
    assert np.allclose(_g["amt_sum_1d"].to_numpy(float), _exp["amt_sum_1d"].to_numpy(float), rtol=1e-9), (
        f"online values at {_when} are not the latest rows up to {_when}: expected {_exp['amt_sum_1d'].head(3).tolist()}, "
        f"saw {_g['amt_sum_1d'].head(3).tolist()}"
    )
_intervals = store.get_feature_view("card_daily").materialization_intervals
_ends = sorted(pd.Timestamp(e).tz_convert("UTC") if pd.Timestamp(e).tzinfo else pd.Timestamp(e, tz="UTC") for _, e in _intervals)
assert len(_intervals) == 2 and _ends == [T1, T2], f"expected two materializations ending at T1 and T2, the registry has {_intervals}"
_all = _state_at(T2, T1 - TTL)
with quiet():
    _redis = store.get_online_features(features=FEATURES, entity_rows=[{"card_id": c} for c in _all.index]).to_df()
assert (_redis["tx_count_1d"].to_numpy() == _all["tx_count_1d"].to_numpy()).all(), "Redis does not hold the latest value of every card"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: TTL on the online path, and a real-time push (2 points)
#
# The offline join enforces the TTL. **The online store does not**: Redis keeps a card's last value
# until it is overwritten, so a card silent for a month still gets served a month-old daily total as
# if it were today's. (Feast's Redis store has `key_ttl_seconds` to let Redis *delete* keys after a
# wall-clock time, but that clock is the real one, not the event time.) The serving path must check
# the age itself — the same rule as training, or the model sees at serving time what it never saw
# in training.
#
# 1. Write `fresh_lookup(card_ids, now)`: an online lookup with `to_df(include_event_timestamps=True)`
#    (each feature `f` gets `f__ts`, its event time in epoch seconds); add `age_hours` = now minus
#    `tx_count_1d__ts`, in hours; set **both features to null (NaN)** where `age_hours` is greater than
#    the view's TTL (read it from the registry: `store.get_feature_view("card_daily").ttl`). Return
#    `card_id`, the two features and `age_hours`.
# 2. `STALE_CARD` last transacted weeks ago. A new transaction for it arrives *now*: the stream job
#    computed its row `REALTIME_ROW`. **Push** it to the online store:
#    `store.push("card_daily_push", REALTIME_ROW, to=PushMode.ONLINE)` — the streaming path's way into
#    Feast, no materialization needed.
#
# <details><summary>Hint 1</summary><code>(now - pd.to_datetime(df["tx_count_1d__ts"], unit="s", utc=True)).dt.total_seconds() / 3600</code>.</details>
# <details><summary>Hint 2</summary><code>df.loc[stale, FEATURE_COLUMNS] = np.nan</code> — cast
# <code>tx_count_1d</code> to float first.</details>

# %% locked=true
_last = _daily.sort_values("event_timestamp").groupby("card_id").tail(1)
_old = _last[(_last["event_timestamp"] > T1 - TTL) & (_last["event_timestamp"] <= T1)]  # in Redis, now stale
STALE_CARD = sorted(_old["card_id"])[0] if len(_old) else "none"
REALTIME_ROW = pd.DataFrame(
    {"card_id": [STALE_CARD], "event_timestamp": [NOW - timedelta(minutes=10)], "tx_count_1d": [1], "amt_sum_1d": [99.5]}
)
CHECK_CARDS = sorted(_state_at(T2, T1 - TTL).index)[:300]
print("stale card:", STALE_CARD, "last value at", _last.set_index("card_id")["event_timestamp"].get(STALE_CARD))

# %% answer="fresh"
def fresh_lookup(card_ids: list[str], now: pd.Timestamp) -> pd.DataFrame:
    ### BEGIN SOLUTION
    ttl_hours = store.get_feature_view("card_daily").ttl.total_seconds() / 3600
    with quiet():
        df = store.get_online_features(
            features=FEATURES, entity_rows=[{"card_id": c} for c in card_ids]
        ).to_df(include_event_timestamps=True)
    df["age_hours"] = (now - pd.to_datetime(df["tx_count_1d__ts"], unit="s", utc=True)).dt.total_seconds() / 3600
    df["tx_count_1d"] = df["tx_count_1d"].astype(float)
    df.loc[df["age_hours"] > ttl_hours, FEATURE_COLUMNS] = np.nan
    return df[["card_id", *FEATURE_COLUMNS, "age_hours"]]
    ### END SOLUTION


before_push = fresh_lookup([STALE_CARD], NOW)
### BEGIN SOLUTION
with quiet():
    store.push("card_daily_push", REALTIME_ROW, to=PushMode.ONLINE)
### END SOLUTION
after_push = fresh_lookup([STALE_CARD], NOW)
pd.concat([before_push.assign(when="before push"), after_push.assign(when="after push")])

# %% check="fresh" points=2
assert np.isnan(float(before_push["amt_sum_1d"].iloc[0])), f"{STALE_CARD}'s value is older than the TTL: expected NaN, saw {before_push.iloc[0].to_dict()}"
assert abs(float(after_push["amt_sum_1d"].iloc[0]) - 99.5) < 1e-6, f"after the push expected amt_sum_1d 99.5, saw {after_push.iloc[0].to_dict()}"
### BEGIN HIDDEN TESTS
with quiet():
    _raw = store.get_online_features(features=FEATURES, entity_rows=[{"card_id": STALE_CARD}]).to_df()
assert abs(float(_raw["amt_sum_1d"].iloc[0]) - 99.5) < 1e-6, "Redis does not hold the pushed row"
assert abs(float(after_push["age_hours"].iloc[0]) - 1 / 6) < 0.01, f"age after the push should be 10 min, saw {after_push['age_hours'].iloc[0]} h"
_f = fresh_lookup(CHECK_CARDS, NOW).set_index("card_id").loc[CHECK_CARDS]
_lt = _state_at(T2, T1 - TTL).loc[CHECK_CARDS]
_age = (NOW - _lt["event_timestamp"]).dt.total_seconds() / 3600
_age = _age.where(_lt.index != STALE_CARD, 1 / 6)
assert np.allclose(_f["age_hours"].to_numpy(float), _age.to_numpy(float), atol=0.01), "age_hours is not now - the value's event time"
_exp_null = (_age > TTL.total_seconds() / 3600).to_numpy()
assert _exp_null.any() and (~_exp_null).any()
assert (_f["amt_sum_1d"].isna().to_numpy() == _exp_null).all() and (_f["tx_count_1d"].isna().to_numpy() == _exp_null).all(), (
    f"expected {_exp_null.sum()} of {len(_f)} cards nulled (age > TTL), saw {_f['amt_sum_1d'].isna().sum()}"
)
### END HIDDEN TESTS

# %% [markdown]
# ## Wrap-up and cleanup
#
# **What ran here:** a real Kafka topic and a consumer job producing the features, a real Feast 0.67
# store (file registry, Parquet offline store read by Feast's file/Dask engine, real Redis online
# store), point-in-time joins, incremental materialization recorded in the registry, a push from the
# streaming path, and TTL enforced on the online path by your code.
#
# **What the live AWS tier adds:** the job as a Spark (EMR/Glue) or Flink job reading MSK or the S3
# lake and writing partitioned Parquet to S3 (the `FileSource` path becomes `s3://...`, Module 3), or a
# Redshift/Athena offline store; ElastiCache (or DynamoDB) as the online store; the registry in S3 or
# RDS; `feast materialize-incremental` on a schedule, with its lag (now minus the last interval's end)
# exported as a freshness metric and alerted on; a Feast feature server in front of Redis; and
# Redis `key_ttl_seconds` so that keys of silent entities are finally evicted.
#
# Cleanup: the project's Redis keys, the topic, the work folder.

# %% locked=true
with quiet():
    with contextlib.suppress(Exception):
        store.teardown()
_left = drop_project_keys(REDIS_URL, PROJECT)
delete_topics(admin_client(KAFKA_BOOTSTRAP), [TOPIC])
shutil.rmtree(WORK, ignore_errors=True)
print("cleaned up", PROJECT, "and", TOPIC)
