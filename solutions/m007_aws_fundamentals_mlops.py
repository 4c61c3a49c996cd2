# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 7 — AWS fundamentals for MLOps
#
# **Where this sits:** the first module of the course's AWS part. Modules 1–6 ran the fraud-detection
# project's tools (MLflow, DVC, Feast, FastAPI, CI/CD, Prometheus) on one machine; from here on they
# move to AWS. Before anything is deployed, four decisions have to be made and stay made: **where**
# it runs (region and availability zones), **in which network** (a VPC), **who may do what** (IAM),
# and **what it may cost** (budgets, alarms, tags). Module 8 then puts compute and storage into this
# frame, Module 9 designs the network properly and Module 12 goes deep on IAM.
#
# **You will:**
# 1. read AWS's **global infrastructure** from the API: partitions, regions (and which are opted in),
#    availability zones and their account-independent zone IDs;
# 2. **pick a region** for the fraud-training workload from a latency/cost table, under constraints
#    that only the API can answer (is the region enabled? does it have three AZs?);
# 3. build a **VPC** with one subnet per availability zone;
# 4. use **IAM** the way production does: humans as users in groups, workloads as roles, and a
#    **least-privilege** policy for a training job that is *proved* to allow exactly what the job
#    needs and to deny the rest;
# 5. put **cost guardrails** in place: a **budget** with actual and forecast notifications, a
#    **billing alarm** whose state you compute from metric data, and a **tagging strategy** enforced
#    by a compliance check that finds the untagged resources someone left behind.
#
# **What runs here.** The AWS APIs are [moto](https://github.com/getmoto/moto)'s server on this
# machine (`AWS_ENDPOINT_URL`): real boto3 calls, real request/response shapes, resources that persist
# between calls. moto stores IAM policies but does not *evaluate* them (no
# `simulate_principal_policy`), and it stores CloudWatch alarms but never moves them out of their
# initial state. Where that matters, this lab does the real work another way and says so: policies
# are checked with `labkit.iam`, an evaluator of AWS's documented policy logic with its own unit
# tests, and alarm states are computed from the metric data CloudWatch returns. Set
# `AWS_ENDPOINT_URL=""` with real credentials and the same code runs against AWS (it creates a tiny
# instance and a few free resources, and cleans them up at the end).

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")

# %% [markdown]
# ## Setup
# One small helper makes every boto3 client: pointed at `AWS_ENDPOINT_URL` (or at AWS when it is
# empty), in a given region, and failing fast (two attempts, short timeouts) so a mistake shows up
# as an error, not a minute of retries. Everything the lab creates is named from `RUN_ID` and carries
# the lab's tags; `cleanup()` deletes it all, and runs first too, so a rerun starts clean.

# %%
import datetime as dt
import ipaddress
import json
import re
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from labkit import labenv
from labkit.iam import evaluate, principal_policies
from labkit.s3 import empty_and_delete_bucket

labenv.configure(DATA_DIR)  # dummy AWS credentials unless real ones are set
ENDPOINT = AWS_ENDPOINT_URL or None  # None: boto3 talks to AWS itself
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
NAME = labenv.resource_name("m007", RUN_ID)
_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)


def aws(service: str, region: str = REGION):
    """A boto3 client for `service` in `region`, on the lab's endpoint."""
    return boto3.client(service, endpoint_url=ENDPOINT, region_name=region, config=_CONFIG)


ec2, iam, s3, sts, sns, cw, budgets, tagging, ssm = (
    aws(s) for s in ("ec2", "iam", "s3", "sts", "sns", "cloudwatch", "budgets", "resourcegroupstaggingapi", "ssm")
)
ACCOUNT = sts.get_caller_identity()["Account"]

# The lab's tagging standard (Exercise 6 enforces it): every resource says which project it belongs
# to, who owns it, which environment it is and which cost center pays for it.
TAGS = {"project": NAME, "owner": "ml-platform@example.com", "env": "dev", "cost-center": "cc-4217"}


def tag_list(tags: dict) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tags_of(described: dict) -> dict:
    """boto3's [{'Key':..., 'Value':...}] list as a dict."""
    return {t["Key"]: t["Value"] for t in described.get("Tags") or []}


TRAINING_BUCKET = f"{NAME}-data"  # the fraud training data and the model artifacts
OTHER_BUCKET = f"{NAME}-finance"  # another team's bucket: the training job has no business there
ROLE_NAME, POLICY_NAME = f"{NAME}-training-job", f"{NAME}-training"
GROUP_NAME, USER_NAME = f"{NAME}-ml-engineers", f"{NAME}-alice"
TOPIC_NAME, BUDGET_NAME = f"{NAME}-cost-alerts", f"{NAME}-monthly"
ALARM_NAME = f"{NAME}-billing-80pct"


def _gone(call, *args, **kwargs) -> None:
    """Run a delete call; a resource that is already gone is fine."""
    try:
        call(*args, **kwargs)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code not in ("NoSuchEntity", "NotFoundException", "NoSuchBucket", "NotFound", "ResourceNotFound") and (
            not code.startswith("InvalidGroup") and not code.endswith(".NotFound")
        ):
            raise


def cleanup() -> list[str]:
    """Delete everything this lab (any run with this RUN_ID) created; returns what it removed."""
    removed = []
    _gone(budgets.delete_budget, AccountId=ACCOUNT, BudgetName=BUDGET_NAME)
    alarms = [a["AlarmName"] for a in cw.describe_alarms(AlarmNamePrefix=f"{NAME}-")["MetricAlarms"]]
    if alarms:
        cw.delete_alarms(AlarmNames=alarms)
        removed += alarms
    for topic in sns.list_topics()["Topics"]:
        if topic["TopicArn"].split(":")[-1].startswith(f"{NAME}-"):
            sns.delete_topic(TopicArn=topic["TopicArn"])
            removed.append(topic["TopicArn"])
    for role in [r for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]]:
        if role["RoleName"].startswith(f"{NAME}-"):
            for p in iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=p["PolicyArn"])
            for p in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
                iam.delete_role_policy(RoleName=role["RoleName"], PolicyName=p)
            iam.delete_role(RoleName=role["RoleName"])
            removed.append(role["Arn"])
    if any(u["UserName"] == USER_NAME for u in iam.list_users()["Users"]):
        for g in iam.list_groups_for_user(UserName=USER_NAME)["Groups"]:
            iam.remove_user_from_group(GroupName=g["GroupName"], UserName=USER_NAME)
        iam.delete_user(UserName=USER_NAME)
        removed.append(USER_NAME)
    if any(g["GroupName"] == GROUP_NAME for g in iam.list_groups()["Groups"]):
        for p in iam.list_attached_group_policies(GroupName=GROUP_NAME)["AttachedPolicies"]:
            iam.detach_group_policy(GroupName=GROUP_NAME, PolicyArn=p["PolicyArn"])
        iam.delete_group(GroupName=GROUP_NAME)
        removed.append(GROUP_NAME)
    for page in iam.get_paginator("list_policies").paginate(Scope="Local"):
        for p in page["Policies"]:
            if p["PolicyName"].startswith(f"{NAME}-"):
                for v in iam.list_policy_versions(PolicyArn=p["Arn"])["Versions"]:
                    if not v["IsDefaultVersion"]:
                        iam.delete_policy_version(PolicyArn=p["Arn"], VersionId=v["VersionId"])
                iam.delete_policy(PolicyArn=p["Arn"])
                removed.append(p["Arn"])
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"{NAME}-*"]}])["Vpcs"]
    for vpc in vpcs:
        in_vpc = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        instances = [
            i["InstanceId"]
            for r in ec2.describe_instances(Filters=in_vpc)["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] != "terminated"
        ]
        if instances:
            ec2.terminate_instances(InstanceIds=instances)
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=instances, WaiterConfig={"Delay": 1 if ENDPOINT else 15, "MaxAttempts": 60}
            )
        for sg in ec2.describe_security_groups(Filters=in_vpc)["SecurityGroups"]:
            if sg["GroupName"] != "default":
                _gone(ec2.delete_security_group, GroupId=sg["GroupId"])
        for subnet in ec2.describe_subnets(Filters=in_vpc)["Subnets"]:
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc["VpcId"])
        removed.append(vpc["VpcId"])
    for bucket in s3.list_buckets()["Buckets"]:
        if bucket["Name"].startswith(f"{NAME}-"):
            empty_and_delete_bucket(s3, bucket["Name"])
            removed.append(bucket["Name"])
    return removed


print("account", ACCOUNT, "| region", REGION, "| endpoint", ENDPOINT or "AWS", "| name", NAME)
print("left over from an earlier run, removed:", cleanup() or "nothing")

# %% [markdown]
# ## AWS's global infrastructure, from the API
#
# - A **partition** is a separate copy of AWS with its own accounts and credentials: `aws` (the
#   commercial regions), `aws-cn` (China, operated separately), `aws-us-gov` (GovCloud). An account
#   lives in exactly one partition, so for us `cn-north-1` might as well not exist.
# - A **region** is a geographic area (`eu-west-1` is Ireland) with its own endpoints and its own copy
#   of most services: data you put in a region stays there unless you move it, which is what data
#   residency rules (GDPR, banking regulators) care about. Regions launched since 2019 are
#   **opt-in**: disabled until an administrator enables them for the account.
# - An **availability zone** (AZ) is one or more data centers with independent power and networking,
#   a few milliseconds from the region's other AZs. Spreading a service across AZs is how it survives
#   a data-center failure; ML training usually runs in one AZ (the GPUs talk to each other), while the
#   serving API spans two or three.
# - AZ **names** (`us-east-1a`) are shuffled per account; AZ **IDs** (`use1-az6`) name the same
#   physical zone in every account, which is what you compare when two accounts must share a zone.
# - Beyond regions: **Local Zones** and **Wavelength Zones** (compute close to a city or a 5G network;
#   `describe_availability_zones(AllAvailabilityZones=True)` lists them with a different `ZoneType`)
#   and **edge locations** (CloudFront and Route 53, hundreds of them, no EC2).
#
# `describe_regions(AllRegions=True)` returns every region with its opt-in status; without
# `AllRegions` AWS returns only the enabled ones.

# %%
session = boto3.session.Session()
regions = ec2.describe_regions(AllRegions=True)["Regions"]
by_partition: dict[str, list[str]] = {}
for r in regions:
    by_partition.setdefault(session.get_partition_for_region(r["RegionName"]), []).append(r["RegionName"])
print({p: len(names) for p, names in by_partition.items()}, "regions per partition")
print("opt-in status:", {s: sum(r["OptInStatus"] == s for r in regions) for s in {r["OptInStatus"] for r in regions}})
for az in ec2.describe_availability_zones()["AvailabilityZones"]:
    print(f"  {az['ZoneName']:<12} id {az['ZoneId']:<10} {az['ZoneType']:<18} {az['State']}")

# %% [markdown]
# ## Exercise 1: pick a region from a latency and cost table
#
# The fraud model's users are card holders in Europe; the team measured round-trip latency from
# Frankfurt to each candidate region, and priced the monthly workload: **`GPU_HOURS`** of training on a
# `g5.xlarge`-class GPU instance, plus **`SERVING_INSTANCES`** CPU instances (one per AZ) serving the
# API all month (730 hours). The prices below are *illustrative* (shaped like on-demand list prices,
# not today's; in the live tier you would read them from the Pricing API, `pricing.get_products`).
#
# Write `rank_regions(table, max_latency_ms, min_azs)` that returns the **eligible** regions as a list
# of `(region, monthly_cost_usd)` tuples, cheapest first (ties: lower latency first), where
# `monthly_cost = GPU_HOURS * gpu_usd_per_hour + SERVING_INSTANCES * 730 * cpu_usd_per_hour`, rounded
# to cents. A region is eligible when:
# - its `latency_ms` is at most `max_latency_ms`;
# - the account can use it: `describe_regions(AllRegions=True)` lists it with `OptInStatus`
#   `"opt-in-not-required"` or `"opted-in"` (a region that is `"not-opted-in"` is off for this
#   account, however cheap it is);
# - it has at least `min_azs` availability zones of `ZoneType` `"availability-zone"` in state
#   `"available"` — ask **that region's** EC2 endpoint: `aws("ec2", region).describe_availability_zones()`.
#
# Return an empty list when nothing qualifies. The first element is the pick.
#
# <details><summary>Hint 1</summary>Call <code>describe_regions</code> once and build a dict
# <code>{name: OptInStatus}</code>; a region missing from it is not eligible either.</details>
# <details><summary>Hint 2</summary>Sort with <code>key=lambda pair: (pair[1], latency[pair[0]])</code>.
# Check the AZ count only for regions that pass the cheaper tests: one API call per region.</details>

# %%
GPU_HOURS = 160
SERVING_INSTANCES = 2
REGION_TABLE = [  # latency from Frankfurt users; illustrative USD per instance-hour
    {"region": "eu-central-1", "latency_ms": 6, "gpu_usd_per_hour": 1.36, "cpu_usd_per_hour": 0.116},
    {"region": "eu-central-2", "latency_ms": 9, "gpu_usd_per_hour": 1.50, "cpu_usd_per_hour": 0.128},
    {"region": "eu-west-3", "latency_ms": 12, "gpu_usd_per_hour": 1.30, "cpu_usd_per_hour": 0.112},
    {"region": "eu-south-1", "latency_ms": 14, "gpu_usd_per_hour": 1.25, "cpu_usd_per_hour": 0.109},
    {"region": "eu-west-2", "latency_ms": 15, "gpu_usd_per_hour": 1.27, "cpu_usd_per_hour": 0.111},
    {"region": "eu-south-2", "latency_ms": 22, "gpu_usd_per_hour": 1.05, "cpu_usd_per_hour": 0.097},
    {"region": "eu-west-1", "latency_ms": 24, "gpu_usd_per_hour": 1.21, "cpu_usd_per_hour": 0.107},
    {"region": "eu-north-1", "latency_ms": 28, "gpu_usd_per_hour": 1.13, "cpu_usd_per_hour": 0.102},
    {"region": "us-east-1", "latency_ms": 92, "gpu_usd_per_hour": 1.006, "cpu_usd_per_hour": 0.096},
    {"region": "us-west-1", "latency_ms": 150, "gpu_usd_per_hour": 1.21, "cpu_usd_per_hour": 0.112},
]


# %% answer="region_pick"
def rank_regions(table: list[dict], max_latency_ms: float, min_azs: int) -> list[tuple[str, float]]:
    ### BEGIN SOLUTION
    status = {r["RegionName"]: r["OptInStatus"] for r in ec2.describe_regions(AllRegions=True)["Regions"]}
    latency = {row["region"]: row["latency_ms"] for row in table}
    ranked = []
    for row in table:
        name = row["region"]
        if row["latency_ms"] > max_latency_ms or status.get(name) not in ("opt-in-not-required", "opted-in"):
            continue
        zones = aws("ec2", name).describe_availability_zones()["AvailabilityZones"]
        usable = [z for z in zones if z["State"] == "available" and z.get("ZoneType", "availability-zone") == "availability-zone"]
        if len(usable) < min_azs:
            continue
        cost = GPU_HOURS * row["gpu_usd_per_hour"] + SERVING_INSTANCES * 730 * row["cpu_usd_per_hour"]
        ranked.append((name, round(cost, 2)))
    return sorted(ranked, key=lambda pair: (pair[1], latency[pair[0]]))
    ### END SOLUTION


ranking = rank_regions(REGION_TABLE, max_latency_ms=30, min_azs=3)
PICKED_REGION = ranking[0][0] if ranking else None
for region, cost in ranking:
    print(f"{region:<14} ${cost:>8.2f}/month")
print("pick:", PICKED_REGION)

# %% check="region_pick" points=1
_rows = {row["region"]: row for row in REGION_TABLE}
assert ranking, "no region qualified; at least one European region meets 30 ms and 3 AZs"
for _region, _cost in ranking:
    assert _rows[_region]["latency_ms"] <= 30, f"{_region} has {_rows[_region]['latency_ms']} ms, over the 30 ms limit"
assert [c for _, c in ranking] == sorted(c for _, c in ranking), f"not cheapest first: {ranking}"
### BEGIN HIDDEN TESTS
_status = {r["RegionName"]: r["OptInStatus"] for r in ec2.describe_regions(AllRegions=True)["Regions"]}


def _expected(table, max_latency_ms, min_azs):
    out = []
    for row in table:
        name = row["region"]
        if row["latency_ms"] > max_latency_ms or _status.get(name) not in ("opt-in-not-required", "opted-in"):
            continue
        zones = aws("ec2", name).describe_availability_zones()["AvailabilityZones"]
        if sum(z["State"] == "available" and z.get("ZoneType", "availability-zone") == "availability-zone" for z in zones) < min_azs:
            continue
        cost = round(GPU_HOURS * row["gpu_usd_per_hour"] + SERVING_INSTANCES * 730 * row["cpu_usd_per_hour"], 2)
        out.append((name, cost))
    return [r for r, _ in sorted(out, key=lambda p: (p[1], {x["region"]: x["latency_ms"] for x in table}[p[0]]))]


def _names(result):
    return [r for r, _ in result]


_want = _expected(REGION_TABLE, 30, 3)
assert _names(ranking) == _want, f"expected ranking {_want}, saw {_names(ranking)}"
for _r, _c in ranking:
    _truth = round(GPU_HOURS * _rows[_r]["gpu_usd_per_hour"] + SERVING_INSTANCES * 730 * _rows[_r]["cpu_usd_per_hour"], 2)
    assert abs(_c - _truth) < 0.01, f"{_r}: monthly cost should be {_truth}, saw {_c}"
_not_opted = [r for r in ("eu-south-2", "eu-central-2") if _status.get(r) == "not-opted-in"]
assert not set(_not_opted) & set(_names(ranking)), f"{_not_opted} are not enabled for this account but were ranked"
assert _names(rank_regions(REGION_TABLE, 20, 3)) == _expected(REGION_TABLE, 20, 3), "wrong ranking at 20 ms"
assert rank_regions(REGION_TABLE, 30, 4) == [], "no European region in the table has 4 AZs: expected []"
# US users in San Francisco: us-west-1 is closest and cheapest, but has only 2 AZs
_us = [
    {"region": "us-west-1", "latency_ms": 4, "gpu_usd_per_hour": 0.90, "cpu_usd_per_hour": 0.090},
    {"region": "us-west-2", "latency_ms": 22, "gpu_usd_per_hour": 1.006, "cpu_usd_per_hour": 0.096},
    {"region": "us-east-1", "latency_ms": 68, "gpu_usd_per_hour": 1.006, "cpu_usd_per_hour": 0.096},
    {"region": "ca-west-1", "latency_ms": 30, "gpu_usd_per_hour": 0.95, "cpu_usd_per_hour": 0.092},
]
_got = _names(rank_regions(_us, 100, 3))
assert _got == _expected(_us, 100, 3), f"US table, 100 ms, 3 AZs: expected {_expected(_us, 100, 3)}, saw {_got}"
assert _names(rank_regions(_us, 100, 2))[0] == "us-west-1", "with 2 AZs allowed, us-west-1 is the pick"
### END HIDDEN TESTS

# %% [markdown]
# Latency and price are not the only axes. In practice also check: **service availability** (is the
# GPU instance family, SageMaker feature or Bedrock model offered there? `ec2.describe_instance_type_offerings`
# answers for EC2), **quotas** (new accounts get small GPU quotas per region), **data residency** (EU
# customer data stays in EU regions), and **data gravity** (training next to the data avoids
# cross-region transfer charges, usually $0.02/GB). The rest of this lab stays in `REGION`
# (`us-east-1`): billing metrics exist only there, and it keeps the lab's API calls in one place.

# %% [markdown]
# ## VPC basics
#
# A **VPC** is your private network in one region: an IP range (a CIDR block such as `10.42.0.0/16`,
# 65,536 addresses) that nothing reaches unless you open a path. A **subnet** is a slice of that range
# that lives in **one AZ**; an instance is launched into a subnet, which decides its AZ. A subnet is
# *public* when its route table sends `0.0.0.0/0` to an internet gateway, *private* otherwise (Module 9
# adds NAT gateways, route tables and endpoints). Every account has a **default VPC** per region with a
# public subnet in each AZ, convenient for experiments and the wrong place for production data.

# %%
for vpc in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]:
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    print("default VPC", vpc["VpcId"], vpc["CidrBlock"], "|", len(subnets), "subnets:",
          sorted((s["AvailabilityZone"], s["CidrBlock"]) for s in subnets)[:3], "...")

# %% [markdown]
# ## Exercise 2: a VPC for the ML workloads, one subnet per AZ
#
# Write `create_ml_vpc()` that creates, in `REGION`:
# - a VPC with CIDR `VPC_CIDR`, tagged with `TAGS` plus `Name = VPC_NAME`, with DNS support and DNS
#   hostnames enabled (`modify_vpc_attribute`, one attribute per call; services such as VPC endpoints
#   and SageMaker need DNS names);
# - one subnet in **each of the first three AZs** of the region (sorted by `ZoneName`), carved from
#   the VPC's range as consecutive `/20` blocks (`ipaddress.ip_network(VPC_CIDR).subnets(new_prefix=20)`),
#   each tagged with `TAGS` plus `Name = f"{VPC_NAME}-{zone}"`;
# - and returns the VPC id.
#
# It must be **rerunnable**: if a VPC tagged `Name = VPC_NAME` already exists, return its id and create
# nothing. (Infrastructure code that creates a second VPC on every run is how accounts fill up with
# orphans: the default quota is 5 VPCs per region.)
#
# <details><summary>Hint 1</summary>Tag at creation: <code>TagSpecifications=[{"ResourceType": "vpc",
# "Tags": tag_list({**TAGS, "Name": VPC_NAME})}]</code>, and <code>"subnet"</code> for subnets.</details>
# <details><summary>Hint 2</summary>Find an existing one with
# <code>ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [VPC_NAME]}])</code>.</details>

# %%
VPC_NAME = f"{NAME}-ml"
VPC_CIDR = "10.42.0.0/16"


# %% answer="vpc"
def create_ml_vpc() -> str:
    ### BEGIN SOLUTION
    existing = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [VPC_NAME]}])["Vpcs"]
    if existing:
        return existing[0]["VpcId"]
    vpc_id = ec2.create_vpc(
        CidrBlock=VPC_CIDR, TagSpecifications=[{"ResourceType": "vpc", "Tags": tag_list({**TAGS, "Name": VPC_NAME})}]
    )["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    zones = sorted(
        z["ZoneName"]
        for z in ec2.describe_availability_zones()["AvailabilityZones"]
        if z["State"] == "available" and z.get("ZoneType", "availability-zone") == "availability-zone"
    )[:3]
    for zone, block in zip(zones, ipaddress.ip_network(VPC_CIDR).subnets(new_prefix=20)):
        ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=str(block),
            AvailabilityZone=zone,
            TagSpecifications=[{"ResourceType": "subnet", "Tags": tag_list({**TAGS, "Name": f"{VPC_NAME}-{zone}"})}],
        )
    return vpc_id
    ### END SOLUTION


VPC_ID = create_ml_vpc()
for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [VPC_ID]}])["Subnets"]:
    print(subnet["SubnetId"], subnet["AvailabilityZone"], subnet["CidrBlock"], subnet["AvailableIpAddressCount"], "free IPs")

# %% check="vpc" points=1
_vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [VPC_NAME]}])["Vpcs"]
assert len(_vpcs) == 1 and _vpcs[0]["VpcId"] == VPC_ID, f"expected one VPC named {VPC_NAME} ({VPC_ID}), saw {_vpcs}"
assert _vpcs[0]["CidrBlock"] == VPC_CIDR, f"VPC CIDR should be {VPC_CIDR}, saw {_vpcs[0]['CidrBlock']}"
_subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [VPC_ID]}])["Subnets"]
assert len(_subnets) == 3, f"expected 3 subnets, saw {len(_subnets)}"
### BEGIN HIDDEN TESTS
_zones = sorted(s["AvailabilityZone"] for s in _subnets)
_first3 = sorted(z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"])[:3]
assert _zones == _first3, f"one subnet per AZ in {_first3}, saw {_zones}"
_nets = [ipaddress.ip_network(s["CidrBlock"]) for s in _subnets]
assert all(n.prefixlen == 20 and n.subnet_of(ipaddress.ip_network(VPC_CIDR)) for n in _nets), f"subnets {_nets}"
assert not any(a.overlaps(b) for i, a in enumerate(_nets) for b in _nets[i + 1 :]), f"overlapping subnets {_nets}"
for _res in [_vpcs[0], *_subnets]:
    _missing = {k: v for k, v in TAGS.items() if tags_of(_res).get(k) != v}
    assert not _missing, f"{_res.get('SubnetId', VPC_ID)} lacks tags {_missing}"
_dns = ec2.describe_vpc_attribute(VpcId=VPC_ID, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"]
assert _dns, "DNS hostnames are not enabled on the VPC"
assert create_ml_vpc() == VPC_ID, "a second call should return the existing VPC"
_n = len(ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [VPC_NAME]}])["Vpcs"])
assert _n == 1, f"a second call created another VPC: {_n} named {VPC_NAME}"
assert len(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [VPC_ID]}])["Subnets"]) == 3, "rerun added subnets"
### END HIDDEN TESTS

# %% [markdown]
# ## IAM essentials: users, groups, roles, policies
#
# Everything in AWS is a request by a **principal** (who) for an **action** (`s3:GetObject`) on a
# **resource** (an ARN), decided by **policies**: JSON documents of statements, each with an `Effect`
# (Allow or Deny), `Action`s, `Resource`s and optional `Condition`s. The rules that matter daily:
#
# 1. everything is **denied by default** (an *implicit* deny);
# 2. an `Allow` in any applicable policy allows it...
# 3. ...unless a `Deny` anywhere matches: an **explicit deny always wins**.
#
# The principals:
# - **IAM users** are long-lived identities with passwords or access keys. Use them for humans only
#   where you must (AWS's recommendation is SSO through IAM Identity Center), attach permissions to
#   **groups**, never to individual users, and never ship a user's access keys in code.
# - **Roles** have no credentials of their own: a trusted principal *assumes* one and gets temporary
#   credentials from STS (an hour by default). EC2 instances, Lambda functions, SageMaker training
#   jobs, GitHub Actions (via OIDC) all work through roles. A role has two policies: the **trust
#   policy** (who may assume it) and its **permissions policies** (what it may do).
#
# A human first: `alice` joins the `ml-engineers` group, which has AWS's managed
# `AmazonS3ReadOnlyAccess` policy attached. `labkit.iam.principal_policies` reads back from IAM every
# policy that applies to her (her own and her groups'), and `labkit.iam.evaluate` decides requests
# with them, naming the statement that decided.

# %%
for _create in (lambda: iam.create_group(GroupName=GROUP_NAME), lambda: iam.create_user(UserName=USER_NAME, Tags=tag_list(TAGS))):
    try:
        _create()
    except iam.exceptions.EntityAlreadyExistsException:
        pass  # this cell ran before
iam.attach_group_policy(GroupName=GROUP_NAME, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
iam.add_user_to_group(GroupName=GROUP_NAME, UserName=USER_NAME)
alice = principal_policies(iam, user=USER_NAME)
for action, resource in [
    ("s3:GetObject", "arn:aws:s3:::any-bucket/any/key"),
    ("s3:ListAllMyBuckets", "*"),
    ("s3:PutObject", "arn:aws:s3:::any-bucket/any/key"),
    ("ec2:RunInstances", "*"),
]:
    print(f"{action:<22}", evaluate(alice, action, resource).reason)

# %% [markdown]
# **Explicit deny wins, and conditions.** A common guardrail is a `Deny` that no `Allow` can override,
# for example "no instance may be launched without a `project` tag" (tag-on-create, via the `Null`
# condition on `aws:RequestTag/project`) and "no S3 access over plain HTTP". `evaluate` takes the
# request context (`aws:RequestTag/...`, `aws:SecureTransport`, `s3:prefix`...) as a dict; real AWS
# fills that context in from the request itself.

# %%
admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
guardrails = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "TagOnCreate", "Effect": "Deny", "Action": "ec2:RunInstances",
         "Resource": "arn:aws:ec2:*:*:instance/*", "Condition": {"Null": {"aws:RequestTag/project": "true"}}},
        {"Sid": "TlsOnly", "Effect": "Deny", "Action": "s3:*", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ],
}
instance_arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*"
for label, action, resource, context in [
    ("launch without tags", "ec2:RunInstances", instance_arn, {}),
    ("launch with project tag", "ec2:RunInstances", instance_arn, {"aws:RequestTag/project": NAME}),
    ("S3 over http", "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": False}),
    ("S3 over https", "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": True}),
]:
    print(f"{label:<24}", evaluate([admin, guardrails], action, resource, context).reason)

# %% [markdown]
# ## Exercise 3: a least-privilege role for the training job
#
# The fraud model's training job (a SageMaker training job; an EC2 instance works the same way with
# `ec2.amazonaws.com`) reads its data from `s3://TRAINING_BUCKET/data/`, writes the model to
# `s3://TRAINING_BUCKET/artifacts/`, logs to CloudWatch Logs and publishes training metrics. Write:
#
# **`training_policy()`**, returning an identity policy (`Version` `"2012-10-17"`) that allows exactly:
# - `s3:GetObject` on the objects under `data/` in `TRAINING_BUCKET`;
# - `s3:ListBucket` on `TRAINING_BUCKET` itself, only when the listed prefix is under `data/`
#   (condition `StringLike` on `s3:prefix` with `"data/*"`);
# - `s3:PutObject` on the objects under `artifacts/`;
# - `logs:CreateLogStream` and `logs:PutLogEvents` on the streams of the log group `LOG_GROUP`
#   (resource `f"{LOG_GROUP_ARN}:*"`);
# - `cloudwatch:PutMetricData`, which has no resource ARN (use `"*"`), only into the namespace
#   `METRICS_NAMESPACE` (condition `StringEquals` on `cloudwatch:namespace`).
#
# **`create_training_role(policy)`** creates (in IAM) the managed policy `POLICY_NAME` from
# `policy`, the role `ROLE_NAME` whose **trust policy** lets only the SageMaker service
# (`"Principal": {"Service": "sagemaker.amazonaws.com"}`) call `sts:AssumeRole`, tags the role with
# `TAGS`, attaches the policy, and returns the role's ARN. It must be rerunnable: delete an existing
# role of that name (detach its policies and delete its inline ones first) and the policy, then create
# them afresh.
#
# The checks read the role's policies **back from IAM** and evaluate requests the job makes, and
# requests it must not be able to make, with `labkit.iam.evaluate`. A policy with `"s3:*"` on the
# bucket "works" for the job, and fails this exercise.
#
# <details><summary>Hint 1</summary>Object ARNs are <code>arn:aws:s3:::BUCKET/KEY</code>, so the data
# objects are <code>f"arn:aws:s3:::{TRAINING_BUCKET}/data/*"</code>; the bucket itself (for
# <code>ListBucket</code>) is <code>f"arn:aws:s3:::{TRAINING_BUCKET}"</code>, without a slash.</details>
# <details><summary>Hint 2</summary>Try your policy locally before creating it:
# <code>evaluate([training_policy()], "s3:DeleteObject", f"arn:aws:s3:::{TRAINING_BUCKET}/data/x").reason</code>.</details>
# <details><summary>Hint 3</summary><code>iam.create_role(RoleName=..., AssumeRolePolicyDocument=json.dumps(trust), Tags=tag_list(TAGS))</code>,
# <code>iam.create_policy(PolicyName=..., PolicyDocument=json.dumps(TRAINING_POLICY))["Policy"]["Arn"]</code>,
# <code>iam.attach_role_policy(RoleName=..., PolicyArn=...)</code>.</details>

# %%
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}"
METRICS_NAMESPACE = "/aws/sagemaker/TrainingJobs"
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{POLICY_NAME}"
for bucket, tags in [(TRAINING_BUCKET, TAGS), (OTHER_BUCKET, {**TAGS, "project": "finance-reporting"})]:
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_list(tags)})
s3.put_object(Bucket=TRAINING_BUCKET, Key="data/train.csv", Body=b"amount,isFraud\n12.5,0\n")
s3.put_object(Bucket=OTHER_BUCKET, Key="ledger/2026.csv", Body=b"secret\n")


def request(action: str, resource: str, context: dict | None = None) -> tuple:
    return action, resource, context or {}


job_output = f"arn:aws:s3:::{TRAINING_BUCKET}/artifacts/fraud-job-1/model.tar.gz"
log_stream = f"{LOG_GROUP_ARN}:log-stream:fraud-job-1/algo-1-1700000000"
JOB_NEEDS = [
    request("s3:GetObject", f"arn:aws:s3:::{TRAINING_BUCKET}/data/train.csv"),
    request("s3:ListBucket", f"arn:aws:s3:::{TRAINING_BUCKET}", {"s3:prefix": "data/"}),
    request("s3:PutObject", job_output),
    request("logs:CreateLogStream", log_stream),
    request("logs:PutLogEvents", log_stream),
    request("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": METRICS_NAMESPACE}),
]
JOB_MUST_NOT = [
    request("s3:DeleteBucket", f"arn:aws:s3:::{TRAINING_BUCKET}"),
    request("s3:PutObject", f"arn:aws:s3:::{TRAINING_BUCKET}/data/train.csv"),  # overwrite the training data
    request("s3:GetObject", f"arn:aws:s3:::{OTHER_BUCKET}/ledger/2026.csv"),
    request("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/backdoor"),
]


# %% answer="least_privilege"
def training_policy() -> dict:
    """The training job's identity policy document."""
    ### BEGIN SOLUTION
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadTrainingData", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{TRAINING_BUCKET}/data/*"},
            {"Sid": "ListTrainingData", "Effect": "Allow", "Action": "s3:ListBucket",
             "Resource": f"arn:aws:s3:::{TRAINING_BUCKET}", "Condition": {"StringLike": {"s3:prefix": ["data/*"]}}},
            {"Sid": "WriteArtifacts", "Effect": "Allow", "Action": "s3:PutObject",
             "Resource": f"arn:aws:s3:::{TRAINING_BUCKET}/artifacts/*"},
            {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": f"{LOG_GROUP_ARN}:*"},
            {"Sid": "Metrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
             "Condition": {"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}}},
        ],
    }
    ### END SOLUTION


def create_training_role(policy: dict) -> str:
    """Create the role and its managed policy in IAM (replacing earlier ones); return the role ARN."""
    ### BEGIN SOLUTION
    if any(r["RoleName"] == ROLE_NAME for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]):
        for p in iam.list_attached_role_policies(RoleName=ROLE_NAME)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=ROLE_NAME, PolicyArn=p["PolicyArn"])
        for p in iam.list_role_policies(RoleName=ROLE_NAME)["PolicyNames"]:
            iam.delete_role_policy(RoleName=ROLE_NAME, PolicyName=p)
        iam.delete_role(RoleName=ROLE_NAME)
    _gone(iam.delete_policy, PolicyArn=POLICY_ARN)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role_arn = iam.create_role(
        RoleName=ROLE_NAME,
        AssumeRolePolicyDocument=json.dumps(trust),
        Description="fraud training job: read data/, write artifacts/, logs, metrics",
        Tags=tag_list(TAGS),
    )["Role"]["Arn"]
    policy_arn = iam.create_policy(PolicyName=POLICY_NAME, PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=ROLE_NAME, PolicyArn=policy_arn)
    return role_arn
    ### END SOLUTION


TRAINING_POLICY = training_policy()
ROLE_ARN = create_training_role(TRAINING_POLICY)
role_policies = principal_policies(iam, role=ROLE_NAME)
for action, resource, context in JOB_NEEDS + JOB_MUST_NOT:
    decision = evaluate(role_policies, action, resource, context)
    print(f"{'ALLOW' if decision else 'deny ':<6}{action:<26}{decision.where or decision.kind}")

# %% check="least_privilege" points=1
_role = iam.get_role(RoleName=ROLE_NAME)["Role"]
assert _role["Arn"] == ROLE_ARN, f"create_training_role() returned {ROLE_ARN}, IAM has {_role['Arn']}"
_trust = _role["AssumeRolePolicyDocument"]
_trust = json.loads(_trust) if isinstance(_trust, str) else _trust
_trust_statements = _trust["Statement"] if isinstance(_trust["Statement"], list) else [_trust["Statement"]]
_services = {
    s for st in _trust_statements if st["Effect"] == "Allow"
    for s in ([st.get("Principal", {}).get("Service", [])] if isinstance(st.get("Principal", {}).get("Service"), str)
              else st.get("Principal", {}).get("Service", []))
}
assert _services == {"sagemaker.amazonaws.com"}, f"the trust policy should admit sagemaker.amazonaws.com only, saw {_services}"
_attached = [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=ROLE_NAME)["AttachedPolicies"]]
assert POLICY_NAME in _attached, f"policy {POLICY_NAME} is not attached to {ROLE_NAME}: {_attached}"
### BEGIN HIDDEN TESTS
for _st in _trust_statements:
    _principal = _st.get("Principal", {})
    assert _principal != "*" and "AWS" not in _principal, f"the trust policy admits more than SageMaker: {_principal}"
    assert set([_st["Action"]] if isinstance(_st["Action"], str) else _st["Action"]) <= {"sts:AssumeRole"}, _st["Action"]
_role_tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=ROLE_NAME)["Tags"]}
assert all(_role_tags.get(k) == v for k, v in TAGS.items()), f"role tags {_role_tags}, expected {TAGS}"
assert create_training_role(TRAINING_POLICY) == ROLE_ARN, "create_training_role() must be rerunnable and keep the role's name/ARN"
assert len(iam.list_attached_role_policies(RoleName=ROLE_NAME)["AttachedPolicies"]) >= 1, "rerun left no policy"
### END HIDDEN TESTS

# %% check="least_privilege" points=2
_policies = principal_policies(iam, role=ROLE_NAME)  # what IAM stores, not the local dict
for _action, _resource, _context in JOB_NEEDS:
    _d = evaluate(_policies, _action, _resource, _context)
    assert _d.allowed, f"the job needs {_action} on {_resource} {_context or ''}: {_d.reason}"
for _action, _resource, _context in JOB_MUST_NOT:
    _d = evaluate(_policies, _action, _resource, _context)
    assert not _d.allowed, f"{_action} on {_resource} should be denied, but it is {_d.reason}"
### BEGIN HIDDEN TESTS
_bucket_arn = f"arn:aws:s3:::{TRAINING_BUCKET}"
_hidden_must_not = [
    ("s3:DeleteObject", f"{_bucket_arn}/data/train.csv", {}),
    ("s3:DeleteObject", job_output, {}),
    ("s3:PutObject", f"{_bucket_arn}/model.tar.gz", {}),
    ("s3:GetObject", f"arn:aws:s3:::{TRAINING_BUCKET}-backup/data/train.csv", {}),
    ("s3:PutObject", f"arn:aws:s3:::{OTHER_BUCKET}/artifacts/x", {}),
    ("s3:ListBucket", _bucket_arn, {"s3:prefix": "artifacts/"}),
    ("s3:ListBucket", _bucket_arn, {"s3:prefix": ""}),
    ("s3:ListBucket", _bucket_arn, {}),
    ("s3:ListBucket", f"arn:aws:s3:::{OTHER_BUCKET}", {"s3:prefix": "data/"}),
    ("s3:ListAllMyBuckets", "*", {}),
    ("s3:PutBucketPolicy", _bucket_arn, {}),
    ("s3:PutBucketAcl", _bucket_arn, {}),
    ("logs:DeleteLogGroup", LOG_GROUP_ARN, {}),
    ("logs:PutLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/payments:log-stream:x", {}),
    ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "AWS/Billing"}),
    ("cloudwatch:PutMetricData", "*", {}),
    ("cloudwatch:DeleteAlarms", "*", {}),
    ("iam:PassRole", ROLE_ARN, {}),
    ("iam:AttachRolePolicy", ROLE_ARN, {}),
    ("sts:AssumeRole", "*", {}),
    ("ec2:RunInstances", "*", {}),
    ("sagemaker:CreateTrainingJob", "*", {}),
    ("kms:Decrypt", "*", {}),
]
for _action, _resource, _context in _hidden_must_not:
    _d = evaluate(_policies, _action, _resource, _context)
    assert not _d.allowed, f"least privilege: {_action} on {_resource} {_context or ''} should be denied, but it is {_d.reason}"
for _action, _resource, _context in [
    ("S3:getobject", f"{_bucket_arn}/data/2026/11/part-0001.parquet", {}),
    ("s3:ListBucket", _bucket_arn, {"s3:prefix": "data/2026/"}),
    ("s3:PutObject", f"{_bucket_arn}/artifacts/fraud-job-7/checkpoints/epoch-3.pt", {}),
]:
    _d = evaluate(_policies, _action, _resource, _context)
    assert _d.allowed, f"the job needs {_action} on {_resource} {_context or ''}: {_d.reason}"
### END HIDDEN TESTS

# %% [markdown]
# **Assuming the role.** A training job never sees long-lived keys: SageMaker calls `sts:AssumeRole`
# with the role's ARN and hands the job temporary credentials that expire. The same call from here
# (moto does not check the trust policy or enforce permissions with the credentials it returns: on
# real AWS this call fails for you, because only SageMaker is trusted):

# %%
if "ROLE_ARN" in globals():
    creds = sts.assume_role(RoleArn=ROLE_ARN, RoleSessionName="fraud-job-1", DurationSeconds=3600)["Credentials"]
    print("temporary key", creds["AccessKeyId"][:8] + "...", "expires", creds["Expiration"])

# %% [markdown]
# **What real IAM adds.** The decision above covers one principal's identity policies. AWS evaluates
# more layers, and an action must pass all of them: **Organizations SCPs** (and RCPs) cap what any
# principal in an account can do; **permissions boundaries** cap what a role's own policies can grant
# (`labkit.iam.evaluate(..., boundary=[...])` models this one); **resource-based policies** (bucket
# policies, KMS key policies, the role's trust policy) can grant or deny from the resource's side;
# **session policies** narrow an assumed role further. `iam simulate-principal-policy` (not
# implemented by moto) evaluates all of that against the real account, and **IAM Access Analyzer**
# generates a least-privilege policy from the actions a role actually used in CloudTrail, which is
# the practical way to tighten a policy that started broad.

# %% [markdown]
# ## Cost guardrails
#
# Cloud ML fails expensively in a few repeatable ways: a GPU cluster left running over a weekend, a
# notebook instance nobody owns, a hyperparameter sweep that launched 200 jobs instead of 20. Three
# guardrails catch most of it, and they work together:
#
# | guardrail | answers | reacts |
# |---|---|---|
# | **AWS Budgets** | "are we on track for the month?" — actual *and forecast* spend against a limit, filtered by tag, service or account | e-mail/SNS at thresholds; budget *actions* can apply an IAM policy or stop instances |
# | **billing alarm** (CloudWatch on `EstimatedCharges`) | "did the bill just jump?" — within hours | SNS → chat, pager, Lambda |
# | **tags** | "whose is this, and which project pays?" — makes the other two filterable and cost reports readable | compliance checks, tag policies, deny-on-create |
#
# Both notifications go to one SNS topic. Budgets publishes to it as the `budgets.amazonaws.com`
# service, so the topic's policy must allow that (on real AWS the notification silently never
# arrives otherwise):

# %%
TOPIC_ARN = sns.create_topic(Name=TOPIC_NAME, Tags=tag_list(TAGS))["TopicArn"]
sns.set_topic_attributes(
    TopicArn=TOPIC_ARN,
    AttributeName="Policy",
    AttributeValue=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "BudgetsAndAlarmsPublish", "Effect": "Allow",
            "Principal": {"Service": ["budgets.amazonaws.com", "cloudwatch.amazonaws.com"]},
            "Action": "SNS:Publish", "Resource": TOPIC_ARN,
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }],
    }),
)
ALERT_EMAIL = "ml-platform@example.com"
BUDGET_LIMIT_USD = 500.0
print("alerts topic:", TOPIC_ARN)

# %% [markdown]
# ## Exercise 4: a monthly budget for the project
#
# Write `create_budget()` that creates, in AWS Budgets (`budgets.create_budget(AccountId=ACCOUNT, ...)`),
# the budget `BUDGET_NAME`:
# - a `COST` budget, `MONTHLY`, limit `BUDGET_LIMIT_USD` in `USD` (amounts are strings in this API);
# - counting only this project's spend: `CostFilters={"TagKeyValue": [f"user:project${NAME}"]}` (the
#   format is `user:<tag key>$<tag value>`; the tag must be activated as a *cost allocation tag* in
#   the Billing console before AWS can filter on it);
# - with two notifications, both `GREATER_THAN` with `ThresholdType` `PERCENTAGE`, and each with two
#   subscribers, the SNS topic `TOPIC_ARN` and the e-mail `ALERT_EMAIL`:
#   **`ACTUAL`** spend above **80 %**, and **`FORECASTED`** spend above **100 %** (the forecast warns
#   you mid-month that the month will end over budget, while there is still time to act).
#
# Rerunnable: delete an existing budget of that name first (`budgets.delete_budget`).
#
# <details><summary>Hint 1</summary><code>NotificationsWithSubscribers=[{"Notification": {"NotificationType": "ACTUAL",
# "ComparisonOperator": "GREATER_THAN", "Threshold": 80.0, "ThresholdType": "PERCENTAGE"}, "Subscribers":
# [{"SubscriptionType": "SNS", "Address": TOPIC_ARN}, {"SubscriptionType": "EMAIL", "Address": ALERT_EMAIL}]}, ...]</code></details>
# <details><summary>Hint 2</summary>A missing budget raises <code>ClientError</code> with code
# <code>NotFoundException</code>; <code>_gone(budgets.delete_budget, AccountId=..., BudgetName=...)</code>
# ignores exactly that.</details>

# %% answer="budget"
def create_budget() -> None:
    ### BEGIN SOLUTION
    _gone(budgets.delete_budget, AccountId=ACCOUNT, BudgetName=BUDGET_NAME)
    subscribers = [{"SubscriptionType": "SNS", "Address": TOPIC_ARN}, {"SubscriptionType": "EMAIL", "Address": ALERT_EMAIL}]
    budgets.create_budget(
        AccountId=ACCOUNT,
        Budget={
            "BudgetName": BUDGET_NAME,
            "BudgetType": "COST",
            "TimeUnit": "MONTHLY",
            "BudgetLimit": {"Amount": str(BUDGET_LIMIT_USD), "Unit": "USD"},
            "CostFilters": {"TagKeyValue": [f"user:project${NAME}"]},
        },
        NotificationsWithSubscribers=[
            {
                "Notification": {
                    "NotificationType": kind, "ComparisonOperator": "GREATER_THAN",
                    "Threshold": threshold, "ThresholdType": "PERCENTAGE",
                },
                "Subscribers": subscribers,
            }
            for kind, threshold in (("ACTUAL", 80.0), ("FORECASTED", 100.0))
        ],
    )
    ### END SOLUTION


create_budget()
budget = budgets.describe_budget(AccountId=ACCOUNT, BudgetName=BUDGET_NAME)["Budget"]
print(budget["BudgetName"], budget["BudgetLimit"], budget["TimeUnit"], budget.get("CostFilters"))

# %% check="budget" points=1
_b = budgets.describe_budget(AccountId=ACCOUNT, BudgetName=BUDGET_NAME)["Budget"]
assert float(_b["BudgetLimit"]["Amount"]) == BUDGET_LIMIT_USD and _b["BudgetLimit"]["Unit"] == "USD", f"limit {_b['BudgetLimit']}"
assert (_b["BudgetType"], _b["TimeUnit"]) == ("COST", "MONTHLY"), f"expected a MONTHLY COST budget, saw {_b['BudgetType']} {_b['TimeUnit']}"


def _notifications():
    _ns = budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName=BUDGET_NAME)["Notifications"]
    return sorted((n["NotificationType"], n["ComparisonOperator"], float(n["Threshold"]), n.get("ThresholdType")) for n in _ns)


_want_notes = [("ACTUAL", "GREATER_THAN", 80.0, "PERCENTAGE"), ("FORECASTED", "GREATER_THAN", 100.0, "PERCENTAGE")]
assert _notifications() == _want_notes, f"expected notifications {_want_notes}, saw {_notifications()}"
### BEGIN HIDDEN TESTS
assert _b.get("CostFilters") == {"TagKeyValue": [f"user:project${NAME}"]}, f"cost filter {_b.get('CostFilters')}"
create_budget()  # rerun: no DuplicateRecordException, no duplicated notifications
assert _notifications() == _want_notes, f"after a rerun the notifications are {_notifications()}"
_all = [x["BudgetName"] for x in budgets.describe_budgets(AccountId=ACCOUNT)["Budgets"]]
assert _all.count(BUDGET_NAME) == 1, f"{_all.count(BUDGET_NAME)} budgets named {BUDGET_NAME}"
### END HIDDEN TESTS

# %% [markdown]
# moto stores the budget and its notifications but does not return the subscribers
# (`describe_subscribers_for_notification` is not implemented there) and has no spend to compare:
# `CalculatedSpend` stays 0. On AWS, the budget's actual and forecast spend come from Cost Explorer
# data (refreshed a few times a day), and the notification reaches the topic and the inbox.

# %% [markdown]
# ## Exercise 5: a billing alarm, and its state computed from the metric data
#
# AWS publishes the month-to-date bill as the CloudWatch metric `AWS/Billing` / `EstimatedCharges`
# (dimension `Currency=USD`, and per `ServiceName`), in `us-east-1` only, about every six hours, once
# "Receive Billing Alerts" is enabled in the billing preferences. A **billing alarm** watches it.
#
# Here there is no bill, and nobody may publish into an `AWS/` namespace on real AWS, so the setup
# cell below puts three days of *EstimatedCharges-style* data (hourly, month-to-date, USD) into the
# lab's own namespace `BILLING_NAMESPACE`: a steady $2/hour, a six-hour gap where the billing data was
# late, and from hour 40 a forgotten GPU cluster adding $14/hour. Everything else is the real
# workflow, and the same alarm definition pointed at `AWS/Billing` is a real billing alarm.
#
# **a) `create_billing_alarm()`**: `cw.put_metric_alarm` named `ALARM_NAME` on `BILLING_NAMESPACE` /
# `EstimatedCharges` with dimension `Currency=USD`, statistic `Maximum`, period 6 hours (21600 s), 1
# evaluation period, `GreaterThanThreshold` at 80 % of `BUDGET_LIMIT_USD`, notifying `TOPIC_ARN`
# (`AlarmActions`), tagged with `TAGS`.
#
# **b) `alarm_state(alarm_name, when)`**: moto stores alarms but never evaluates them (their state stays
# at its initial value forever). Compute the state CloudWatch would set at time `when` yourself:
# 1. read the alarm's definition back with `cw.describe_alarms(AlarmNames=[alarm_name])`: namespace,
#    metric, dimensions, `Statistic`, `Period` P, `EvaluationPeriods` N, `DatapointsToAlarm` M (N when
#    absent), `Threshold`, `ComparisonOperator`, `TreatMissingData` (`"missing"` when absent);
# 2. ask CloudWatch for the statistic per period over the N periods before `when`:
#    `cw.get_metric_data(MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": {...}, "Period": P,
#    "Stat": statistic}}], StartTime=when - N·P, EndTime=when)`; each returned timestamp is the start of its
#    period, and a period without data is simply absent;
# 3. each present period *breaches* when `value <op> threshold` holds (`GreaterThanThreshold` is `>`,
#    `GreaterThanOrEqualToThreshold` `>=`, `LessThanThreshold` `<`, `LessThanOrEqualToThreshold` `<=`);
#    a missing period counts as breaching for `TreatMissingData="breaching"`, as not breaching for
#    `"notBreaching"`, and is skipped for `"missing"` and `"ignore"`;
# 4. return `"INSUFFICIENT_DATA"` if every period was skipped, else `"ALARM"` if at least M periods
#    breach, else `"OK"`.
#
# (Real CloudWatch differs in corners this rule leaves out: with `"missing"` it looks further back
# for data, `"ignore"` keeps the previous state, and percentile statistics use `ExtendedStatistic`.)
#
# <details><summary>Hint 1</summary>
#
# ```python
# a = cw.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]
# metric = {"Namespace": a["Namespace"], "MetricName": a["MetricName"], "Dimensions": a["Dimensions"]}
# ```
# </details>
# <details><summary>Hint 2</summary>Map each timestamp to its period index with
# <code>int((ts - start).total_seconds() // period)</code>; the periods with no index are the missing
# ones. A dict of operators: <code>{"GreaterThanThreshold": operator.gt, ...}</code>.</details>

# %%
BILLING_NAMESPACE = f"MLOpsLab/{NAME}/Billing"
# CloudWatch data cannot be deleted, so each execution writes a fresh series, told apart by a
# `LabRun` dimension (the real billing metric has just Currency=USD). The unique dimension also keeps
# this series apart from other runs' in moto, whose get_metric_data (5.2) drops the namespace filter
# when dimensions are given.
BILLING_DIMENSIONS = [{"Name": "Currency", "Value": "USD"}, {"Name": "LabRun", "Value": uuid.uuid4().hex[:12]}]
PERIOD = 6 * 3600
_now = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
NOW = _now - dt.timedelta(hours=_now.hour % 6)  # the last 6-hour boundary (UTC)
T0 = NOW - dt.timedelta(hours=72)
GAP_HOURS = range(24, 30)


def charges(hour: int) -> float:
    """Month-to-date USD at T0 + hour: $250 so far, $2/hour, plus $14/hour from hour 40 on."""
    return 250.0 + 2.0 * hour if hour < 40 else 330.0 + 14.0 * (hour - 40)


def at(hour: int) -> dt.datetime:
    return T0 + dt.timedelta(hours=hour)


_points = [
    {"MetricName": "EstimatedCharges", "Dimensions": BILLING_DIMENSIONS, "Timestamp": at(h), "Value": charges(h), "Unit": "None"}
    for h in range(72)
    if h not in GAP_HOURS
]
for _i in range(0, len(_points), 500):  # put_metric_data takes up to 1000 values per call
    cw.put_metric_data(Namespace=BILLING_NAMESPACE, MetricData=_points[_i : _i + 500])
print(f"{len(_points)} hourly points from {T0:%Y-%m-%d %H:%M} to {at(71):%Y-%m-%d %H:%M} UTC;",
      f"month-to-date ${charges(71):.0f} at the end")

# %% answer="billing_alarm"
import operator


def create_billing_alarm() -> None:
    ### BEGIN SOLUTION
    cw.put_metric_alarm(
        AlarmName=ALARM_NAME,
        AlarmDescription="month-to-date charges above 80% of the project budget",
        Namespace=BILLING_NAMESPACE,
        MetricName="EstimatedCharges",
        Dimensions=BILLING_DIMENSIONS,
        Statistic="Maximum",
        Period=PERIOD,
        EvaluationPeriods=1,
        Threshold=0.8 * BUDGET_LIMIT_USD,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[TOPIC_ARN],
        Tags=tag_list(TAGS),
    )
    ### END SOLUTION


def alarm_state(alarm_name: str, when: dt.datetime) -> str:
    ### BEGIN SOLUTION
    a = cw.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]
    period, n = a["Period"], a["EvaluationPeriods"]
    m = a.get("DatapointsToAlarm") or n
    start = when - dt.timedelta(seconds=n * period)
    metric = {"Namespace": a["Namespace"], "MetricName": a["MetricName"], "Dimensions": a.get("Dimensions", [])}
    result = cw.get_metric_data(
        MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": metric, "Period": period, "Stat": a["Statistic"]}}],
        StartTime=start,
        EndTime=when,
    )["MetricDataResults"][0]
    values = {int((ts - start).total_seconds() // period): v for ts, v in zip(result["Timestamps"], result["Values"])}
    compare = {
        "GreaterThanThreshold": operator.gt,
        "GreaterThanOrEqualToThreshold": operator.ge,
        "LessThanThreshold": operator.lt,
        "LessThanOrEqualToThreshold": operator.le,
    }[a["ComparisonOperator"]]
    missing = a.get("TreatMissingData", "missing")
    verdicts = []
    for i in range(n):
        if i in values:
            verdicts.append(compare(values[i], a["Threshold"]))
        elif missing == "breaching":
            verdicts.append(True)
        elif missing == "notBreaching":
            verdicts.append(False)
    if not verdicts:
        return "INSUFFICIENT_DATA"
    return "ALARM" if sum(verdicts) >= m else "OK"
    ### END SOLUTION


create_billing_alarm()
for hour in (24, 30, 42, 48, 72):
    latest = "no data" if hour - 1 in GAP_HOURS else f"${charges(hour - 1):.0f}"
    print(f"T0+{hour:>2}h  month-to-date {latest:>8}  ->  {alarm_state(ALARM_NAME, at(hour))}")
print("moto's own StateValue (never evaluated):", cw.describe_alarms(AlarmNames=[ALARM_NAME])["MetricAlarms"][0]["StateValue"])

# %% check="billing_alarm" points=1
_alarms = cw.describe_alarms(AlarmNames=[ALARM_NAME])["MetricAlarms"]
assert len(_alarms) == 1, f"alarm {ALARM_NAME} not found"
_a = _alarms[0]
assert (_a["Namespace"], _a["MetricName"]) == (BILLING_NAMESPACE, "EstimatedCharges"), f"metric {_a['Namespace']}/{_a['MetricName']}"
assert abs(_a["Threshold"] - 400.0) < 1e-6, f"threshold should be 80% of {BUDGET_LIMIT_USD} = 400, saw {_a['Threshold']}"
### BEGIN HIDDEN TESTS
assert _a["ComparisonOperator"] == "GreaterThanThreshold", f"comparison {_a['ComparisonOperator']}"
assert (_a["Statistic"], _a["Period"], _a["EvaluationPeriods"]) == ("Maximum", PERIOD, 1), (
    f"expected Maximum over one 21600 s period, saw {_a['Statistic']} {_a['Period']} x{_a['EvaluationPeriods']}"
)
assert _a.get("Dimensions") == BILLING_DIMENSIONS, f"dimensions {_a.get('Dimensions')}, expected {BILLING_DIMENSIONS}"
assert TOPIC_ARN in _a.get("AlarmActions", []), f"the alarm should notify {TOPIC_ARN}, actions {_a.get('AlarmActions')}"
### END HIDDEN TESTS

# %% check="billing_alarm" points=1
def _make_alarm(suffix, **spec):
    _name = f"{NAME}-check-{suffix}"
    base = {"Namespace": BILLING_NAMESPACE, "MetricName": "EstimatedCharges", "Dimensions": BILLING_DIMENSIONS,
            "Statistic": "Maximum", "Period": PERIOD, "EvaluationPeriods": 1, "Threshold": 400.0,
            "ComparisonOperator": "GreaterThanThreshold"}
    cw.put_metric_alarm(AlarmName=_name, **{**base, **spec})
    return _name


_billing = _make_alarm("billing")
for _hour, _want in [(42, "OK"), (48, "ALARM"), (72, "ALARM")]:
    _got = alarm_state(_billing, at(_hour))
    assert _got == _want, f"at T0+{_hour}h (max ${charges(_hour - 1):.0f} vs threshold $400) expected {_want}, saw {_got}"
### BEGIN HIDDEN TESTS
_cases = [
    # the six-hour gap, one period: missing data has no verdict unless told how to treat it
    ("gap", {}, 30, "INSUFFICIENT_DATA"),
    ("gap-b", {"TreatMissingData": "breaching"}, 30, "ALARM"),
    ("gap-nb", {"TreatMissingData": "notBreaching"}, 30, "OK"),
    # 2 of 3 periods, threshold 300: [18,24) max 296 (no), [24,30) missing, [30,36) max 320 (yes)
    ("m2n3-b", {"EvaluationPeriods": 3, "DatapointsToAlarm": 2, "Threshold": 300.0,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "breaching"}, 36, "ALARM"),
    ("m2n3-nb", {"EvaluationPeriods": 3, "DatapointsToAlarm": 2, "Threshold": 300.0,
                 "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"}, 36, "OK"),
    # no gaps: [30,36) 320, [36,42) 344, [42,48) 428 against 330: two breach, three are required
    ("n3", {"EvaluationPeriods": 3, "Threshold": 330.0}, 48, "OK"),
    ("m2n3", {"EvaluationPeriods": 3, "DatapointsToAlarm": 2, "Threshold": 330.0}, 48, "ALARM"),
    # the statistic matters: over [42,48) the minimum is 358, the maximum 428
    ("min", {"Statistic": "Minimum"}, 48, "OK"),
    ("avg", {"Statistic": "Average", "Threshold": 390.0}, 48, "ALARM"),
    # the operator matters
    ("lt", {"Threshold": 300.0, "ComparisonOperator": "LessThanThreshold"}, 24, "ALARM"),
    ("lt-late", {"Threshold": 300.0, "ComparisonOperator": "LessThanThreshold"}, 42, "OK"),
    ("le", {"Threshold": 344.0, "ComparisonOperator": "LessThanOrEqualToThreshold"}, 42, "ALARM"),
    ("ge", {"Threshold": 344.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold"}, 42, "ALARM"),
    ("gt-eq", {"Threshold": 344.0}, 42, "OK"),
]
for _suffix, _spec, _hour, _want in _cases:
    _got = alarm_state(_make_alarm(_suffix, **_spec), at(_hour))
    assert _got == _want, f"alarm {_spec} at T0+{_hour}h: expected {_want}, saw {_got}"
### END HIDDEN TESTS

# %% [markdown]
# ## Tagging strategy, and why a check must look beyond the tagging API
#
# Tags are key/value pairs on resources. A **tagging strategy** fixes a few required keys and their
# allowed values, so that every resource can be attributed (cost reports split by `project` and
# `cost-center` once those are *activated as cost allocation tags*), owned (`owner` is whom to ask
# before deleting) and governed (`env=prod` resources get stricter policies). Tag keys and values are
# **case-sensitive**: `Project` and `project` are two different keys, and cost reports split them.
#
# The lab's standard, as data:

# %%
TAG_RULES = {  # required key -> regular expression the whole value must match
    "project": r"[a-z0-9][a-z0-9-]*",
    "owner": r"[^@\s]+@[^@\s]+",
    "env": r"dev|staging|prod",
    "cost-center": r"cc-\d{4}",
}

# %% [markdown]
# The **Resource Groups Tagging API** lists tagged resources across services in one call, and is the
# right tool to *find* resources by tag. But it only returns resources that have (or once had) tags:
# a bucket created without any tag does not exist for it. A compliance check therefore enumerates
# resources with each service's own describe/list calls and then looks at their tags.
#
# Someone has been busy in the account. Below, besides the lab's buckets, a "legacy" VPC appears with
# a subnet, a debug security group and a notebook instance, and a scratch bucket, each tagged by hand
# (or not at all):

# %%
LEGACY_VPC_NAME = f"{NAME}-legacy"
LEGACY_VPC = ec2.create_vpc(
    CidrBlock="10.99.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tag_list({**TAGS, "Name": LEGACY_VPC_NAME})}]
)["Vpc"]["VpcId"]
_zone = sorted(z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"])[0]
LEGACY_SUBNET = ec2.create_subnet(
    VpcId=LEGACY_VPC, CidrBlock="10.99.0.0/24", AvailabilityZone=_zone,
    TagSpecifications=[{"ResourceType": "subnet", "Tags": tag_list({**TAGS, "Name": f"{LEGACY_VPC_NAME}-a"})}],
)["Subnet"]["SubnetId"]
LEGACY_SUBNET_B = ec2.create_subnet(
    VpcId=LEGACY_VPC, CidrBlock="10.99.1.0/24", AvailabilityZone=_zone,
    TagSpecifications=[{"ResourceType": "subnet", "Tags": tag_list({**TAGS, "owner": "", "Name": f"{LEGACY_VPC_NAME}-b"})}],
)["Subnet"]["SubnetId"]
DEBUG_SG = ec2.create_security_group(
    GroupName=f"{NAME}-debug", Description="temporary debugging access", VpcId=LEGACY_VPC,
    TagSpecifications=[{"ResourceType": "security-group", "Tags": tag_list({**TAGS, "env": "production"})}],
)["GroupId"]
_ami = ssm.get_parameter(Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"]["Value"]
_notebook_tags = {"Project": NAME, "owner": "data-science@example.com", "env": "dev", "cost-center": "cc-4217", "Name": "notebook"}
NOTEBOOK_INSTANCE = ec2.run_instances(
    ImageId=_ami, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=LEGACY_SUBNET,
    TagSpecifications=[{"ResourceType": "instance", "Tags": tag_list(_notebook_tags)}],
)["Instances"][0]["InstanceId"]
OLD_INSTANCE = ec2.run_instances(ImageId=_ami, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=LEGACY_SUBNET)[
    "Instances"
][0]["InstanceId"]
ec2.terminate_instances(InstanceIds=[OLD_INSTANCE])  # terminated instances stay visible for a while; not a cost
SCRATCH_BUCKET = f"{NAME}-scratch"
s3.create_bucket(Bucket=SCRATCH_BUCKET)  # no tags at all
s3.put_bucket_tagging(Bucket=OTHER_BUCKET, Tagging={"TagSet": tag_list({**TAGS, "project": "finance-reporting", "cost-center": "4217"})})

_found = tagging.get_resources(TagFilters=[{"Key": "project", "Values": [NAME]}])["ResourceTagMappingList"]
print("tagging API, project =", NAME, "->", len(_found), "resources")
for _item in _found:
    print("  ", _item["ResourceARN"])
print("the scratch bucket is among them:", any(SCRATCH_BUCKET in i["ResourceARN"] for i in _found))

# %% [markdown]
# ## Exercise 6: a tag compliance report
#
# Write two functions:
#
# **`tag_problems(tags: dict) -> list[str]`**: for each key of `TAG_RULES`, `"missing:<key>"` if the
# key is absent or its value is empty or only whitespace, else `"invalid:<key>"` if the value does not
# match the rule's pattern **in full** (`re.fullmatch`); returned sorted. Keys are case-sensitive.
#
# **`compliance_report(vpc_ids, bucket_prefix) -> dict[str, list[str]]`**: audit the real resources
# in scope and return `{resource_id: tag_problems(its tags)}` for every **non-compliant** resource
# (compliant ones are left out). In scope:
# - each VPC in `vpc_ids` (id `vpc-...`), its subnets (`subnet-...`), its security groups except the
#   one named `default` (`sg-...`), and its instances that are not `terminated` (`i-...`): one
#   `describe_*` call each with the filter `{"Name": "vpc-id", "Values": [...]}`;
# - every S3 bucket whose name starts with `bucket_prefix` (the key is the bucket name):
#   `s3.get_bucket_tagging` raises `ClientError` with code `NoSuchTagSet` for a bucket with no tags.
#
# <details><summary>Hint 1</summary>EC2 returns tags inline (<code>tags_of(vpc)</code>, for VPCs,
# subnets, security groups and instances alike); S3 needs one call per bucket.</details>
# <details><summary>Hint 2</summary><code>if not re.fullmatch(pattern, value)</code>; check
# <code>value.strip()</code> for "missing" first.</details>

# %% answer="tag_compliance"
def tag_problems(tags: dict) -> list[str]:
    ### BEGIN SOLUTION
    problems = []
    for key, pattern in TAG_RULES.items():
        value = tags.get(key)
        if value is None or not value.strip():
            problems.append(f"missing:{key}")
        elif not re.fullmatch(pattern, value):
            problems.append(f"invalid:{key}")
    return sorted(problems)
    ### END SOLUTION


def compliance_report(vpc_ids: list[str], bucket_prefix: str) -> dict[str, list[str]]:
    ### BEGIN SOLUTION
    found: dict[str, dict] = {}
    if vpc_ids:
        in_vpcs = [{"Name": "vpc-id", "Values": list(vpc_ids)}]
        for vpc in ec2.describe_vpcs(VpcIds=list(vpc_ids))["Vpcs"]:
            found[vpc["VpcId"]] = tags_of(vpc)
        for subnet in ec2.describe_subnets(Filters=in_vpcs)["Subnets"]:
            found[subnet["SubnetId"]] = tags_of(subnet)
        for sg in ec2.describe_security_groups(Filters=in_vpcs)["SecurityGroups"]:
            if sg["GroupName"] != "default":
                found[sg["GroupId"]] = tags_of(sg)
        for reservation in ec2.describe_instances(Filters=in_vpcs)["Reservations"]:
            for instance in reservation["Instances"]:
                if instance["State"]["Name"] != "terminated":
                    found[instance["InstanceId"]] = tags_of(instance)
    for bucket in s3.list_buckets()["Buckets"]:
        if bucket["Name"].startswith(bucket_prefix):
            try:
                tag_set = s3.get_bucket_tagging(Bucket=bucket["Name"])["TagSet"]
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "NoSuchTagSet":
                    raise
                tag_set = []
            found[bucket["Name"]] = {t["Key"]: t["Value"] for t in tag_set}
    report = {rid: tag_problems(tags) for rid, tags in found.items()}
    return {rid: problems for rid, problems in report.items() if problems}
    ### END SOLUTION


report = compliance_report([LEGACY_VPC], f"{NAME}-")
for resource_id, problems in sorted(report.items()):
    print(f"{resource_id:<28} {', '.join(problems)}")

# %% check="tag_compliance" points=1
assert tag_problems(TAGS) == [], f"the lab's own TAGS are compliant, tag_problems says {tag_problems(TAGS)}"
assert tag_problems({**TAGS, "env": "production"}) == ["invalid:env"], f"saw {tag_problems({**TAGS, 'env': 'production'})}"
assert tag_problems({}) == sorted(f"missing:{k}" for k in TAG_RULES), f"an empty tag set: saw {tag_problems({})}"
### BEGIN HIDDEN TESTS
for _tags, _want in [
    ({**TAGS, "owner": "   "}, ["missing:owner"]),
    ({**TAGS, "cost-center": "cc-42170"}, ["invalid:cost-center"]),
    ({**TAGS, "cost-center": "xcc-4217"}, ["invalid:cost-center"]),
    ({**TAGS, "env": "Prod"}, ["invalid:env"]),
    ({**TAGS, "owner": "nobody"}, ["invalid:owner"]),
    ({k.upper(): v for k, v in TAGS.items()}, sorted(f"missing:{k}" for k in TAG_RULES)),
    ({**{k: v for k, v in TAGS.items() if k != "project"}, "env": "qa"}, ["invalid:env", "missing:project"]),
    ({**TAGS, "extra": "anything"}, []),
]:
    assert tag_problems(_tags) == _want, f"tag_problems({_tags}) should be {_want}, saw {tag_problems(_tags)}"
### END HIDDEN TESTS

# %% check="tag_compliance" points=1
_report = compliance_report([LEGACY_VPC], f"{NAME}-")
assert SCRATCH_BUCKET in _report, (
    f"the untagged bucket {SCRATCH_BUCKET} is missing from the report (the tagging API cannot see it; list the buckets)"
)
assert _report[SCRATCH_BUCKET] == sorted(f"missing:{k}" for k in TAG_RULES), f"{SCRATCH_BUCKET}: {_report[SCRATCH_BUCKET]}"
assert TRAINING_BUCKET not in _report, f"{TRAINING_BUCKET} is compliant but reported: {_report.get(TRAINING_BUCKET)}"
### BEGIN HIDDEN TESTS
_expected_report = {
    SCRATCH_BUCKET: sorted(f"missing:{k}" for k in TAG_RULES),
    OTHER_BUCKET: ["invalid:cost-center"],
    LEGACY_SUBNET_B: ["missing:owner"],
    DEBUG_SG: ["invalid:env"],
    NOTEBOOK_INSTANCE: ["missing:project"],
}
assert _report == _expected_report, f"expected {_expected_report}, saw {_report}"
# scope: another prefix and no VPCs -> only that bucket; the student's VPC from Exercise 2 is compliant
assert compliance_report([], SCRATCH_BUCKET) == {SCRATCH_BUCKET: _expected_report[SCRATCH_BUCKET]}, "bucket prefix scope"
assert compliance_report([], f"{NAME}-no-such-prefix") == {}, "nothing in scope should give an empty report"
### END HIDDEN TESTS

# %% [markdown]
# **Enforcing it.** A report finds drift after the fact; production setups also stop it at the door:
# the `TagOnCreate` deny shown in the IAM section (no `project` tag, no instance), **Organizations tag
# policies** (allowed keys, values and casing per account), SCPs with the same deny for every account,
# and the **AWS Config** managed rule `required-tags`, which evaluates every resource continuously
# (and can trigger auto-remediation) instead of on demand. And the report is only useful if someone
# owns the answer: route it to the `owner` tag's address, and delete what has no owner after a notice.

# %% [markdown]
# ## Wrap-up and cleanup
#
# **What ran here:** the AWS APIs of EC2 (regions, AZs, VPCs, subnets, security groups, instances),
# IAM, STS, S3, SNS, CloudWatch, Budgets and the Resource Groups Tagging API, emulated by moto with
# the real request/response shapes; policies evaluated by `labkit.iam` (AWS's identity-policy logic,
# unit-tested); alarm states computed from the metric data CloudWatch returned.
#
# **What the live cloud tier adds:** IAM that *enforces*: requests outside the policy get
# `AccessDenied`, the trust policy stops anyone but SageMaker from assuming the role, and
# `simulate_principal_policy` plus Access Analyzer check the whole picture (SCPs, permissions
# boundaries, resource policies, session policies). CloudWatch evaluates the alarm itself and SNS
# delivers to a real inbox; Budgets computes actual and forecast spend from Cost Explorer, and budget
# actions can apply a deny policy or stop instances when a threshold passes. Tag policies and AWS
# Config enforce the tagging standard across an organization, and activated cost allocation tags make
# the bill split by project. And the region choice meets real quotas, real prices
# (`pricing.get_products`) and real latency measurements.
#
# Cleanup: `cleanup()` deletes the budget, alarms, topic, role, policy, user, group, VPCs with their
# subnets, security groups and instances, and buckets. Metric data cannot be deleted in CloudWatch;
# it expires on its own (hourly data after 63 days, on AWS).

# %%
print("removed:", len(cleanup()), "resources")
