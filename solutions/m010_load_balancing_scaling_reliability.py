# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 10 — Load balancing, scaling and reliability
#
# **Where this sits:** Module 4 built the fraud-scoring API, Module 5 shipped it, Module 6 watched it.
# One copy of it on one machine is one failure away from an outage and one traffic peak away from
# timeouts. This lab puts the API behind load balancers, lets an Auto Scaling group decide how many
# copies run, and proves that losing a copy in the middle of traffic costs the clients nothing.
#
# **You will:**
# 1. create **Elastic Load Balancing** for the ML API: an **ALB** (HTTP-aware: health checks on
#    `/health`, request counts per target) and an **NLB** (layer 4: TCP, static addresses), their
#    target groups and listeners, across two Availability Zones;
# 2. create an **Auto Scaling group** for the serving fleet from a launch template, spread over two
#    AZs, registered in both target groups, replacing instances the load balancer finds unhealthy;
# 3. attach **scaling policies**: target tracking on requests per target, a step policy fired by a
#    CloudWatch alarm, and see where CPU, latency and custom metrics fit;
# 4. practise the **high-availability patterns** for real on this machine: two replicas of the model
#    API behind nginx with health checks and retries, one replica killed mid-load, zero failed requests;
# 5. do the **scaling arithmetic** yourself and replay the policies over a recorded day of traffic:
#    peak capacity, instance-hours, and requests that would have found no capacity.
#
# **What runs here, honestly:** the AWS APIs are moto's emulation: every resource is created and
# described for real through boto3, but no EC2 instance boots, no load balancer forwards a packet, and
# no CloudWatch alarm is evaluated. So the behaviour is done for real another way: the load balancing
# and failover with **real nginx and real model-server processes**, and the scaling decisions with
# `labkit.scaling`, a small, unit-tested implementation of the arithmetic AWS documents, replayed
# minute by minute.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")

# %% [markdown]
# ## Setup
# Everything is named from `RUN_ID`. Load balancer and target group names may have at most 32
# characters, so `aws_name` shortens long ones. `cleanup_aws()` deletes whatever an earlier run with
# the same `RUN_ID` left (a rerun starts clean) and runs again in the wrap-up. The cell ends by creating
# the network the lab builds on: a VPC with one subnet in each of two Availability Zones, and a
# security group for the load balancers.

# %% locked=true
import base64
import hashlib
import json
import math
import shutil
import signal
import sys
import textwrap
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("JOBLIB_MULTIPROCESSING", "0")  # no process pools here (and no warning about it)
import boto3
import numpy as np
import pandas as pd
from botocore.config import Config
from sklearn.linear_model import LogisticRegression

from labkit import labenv, scaling
from labkit.canary import send_traffic
from labkit.fraud import feature_frame, time_split
from labkit.net import free_port, http_status, poll
from labkit.nginx import run_nginx
from labkit.process import start_process
from labkit.scaling import StepAdjustment, StepScaling, TargetTracking
from mlops_datasets import load

labenv.configure(DATA_DIR)  # dummy AWS credentials, this environment's tools on PATH
os.environ["AWS_ENDPOINT_URL"] = AWS_ENDPOINT_URL
_cfg = Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30)
ec2 = boto3.client("ec2", endpoint_url=AWS_ENDPOINT_URL, config=_cfg)
elbv2 = boto3.client("elbv2", endpoint_url=AWS_ENDPOINT_URL, config=_cfg)
autoscaling = boto3.client("autoscaling", endpoint_url=AWS_ENDPOINT_URL, config=_cfg)
cloudwatch = boto3.client("cloudwatch", endpoint_url=AWS_ENDPOINT_URL, config=_cfg)
ssm = boto3.client("ssm", endpoint_url=AWS_ENDPOINT_URL, config=_cfg)

NAME = labenv.resource_name("m010", RUN_ID)


def aws_name(suffix: str, limit: int = 32) -> str:
    """`NAME-suffix`, shortened with a hash when longer than ELB's 32-character limit."""
    full = f"{NAME}-{suffix}"
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(NAME.encode()).hexdigest()[:6]
    return f"{NAME[: limit - len(suffix) - 8].rstrip('-')}-{digest}-{suffix}"


ALB_NAME, TG_NAME = aws_name("alb"), aws_name("tg")
NLB_NAME, NLB_TG_NAME = aws_name("nlb"), aws_name("nlb-tg")
LT_NAME, ASG_NAME = f"{NAME}-serving", f"{NAME}-serving"
TT_POLICY, STEP_POLICY = "requests-per-target", "step-out-requests"
ALARM_NAME = f"{NAME}-requests-high"
AZS = ["us-east-1a", "us-east-1b"]
WORK = (Path("m010-work") / NAME).resolve()


def cleanup_aws() -> None:
    """Delete everything this lab creates for NAME, in dependency order; missing pieces are fine."""
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=NAME)["MetricAlarms"]
    if alarms:
        cloudwatch.delete_alarms(AlarmNames=[a["AlarmName"] for a in alarms])
    if autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG_NAME])["AutoScalingGroups"]:
        autoscaling.delete_auto_scaling_group(AutoScalingGroupName=ASG_NAME, ForceDelete=True)
    try:
        ec2.delete_launch_template(LaunchTemplateName=LT_NAME)
    except ec2.exceptions.ClientError:
        pass
    for lb in elbv2.describe_load_balancers()["LoadBalancers"]:
        if lb["LoadBalancerName"] in (ALB_NAME, NLB_NAME):
            for listener in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
                elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
            elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    for tg in elbv2.describe_target_groups()["TargetGroups"]:
        if tg["TargetGroupName"] in (TG_NAME, NLB_TG_NAME):
            elbv2.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    for vpc in ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [NAME]}])["Vpcs"]:
        vpc_filter = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        for sg in ec2.describe_security_groups(Filters=vpc_filter)["SecurityGroups"]:
            if sg["GroupName"] != "default":
                ec2.delete_security_group(GroupId=sg["GroupId"])
        for subnet in ec2.describe_subnets(Filters=vpc_filter)["Subnets"]:
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc["VpcId"])


cleanup_aws()
shutil.rmtree(WORK, ignore_errors=True)
WORK.mkdir(parents=True)

_tags = [{"Key": "Name", "Value": NAME}, {"Key": "lab", "Value": "m010"}]
VPC_ID = ec2.create_vpc(
    CidrBlock="10.42.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": _tags}]
)["Vpc"]["VpcId"]
SUBNETS = [
    ec2.create_subnet(VpcId=VPC_ID, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"]
    for i, az in enumerate(AZS, start=1)
]
SG_ID = ec2.create_security_group(GroupName=f"{NAME}-lb", Description="model API load balancers", VpcId=VPC_ID)[
    "GroupId"
]
ec2.authorize_security_group_ingress(
    GroupId=SG_ID,
    IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": "10.42.0.0/16"}]} for p in (80, 8080)
    ],
)
# The current Amazon Linux AMI, the way production code finds it: AWS's public SSM parameter.
AMI_ID = ssm.get_parameter(Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"]["Value"]
print("VPC", VPC_ID, "| subnets", dict(zip(AZS, SUBNETS)), "| security group", SG_ID, "| AMI", AMI_ID)

# %% [markdown]
# ## Elastic Load Balancing for an ML API
#
# A load balancer gives clients **one stable address** for a fleet whose members come and go, spreads
# requests over them, and stops sending to members that fail their **health checks**. AWS has two
# kinds you will use in front of models:
#
# | | Application Load Balancer (ALB) | Network Load Balancer (NLB) |
# |---|---|---|
# | layer | 7: reads HTTP (paths, headers, status codes) | 4: forwards TCP/UDP/TLS connections |
# | health check | HTTP `GET /health`, expects a status (`200`) | TCP connect, or HTTP on a path |
# | routing | by path/host/header: `/v1/predict` to one target group, `/v2/` to another (canaries, Module 5) | by port only |
# | good for | REST/JSON inference, many small requests, scaling on *requests per target* | gRPC or raw TCP, very high connection counts, static IPs (allow-lists), PrivateLink to other accounts |
# | cross-zone | always on | **off** by default: each AZ's NLB node sends only to its own AZ's targets |
#
# The pieces are the same for both: a **target group** (the fleet: protocol, port, health check), a
# **listener** (port the clients connect to, and an action: *forward to this target group*), and the
# load balancer itself, placed in one subnet per Availability Zone. Two settings matter for
# reliability:
# - the **health check**: what a healthy model server looks like (`/health` answers `200`), how often
#   (`interval`) and how many results in a row flip a target (`healthy`/`unhealthy` thresholds);
# - the **deregistration delay** (connection draining): when a target leaves (scale-in, a deploy),
#   the load balancer stops sending *new* requests but lets in-flight ones finish for this long. The
#   default, 300 s, makes every deploy wait 5 minutes per batch; a model API whose requests take
#   milliseconds needs far less.

# %% [markdown]
# ## Exercise 1: an ALB and an NLB for the model API
#
# Write `create_load_balancers()` that creates, in the two subnets `SUBNETS` of `VPC_ID`, and returns
# `{"alb": arn, "target_group": arn, "nlb": arn, "nlb_target_group": arn}`:
#
# 1. an **internal** application load balancer `ALB_NAME` with security group `SG_ID`;
# 2. target group `TG_NAME`: `HTTP` on port `8080`, target type `instance`, health check `HTTP`
#    `GET /health` every 10 s, timeout 5 s, 2 results in a row to become healthy or unhealthy, success
#    code `200`; and its attribute `deregistration_delay.timeout_seconds` set to `30`;
# 3. a listener on the ALB: `HTTP` port `80`, forwarding to `TG_NAME`;
# 4. an **internal** network load balancer `NLB_NAME` with **cross-zone load balancing** on (load
#    balancer attribute `load_balancing.cross_zone.enabled` = `"true"`);
# 5. target group `NLB_TG_NAME`: `TCP` port `8080`, but with an **HTTP** health check on `/health`
#    (a TCP check only proves the port is open, not that the model loaded);
# 6. a `TCP` listener on port `80` of the NLB forwarding to `NLB_TG_NAME`.
#
# <details><summary>Hint 1</summary><code>elbv2.create_load_balancer(Name=..., Subnets=SUBNETS,
# SecurityGroups=[SG_ID], Scheme="internal", Type="application")["LoadBalancers"][0]["LoadBalancerArn"]</code>;
# <code>Type="network"</code> for the NLB.</details>
# <details><summary>Hint 2</summary><code>elbv2.create_target_group(Name=..., Protocol="HTTP", Port=8080,
# VpcId=VPC_ID, TargetType="instance", HealthCheckProtocol="HTTP", HealthCheckPath="/health",
# HealthCheckIntervalSeconds=10, HealthCheckTimeoutSeconds=5, HealthyThresholdCount=2,
# UnhealthyThresholdCount=2, Matcher={"HttpCode": "200"})</code>; then
# <code>elbv2.modify_target_group_attributes(TargetGroupArn=..., Attributes=[{"Key": ..., "Value": "30"}])</code>
# and <code>elbv2.create_listener(LoadBalancerArn=..., Protocol="HTTP", Port=80,
# DefaultActions=[{"Type": "forward", "TargetGroupArn": ...}])</code>.</details>

# %% answer="load_balancers"
def create_load_balancers() -> dict[str, str]:
    ### BEGIN SOLUTION
    def target_group(name: str, protocol: str) -> str:
        tg = elbv2.create_target_group(
            Name=name, Protocol=protocol, Port=8080, VpcId=VPC_ID, TargetType="instance",
            HealthCheckProtocol="HTTP", HealthCheckPath="/health", HealthCheckIntervalSeconds=10,
            HealthCheckTimeoutSeconds=5, HealthyThresholdCount=2, UnhealthyThresholdCount=2,
            Matcher={"HttpCode": "200"},
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.modify_target_group_attributes(
            TargetGroupArn=tg, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}]
        )
        return tg

    alb = elbv2.create_load_balancer(
        Name=ALB_NAME, Subnets=SUBNETS, SecurityGroups=[SG_ID], Scheme="internal", Type="application"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    tg = target_group(TG_NAME, "HTTP")
    elbv2.create_listener(
        LoadBalancerArn=alb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}]
    )
    nlb = elbv2.create_load_balancer(Name=NLB_NAME, Subnets=SUBNETS, Scheme="internal", Type="network")[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=nlb, Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}]
    )
    nlb_tg = target_group(NLB_TG_NAME, "TCP")
    elbv2.create_listener(
        LoadBalancerArn=nlb, Protocol="TCP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": nlb_tg}]
    )
    return {"alb": alb, "target_group": tg, "nlb": nlb, "nlb_target_group": nlb_tg}
    ### END SOLUTION


LBS = create_load_balancers()
print(json.dumps(LBS, indent=1))

# %% check="load_balancers" points=2
def _lb(name):
    found = [lb for lb in elbv2.describe_load_balancers()["LoadBalancers"] if lb["LoadBalancerName"] == name]
    assert len(found) == 1, f"expected one load balancer named {name}, found {len(found)}"
    return found[0]


def _tg(name):
    found = [tg for tg in elbv2.describe_target_groups()["TargetGroups"] if tg["TargetGroupName"] == name]
    assert len(found) == 1, f"expected one target group named {name}, found {len(found)}"
    return found[0]


_alb, _tg_http = _lb(ALB_NAME), _tg(TG_NAME)
assert _alb["Type"] == "application", f"{ALB_NAME} should be an application load balancer, saw {_alb['Type']}"
_zones = sorted(z["ZoneName"] for z in _alb["AvailabilityZones"])
assert _zones == AZS, f"the ALB should span {AZS}, saw {_zones}"
assert _tg_http["HealthCheckPath"] == "/health", f"health check path: expected /health, saw {_tg_http['HealthCheckPath']}"
assert (_tg_http["Protocol"], _tg_http["Port"]) == ("HTTP", 8080), f"target group: expected HTTP:8080, saw {_tg_http['Protocol']}:{_tg_http['Port']}"
_listeners = elbv2.describe_listeners(LoadBalancerArn=_alb["LoadBalancerArn"])["Listeners"]
assert [(l["Protocol"], l["Port"]) for l in _listeners] == [("HTTP", 80)], f"ALB listeners: {[(l['Protocol'], l['Port']) for l in _listeners]}"
assert _listeners[0]["DefaultActions"][0].get("TargetGroupArn") == _tg_http["TargetGroupArn"], "the ALB listener must forward to TG_NAME"
assert LBS["alb"] == _alb["LoadBalancerArn"] and LBS["target_group"] == _tg_http["TargetGroupArn"], "returned ARNs differ from the described ones"
### BEGIN HIDDEN TESTS
assert _alb["Scheme"] == "internal", f"the ALB should be internal, saw {_alb['Scheme']}"
assert SG_ID in _alb.get("SecurityGroups", []), "the ALB should use SG_ID"
assert (_tg_http["HealthCheckIntervalSeconds"], _tg_http["HealthCheckTimeoutSeconds"]) == (10, 5), (
    f"health check every 10 s with a 5 s timeout; saw {_tg_http['HealthCheckIntervalSeconds']} s / {_tg_http['HealthCheckTimeoutSeconds']} s"
)
assert (_tg_http["HealthyThresholdCount"], _tg_http["UnhealthyThresholdCount"]) == (2, 2), "thresholds should be 2 and 2"
assert _tg_http["Matcher"]["HttpCode"] == "200", f"success code should be 200, saw {_tg_http['Matcher']}"
assert _tg_http["TargetType"] == "instance", "the ASG registers instances: target type instance"
_attrs = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(TargetGroupArn=_tg_http["TargetGroupArn"])["Attributes"]}
assert _attrs.get("deregistration_delay.timeout_seconds") == "30", (
    f"deregistration delay: expected 30 s, saw {_attrs.get('deregistration_delay.timeout_seconds')}"
)
_nlb, _tg_tcp = _lb(NLB_NAME), _tg(NLB_TG_NAME)
assert _nlb["Type"] == "network" and _nlb["Scheme"] == "internal", f"{NLB_NAME}: expected an internal network LB, saw {_nlb['Type']}/{_nlb['Scheme']}"
assert sorted(z["ZoneName"] for z in _nlb["AvailabilityZones"]) == AZS, "the NLB should span both AZs"
_nlb_attrs = {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=_nlb["LoadBalancerArn"])["Attributes"]}
assert _nlb_attrs.get("load_balancing.cross_zone.enabled") == "true", (
    f"cross-zone load balancing on the NLB: expected 'true', saw {_nlb_attrs.get('load_balancing.cross_zone.enabled')}"
)
assert (_tg_tcp["Protocol"], _tg_tcp["Port"]) == ("TCP", 8080), f"NLB target group: expected TCP:8080, saw {_tg_tcp['Protocol']}:{_tg_tcp['Port']}"
assert (_tg_tcp["HealthCheckProtocol"], _tg_tcp.get("HealthCheckPath")) == ("HTTP", "/health"), (
    f"the NLB target group should health-check HTTP /health, saw {_tg_tcp['HealthCheckProtocol']} {_tg_tcp.get('HealthCheckPath')}"
)
_nlb_listeners = elbv2.describe_listeners(LoadBalancerArn=_nlb["LoadBalancerArn"])["Listeners"]
assert [(l["Protocol"], l["Port"]) for l in _nlb_listeners] == [("TCP", 80)], "the NLB needs one TCP:80 listener"
assert _nlb_listeners[0]["DefaultActions"][0].get("TargetGroupArn") == _tg_tcp["TargetGroupArn"], "the NLB listener must forward to NLB_TG_NAME"
assert LBS["nlb"] == _nlb["LoadBalancerArn"] and LBS["nlb_target_group"] == _tg_tcp["TargetGroupArn"], "returned NLB ARNs differ"
### END HIDDEN TESTS

# %% [markdown]
# ## Auto Scaling groups for serving workloads
#
# An **Auto Scaling group** (ASG) keeps a number of identical instances running, the *desired
# capacity*, between a minimum and a maximum. Each instance is made from a **launch template** (AMI,
# instance type, security groups, a start-up script that pulls the model server image and runs it).
# For a serving fleet:
# - spread it over **several AZs** (one subnet each): the ASG balances instances across them and
#   replaces capacity in the surviving AZs if one fails;
# - register it in the load balancer's **target groups**: new instances receive traffic once healthy,
#   leaving ones are drained first;
# - set `HealthCheckType="ELB"`: by default the ASG replaces only instances that EC2 reports as
#   broken (hardware, stopped). A model server that is up but answers `500`, or never loaded its
#   model, passes EC2's check forever. With `ELB`, failing the target group's `/health` check gets
#   the instance **replaced**. `HealthCheckGracePeriod` gives a new instance time to load its model
#   before the first check counts;
# - **instance warmup**: a new instance needs minutes (boot, pull the image, load the model) before
#   it serves. Until then it must not count in the metrics, or the group under-reacts.
#
# **Scaling policies** decide the desired capacity:
#
# | policy | you give | AWS does | use it for |
# |---|---|---|---|
# | target tracking | a metric and its target value | creates the CloudWatch alarms; sets `desired = ceil(current × metric / target)` | the default: CPU, requests per target, a per-instance custom metric |
# | step scaling | your CloudWatch alarm + steps (how much to add for how far past the threshold) | runs the step whose interval holds `metric − threshold` | metrics that do not fall in proportion to capacity (latency, queue age), or guard rails on top of target tracking |
# | scheduled / predictive | a time or a forecast | sets min/desired ahead of time | known peaks (9 a.m. batch, a sale), slow-booting GPU models |
#
# **Which metric?** Target tracking assumes the metric is *per instance* and falls in proportion as
# instances are added: **average CPU** (`ASGAverageCPUUtilization`) for CPU-bound models;
# **`ALBRequestCountPerTarget`** (requests per instance per minute) when each request costs about the
# same, which is what we use here; a **custom metric** you publish (in-flight requests per instance,
# GPU utilisation from the CloudWatch agent, queue depth per worker). **Latency** does not fall in
# proportion to capacity (it stays flat until an instance saturates, then explodes), so it is a poor
# target-tracking metric: put it on a **step** policy's alarm as a safety net instead.

# %% [markdown]
# ## Exercise 2: the serving Auto Scaling group and its scaling policies
#
# Write `create_serving_group(lbs)` (`lbs` is what Exercise 1 returned) that creates:
#
# 1. launch template `LT_NAME`: image `AMI_ID`, instance type `INSTANCE_TYPE`, security group `SG_ID`,
#    user data `USER_DATA` (base64-encoded, as the API requires);
# 2. the Auto Scaling group `ASG_NAME` from that template (version `$Latest`): min `MIN_SIZE`, max
#    `MAX_SIZE`, desired `MIN_SIZE`, in **both** subnets (`VPCZoneIdentifier`, comma-separated),
#    registered in **both** target groups, with `HealthCheckType="ELB"`, a grace period of 120 s and
#    `DefaultInstanceWarmup` of `WARMUP_MIN` minutes (in seconds);
# 3. a **target tracking** policy `TT_POLICY` on the predefined metric `ALBRequestCountPerTarget`
#    with target value `TARGET_RPM`. Its `ResourceLabel` tells AWS which ALB and target group to count:
#    `app/<alb-name>/<alb-id>/targetgroup/<tg-name>/<tg-id>`, i.e. the end of the ALB's ARN (after
#    `loadbalancer/`) + `/` + the end of the target group's ARN (from `targetgroup/`);
# 4. a **step scaling** policy `STEP_POLICY`: `PercentChangeInCapacity`, `MinAdjustmentMagnitude=1`,
#    steps relative to the alarm threshold: `[0, 40)` → `+20` %, `[40, ∞)` → `+50` %;
# 5. the CloudWatch alarm `ALARM_NAME` that fires it: namespace `AWS/ApplicationELB`, metric
#    `RequestCountPerTarget`, dimension `TargetGroup` = `targetgroup/<tg-name>/<tg-id>`, statistic
#    `Sum` over 60 s periods, `>= STEP_THRESHOLD` for 2 periods in a row, alarm action: the step
#    policy's ARN.
#
# Return `{"asg": ASG_NAME, "target_tracking": <policy ARN>, "step": <policy ARN>, "alarm": ALARM_NAME}`.
# Note: AWS's `put_scaling_policy` answers with the `PolicyARN`; moto's answer omits it, so read it
# back with `autoscaling.describe_policies(AutoScalingGroupName=..., PolicyNames=[...])` (works on
# both).
#
# <details><summary>Hint 1</summary><code>ec2.create_launch_template(LaunchTemplateName=LT_NAME,
# LaunchTemplateData={"ImageId": ..., "InstanceType": ..., "SecurityGroupIds": [SG_ID],
# "UserData": base64.b64encode(USER_DATA.encode()).decode()})</code>, then
# <code>autoscaling.create_auto_scaling_group(AutoScalingGroupName=ASG_NAME, LaunchTemplate={"LaunchTemplateName":
# LT_NAME, "Version": "$Latest"}, MinSize=..., MaxSize=..., DesiredCapacity=..., VPCZoneIdentifier=",".join(SUBNETS),
# TargetGroupARNs=[...], HealthCheckType="ELB", HealthCheckGracePeriod=120, DefaultInstanceWarmup=...)</code>.</details>
# <details><summary>Hint 2</summary><code>alb_arn.split(":loadbalancer/")[1]</code> gives
# <code>app/name/id</code>; <code>tg_arn.split(":")[-1]</code> gives <code>targetgroup/name/id</code>.
# Policies: <code>PolicyType="TargetTrackingScaling", TargetTrackingConfiguration={"PredefinedMetricSpecification":
# {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label}, "TargetValue": ...}</code> and
# <code>PolicyType="StepScaling", AdjustmentType=..., MinAdjustmentMagnitude=1, StepAdjustments=[{"MetricIntervalLowerBound": 0,
# "MetricIntervalUpperBound": 40, "ScalingAdjustment": 20}, ...]</code>.</details>
# <details><summary>Hint 3</summary><code>cloudwatch.put_metric_alarm(AlarmName=..., Namespace=..., MetricName=...,
# Dimensions=[{"Name": "TargetGroup", "Value": ...}], Statistic="Sum", Period=60, EvaluationPeriods=2,
# Threshold=STEP_THRESHOLD, ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=[step_arn])</code>.</details>

# %% locked=true
INSTANCE_TYPE = "c6i.large"
INSTANCE_CAPACITY_RPM = 400  # requests a minute one instance serves within the latency SLO (from a load test)
MIN_SIZE, MAX_SIZE = 2, 12  # two instances: one per AZ, and survive losing one
WARMUP_MIN = 4  # boot + pull the image + load the model + pass 2 health checks
TARGET_RPM = 300  # a first guess: 75% of an instance's capacity (Exercise 5 checks it)
STEP_THRESHOLD = 320  # 80% of capacity
USER_DATA = textwrap.dedent("""\
    #!/bin/bash
    # pull the fraud API image (Module 5) and serve it on 8080; /health answers once the model is loaded
    docker run -d --restart=always -p 8080:8080 -e MODEL_URI=models:/fraud@champion fraud-api:latest
""")

# %% answer="serving_group"
def create_serving_group(lbs: dict[str, str]) -> dict[str, str]:
    ### BEGIN SOLUTION
    ec2.create_launch_template(
        LaunchTemplateName=LT_NAME,
        LaunchTemplateData={
            "ImageId": AMI_ID,
            "InstanceType": INSTANCE_TYPE,
            "SecurityGroupIds": [SG_ID],
            "UserData": base64.b64encode(USER_DATA.encode()).decode(),
        },
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=ASG_NAME,
        LaunchTemplate={"LaunchTemplateName": LT_NAME, "Version": "$Latest"},
        MinSize=MIN_SIZE, MaxSize=MAX_SIZE, DesiredCapacity=MIN_SIZE,
        VPCZoneIdentifier=",".join(SUBNETS),
        TargetGroupARNs=[lbs["target_group"], lbs["nlb_target_group"]],
        HealthCheckType="ELB", HealthCheckGracePeriod=120, DefaultInstanceWarmup=WARMUP_MIN * 60,
    )
    tg_suffix = lbs["target_group"].split(":")[-1]
    label = lbs["alb"].split(":loadbalancer/")[1] + "/" + tg_suffix
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=ASG_NAME, PolicyName=TT_POLICY, PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label},
            "TargetValue": float(TARGET_RPM),
        },
    )
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=ASG_NAME, PolicyName=STEP_POLICY, PolicyType="StepScaling",
        AdjustmentType="PercentChangeInCapacity", MinAdjustmentMagnitude=1, MetricAggregationType="Average",
        StepAdjustments=[
            {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 40, "ScalingAdjustment": 20},
            {"MetricIntervalLowerBound": 40, "ScalingAdjustment": 50},
        ],
    )
    arns = {
        p["PolicyName"]: p["PolicyARN"]
        for p in autoscaling.describe_policies(AutoScalingGroupName=ASG_NAME, PolicyNames=[TT_POLICY, STEP_POLICY])["ScalingPolicies"]
    }
    cloudwatch.put_metric_alarm(
        AlarmName=ALARM_NAME, Namespace="AWS/ApplicationELB", MetricName="RequestCountPerTarget",
        Dimensions=[{"Name": "TargetGroup", "Value": tg_suffix}], Statistic="Sum", Period=60,
        EvaluationPeriods=2, DatapointsToAlarm=2, Threshold=float(STEP_THRESHOLD),
        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
        AlarmActions=[arns[STEP_POLICY]],
    )
    return {"asg": ASG_NAME, "target_tracking": arns[TT_POLICY], "step": arns[STEP_POLICY], "alarm": ALARM_NAME}
    ### END SOLUTION


GROUP = create_serving_group(LBS)
print(json.dumps(GROUP, indent=1))

# %% check="serving_group" points=2
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG_NAME])["AutoScalingGroups"]
    assert len(_groups) == 1, f"no Auto Scaling group named {ASG_NAME}"
    _g = _groups[0]
    assert sorted(_g["AvailabilityZones"]) == AZS, f"the group should span {AZS}, saw {_g['AvailabilityZones']}"
    assert (_g["MinSize"], _g["MaxSize"], _g["DesiredCapacity"]) == (MIN_SIZE, MAX_SIZE, MIN_SIZE), (
        f"min/max/desired: expected {(MIN_SIZE, MAX_SIZE, MIN_SIZE)}, saw {(_g['MinSize'], _g['MaxSize'], _g['DesiredCapacity'])}"
    )
    _tg_arns = {tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"] if tg["TargetGroupName"] in (TG_NAME, NLB_TG_NAME)}
    assert set(_g["TargetGroupARNs"]) == _tg_arns and len(_tg_arns) == 2, f"the group should be in both target groups, saw {_g['TargetGroupARNs']}"
    _policies = {p["PolicyName"]: p for p in autoscaling.describe_policies(AutoScalingGroupName=ASG_NAME)["ScalingPolicies"]}
    assert _policies.get(TT_POLICY, {}).get("PolicyType") == "TargetTrackingScaling", f"policies: {sorted(_policies)}; {TT_POLICY} should be target tracking"
    assert _policies.get(STEP_POLICY, {}).get("PolicyType") == "StepScaling", f"{STEP_POLICY} should be a step scaling policy"
    ### BEGIN HIDDEN TESTS
    assert _g["HealthCheckType"] == "ELB", (
        f"HealthCheckType is {_g['HealthCheckType']}: with EC2 checks, an instance whose API answers 500 is never replaced"
    )
    assert _g["HealthCheckGracePeriod"] == 120, f"grace period: expected 120 s, saw {_g['HealthCheckGracePeriod']}"
    assert set(_g["VPCZoneIdentifier"].split(",")) == set(SUBNETS), f"VPCZoneIdentifier should list both subnets: {_g['VPCZoneIdentifier']}"
    _lt = ec2.describe_launch_template_versions(LaunchTemplateName=LT_NAME)["LaunchTemplateVersions"][-1]["LaunchTemplateData"]
    assert (_lt.get("ImageId"), _lt.get("InstanceType")) == (AMI_ID, INSTANCE_TYPE), f"launch template: {_lt.get('ImageId')}, {_lt.get('InstanceType')}"
    assert SG_ID in _lt.get("SecurityGroupIds", []), "launch template should use SG_ID"
    assert base64.b64decode(_lt.get("UserData", "")).decode() == USER_DATA, "the launch template's user data should be USER_DATA, base64-encoded"
    _tt = _policies[TT_POLICY]["TargetTrackingConfiguration"]
    _spec = _tt.get("PredefinedMetricSpecification", {})
    _alb_arn = next(lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"] if lb["LoadBalancerName"] == ALB_NAME)
    _tg_arn = next(tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"] if tg["TargetGroupName"] == TG_NAME)
    _label = _alb_arn.split(":loadbalancer/")[1] + "/" + _tg_arn.split(":")[-1]
    assert _spec.get("PredefinedMetricType") == "ALBRequestCountPerTarget", f"tracked metric: {_spec.get('PredefinedMetricType')}"
    assert _spec.get("ResourceLabel") == _label, f"ResourceLabel: expected {_label}, saw {_spec.get('ResourceLabel')}"
    assert _tt["TargetValue"] == TARGET_RPM, f"target value: expected {TARGET_RPM}, saw {_tt['TargetValue']}"
    _step = _policies[STEP_POLICY]
    assert _step.get("AdjustmentType") == "PercentChangeInCapacity", f"adjustment type: {_step.get('AdjustmentType')}"
    assert _step.get("MinAdjustmentMagnitude") == 1, "MinAdjustmentMagnitude should be 1"
    _steps = sorted((s.get("MetricIntervalLowerBound"), s.get("MetricIntervalUpperBound"), s["ScalingAdjustment"]) for s in _step["StepAdjustments"])
    assert _steps == [(0.0, 40.0, 20), (40.0, None, 50)], (
        f"steps (lower, upper, adjustment): expected [(0, 40, 20), (40, None, 50)] relative to the threshold, saw {_steps}"
    )
    _alarms = cloudwatch.describe_alarms(AlarmNames=[ALARM_NAME])["MetricAlarms"]
    assert len(_alarms) == 1, f"no CloudWatch alarm {ALARM_NAME}"
    _a = _alarms[0]
    assert _a["AlarmActions"] == [_step["PolicyARN"]], f"the alarm should fire the step policy; its actions: {_a['AlarmActions']}"
    assert (_a["Namespace"], _a["MetricName"]) == ("AWS/ApplicationELB", "RequestCountPerTarget"), f"alarm metric: {_a['Namespace']}/{_a['MetricName']}"
    assert {d["Name"]: d["Value"] for d in _a["Dimensions"]}.get("TargetGroup") == _tg_arn.split(":")[-1], f"alarm dimensions: {_a['Dimensions']}"
    assert (_a.get("Statistic"), _a["Period"], _a["EvaluationPeriods"]) == ("Sum", 60, 2), "Sum over 60 s, 2 periods"
    assert (_a["Threshold"], _a["ComparisonOperator"]) == (STEP_THRESHOLD, "GreaterThanOrEqualToThreshold"), (
        f"alarm: expected >= {STEP_THRESHOLD}, saw {_a['ComparisonOperator']} {_a['Threshold']}"
    )
    assert GROUP["step"] == _step["PolicyARN"] and GROUP["target_tracking"] == _policies[TT_POLICY]["PolicyARN"], "returned ARNs differ"
    _registered = {t["Target"]["Id"] for t in elbv2.describe_target_health(TargetGroupArn=_tg_arn)["TargetHealthDescriptions"]}
    assert {i["InstanceId"] for i in _g["Instances"]} <= _registered and len(_registered) >= MIN_SIZE, (
        f"the group's instances should be registered in the ALB target group: {_registered}"
    )
    ### END HIDDEN TESTS

# %% [markdown]
# What moto did with it: the group "launched" `MIN_SIZE` instances from the template and registered
# them in both target groups, which report them healthy. On AWS the instances would boot, and only
# pass the health check once the API answers on `/health`. (moto places all of them in the first AZ;
# EC2 Auto Scaling balances them across the group's AZs and rebalances after an AZ recovers.)
#
# Target tracking created its own CloudWatch alarms on AWS (`TargetTracking-<group>-AlarmHigh-...`:
# 3 one-minute datapoints above target to scale out; `AlarmLow`: 15 below to scale in, deliberately
# slow). **Latency as a safety net**: the cell below adds a second step policy that adds 2 instances
# when the ALB's p90 `TargetResponseTime` is at or above 0.25 s for 3 minutes, whatever the request
# count says, because a model that got slower per request (a bigger model version, cold caches) needs
# capacity that request counts do not show.

# %%
LATENCY_POLICY, LATENCY_ALARM = "step-out-latency", f"{NAME}-latency-p90-high"
if "LBS" in globals() and autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG_NAME])["AutoScalingGroups"]:
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=ASG_NAME, PolicyName=LATENCY_POLICY, PolicyType="StepScaling",
        AdjustmentType="ChangeInCapacity", StepAdjustments=[{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 2}],
    )
    _arn = autoscaling.describe_policies(AutoScalingGroupName=ASG_NAME, PolicyNames=[LATENCY_POLICY])["ScalingPolicies"][0]["PolicyARN"]
    cloudwatch.put_metric_alarm(
        AlarmName=LATENCY_ALARM, Namespace="AWS/ApplicationELB", MetricName="TargetResponseTime",
        Dimensions=[{"Name": "LoadBalancer", "Value": LBS["alb"].split(":loadbalancer/")[1]}],
        ExtendedStatistic="p90", Period=60, EvaluationPeriods=3, Threshold=0.25,
        ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=[_arn],
    )
    for _p in autoscaling.describe_policies(AutoScalingGroupName=ASG_NAME)["ScalingPolicies"]:
        print(f"{_p['PolicyName']:22} {_p['PolicyType']:22}", _p.get("TargetTrackingConfiguration", {}).get("TargetValue", _p.get("StepAdjustments")))
    for _a in cloudwatch.describe_alarms(AlarmNamePrefix=NAME)["MetricAlarms"]:
        print(f"alarm {_a['AlarmName']}: {_a['MetricName']} {_a.get('Statistic') or _a.get('ExtendedStatistic')} "
              f"{_a['ComparisonOperator']} {_a['Threshold']} for {_a['EvaluationPeriods']} min -> {_a['AlarmActions'][0].split('policyName/')[-1]}")
else:
    print("the Auto Scaling group from Exercise 2 does not exist yet: skipped")

# %% [markdown]
# ## High availability patterns
#
# What keeps a model API up when parts of it fail:
# - **redundancy across failure domains**: at least two instances, in different AZs, behind a load
#   balancer that is itself in both AZs. *Static stability* goes further: run enough in each AZ that
#   losing a whole AZ still leaves the peak's capacity, without waiting for new instances to boot
#   (the cell below does the arithmetic);
# - **health checks** take failed members out of rotation. *Active* checks probe `/health` on a
#   timer (ALB, NLB, NGINX Plus, Kubernetes readiness probes). *Passive* checks watch real traffic:
#   a connection refused or a `502` marks the member down for a while. Open-source nginx, used below,
#   has **only passive checks** (`max_fails`, `fail_timeout`);
# - **retries on another member**: a request that failed on a dying member is sent again to a
#   healthy one, bounded (a retry budget, at most one more try), and only when the request is safe to
#   repeat. Scoring a transaction is: it has no side effects (an API that *books* a payment is not);
# - **draining**: a member leaving on purpose (scale-in, deploy) first stops getting new requests and
#   finishes the ones it has (the deregistration delay of Exercise 1; uvicorn's graceful shutdown on
#   SIGTERM);
# - **replacement**: the ASG replaces members that fail the load balancer's health check (Exercise 2).

# %%
_peak_rpm = 3000
_needed = math.ceil(_peak_rpm / INSTANCE_CAPACITY_RPM)
print(f"peak {_peak_rpm} requests/min at {INSTANCE_CAPACITY_RPM} per instance needs {_needed} instances")
for _n_az in (2, 3):
    _per_az = math.ceil(_needed / (_n_az - 1))  # the surviving AZs must carry the whole peak
    print(f"  statically stable over {_n_az} AZs: {_per_az} per AZ = {_per_az * _n_az} instances "
          f"({_per_az * _n_az / _needed - 1:.0%} more than the peak needs)")

# %% [markdown]
# ## Failover for real: two replicas behind nginx
#
# The load balancing above was configuration; here it runs. Two **replicas** of the fraud-scoring API
# run as separate processes, each started with `labkit.process.start_process` (`labkit.serving` runs
# an app on a thread of this kernel, and a thread cannot die like a crashing server). A replica is
# the Module 4 contract trimmed to `GET /health` and `POST /predict`, written on Python's standard
# HTTP server: it starts in a tenth of a second, which matters when the drills start six of them on
# a small machine; in production it would be the Module 4 FastAPI app under uvicorn. Each replica
# names itself in an `X-Replica` header, and waits 20 ms per request, standing in for a heavier
# model, so that requests are *in flight* when one dies.
#
# `failover_drill(config, modes, n_requests, kill=...)` starts the replicas, starts nginx with the
# server blocks your `config` function returns (`labkit.nginx.run_nginx`), sends `n_requests` scoring
# requests from `THREADS` concurrent clients (`labkit.canary.send_traffic`, which tallies answers by
# `X-Replica` and counts `5xx` and unanswered requests as errors), and, with `kill=i`, **kills replica
# i with SIGKILL** once a third of the requests are done, like an OOM kill. It stops every process it
# started when it returns, and also when something fails.

# %% locked=true
tx = load("fraud")["transactions"]
_train, _valid = time_split(tx)
_X, _y = feature_frame(_train), _train["isFraud"].to_numpy()
_mean, _std = _X.mean(), _X.std().replace(0, 1.0)
_clf = LogisticRegression(max_iter=300).fit((_X - _mean) / _std, _y)
APP_DIR = WORK / "app"
APP_DIR.mkdir(parents=True, exist_ok=True)
(APP_DIR / "model.json").write_text(json.dumps({
    "features": list(_X.columns), "coef": _clf.coef_[0].tolist(), "intercept": float(_clf.intercept_[0]),
    "mean": _mean.tolist(), "std": _std.tolist(),
}))
(APP_DIR / "replica.py").write_text(textwrap.dedent('''
    """One replica of the fraud-scoring API: GET /health, POST /predict {features} -> fraud_probability."""
    import json
    import math
    import os
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from pathlib import Path

    NAME = os.environ.get("REPLICA_NAME", "replica")
    FAIL_MODE = os.environ.get("FAIL_MODE", "")  # "crash": dies mid-request; "drain": answers 503
    INFERENCE_S = float(os.environ.get("INFERENCE_MS", "20")) / 1000
    MODEL = json.loads(Path(__file__).with_name("model.json").read_text())


    def score(features: dict) -> float:
        z = MODEL["intercept"] + sum(
            c * (float(features.get(f, m)) - m) / s
            for f, c, m, s in zip(MODEL["features"], MODEL["coef"], MODEL["mean"], MODEL["std"])
        )
        return 1 / (1 + math.exp(-z))


    class Handler(BaseHTTPRequestHandler):
        def reply(self, status: int, body: dict, headers: dict | None = None) -> None:
            data = json.dumps({**body, "replica": NAME}).encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", "Content-Length": str(len(data)),
                               "X-Replica": NAME, **(headers or {})}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path != "/health":
                return self.reply(404, {"error": "not found"})
            self.reply(503 if FAIL_MODE == "drain" else 200, {"status": FAIL_MODE or "ok"})

        def do_POST(self) -> None:
            if self.path != "/predict":
                return self.reply(404, {"error": "not found"})
            try:
                features = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            except ValueError:
                return self.reply(422, {"error": "the body must be a JSON object of features"})
            if FAIL_MODE == "crash":
                os._exit(1)  # the process dies with this request in flight (OOM kill, segfault)
            if FAIL_MODE == "drain":
                return self.reply(503, {"error": "draining"}, {"Retry-After": "1"})
            time.sleep(INFERENCE_S)  # stands in for a heavier model
            self.reply(200, {"fraud_probability": score(features)})

        def log_message(self, *args) -> None:
            pass


    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128


    if __name__ == "__main__":
        Server(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''))
PAYLOADS = [{k: float(v) for k, v in row.items()} for row in feature_frame(_valid).to_dict("records")]
N_REQUESTS = 300 if FAST else 1200
THREADS = 4
LOG_FORMAT = "$msec|$status|$upstream_addr|$upstream_status|$request_time"


@dataclass
class Drill:
    ports: list[int]
    names: list[str]
    stats: dict = field(default_factory=dict)  # {replica name or "nginx": {"requests": n, "errors": e}}
    killed: int | None = None  # index of the replica killed
    kill_time: float | None = None  # time.time() of the kill
    log: list[dict] = field(default_factory=list)  # the access log in LOG_FORMAT, parsed
    error_log: str = ""

    @property
    def total(self) -> int:
        return sum(s["requests"] for s in self.stats.values())

    @property
    def errors(self) -> int:
        return sum(s["errors"] for s in self.stats.values())


def read_upstream_log(path: Path) -> list[dict]:
    """Parse LOG_FORMAT lines: every upstream tried for a request, in order, and its statuses."""
    entries = []
    for line in path.read_text().splitlines() if path.exists() else []:
        parts = line.split("|")
        if len(parts) != 5:
            continue
        entries.append({"t": float(parts[0]), "status": int(parts[1]), "tried": parts[2].split(", "),
                        "upstream_status": parts[3].split(", "), "seconds": float(parts[4])})
    return entries


def _start_replica(name: str, port: int, mode: str, log_dir: Path):
    return start_process(
        name, [sys.executable, "replica.py"], cwd=APP_DIR, log_dir=log_dir,
        env={"PORT": str(port), "REPLICA_NAME": name, "FAIL_MODE": mode, "INFERENCE_MS": "20"},
        ready=lambda: http_status(f"http://127.0.0.1:{port}/health") in (200, 503), timeout=60,
    )


def failover_drill(config, modes, n_requests, kill=None, threads=THREADS, tag="drill", names=None) -> Drill:
    """Replicas (one per mode: "", "crash" or "drain") behind nginx configured by `config(ports, listen_port,
    log_path)`; send n_requests; with kill=i, SIGKILL replica i after a third of them. Stops everything."""
    work = WORK / tag
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    names = names or [f"replica-{chr(97 + i)}" for i in range(len(modes))]
    drill = Drill(ports=[free_port() for _ in modes], names=names)
    started, proxy = [], None
    try:
        with ThreadPoolExecutor(len(modes)) as pool:  # start the replicas side by side
            futures = [pool.submit(_start_replica, n, p, m, work) for n, p, m in zip(names, drill.ports, modes)]
        started = [f.result() for f in futures if f.exception() is None]
        failures = [f.exception() for f in futures if f.exception() is not None]
        if failures:
            raise failures[0]
        listen = free_port()
        log_path = work / "upstream.log"
        proxy = run_nginx(config(drill.ports, listen, log_path), work / "nginx", listen)
        url = f"http://127.0.0.1:{listen}/predict"
        batches = [PAYLOADS[i:i + 10] for i in range(0, n_requests, 10)]
        with ThreadPoolExecutor(threads) as pool:
            futures = [pool.submit(send_traffic, url, batch, "X-Replica") for batch in batches]
            if kill is not None:
                poll(lambda: sum(f.done() for f in futures) >= len(futures) / 3, 120, "a third of the requests")
                started[kill].proc.send_signal(signal.SIGKILL)
                started[kill].proc.wait(10)
                drill.killed, drill.kill_time = kill, time.time()
            for f in futures:
                for version, s in f.result().items():
                    into = drill.stats.setdefault(version, {"requests": 0, "errors": 0})
                    into["requests"] += s["requests"]
                    into["errors"] += s["errors"]
    finally:
        if proxy is not None:
            proxy.stop()
        for process in started:
            process.stop()
    drill.log = read_upstream_log(log_path)
    drill.error_log = (work / "nginx" / "error.log").read_text()
    return drill

# %% [markdown]
# ## Exercise 3: an nginx upstream that survives a dead replica
#
# Write `lb_config(ports, listen_port, log_path)` returning nginx server blocks (the text
# `labkit.nginx.run_nginx` wraps in `http { }`) that:
#
# 1. define the access log format: `log_format upstreams '<LOG_FORMAT>';` (the string `LOG_FORMAT`
#    above: time, status, **every upstream tried** and their statuses, duration);
# 2. put every port in `ports` into an `upstream model_api { ... }` block as `server 127.0.0.1:<port>`
#    with a **passive health check**: `max_fails=1 fail_timeout=30s` (one failure takes the replica out
#    of rotation for 30 s);
# 3. run a `server` listening on `127.0.0.1:<listen_port>` that writes `access_log <log_path> upstreams;`
#    and proxies `location /` to `http://model_api` with:
#    - `proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;` — try the next
#      replica when a connection fails or times out, or the replica answers 502/503/504. By default
#      nginx does **not** retry a `POST` once it has been sent to a replica (it may have had side
#      effects); `non_idempotent` allows it, which is right for a side-effect-free scoring call;
#    - `proxy_next_upstream_tries 2;` (one retry at most: retries multiply load when everything is slow);
#    - `proxy_connect_timeout 1s;` and `proxy_read_timeout 5s;` (fail fast rather than hang).
#
# The lab then runs the drill: two healthy replicas, `N_REQUESTS` requests, replica a killed mid-load.
# The checks read the drill's numbers, the access log and nginx's error log.
#
# <details><summary>Hint 1</summary>nginx directives end with <code>;</code> and blocks use braces;
# in an f-string, write literal braces as <code>{{</code> and <code>}}</code>. The
# <code>log_format</code> line goes first, at the top level of what you return (it is in nginx's
# <code>http</code> context).</details>
# <details><summary>Hint 2</summary>
#
# ```
# upstream model_api {
#     server 127.0.0.1:PORT1 max_fails=1 fail_timeout=30s;
#     server 127.0.0.1:PORT2 max_fails=1 fail_timeout=30s;
# }
# server {
#     listen 127.0.0.1:LISTEN;
#     access_log LOG_PATH upstreams;
#     location / {
#         proxy_pass http://model_api;
#         ...
#     }
# }
# ```
# </details>

# %% answer="lb_config"
def lb_config(ports: list[int], listen_port: int, log_path: Path) -> str:
    ### BEGIN SOLUTION
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;" for p in ports)
    return f"""
log_format upstreams '{LOG_FORMAT}';
upstream model_api {{
{servers}
}}
server {{
    listen 127.0.0.1:{listen_port};
    access_log {log_path} upstreams;
    location / {{
        proxy_pass http://model_api;
        proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;
        proxy_next_upstream_tries 2;
        proxy_connect_timeout 1s;
        proxy_read_timeout 5s;
    }}
}}
"""
    ### END SOLUTION


drill = failover_drill(lb_config, modes=["", ""], n_requests=N_REQUESTS, kill=0)
print(f"{drill.total} requests, {drill.errors} failed; answered by: {drill.stats}")

# %% check="lb_config" points=3
assert drill.total == N_REQUESTS, f"expected {N_REQUESTS} requests, the drill saw {drill.total}: {drill.stats}"
assert drill.errors == 0, f"expected no failed requests while replica-a died, saw {drill.errors}: {drill.stats}"
assert {"replica-a", "replica-b"} <= set(drill.stats), f"both replicas should have answered (a before its death): {drill.stats}"
_victim = f"127.0.0.1:{drill.ports[drill.killed]}"
assert _victim in drill.error_log, f"nginx's error log should record the failed upstream {_victim}; it says:\n{drill.error_log[-600:]}"
### BEGIN HIDDEN TESTS
assert len(drill.log) == N_REQUESTS, f"the access log ({LOG_FORMAT}) should have {N_REQUESTS} lines, saw {len(drill.log)}"
_survivor = f"127.0.0.1:{drill.ports[1 - drill.killed]}"
# 0.25 s after the kill (answers replica a sent just before dying may be logged a moment later)
_after = [e for e in drill.log if e["t"] > drill.kill_time + 0.25]
assert len(_after) >= N_REQUESTS // 4, f"only {len(_after)} requests were logged after the kill"
_stray = [e for e in _after if e["tried"][-1] != _survivor or e["status"] != 200]
assert not _stray, f"after the kill every request must end with 200 on the survivor; e.g. {_stray[:2]}"
_retried = [e for e in drill.log if len(e["tried"]) > 1]
assert _retried, "no request was retried on the other replica: the access log shows no upstream failure"
_victim_tries = sum(_victim in e["tried"] for e in drill.log if e["t"] > drill.kill_time)
assert _victim_tries <= THREADS + 2, (
    f"{_victim_tries} requests after the kill still tried the dead replica first: the passive health check "
    "(max_fails=1 fail_timeout=30s) should take it out of rotation after its first failure"
)
# A replica that dies while it holds the request (a POST): only `non_idempotent` lets nginx retry it.
_crash = failover_drill(lb_config, modes=["crash", ""], n_requests=20, threads=1, tag="drill-crash", names=["crashy", "healthy"])
assert _crash.errors == 0, (
    f"a replica dying mid-request made {_crash.errors} of 20 POSTs fail ({_crash.stats}): nginx does not retry a POST "
    "it already sent unless proxy_next_upstream includes non_idempotent"
)
# A replica that is shutting down answers 503: retry it elsewhere (http_503).
_drain = failover_drill(lb_config, modes=["drain", ""], n_requests=20, threads=1, tag="drill-drain", names=["draining", "healthy"])
assert _drain.errors == 0, f"a draining replica's 503s reached the client ({_drain.stats}): add http_503 to proxy_next_upstream"
assert _drain.stats.get("healthy", {}).get("requests") == 20, f"all 20 requests should end on the healthy replica: {_drain.stats}"
### END HIDDEN TESTS

# %% [markdown]
# What happened, from nginx's own records. nginx found out that replica a was gone only by sending it
# requests (passive checking): the in-flight ones failed and were **retried** on replica b, and the
# first failure took a **out of rotation** for `fail_timeout`. An ALB does the same job with *active*
# checks (it probes `/health` every 10 s and stops routing after 2 failures), so it can notice a dead
# target before any client request hits it; but a request whose target dies mid-request comes back
# to the client as a 502, not replayed elsewhere, which is why clients (or a service mesh) carry their
# own bounded retries.

# %%
if "drill" in globals():
    _fmt = lambda e: f"{e['status']} via {' -> '.join(e['tried'])} ({' -> '.join(e['upstream_status'])})"
    _retried = [e for e in drill.log if len(e["tried"]) > 1]
    print(f"{len(_retried)} requests were retried on the other replica, e.g.:", *[_fmt(e) for e in _retried[:3]], sep="\n  ")
    print("nginx error log:", *[l.split(" ", 2)[-1][:170] for l in drill.error_log.splitlines()[:4]], sep="\n  ")

# %% [markdown]
# ## The scaling arithmetic
#
# Target tracking's rule is one line. With `current` instances each seeing `metric` (requests per
# target per minute) and a `target` value, the capacity that would bring the metric back to the
# target is `current × metric / target`: the same total load spread over more (or fewer) instances.
# It is rounded **up** (rounding down would leave the metric above the target, that is, every instance
# busier than planned), then clamped to `[min, max]`.

# %% [markdown]
# ## Exercise 4: target tracking by hand
#
# Write `desired_capacity(current, metric, target, min_size, max_size)`. Examples: 4 instances at 450
# requests/min each with target 300 → 6; 4 at 310 → 5 (4.13, rounded up); 10 at 50 with min 2 → 2.
# The metric arrives as a float (load ÷ instances), so guard against float noise: 7 instances sharing
# 900 requests/min with target 300 need exactly 3, but `7 * (900 / 7) / 300` is `3.0000000000000004`.
#
# <details><summary>Hint</summary><code>math.ceil</code>, then <code>max(min_size, min(max_size, ...))</code>.
# For the float noise: <code>round(x, 9)</code> before the ceiling.</details>

# %% answer="arithmetic"
def desired_capacity(current: int, metric: float, target: float, min_size: int, max_size: int) -> int:
    ### BEGIN SOLUTION
    return max(min_size, min(max_size, math.ceil(round(current * metric / target, 9))))
    ### END SOLUTION

# %% check="arithmetic" points=1
for _args, _want in [((4, 450, 300, 1, 10), 6), ((10, 50, 300, 2, 12), 2), ((3, 300, 300, 1, 10), 3)]:
    _got = desired_capacity(*_args)
    assert _got == _want, f"desired_capacity{_args}: expected {_want}, saw {_got}"
### BEGIN HIDDEN TESTS
_got = desired_capacity(4, 310, 300, 1, 10)
assert _got == 5, f"4 instances at 310 with target 300 need 4.13 -> 5 instances (round up), saw {_got}"
assert desired_capacity(6, 900, 300, 2, 12) == 12 and desired_capacity(6, 900, 300, 2, 20) == 18, "clamp to max_size"
assert desired_capacity(7, 900 / 7, 300, 1, 10) == 3, (
    "7 instances at 900/7 requests each, target 300: exactly 3 instances; 7 * (900 / 7) / 300 is "
    "3.0000000000000004 in floats, and its ceiling 4 is float noise (round to 9 decimals first)"
)
_rng = np.random.default_rng(10)
for _ in range(200):
    _c, _m, _t = int(_rng.integers(1, 20)), float(_rng.uniform(1, 900)), float(_rng.choice([100, 250, 300, 480]))
    assert desired_capacity(_c, _m, _t, 2, 12) == scaling.tracking_desired(_c, _m, _t, 2, 12), (
        f"desired_capacity({_c}, {_m:.2f}, {_t}, 2, 12) = {desired_capacity(_c, _m, _t, 2, 12)}, "
        f"expected {scaling.tracking_desired(_c, _m, _t, 2, 12)}"
    )
### END HIDDEN TESTS

# %% [markdown]
# ## Replaying a recorded day
#
# Whether a policy is any good shows over a day of traffic, and AWS will not replay one for you. The
# load curve here is derived from the course's fraud transactions: their arrival times folded onto one
# 24-hour day (182 days of timestamps, so each minute of the day is an average), smoothed over 15
# minutes and scaled to a 3,000 requests/min peak, then saved as the "recording" (CSV, requests per
# minute). On AWS you would export the ALB's `RequestCount` for a real day from CloudWatch
# (`get_metric_data`, 1-minute periods).
#
# `labkit.scaling.simulate(curve, policies, min_size=..., max_size=..., warmup=...)` replays it minute
# by minute: instances launched at minute *t* serve from *t + warmup*; the metric is load ÷ instances
# in service; target tracking uses the rule you just wrote, a step policy its alarm and steps; instances
# still warming do not count as current capacity when a policy scales out again; scale-in waits until
# nothing is warming. The timeline it returns has the in-service and desired capacity per minute, the
# `peak`, the `instance_hours` paid, and `unserved(capacity)`: requests beyond what the in-service
# instances could serve, which in production are timeouts and 5xx.
#
# The first guess from Exercise 2, target 300 (75% of an instance's 400 requests/min):

# %% locked=true
CURVE_CSV = scaling.write_curve(
    WORK / "alb-requests-per-minute.csv",
    scaling.curve_from_timestamps(tx["TransactionDT"].to_numpy(), smooth=15, peak_rpm=3000),
)
CURVE = scaling.read_curve(CURVE_CSV)
TT_SETTINGS = {"scale_out_periods": 3, "scale_in_periods": 15}  # EC2 Auto Scaling's target tracking alarms
SIM = {"min_size": MIN_SIZE, "max_size": MAX_SIZE, "warmup": WARMUP_MIN}

first_guess = scaling.simulate(CURVE, [TargetTracking(TARGET_RPM, **TT_SETTINGS)], **SIM)
_hourly = first_guess.to_frame().groupby(lambda m: m // 60).agg(
    requests_per_min=("load", "mean"), in_service_max=("in_service", "max"), desired_max=("desired", "max")
).round(0).astype(int)
print(_hourly.T.to_string())
print(f"target {TARGET_RPM}: peak {first_guess.peak} instances, {first_guess.instance_hours:.1f} instance-hours, "
      f"{first_guess.unserved(INSTANCE_CAPACITY_RPM):.0f} requests unserved in "
      f"{first_guess.overloaded_minutes(INSTANCE_CAPACITY_RPM)} minutes")

# %% [markdown]
# ## Exercise 5: right-size the policies on the recorded day
#
# The target is **headroom**: while new instances warm up (`WARMUP_MIN` minutes), the ones in service
# must absorb the growth. Too high a target and the morning ramp outruns the fleet; too low and you
# pay for idle instances all day.
#
# Write `plan_capacity(curve)` returning a dict with:
# - `"target"`: the **largest** value in `TARGET_CANDIDATES` whose target-tracking replay (the policy
#   `TargetTracking(target, **TT_SETTINGS)`, replayed with `**SIM`) leaves **no request unserved**
#   at `INSTANCE_CAPACITY_RPM`;
# - `"target_tracking"`: that replay's timeline;
# - `"step"`: the replay, with the same `**SIM`, of the step policy of Exercise 2 plus its scale-in
#   partner, as `labkit.scaling.StepScaling` objects:
#   - scale-out: threshold `STEP_THRESHOLD`, `GreaterThanOrEqualToThreshold` for 2 periods,
#     `PercentChangeInCapacity`, `min_adjustment_magnitude=1`, steps `[0, 40)` → `+20`, `[40, ∞)` → `+50`;
#   - scale-in: threshold `STEP_IN_THRESHOLD`, `LessThanOrEqualToThreshold` for 15 periods,
#     `ChangeInCapacity`, one step `(-∞, 0]` → `-1`.
#
# Step bounds are **relative to the threshold**, as on AWS: `StepAdjustment(lower=0, upper=40,
# adjustment=20)`; `None` is unbounded.
#
# <details><summary>Hint 1</summary>Loop over <code>sorted(TARGET_CANDIDATES)</code>, replay each with
# <code>scaling.simulate(curve, [TargetTracking(t, **TT_SETTINGS)], **SIM)</code>, keep the last one
# whose <code>.unserved(INSTANCE_CAPACITY_RPM) == 0</code>.</details>
# <details><summary>Hint 2</summary><code>StepScaling(STEP_THRESHOLD, (StepAdjustment(0, 40, 20),
# StepAdjustment(40, None, 50)), comparison="GreaterThanOrEqualToThreshold",
# adjustment_type="PercentChangeInCapacity", evaluation_periods=2, min_adjustment_magnitude=1)</code>;
# both step policies go in one list to <code>scaling.simulate</code>.</details>

# %% locked=true
TARGET_CANDIDATES = list(range(200, 401, 20))
STEP_IN_THRESHOLD = 160  # 40% of capacity

# %% answer="plan"
def plan_capacity(curve: np.ndarray) -> dict:
    ### BEGIN SOLUTION
    best = None
    for target in sorted(TARGET_CANDIDATES):
        timeline = scaling.simulate(curve, [TargetTracking(target, **TT_SETTINGS)], **SIM)
        if timeline.unserved(INSTANCE_CAPACITY_RPM) == 0:
            best = (target, timeline)
    step_out = StepScaling(
        STEP_THRESHOLD, (StepAdjustment(0, 40, 20), StepAdjustment(40, None, 50)),
        comparison="GreaterThanOrEqualToThreshold", adjustment_type="PercentChangeInCapacity",
        evaluation_periods=2, min_adjustment_magnitude=1,
    )
    step_in = StepScaling(
        STEP_IN_THRESHOLD, (StepAdjustment(None, 0, -1),), comparison="LessThanOrEqualToThreshold",
        adjustment_type="ChangeInCapacity", evaluation_periods=15,
    )
    return {
        "target": best[0],
        "target_tracking": best[1],
        "step": scaling.simulate(curve, [step_out, step_in], **SIM),
    }
    ### END SOLUTION


plan = plan_capacity(CURVE)
print(pd.DataFrame({
    name: {"peak": tl.peak, "instance_hours": round(tl.instance_hours, 1), "scaling_changes": len(tl.changes),
           "unserved_requests": tl.unserved(INSTANCE_CAPACITY_RPM)}
    for name, tl in (("first guess (300)", first_guess), (f"target tracking ({plan['target']})", plan["target_tracking"]),
                     ("step", plan["step"]))
}).to_string())

# %% check="plan" points=2
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    assert plan["target"] in TARGET_CANDIDATES, f"target {plan['target']} is not one of {TARGET_CANDIDATES}"
    assert isinstance(plan["target_tracking"], scaling.Timeline) and isinstance(plan["step"], scaling.Timeline), "timelines expected"
    assert plan["target_tracking"].unserved(INSTANCE_CAPACITY_RPM) == 0, "the chosen target leaves requests unserved"
    assert len(plan["target_tracking"].load) == len(CURVE), "replay the whole recorded curve"
    ### BEGIN HIDDEN TESTS
    _ref = {t: scaling.simulate(CURVE, [TargetTracking(t, **TT_SETTINGS)], **SIM) for t in TARGET_CANDIDATES}
    _safe = [t for t in TARGET_CANDIDATES if _ref[t].unserved(INSTANCE_CAPACITY_RPM) == 0]
    assert plan["target"] == max(_safe), (
        f"the largest target with no unserved requests is {max(_safe)}, saw {plan['target']} "
        f"({'it overloads the fleet' if plan['target'] not in _safe else 'a lower target pays for idle capacity'})"
    )
    _tt_ref, _tt = _ref[max(_safe)], plan["target_tracking"]
    assert _tt.peak == _tt_ref.peak, f"target tracking peak: expected {_tt_ref.peak}, saw {_tt.peak}"
    assert abs(_tt.instance_hours - _tt_ref.instance_hours) <= 0.01 * _tt_ref.instance_hours, (
        f"target tracking instance-hours: expected {_tt_ref.instance_hours:.1f} (±1%), saw {_tt.instance_hours:.1f}"
    )
    _step_ref = scaling.simulate(CURVE, [
        StepScaling(STEP_THRESHOLD, (StepAdjustment(0, 40, 20), StepAdjustment(40, None, 50)),
                    adjustment_type="PercentChangeInCapacity", evaluation_periods=2, min_adjustment_magnitude=1),
        StepScaling(STEP_IN_THRESHOLD, (StepAdjustment(None, 0, -1),), comparison="LessThanOrEqualToThreshold",
                    evaluation_periods=15),
    ], **SIM)
    _st = plan["step"]
    assert _st.peak == _step_ref.peak, f"step policy peak: expected {_step_ref.peak}, saw {_st.peak} (steps are relative to the threshold)"
    assert abs(_st.instance_hours - _step_ref.instance_hours) <= 0.01 * _step_ref.instance_hours, (
        f"step policy instance-hours: expected {_step_ref.instance_hours:.1f} (±1%), saw {_st.instance_hours:.1f}"
    )
    assert _st.unserved(INSTANCE_CAPACITY_RPM) == _step_ref.unserved(INSTANCE_CAPACITY_RPM), "step replay: unserved requests differ"
    ### END HIDDEN TESTS

# %% [markdown]
# Reading the table: the first guess (300) is the cheapest, but for a minute of the morning ramp the
# fleet had less capacity than the traffic (those requests time out or get 5xx). The right-sized target
# tracking serves every request, adjusting in many small steps; the step policy also serves everything
# with a handful of large changes, and pays for more instance-hours (its big steps overshoot and its
# scale-in is slow by design). Capacity planning ends by writing the answer back into the policy, which
# `put_scaling_policy` does by overwriting the policy of the same name:

# %%
if "plan" in globals() and "GROUP" in globals():
    _p = autoscaling.describe_policies(AutoScalingGroupName=ASG_NAME, PolicyNames=[TT_POLICY])["ScalingPolicies"][0]
    _cfg_tt = {**_p["TargetTrackingConfiguration"], "TargetValue": float(plan["target"])}
    autoscaling.put_scaling_policy(AutoScalingGroupName=ASG_NAME, PolicyName=TT_POLICY,
                                   PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=_cfg_tt)
    _now = autoscaling.describe_policies(AutoScalingGroupName=ASG_NAME, PolicyNames=[TT_POLICY])["ScalingPolicies"][0]
    print(TT_POLICY, "target value now", _now["TargetTrackingConfiguration"]["TargetValue"])
else:
    print("Exercises 2 and 5 are not done yet: nothing to update")

# %% [markdown]
# ## Wrap-up and cleanup
#
# **What ran here:** boto3 created and described real API objects (load balancers, target groups,
# listeners, launch template, Auto Scaling group, policies, alarms) on moto; real nginx balanced real
# HTTP requests over real model-server processes and absorbed a SIGKILL with retries and passive
# health checks; the scaling arithmetic ran in `labkit.scaling` over a load curve derived from the
# course data.
#
# **What the live cloud tier adds:** instances that actually boot from the launch template and pass
# or fail the ALB's *active* health checks; CloudWatch evaluating the alarms every minute and the ASG
# acting on them (with its own scaling activity history to compare with your replay); AZ balancing
# and rebalancing; connection draining observed during a scale-in; real latency percentiles for the
# latency alarm; predictive scaling learning the daily curve; and the same patterns one level up in
# Kubernetes (readiness probes, PodDisruptionBudgets, the Horizontal Pod Autoscaler, whose rule is the
# same `ceil(current × metric / target)`) and in SageMaker endpoints (target tracking on
# `SageMakerVariantInvocationsPerInstance` with scale-in cooldowns).
#
# Cleanup: stop any process still running, delete every AWS resource named from `RUN_ID`, and the
# work folder.

# %% locked=true
from labkit.process import stop_all

stop_all()
cleanup_aws()
shutil.rmtree(WORK, ignore_errors=True)
print("stopped local processes; deleted", ALB_NAME, NLB_NAME, ASG_NAME, "and the VPC", NAME)
