# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 24 — Data quality for ML
#
# **Where this sits:** the fraud-detection project's model (Modules 1–6) scores batches of card
# transactions that another team's exporter delivers. Every later pipeline in the course (Airflow in
# Module 25, feature pipelines, retraining) reads data it did not produce. This lab builds the
# checks that stand between that data and the model, and the gate that stops a run when they fail.
#
# **You will:**
# 1. see **why ML needs stricter data checks** than ordinary software: a broken batch does not
#    crash a model, it makes it quietly wrong;
# 2. write a **Great Expectations** suite for the transactions batch (keys, ranges, categories, row
#    count, columns) and validate a good batch and a planted bad one, reading the result object;
# 3. write a **pandera** schema for the dataframe: types coerced from strings, value checks, a
#    cross-column check, lazy validation that lists every failure at once;
# 4. detect **drift at the data layer**: per-feature PSI and Kolmogorov–Smirnov checks against the
#    training reference, *before* the model sees the batch;
# 5. build an **automated quality gate**: a pipeline (ingest → validate → score) that writes nothing
#    downstream on a bad batch, and the CI form of it, a GX Checkpoint run as a job step whose exit
#    code fails the build and whose JUnit report and Data Docs a CI system shows.
#
# Nothing here needs a service: Great Expectations and pandera run in-process, and the CI job is a
# subprocess, exactly the command a CI runner would execute.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")

# %% [markdown]
# ## Setup
# Everything this lab writes lives under `m024-work/<name from RUN_ID>/`, which is recreated on each
# run. The data are small enough that `FAST` changes nothing here. The data are the course's fraud transactions (synthetic, IEEE-CIS-like; see
# `datasets/cards/fraud.md`), cut by time into the batches a scoring pipeline would receive:
#
# | batch | days | what it is |
# |---|---|---|
# | `REFERENCE` | 0–120 | the training period: the model was fit on it, drift is measured against it |
# | `good` | 120–150 | a normal batch |
# | `drift` | 150–182 | clean data, but the world moved: legit amounts ×1.2, a new phone model |
# | `bad` | 120–150 | the good batch with planted defects: missing and duplicate keys, negative amounts, lower-case product codes |
#
# Batches arrive as CSV files without the label (`isFraud` is only known weeks later).
# `labkit.quality.plant_defect` breaks a batch in one known way; the checks use it to test your
# validators against faults whose location is known exactly. Great Expectations shows progress bars
# and sends usage analytics by default: both are switched off below.

# %%
import json
import logging
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path

os.environ["GX_ANALYTICS_ENABLED"] = "false"
warnings.filterwarnings("ignore", module="great_expectations")
logging.getLogger("great_expectations").setLevel(logging.ERROR)

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
import pandera.pandas as pa
from great_expectations.data_context.types.base import ProgressBarsConfig
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from labkit import labenv
from labkit.fraud import feature_frame
from labkit.quality import QualityGateError, Verdict, ks_drift, plant_defect, psi_drift, run_gate
from mlops_datasets import load

labenv.configure(DATA_DIR)
NAME = labenv.resource_name("m024", RUN_ID)
WORK = (Path("m024-work") / NAME).resolve()
shutil.rmtree(WORK, ignore_errors=True)
BATCHES = WORK / "batches"
BATCHES.mkdir(parents=True)

tx = load("fraud")["transactions"]
day = tx["TransactionDT"] // 86400
REFERENCE = tx[day < 120].reset_index(drop=True)
raw_cols = [c for c in tx.columns if c != "isFraud"]
good_df = tx[(day >= 120) & (day < 150)][raw_cols].reset_index(drop=True)
drift_df = tx[day >= 150][raw_cols].reset_index(drop=True)
bad_df = good_df
for _seed, _kind in enumerate(["duplicate_key", "null_key", "negative_amount", "unknown_category"]):
    bad_df = plant_defect(bad_df, _kind, n=20, seed=_seed)


def write_batch(df: pd.DataFrame, name: str) -> Path:
    """A batch as the exporter delivers it: a CSV file."""
    path = BATCHES / f"{name}.csv"
    df.to_csv(path, index=False)
    return path


GOOD, DRIFT, BAD = write_batch(good_df, "good"), write_batch(drift_df, "drift"), write_batch(bad_df, "bad")

# the model this pipeline protects: Module 1's baseline, fit on the reference period
MODEL = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
MODEL.fit(feature_frame(REFERENCE), REFERENCE.sort_values("TransactionDT")["isFraud"])
print(f"reference {len(REFERENCE)} rows | batches: good {len(good_df)}, drift {len(drift_df)}, bad {len(bad_df)}")

# %% [markdown]
# ## Why ML needs stricter data checks
#
# A web service that receives a malformed request fails loudly: a 500, an exception, a page. A model
# that receives malformed data **keeps answering**. Below, two exporter bugs: amounts in cents instead
# of dollars (a unit change nobody announced), and the card key arriving as a default value (a failed
# join filled with `0`). Every value still has the right type, nothing raises, and the share of
# transactions the model flags as fraud changes several-fold.

# %%
def flagged_share(batch: pd.DataFrame, threshold: float = 0.5) -> float:
    scores = MODEL.predict_proba(feature_frame(batch))[:, 1]
    return float((scores >= threshold).mean())


cents = plant_defect(good_df, "amount_in_cents")
lost_card = good_df.assign(card1=0, addr1=np.nan)  # every row now looks like one very busy card
print(f"flagged as fraud, good batch:          {flagged_share(good_df):6.2%}")
print(f"flagged as fraud, amounts in cents:    {flagged_share(cents):6.2%}   (no error raised)")
print(f"flagged as fraud, card key defaulted:  {flagged_share(lost_card):6.2%}   (no error raised)")

# %% [markdown]
# Three things make data errors worse for ML than for ordinary code:
# - **they are silent**: the model's contract is "a numeric matrix", which garbage satisfies;
# - **they are delayed**: labels arrive weeks later, so accuracy monitoring sees the damage late;
# - **they propagate**: a bad batch used for retraining bakes the error into the next model.
#
# So checks run *before* the model, on three levels: **schema** (columns, types), **values** (keys,
# ranges, categories, volumes) and **distribution** (is this batch like the data the model learned
# from?). The first two are what Great Expectations and pandera do; the third is drift detection.
#
# ## Great Expectations: context, data source, batch definition
#
# GX Core 1.x organises validation in a few objects:
# - a **Data Context**, the project: here a *file* context whose configuration, suites and
#   checkpoints are JSON/YAML files under `gx/` that you commit next to the pipeline code;
# - a **Data Source** and **Data Asset** (here: pandas dataframes handed over at run time), and a
#   **Batch Definition** saying which slice of the asset is one batch (here: the whole dataframe);
# - an **Expectation Suite**: the named list of expectations for that data;
# - a **Validation Definition** (suite + batch definition) and a **Checkpoint** (validation
#   definitions + actions such as building Data Docs), which is what a pipeline or CI job runs.

# %%
context = gx.get_context(mode="file", project_root_dir=WORK)
context.variables.progress_bars = ProgressBarsConfig(globally=False)
context.variables.save()
source = context.data_sources.add_or_update_pandas("exporter")
asset = source.add_dataframe_asset("transactions")
batch_definition = asset.add_batch_definition_whole_dataframe("whole_batch")

# one expectation, validated interactively on one batch: how a suite is explored
_batch = batch_definition.get_batch(batch_parameters={"dataframe": pd.read_csv(BAD)})
_probe = _batch.validate(gxe.ExpectColumnValuesToNotBeNull(column="TransactionID"))
print("success:", _probe.success, "| type:", _probe.expectation_config.type)
print({k: _probe.result[k] for k in ("element_count", "unexpected_count", "unexpected_percent")})

# %% [markdown]
# ## Exercise 1: an expectation suite for the transactions batch
#
# Write `add_expectations(suite)` that adds these expectations to `suite`
# (`suite.add_expectation(gxe.ExpectSomething(...))`; classes live in `great_expectations.expectations`,
# imported as `gxe`):
#
# | what | expectation |
# |---|---|
# | the exporter's columns, exactly `COLUMNS` | `ExpectTableColumnsToMatchSet` (`exact_match=True`) |
# | a plausible volume: 1,000 to 20,000 rows | `ExpectTableRowCountToBeBetween` |
# | no missing `TransactionID`, `TransactionDT`, `TransactionAmt`, `ProductCD`, `card1` | `ExpectColumnValuesToNotBeNull`, one per column |
# | `TransactionID` is a key | `ExpectColumnValuesToBeUnique` |
# | `TransactionAmt` in (0, 10,000]: strictly positive | `ExpectColumnValuesToBeBetween` (`strict_min=True`) |
# | `ProductCD`, `card4`, `card6`, `DeviceType` only take their known values (`CATEGORIES`) | `ExpectColumnValuesToBeInSet`, one per column |
# | `card2` is missing for ~1.5% of rows normally: at least 95% present | `ExpectColumnValuesToNotBeNull` with `mostly=0.95` |
#
# The given code then saves the suite, creates a Validation Definition and validates the good and
# the bad batch. A GX result is an object, not a log: `result.success`, and for each expectation
# `r.success`, `r.expectation_config.type`, `r.expectation_config.kwargs["column"]`, `r.result`.
#
# <details><summary>Hint 1</summary>Set-valued expectations take a list:
# <code>gxe.ExpectColumnValuesToBeInSet(column="card6", value_set=CATEGORIES["card6"])</code>. Missing
# values are not counted as unexpected by <code>ExpectColumnValuesToBeInSet</code>; that is what the
# not-null expectations are for.</details>
# <details><summary>Hint 2</summary><code>gxe.ExpectColumnValuesToBeBetween(column="TransactionAmt",
# min_value=0, max_value=10_000, strict_min=True)</code>; <code>mostly</code> is an argument of every
# column-map expectation: <code>gxe.ExpectColumnValuesToNotBeNull(column="card2", mostly=0.95)</code>.
# </details>

# %%
COLUMNS = raw_cols
CATEGORIES = {
    "ProductCD": ["W", "C", "R", "H", "S"],
    "card4": ["visa", "mastercard", "american express", "discover"],
    "card6": ["debit", "credit"],
    "DeviceType": ["desktop", "mobile"],
}
print(COLUMNS)


# %% answer="gx_suite"
def add_expectations(suite: gx.ExpectationSuite) -> None:
    ### BEGIN SOLUTION
    suite.add_expectation(gxe.ExpectTableColumnsToMatchSet(column_set=COLUMNS, exact_match=True))
    suite.add_expectation(gxe.ExpectTableRowCountToBeBetween(min_value=1_000, max_value=20_000))
    for column in ("TransactionID", "TransactionDT", "TransactionAmt", "ProductCD", "card1"):
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="TransactionID"))
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(column="TransactionAmt", min_value=0, max_value=10_000, strict_min=True)
    )
    for column, values in CATEGORIES.items():
        suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=values))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="card2", mostly=0.95))
    ### END SOLUTION


suite = context.suites.add_or_update(gx.ExpectationSuite(name="transactions"))
add_expectations(suite)
suite.save()
validation = context.validation_definitions.add_or_update(
    gx.ValidationDefinition(name="transactions_batch", data=batch_definition, suite=suite)
)


def validate_file(path: Path):
    """Validate one batch file with the suite; returns GX's ExpectationSuiteValidationResult."""
    return validation.run(batch_parameters={"dataframe": pd.read_csv(path)})


good_result, bad_result = validate_file(GOOD), validate_file(BAD)
print(f"{len(suite.expectations)} expectations | good batch: {good_result.success} | bad batch: {bad_result.success}")
for _r in bad_result.results:
    if not _r.success:
        print("  failed:", _r.expectation_config.type, _r.expectation_config.kwargs.get("column"),
              "unexpected:", _r.result.get("unexpected_count"))


# %% check="gx_suite" points=3
def _failed(result) -> set:
    return {(r.expectation_config.type, r.expectation_config.kwargs.get("column")) for r in result.results if not r.success}


assert good_result.success, f"the good batch should pass the suite; failing: {sorted(map(str, _failed(good_result)))}"
assert not bad_result.success, "the bad batch passed the suite: the planted defects went unnoticed"
_want = {
    ("expect_column_values_to_not_be_null", "TransactionID"),
    ("expect_column_values_to_be_unique", "TransactionID"),
    ("expect_column_values_to_be_between", "TransactionAmt"),
    ("expect_column_values_to_be_in_set", "ProductCD"),
}
assert _failed(bad_result) == _want, f"on the bad batch expected exactly {sorted(_want)} to fail, saw {sorted(map(str, _failed(bad_result)))}"
### BEGIN HIDDEN TESTS
_stored = context.suites.get("transactions")
assert len(_stored.expectations) >= 14, f"the saved suite has {len(_stored.expectations)} expectations, expected 14"
assert validate_file(DRIFT).success, f"the drift batch is clean data and should pass; failing: {sorted(map(str, _failed(validate_file(DRIFT))))}"
_cases = {
    "truncated": ("expect_table_row_count_to_be_between", None),
    "missing_column": ("expect_table_columns_to_match_set", None),
    "amount_in_cents": ("expect_column_values_to_be_between", "TransactionAmt"),
    "negative_amount": ("expect_column_values_to_be_between", "TransactionAmt"),
    "null_key": ("expect_column_values_to_not_be_null", "TransactionID"),
}
for _kind, _exp in _cases.items():
    _res = validate_file(write_batch(plant_defect(good_df, _kind, n=200, seed=11), f"hidden-{_kind}"))
    assert _exp in _failed(_res), f"a batch with defect {_kind!r} should fail {_exp}, failed: {sorted(map(str, _failed(_res)))}"
_card2 = good_df.copy()
_card2.loc[: int(len(_card2) * 0.1), "card2"] = np.nan
_res = validate_file(write_batch(_card2, "hidden-card2"))
assert ("expect_column_values_to_not_be_null", "card2") in _failed(_res), "10% missing card2 should fail (mostly=0.95)"
_c4 = good_df.copy()
_c4.loc[:30, "card4"] = "VISA"
assert ("expect_column_values_to_be_in_set", "card4") in _failed(validate_file(write_batch(_c4, "hidden-card4"))), (
    "upper-case card4 values should fail the card4 value set"
)
### END HIDDEN TESTS

# %% [markdown]
# A suite is never finished. The defaulted card key from the introduction passes it (every column is
# present, typed and in range as specified), while the model's output moved several-fold:

# %%
print("card key defaulted, suite passes:", validate_file(write_batch(lost_card, "lost-card")).success)

# %% [markdown]
# The fix is one more expectation (`card1` between 1000 and 18396, or a minimum number of distinct
# cards per batch), written after the incident. Good suites grow from incidents and from the
# features the model depends on, not from a first guess at every column.
#
# ## Exercise 2: a pandera schema for the dataframe
#
# GX validates a batch as a data asset; **pandera** validates a pandas dataframe in Python code, the
# way type hints describe a function's arguments. It is the natural check at the boundary of a
# function (`@pa.check_types`) and, with `coerce=True`, it also *parses*: many ingestion steps read
# CSV with `dtype=str` so that nothing (IDs, leading zeros, codes) is mangled by type guessing, and
# the schema turns the strings into the declared types, or reports the values that would not convert.
#
# Write `TransactionSchema`, a `pa.DataFrameModel` with one field per column of `COLUMNS`:
# - types: `TransactionID`, `TransactionDT`, `card1`, `card3`, `card5` are `int`; `TransactionAmt`,
#   `card2`, `addr1` are `float`; the rest `str`;
# - `TransactionID` unique; `TransactionDT >= 86400`; `TransactionAmt > 0` and `<= 10_000`;
#   `ProductCD`, `card4`, `card6`, `DeviceType` in `CATEGORIES`;
# - nullable: `card2`, `addr1`, `P_emaildomain`, `DeviceType`, `DeviceInfo` (nothing else);
# - a dataframe-level check (`@pa.dataframe_check`): `DeviceInfo` is missing wherever `DeviceType`
#   is (a device model without a device record means a broken join);
# - `class Config`: `coerce = True` and `strict = True` (no columns beyond these).
#
# Then write `failure_cases(raw)`: validate **lazily** (`lazy=True`, so every failure is collected
# instead of stopping at the first) and return pandera's failure-cases table
# (`SchemaErrors.failure_cases`), or an empty DataFrame when the batch is valid.
#
# <details><summary>Hint 1</summary><code>TransactionAmt: float = pa.Field(gt=0, le=10_000)</code>,
# <code>DeviceType: str = pa.Field(nullable=True, isin=CATEGORIES["DeviceType"])</code>.</details>
# <details><summary>Hint 2</summary>A dataframe check is a classmethod returning a boolean Series:
# <code>@pa.dataframe_check</code> <code>def device_info_needs_type(cls, df): return ~(df["DeviceType"].isna() &amp;
# df["DeviceInfo"].notna())</code>.</details>
# <details><summary>Hint 3</summary><code>try: TransactionSchema.validate(raw, lazy=True)</code>
# <code>except pa.errors.SchemaErrors as err: return err.failure_cases</code>.</details>

# %%
def read_raw(path: Path) -> pd.DataFrame:
    """Ingest as the pipeline does: every column as a string (missing stays NaN)."""
    return pd.read_csv(path, dtype=str)


good_raw, bad_raw = read_raw(GOOD), read_raw(BAD)
print(good_raw.dtypes.value_counts().to_dict())


# %% answer="pandera"
### BEGIN SOLUTION
class TransactionSchema(pa.DataFrameModel):
    TransactionID: int = pa.Field(unique=True)
    TransactionDT: int = pa.Field(ge=86_400)
    TransactionAmt: float = pa.Field(gt=0, le=10_000)
    ProductCD: str = pa.Field(isin=CATEGORIES["ProductCD"])
    card1: int
    card2: float = pa.Field(nullable=True)
    card3: int
    card4: str = pa.Field(isin=CATEGORIES["card4"])
    card5: int
    card6: str = pa.Field(isin=CATEGORIES["card6"])
    addr1: float = pa.Field(nullable=True)
    P_emaildomain: str = pa.Field(nullable=True)
    DeviceType: str = pa.Field(nullable=True, isin=CATEGORIES["DeviceType"])
    DeviceInfo: str = pa.Field(nullable=True)

    @pa.dataframe_check
    def device_info_needs_type(cls, df: pd.DataFrame) -> pd.Series:
        return ~(df["DeviceType"].isna() & df["DeviceInfo"].notna())

    class Config:
        coerce = True
        strict = True


def failure_cases(raw: pd.DataFrame) -> pd.DataFrame:
    try:
        TransactionSchema.validate(raw, lazy=True)
    except pa.errors.SchemaErrors as err:
        return err.failure_cases
    return pd.DataFrame()
### END SOLUTION


typed = TransactionSchema.validate(good_raw)
print("coerced types:", typed.dtypes.astype(str).value_counts().to_dict())
bad_cases = failure_cases(bad_raw)
print(bad_cases.groupby(["column", "check"], dropna=False).size())

# %% check="pandera" points=2
assert str(typed["TransactionAmt"].dtype) == "float64" and str(typed["TransactionID"].dtype) == "int64", (
    f"validated types should be coerced from strings, saw {typed.dtypes.astype(str).to_dict()}"
)
assert failure_cases(good_raw).empty, f"the good batch should have no failure cases, saw\n{failure_cases(good_raw).head()}"
_cols = set(bad_cases["column"].dropna()) if "column" in bad_cases else set()
assert {"TransactionID", "TransactionAmt", "ProductCD"} <= _cols, f"expected failures in TransactionID, TransactionAmt, ProductCD; saw {sorted(_cols)}"
### BEGIN HIDDEN TESTS
assert {"column", "check", "failure_case", "index"} <= set(bad_cases.columns), f"return pandera's failure_cases table, got columns {list(bad_cases.columns)}"
assert failure_cases(read_raw(DRIFT)).empty, "the drift batch is clean data and should pass the schema"
_amt = bad_cases[bad_cases["column"] == "TransactionAmt"]
assert len(_amt) == 20, f"20 negative amounts were planted, the failure table lists {len(_amt)}"
_checks = set(bad_cases.loc[bad_cases["column"] == "TransactionID", "check"].astype(str))
assert any("unique" in c for c in _checks) and any("null" in c for c in _checks), f"TransactionID checks failing: {_checks}"
_typed_drift = TransactionSchema.validate(read_raw(DRIFT))
assert str(_typed_drift["card1"].dtype) == "int64" and str(_typed_drift["card2"].dtype) == "float64", "coerce int/float columns"
for _kind in ("missing_column", "inconsistent_device", "amount_in_cents"):
    _fc = failure_cases(read_raw(write_batch(plant_defect(good_df, _kind, n=50, seed=5), f"hidden-pa-{_kind}")))
    assert not _fc.empty, f"a batch with defect {_kind!r} should have failure cases"
_extra = good_raw.assign(debug_flag="1")
assert not failure_cases(_extra).empty, "an unexpected extra column should fail (strict=True)"
_nulls = good_raw.copy()
_nulls.loc[:5, "card6"] = np.nan
assert "card6" in set(failure_cases(_nulls)["column"].dropna()), "card6 must not be nullable"
### END HIDDEN TESTS

# %% [markdown]
# GX or pandera? Both check schema and values; they sit at different places.
# **GX** is project-level: suites stored as files, validation results kept, Data Docs published,
# Checkpoints run by an orchestrator or CI, many backends (pandas, Spark, SQL warehouses), and
# batch-level expectations (row counts, column sets, distributions). **pandera** is code-level: a
# schema is a Python class next to the function it protects, it parses (coerces) as it validates,
# and it works with type checkers. Pipelines often use pandera inside transformation functions and
# GX at the boundaries between teams.
#
# ## Detecting drift at the data layer
#
# A batch can pass every schema and value check and still be unlike the data the model learned from.
# Drift checks compare each model input's distribution in the batch with the **training reference**:
# - **PSI** (population stability index) on binned shares: < 0.1 stable, 0.1–0.2 investigate,
#   > 0.2 significant. Good for categoricals, and it does not grow with the sample size;
# - the **Kolmogorov–Smirnov** two-sample test for numeric features: the largest gap between the two
#   cumulative distributions, and a p-value. With thousands of rows KS detects small shifts that PSI
#   on deciles calls stable, and with millions it flags shifts too small to matter: pick `alpha` for
#   the batch size, and look at the statistic too.
#
# `labkit.quality` has both, each returning a `DriftStat` with its decision. On the *good* batch,
# amounts look stable by both measures; on the drift batch, PSI still calls them stable while KS does not:

# %%
ALPHA, PSI_LIMIT = 1e-3, 0.1
for _name, _batch_df in (("good", good_df), ("drift", drift_df)):
    _ks = ks_drift("TransactionAmt", REFERENCE["TransactionAmt"], _batch_df["TransactionAmt"], alpha=ALPHA)
    _psi = psi_drift("TransactionAmt", REFERENCE["TransactionAmt"], _batch_df["TransactionAmt"], threshold=PSI_LIMIT, categorical=False)
    print(f"{_name:5s} TransactionAmt: KS D={_ks.statistic:.3f} p={_ks.p_value:.1e} drifted={_ks.drifted} | "
          f"PSI={_psi.statistic:.3f} drifted={_psi.drifted}")
print("median amount, reference vs drift batch:", REFERENCE["TransactionAmt"].median(), drift_df["TransactionAmt"].median())

# %% [markdown]
# ## Exercise 3: drift checks before the model
#
# Write `drift_report(reference, batch)` that returns a DataFrame with **one row per monitored
# feature**, indexed by feature name, with the columns of `DriftStat` (`test`, `statistic`,
# `p_value`, `threshold`, `drifted`):
# - numeric inputs, tested with `ks_drift(..., alpha=ALPHA)`: `TransactionAmt`, and `hour`, the hour
#   of day (`TransactionDT // 3600 % 24`), which the model uses;
# - categorical inputs, tested with `psi_drift(..., threshold=PSI_LIMIT, categorical=True)`:
#   `ProductCD`, `card4`, `card6`, `DeviceType`, `DeviceInfo`, `P_emaildomain`.
#
# Compare against `reference` (the training period), not against the previous batch: comparing
# neighbours lets a slow drift through one small step at a time.
#
# <details><summary>Hint 1</summary><code>pd.DataFrame([asdict(s) for s in stats]).set_index("feature")</code>
# turns a list of <code>DriftStat</code> into the table.</details>
# <details><summary>Hint 2</summary>Derive <code>hour</code> for both frames with the same
# function before testing it.</details>

# %% answer="drift"
NUMERIC_FEATURES = ["TransactionAmt", "hour"]
CATEGORICAL_FEATURES = ["ProductCD", "card4", "card6", "DeviceType", "DeviceInfo", "P_emaildomain"]


def drift_report(reference: pd.DataFrame, batch: pd.DataFrame) -> pd.DataFrame:
    ### BEGIN SOLUTION
    def with_hour(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(hour=(df["TransactionDT"] // 3600) % 24)

    ref, cur = with_hour(reference), with_hour(batch)
    results = [ks_drift(f, ref[f], cur[f], alpha=ALPHA) for f in NUMERIC_FEATURES]
    results += [psi_drift(f, ref[f], cur[f], threshold=PSI_LIMIT, categorical=True) for f in CATEGORICAL_FEATURES]
    return pd.DataFrame([asdict(s) for s in results]).set_index("feature")
    ### END SOLUTION


good_drift, drift_drift = drift_report(REFERENCE, good_df), drift_report(REFERENCE, drift_df)
print(drift_drift.round(4))


# %% check="drift" points=2
def _flagged(report) -> set:
    return set(report.index[report["drifted"].astype(bool)])


assert set(good_drift.index) == set(NUMERIC_FEATURES + CATEGORICAL_FEATURES), f"one row per monitored feature, saw {sorted(good_drift.index)}"
assert _flagged(good_drift) == set(), f"nothing should drift on the good batch, flagged {sorted(_flagged(good_drift))}"
assert "DeviceInfo" in _flagged(drift_drift), f"the new phone model should flag DeviceInfo; flagged {sorted(_flagged(drift_drift))}"
### BEGIN HIDDEN TESTS
assert _flagged(drift_drift) == {"TransactionAmt", "DeviceInfo"}, (
    f"on the drift batch expected exactly TransactionAmt (KS) and DeviceInfo (PSI) to drift, flagged {sorted(_flagged(drift_drift))}"
)
assert drift_drift.loc["TransactionAmt", "test"] == "ks" and drift_drift.loc["ProductCD", "test"] == "psi", "numeric: KS, categorical: PSI"
_night = good_df.assign(TransactionDT=good_df["TransactionDT"] + 9 * 3600)
assert _flagged(drift_report(REFERENCE, _night)) == {"hour"}, "a batch shifted by 9 hours should flag only hour"
_w = good_df.assign(ProductCD="W")
assert "ProductCD" in _flagged(drift_report(REFERENCE, _w)), "a batch of only ProductCD W should flag ProductCD"
_cents_rep = drift_report(REFERENCE, cents)
assert _flagged(_cents_rep) == {"TransactionAmt"}, f"amounts in cents should flag TransactionAmt only, flagged {sorted(_flagged(_cents_rep))}"
assert abs(drift_drift.loc["DeviceInfo", "statistic"] - 0.32) < 0.05, f"PSI(DeviceInfo) should be ~0.32, got {drift_drift.loc['DeviceInfo', 'statistic']:.3f}"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: a quality gate in the scoring pipeline
#
# Now the pipeline. Write `run_pipeline(batch_path, out_dir)`:
# 1. **ingest**: `raw = read_raw(batch_path)` for the schema, `frame = pd.read_csv(batch_path)` for GX
#    and drift;
# 2. **validate** with `run_gate` from `labkit.quality`, three blocking checks in this order:
#    `"schema"` (no pandera failure cases), `"expectations"` (the GX validation succeeds) and
#    `"drift"` (no feature drifted against `REFERENCE`). A check returns `True`/`False` or
#    `(passed, details)`; `run_gate` runs them all, and counts a check that raises or returns anything
#    else (say, a GX result object) as failed: the gate **fails closed**;
# 3. write the verdict to `out_dir / "verdict.json"` (`verdict.write_json`) in every case, then
#    `verdict.raise_for_status()`: on a failed gate this raises `QualityGateError` and **nothing is
#    written downstream**;
# 4. **score**: only on a passed gate, validate with `TransactionSchema` (typed frame), score with
#    `MODEL.predict_proba(feature_frame(typed))[:, 1]` and write `out_dir / "scores.csv"` with
#    columns `TransactionID`, `score`, one row per transaction; return the verdict.
#
# An orchestrator (Airflow in Module 25) marks a task failed when it raises, so raising is what makes
# the run fail; a gate that only logs a warning lets the bad batch through.
#
# <details><summary>Hint 1</summary><code>feature_frame</code> sorts by time: take the IDs from its
# index, <code>typed.loc[features.index, "TransactionID"]</code>.</details>
# <details><summary>Hint 2</summary><code>"expectations": lambda: bool(validate_file(batch_path).success)</code>.
# </details>

# %% answer="gate"
def run_pipeline(batch_path: Path, out_dir: Path) -> Verdict:
    ### BEGIN SOLUTION
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = read_raw(batch_path)
    frame = pd.read_csv(batch_path)

    def schema_check():
        cases = failure_cases(raw)
        return cases.empty, {"failure_cases": len(cases)}

    def expectations_check():
        result = validation.run(batch_parameters={"dataframe": frame})
        failed = [r.expectation_config.type for r in result.results if not r.success]
        return bool(result.success), {"failed": failed}

    def drift_check():
        report = drift_report(REFERENCE, frame)
        drifted = list(report.index[report["drifted"]])
        return not drifted, {"drifted": drifted}

    verdict = run_gate({"schema": schema_check, "expectations": expectations_check, "drift": drift_check})
    verdict.write_json(out_dir / "verdict.json")
    verdict.raise_for_status()
    typed = TransactionSchema.validate(raw)
    features = feature_frame(typed)
    scores = pd.DataFrame(
        {"TransactionID": typed.loc[features.index, "TransactionID"], "score": MODEL.predict_proba(features)[:, 1]}
    )
    scores.to_csv(out_dir / "scores.csv", index=False)
    return verdict
    ### END SOLUTION


RUNS = WORK / "runs"
outcomes = {}
for _name, _path in (("good", GOOD), ("bad", BAD), ("drift", DRIFT)):
    try:
        outcomes[_name] = run_pipeline(_path, RUNS / _name).status
    except QualityGateError as err:
        outcomes[_name] = f"gate failed: {err.verdict.failed}"
    print(f"{_name:5s} -> {outcomes[_name]} | files: {sorted(p.name for p in (RUNS / _name).glob('*'))}")


# %% check="gate" points=2
def _run(path: Path, out: Path):
    """(raised QualityGateError?, verdict.json content or None, scores.csv exists?)"""
    shutil.rmtree(out, ignore_errors=True)
    raised = False
    try:
        run_pipeline(path, out)
    except QualityGateError:
        raised = True
    verdict = json.loads((out / "verdict.json").read_text()) if (out / "verdict.json").exists() else None
    return raised, verdict, (out / "scores.csv").exists()


_raised, _v_good, _scored = _run(GOOD, RUNS / "check-good")
assert not _raised and _scored, f"the good batch should pass the gate and be scored (raised={_raised}, scores={_scored})"
_s = pd.read_csv(RUNS / "check-good" / "scores.csv")
assert len(_s) == len(good_df) and set(_s["TransactionID"]) == set(good_df["TransactionID"]), f"one score per transaction: {len(_s)} rows for {len(good_df)}"
_raised, _v, _scored = _run(BAD, RUNS / "check-bad")
assert _raised, "the bad batch should raise QualityGateError: a gate that only warns lets it through"
assert not _scored, "scores.csv was written for the bad batch: nothing may go downstream of a failed gate"
### BEGIN HIDDEN TESTS
assert _v is not None and _v["status"] == "failed", f"verdict.json should record the failed gate, saw {_v and _v.get('status')}"
assert set(_v["failed"]) == {"schema", "expectations"}, f"the bad batch should fail schema and expectations (not drift), failed: {_v['failed']}"
assert [c["name"] for c in _v["checks"]] == ["schema", "expectations", "drift"], f"checks: {[c['name'] for c in _v['checks']]}"
_raised, _v, _scored = _run(DRIFT, RUNS / "check-drift")
assert _raised and not _scored, "the drifted batch should be stopped by the drift check before scoring"
assert _v["failed"] == ["drift"], f"the drift batch is clean: only drift should fail, failed: {_v['failed']}"
assert _v_good and _v_good["status"] == "passed", f"verdict.json for the good batch: {_v_good}"
assert _s["score"].between(0, 1).all() and 0.005 < _s["score"].mean() < 0.2, f"scores should be fraud probabilities, mean {_s['score'].mean():.3f}"
_trunc = write_batch(plant_defect(good_df, "truncated", n=500, seed=2), "hidden-gate-truncated")
_raised, _v, _scored = _run(_trunc, RUNS / "check-trunc")
assert _raised and not _scored and "expectations" in _v["failed"], "a truncated batch (500 rows) should be stopped"
### END HIDDEN TESTS

# %% [markdown]
# ## Automated quality gates in CI/CD
#
# The same checks run in two more places. In the **data pipeline**, as above: the orchestrator runs
# the gate as a task before scoring or training. In **CI/CD**, on every change to the pipeline or
# to the suite: the job validates a fixed sample batch and a known-bad fixture, so a suite edit
# that stops catching defects (or starts rejecting good data) fails the build. A GitHub Actions step
# is only a command and its exit code:
#
# ```yaml
# - name: Data quality gate
#   run: python ci_gate.py gx transactions_gate data/sample_batch.csv reports/quality.xml
# - uses: actions/upload-artifact@v4        # Data Docs and the JUnit report, kept with the run
#   if: always()
#   with: {name: data-docs, path: gx/uncommitted/data_docs/local_site}
# ```
#
# In GX, what a job runs is a **Checkpoint**: validation definitions plus *actions* after each run,
# such as `UpdateDataDocsAction` (rebuild the HTML Data Docs: the suite and every validation result,
# human-readable) or notifications (`SlackNotificationAction`, `EmailAction`).

# %% [markdown]
# ## Exercise 5: a Checkpoint for the CI job
#
# Create and save (`context.checkpoints.add_or_update`) a `gx.Checkpoint` named `CHECKPOINT` that
# runs the `validation` definition and has one action,
# `gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")`. Assign it to `checkpoint`.
# The given cell then writes `ci_gate.py` (the job's script: it loads the GX project from disk, runs
# the checkpoint on a batch file, writes a JUnit report with one test case per expectation, and exits
# 1 when the batch fails) and runs it as CI would, as a separate process, on the good and the bad batch.
#
# <details><summary>Hint</summary><code>gx.Checkpoint(name=CHECKPOINT, validation_definitions=[validation],
# actions=[...])</code>.</details>

# %%
CHECKPOINT = "transactions_gate"

# %% answer="checkpoint"
### BEGIN SOLUTION
checkpoint = context.checkpoints.add_or_update(
    gx.Checkpoint(
        name=CHECKPOINT,
        validation_definitions=[validation],
        actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
    )
)
### END SOLUTION

# %% locked=true
CI_SCRIPT = WORK / "ci_gate.py"
CI_SCRIPT.write_text(
    '''"""CI step: validate one batch file with a saved GX checkpoint; exit 1 when it fails."""
import os
import sys

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
import great_expectations as gx
import pandas as pd

from labkit.quality import CheckResult, Verdict

root, name, batch, report = sys.argv[1:5]
context = gx.get_context(mode="file", project_root_dir=root)
result = context.checkpoints.get(name).run(batch_parameters={"dataframe": pd.read_csv(batch)})
checks = []
for run in result.run_results.values():
    for r in run.results:
        cfg = r.expectation_config
        label = f"{cfg.type}[{cfg.kwargs.get('column', 'table')}]"
        checks.append(CheckResult(label, bool(r.success), details={"unexpected": r.result.get("unexpected_count")}))
verdict = Verdict(tuple(checks))
verdict.write_junit(report, suite=name)
print(f"{name}: {verdict.status} ({len(verdict.failed)} of {len(checks)} expectations failed)")
sys.exit(0 if result.success and verdict.passed else 1)
'''
)


def ci_job(batch: Path, report: Path) -> subprocess.Popen:
    cmd = [sys.executable, str(CI_SCRIPT), str(WORK), CHECKPOINT, str(batch), str(report)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


ci = {}
if "checkpoint" in globals():
    _jobs = {name: ci_job(path, WORK / f"junit-{name}.xml") for name, path in (("good", GOOD), ("bad", BAD))}
    for _name, _job in _jobs.items():
        try:
            _out, _err = _job.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            _job.kill()
            _out, _err = _job.communicate()
        ci[_name] = _job.returncode
        print(f"CI job on the {_name} batch: exit {_job.returncode} | {(_out.strip() or _err.strip()[-300:])}")

# %% check="checkpoint" points=1
import xml.etree.ElementTree as ET

assert ci.get("good") == 0, f"the CI job should pass (exit 0) on the good batch, exit code {ci.get('good')}"
assert ci.get("bad") == 1, f"the CI job should fail (exit 1) on the bad batch, exit code {ci.get('bad')}"
### BEGIN HIDDEN TESTS
_docs = WORK / "gx" / "uncommitted" / "data_docs" / "local_site"
assert (_docs / "index.html").exists(), f"Data Docs were not built at {_docs}: add UpdateDataDocsAction"
assert len(list((_docs / "validations").rglob("*.html"))) >= 2, "Data Docs should hold the validation results of both CI runs"
_junit = ET.parse(WORK / "junit-bad.xml").getroot()
assert int(_junit.get("failures")) == 4 and int(_junit.get("tests")) >= 14, f"JUnit for the bad batch: {_junit.attrib}"
_saved = json.loads((WORK / "gx" / "checkpoints" / f"{CHECKPOINT}.json").read_text())
assert [a.get("type") for a in _saved.get("actions", [])] == ["update_data_docs"], f"checkpoint actions: {_saved.get('actions')}"
### END HIDDEN TESTS

# %% [markdown]
# ## Wrap-up
#
# **What ran here:** real Great Expectations (a file-backed project: suite, validation definition
# and checkpoint as JSON, Data Docs as HTML), real pandera, drift statistics computed from the data,
# a scoring pipeline gated on all three, and a CI step run as a separate process with an exit code
# and a JUnit report.
#
# **What a cloud/production setup adds:**
# - GX stores on **S3** (suites, validation results) and Data Docs published as an S3 static site
#   (or GX Cloud), so every run's result is kept and browsable; the file project here is what you
#   would commit;
# - the same suite run by the orchestrator (Airflow `GXValidateCheckpointOperator`, Module 25) and
#   against the warehouse itself (GX's SQL/Spark data sources) instead of pandas;
# - **quarantine** instead of discard: a failed batch is moved to a quarantine prefix with its verdict,
#   and an alert (Slack/SNS action) tells the producing team; data contracts agreed with that team;
# - managed drift monitoring on the serving side (SageMaker Model Monitor, Evidently, Module 6's
#   Prometheus PSI) with thresholds tuned to each feature's normal noise, and multiple-testing
#   control when hundreds of features are tested per batch.
#
# Cleanup: remove the working directory (GX project, batches, reports, scores).

# %%
shutil.rmtree(WORK, ignore_errors=True)
print("removed", WORK)
