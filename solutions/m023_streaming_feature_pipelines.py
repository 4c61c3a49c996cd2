# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 23 — Streaming feature pipelines
#
# **Where this sits:** module 21 put the fraud project's card payments on Kafka. A fraud model
# does not want raw payments, it wants **features**: *how many payments did this card make in the
# last day, for how much, and how risky is the product it is buying?* This lab builds those
# features **while the events stream past**, with **Faust** (`faust-streaming`, Python stream
# processing on Kafka) running as a real worker process against the course's Kafka broker.
#
# **Why stream at all? (use cases)**
#
# | use case | what goes stale in a batch pipeline | typical streaming feature |
# |---|---|---|
# | fraud detection | a card-testing burst is over before tonight's batch | payments per card in the last 10 min / 1 day |
# | recommender freshness | "just viewed" items are missing until the next run | last N items viewed, category counts this session |
# | real-time personalisation | the page ignores what the user did 30 s ago | clicks per topic in a sliding window |
#
# In all three the model is only as good as the **freshness** of its features, and a stream
# processor brings three problems a batch job never sees: windows that never "finish",
# **late/out-of-order** events, and **latency** that must be monitored.
#
# **You will:**
# 1. assign events to **event-time sliding (hopping) windows** — the core of a windowed aggregation;
# 2. **join** each event with a **static reference table** (product risk) — with a default for unknown keys;
# 3. decide what to do with **late events** with a **watermark** and a **grace period**;
# 4. run all three inside a **Faust worker** on the real broker, check its output topic against an
#    independent recomputation, and **measure processing latency and freshness**.
#
# Kafka Streams, the JVM alternative, is compiled and run on the same stream for comparison.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")

# %% [markdown]
# ## Setup
# Everything is named from `RUN_ID`: three one-partition topics (raw payments in, features out,
# and a "late" topic for dropped events) and the Faust app id (which is also its consumer group).
# A rerun deletes what the last run left. One partition keeps the event order the lab produces
# exactly the order the worker sees, so its output can be recomputed and compared.
#
# The events are the `events` data set (fraud transactions replayed as card payments); we keep the
# busiest cards so that windows hold more than one payment. The **reference table** is a small,
# static product table — category and fraud rate per `product_cd` computed from the labels —
# the kind of slowly-changing table a stream is enriched with. One product is deliberately missing.

# %%
import json
import logging
import math
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

from confluent_kafka import Producer

from labkit import labenv
from labkit.dataeng import latency_summary, recreate_topic
from labkit.process import start_process
from labkit.streamfeat import (
    FAUST_APP,
    app_files,
    disorder,
    hopping_windows,
    kstreams_build,
    kstreams_command,
    reference_features,
    window_mismatches,
)
from labkit.streaming import _quiet, admin_client, delete_groups, delete_topics, end_offsets, quiet_client_logs, read_topic
from mlops_datasets import load

labenv.configure(DATA_DIR)
quiet_client_logs()

NAME = labenv.resource_name("m023", RUN_ID)
WORK = (Path("m023-work") / NAME).resolve()
APP_DIR = WORK / "faust-app"
APP_DIR.mkdir(parents=True, exist_ok=True)
APP_ID = f"{NAME}-features"
EVENTS_TOPIC = f"{NAME}.payments"
FEATURES_TOPIC = f"{NAME}.card-features"
LATE_TOPIC = f"{NAME}.late-payments"
HOUR = 3600 * 1000
SIZE_MS, STEP_MS, GRACE_MS = 24 * HOUR, 6 * HOUR, 6 * HOUR  # 1-day windows every 6 h, 6 h grace
N_CARDS = 12 if FAST else 30

admin = admin_client(KAFKA_BOOTSTRAP)


def cleanup_kafka() -> None:
    """Delete this run's topics (and Faust's internal ones) and its consumer group."""
    ours = [t for t in admin.list_topics(timeout=10).topics if t.startswith(NAME)]
    delete_topics(admin, ours)
    delete_groups(admin, [APP_ID, f"{NAME}-kstreams"])


cleanup_kafka()
for _t in (EVENTS_TOPIC, FEATURES_TOPIC, LATE_TOPIC):
    recreate_topic(KAFKA_BOOTSTRAP, _t, partitions=1)

data = load("events")
ev, labels = data["events"], data["labels"]
busiest = ev["key"].value_counts().head(N_CARDS).index
sel = ev[ev["key"].isin(busiest)].sort_values("event_time")
EVENTS = [
    {
        "event_id": r.event_id,
        "key": r.key,
        "event_ts": int(r.event_time.value // 1_000_000),  # event time, ms since epoch
        "amount": float(r.amount),
        "product_cd": r.product_cd,
    }
    for r in sel.itertuples()
]
rates = ev.merge(labels[["transaction_id", "is_fraud"]], on="transaction_id").groupby("product_cd")["is_fraud"].mean()
CATEGORIES = {"W": "web", "C": "card-not-present", "R": "retail", "H": "home", "S": "services"}
REFERENCE = {p: {"category": CATEGORIES[p], "risk": round(float(r), 4)} for p, r in rates.items() if p != "S"}
DEFAULT_RISK = round(float(rates.mean()), 4)  # for products the table does not know ("S" here)
STREAM = disorder(EVENTS, GRACE_MS)  # the order the events will be produced in
print(f"{len(EVENTS)} payments of {N_CARDS} cards; reference table: {REFERENCE}; default risk {DEFAULT_RISK}")
print("products in the stream:", dict(Counter(e["product_cd"] for e in EVENTS)))

# %% [markdown]
# ## Exercise 1 — sliding (hopping) windows in event time
# A **tumbling** window cuts time into back-to-back buckets; a **hopping** ("sliding") window of size
# 1 day that advances every 6 h gives a fresh "last day" feature four times a day, so each event
# belongs to `size / step = 4` windows. Windows are aligned to the epoch: their starts are
# multiples of `step`, and a window covers `[start, start + size)` — start included, end excluded.
#
# The timestamp that matters is the **event time** (`event_ts`, when the card was used), not the
# moment the worker happens to process the event: a replay, a backlog or a slow consumer must give
# the same features.
#
# Write `window_starts(ts_ms, size_ms, step_ms)`: the sorted list of starts of every window that
# contains `ts_ms`. (The Faust worker later calls exactly this function, from its own process.)

# %% [markdown]
# <details><summary>Hints</summary>
#
# 1. The latest window containing `ts` starts at `ts - ts % step`; earlier ones start `step` apart.
# 2. A window starting at `s` contains `ts` iff `s <= ts < s + size` — check the boundary
#    `ts == s + size` (not inside).
# 3. `range(last - size + step, last + 1, step)` gives exactly `size // step` starts.
# </details>

# %% answer="windows"
def window_starts(ts_ms: int, size_ms: int, step_ms: int) -> list[int]:
    ### BEGIN SOLUTION
    last = ts_ms - ts_ms % step_ms
    return [s for s in range(last - size_ms + step_ms, last + 1, step_ms) if s <= ts_ms < s + size_ms]
    ### END SOLUTION


print(window_starts(25 * HOUR, SIZE_MS, STEP_MS))

# %% [markdown]
# ## Exercise 2 — joining the stream with a static reference table
# Each payment is enriched with its product's `category` and `risk` from `REFERENCE` (a dict
# `product_cd -> {"category", "risk"}`), the way a Faust agent joins a stream with a table it
# loaded at startup (or a Faust `GlobalTable` kept up to date from a compacted topic). A stream
# join must never lose events: a product missing from the table gets category `"unknown"` and
# `default_risk`.
#
# Write `enrich(event, table, default_risk)` returning a **new** dict: every field of `event` plus
# `category` (str) and `risk` (float). Do not modify `event` itself.

# %% [markdown]
# <details><summary>Hints</summary>
#
# 1. `table.get(event["product_cd"])` is `None` for an unknown product.
# 2. `{**event, "category": ..., "risk": ...}` builds a new dict.
# </details>

# %% answer="join"
def enrich(event: dict, table: dict, default_risk: float) -> dict:
    ### BEGIN SOLUTION
    ref = table.get(event.get("product_cd"))
    if ref is None:
        return {**event, "category": "unknown", "risk": float(default_risk)}
    return {**event, "category": ref["category"], "risk": float(ref["risk"])}
    ### END SOLUTION


print(enrich(EVENTS[0], REFERENCE, DEFAULT_RISK))

# %% [markdown]
# ## Exercise 3 — late and out-of-order events: watermark and grace
# Events arrive out of order: a phone was offline, a partition lagged. The worker keeps a
# **watermark** — the largest event time it has seen — and a **grace period**: an event older than
# `watermark - grace` arrives after its windows were closed and published, so it is **dropped**
# from the features (and routed to a "late" topic to be counted and reconciled in batch). An event
# that is late but within the grace period still updates its windows. (Faust calls this window
# `expires`; Kafka Streams `grace`; Flink and Spark "allowed lateness"/`withWatermark`.)
#
# Write `accept(event_ts, watermark, grace_ms) -> bool`: `True` if the event must still be counted.
# An event exactly `grace_ms` behind the watermark is still accepted.

# %% [markdown]
# <details><summary>Hints</summary>
#
# 1. Compare event times with event times — never with `time.time()` (that would be processing time).
# 2. Accepted iff `event_ts >= watermark - grace_ms`.
# </details>

# %% answer="late"
def accept(event_ts: int, watermark: int, grace_ms: int) -> bool:
    ### BEGIN SOLUTION
    return event_ts >= watermark - grace_ms
    ### END SOLUTION


print(accept(10 * HOUR, 12 * HOUR, GRACE_MS), accept(1 * HOUR, 12 * HOUR, GRACE_MS))

# %% [markdown]
# ## Run the pipeline: a Faust worker on the real broker
# The next cell writes a Faust app (`app.py`) and your three functions (`features.py`) into the
# work directory and starts **`python app.py worker -l warn`** as a separate process — exactly how a Faust
# service runs in production (one process per partition set, scaled out as a consumer group). Its
# agent reads `payments`, drops late events to `late-payments`, joins with the reference table
# and updates a per-(card, window) count and sum, emitting every update to `card-features`.
#
# Notes on the app: the window state is a plain dict; a Faust `Table` (`app.Table(...).hopping(...)`)
# would add a **changelog topic** so a restarted worker recovers its state, and RocksDB for large
# state — we use in-memory state to keep the lab light. The worker is stopped in a `finally`, and
# the lab first sends a warm-up event so that latency is measured on a running worker.

# %%
print(FAUST_APP[FAUST_APP.index("@app.agent"):])

# %%
def _ready_functions() -> bool:
    try:
        window_starts(0, SIZE_MS, STEP_MS)
        enrich(EVENTS[0], REFERENCE, DEFAULT_RISK)
        accept(0, 0, GRACE_MS)
        return True
    except Exception as exc:  # an unfinished exercise: do not start a worker that would crash on it
        print(f"not running the worker: {type(exc).__name__} {exc}")
        return False


def _produce(payloads: list[dict], rate: float = 500.0) -> None:
    """Produce at about `rate` events/s, like live traffic (a burst would measure queueing, not processing)."""
    p = Producer({"bootstrap.servers": KAFKA_BOOTSTRAP, "linger.ms": 5, "logger": _quiet})
    start = time.monotonic()
    for i, pl in enumerate(payloads):
        if i % 50 == 0:
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
        p.produce(EVENTS_TOPIC, key=str(pl["key"]).encode(), value=json.dumps(pl).encode())
        p.poll(0)
    p.flush(30)


def _outputs() -> int:
    return sum(end_offsets(KAFKA_BOOTSTRAP, FEATURES_TOPIC).values()) + sum(end_offsets(KAFKA_BOOTSTRAP, LATE_TOPIC).values())


EXPECTED_FEATURES, EXPECTED_DROPPED = reference_features(STREAM, SIZE_MS, STEP_MS, GRACE_MS)
expected_outputs = 1 + len(EXPECTED_DROPPED) + sum(
    len(hopping_windows(e["event_ts"], SIZE_MS, STEP_MS)) for e in STREAM if e["event_id"] not in set(EXPECTED_DROPPED)
)
worker_ran = False
if _ready_functions():
    for fname, text in app_files([window_starts, enrich, accept]).items():
        (APP_DIR / fname).write_text(text)
    (APP_DIR / "config.json").write_text(json.dumps({
        "app_id": APP_ID, "bootstrap": KAFKA_BOOTSTRAP, "events_topic": EVENTS_TOPIC,
        "features_topic": FEATURES_TOPIC, "late_topic": LATE_TOPIC,
        "size_ms": SIZE_MS, "step_ms": STEP_MS, "grace_ms": GRACE_MS,
    }))
    (APP_DIR / "reference.json").write_text(json.dumps({"table": REFERENCE, "default_risk": DEFAULT_RISK}))
    worker = start_process(
        "faust-worker", [sys.executable, str(APP_DIR / "app.py"), "worker", "-l", "warn"],
        ready=lambda: True, log_dir=WORK, cwd=APP_DIR,
    )
    t0 = time.monotonic()
    try:
        _produce([{"warmup": True, "key": "warmup"}])
        deadline = time.monotonic() + 60
        while _outputs() < 1 and time.monotonic() < deadline and worker.alive():
            time.sleep(0.3)
        print(f"worker consuming after {time.monotonic() - t0:.1f} s")
        _produce(STREAM)
        last, still = -1, 0
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and worker.alive():
            n = _outputs()
            if n >= expected_outputs:
                break
            still = still + 1 if n == last else 0
            if still >= 10:  # nothing new for ~3 s
                break
            last = n
            time.sleep(0.3)
        worker_ran = True
        print(f"{_outputs()} output records (expected about {expected_outputs}) after {time.monotonic() - t0:.1f} s")
    finally:
        worker.stop()
    _problems = [ln for ln in worker.log_tail(200).splitlines() if "ERROR" in ln or "Error" in ln or "Traceback" in ln]
    if _problems or not worker_ran:
        print("worker log (problems):\n" + "\n".join(_problems[-10:] or [worker.log_tail(10)]))

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    FEATURE_RECORDS = read_topic(KAFKA_BOOTSTRAP, FEATURES_TOPIC, timeout=15)
    LATE_RECORDS = read_topic(KAFKA_BOOTSTRAP, LATE_TOPIC, timeout=15)
FEATURES = [json.loads(r.value) for r in FEATURE_RECORDS if r.key != b"warmup"]
LATE = [json.loads(r.value) for r in LATE_RECORDS]
SEEN = {}
for f in FEATURES:  # the latest update of each (card, window) is the feature value
    SEEN[(f["key"], f["window_start"])] = (f["tx_count"], f["amount_sum"])
print(f"{len(FEATURES)} feature updates for {len(SEEN)} (card, window) cells; {len(LATE)} events dropped as late")
print(FEATURES[-1] if FEATURES else "no features")

# %% [markdown]
# ### Kafka Streams: the same windows on the JVM
# Kafka Streams is a Java library (no cluster of its own: it runs inside your service, like Faust)
# with event-time windows, grace and fault-tolerant state stores built in. The cell below compiles a
# small topology with `javac` against the jars of the Kafka distribution the services use (a real
# project builds it with Maven/Gradle from `org.apache.kafka:kafka-streams`), runs it with `java`
# on the **same payments topic**, and compares its per-(card, window) counts with the Faust worker's:
#
# ```java
# b.stream(in, Consumed.with(Serdes.String(), Serdes.String()).withTimestampExtractor(eventTime))
#     .groupByKey()
#     .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofDays(1), Duration.ofHours(6))
#                            .advanceBy(Duration.ofHours(6)))      // 1-day hopping window, 6 h grace
#     .count()
#     .toStream().map((w, n) -> KeyValue.pair(w.key() + "@" + w.window().start(), ...)).to(out);
# ```
#
# One real difference shows up: Kafka Streams applies grace **per window** (a record is dropped
# from a window once stream time passed that window's end + grace), while our worker drops a
# record outright when it is more than `grace` behind the watermark — so a few late events are
# counted in some of their windows by Streams and in none by the worker. Choose Kafka Streams when
# the team is on the JVM and needs exactly-once processing and mature state stores; Faust when the
# feature code is Python shared with training.

# %%
KS_OUT = f"{NAME}.kstreams-counts"
KS_COUNTS = {}
if worker_ran:
    recreate_topic(KAFKA_BOOTSTRAP, KS_OUT, partitions=1)
    classes, secs = kstreams_build(WORK / "kstreams")
    print(f"javac: CardWindows compiled in {secs:.1f} s")
    ks = start_process(
        "kstreams", kstreams_command(classes, [KAFKA_BOOTSTRAP, f"{NAME}-kstreams", EVENTS_TOPIC, KS_OUT, str(WORK / "ks-state")]),
        ready=lambda: True, log_dir=WORK,
    )
    t0 = time.monotonic()
    try:
        last, still = -1, 0
        while time.monotonic() - t0 < 45 and ks.alive():
            n = sum(end_offsets(KAFKA_BOOTSTRAP, KS_OUT).values())
            still = still + 1 if (n == last and n > 0) else 0
            if still >= 4:
                break
            last = n
            time.sleep(0.5)
    finally:
        ks.stop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in read_topic(KAFKA_BOOTSTRAP, KS_OUT, timeout=15):
            card, start = r.key.decode().rsplit("@", 1)
            KS_COUNTS[(card, int(start))] = int(r.value)
    same = sum(1 for k, (c, _) in SEEN.items() if KS_COUNTS.get(k) == c)
    print(f"Kafka Streams ran {time.monotonic() - t0:.1f} s: {len(KS_COUNTS)} (card, window) counts; "
          f"{same} of {len(SEEN)} equal to the Faust worker's")
    print("differences (card, window start): (Faust, Kafka Streams)",
          [(k, (SEEN.get(k, (0,))[0], KS_COUNTS.get(k))) for k in sorted(set(SEEN) | set(KS_COUNTS))
           if SEEN.get(k, (0,))[0] != KS_COUNTS.get(k)][:5])
else:
    print("the Faust worker did not run, so there is no stream to compare with")

# %% check="windows" points=1
assert window_starts(25 * HOUR, SIZE_MS, STEP_MS) == [6 * HOUR, 12 * HOUR, 18 * HOUR, 24 * HOUR], (
    f"expected the 4 windows starting 6h, 12h, 18h, 24h, saw {window_starts(25 * HOUR, SIZE_MS, STEP_MS)}"
)
### BEGIN HIDDEN TESTS
import random as _random

_rng = _random.Random(7)
for _ts in [0, 6 * HOUR, 30 * HOUR - 1, 30 * HOUR] + [_rng.randrange(10**12, 2 * 10**12) for _ in range(50)]:
    _want = hopping_windows(_ts, SIZE_MS, STEP_MS)
    _got = list(window_starts(_ts, SIZE_MS, STEP_MS))
    assert _got == _want, f"ts={_ts}: expected window starts {_want}, saw {_got}"
assert list(window_starts(17, 10, 10)) == [10], f"tumbling case (size == step): expected [10], saw {window_starts(17, 10, 10)}"
### END HIDDEN TESTS

# %% check="windows" points=2
assert FEATURES, "the worker produced no feature records (see the worker log above)"
_accepted = {f["event_id"] for f in FEATURES}
_expected, _ = reference_features([e for e in STREAM if e["event_id"] in _accepted], SIZE_MS, STEP_MS, 10**15)
_bad = window_mismatches(SEEN, _expected)
assert not _bad, f"{len(_bad)} (card, window) features differ from an event-time recomputation, e.g. {_bad[:3]}"
### BEGIN HIDDEN TESTS
_bounds = [f for f in FEATURES if not (f["window_start"] <= f["event_ts"] < f["window_end"])]
assert not _bounds, f"{len(_bounds)} updates put an event outside its window, e.g. {_bounds[:1]}"
assert len(SEEN) == len(_expected), f"expected {len(_expected)} (card, window) cells, saw {len(SEEN)}"
### END HIDDEN TESTS

# %% check="join" points=2
_ex = {"event_id": "x", "key": "card-1", "event_ts": 0, "amount": 1.0, "product_cd": "W"}
_out = enrich(_ex, REFERENCE, DEFAULT_RISK)
assert _out["category"] == "web" and math.isclose(_out["risk"], REFERENCE["W"]["risk"]), f"expected web/{REFERENCE['W']['risk']}, saw {_out}"
assert FEATURES, "the worker produced no feature records"
_by_prod = {e["event_id"]: e["product_cd"] for e in EVENTS}
_wrong = [
    f for f in FEATURES
    if _by_prod[f["event_id"]] in REFERENCE
    and (f["category"], f["risk"]) != (REFERENCE[_by_prod[f["event_id"]]]["category"], REFERENCE[_by_prod[f["event_id"]]]["risk"])
]
assert not _wrong, f"{len(_wrong)} feature records carry the wrong category/risk, e.g. {_wrong[:1]}"
### BEGIN HIDDEN TESTS
_unknown = enrich({**_ex, "product_cd": "S"}, REFERENCE, DEFAULT_RISK)
assert (_unknown["category"], _unknown["risk"]) == ("unknown", DEFAULT_RISK), (
    f"unknown product: expected ('unknown', {DEFAULT_RISK}), saw {(_unknown.get('category'), _unknown.get('risk'))}"
)
assert _ex == {"event_id": "x", "key": "card-1", "event_ts": 0, "amount": 1.0, "product_cd": "W"}, "enrich modified its input"
assert {"event_id", "key", "event_ts", "amount", "product_cd"} <= set(_out), f"enrich dropped event fields: {sorted(_out)}"
_s_events = {e["event_id"] for e in STREAM if e["product_cd"] == "S"} - set(EXPECTED_DROPPED)
_s_seen = {f["event_id"] for f in FEATURES if f["category"] == "unknown" and f["risk"] == DEFAULT_RISK}
assert _s_events and _s_events == _s_seen, (
    f"events of products missing from the table: expected {len(_s_events)} enriched with defaults, saw {len(_s_seen)}"
)
### END HIDDEN TESTS

# %% check="late" points=1
assert bool(accept(10 * HOUR, 12 * HOUR, GRACE_MS)), "2 h late with 6 h grace: expected accepted"
assert not accept(1 * HOUR, 12 * HOUR, GRACE_MS), "11 h late with 6 h grace: expected dropped"
### BEGIN HIDDEN TESTS
assert accept(6 * HOUR, 12 * HOUR, GRACE_MS), "exactly grace behind the watermark: expected accepted"
assert not accept(6 * HOUR - 1, 12 * HOUR, GRACE_MS), "1 ms beyond grace: expected dropped"
assert accept(13 * HOUR, 12 * HOUR, GRACE_MS), "an event ahead of the watermark: expected accepted"
### END HIDDEN TESTS

# %% check="late" points=2
assert LATE or FEATURES, "the worker produced nothing"
_dropped = sorted(l["event_id"] for l in LATE)
assert _dropped == sorted(EXPECTED_DROPPED), (
    f"expected {len(EXPECTED_DROPPED)} events dropped beyond grace, saw {len(_dropped)} in {LATE_TOPIC}"
)
### BEGIN HIDDEN TESTS
_bad = window_mismatches(SEEN, EXPECTED_FEATURES)
assert not _bad, f"final features differ from the watermark/grace recomputation: {len(_bad)} cells, e.g. {_bad[:2]}"
_pos = {e["event_id"]: i for i, e in enumerate(STREAM)}
_in_grace_late = [
    e["event_id"] for i, e in enumerate(STREAM)
    if i and e["event_ts"] < max(x["event_ts"] for x in STREAM[:i]) and e["event_id"] not in set(EXPECTED_DROPPED)
]
_counted = {f["event_id"] for f in FEATURES}
assert _in_grace_late and set(_in_grace_late) <= _counted, (
    f"expected the {len(_in_grace_late)} out-of-order events within grace to be counted, "
    f"{len(set(_in_grace_late) - _counted)} are missing"
)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4 — monitoring processing latency and freshness
# A feature pipeline is monitored like a service, with two numbers the model owner cares about:
#
# - **processing latency**: for each feature update, the time from the payment reaching Kafka to
#   the feature reaching Kafka. Both are broker timestamps: the input record's timestamp (the worker
#   copied it into `input_ts_ms`) and the output record's own `timestamp_ms`. Not the event time —
#   a historical replay would give "latencies" of years, and a late event would look slow.
# - **freshness**: how old the newest feature is right now, `now_ms` minus the latest output
#   timestamp. A stuck worker shows a growing freshness while its latency (of the last records) looks fine.
#
# Plus the share of events dropped as late, which tells you if the grace period fits the data.
#
# Write `pipeline_health(feature_records, late_count, now_ms)` taking the `Record`s of the features
# topic (objects with `.key`, `.value` bytes and `.timestamp_ms`; skip the `b"warmup"` record) and
# returning `{"p50_ms", "p95_ms", "freshness_ms", "late_ratio"}` where `late_ratio` is
# `late_count / (late_count + distinct events in the features)`. `latency_summary(values)` helps.
# In production these would be exported as Prometheus gauges/histograms (module 6) and alerted on.

# %% [markdown]
# <details><summary>Hints</summary>
#
# 1. `json.loads(r.value)["input_ts_ms"]` and `r.timestamp_ms`.
# 2. `latency_summary([...])` returns `p50` and `p95`.
# 3. Distinct events: `len({v["event_id"] for v in values})`.
# </details>

# %% answer="monitoring"
def pipeline_health(feature_records: list, late_count: int, now_ms: int) -> dict:
    ### BEGIN SOLUTION
    recs = [r for r in feature_records if r.key != b"warmup"]
    values = [json.loads(r.value) for r in recs]
    lat = latency_summary(r.timestamp_ms - v["input_ts_ms"] for r, v in zip(recs, values))
    events = len({v["event_id"] for v in values})
    return {
        "p50_ms": lat["p50"],
        "p95_ms": lat["p95"],
        "freshness_ms": now_ms - max(r.timestamp_ms for r in recs),
        "late_ratio": late_count / (late_count + events),
    }
    ### END SOLUTION


NOW_MS = int(time.time() * 1000)
HEALTH = pipeline_health(FEATURE_RECORDS, len(LATE), NOW_MS)
print(HEALTH)

# %% check="monitoring" points=2
_recs = [r for r in FEATURE_RECORDS if r.key != b"warmup"]
assert _recs, "no feature records to measure"
_lat = latency_summary(r.timestamp_ms - json.loads(r.value)["input_ts_ms"] for r in _recs)
for _k, _w in (("p50_ms", _lat["p50"]), ("p95_ms", _lat["p95"])):
    assert abs(HEALTH[_k] - _w) <= max(5.0, 0.05 * _w), f"{_k}: expected {_w:.0f} ms, saw {HEALTH[_k]}"
### BEGIN HIDDEN TESTS
_fresh = NOW_MS - max(r.timestamp_ms for r in _recs)
assert abs(HEALTH["freshness_ms"] - _fresh) <= 5, f"freshness_ms: expected {_fresh}, saw {HEALTH['freshness_ms']}"
_h2 = pipeline_health(_recs[:50], 0, NOW_MS + 1000)
_fresh2 = NOW_MS + 1000 - max(r.timestamp_ms for r in _recs[:50])
assert abs(_h2["freshness_ms"] - _fresh2) <= 5, f"freshness on a subset: expected {_fresh2}, saw {_h2['freshness_ms']}"
_ratio = len(LATE) / (len(LATE) + len({json.loads(r.value)["event_id"] for r in _recs}))
assert math.isclose(HEALTH["late_ratio"], _ratio, rel_tol=1e-6), f"late_ratio: expected {_ratio:.4f}, saw {HEALTH['late_ratio']}"
### END HIDDEN TESTS

# %% [markdown]
# ## Wrap-up
# - The worker computed event-time sliding-window features, joined a reference table and dropped
#   events beyond the watermark's grace — and its output matched an independent recomputation.
# - **What the cloud/live tier adds:** a managed broker (Amazon MSK, Confluent Cloud), the worker
#   scaled as a consumer group across partitions (Faust on ECS/Kubernetes, or Kafka Streams / Flink
#   on Kinesis Data Analytics), state in RocksDB with changelog topics for recovery, features
#   written to an online store (Redis/DynamoDB, module 26), and latency/freshness exported to
#   Prometheus/CloudWatch with alerts. Here everything runs on one local broker.
#
# Cleanup: the topics, Faust's internal topics and the consumer group of this run.

# %%
cleanup_kafka()
print("deleted the topics and consumer group of", NAME)
