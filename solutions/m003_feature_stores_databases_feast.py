# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 3 — Feature stores and databases with Feast, Redis and PostgreSQL
#
# **Where this sits:** Module 1 tracked models; this module feeds them. The fraud-detection project
# needs the same card-level features twice: in bulk and *as of the past* to build training sets, and
# one card at a time, in milliseconds, when a transaction must be scored. A feature store keeps one
# definition of each feature and serves both. Later modules (serving, monitoring, the Feast deep dive
# in Module 32) build on what you set up here.
#
# **You will:**
# 1. learn Feast's building blocks — **entities**, **feature views** with a **TTL**, data sources —
#    and register them;
# 2. deploy the store the way it runs on AWS: the **offline store on S3** (here the moto S3 API),
#    the **online store on Redis** (ElastiCache in the cloud), and **materialize** into it;
# 3. build a **point-in-time correct** training set and measure the leakage a naive join causes;
# 4. monitor **freshness** and **feature health** (age vs TTL, null rate, range) and keep the results
#    in **PostgreSQL**;
# 5. check **online/offline consistency** and catch a skew planted in the streaming path.
#
# Vocabulary in one line each: an *entity* is the thing features describe (a card, keyed by
# `card_id`); a *feature view* is a group of features from one source with one timestamp column and a
# *TTL* (how old a value may be and still count); the *offline store* holds the full history;
# the *online store* holds the latest value per entity; *materialization* copies the latest values
# from offline to online; the *registry* is the catalogue of all definitions.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"  # the lab uses the CI-size fraud data (20k rows) either way
DATA_DIR = os.environ.get("DATA_DIR", "")
AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_DSN = os.environ.get("POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

# %% [markdown]
# ## Setup
# Everything this lab creates is named from `RUN_ID`: the Feast project (which prefixes every Redis
# key it writes), the S3 bucket, the PostgreSQL schema, the local work folder. The feature repo
# folder holds only `feature_store.yaml`: the `feast apply` CLI imports every `.py` file in it, so we
# keep the definitions here and call `FeatureStore.apply()` from Python instead.

# %%
import contextlib
import io
import logging
import shutil
import sys
import warnings
from datetime import timedelta
from pathlib import Path

from labkit import labenv

os.environ["FEAST_USAGE"] = "False"  # no telemetry calls
labenv.configure(DATA_DIR)  # fail-fast clients, dummy AWS credentials, this env's tools on PATH
warnings.filterwarnings("ignore")
logging.getLogger("feast").setLevel(logging.ERROR)

import boto3
import numpy as np
import pandas as pd
import psycopg2
import redis
from botocore.config import Config
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, PushSource, ValueType
from feast.data_source import PushMode
from feast.types import Float32, Int64
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from labkit.featurestore import card_ids, drop_project_keys, event_time, project_name, write_repo_config
from labkit.fraud import card_velocity, time_split
from mlops_datasets import load


@contextlib.contextmanager
def quiet():
    """Silence library warnings and progress bars (Feast and Dask write them to stderr)."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


PROJECT = project_name("m003", RUN_ID)
NAME = "m003-" + RUN_ID.lower().replace("_", "-")
BUCKET = f"feast-{NAME}"
PG_SCHEMA = PROJECT
WORK = Path("m003-work") / NAME
REPO = WORK / "feature_repo"

# fail fast when a service is down instead of retrying for minutes
s3 = boto3.client("s3", endpoint_url=AWS_ENDPOINT_URL, config=Config(retries={"max_attempts": 1}, connect_timeout=5))
rdb = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
rdb.ping()

# a rerun starts clean: old registry, old online values, old health rows
shutil.rmtree(WORK, ignore_errors=True)
drop_project_keys(REDIS_URL, PROJECT)
with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
    s3.create_bucket(Bucket=BUCKET)
write_repo_config(REPO, PROJECT, REDIS_URL, registry=WORK / "registry.db")
with psycopg2.connect(POSTGRES_DSN, connect_timeout=5) as _pg, _pg.cursor() as _cur:
    _cur.execute(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')
    _cur.execute(f'CREATE SCHEMA "{PG_SCHEMA}"')
    _cur.execute(
        f"""CREATE TABLE "{PG_SCHEMA}".feature_health (
            checked_at timestamptz NOT NULL DEFAULT now(),
            feature_view text NOT NULL, feature text NOT NULL,
            newest_event_ts timestamptz, age_hours double precision, ttl_hours double precision,
            fresh boolean, null_rate double precision, out_of_range_rate double precision)"""
    )
_pg.close()
print("project:", PROJECT, "| bucket:", BUCKET, "| postgres schema:", PG_SCHEMA)
print((REPO / "feature_store.yaml").read_text())

# %% [markdown]
# ## The data and its two feature pipelines
#
# The fraud transactions (one row per transaction, `isFraud` is the label) describe cards: a card is
# (`card1`, `addr1`). We compute two groups of card features, the way a fraud team would:
#
# - **`card_daily`** — a nightly batch job: at the end of every day a card was active, its number of
#   transactions and mean amount over the last 7 days, and `chargebacks_total`, the number of its
#   transactions confirmed as fraud so far (a real, strong signal — and a dangerous one, as you will
#   see). The row's `event_timestamp` is the end of that day: the moment the values became known.
# - **`card_realtime`** — per transaction: `tx_count_1h` (the card's transactions in the previous
#   hour) and `amt_log` = log(1 + amount) of its latest transaction. In production a streaming job
#   computes these and pushes them to the online store; the offline history is written by the batch
#   backfill below.
#
# The simulated clock: the data ends on 2018-06-01, so **now** is `NOW` = 2018-06-02 00:00 UTC.
# Both offline tables go to S3 as Parquet: that *is* Feast's S3 offline store (a file source whose
# path is `s3://...`; Feast reads it with Dask through the S3 API, here at `AWS_ENDPOINT_URL`).

# %%
tx = load("fraud")["transactions"].sort_values("TransactionDT").reset_index(drop=True)
tx["card_id"] = card_ids(tx)
tx["event_timestamp"] = event_time(tx)
tx["tx_count_1h"] = card_velocity(tx, window_s=3600).astype("int64")
NOW = tx["event_timestamp"].max().ceil("D")
ALL_CARDS = sorted(tx["card_id"].unique())


def daily_card_features(tx: pd.DataFrame) -> pd.DataFrame:
    """The nightly batch job: one row per card and active day, stamped at the end of that day."""
    day = tx["event_timestamp"].dt.floor("D")
    daily = (
        tx.assign(day=day)
        .groupby(["card_id", "day"])
        .agg(n=("TransactionAmt", "size"), amount=("TransactionAmt", "sum"), fraud=("isFraud", "sum"))
        .reset_index()
        .sort_values(["card_id", "day"])
    )
    week = daily.set_index("day").groupby("card_id")[["n", "amount"]].rolling("7D").sum().reset_index()
    return pd.DataFrame(
        {
            "card_id": daily["card_id"].to_numpy(),
            "event_timestamp": pd.to_datetime(daily["day"].to_numpy(), utc=True) + pd.Timedelta(days=1),
            "tx_count_7d": week["n"].astype("int64").to_numpy(),
            "amt_mean_7d": (week["amount"] / week["n"]).round(2).to_numpy(),
            "chargebacks_total": daily.groupby("card_id")["fraud"].cumsum().astype("int64").to_numpy(),
        }
    )


def realtime_features_offline(tx: pd.DataFrame) -> pd.DataFrame:
    """The batch backfill of the real-time features: the offline path."""
    return pd.DataFrame(
        {
            "card_id": tx["card_id"],
            "event_timestamp": tx["event_timestamp"],
            "tx_count_1h": tx["tx_count_1h"],
            "amt_log": np.log1p(tx["TransactionAmt"]),
        }
    )


card_daily_df = daily_card_features(tx)
card_realtime_df = realtime_features_offline(tx)
DAILY_PATH = f"s3://{BUCKET}/offline/card_daily.parquet"
REALTIME_PATH = f"s3://{BUCKET}/offline/card_realtime.parquet"
for _path, _df in ((DAILY_PATH, card_daily_df), (REALTIME_PATH, card_realtime_df)):
    _buf = io.BytesIO()
    _df.to_parquet(_buf, index=False)
    s3.put_object(Bucket=BUCKET, Key=_path.split(f"{BUCKET}/", 1)[1], Body=_buf.getvalue())
print(f"{len(tx)} transactions, {len(ALL_CARDS)} cards, now = {NOW}")
print([o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]])
card_daily_df.tail(3)

# %% [markdown]
# ## Feast in one screen: an entity and a streaming feature view
#
# The store is a `FeatureStore` on the repo folder. Below, the **entity** `card` (join key
# `card_id`) and the **feature view** `card_realtime`: its source is a `PushSource` — the streaming
# job pushes fresh rows into it — backed by the S3 Parquet file as its batch (offline) source. Its TTL
# is one day: a real-time feature older than that should not be trusted. `apply` writes the
# definitions to the registry (a local file here; an S3 object or an RDS database in the cloud).

# %%
store = FeatureStore(repo_path=str(REPO))

card = Entity(name="card", join_keys=["card_id"], value_type=ValueType.STRING, description="a payment card")
card_realtime_source = PushSource(
    name="card_realtime_push",
    batch_source=FileSource(
        name="card_realtime_batch",
        path=REALTIME_PATH,
        timestamp_field="event_timestamp",
        s3_endpoint_override=AWS_ENDPOINT_URL,
    ),
)
card_realtime = FeatureView(
    name="card_realtime",
    entities=[card],
    ttl=timedelta(days=1),
    schema=[Field(name="tx_count_1h", dtype=Int64), Field(name="amt_log", dtype=Float32)],
    source=card_realtime_source,
    online=True,
)
with quiet():
    store.apply([card, card_realtime_source, card_realtime])
print("entities:", [e.name for e in store.list_entities()])
print("feature views:", [(fv.name, fv.ttl) for fv in store.list_feature_views()])

# %% [markdown]
# ## Exercise 1: the batch feature view on the S3 offline store
#
# Define and register the `card_daily` feature view:
# - `card_daily_source`: a `FileSource` named `"card_daily_source"` reading `DAILY_PATH` (on S3),
#   `timestamp_field="event_timestamp"`, and `s3_endpoint_override=AWS_ENDPOINT_URL` (in the cloud you
#   leave it out and Feast talks to the real S3);
# - `card_daily`: a `FeatureView` named `"card_daily"` on the `card` entity with a **TTL of 30 days**,
#   the schema `tx_count_7d` (`Int64`), `amt_mean_7d` (`Float32`), `chargebacks_total` (`Int64`),
#   `online=True`;
# - register both with `store.apply([...])`.
#
# Why the TTL matters: when Feast joins a feature value to an event, it only accepts values at most
# one TTL older than the event. A card silent for two months has no "last 7 days" worth using.
#
# <details><summary>Hint 1</summary>Copy the shape of <code>card_realtime</code> above; the source is
# a plain <code>FileSource</code>, not a <code>PushSource</code>.</details>
# <details><summary>Hint 2</summary><code>ttl=timedelta(days=30)</code>. Without a TTL (or with
# <code>timedelta(0)</code>) a value never expires.</details>

# %% answer="define_view"
### BEGIN SOLUTION
card_daily_source = FileSource(
    name="card_daily_source",
    path=DAILY_PATH,
    timestamp_field="event_timestamp",
    s3_endpoint_override=AWS_ENDPOINT_URL,
)
card_daily = FeatureView(
    name="card_daily",
    entities=[card],
    ttl=timedelta(days=30),
    schema=[
        Field(name="tx_count_7d", dtype=Int64),
        Field(name="amt_mean_7d", dtype=Float32),
        Field(name="chargebacks_total", dtype=Int64),
    ],
    source=card_daily_source,
    online=True,
)
with quiet():
    store.apply([card_daily_source, card_daily])
### END SOLUTION

DAILY_FEATURES = ["card_daily:tx_count_7d", "card_daily:amt_mean_7d", "card_daily:chargebacks_total"]
REALTIME_FEATURES = ["card_realtime:tx_count_1h", "card_realtime:amt_log"]

# %% check="define_view" points=2
_fv = FeatureStore(repo_path=str(REPO)).get_feature_view("card_daily")
assert _fv.entities == ["card"], f"card_daily should be keyed by the entity 'card', found {_fv.entities}"
assert {f.name for f in _fv.features} == {"tx_count_7d", "amt_mean_7d", "chargebacks_total"}, (
    f"features registered: {[f.name for f in _fv.features]}"
)
### BEGIN HIDDEN TESTS
assert _fv.ttl == timedelta(days=30), f"card_daily's TTL should be 30 days, the registry says {_fv.ttl}"
assert _fv.online, "card_daily must be online=True to be materialized"
_types = {f.name: str(f.dtype) for f in _fv.features}
assert _types == {"tx_count_7d": "Int64", "amt_mean_7d": "Float32", "chargebacks_total": "Int64"}, _types
assert _fv.batch_source.path == DAILY_PATH, f"the source should read {DAILY_PATH}, it reads {_fv.batch_source.path}"
assert _fv.batch_source.s3_endpoint_override == AWS_ENDPOINT_URL, "the source needs s3_endpoint_override"
_probe = card_daily_df.sample(3, random_state=0)
with quiet():
    _got = store.get_historical_features(
        entity_df=_probe[["card_id", "event_timestamp"]], features=DAILY_FEATURES
    ).to_df()
_both = _probe.merge(_got, on=["card_id", "event_timestamp"], suffixes=("", "_feast"))
assert len(_both) == 3 and (_both["tx_count_7d"] == _both["tx_count_7d_feast"]).all(), (
    "reading card_daily from S3 through Feast did not return the stored values"
)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: materialize into Redis and look features up online
#
# The online store holds only the **latest** value per card, so a lookup is one Redis read. Write:
# - `materialize_daily()`: materialize **only** `card_daily` (the real-time view is fed by the
#   stream, not by batch) over **one TTL window ending at `NOW`** — older values would be expired
#   anyway. Use `store.materialize(start_date=..., end_date=..., feature_views=[...])`.
# - `online_features(card_ids)`: return `store.get_online_features(features=DAILY_FEATURES,
#   entity_rows=[{"card_id": c} ...]).to_df()` — one row per card, in the order given.
#
# Our clock is simulated: `materialize_incremental(end_date=datetime.now())` would ask for a window
# ending today, in which this 2018 data has no rows.
#
# <details><summary>Hint 1</summary><code>start_date=(NOW - card_daily.ttl).to_pydatetime()</code>,
# <code>end_date=NOW.to_pydatetime()</code>.</details>
# <details><summary>Hint 2</summary>Cards with no row inside the window come back with nulls: that is
# expected, they have been silent for over 30 days.</details>

# %% answer="materialize"
def materialize_daily() -> None:
    ### BEGIN SOLUTION
    store.materialize(
        start_date=(NOW - timedelta(days=30)).to_pydatetime(),
        end_date=NOW.to_pydatetime(),
        feature_views=["card_daily"],
    )
    ### END SOLUTION


def online_features(card_ids: list[str]) -> pd.DataFrame:
    ### BEGIN SOLUTION
    return store.get_online_features(
        features=DAILY_FEATURES, entity_rows=[{"card_id": c} for c in card_ids]
    ).to_df()
    ### END SOLUTION


with quiet():
    materialize_daily()
_recent = card_daily_df.loc[card_daily_df["event_timestamp"] == NOW, "card_id"].head(3).tolist()
online_features(_recent)

# %% check="materialize" points=2
with quiet():
    _on = online_features(ALL_CARDS)
assert len(_on) == len(ALL_CARDS), f"one row per card expected ({len(ALL_CARDS)}), got {len(_on)}"
assert _on.loc[_on["card_id"].isin(_recent), "tx_count_7d"].notna().all(), "cards active yesterday have no online value"
### BEGIN HIDDEN TESTS
_window = card_daily_df[card_daily_df["event_timestamp"] >= NOW - timedelta(days=30)]
_latest = _window.sort_values("event_timestamp").groupby("card_id").tail(1).set_index("card_id")
_have = _on.set_index("card_id")["tx_count_7d"].notna()
assert _have.sum() == len(_latest), (
    f"{_have.sum()} cards have online values, expected {len(_latest)} (every card with a row in the last 30 days)"
)
_cmp = _on.set_index("card_id").loc[_latest.index]
assert np.allclose(_cmp["amt_mean_7d"], _latest["amt_mean_7d"], rtol=1e-5), "online amt_mean_7d is not the latest value"
assert (_cmp["chargebacks_total"] == _latest["chargebacks_total"]).all(), "online chargebacks_total is not the latest value"
with quiet():
    _rt = store.get_online_features(features=REALTIME_FEATURES, entity_rows=[{"card_id": c} for c in ALL_CARDS]).to_df()
assert _rt["amt_log"].isna().all(), "card_realtime was materialized too: only card_daily should be (the stream feeds the other)"
assert sum(1 for _ in rdb.scan_iter(match=b"*" + PROJECT.encode(), count=1000)) >= len(_latest), "Redis holds too few keys"
### END HIDDEN TESTS

# %% [markdown]
# ## The streaming path
#
# The real-time features reach Redis another way: a streaming job (another team's code) consumes
# transactions, computes the features itself and **pushes** them straight to the online store. Below
# it replays the transactions of the last days. The job's consumer stopped three days before `NOW`,
# and nobody noticed: keep that in mind for Exercise 4.

# %%
STREAM_STOPPED = NOW - timedelta(days=3)


def stream_job(events: pd.DataFrame) -> pd.DataFrame:
    """The streaming team's transform, re-implemented in their service."""
    return pd.DataFrame(
        {
            "card_id": events["card_id"],
            "event_timestamp": events["event_timestamp"],
            "tx_count_1h": events["tx_count_1h"],
            "amt_log": np.log(events["TransactionAmt"]),
        }
    )


_replay = tx[(tx["event_timestamp"] >= STREAM_STOPPED - timedelta(days=4)) & (tx["event_timestamp"] < STREAM_STOPPED)]
with quiet():
    store.push("card_realtime_push", stream_job(_replay), to=PushMode.ONLINE)
print(f"stream pushed {len(_replay)} events for {_replay['card_id'].nunique()} cards, the last at {_replay['event_timestamp'].max()}")

# %% [markdown]
# ## Exercise 3: a point-in-time correct training set, and the leak a naive join causes
#
# A training row is a labelled transaction. Its features must be the values **known at the moment of
# the transaction** — never later ones. `get_historical_features` does this join for you: for each
# (card, event time) it takes the newest feature row with `event_timestamp <= event time` and not
# older than the TTL.
#
# The labels are in `LABELS` (one row per transaction). Write:
# 1. `pit_training_set(labels)`: call `store.get_historical_features(entity_df=..., features=
#    DAILY_FEATURES).to_df()` with an entity frame of `TransactionID`, `card_id`, `event_timestamp`,
#    then **merge the result back onto `labels`** (left join on `TransactionID`) so every label row
#    stays — Feast's file offline store drops entity rows that have no feature value inside the TTL
#    window, and a training set must not silently lose rows. Return `labels` + the three feature columns.
# 2. `naive_training_set(labels)`: the mistake this exercise is about — join each transaction to its
#    card's **latest** row in `card_daily_df` (the current state of the table), keeping that row's
#    timestamp in a column `feature_ts`.
# 3. `validation_auc(df)`: with `time_split(df)` (first 70% in time train, the rest validate), fit
#    `LogisticRegression(max_iter=1000)` on the three features (nulls filled with 0) and return the
#    validation ROC AUC.
# 4. `leakage`: a dict with `naive_future_fraction` (fraction of naive rows whose `feature_ts` is
#    after the transaction's `event_timestamp`), `auc_pit` and `auc_naive`.
#
# <details><summary>Hint 1</summary>Latest row per card:
# <code>card_daily_df.sort_values("event_timestamp").groupby("card_id").tail(1)</code>; rename its
# <code>event_timestamp</code> to <code>feature_ts</code> before merging on <code>card_id</code>.</details>
# <details><summary>Hint 2</summary>Which feature do you expect to leak most? A fraudulent
# transaction's own chargeback is counted in its card's final <code>chargebacks_total</code>.</details>

# %%
LABELS = tx[["TransactionID", "TransactionDT", "card_id", "event_timestamp", "isFraud"]].copy()
FEATURE_COLUMNS = ["tx_count_7d", "amt_mean_7d", "chargebacks_total"]

# %% answer="pit"
def pit_training_set(labels: pd.DataFrame) -> pd.DataFrame:
    ### BEGIN SOLUTION
    entity_df = labels[["TransactionID", "card_id", "event_timestamp"]]
    with quiet():
        joined = store.get_historical_features(entity_df=entity_df, features=DAILY_FEATURES).to_df()
    return labels.merge(joined[["TransactionID", *FEATURE_COLUMNS]], on="TransactionID", how="left")
    ### END SOLUTION


def naive_training_set(labels: pd.DataFrame) -> pd.DataFrame:
    ### BEGIN SOLUTION
    latest = card_daily_df.sort_values("event_timestamp").groupby("card_id").tail(1)
    latest = latest.rename(columns={"event_timestamp": "feature_ts"})
    return labels.merge(latest, on="card_id", how="left")
    ### END SOLUTION


def validation_auc(df: pd.DataFrame) -> float:
    ### BEGIN SOLUTION
    train, valid = time_split(df)
    model = LogisticRegression(max_iter=1000).fit(train[FEATURE_COLUMNS].fillna(0), train["isFraud"])
    return float(roc_auc_score(valid["isFraud"], model.predict_proba(valid[FEATURE_COLUMNS].fillna(0))[:, 1]))
    ### END SOLUTION


training_df = pit_training_set(LABELS)
naive_df = naive_training_set(LABELS)
### BEGIN SOLUTION
leakage = {
    "naive_future_fraction": float((naive_df["feature_ts"] > naive_df["event_timestamp"]).mean()),
    "auc_pit": validation_auc(training_df),
    "auc_naive": validation_auc(naive_df),
}
### END SOLUTION
leakage

# %% check="pit" points=2
assert len(training_df) == len(LABELS), f"the training set has {len(training_df)} rows, the labels {len(LABELS)}"
assert leakage["auc_naive"] > leakage["auc_pit"], f"the naive join should look better (that is the leak): {leakage}"
### BEGIN HIDDEN TESTS
_ref = pd.merge_asof(
    LABELS.sort_values("event_timestamp"),
    card_daily_df.rename(columns={"event_timestamp": "_fts"}).sort_values("_fts"),
    left_on="event_timestamp", right_on="_fts", by="card_id",
    tolerance=pd.Timedelta(days=30), direction="backward",
).set_index("TransactionID").loc[training_df["TransactionID"]]
for _col in FEATURE_COLUMNS:
    _a, _b = training_df[_col].to_numpy(dtype=float), _ref[_col].to_numpy(dtype=float)
    _same = np.isclose(_a, _b, rtol=1e-5, equal_nan=True)
    assert _same.mean() > 0.999, f"{_col}: {_same.mean():.1%} of rows match a point-in-time join (expected all)"
_nv = LABELS.merge(card_daily_df.groupby("card_id")["event_timestamp"].max().rename("_fts"), on="card_id")
_frac = float((_nv["_fts"] > _nv["event_timestamp"]).mean())
assert abs(leakage["naive_future_fraction"] - _frac) < 0.01, f"naive_future_fraction {leakage['naive_future_fraction']}, expected {_frac:.3f}"
_tr, _va = time_split(_ref.reset_index())
_m = LogisticRegression(max_iter=1000).fit(_tr[FEATURE_COLUMNS].fillna(0), _tr["isFraud"])
_auc = roc_auc_score(_va["isFraud"], _m.predict_proba(_va[FEATURE_COLUMNS].fillna(0))[:, 1])
assert abs(leakage["auc_pit"] - _auc) < 0.02, f"auc_pit {leakage['auc_pit']:.3f}, expected about {_auc:.3f} (time split, nulls as 0)"
assert leakage["auc_naive"] - leakage["auc_pit"] > 0.1, f"the leak should inflate AUC by > 0.1: {leakage}"
### END HIDDEN TESTS

# %% [markdown]
# Look at the numbers: the naive table gives every row its card's final state — counted after the
# transaction, chargeback included — and the "model" looks far better than it is. That optimism
# disappears in production, where the future is not available. Point-in-time joins are the main
# reason to have a feature store for *training* at all.

# %% [markdown]
# ## Exercise 4: freshness and feature health, recorded in PostgreSQL
#
# **Feast does not expire online values on read:** Redis served 2018 values to you in Exercise 2
# although today is years later. Whether the online store is fresh is your monitoring's job.
# Write `feature_health(now)` returning one row per feature of **both** views, from an online lookup
# of **all cards** (`ALL_CARDS`) with `to_df(include_event_timestamps=True)` (each feature `f` gets a
# column `f__ts`: its event time in epoch seconds, 0 when the card has no value). Columns:
#
# | column | meaning |
# |---|---|
# | `feature_view`, `feature` | e.g. `card_daily`, `tx_count_7d` |
# | `newest_event_ts` | newest event time among the cards that have a value (UTC timestamp) |
# | `age_hours` | `now - newest_event_ts`, in hours |
# | `ttl_hours` | the view's TTL from the registry, in hours |
# | `fresh` | `age_hours <= ttl_hours` |
# | `null_rate` | fraction of `ALL_CARDS` with no online value |
# | `out_of_range_rate` | among the values present, the fraction outside `EXPECTED_RANGE[feature]` |
#
# `EXPECTED_RANGE` (below) is the 0.5%–99.5% range each feature had in the training period: values
# outside it are what the model never saw. Then insert the rows into `"{PG_SCHEMA}".feature_health`
# (created in Setup; `checked_at` defaults to now) — a table a dashboard or an alert can query.
#
# <details><summary>Hint 1</summary><code>now</code> is the simulated clock <code>NOW</code>, not
# <code>datetime.now()</code>.</details>
# <details><summary>Hint 2</summary><code>store.get_feature_view(name).ttl.total_seconds() / 3600</code>;
# <code>pd.to_datetime(seconds, unit="s", utc=True)</code>; insert with <code>psycopg2</code> and
# <code>cur.executemany(...)</code>.</details>

# %%
_train_period = tx["event_timestamp"] < tx["event_timestamp"].min() + timedelta(days=120)
_train_daily = card_daily_df[card_daily_df["event_timestamp"] < NOW - timedelta(days=60)]
EXPECTED_RANGE = {
    **{c: tuple(_train_daily[c].quantile([0.005, 0.995])) for c in FEATURE_COLUMNS},
    **{c: tuple(card_realtime_df.loc[_train_period, c].quantile([0.005, 0.995])) for c in ("tx_count_1h", "amt_log")},
}
VIEWS = {"card_daily": FEATURE_COLUMNS, "card_realtime": ["tx_count_1h", "amt_log"]}
EXPECTED_RANGE

# %% answer="health"
def feature_health(now: pd.Timestamp) -> pd.DataFrame:
    ### BEGIN SOLUTION
    rows = []
    for view, features in VIEWS.items():
        ttl_hours = store.get_feature_view(view).ttl.total_seconds() / 3600
        with quiet():
            online = store.get_online_features(
                features=[f"{view}:{f}" for f in features], entity_rows=[{"card_id": c} for c in ALL_CARDS]
            ).to_df(include_event_timestamps=True)
        for feature in features:
            values = online[feature]
            present = values.notna()
            newest = pd.to_datetime(online.loc[present, f"{feature}__ts"].max(), unit="s", utc=True)
            age_hours = (now - newest).total_seconds() / 3600
            lo, hi = EXPECTED_RANGE[feature]
            rows.append(
                {
                    "feature_view": view,
                    "feature": feature,
                    "newest_event_ts": newest,
                    "age_hours": age_hours,
                    "ttl_hours": ttl_hours,
                    "fresh": bool(age_hours <= ttl_hours),
                    "null_rate": float((~present).mean()),
                    "out_of_range_rate": float(((values[present] < lo) | (values[present] > hi)).mean()),
                }
            )
    return pd.DataFrame(rows)
    ### END SOLUTION


health = feature_health(NOW)
### BEGIN SOLUTION
with psycopg2.connect(POSTGRES_DSN) as _pg, _pg.cursor() as _cur:
    _cur.executemany(
        f'INSERT INTO "{PG_SCHEMA}".feature_health (feature_view, feature, newest_event_ts, age_hours, '
        "ttl_hours, fresh, null_rate, out_of_range_rate) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        [
            (r.feature_view, r.feature, r.newest_event_ts.to_pydatetime(), r.age_hours, r.ttl_hours,
             bool(r.fresh), r.null_rate, r.out_of_range_rate)
            for r in health.itertuples()
        ],
    )
_pg.close()
### END SOLUTION
health

# %% check="health" points=2
with psycopg2.connect(POSTGRES_DSN) as _pg, _pg.cursor() as _cur:
    _cur.execute(
        f'SELECT feature_view, feature, age_hours, ttl_hours, fresh, null_rate, out_of_range_rate '
        f'FROM "{PG_SCHEMA}".feature_health ORDER BY checked_at DESC LIMIT 5'
    )
    _db = pd.DataFrame(_cur.fetchall(), columns=["feature_view", "feature", "age_hours", "ttl_hours", "fresh",
                                                 "null_rate", "out_of_range_rate"])
_pg.close()
assert len(_db) == 5, f"expected 5 rows (one per feature) in {PG_SCHEMA}.feature_health, found {len(_db)}"
_db = _db.set_index(["feature_view", "feature"]).sort_index()
### BEGIN HIDDEN TESTS
assert _db.loc["card_daily", "fresh"].all(), f"card_daily was materialized up to NOW and is fresh:\n{_db}"
assert not _db.loc["card_realtime", "fresh"].any(), f"card_realtime stopped 3 days ago (TTL 1 day) and is stale:\n{_db}"
assert np.allclose(_db.loc["card_daily", "ttl_hours"], 720) and np.allclose(_db.loc["card_realtime", "ttl_hours"], 24)
with quiet():
    for _view, _features in VIEWS.items():
        _o = store.get_online_features(
            features=[f"{_view}:{f}" for f in _features], entity_rows=[{"card_id": c} for c in ALL_CARDS]
        ).to_df(include_event_timestamps=True)
        for _f in _features:
            _row = _db.loc[(_view, _f)]
            _p = _o[_f].notna()
            _age = (NOW - pd.to_datetime(_o.loc[_p, f"{_f}__ts"].max(), unit="s", utc=True)).total_seconds() / 3600
            assert abs(_row["age_hours"] - _age) < 0.5, f"{_view}:{_f} age {_row['age_hours']:.1f} h, expected {_age:.1f} h"
            assert abs(_row["null_rate"] - (~_p).mean()) < 0.005, (
                f"{_view}:{_f} null_rate {_row['null_rate']:.3f}, expected {(~_p).mean():.3f} (over ALL_CARDS)"
            )
            _lo, _hi = EXPECTED_RANGE[_f]
            _oor = ((_o.loc[_p, _f] < _lo) | (_o.loc[_p, _f] > _hi)).mean()
            assert abs(_row["out_of_range_rate"] - _oor) < 0.005, (
                f"{_view}:{_f} out_of_range_rate {_row['out_of_range_rate']:.3f}, expected {_oor:.3f}"
            )
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: online/offline consistency
#
# Training reads features from the offline store; serving reads the online store. If the two paths
# compute a feature differently (*training/serving skew*), the model sees at serving time inputs it
# was never trained on, and nothing crashes. The check: for every card with an online value, ask the
# offline store for the same card **at the same event time** and compare.
#
# Write `consistency_report(view, features)` returning one row per feature with columns
# `feature_view`, `feature`, `compared` (cards with an online value) and `mismatch_rate` (fraction of
# them whose offline value differs). Steps, per feature:
# 1. online lookup of `ALL_CARDS` with `include_event_timestamps=True`; keep cards with a value;
# 2. entity frame: `card_id` + `event_timestamp` = that card's `f__ts` (as a UTC timestamp);
#    `get_historical_features(...)` for the same feature;
# 3. compare with a tolerance (`np.isclose(..., rtol=1e-5, atol=1e-6)`): the online store keeps
#    `Float32`, the Parquet file float64, so exact equality would flag rounding, not skew.
#
# <details><summary>Hint</summary>Merge online and offline on <code>card_id</code> with suffixes
# <code>("_online", "_offline")</code>; an offline null where online has a value is a mismatch.</details>

# %% answer="consistency"
def consistency_report(view: str, features: list[str]) -> pd.DataFrame:
    ### BEGIN SOLUTION
    rows = []
    with quiet():
        online = store.get_online_features(
            features=[f"{view}:{f}" for f in features], entity_rows=[{"card_id": c} for c in ALL_CARDS]
        ).to_df(include_event_timestamps=True)
    for feature in features:
        have = online[online[feature].notna()]
        entity_df = pd.DataFrame(
            {"card_id": have["card_id"], "event_timestamp": pd.to_datetime(have[f"{feature}__ts"], unit="s", utc=True)}
        )
        with quiet():
            offline = store.get_historical_features(entity_df=entity_df, features=[f"{view}:{feature}"]).to_df()
        both = have[["card_id", feature]].merge(
            offline[["card_id", feature]], on="card_id", how="left", suffixes=("_online", "_offline")
        )
        same = np.isclose(
            both[f"{feature}_online"].to_numpy(float), both[f"{feature}_offline"].to_numpy(float), rtol=1e-5, atol=1e-6
        )
        rows.append({"feature_view": view, "feature": feature, "compared": len(both), "mismatch_rate": float(1 - same.mean())})
    return pd.DataFrame(rows)
    ### END SOLUTION


consistency = pd.concat([consistency_report(view, features) for view, features in VIEWS.items()], ignore_index=True)
consistency

# %% check="consistency" points=2
_c = consistency.set_index(["feature_view", "feature"])
assert _c.loc[("card_realtime", "amt_log"), "mismatch_rate"] > 0.9, f"the planted skew in amt_log was not found:\n{consistency}"
### BEGIN HIDDEN TESTS
for _f in FEATURE_COLUMNS:
    assert _c.loc[("card_daily", _f), "mismatch_rate"] < 0.001, (
        f"card_daily:{_f} is consistent (materialized from the same table) but reported {_c.loc[('card_daily', _f), 'mismatch_rate']:.1%}"
        " mismatched: compare with a tolerance (Float32 online vs float64 offline)"
    )
assert _c.loc[("card_realtime", "tx_count_1h"), "mismatch_rate"] < 0.001, "tx_count_1h is consistent on both paths"
with quiet():
    _o = store.get_online_features(features=DAILY_FEATURES + REALTIME_FEATURES,
                                   entity_rows=[{"card_id": c} for c in ALL_CARDS]).to_df()
assert _c.loc[("card_daily", "amt_mean_7d"), "compared"] == _o["amt_mean_7d"].notna().sum(), "compare every card with an online value"
assert _c.loc[("card_realtime", "amt_log"), "compared"] == _o["amt_log"].notna().sum(), "compare every card with an online value"
_fresh = consistency_report("card_daily", ["amt_mean_7d"])
assert len(_fresh) == 1 and _fresh["mismatch_rate"].iloc[0] < 0.001, "consistency_report should work for any view"
### END HIDDEN TESTS

# %% [markdown]
# The streaming job computes `log(amount)` where the offline backfill computes `log(1 + amount)`: a
# difference of a few percent, invisible in a dashboard of means, inside any plausible range — and
# exactly what the consistency check reports. The fix is one transform implemented once and used by
# both paths (Feast's on-demand feature views, or a shared library), plus this check in CI and on a
# schedule.
#
# ## Wrap-up and cleanup
#
# **What ran here:** a real Feast 0.67 feature store: registry in a local file, offline store as
# Parquet on an S3 API (moto) read by Feast's file/Dask offline store, online store in a real Redis;
# materialization, pushes, online lookups, point-in-time joins; health results in real PostgreSQL.
#
# **What the live AWS tier adds:** the Parquet files in a real S3 bucket (or Redshift/Athena as the
# offline store for larger joins), ElastiCache for Redis with TLS and AUTH, the registry in S3 or RDS
# shared by every team, `feast materialize-incremental` on a schedule (Airflow, EventBridge + a
# container task), a Feast feature server behind the model API, and the health and consistency checks
# as scheduled jobs whose results feed CloudWatch or Prometheus alerts (Module 5 and later).
#
# Cleanup: `teardown()` deletes this project's online values from Redis; then the bucket, the
# PostgreSQL schema and the work folder go.

# %%
with quiet():
    with contextlib.suppress(Exception):
        store.teardown()
_left = drop_project_keys(REDIS_URL, PROJECT)
_objects = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
for _obj in _objects:
    s3.delete_object(Bucket=BUCKET, Key=_obj["Key"])
s3.delete_bucket(Bucket=BUCKET)
with psycopg2.connect(POSTGRES_DSN) as _pg, _pg.cursor() as _cur:
    _cur.execute(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')
_pg.close()
shutil.rmtree(WORK, ignore_errors=True)
print("cleaned up", len(_objects), "objects,", BUCKET, "and schema", PG_SCHEMA)
