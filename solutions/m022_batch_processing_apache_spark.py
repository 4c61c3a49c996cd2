# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 22 — Batch processing with Apache Spark
#
# **Where this sits:** the first lab of the data-engineering part. Modules 1–6 trained, served and
# monitored fraud models on a table that fit in pandas. In production the fraud project's history is
# months of card transactions in a data lake, and the training set is rebuilt every night by a batch
# job. This lab writes that job in **PySpark**: it reads the raw transactions from S3, card-level
# velocity features, reference data from PostgreSQL and late-arriving chargebacks from Kafka, and
# writes a partitioned Parquet training set back to S3. Module 25 schedules it with Airflow and
# Module 26 loads its output into Feast.
#
# **You will:**
# 1. compute the same aggregate with the **RDD API and the DataFrame API**, and see why the
#    DataFrame version is the one to write;
# 2. **read from S3** (the `s3a://` connector), **PostgreSQL over JDBC** and **Kafka** (the Spark–Kafka
#    connector, as a batch read);
# 3. build per-card **window features** (rolling counts and amounts over time, lags) — the
#    transformations that make raw events useful to a model;
# 4. **write partitioned Parquet to S3** as the offline training set;
# 5. compare **EMR with a standalone cluster on EC2**, and submit this job to an (emulated) EMR cluster;
# 6. **optimise** with partitioning, bucketing, caching and a broadcast join, measuring before/after.
#
# **What runs here:** Spark 4 in `local[2]` mode (one JVM: the driver runs the executors' tasks on two
# threads), the S3 API on moto, a real PostgreSQL and a real Kafka broker. The connector jars come from
# Maven Central, fetched once by `scripts/install-spark-jars.sh` into the download cache; nothing is
# downloaded while the lab runs. The data are the course's synthetic fraud transactions (20 000 rows,
# six months): small enough for a laptop, shaped like the real thing.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
POSTGRES_DSN = os.environ.get("POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
SPARK_JARS_DIR = os.environ.get("SPARK_JARS_DIR", "")  # empty: the download cache (labkit.spark)

# %% [markdown]
# ## Setup
# Everything this lab creates (bucket, PostgreSQL table, Kafka topic, Spark warehouse, EMR cluster) is
# named from `RUN_ID`, so reruns and classmates never collide.
#
# **One SparkSession for the whole lab.** `labkit.spark.local_session` starts the JVM once with: the
# connector jars on the classpath; `s3a` pointed at the S3 endpoint (path-style URLs, no TLS, the
# emulator's dummy keys); 4 shuffle partitions instead of the default 200 (200 tiny tasks would cost
# more than the data); a 1 GB driver heap; no web UI; error-only logs. The JVM's own start-up chatter
# goes to a log file in the work directory. Starting the JVM takes a while on a small machine.

# %%
import io
import json
import logging
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import psycopg2
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from pyspark import RDD
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from labkit import labenv
from labkit.spark import jdbc_options, local_session, physical_plan, timed
from mlops_datasets import load
from mlops_datasets import path as dataset_path

labenv.configure(DATA_DIR)  # dummy AWS credentials unless real ones are set, this env's tools on PATH
NAME = labenv.resource_name("m022", RUN_ID)
SLUG = NAME.replace("-", "_")
BUCKET = f"lake-{NAME}"
TOPIC = f"{NAME}.chargebacks"
REF_TABLE = f"{SLUG}_email_domains"
WORK = Path("m022-work") / NAME
for _old in ("warehouse", "spark-tmp"):  # bucketed tables and shuffle files of an earlier run
    shutil.rmtree(WORK / _old, ignore_errors=True)
WORK.mkdir(parents=True, exist_ok=True)

s3 = boto3.client("s3", endpoint_url=AWS_ENDPOINT_URL)


def empty_bucket(bucket: str) -> int:
    """Delete every object in `bucket` (if it exists); returns how many."""
    try:
        pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket))
    except s3.exceptions.NoSuchBucket:
        return 0
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    for start in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]})
    return len(keys)


empty_bucket(BUCKET)  # a rerun starts from an empty lake
if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
    s3.create_bucket(Bucket=BUCKET)

_started = time.perf_counter()
spark = local_session(
    "m022-fraud-features",
    SPARK_JARS_DIR or None,
    s3_endpoint=AWS_ENDPOINT_URL,
    warehouse_dir=WORK / "warehouse",
    local_dir=WORK / "spark-tmp",
    log_file=WORK / "spark.log",
)
print(f"Spark {spark.version} ({spark.sparkContext.master}) up in {time.perf_counter() - _started:.1f} s")
print("bucket:", BUCKET, "| topic:", TOPIC, "| PostgreSQL table:", REF_TABLE)

# %% [markdown]
# ## Reading from S3: the raw zone
# Upstream systems drop raw files into a *raw zone* of the lake. We put the transactions CSV there
# with boto3, then read it with Spark through the `s3a://` filesystem (Hadoop's S3 connector: on EMR
# you would write `s3://`, which is EMRFS, the same idea).
#
# Two habits from production: give the **schema explicitly** (schema inference reads the whole file
# an extra time and guesses types), and remember that Spark is **lazy**: `spark.read` only records what
# to do; an *action* (`count`, `collect`, `write`) runs it.
#
# Seconds since 2017-12-01 become a real timestamp, and we derive the `month` we will partition by,
# and a `card_id`: in this dataset a card is `(card1, addr1)`, and `addr1` can be missing.

# %%
load("fraud")  # builds/verifies the dataset if needed
RAW_KEY = "raw/fraud/transactions.csv"
s3.upload_file(str(dataset_path("fraud") / "transactions.csv"), BUCKET, RAW_KEY)

SCHEMA = (
    "TransactionID LONG, isFraud INT, TransactionDT LONG, TransactionAmt DOUBLE, ProductCD STRING, "
    "card1 INT, card2 DOUBLE, card3 INT, card4 STRING, card5 INT, card6 STRING, addr1 DOUBLE, "
    "P_emaildomain STRING, DeviceType STRING, DeviceInfo STRING"
)
REFERENCE_EPOCH = int(datetime(2017, 12, 1, tzinfo=timezone.utc).timestamp())

tx = (
    spark.read.csv(f"s3a://{BUCKET}/{RAW_KEY}", header=True, schema=SCHEMA)
    .withColumn("event_time", F.timestamp_seconds(F.col("TransactionDT") + REFERENCE_EPOCH))
    .withColumn("month", F.date_format("event_time", "yyyy-MM"))
    .withColumn(
        "card_id",
        F.concat_ws("-", F.col("card1").cast("string"), F.coalesce(F.col("addr1").cast("int").cast("string"), F.lit("na"))),
    )
)
N_TX = tx.count()
tx.printSchema()
print(N_TX, "transactions read from", f"s3a://{BUCKET}/{RAW_KEY}")

# %% [markdown]
# ## Exercise 1: the same job with the RDD API and the DataFrame API
#
# The **RDD** (resilient distributed dataset) is Spark's original API: a distributed collection of
# Python objects, transformed with Python functions (`map`, `filter`, `reduceByKey`). Spark cannot look
# inside those functions, and every row travels from the JVM to a Python worker and back.
# The **DataFrame** API describes *what* you want with columns and built-in functions; the Catalyst
# optimiser plans it (column pruning, predicate pushdown, partial aggregation before the shuffle) and
# Tungsten runs it inside the JVM on a compact binary format. Same cluster, same data, very different
# cost.
#
# Per product code (`ProductCD`), compute the number of transactions `n`, the number of frauds
# `n_fraud` and the total amount `amount`:
# - `product_stats_rdd(df)` returns an **RDD** of `(ProductCD, (n, n_fraud, amount))` pairs: start from
#   `df.select(...).rdd`, `map` each row to a key-value pair and combine with `reduceByKey`;
# - `product_stats_df(df)` returns a **DataFrame** with columns `ProductCD, n, n_fraud, amount`, using
#   `groupBy` / `agg` and built-in functions only (no Python UDFs).
#
# <details><summary>Hint 1</summary>RDD: <code>.map(lambda r: (r.ProductCD, (1, r.isFraud,
# r.TransactionAmt)))</code>, then <code>.reduceByKey(lambda a, b: tuple(x + y for x, y in zip(a, b)))</code>.
# </details>
# <details><summary>Hint 2</summary>DataFrame: <code>F.count("*")</code> counts rows; <code>F.count("isFraud")</code>
# counts non-null values (every row!), so the number of frauds is <code>F.sum("isFraud")</code>.</details>

# %% answer="rdd_vs_df"
def product_stats_rdd(df: DataFrame) -> RDD:
    ### BEGIN SOLUTION
    return (
        df.select("ProductCD", "isFraud", "TransactionAmt")
        .rdd.map(lambda r: (r.ProductCD, (1, r.isFraud, r.TransactionAmt)))
        .reduceByKey(lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2]))
    )
    ### END SOLUTION


def product_stats_df(df: DataFrame) -> DataFrame:
    ### BEGIN SOLUTION
    return df.groupBy("ProductCD").agg(
        F.count("*").alias("n"), F.sum("isFraud").alias("n_fraud"), F.sum("TransactionAmt").alias("amount")
    )
    ### END SOLUTION


stats_rdd, rdd_s = timed(lambda: dict(product_stats_rdd(tx).collect()))
stats_df, df_s = timed(lambda: {r.ProductCD: (r.n, r.n_fraud, r.amount) for r in product_stats_df(tx).collect()})
print(f"RDD API: {rdd_s:.2f} s | DataFrame API: {df_s:.2f} s")
for code in sorted(stats_df):
    n, n_fraud, amount = stats_df[code]
    print(f"  {code}: {n:6d} tx, {n_fraud:4d} fraud ({n_fraud / n:.1%}), ${amount:,.2f}")

# %% check="rdd_vs_df" points=2
_rdd = product_stats_rdd(tx)
_df = product_stats_df(tx)
assert isinstance(_rdd, RDD), f"product_stats_rdd should return an RDD, saw {type(_rdd).__name__}"
assert isinstance(_df, DataFrame), f"product_stats_df should return a DataFrame, saw {type(_df).__name__}"
_r = {k: tuple(v) for k, v in _rdd.collect()}
_d = {row["ProductCD"]: (row["n"], row["n_fraud"], row["amount"]) for row in _df.collect()}
assert set(_r) == set(_d), f"product codes differ: RDD {sorted(_r)}, DataFrame {sorted(_d)}"
for _code in _r:
    assert _r[_code][:2] == tuple(_d[_code][:2]), f"{_code}: RDD (n, n_fraud) {_r[_code][:2]}, DataFrame {_d[_code][:2]}"
    assert abs(_r[_code][2] - _d[_code][2]) < 0.01, f"{_code}: RDD amount {_r[_code][2]:.2f}, DataFrame {_d[_code][2]:.2f}"
### BEGIN HIDDEN TESTS
_pdf = load("fraud")["transactions"]
_truth = _pdf.groupby("ProductCD").agg(n=("isFraud", "size"), n_fraud=("isFraud", "sum"), amount=("TransactionAmt", "sum"))
assert set(_d) == set(_truth.index), f"expected product codes {sorted(_truth.index)}, saw {sorted(_d)}"
for _code, _row in _truth.iterrows():
    assert _d[_code][0] == _row["n"], f"{_code}: expected n={_row['n']}, saw {_d[_code][0]}"
    assert _d[_code][1] == _row["n_fraud"], f"{_code}: expected n_fraud={_row['n_fraud']}, saw {_d[_code][1]}"
    assert abs(_d[_code][2] - _row["amount"]) < 0.01, f"{_code}: expected amount {_row['amount']:.2f}, saw {_d[_code][2]:.2f}"
    assert _r[_code][1] == _row["n_fraud"], f"{_code}: RDD n_fraud expected {_row['n_fraud']}, saw {_r[_code][1]}"
_plan = physical_plan(_df)
assert "HashAggregate" in _plan, "the DataFrame version should aggregate with groupBy/agg"
assert "BatchEvalPython" not in _plan and "ArrowEvalPython" not in _plan, (
    "the DataFrame version calls a Python UDF: use built-in functions so the work stays in the JVM"
)
### END HIDDEN TESTS

# %% [markdown]
# **Why the DataFrame wins.** Look at the plan Spark made for your DataFrame version: it reads only the
# three columns it needs, aggregates *partially* in each partition before the shuffle (`HashAggregate`
# → `Exchange` → `HashAggregate`), and never leaves the JVM. The RDD version ships every row to Python
# and back. On 20 000 rows both are quick (the fixed cost of launching tasks dominates); at a billion
# rows the difference is hours. Use RDDs for what DataFrames cannot express (arbitrary Python objects,
# fine control of partitioning); everything tabular belongs in DataFrames.

# %%
product_stats_df(tx).explain() if "stats_df" in globals() else print("finish exercise 1 first")

# %% [markdown]
# ## Exercise 2: window features per card
#
# A fraudster who steals a card spends fast: several purchases within minutes, larger than the owner's
# usual. *Window functions* compute such per-card context for every row without collapsing rows the
# way `groupBy` does. A window is `Window.partitionBy(key).orderBy(time)` plus a *frame*:
# - `rowsBetween(-5, -1)`: the 5 previous **rows**, whatever their time;
# - `rangeBetween(-3600, -1)`: the previous **hour** by the order column's *value* (here seconds);
#   this is the one for "transactions in the last hour".
#
# Write `card_features(df)` returning `df` with four new columns, computed per `card_id` ordered by
# `TransactionDT`, always **excluding the current transaction** (a feature must be known *before* the
# transaction is scored):
# - `card_tx_1h`: number of the card's transactions in the previous 3600 s (`[t-3600, t-1]`);
# - `card_amt_24h`: total amount of the card's transactions in the previous 86 400 s (0.0 when none);
# - `secs_since_prev`: seconds since the card's previous transaction (`lag`; null for its first);
# - `amt_vs_card_mean`: this amount divided by the mean amount of **all** the card's earlier
#   transactions (null for its first).
#
# <details><summary>Hint 1</summary><code>w = Window.partitionBy("card_id").orderBy("TransactionDT")</code>;
# <code>F.count("*").over(w.rangeBetween(-3600, -1))</code>; for the running mean
# <code>w.rowsBetween(Window.unboundedPreceding, -1)</code>.</details>
# <details><summary>Hint 2</summary>A sum over an empty frame is null: <code>F.coalesce(F.sum(...).over(...),
# F.lit(0.0))</code>. <code>F.lag("TransactionDT").over(w)</code> takes an ordered window without a frame.</details>

# %%
FEATURE_COLUMNS = ["card_tx_1h", "card_amt_24h", "secs_since_prev", "amt_vs_card_mean"]

# %% answer="window_features"
def card_features(df: DataFrame) -> DataFrame:
    ### BEGIN SOLUTION
    w = Window.partitionBy("card_id").orderBy("TransactionDT")
    return (
        df.withColumn("card_tx_1h", F.count("*").over(w.rangeBetween(-3600, -1)))
        .withColumn("card_amt_24h", F.coalesce(F.sum("TransactionAmt").over(w.rangeBetween(-86400, -1)), F.lit(0.0)))
        .withColumn("secs_since_prev", F.col("TransactionDT") - F.lag("TransactionDT").over(w))
        .withColumn(
            "amt_vs_card_mean",
            F.col("TransactionAmt") / F.avg("TransactionAmt").over(w.rowsBetween(Window.unboundedPreceding, -1)),
        )
    )
    ### END SOLUTION


features = card_features(tx)
features.select("card_id", "event_time", "TransactionAmt", *FEATURE_COLUMNS).where("card_tx_1h >= 2").show(5)

# %% check="window_features" points=2
_SAMPLE_CARDS = ["16441-243", "13945-na", "2314-na"]
_cols = ["TransactionID", "card_id", "TransactionDT", "TransactionAmt", *FEATURE_COLUMNS]
_missing = [c for c in _cols if c not in features.columns]
assert not _missing, f"card_features output lacks columns {_missing}"
_got = features.where(F.col("card_id").isin(_SAMPLE_CARDS)).select(*_cols).toPandas().set_index("TransactionID")
assert len(_got) > 0, f"none of the sample cards {_SAMPLE_CARDS} found: keep every row and the card_id column"


def _expected_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain pandas, one card at a time: the features as defined above."""
    out = []
    for _, card in frame.sort_values("TransactionDT").groupby("card_id"):
        t, amt = card["TransactionDT"].to_numpy(), card["TransactionAmt"].to_numpy()
        rows = []
        for i in range(len(card)):
            hour = (t[:i] >= t[i] - 3600) & (t[:i] <= t[i] - 1)
            day = (t[:i] >= t[i] - 86400) & (t[:i] <= t[i] - 1)
            rows.append((hour.sum(), amt[:i][day].sum(), t[i] - t[i - 1] if i else np.nan,
                         amt[i] / amt[:i].mean() if i else np.nan))
        out.append(pd.DataFrame(rows, index=card.index, columns=FEATURE_COLUMNS))
    return pd.concat(out)


_want = _expected_features(_got[["card_id", "TransactionDT", "TransactionAmt"]])
_first = _want.index[0]
assert abs(_got.loc[_first, "card_tx_1h"] - _want.loc[_first, "card_tx_1h"]) < 1e-9, (
    f"transaction {_first}: expected card_tx_1h={_want.loc[_first, 'card_tx_1h']}, saw {_got.loc[_first, 'card_tx_1h']}"
)
### BEGIN HIDDEN TESTS
_pdf = load("fraud")["transactions"]
_pdf["card_id"] = _pdf["card1"].astype(str) + "-" + _pdf["addr1"].map(lambda a: "na" if pd.isna(a) else str(int(a)))
_rng = np.random.default_rng(22)
_cards = list(_rng.choice(_pdf["card_id"].unique(), size=25, replace=False)) + _SAMPLE_CARDS
_cards += list(_pdf.groupby("card_id").size().nlargest(3).index)  # busy cards: many overlapping windows
_got = features.where(F.col("card_id").isin(_cards)).select(*_cols).toPandas().set_index("TransactionID")
_want = _expected_features(_pdf[_pdf["card_id"].isin(_cards)].set_index("TransactionID"))
assert len(_got) == len(_want), f"expected {len(_want)} rows for the sample cards, saw {len(_got)}"
for _c in FEATURE_COLUMNS:
    _a, _b = _got.loc[_want.index, _c].astype(float), _want[_c].astype(float)
    _bad = ~(np.isclose(_a, _b, rtol=1e-6, atol=1e-6, equal_nan=True))
    assert not _bad.any(), (
        f"{_c}: {int(_bad.sum())} of {len(_b)} sample rows differ, e.g. transaction {_b.index[_bad][0]}: "
        f"expected {_b[_bad].iloc[0]}, saw {_a[_bad].iloc[0]}"
    )
assert features.count() == N_TX, f"card_features must keep every transaction: expected {N_TX} rows, saw {features.count()}"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: partitioned Parquet on S3, the offline training set
#
# Training jobs read the features from the lake, usually a time range at a time ("train on December
# to April, validate on May"). Two choices make that cheap:
# - **Parquet**: columnar, compressed, typed, with per-column statistics, so a reader fetches only the
#   columns and row groups it needs;
# - **partitioning by date**: `partitionBy("month")` writes one directory per value
#   (`.../month=2018-01/part-....parquet`); a reader filtering on `month` never opens the others
#   (*partition pruning*). Partition by a column you filter on, with a modest number of values
#   (day or month, not transaction id).
#
# A partitioned write by itself makes one file *per task per partition value*: with 4 tasks and 7
# months, up to 28 small files. Thousands of small files are the classic data-lake performance bug.
# `repartition("month")` first puts each month's rows into one task, so each partition directory gets
# one file.
#
# Write `write_training_set(df, uri)` that writes `df` as Parquet to `uri`, partitioned by `month`, with
# **exactly one file per month**, replacing whatever was there (`mode("overwrite")`), and call it on
# `features` with `FEATURES_URI`.
#
# <details><summary>Hint 1</summary><code>df.repartition("month").write.mode("overwrite").partitionBy("month").parquet(uri)</code>
# </details>
# <details><summary>Hint 2</summary>List what landed: <code>s3.list_objects_v2(Bucket=BUCKET,
# Prefix="features/fraud_tx/", Delimiter="/")["CommonPrefixes"]</code>.</details>

# %%
FEATURES_PREFIX = "features/fraud_tx/"
FEATURES_URI = f"s3a://{BUCKET}/{FEATURES_PREFIX}"

# %% answer="parquet_s3"
def write_training_set(df: DataFrame, uri: str) -> None:
    ### BEGIN SOLUTION
    df.repartition("month").write.mode("overwrite").partitionBy("month").parquet(uri)
    ### END SOLUTION


_, write_s = timed(lambda: write_training_set(features, FEATURES_URI))
print(f"training set written to {FEATURES_URI} in {write_s:.1f} s")

# %% check="parquet_s3" points=2
_listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=FEATURES_PREFIX, Delimiter="/")
_prefixes = sorted(p["Prefix"][len(FEATURES_PREFIX) :] for p in _listing.get("CommonPrefixes", []))
_months = sorted(r["month"] for r in tx.select("month").distinct().collect())
assert _prefixes == [f"month={m}/" for m in _months], f"expected one prefix per month {_months}, saw {_prefixes}"
### BEGIN HIDDEN TESTS
_keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=FEATURES_PREFIX)
         for o in page.get("Contents", [])]
assert f"{FEATURES_PREFIX}_SUCCESS" in _keys, "no _SUCCESS marker: the write did not commit"
_pdf = load("fraud")["transactions"]
_pdf_month = (pd.Timestamp("2017-12-01") + pd.to_timedelta(_pdf["TransactionDT"], unit="s")).dt.strftime("%Y-%m")
for _m in _months:
    _files = [k for k in _keys if k.startswith(f"{FEATURES_PREFIX}month={_m}/") and k.endswith(".parquet")]
    assert len(_files) == 1, f"month={_m}: expected exactly 1 Parquet file, saw {len(_files)} (repartition first)"
_m = _months[1]
_files = [k for k in _keys if k.startswith(f"{FEATURES_PREFIX}month={_m}/") and k.endswith(".parquet")]
_part = pd.read_parquet(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=_files[0])["Body"].read()))
assert len(_part) == int((_pdf_month == _m).sum()), f"month={_m}: expected {int((_pdf_month == _m).sum())} rows, saw {len(_part)}"
_absent = [c for c in ["TransactionID", "isFraud", *FEATURE_COLUMNS] if c not in _part.columns]
assert not _absent, f"the Parquet files lack columns {_absent}"
# the same function on an input spread over 3 partitions, to a local directory: still one file per month
_local = (WORK / "check-parquet").resolve()
write_training_set(features.repartition(3), str(_local))
_per_month = {d.name: len(list(d.glob("*.parquet"))) for d in _local.glob("month=*")}
assert _per_month and set(_per_month.values()) == {1}, (
    f"from a 3-partition input, expected 1 file per month, saw {_per_month} (repartition by month before writing)"
)
shutil.rmtree(_local, ignore_errors=True)
### END HIDDEN TESTS

# %% [markdown]
# Read it back the way a training job does. The filter on the partition column shows up in the scan
# as `PartitionFilters`: Spark lists and opens only that month's directory.

# %%
training = spark.read.parquet(FEATURES_URI)
may = training.where(F.col("month") == "2018-05")
_scan = [line for line in physical_plan(may).splitlines() if "FileScan parquet" in line]
print(_scan[0][:300] if _scan else "(no Parquet scan: finish exercise 3)")
print("rows in 2018-05:", may.count() if _scan else "-")

# %% [markdown]
# ## Exercise 4: reference data over JDBC, joined with a broadcast
#
# Reference data (merchant categories, country risk, e-mail providers) usually lives in an operational
# database. Spark reads it over **JDBC**; for a big table you would split the read with
# `partitionColumn`, `lowerBound`, `upperBound` and `numPartitions`, so several tasks read in
# parallel (and the database survives it). Here the setup cell creates a small table of e-mail
# domains in PostgreSQL.
#
# Joining 20 000 transactions with 10 domains by shuffling **both** sides (a *sort-merge join*) is
# wasteful: better to send the small table to every executor once and join locally — a **broadcast
# hash join**. Spark does this by itself for tables it *knows* are small (under
# `spark.sql.autoBroadcastJoinThreshold`, 10 MB), but it knows nothing about a JDBC table's size, so
# you ask for it with `F.broadcast(...)`.
#
# Write `read_domains()` that reads `REF_TABLE` through JDBC (`labkit.spark.jdbc_options(POSTGRES_DSN)`
# gives the `url`, `user` and `driver` options), and `enrich(df, domains)` that **left**-joins the
# domains to `df` on `P_emaildomain = domain` with a broadcast, keeping every transaction (the ones
# without an e-mail domain too) and adding `provider`, `privacy` and `risk_weight`.
#
# <details><summary>Hint 1</summary><code>spark.read.format("jdbc").options(**jdbc_options(POSTGRES_DSN),
# dbtable=REF_TABLE).load()</code></details>
# <details><summary>Hint 2</summary><code>df.join(F.broadcast(domains), df["P_emaildomain"] == domains["domain"],
# "left").drop("domain")</code>; an inner join silently drops the rows without an e-mail.</details>

# %% locked=true
_DOMAINS = [
    ("gmail.com", "google", False, 1.0), ("yahoo.com", "yahoo", False, 1.1), ("hotmail.com", "microsoft", False, 1.1),
    ("outlook.com", "microsoft", False, 1.0), ("aol.com", "yahoo", False, 1.2), ("icloud.com", "apple", False, 0.9),
    ("comcast.net", "isp", False, 0.8), ("anonymous.com", "anonymous", True, 3.0),
    ("protonmail.com", "proton", True, 2.5), ("mail.com", "mail.com", True, 2.0),
]
_conn = psycopg2.connect(POSTGRES_DSN)
with _conn, _conn.cursor() as _cur:
    _cur.execute(f'DROP TABLE IF EXISTS "{REF_TABLE}"')
    _cur.execute(f'CREATE TABLE "{REF_TABLE}" (domain text PRIMARY KEY, provider text, privacy boolean, risk_weight double precision)')
    _cur.executemany(f'INSERT INTO "{REF_TABLE}" VALUES (%s, %s, %s, %s)', _DOMAINS)
_conn.close()
print(f"{len(_DOMAINS)} e-mail domains in PostgreSQL table {REF_TABLE}")

# %% answer="jdbc_broadcast"
def read_domains() -> DataFrame:
    ### BEGIN SOLUTION
    return spark.read.format("jdbc").options(**jdbc_options(POSTGRES_DSN), dbtable=REF_TABLE).load()
    ### END SOLUTION


def enrich(df: DataFrame, domains: DataFrame) -> DataFrame:
    ### BEGIN SOLUTION
    return df.join(F.broadcast(domains), df["P_emaildomain"] == domains["domain"], "left").drop("domain")
    ### END SOLUTION


domains = read_domains()
enriched = enrich(features, domains)
enriched.groupBy("privacy").agg(F.count("*").alias("n"), F.avg("isFraud").alias("fraud_rate")).show()

# %% check="jdbc_broadcast" points=1
_plan = physical_plan(enriched)
assert "BroadcastHashJoin" in _plan, "expected a BroadcastHashJoin in the physical plan (F.broadcast the domains)"
assert "JDBCRelation" in _plan or "JDBC" in _plan, "the domains should be read from PostgreSQL over JDBC"
### BEGIN HIDDEN TESTS
_n = enriched.count()
assert _n == N_TX, f"a left join keeps every transaction: expected {N_TX} rows, saw {_n} (inner join?)"
_by = {r["P_emaildomain"]: (r["privacy"], r["risk_weight"]) for r in enriched.select("P_emaildomain", "privacy", "risk_weight").distinct().collect()}
assert _by.get("anonymous.com") == (True, 3.0), f"anonymous.com should have privacy=True, risk 3.0; saw {_by.get('anonymous.com')}"
assert _by.get("gmail.com") == (False, 1.0), f"gmail.com should have privacy=False, risk 1.0; saw {_by.get('gmail.com')}"
assert None in _by and _by[None] == (None, None), "transactions without an e-mail domain should be kept, with nulls"
assert "provider" in enriched.columns and "domain" not in enriched.columns, "keep provider, drop the duplicate key"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: late labels from Kafka, a batch read
#
# Fraud labels arrive late: a cardholder disputes a charge days or weeks later and the bank's
# chargeback system publishes an event. Below, the lab plays that system and publishes one JSON event
# per fraudulent transaction to the topic `TOPIC` (2 partitions). A nightly Spark job does not need a
# stream for this: `spark.read.format("kafka")` reads a **bounded range of offsets** as an ordinary
# DataFrame (with columns `key`, `value` (binary), `topic`, `partition`, `offset`, `timestamp`).
#
# Write `read_chargebacks()` returning a DataFrame with one row per event and the typed columns
# `TransactionID` (long), `reason` (string) and `reported_at` (timestamp): read the topic from
# `KAFKA_BOOTSTRAP` from the earliest to the latest offsets, cast `value` to a string and parse it with
# `F.from_json` and the schema `CHARGEBACK_SCHEMA`.
#
# <details><summary>Hint 1</summary>Options: <code>kafka.bootstrap.servers</code>, <code>subscribe</code>,
# <code>startingOffsets="earliest"</code>, <code>endingOffsets="latest"</code>. <code>spark.readStream</code>
# would give you a streaming DataFrame: that is Module 23.</details>
# <details><summary>Hint 2</summary><code>.select(F.from_json(F.col("value").cast("string"),
# CHARGEBACK_SCHEMA).alias("e")).select("e.*")</code></details>

# %% locked=true
CHARGEBACK_SCHEMA = "TransactionID LONG, reason STRING, reported_at TIMESTAMP"
_quiet = logging.getLogger("m022.kafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False
_admin = AdminClient({"bootstrap.servers": KAFKA_BOOTSTRAP, "logger": _quiet})
if TOPIC in _admin.list_topics(timeout=10).topics:
    for _f in _admin.delete_topics([TOPIC], operation_timeout=30).values():
        _f.result()
    for _ in range(50):  # deletion is asynchronous
        if TOPIC not in _admin.list_topics(timeout=10).topics:
            break
        time.sleep(0.2)
for _ in range(50):
    try:
        for _f in _admin.create_topics([NewTopic(TOPIC, num_partitions=2, replication_factor=1)]).values():
            _f.result()
        break
    except Exception as _e:  # "marked for deletion" right after a delete: retry
        if "already exists" not in str(_e) and "deletion" not in str(_e):
            raise
        time.sleep(0.2)
_frauds = load("fraud")["transactions"].query("isFraud == 1")
_reasons = ["card_not_present", "stolen_card", "account_takeover"]
_producer = Producer({"bootstrap.servers": KAFKA_BOOTSTRAP, "logger": _quiet, "linger.ms": 20})
for _row in _frauds.itertuples():
    _when = datetime(2017, 12, 1, tzinfo=timezone.utc) + timedelta(seconds=int(_row.TransactionDT), days=3 + _row.TransactionID % 40)
    _event = {"TransactionID": int(_row.TransactionID), "reason": _reasons[_row.TransactionID % 3],
              "reported_at": _when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    _producer.produce(TOPIC, key=str(_row.TransactionID), value=json.dumps(_event))
assert _producer.flush(30) == 0, "some chargeback events were not delivered"
N_CHARGEBACKS = len(_frauds)
print(f"{N_CHARGEBACKS} chargeback events published to {TOPIC}")

# %% answer="kafka_batch"
def read_chargebacks() -> DataFrame:
    ### BEGIN SOLUTION
    raw = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", KAFKA_BOOTSTRAP)
        .option("subscribe", TOPIC)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
    )
    return raw.select(F.from_json(F.col("value").cast("string"), CHARGEBACK_SCHEMA).alias("e")).select("e.*")
    ### END SOLUTION


chargebacks = read_chargebacks()
labelled = features.join(chargebacks.select("TransactionID", "reported_at"), "TransactionID", "left").withColumn(
    "label_known_days", F.datediff("reported_at", "event_time")
)
labelled.where("reported_at IS NOT NULL").select("TransactionID", "event_time", "reported_at", "label_known_days").show(3)

# %% check="kafka_batch" points=1
assert not chargebacks.isStreaming, "read the topic as a batch (spark.read), not as a stream"
_rows = chargebacks.collect()
assert len(_rows) == N_CHARGEBACKS, f"expected {N_CHARGEBACKS} chargeback events, saw {len(_rows)}"
### BEGIN HIDDEN TESTS
_types = dict(chargebacks.dtypes)
assert _types.get("TransactionID") == "bigint" and _types.get("reported_at") == "timestamp", (
    f"expected TransactionID bigint and reported_at timestamp, saw {_types}"
)
_ids = {r["TransactionID"] for r in _rows}
assert _ids == set(int(i) for i in load("fraud")["transactions"].query("isFraud == 1")["TransactionID"]), (
    "the TransactionIDs read do not match the fraud transactions published"
)
assert all(r["reason"] in ("card_not_present", "stolen_card", "account_takeover") for r in _rows), "reason not parsed"
### END HIDDEN TESTS

# %% [markdown]
# ## Running it on a cluster: EMR vs a standalone cluster on EC2
#
# The job you wrote runs unchanged on a cluster: only `--master` and the storage URLs change. The
# choice is who runs the cluster.
#
# | | **Amazon EMR** (on EC2) | **Spark standalone on EC2** |
# |---|---|---|
# | what you get | managed Hadoop/YARN + Spark of a pinned *release label* (emr-7.x), EMRFS (`s3://`), Spark history server, Ganglia/CloudWatch | Spark's own master (`spark://host:7077`) and workers, which you install, configure and patch |
# | submitting | *steps* through the API (`add_job_flow_steps`: `spark-submit` via `command-runner.jar`), or SSH, or Airflow's EMR operators | `spark-submit --master spark://master:7077 --deploy-mode cluster job.py` |
# | scaling | managed scaling; *instance fleets* with Spot task nodes (no HDFS on them, so losing one costs only recomputation) | scripts or your own autoscaler |
# | S3 | EMRFS with the instance profile, consistent listing | `s3a://` + `hadoop-aws` jars on every node, credentials from the instance profile |
# | cost | EC2 price + an EMR fee per instance-hour (roughly +25% for m5 instances); transient clusters that terminate after their steps keep it low | EC2 price only, paid while the cluster is up, plus your time |
# | also | EMR Serverless (no cluster to size: per vCPU-second), EMR on EKS | Spark on Kubernetes (`--master k8s://...`) is the usual modern alternative |
#
# A nightly feature job is the textbook **transient EMR cluster**: created by the scheduler, runs one
# step, terminates. Below we upload the job to S3 and submit it that way to the **moto** EMR API. moto
# records the cluster, its instance groups and the step, and tracks their states, but **runs
# nothing**; on a real account the same call starts EC2 instances and runs the step.

# %%
JOB_KEY = "jobs/fraud_features.py"
JOB_SCRIPT = '''"""Nightly fraud feature job (the lab's exercises 2-3 as one script)."""
import sys
from pyspark.sql import SparkSession, Window, functions as F

raw_uri, out_uri = sys.argv[1], sys.argv[2]
spark = SparkSession.builder.appName("fraud-features").getOrCreate()
tx = (spark.read.csv(raw_uri, header=True, inferSchema=True)
      .withColumn("event_time", F.timestamp_seconds(F.col("TransactionDT") + 1512086400))
      .withColumn("month", F.date_format("event_time", "yyyy-MM"))
      .withColumn("card_id", F.concat_ws("-", F.col("card1").cast("string"),
                  F.coalesce(F.col("addr1").cast("int").cast("string"), F.lit("na")))))
w = Window.partitionBy("card_id").orderBy("TransactionDT")
features = (tx.withColumn("card_tx_1h", F.count("*").over(w.rangeBetween(-3600, -1)))
            .withColumn("card_amt_24h", F.coalesce(F.sum("TransactionAmt").over(w.rangeBetween(-86400, -1)), F.lit(0.0))))
features.repartition("month").write.mode("overwrite").partitionBy("month").parquet(out_uri)
'''
compile(JOB_SCRIPT, JOB_KEY, "exec")  # at least it parses
s3.put_object(Bucket=BUCKET, Key=JOB_KEY, Body=JOB_SCRIPT.encode())

emr = boto3.client("emr", endpoint_url=AWS_ENDPOINT_URL)
cluster_id = emr.run_job_flow(
    Name=f"fraud-features-{NAME}",
    ReleaseLabel="emr-7.5.0",
    Applications=[{"Name": "Spark"}],
    LogUri=f"s3://{BUCKET}/emr-logs/",
    Instances={
        "InstanceGroups": [
            {"Name": "primary", "InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1},
            {"Name": "core", "InstanceRole": "CORE", "InstanceType": "m5.xlarge", "InstanceCount": 2},
            {"Name": "task-spot", "InstanceRole": "TASK", "Market": "SPOT", "InstanceType": "m5.xlarge", "InstanceCount": 2},
        ],
        "KeepJobFlowAliveWhenNoSteps": False,  # transient: terminate after the last step
    },
    Steps=[{
        "Name": "fraud-features",
        "ActionOnFailure": "TERMINATE_CLUSTER",
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": [
            "spark-submit", "--deploy-mode", "cluster", f"s3://{BUCKET}/{JOB_KEY}",
            f"s3://{BUCKET}/{RAW_KEY}", f"s3://{BUCKET}/{FEATURES_PREFIX}",
        ]},
    }],
    JobFlowRole="EMR_EC2_DefaultRole",
    ServiceRole="EMR_DefaultRole",
    Tags=[{"Key": "lab", "Value": NAME}],
)["JobFlowId"]
_cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
print("EMR cluster", cluster_id, _cluster["ReleaseLabel"], "state (as moto reports it):", _cluster["Status"]["State"])
for _g in emr.list_instance_groups(ClusterId=cluster_id)["InstanceGroups"]:
    print(f"  {_g['InstanceGroupType']:6s} {_g['Market']:9s} {_g['RequestedInstanceCount']} x {_g['InstanceType']}")
for _s in emr.list_steps(ClusterId=cluster_id)["Steps"]:
    print("  step:", _s["Name"], " ".join(_s["Config"]["Args"]))
print("standalone equivalent: spark-submit --master spark://<master>:7077 --deploy-mode cluster "
      f"s3a://{BUCKET}/{JOB_KEY} s3a://{BUCKET}/{RAW_KEY} s3a://{BUCKET}/{FEATURES_PREFIX}")

# %% [markdown]
# ## Optimisation, measured
#
# Four levers, each measured before/after on this job. On 20 000 rows and two cores the times are
# small and noisy (the fixed cost of scheduling tasks is a good part of them): read them for their
# direction, and look at the **plans and partition counts**, which are what change.
#
# **Caching.** `features` is defined by a chain of window functions over a CSV on S3. Every action on
# it recomputes the chain from the raw file. When several actions reuse the same DataFrame (training
# set statistics, a join, a write), `cache()` keeps it in executor memory after the first action
# computes it; `unpersist()` frees it. Caching what is used once only costs memory.

# %%
def two_reports(df: DataFrame) -> None:
    df.groupBy("month").agg(F.avg("card_tx_1h")).collect()
    df.where("card_tx_1h >= 3").count()


if "features" in globals():
    _, before = timed(lambda: two_reports(features))
    features.cache().count()  # the first action fills the cache
    _, after = timed(lambda: two_reports(features))
    print(f"caching: two reports took {before:.2f} s recomputed, {after:.2f} s from the cache")
    print("plan now reads", "InMemoryTableScan" if "InMemoryTableScan" in physical_plan(features.groupBy("month").count()) else "?")
    features.unpersist()

# %% [markdown]
# **Partitioning.** A DataFrame is split into partitions, one task each. Too few and cores sit idle
# (our CSV is one small file, so it is read as **one** partition: one task, one busy core); too many
# and the fixed cost per task dominates (and each writes its own file). `repartition(n, col)`
# shuffles rows so that equal keys land together (worth it before many per-key operations);
# `coalesce(n)` merges partitions *without* a shuffle (cheap, for fewer output files). Every
# `groupBy`/join shuffles into `spark.sql.shuffle.partitions` partitions (200 by default, 4 in this
# session); *adaptive query execution* (AQE, on by default) merges small shuffle partitions after the
# fact. Below, with AQE off, the same aggregation into 200 and into 4 partitions.
#
# **Broadcast join.** Then the sort-merge join Spark picks for the JDBC table on its own, against the
# broadcast join you wrote in exercise 4.

# %%
if "features" in globals():
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    print("partitions: CSV read", tx.rdd.getNumPartitions(),
          "| repartition(8, card_id)", tx.repartition(8, "card_id").rdd.getNumPartitions(),
          "| coalesce(1)", tx.repartition(8, "card_id").coalesce(1).rdd.getNumPartitions())
    for _n in (200, 4):
        spark.conf.set("spark.sql.shuffle.partitions", str(_n))
        _, _secs = timed(lambda: tx.groupBy("card_id").count().collect())
        print(f"groupBy(card_id) shuffled into {_n:3d} partitions (AQE off): {_secs:.2f} s")
    spark.conf.set("spark.sql.shuffle.partitions", "4")
    spark.conf.set("spark.sql.adaptive.enabled", "true")
if "domains" in globals() and "enriched" in globals():
    _smj = features.join(domains, features["P_emaildomain"] == domains["domain"], "left")
    print("without the hint:", "SortMergeJoin" if "SortMergeJoin" in physical_plan(_smj) else "other join")
    _, smj_s = timed(lambda: _smj.count())
    _, bhj_s = timed(lambda: enriched.count())
    print(f"join: sort-merge {smj_s:.2f} s, broadcast {bhj_s:.2f} s")

# %% [markdown]
# ## Exercise 6: bucketing and caching
#
# **Bucketing** does the shuffle once, at write time: `bucketBy(n, key)` hashes rows into `n` files per
# table by `key` (and `sortBy(key)` sorts each). Two tables bucketed the same way on the join key can
# then be joined *without any shuffle*: Spark knows matching keys are already in matching buckets.
# It pays off for big tables joined or aggregated on the same key again and again (transactions and
# card profiles by card). Bucketing needs a table in a catalog (`saveAsTable`; here the session's
# warehouse directory), because the bucket layout is table metadata, not something Spark can infer
# from the files.
#
# Write `optimise(df)` that:
# 1. caches `df` and materialises the cache (an action), and stores the cached DataFrame in
#    `cached_features`;
# 2. writes `df` as the table `tx_by_card`, **bucketed into 4 buckets by `card_id`** and sorted by it
#    (`mode("overwrite")`, `saveAsTable`);
# 3. writes a per-card profile (`card_id`, `card_n_tx` = number of transactions, `card_avg_amt` = mean
#    amount) as `card_profile`, bucketed the same way;
# 4. returns the join of the two tables (`spark.table(...)`) on `card_id`.
#
# The cell with your function turns automatic broadcast off, so that the join must be a sort-merge
# join: the point is that it needs **no `Exchange`** (no shuffle). It then prints the shuffles in the
# plans and the times of the plain and the bucketed join. At 20 000 rows the saved shuffles are worth
# little, and reading 8 small bucket files can even cost more; at 200 GB the two shuffles are most of
# the job, and bucketing pays its write-time cost back on every join.
#
# <details><summary>Hint 1</summary><code>df.write.bucketBy(4, "card_id").sortBy("card_id").mode("overwrite").saveAsTable("tx_by_card")</code>
# </details>
# <details><summary>Hint 2</summary><code>partitionBy</code> makes directories, not buckets; both tables need
# the same number of buckets on the same column, or Spark shuffles one side again.</details>

# %% answer="bucketing"
def optimise(df: DataFrame) -> DataFrame:
    global cached_features
    ### BEGIN SOLUTION
    cached_features = df.cache()
    cached_features.count()
    df.write.bucketBy(4, "card_id").sortBy("card_id").mode("overwrite").saveAsTable("tx_by_card")
    profile = df.groupBy("card_id").agg(F.count("*").alias("card_n_tx"), F.avg("TransactionAmt").alias("card_avg_amt"))
    profile.write.bucketBy(4, "card_id").sortBy("card_id").mode("overwrite").saveAsTable("card_profile")
    return spark.table("tx_by_card").join(spark.table("card_profile"), "card_id")
    ### END SOLUTION


spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")
bucketed_join = optimise(features)
_plain = features.join(
    features.groupBy("card_id").agg(F.count("*").alias("card_n_tx"), F.avg("TransactionAmt").alias("card_avg_amt")), "card_id"
)
for _label, _df in (("not bucketed", _plain), ("bucketed", bucketed_join)):
    _, _secs = timed(lambda: _df.count())
    print(f"{_label:12s}: {physical_plan(_df).count('Exchange')} shuffle(s) in the plan, count in {_secs:.2f} s")

# %% check="bucketing" points=2
_plan = physical_plan(bucketed_join)
assert "SortMergeJoin" in _plan, "expected the two tables joined with a SortMergeJoin (broadcast is off)"
_shuffles = [line.strip()[:120] for line in _plan.splitlines() if "Exchange" in line]
assert not _shuffles, f"the bucketed join should need no shuffle, but its plan has {_shuffles}"
### BEGIN HIDDEN TESTS
def _table_meta(table: str) -> dict:
    return {r["col_name"]: r["data_type"] for r in spark.sql(f"DESCRIBE TABLE EXTENDED {table}").collect()}


for _t in ("tx_by_card", "card_profile"):
    _meta = _table_meta(_t)
    assert _meta.get("Num Buckets") == "4", f"{_t}: expected 4 buckets, saw {_meta.get('Num Buckets')}"
    assert "card_id" in (_meta.get("Bucket Columns") or ""), f"{_t}: expected bucketing by card_id, saw {_meta.get('Bucket Columns')}"
_profile_cols = set(spark.table("card_profile").columns)
assert {"card_id", "card_n_tx", "card_avg_amt"} <= _profile_cols, f"card_profile columns are {sorted(_profile_cols)}"
_n = bucketed_join.count()
assert _n == N_TX, f"every transaction has a card profile: expected {N_TX} joined rows, saw {_n}"
_busy = bucketed_join.where(F.col("card_id") == "11005-341").select("card_n_tx").first()
_pdf = load("fraud")["transactions"]
_want = int(((_pdf["card1"] == 11005) & (_pdf["addr1"] == 341)).sum())
assert _busy is not None and _busy["card_n_tx"] == _want, f"card 11005-341: expected card_n_tx={_want}, saw {_busy}"
_cf = globals().get("cached_features")
assert _cf is not None and _cf.storageLevel.useMemory, "cached_features should be a DataFrame cached in memory"
assert "InMemoryTableScan" in physical_plan(_cf.groupBy("month").count()), "cached_features is not read from the cache"
### END HIDDEN TESTS

# %% [markdown]
# ## Wrap-up
#
# **What ran here:** real Spark (4.x, local mode) with the real connectors: `s3a` against the S3 API
# (moto), the PostgreSQL JDBC driver against a real PostgreSQL, and the Spark–Kafka connector against a
# real Kafka broker; the EMR cluster exists only in moto's API (no instance started, no step ran).
#
# **What the live cloud tier adds:**
# - a real cluster: executors on other machines, so shuffles cross the network and partitioning,
#   bucketing and broadcast decisions show their full weight (here everything shares two cores);
# - EMR: cluster start-up (minutes), bootstrap actions, EMRFS, the Spark history server for the job's
#   stages and skew, Spot interruptions, managed scaling; or EMR Serverless without a cluster at all;
# - real S3: request costs and throttling per prefix (another reason for few, larger files), the S3A
#   *magic committer* (`fs.s3a.committer.name=magic`) instead of rename-based commits, which on S3 are
#   copies;
# - the Glue Data Catalog (or a Hive metastore) so the bucketed and partitioned tables are shared
#   between jobs, and Athena can query the same Parquet;
# - JDBC reads split over several connections against RDS, with a read replica to spare production.
#
# **Cleanup:** stop Spark (the JVM), delete the bucket, the PostgreSQL table, the Kafka topic, the
# warehouse directory, and terminate the (emulated) EMR cluster.

# %%
if "spark" in globals():
    spark.stop()
if "cluster_id" in globals():
    emr.terminate_job_flows(JobFlowIds=[cluster_id])
_deleted = empty_bucket(BUCKET)
s3.delete_bucket(Bucket=BUCKET)
_conn = psycopg2.connect(POSTGRES_DSN)
with _conn, _conn.cursor() as _cur:
    _cur.execute(f'DROP TABLE IF EXISTS "{REF_TABLE}"')
_conn.close()
if TOPIC in _admin.list_topics(timeout=10).topics:
    for _f in _admin.delete_topics([TOPIC], operation_timeout=30).values():
        _f.result()
for _old in ("warehouse", "spark-tmp"):
    shutil.rmtree(WORK / _old, ignore_errors=True)
print(f"cleaned up: {_deleted} objects and bucket {BUCKET}, table {REF_TABLE}, topic {TOPIC}, Spark stopped")
