# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 8 — Compute and storage for ML on AWS
#
# **Where this sits:** the first module of the AWS part. Module 1 already put MLflow's metadata in
# PostgreSQL and its artifacts in S3; this lab takes the AWS building blocks themselves apart and
# chooses them on purpose: which EC2 instance trains the fraud model and which one serves it, how
# the buckets holding the fraud data and the model artifacts are configured, how the data ages into
# cheaper storage classes, and where the ML metadata lives. Module 12 (cost optimization) builds on
# the price tables and the lifecycle simulator used here (`labkit.pricing`).
#
# **You will:**
# 1. **pick EC2 instance types for ML workloads**: read real instance specs from the EC2 API, join
#    them with on-demand prices, and choose the training instance (cheapest job that fits in GPU
#    memory and meets a deadline) and the inference fleet (cheapest that meets peak load and a
#    latency SLO, with two instances for availability);
# 2. **configure S3 buckets for ML data and artifacts**: versioning, default encryption (SSE-KMS and
#    SSE-S3), Block Public Access, a TLS-only bucket policy, and see object versions appear;
# 3. **write S3 lifecycle policies and use storage classes**: prefix-filtered transitions to
#    Standard-IA and Glacier, expiry of old versions, and what the rules save per month;
# 4. **use RDS PostgreSQL for ML metadata**: provision the instance through the RDS API (encrypted,
#    backed up, private, password in Secrets Manager) and build the metadata schema (datasets,
#    models, runs, with foreign keys and indexes) in a real PostgreSQL.
#
# **What runs where.** The AWS APIs here are the moto emulator: every call is a real boto3 call
# (with the endpoint unset, the same code talks to AWS), and moto answers with real instance specs,
# keeps bucket settings and object versions, and refuses `GetObject` on archived objects like S3.
# moto does *not* bill, does *not* run lifecycle rules over time, does *not* validate lifecycle rules
# the way S3 does, and starts no database behind an RDS endpoint. So the lab computes the cost
# with a dated price table, validates and simulates the lifecycle with a tested evaluator
# (`labkit.pricing`), and builds the schema in the real PostgreSQL running on this machine.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
# Empty means real AWS (credentials from your profile); the harness sets the local emulator's URL.
AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
POSTGRES_DSN = os.environ.get("POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

# %% [markdown]
# ## Setup
# Everything the lab creates (buckets, KMS key alias, VPC, DB instance, database) is named from
# `RUN_ID`. `cleanup()` removes all of it; it runs here first, so a rerun starts clean, and again
# at the end.

# %% locked=true
import io
import json
import math
import warnings

import boto3
import pandas as pd
import psycopg2
from botocore.exceptions import ClientError

from labkit import labenv, pricing
from labkit.s3 import empty_and_delete_bucket
from labkit.pricing import Cohort, daily_cohorts, lifecycle_errors, s3_monthly_cost, simulate_lifecycle
from mlops_datasets import load

labenv.configure(DATA_DIR)
NAME = labenv.resource_name("m008", RUN_ID)
DATA_BUCKET = f"{NAME}-data"
ARTIFACT_BUCKET = f"{NAME}-artifacts"
KMS_ALIAS = f"alias/{NAME}"
DB_ID = f"{NAME}-mlmeta"
DATABASE = NAME.replace("-", "_")  # PostgreSQL identifiers: no dashes

# The emulator answers at once; real AWS takes minutes to create or delete a DB instance.
WAIT = {"Delay": 1, "MaxAttempts": 60} if AWS_ENDPOINT_URL else {"Delay": 30, "MaxAttempts": 80}
aws = {"endpoint_url": AWS_ENDPOINT_URL or None, "region_name": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
ec2, s3, kms, rds, ssm, secrets = (
    boto3.client(service, **aws) for service in ("ec2", "s3", "kms", "rds", "ssm", "secretsmanager")
)


def admin_sql(statement: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE need that)."""
    conn = psycopg2.connect(POSTGRES_DSN)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def cleanup() -> None:
    """Delete what this lab creates (the KMS key is kept for a rerun; wrap-up schedules its deletion)."""
    for bucket in (DATA_BUCKET, ARTIFACT_BUCKET, f"{NAME}-archive-demo", f"{NAME}-scratch"):
        empty_and_delete_bucket(s3, bucket)
    try:
        rds.delete_db_instance(DBInstanceIdentifier=DB_ID, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
        rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier=DB_ID, WaiterConfig=WAIT)
    except rds.exceptions.DBInstanceNotFoundFault:
        pass
    try:
        rds.delete_db_subnet_group(DBSubnetGroupName=f"{NAME}-db")
    except rds.exceptions.DBSubnetGroupNotFoundFault:
        pass
    tagged = [{"Name": "tag:lab_run", "Values": [NAME]}]
    running = [
        i["InstanceId"]
        for r in ec2.describe_instances(Filters=tagged)["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    ]
    if running:
        ec2.terminate_instances(InstanceIds=running)
    for vpc in ec2.describe_vpcs(Filters=tagged)["Vpcs"]:
        vpc_filter = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        for group in ec2.describe_security_groups(Filters=vpc_filter)["SecurityGroups"]:
            if group["GroupName"] != "default":
                ec2.delete_security_group(GroupId=group["GroupId"])
        for subnet in ec2.describe_subnets(Filters=vpc_filter)["Subnets"]:
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc["VpcId"])
    admin_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


cleanup()


def kms_key_arn(alias: str) -> str:
    """The lab's customer-managed KMS key, created on first use and found by its alias afterwards."""
    try:
        return kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
    except kms.exceptions.NotFoundException:
        key = kms.create_key(Description=f"m008 data key for {NAME}", Tags=[{"TagKey": "lab_run", "TagValue": NAME}])
        kms.create_alias(AliasName=alias, TargetKeyId=key["KeyMetadata"]["KeyId"])
        return key["KeyMetadata"]["Arn"]


KMS_KEY_ARN = kms_key_arn(KMS_ALIAS)
print("run:", NAME, "| buckets:", DATA_BUCKET, ARTIFACT_BUCKET, "| KMS key:", KMS_KEY_ARN.rsplit("/", 1)[-1])
print(f"prices: {pricing.REGION} on-demand list prices as of {pricing.PRICES_AS_OF} (check {pricing.PRICING_PAGES['ec2']})")

# %% [markdown]
# ## Part 1 — EC2 instance types for ML workloads
#
# An instance type is `family` + generation + options + `.size`: `g5.xlarge` is family *g*
# (graphics/GPU), generation 5, size xlarge. For ML the families that matter:
#
# | family | what it is | typical ML use |
# |---|---|---|
# | `c6i` | compute-optimized CPUs (2 GiB RAM per vCPU) | feature pipelines, CPU inference of small models |
# | `m6i` | general purpose (4 GiB per vCPU) | notebooks, orchestration, mixed jobs |
# | `r6i` | memory-optimized (8 GiB per vCPU) | big pandas/Spark joins, in-memory feature building |
# | `g5` / `g6` | 1–8 NVIDIA A10G / L4 GPUs | inference, fine-tuning, small/medium training |
# | `p4d` (`p5`) | 8 NVIDIA A100 (H100), NVLink, EFA networking | large training, multi-node |
# | `inf2` (`trn1`) | AWS Inferentia2 (Trainium) chips, Neuron SDK | cheap high-throughput inference (training) |
#
# The API knows every type's specs: `describe_instance_types` returns vCPUs, memory, GPU count and
# GPU memory. Prices are *not* in that API (the Pricing API is separate and huge), so
# `labkit.pricing` keeps a dated table of on-demand prices, and `priced_instance_table` joins the two.
# Note the GPU memory: what EC2 reports (an A10G shows 22.35 GiB) is what your model must fit in.

# %% locked=true
INSTANCES = pd.DataFrame(pricing.priced_instance_table(ec2)).set_index("instance_type")
INSTANCES["usd_per_accel_gib_hour"] = (
    INSTANCES["usd_per_hour"] / INSTANCES["accelerator_memory_gib"].where(INSTANCES["accelerator_memory_gib"] > 0)
).round(4)
INSTANCES[
    ["vcpus", "memory_gib", "accelerator_kind", "accelerators", "accelerator_name", "accelerator_memory_gib",
     "usd_per_hour", "usd_per_month", "usd_per_accel_gib_hour"]
]

# %% [markdown]
# ### The workloads and their benchmarks
#
# Prices alone do not choose an instance: what matters is the price of the *work*. Your team
# benchmarked the fraud model's two workloads on candidate instances (the numbers below are the
# lab's scenario, not AWS figures; in practice you measure them, e.g. with a one-hour Spot run
# per candidate):
#
# - **training**: fine-tuning the transaction-sequence model needs **at least 80 GiB of GPU memory
#   on one instance** (CUDA code, so NVIDIA GPUs only); one training run processes 200 M samples
#   and must finish within **100 hours** to keep the weekly retraining cadence;
# - **inference**: the scoring service must sustain **700 requests/s** at peak with **p95 latency
#   ≤ 50 ms**, on **at least 2 instances** (one per availability zone) so one can fail.

# %% locked=true
TRAIN_BENCH = {  # samples/s per instance for the training job
    "g5.xlarge": 110, "g6.xlarge": 80, "g5.12xlarge": 400, "g6.12xlarge": 300,
    "g5.48xlarge": 760, "g6.48xlarge": 570, "p4d.24xlarge": 1500,
}
INFER_BENCH = {  # (requests/s per instance at the latency below, p95 latency in ms)
    "c6i.2xlarge": (22, 90), "c6i.4xlarge": (45, 85), "g5.xlarge": (360, 28), "g5.2xlarge": (370, 27),
    "g6.xlarge": (240, 35), "inf2.xlarge": (250, 22), "inf2.8xlarge": (260, 21),
}
TRAIN_SAMPLES, TRAIN_MIN_GPU_GIB, TRAIN_DEADLINE_H = 200_000_000, 80, 100
PEAK_RPS, P95_SLO_MS, MIN_INSTANCES = 700, 50, 2

# %% [markdown]
# ## Exercise 1: choose the training instance and the inference fleet
#
# **(a)** Write `choose_training_instance(table, bench, samples, min_gpu_gib, deadline_hours)`.
# Among the rows of `table` (a DataFrame like `INSTANCES`, indexed by instance type) that
# - have NVIDIA GPUs (`accelerator_kind == "gpu"`),
# - have `accelerator_memory_gib >= min_gpu_gib`,
# - appear in `bench` (samples/s), and
# - finish in `hours = samples / samples_per_s / 3600 <= deadline_hours` (`None`: no deadline),
#
# return the one with the **lowest job cost** `hours * usd_per_hour` as a dict
# `{"instance_type": ..., "hours": ..., "cost_usd": ...}`, or `None` when nothing qualifies.
#
# **(b)** Write `choose_inference_fleet(table, bench, peak_rps, p95_slo_ms, min_instances)`.
# For each type in `bench` whose p95 latency meets the SLO, the fleet needs
# `max(min_instances, ceil(peak_rps / rps_per_instance))` instances; return the cheapest fleet as
# `{"instance_type": ..., "instances": ..., "usd_per_month": ...}` with
# `usd_per_month = instances * usd_per_hour * pricing.HOURS_PER_MONTH`.
#
# <details><summary>Hint 1</summary>Loop over <code>bench.items()</code>, look the price up with
# <code>table.loc[instance_type]</code>, skip what fails a constraint, keep the minimum.</details>
# <details><summary>Hint 2</summary>The cheapest instance per hour is rarely the cheapest per job:
# a GPU twice as fast at 1.5x the price wins. And a fleet has whole instances
# (<code>math.ceil</code>).</details>

# %% answer="choose_instances"
def choose_training_instance(table, bench, samples, min_gpu_gib, deadline_hours=None):
    ### BEGIN SOLUTION
    best = None
    for instance_type, samples_per_s in bench.items():
        row = table.loc[instance_type]
        if row["accelerator_kind"] != "gpu" or row["accelerator_memory_gib"] < min_gpu_gib:
            continue
        hours = samples / samples_per_s / 3600
        if deadline_hours is not None and hours > deadline_hours:
            continue
        cost = hours * row["usd_per_hour"]
        if best is None or cost < best["cost_usd"]:
            best = {"instance_type": instance_type, "hours": hours, "cost_usd": float(cost)}
    return best
    ### END SOLUTION


def choose_inference_fleet(table, bench, peak_rps, p95_slo_ms, min_instances=2):
    ### BEGIN SOLUTION
    best = None
    for instance_type, (rps, p95_ms) in bench.items():
        if p95_ms > p95_slo_ms:
            continue
        instances = max(min_instances, math.ceil(peak_rps / rps))
        monthly = float(instances * table.loc[instance_type, "usd_per_hour"] * pricing.HOURS_PER_MONTH)
        if best is None or monthly < best["usd_per_month"]:
            best = {"instance_type": instance_type, "instances": instances, "usd_per_month": monthly}
    return best
    ### END SOLUTION


training_choice = choose_training_instance(INSTANCES, TRAIN_BENCH, TRAIN_SAMPLES, TRAIN_MIN_GPU_GIB, TRAIN_DEADLINE_H)
inference_choice = choose_inference_fleet(INSTANCES, INFER_BENCH, PEAK_RPS, P95_SLO_MS, MIN_INSTANCES)
print("training:", training_choice)
print("inference:", inference_choice)

# %% locked=true
# The reference the checks recompute with: every candidate, every constraint, no shortcuts.
def _reference_training(bench, samples, min_gpu_gib, deadline_hours):
    rows = []
    for t, sps in bench.items():
        row = INSTANCES.loc[t]
        hours = samples / sps / 3600
        if row["accelerator_kind"] == "gpu" and row["accelerator_memory_gib"] >= min_gpu_gib and (
            deadline_hours is None or hours <= deadline_hours
        ):
            rows.append((hours * row["usd_per_hour"], t, hours))
    return min(rows) if rows else None


def _reference_fleet(bench, peak_rps, slo_ms, min_instances):
    rows = []
    for t, (rps, p95) in bench.items():
        if p95 <= slo_ms:
            n = max(min_instances, math.ceil(peak_rps / rps))
            rows.append((n * INSTANCES.loc[t, "usd_per_hour"] * pricing.HOURS_PER_MONTH, t, n))
    return min(rows)

# %% check="choose_instances" points=1
_ref = _reference_training(TRAIN_BENCH, TRAIN_SAMPLES, TRAIN_MIN_GPU_GIB, TRAIN_DEADLINE_H)
assert isinstance(training_choice, dict), f"expected a dict, saw {training_choice!r}"
assert training_choice["instance_type"] == _ref[1], (
    f"expected {_ref[1]} (job cost ${_ref[0]:,.0f}), saw {training_choice['instance_type']}"
)
assert abs(training_choice["cost_usd"] - _ref[0]) < 0.01 * _ref[0], (
    f"expected a job cost of ${_ref[0]:,.2f}, saw {training_choice['cost_usd']}"
)
### BEGIN HIDDEN TESTS
for _deadline, _mem in ((None, 80), (40, 80), (None, 300), (100, 20)):
    _ref = _reference_training(TRAIN_BENCH, TRAIN_SAMPLES, _mem, _deadline)
    _got = choose_training_instance(INSTANCES, TRAIN_BENCH, TRAIN_SAMPLES, _mem, _deadline)
    assert _got is not None and _got["instance_type"] == _ref[1], (
        f"deadline={_deadline} h, GPU memory >= {_mem} GiB: expected {_ref[1]}, saw {_got}"
    )
    assert abs(_got["hours"] - _ref[2]) < 0.01 * _ref[2], f"hours: expected {_ref[2]:.1f}, saw {_got['hours']}"
_none = choose_training_instance(INSTANCES, TRAIN_BENCH, TRAIN_SAMPLES, 80, 5)
assert _none is None, f"no instance finishes within 5 hours: expected None, saw {_none}"
### END HIDDEN TESTS

# %% check="choose_instances" points=1
_ref = _reference_fleet(INFER_BENCH, PEAK_RPS, P95_SLO_MS, MIN_INSTANCES)
assert isinstance(inference_choice, dict), f"expected a dict, saw {inference_choice!r}"
assert (inference_choice["instance_type"], inference_choice["instances"]) == (_ref[1], _ref[2]), (
    f"expected {_ref[2]} x {_ref[1]}, saw {inference_choice['instances']} x {inference_choice['instance_type']}"
)
assert abs(inference_choice["usd_per_month"] - _ref[0]) < 0.01 * _ref[0], (
    f"expected ${_ref[0]:,.2f}/month, saw {inference_choice['usd_per_month']}"
)
### BEGIN HIDDEN TESTS
for _peak, _slo, _min in ((40, 50, 2), (40, 100, 2), (2000, 50, 2), (300, 30, 1), (100, 100, 3)):
    _ref = _reference_fleet(INFER_BENCH, _peak, _slo, _min)
    _got = choose_inference_fleet(INSTANCES, INFER_BENCH, _peak, _slo, _min)
    assert (_got["instance_type"], _got["instances"]) == (_ref[1], _ref[2]), (
        f"peak {_peak} rps, p95 <= {_slo} ms, >= {_min} instances: expected {_ref[2]} x {_ref[1]}, saw {_got}"
    )
    assert isinstance(_got["instances"], int), f"instances must be a whole number, saw {_got['instances']!r}"
### END HIDDEN TESTS

# %% [markdown]
# ### Launching it
# On AWS you would now launch the inference instances from a GPU-ready AMI (the Deep Learning AMI,
# found through its public SSM parameter), with an encrypted gp3 root volume and IMDSv2 enforced
# (no credential theft through the metadata endpoint). moto registers the launch and reports the
# instance; nothing boots (against real AWS this cell only does a `DryRun`: a GPU costs money).
# For training, the usual move is **Spot** capacity (60–90% cheaper, can be reclaimed with
# 2 minutes' notice), with checkpoints written to S3 so a reclaimed job resumes.

# %% locked=true
_choice = (globals().get("inference_choice") or {}).get("instance_type", "g6.xlarge")
AMI = ssm.get_parameter(Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"]["Value"]
LAUNCH = dict(
    ImageId=AMI,  # on AWS: the Deep Learning AMI's SSM parameter instead
    InstanceType=_choice,
    MinCount=1,
    MaxCount=1,
    MetadataOptions={"HttpTokens": "required"},
    BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 100, "VolumeType": "gp3", "Encrypted": True}}
    ],
    TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "lab_run", "Value": NAME}, {"Key": "role", "Value": "inference"}]}
    ],
)
if AWS_ENDPOINT_URL:
    launched = ec2.run_instances(**LAUNCH)["Instances"][0]
    print(launched["InstanceId"], launched["InstanceType"], launched["State"]["Name"],
          "| IMDS tokens:", launched["MetadataOptions"]["HttpTokens"])
else:  # real AWS: a GPU instance costs money, so only ask whether the launch would be allowed
    try:
        ec2.run_instances(**LAUNCH, DryRun=True)
    except ClientError as err:
        print("dry run:", err.response["Error"]["Code"])

# %% [markdown]
# ## Part 2 — S3 buckets for ML data and artifacts
#
# ML teams usually keep (at least) two buckets, because the two kinds of object live different lives:
# - **data** (`raw/`, `features/`): large, written once, read by training; old raw data is rarely
#   read but must be kept (audits, re-training on history);
# - **artifacts** (`models/`, `checkpoints/`): model files that serving loads, and training
#   checkpoints that are worthless a few weeks later.
#
# Both get **versioning** (an overwrite or delete keeps the old version: the dataset a model was
# trained on stays reproducible), **default encryption** and **Block Public Access**. Data buckets
# holding personal data (like card transactions) are encrypted with a customer-managed **KMS key**
# (SSE-KMS: access to the key is audited and can be revoked; a *bucket key* cuts the KMS request
# bill), artifacts with S3-managed keys (SSE-S3, AES256).

# %% locked=true
tx = load("fraud")["transactions"]
RAW_KEY = "raw/transactions/part-0000.parquet"
MODEL_KEY = "models/fraud/1/metrics.json"


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


RAW_V1 = parquet_bytes(tx.head(5000))
RAW_V2 = parquet_bytes(tx.head(5000).drop_duplicates(subset=["TransactionID"]).assign(schema_version=2))
print(f"raw parquet v1: {len(RAW_V1):,} bytes, v2: {len(RAW_V2):,} bytes")

# %% [markdown]
# ## Exercise 2: the data and artifact buckets
#
# Create `DATA_BUCKET` and `ARTIFACT_BUCKET`, each with:
# - versioning `Enabled` (`put_bucket_versioning`);
# - Block Public Access with all four settings `True` (`put_public_access_block`);
# - tags `project=fraud-detection` and `lab_run=NAME` (`put_bucket_tagging`);
# - default encryption (`put_bucket_encryption`): the **data** bucket `aws:kms` with
#   `KMSMasterKeyID=KMS_KEY_ARN` and `BucketKeyEnabled=True`; the **artifact** bucket `AES256`.
#
# Then upload `RAW_V1` to `DATA_BUCKET/RAW_KEY`, and **overwrite** it with `RAW_V2` (a corrected
# file, same key); upload `json.dumps({"val_auc": 0.87})` to `ARTIFACT_BUCKET/MODEL_KEY`. Do not pass
# any encryption arguments to `put_object`: the bucket defaults must do it.
#
# <details><summary>Hint 1</summary>Write one helper <code>secure_bucket(bucket, encryption_rule)</code>
# and call it twice; <code>PublicAccessBlockConfiguration</code> takes <code>BlockPublicAcls</code>,
# <code>IgnorePublicAcls</code>, <code>BlockPublicPolicy</code>, <code>RestrictPublicBuckets</code>.</details>
# <details><summary>Hint 2</summary>Encryption:
# <code>{"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY_ARN},
# "BucketKeyEnabled": True}]}</code>. In us-east-1, <code>create_bucket</code> takes no location
# constraint; elsewhere add <code>CreateBucketConfiguration={"LocationConstraint": region}</code>.</details>

# %% answer="buckets"
### BEGIN SOLUTION
def secure_bucket(bucket: str, encryption: dict) -> None:
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    tags = [{"Key": "project", "Value": "fraud-detection"}, {"Key": "lab_run", "Value": NAME}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [encryption]})


secure_bucket(DATA_BUCKET, {
    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY_ARN},
    "BucketKeyEnabled": True,
})
secure_bucket(ARTIFACT_BUCKET, {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}})
s3.put_object(Bucket=DATA_BUCKET, Key=RAW_KEY, Body=RAW_V1)
s3.put_object(Bucket=DATA_BUCKET, Key=RAW_KEY, Body=RAW_V2)
s3.put_object(Bucket=ARTIFACT_BUCKET, Key=MODEL_KEY, Body=json.dumps({"val_auc": 0.87}).encode())
### END SOLUTION

# %% check="buckets" points=2
for _b in (DATA_BUCKET, ARTIFACT_BUCKET):
    try:
        _status = s3.get_bucket_versioning(Bucket=_b).get("Status")
    except ClientError as _err:
        raise AssertionError(f"bucket {_b}: {_err.response['Error']['Code']}") from None
    assert _status == "Enabled", f"{_b}: expected versioning Enabled, saw {_status!r}"
_versions = s3.list_object_versions(Bucket=DATA_BUCKET, Prefix=RAW_KEY).get("Versions", [])
assert len(_versions) == 2, f"{RAW_KEY}: expected 2 versions (upload + overwrite), saw {len(_versions)}"
_head = s3.head_object(Bucket=DATA_BUCKET, Key=RAW_KEY)
assert _head.get("ServerSideEncryption") == "aws:kms", (
    f"{RAW_KEY}: expected SSE aws:kms from the bucket default, saw {_head.get('ServerSideEncryption')!r}"
)
### BEGIN HIDDEN TESTS
assert _head.get("SSEKMSKeyId") == KMS_KEY_ARN, f"expected the lab's KMS key {KMS_KEY_ARN}, saw {_head.get('SSEKMSKeyId')!r}"
assert _head["ContentLength"] == len(RAW_V2), "the latest version should be RAW_V2"
_old = [v for v in _versions if not v["IsLatest"]][0]
_old_body = s3.get_object(Bucket=DATA_BUCKET, Key=RAW_KEY, VersionId=_old["VersionId"])["Body"].read()
assert _old_body == RAW_V1, "the noncurrent version should still hold RAW_V1"
_rule = s3.get_bucket_encryption(Bucket=DATA_BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
assert _rule.get("BucketKeyEnabled") is True, f"data bucket: expected BucketKeyEnabled, saw {_rule}"
_art = s3.get_bucket_encryption(Bucket=ARTIFACT_BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
_alg = _art["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
assert _alg == "AES256", f"artifact bucket: expected SSE-S3 (AES256), saw {_alg!r}"
assert s3.head_object(Bucket=ARTIFACT_BUCKET, Key=MODEL_KEY).get("ServerSideEncryption") == "AES256"
for _b in (DATA_BUCKET, ARTIFACT_BUCKET):
    _pab = s3.get_public_access_block(Bucket=_b)["PublicAccessBlockConfiguration"]
    _all4 = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    assert all(_pab.get(k) is True for k in _all4), f"{_b}: expected all four Block Public Access settings True, saw {_pab}"
    _tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=_b)["TagSet"]}
    assert _tags.get("project") == "fraud-detection" and _tags.get("lab_run") == NAME, f"{_b}: tags {_tags}"
### END HIDDEN TESTS

# %% [markdown]
# ### A TLS-only bucket policy
# Production buckets also carry a policy that refuses any request not made over TLS
# (`aws:SecureTransport` is `false`). The emulator evaluates this condition, and it listens on plain
# HTTP, so on a scratch bucket the policy locks *us* out, which is exactly what it does to a
# misconfigured client on AWS. (That is also why the lab's own buckets go without it here; on AWS,
# where every SDK call uses HTTPS, put it on both.)

# %% locked=true
SCRATCH = f"{NAME}-scratch"
s3.create_bucket(Bucket=SCRATCH)
s3.put_object(Bucket=SCRATCH, Key="before.txt", Body=b"ok")
TLS_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{SCRATCH}", f"arn:aws:s3:::{SCRATCH}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }],
}
s3.put_bucket_policy(Bucket=SCRATCH, Policy=json.dumps(TLS_ONLY))
try:
    s3.put_object(Bucket=SCRATCH, Key="after.txt", Body=b"over plain HTTP")
    print("accepted: this request used TLS, or the endpoint does not evaluate the policy")
except ClientError as err:
    print("PutObject over plain HTTP:", err.response["Error"]["Code"], "(refused by the policy)")
s3.delete_bucket_policy(Bucket=SCRATCH)
empty_and_delete_bucket(s3, SCRATCH)

# %% [markdown]
# ### Storage classes
#
# Every object has a storage class. Colder classes cost less to store and more to read, bill a
# minimum duration, and the archive classes cannot be read at all until restored:

# %% locked=true
pd.DataFrame([vars(c) for c in pricing.S3_STORAGE.values()]).set_index("name")

# %% [markdown]
# A quick experiment on the emulator: an object written straight to `GLACIER` (Glacier Flexible
# Retrieval) refuses `GetObject` until a restore is requested. On AWS a *Standard* restore takes
# 3–5 hours (*Bulk*: 5–12, free), so a training job that reads archived data has to plan for it;
# moto completes the restore at once.

# %% locked=true
DEMO_BUCKET = f"{NAME}-archive-demo"
s3.create_bucket(Bucket=DEMO_BUCKET)
s3.put_object(Bucket=DEMO_BUCKET, Key="2024/model.json", Body=b"{}", StorageClass="GLACIER")
try:
    s3.get_object(Bucket=DEMO_BUCKET, Key="2024/model.json")
except ClientError as err:
    print("GetObject on GLACIER:", err.response["Error"]["Code"], "-", err.response["Error"]["Message"])
s3.restore_object(
    Bucket=DEMO_BUCKET, Key="2024/model.json", RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Bulk"}}
)
print("after restore:", s3.head_object(Bucket=DEMO_BUCKET, Key="2024/model.json").get("Restore"))
print("readable again:", s3.get_object(Bucket=DEMO_BUCKET, Key="2024/model.json")["Body"].read())
empty_and_delete_bucket(s3, DEMO_BUCKET)

# %% [markdown]
# ### Lifecycle rules, and what moto does not check
#
# A lifecycle configuration moves objects to colder classes (`Transitions`) and deletes them
# (`Expiration`, `NoncurrentVersionExpiration` for old versions), per rule, for the objects its
# `Filter` selects. S3 refuses some configurations outright; the emulator accepts them. For
# example, objects must be at least 30 days old before they can go to Standard-IA or One Zone-IA:

# %% locked=true
_too_early = {"Rules": [{"ID": "too-early", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
                         "Transitions": [{"Days": 7, "StorageClass": "STANDARD_IA"}]}]}
try:
    s3.create_bucket(Bucket=f"{NAME}-scratch")
    s3.put_bucket_lifecycle_configuration(Bucket=f"{NAME}-scratch", LifecycleConfiguration=_too_early)
    print("the emulator accepted it")
except ClientError as err:
    print("the endpoint refused it:", err.response["Error"]["Message"])
finally:
    empty_and_delete_bucket(s3, f"{NAME}-scratch")
print("real S3 would say:", lifecycle_errors(_too_early))

# %% [markdown]
# So the checks below validate your rules with `labkit.pricing.lifecycle_errors` (S3's put-time
# rules: IA at ≥ 30 days, 30 days in IA before the next transition, transitions only down the
# waterfall STANDARD → STANDARD_IA → INTELLIGENT_TIERING → ONEZONE_IA → GLACIER_IR → GLACIER →
# DEEP_ARCHIVE, expiration after the last transition), and ask `simulate_lifecycle` where objects
# of a given prefix and age end up.
#
# ## Exercise 3: lifecycle rules for the two buckets
#
# Put a lifecycle configuration on **`DATA_BUCKET`** with two rules:
# - `raw-tiering` (Enabled), only for keys under **`raw/`**: transition to `STANDARD_IA` at
#   **30 days**, to `GLACIER` at **120 days**; delete noncurrent versions **30 days** after they
#   become noncurrent;
# - `abort-multipart` (Enabled), for the whole bucket (`"Filter": {}`): abort incomplete multipart
#   uploads after **7 days** (`AbortIncompleteMultipartUpload`, `DaysAfterInitiation`).
#
# `features/` must stay in `STANDARD`: training reads it every day.
#
# And on **`ARTIFACT_BUCKET`** one rule, `checkpoints-expire` (Enabled), for keys under
# **`checkpoints/`**: expire after **14 days**, and delete noncurrent versions after **7 days**.
# `models/` is never touched by lifecycle. (On a versioned bucket, `Expiration` only hides the
# current version behind a delete marker; the bytes stay, and are billed, until
# `NoncurrentVersionExpiration` removes the old version. That is why both are needed.)
#
# <details><summary>Hint 1</summary><code>s3.put_bucket_lifecycle_configuration(Bucket=...,
# LifecycleConfiguration={"Rules": [{"ID": "raw-tiering", "Status": "Enabled", "Filter": {"Prefix": "raw/"},
# "Transitions": [...], "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}, ...]})</code></details>
# <details><summary>Hint 2</summary>Run <code>lifecycle_errors(config)</code> on your configuration
# before you put it: an empty list means S3 would accept it.</details>

# %% answer="lifecycle"
### BEGIN SOLUTION
DATA_LIFECYCLE = {
    "Rules": [
        {
            "ID": "raw-tiering",
            "Status": "Enabled",
            "Filter": {"Prefix": "raw/"},
            "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 120, "StorageClass": "GLACIER"}],
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        },
        {
            "ID": "abort-multipart",
            "Status": "Enabled",
            "Filter": {},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        },
    ]
}
ARTIFACT_LIFECYCLE = {
    "Rules": [
        {
            "ID": "checkpoints-expire",
            "Status": "Enabled",
            "Filter": {"Prefix": "checkpoints/"},
            "Expiration": {"Days": 14},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
        }
    ]
}
assert lifecycle_errors(DATA_LIFECYCLE) == [] and lifecycle_errors(ARTIFACT_LIFECYCLE) == []
s3.put_bucket_lifecycle_configuration(Bucket=DATA_BUCKET, LifecycleConfiguration=DATA_LIFECYCLE)
s3.put_bucket_lifecycle_configuration(Bucket=ARTIFACT_BUCKET, LifecycleConfiguration=ARTIFACT_LIFECYCLE)
### END SOLUTION

# %% locked=true
def bucket_lifecycle(bucket: str) -> dict | None:
    """The bucket's lifecycle as S3 reports it, or None when it has none (or no bucket)."""
    try:
        return s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    except ClientError:
        return None


def where(config, key, age_days, noncurrent_days=None):
    """The storage class an object of this key and age sits in under `config` (None: deleted)."""
    placed = simulate_lifecycle(config, [Cohort(key, 1.0, age_days, noncurrent_days)], versioned=True)
    return next(iter(placed), None)

# %% check="lifecycle" points=2
_data = bucket_lifecycle(DATA_BUCKET)
assert _data is not None, f"{DATA_BUCKET} has no lifecycle configuration"
_errors = lifecycle_errors(_data)
assert not _errors, f"real S3 would reject the data bucket's rules: {_errors}"
for _key, _age, _expected in (("raw/a.parquet", 10, "STANDARD"), ("raw/a.parquet", 45, "STANDARD_IA"),
                              ("raw/a.parquet", 200, "GLACIER")):
    _got = where(_data, _key, _age)
    assert _got == _expected, f"{_key} at {_age} days: expected {_expected}, saw {_got}"
### BEGIN HIDDEN TESTS
_got = where(_data, "raw/a.parquet", 29)
assert _got == "STANDARD", f"raw/ at 29 days: expected STANDARD, saw {_got}"
_got = where(_data, "raw/a.parquet", 119)
assert _got == "STANDARD_IA", f"raw/ at 119 days: expected STANDARD_IA (GLACIER from day 120), saw {_got}"
for _age in (45, 400):
    _got = where(_data, "features/f.parquet", _age)
    assert _got == "STANDARD", f"features/ at {_age} days must stay STANDARD (filter on raw/), saw {_got}"
assert where(_data, "raw/a.parquet", 60, noncurrent_days=31) is None, "noncurrent raw/ versions must go after 30 days"
assert where(_data, "raw/a.parquet", 60, noncurrent_days=29) is not None, "noncurrent raw/ versions kept < 30 days"
_abort = [r for r in _data["Rules"] if r.get("AbortIncompleteMultipartUpload") and r.get("Status") == "Enabled"]
assert _abort and _abort[0]["AbortIncompleteMultipartUpload"].get("DaysAfterInitiation") == 7, (
    f"expected an enabled rule aborting multipart uploads after 7 days, saw {_data['Rules']}"
)
assert not (_abort[0].get("Filter") or {}).get("Prefix"), "the multipart rule should cover the whole bucket"
_art = bucket_lifecycle(ARTIFACT_BUCKET)
assert _art is not None and not lifecycle_errors(_art), f"artifact bucket lifecycle: {_art and lifecycle_errors(_art)}"
assert where(_art, "checkpoints/step-100.pt", 13) == "STANDARD", "checkpoints younger than 14 days stay"
assert where(_art, "checkpoints/step-100.pt", 22) is None, (
    "a checkpoint should be gone 14 + 7 days after it was written (expired, then its noncurrent version deleted)"
)
assert where(_art, "checkpoints/step-100.pt", 20, noncurrent_days=8) is None, "noncurrent checkpoints go after 7 days"
assert where(_art, "models/fraud/1/model.pkl", 1000) == "STANDARD", "models/ must never be touched by lifecycle"
assert where(_art, "models/fraud/1/model.pkl", 1000, noncurrent_days=500) == "STANDARD", "models/ versions are kept"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: what the lifecycle saves per month
#
# The data bucket in steady state: `raw/` receives **40 GB a day** and keeps **730 days** of
# history; `features/` holds **200 GB**, rewritten daily. Once a month, retraining reads every
# `raw/` object **younger than 90 days** once (retrievals are billed per GB by class: reading
# Standard-IA costs $0.01/GB, Standard is free).
#
# Write `data_bucket_monthly_cost(lifecycle)` that returns the monthly USD (storage + retrieval)
# under the lifecycle configuration `lifecycle` (`None` = no lifecycle):
# 1. the objects: `daily_cohorts("raw/", RAW_GB_PER_DAY, RAW_DAYS)` plus
#    `Cohort("features/train.parquet", FEATURES_GB, 1)`;
# 2. GB per class today: `simulate_lifecycle(lifecycle, objects)`;
# 3. GB per class read by retraining: `simulate_lifecycle` on the `raw/` cohorts younger than
#    `RETRAIN_DAYS` days;
# 4. `s3_monthly_cost(gb_by_class, retrievals)`.
#
# Then set `COST_WITHOUT` (no lifecycle), `COST_WITH` (the lifecycle **your data bucket reports**,
# `bucket_lifecycle(DATA_BUCKET)`) and `SAVINGS = COST_WITHOUT - COST_WITH`.
#
# <details><summary>Hint</summary><code>[c for c in raw if c.age_days < RETRAIN_DAYS]</code>; the
# whole function is about eight lines.</details>

# %% locked=true
RAW_GB_PER_DAY, RAW_DAYS, FEATURES_GB, RETRAIN_DAYS = 40.0, 730, 200.0, 90

# %% answer="lifecycle_cost"
def data_bucket_monthly_cost(lifecycle):
    ### BEGIN SOLUTION
    raw = daily_cohorts("raw/", RAW_GB_PER_DAY, RAW_DAYS)
    objects = [*raw, Cohort("features/train.parquet", FEATURES_GB, 1)]
    stored = simulate_lifecycle(lifecycle, objects)
    read = simulate_lifecycle(lifecycle, [c for c in raw if c.age_days < RETRAIN_DAYS])
    return s3_monthly_cost(stored, read)
    ### END SOLUTION


### BEGIN SOLUTION
COST_WITHOUT = data_bucket_monthly_cost(None)
COST_WITH = data_bucket_monthly_cost(bucket_lifecycle(DATA_BUCKET))
SAVINGS = COST_WITHOUT - COST_WITH
### END SOLUTION
print(f"without lifecycle ${COST_WITHOUT:,.2f}/month, with ${COST_WITH:,.2f}/month: saves ${SAVINGS:,.2f}/month")

# %% locked=true
def _reference_cost(lifecycle):
    raw = [Cohort(f"raw/{age}", RAW_GB_PER_DAY, age) for age in range(RAW_DAYS)]
    stored = simulate_lifecycle(lifecycle, [*raw, Cohort("features/x", FEATURES_GB, 1)])
    read = simulate_lifecycle(lifecycle, [c for c in raw if c.age_days < RETRAIN_DAYS])
    return sum(gb * pricing.S3_STORAGE[c].usd_per_gb_month for c, gb in stored.items()) + sum(
        gb * pricing.S3_STORAGE[c].retrieval_usd_per_gb for c, gb in read.items()
    )

# %% check="lifecycle_cost" points=1
_expected = _reference_cost(None)
assert abs(COST_WITHOUT - _expected) <= 0.005 * _expected, f"COST_WITHOUT: expected ${_expected:,.2f}, saw {COST_WITHOUT}"
_expected = _reference_cost(bucket_lifecycle(DATA_BUCKET))
assert abs(COST_WITH - _expected) <= 0.005 * _expected, (
    f"COST_WITH (from the bucket's own lifecycle): expected ${_expected:,.2f}, saw {COST_WITH}"
)
assert abs(SAVINGS - (COST_WITHOUT - COST_WITH)) < 0.01, f"SAVINGS should be COST_WITHOUT - COST_WITH, saw {SAVINGS}"
### BEGIN HIDDEN TESTS
_glacier_ir = {"Rules": [{"ID": "gir", "Status": "Enabled", "Filter": {"Prefix": "raw/"},
                          "Transitions": [{"Days": 30, "StorageClass": "GLACIER_IR"}]}]}
_whole_bucket = {"Rules": [{"ID": "all", "Status": "Enabled", "Filter": {},
                            "Transitions": [{"Days": 0, "StorageClass": "DEEP_ARCHIVE"}]}]}
for _label, _cfg in (("raw/ to GLACIER_IR at 30 days", _glacier_ir), ("everything to DEEP_ARCHIVE", _whole_bucket)):
    _expected, _got = _reference_cost(_cfg), data_bucket_monthly_cost(_cfg)
    assert abs(_got - _expected) <= 0.005 * _expected, (
        f"{_label}: expected ${_expected:,.2f}/month (storage + retrieval), saw {_got}"
    )
### END HIDDEN TESTS

# %% [markdown]
# Note what the simulator leaves out (it says so in `labkit.pricing`): the 128 KB minimum billable
# size of the IA classes (millions of tiny objects can cost *more* in IA), early-deletion charges for
# objects removed before their minimum duration, and the one-off transition requests
# (`pricing.transition_cost`). For a bucket of small files, S3 Intelligent-Tiering or compacting
# them into larger files often beats hand-written rules.

# %% [markdown]
# ## Part 3 — RDS PostgreSQL for ML metadata
#
# Experiment trackers, feature stores, model registries and pipeline orchestrators all keep their
# metadata in a relational database, and on AWS that is usually RDS (or Aurora) PostgreSQL. An ML
# metadata database is small but precious: it must be **private** (in private subnets, reachable only
# from the VPC), **encrypted**, **backed up** (point-in-time recovery), and its master password
# should live in **Secrets Manager**, rotated by RDS, never in code.
#
# The network is set up for you: a VPC with two private subnets in two availability zones (RDS
# requires two, for Multi-AZ failover), a DB subnet group, and a security group that admits
# PostgreSQL (5432) only from inside the VPC. Module 9 covers the networking itself.

# %% locked=true
_tags = [{"Key": "lab_run", "Value": NAME}]
VPC_ID = ec2.create_vpc(
    CidrBlock="10.8.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [*_tags, {"Key": "Name", "Value": NAME}]}]
)["Vpc"]["VpcId"]
_subnets = [
    ec2.create_subnet(VpcId=VPC_ID, CidrBlock=f"10.8.{i}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"]
    for i, az in ((1, "us-east-1a"), (2, "us-east-1b"))
]
DB_SUBNET_GROUP = f"{NAME}-db"
rds.create_db_subnet_group(
    DBSubnetGroupName=DB_SUBNET_GROUP, DBSubnetGroupDescription="private subnets for the ML metadata DB", SubnetIds=_subnets
)
DB_SECURITY_GROUP = ec2.create_security_group(GroupName=f"{NAME}-db", Description="PostgreSQL from the VPC", VpcId=VPC_ID)[
    "GroupId"
]
ec2.authorize_security_group_ingress(
    GroupId=DB_SECURITY_GROUP,
    IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.8.0.0/16"}]}],
)
print("VPC", VPC_ID, "| subnet group", DB_SUBNET_GROUP, "| security group", DB_SECURITY_GROUP)

# %% [markdown]
# ## Exercise 5: provision the metadata database (RDS API)
#
# Call `rds.create_db_instance` for `DB_ID` with:
# - engine `postgres`, engine version `"16.4"`, class `db.t4g.medium`, 20 GiB of `gp3` storage;
# - **encryption at rest** with the lab's KMS key (`StorageEncrypted=True`, `KmsKeyId=KMS_KEY_ARN`);
# - **automated backups kept 7 days** (`BackupRetentionPeriod=7`);
# - **private**: `PubliclyAccessible=False`, `DBSubnetGroupName=DB_SUBNET_GROUP`,
#   `VpcSecurityGroupIds=[DB_SECURITY_GROUP]`;
# - master user `mlmeta` with **`ManageMasterUserPassword=True`** (RDS creates and rotates the
#   password in Secrets Manager; no `MasterUserPassword` in your code);
# - `DeletionProtection=False` (so cleanup can delete it; in production turn it on) and the tag
#   `lab_run=NAME`.
#
# Then wait until it is available: `rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier=DB_ID,
# WaiterConfig=WAIT)`.
#
# <details><summary>Hint</summary>The defaults are the trap: RDS's API defaults to an unencrypted
# instance with 1 day of backups, and <code>PubliclyAccessible</code> depends on the subnet group.
# Say every one of them explicitly.</details>

# %% answer="rds"
### BEGIN SOLUTION
rds.create_db_instance(
    DBInstanceIdentifier=DB_ID,
    Engine="postgres",
    EngineVersion="16.4",
    DBInstanceClass="db.t4g.medium",
    AllocatedStorage=20,
    StorageType="gp3",
    StorageEncrypted=True,
    KmsKeyId=KMS_KEY_ARN,
    BackupRetentionPeriod=7,
    PubliclyAccessible=False,
    DBSubnetGroupName=DB_SUBNET_GROUP,
    VpcSecurityGroupIds=[DB_SECURITY_GROUP],
    MasterUsername="mlmeta",
    ManageMasterUserPassword=True,
    DeletionProtection=False,
    Tags=[{"Key": "lab_run", "Value": NAME}],
)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier=DB_ID, WaiterConfig=WAIT)
### END SOLUTION

# %% check="rds" points=1
try:
    _db = rds.describe_db_instances(DBInstanceIdentifier=DB_ID)["DBInstances"][0]
except rds.exceptions.DBInstanceNotFoundFault:
    raise AssertionError(f"no DB instance {DB_ID!r}") from None
assert _db["Engine"] == "postgres", f"expected engine postgres, saw {_db['Engine']!r}"
assert _db.get("StorageEncrypted") is True, f"expected StorageEncrypted True, saw {_db.get('StorageEncrypted')!r}"
assert _db.get("PubliclyAccessible") is False, f"expected PubliclyAccessible False, saw {_db.get('PubliclyAccessible')!r}"
### BEGIN HIDDEN TESTS
assert _db.get("KmsKeyId") == KMS_KEY_ARN, f"expected the lab's KMS key {KMS_KEY_ARN}, saw {_db.get('KmsKeyId')!r}"
assert _db.get("BackupRetentionPeriod", 0) >= 7, f"expected >= 7 days of backups, saw {_db.get('BackupRetentionPeriod')}"
assert int(_db["EngineVersion"].split(".")[0]) >= 15, f"expected a current major version, saw {_db['EngineVersion']}"
assert (_db.get("DBSubnetGroup") or {}).get("DBSubnetGroupName") == DB_SUBNET_GROUP, (
    f"expected subnet group {DB_SUBNET_GROUP}, saw {(_db.get('DBSubnetGroup') or {}).get('DBSubnetGroupName')!r}"
)
_sgs = [g["VpcSecurityGroupId"] for g in _db.get("VpcSecurityGroups", [])]
assert _sgs == [DB_SECURITY_GROUP], f"expected only security group {DB_SECURITY_GROUP}, saw {_sgs}"
_secret = (_db.get("MasterUserSecret") or {}).get("SecretArn")
assert _secret, "the master password should be managed by RDS in Secrets Manager (ManageMasterUserPassword=True)"
assert secrets.describe_secret(SecretId=_secret)["ARN"] == _secret, "the master user secret does not exist"
assert _db["DBInstanceStatus"] == "available", f"expected status available, saw {_db['DBInstanceStatus']}"
### END HIDDEN TESTS

# %% [markdown]
# On AWS an application now reads the secret, connects to `Endpoint.Address:5432` over TLS from
# inside the VPC, and stores metadata there. The emulator keeps the instance's configuration and
# creates the secret (with placeholder values), but no PostgreSQL listens at its endpoint:

# %% locked=true
_db = (rds.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": [DB_ID]}])["DBInstances"] or [{}])[0]
print("endpoint:", _db.get("Endpoint"), "| secret:", (_db.get("MasterUserSecret") or {}).get("SecretArn", "-"))

# %% [markdown]
# So the schema goes into the real PostgreSQL running on this machine, in a database of its own,
# `DATABASE`, exactly as it would go into RDS (same engine, same SQL).
#
# ## Exercise 6: the ML metadata schema
#
# Write `SCHEMA_SQL` (run for you below) creating three tables:
# - `datasets`: `id bigserial` primary key; `name text`, `version text`, `s3_uri text` (all NOT NULL),
#   `s3_version_id text`, `size_bytes bigint`, `created_at timestamptz NOT NULL DEFAULT now()`;
#   **unique** on `(name, version)`;
# - `models`: `id bigserial` primary key; `name text NOT NULL`, `version integer NOT NULL`,
#   `artifact_uri text NOT NULL`, `created_at timestamptz NOT NULL DEFAULT now()`; **unique** on
#   `(name, version)`;
# - `runs`: `id bigserial` primary key; `dataset_id bigint NOT NULL` **referencing `datasets`**;
#   `model_id bigint` **referencing `models`** (NULL while training); `instance_type text NOT NULL`;
#   `status text NOT NULL` restricted to `'running'`, `'finished'`, `'failed'`; `metrics jsonb NOT NULL
#   DEFAULT '{}'`; `cost_usd numeric(12,2)`; `started_at timestamptz NOT NULL DEFAULT now()`;
#   `finished_at timestamptz`;
# - an **index** on each foreign-key column of `runs` (PostgreSQL does not create them for you, and
#   "all runs on this dataset" is the query lineage asks most).
#
# Deleting a dataset that runs used must **fail** (lineage is evidence), so no `ON DELETE CASCADE`.
#
# Then write `LINEAGE_SQL`, a query with parameters `%(model)s` and `%(version)s` that returns, for
# that model version, the **most recent `finished`** run's
# `dataset name, dataset version, s3_uri, s3_version_id, instance_type, cost_usd` (one row).
#
# <details><summary>Hint 1</summary><code>dataset_id bigint NOT NULL REFERENCES datasets (id)</code>,
# <code>status text NOT NULL CHECK (status IN ('running', 'finished', 'failed'))</code>,
# <code>CREATE INDEX runs_dataset_id_idx ON runs (dataset_id);</code></details>
# <details><summary>Hint 2</summary><code>FROM runs r JOIN models m ON m.id = r.model_id JOIN datasets d
# ON d.id = r.dataset_id WHERE m.name = %(model)s AND m.version = %(version)s AND r.status = 'finished'
# ORDER BY r.started_at DESC LIMIT 1</code></details>

# %% locked=true
admin_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
admin_sql(f'CREATE DATABASE "{DATABASE}"')
META_DSN = POSTGRES_DSN.rsplit("/", 1)[0] + "/" + DATABASE
print("metadata database:", DATABASE)

# %% answer="schema"
### BEGIN SOLUTION
SCHEMA_SQL = """
CREATE TABLE datasets (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    version       text NOT NULL,
    s3_uri        text NOT NULL,
    s3_version_id text,
    size_bytes    bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version)
);
CREATE TABLE models (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    version      integer NOT NULL,
    artifact_uri text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version)
);
CREATE TABLE runs (
    id            bigserial PRIMARY KEY,
    dataset_id    bigint NOT NULL REFERENCES datasets (id),
    model_id      bigint REFERENCES models (id),
    instance_type text NOT NULL,
    status        text NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
    metrics       jsonb NOT NULL DEFAULT '{}',
    cost_usd      numeric(12, 2),
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX runs_dataset_id_idx ON runs (dataset_id);
CREATE INDEX runs_model_id_idx ON runs (model_id);
"""
LINEAGE_SQL = """
SELECT d.name, d.version, d.s3_uri, d.s3_version_id, r.instance_type, r.cost_usd
FROM runs r
JOIN models m ON m.id = r.model_id
JOIN datasets d ON d.id = r.dataset_id
WHERE m.name = %(model)s AND m.version = %(version)s AND r.status = 'finished'
ORDER BY r.started_at DESC
LIMIT 1
"""
### END SOLUTION

# %% locked=true
meta = psycopg2.connect(META_DSN)
meta.autocommit = True
try:
    with meta.cursor() as _cur:
        _cur.execute(SCHEMA_SQL)
    print("schema created")
except NameError:
    print("SCHEMA_SQL is not defined yet")
except psycopg2.Error as err:
    print("the schema failed:", str(err).strip())
meta.autocommit = False

# %% locked=true
def _tables(conn) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        return {r[0] for r in cur.fetchall()}


def _foreign_keys(conn) -> set[tuple[str, str, str]]:
    """(table, column, referenced table) for every foreign key in the public schema."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT kcu.table_name, kcu.column_name, ccu.table_name
            FROM information_schema.table_constraints tc
            JOIN information_schema.key_column_usage kcu
              ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
            JOIN information_schema.constraint_column_usage ccu
              ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema
            WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = 'public'
            """
        )
        return set(cur.fetchall())


def _leading_index_columns(conn, table: str) -> set[str]:
    """Columns that lead some index of `table` (an index helps a lookup on its first column)."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT a.attname FROM pg_index i
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
            WHERE i.indrelid = %s::regclass
            """,
            (table,),
        )
        return {r[0] for r in cur.fetchall()}


def _expect_error(conn, sql: str, params: tuple, error: type, what: str) -> None:
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT probe")
        try:
            cur.execute(sql, params)
        except error:
            cur.execute("ROLLBACK TO SAVEPOINT probe")
            return
        except psycopg2.Error as err:
            cur.execute("ROLLBACK TO SAVEPOINT probe")
            raise AssertionError(f"{what}: expected {error.__name__}, saw {type(err).__name__}: {err}") from None
        cur.execute("ROLLBACK TO SAVEPOINT probe")
    raise AssertionError(f"{what}: expected the database to refuse it, but it was accepted")

# %% check="schema" points=2
meta.rollback()
assert {"datasets", "models", "runs"} <= _tables(meta), f"expected tables datasets, models, runs; saw {_tables(meta)}"
_fks = _foreign_keys(meta)
for _fk in (("runs", "dataset_id", "datasets"), ("runs", "model_id", "models")):
    assert _fk in _fks, f"expected foreign key {_fk[0]}.{_fk[1]} -> {_fk[2]}, saw {sorted(_fks)}"
with meta.cursor() as _cur:  # a round trip: register a dataset, a model and its training run, then ask for lineage
    try:
        _version_id = s3.head_object(Bucket=DATA_BUCKET, Key=RAW_KEY)["VersionId"]
    except ClientError:
        _version_id = None
    _cur.execute(
        "INSERT INTO datasets (name, version, s3_uri, s3_version_id, size_bytes) VALUES (%s, %s, %s, %s, %s) RETURNING id",
        ("fraud-raw", "2026-01", f"s3://{DATA_BUCKET}/{RAW_KEY}", _version_id, len(RAW_V2)),
    )
    _ds = _cur.fetchone()[0]
    _cur.execute(
        "INSERT INTO models (name, version, artifact_uri) VALUES (%s, %s, %s) RETURNING id",
        ("fraud", 1, f"s3://{ARTIFACT_BUCKET}/models/fraud/1/"),
    )
    _model = _cur.fetchone()[0]
    _cur.execute(
        "INSERT INTO runs (dataset_id, model_id, instance_type, status, metrics, cost_usd, started_at)"
        " VALUES (%s, %s, %s, 'finished', %s, %s, now() - interval '2 days') RETURNING id",
        (_ds, _model, "g5.48xlarge", json.dumps({"val_auc": 0.87}), 1190.7),
    )
    _cur.execute(LINEAGE_SQL, {"model": "fraud", "version": 1})
    _rows = _cur.fetchall()
assert len(_rows) == 1, f"LINEAGE_SQL: expected 1 row, saw {_rows}"
assert tuple(_rows[0][:5]) == ("fraud-raw", "2026-01", f"s3://{DATA_BUCKET}/{RAW_KEY}", _version_id, "g5.48xlarge"), (
    f"LINEAGE_SQL: expected the dataset and run just registered, saw {_rows[0]}"
)
### BEGIN HIDDEN TESTS
try:
    with meta.cursor() as _cur:
        _cur.execute(
            "INSERT INTO datasets (name, version, s3_uri) VALUES ('fraud-raw', '2026-02', 's3://x/y') RETURNING id"
        )
        _ds2 = _cur.fetchone()[0]
        # a newer run that failed, and an older finished one on another dataset: lineage picks the latest finished
        _cur.execute(
            "INSERT INTO runs (dataset_id, model_id, instance_type, status, started_at) VALUES (%s, %s, 'p4d.24xlarge',"
            " 'failed', now())",
            (_ds2, _model),
        )
        _cur.execute(
            "INSERT INTO runs (dataset_id, model_id, instance_type, status, started_at) VALUES (%s, %s, 'g6.48xlarge',"
            " 'finished', now() - interval '9 days')",
            (_ds2, _model),
        )
        _cur.execute(LINEAGE_SQL, {"model": "fraud", "version": 1})
        _rows = _cur.fetchall()
    assert len(_rows) == 1 and _rows[0][4] == "g5.48xlarge", (
        f"LINEAGE_SQL must return the most recent *finished* run (g5.48xlarge), saw {_rows}"
    )
    _expect_error(meta, "INSERT INTO runs (dataset_id, instance_type, status) VALUES (%s, 'c6i.2xlarge', 'running')",
                  (-1,), psycopg2.errors.ForeignKeyViolation, "a run on a dataset that does not exist")
    _expect_error(meta, "INSERT INTO datasets (name, version, s3_uri) VALUES (%s, %s, 's3://x/z')",
                  ("fraud-raw", "2026-01"), psycopg2.errors.UniqueViolation, "a second fraud-raw version 2026-01")
    _expect_error(meta, "INSERT INTO models (name, version, artifact_uri) VALUES (%s, %s, 's3://x/m')",
                  ("fraud", 1), psycopg2.errors.UniqueViolation, "a second fraud model version 1")
    _expect_error(meta, "INSERT INTO runs (dataset_id, instance_type, status) VALUES (%s, 'c6i.2xlarge', 'done')",
                  (_ds,), psycopg2.errors.CheckViolation, "a run with status 'done'")
    _expect_error(meta, "DELETE FROM datasets WHERE id = %s", (_ds,), psycopg2.errors.ForeignKeyViolation,
                  "deleting a dataset that runs used (no ON DELETE CASCADE)")
    _expect_error(meta, "INSERT INTO runs (dataset_id, status) VALUES (%s, 'running')", (_ds,),
                  psycopg2.errors.NotNullViolation, "a run without instance_type")
    with meta.cursor() as _cur:
        _cur.execute("INSERT INTO runs (dataset_id, instance_type, status) VALUES (%s, 'g5.xlarge', 'running')"
                     " RETURNING model_id, metrics, started_at", (_ds,))
        _defaults = _cur.fetchone()
    assert _defaults[0] is None and _defaults[1] == {} and _defaults[2] is not None, (
        f"a running run: expected model_id NULL, metrics {{}} and started_at set by default, saw {_defaults}"
    )
    _indexed = _leading_index_columns(meta, "runs")
    assert {"dataset_id", "model_id"} <= _indexed, f"expected indexes on runs.dataset_id and runs.model_id, saw {_indexed}"
finally:
    meta.rollback()
### END HIDDEN TESTS
_ = meta.rollback()

# %% [markdown]
# ## Wrap-up
#
# **What ran here:** instance specs from the EC2 API (moto serves AWS's real catalogue) joined with
# a dated price table; bucket versioning, encryption, Block Public Access, policies, tags, object
# versions and archive-class refusals on moto's S3; lifecycle rules stored by moto and validated and
# simulated by `labkit.pricing` (tested); the RDS instance, subnet group and managed secret as
# API objects; the metadata schema on a real PostgreSQL server (15 here; the RDS instance asked for 16,
# and the SQL is the same).
#
# **What the live AWS tier adds:** real prices (the Pricing API or the pricing pages: the table here
# is a snapshot, and Spot and Savings Plans change the answer), instances that boot and GPUs you can
# benchmark; S3 actually running lifecycle rules once a day, refusing invalid rules at put time,
# billing minimum durations and restore times of hours; KMS key policies and CloudTrail logs of every
# decrypt; an RDS instance that takes ~10 minutes to create, costs from ~$0.07/hour (db.t4g.medium,
# single-AZ), performs the backups and failovers, rotates the password, and serves the same schema
# over TLS inside the VPC.
#
# Cleanup: terminate the instance, delete the buckets (every version), the DB instance, subnet group,
# security group and VPC, drop the database, and schedule the KMS key for deletion (7 days is the
# minimum waiting period AWS allows).

# %% locked=true
if "meta" in globals():
    meta.close()
cleanup()
try:
    _key_id = kms.describe_key(KeyId=KMS_ALIAS)["KeyMetadata"]["KeyId"]
    kms.delete_alias(AliasName=KMS_ALIAS)
    kms.schedule_key_deletion(KeyId=_key_id, PendingWindowInDays=7)
except kms.exceptions.NotFoundException:
    pass
print("cleaned up", NAME)
