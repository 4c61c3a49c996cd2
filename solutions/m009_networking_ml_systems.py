# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 9 — Networking for ML systems
#
# **Where this sits:** Module 4 built the fraud-scoring API, Module 1 keeps its models in S3 and
# Module 3 its online features in a database. In AWS all three live inside a **VPC**, and the network
# decides who can talk to the model: the internet should reach the load balancer and nothing else;
# the API should reach its database, S3 and the container registry, without a path in from outside.
# Module 10 puts a real load balancer and an Auto Scaling group into the network you build here, and
# Module 11 writes the same network as Terraform.
#
# **You will:**
# 1. **design a VPC for an ML workload**: an address plan, two Availability Zones, public and private
#    subnets, an internet gateway, a NAT gateway per AZ, and route tables that make a subnet public
#    or private;
# 2. write **security groups** that reference each other (internet → ALB → model API → database);
# 3. add a **network ACL** to the private subnets: stateless rules, rule-number order, ephemeral
#    ports, and an explicit deny security groups cannot express;
# 4. give the private subnets **VPC endpoints**: a gateway endpoint for S3 (model artifacts) and
#    **PrivateLink** interface endpoints for ECR (container images);
# 5. find, with a reachability analyzer, the misconfiguration that exposes a model API to the
#    internet, and fix it without breaking the service.
#
# **What runs here, honestly:** the EC2/VPC API is moto, on this machine. It stores every VPC,
# subnet, route, gateway, security group and ACL exactly as AWS describes them, but it forwards no
# packets. So the question "can this packet get through?" is answered by `labkit/netcheck.py`, a
# small reachability analyzer (with unit tests) that evaluates the described state with the VPC's
# rules: longest-prefix routing, stateful security groups, stateless ACLs in rule order. It does what
# AWS's **Reachability Analyzer** (one path, hop by hop) and **Network Access Analyzer** ("what can the
# internet reach?") do from the same configuration. Every check below describes your resources from
# the API and runs the analyzer on them.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")

# %% [markdown]
# ## Setup
# Everything this lab creates is tagged `lab=<NAME>` and named from `RUN_ID`; a rerun first deletes
# what an earlier run left (`netcheck.delete_vpc` removes a VPC and its contents, dependencies first).
# The clients fail fast: a wrong call shows up as an error, not as minutes of retries.

# %%
import copy
import json
import time

import boto3
from botocore.config import Config

from labkit import labenv, netcheck

labenv.configure(DATA_DIR)  # dummy AWS credentials for the emulator, fail-fast clients
NAME = labenv.resource_name("m009", RUN_ID)
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
_cfg = Config(region_name=REGION, retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)
ec2 = boto3.client("ec2", endpoint_url=AWS_ENDPOINT_URL, config=_cfg)
s3 = boto3.client("s3", endpoint_url=AWS_ENDPOINT_URL, config=_cfg)
ssm = boto3.client("ssm", endpoint_url=AWS_ENDPOINT_URL, config=_cfg)
BUCKET = f"models-{NAME}"
t_start = time.monotonic()


def tags(resource_type: str, name: str) -> list[dict]:
    """TagSpecifications for a create call: a Name and the lab tag cleanup looks for."""
    return [{"ResourceType": resource_type, "Tags": [{"Key": "Name", "Value": name}, {"Key": "lab", "Value": NAME}]}]


def cleanup() -> int:
    """Delete every VPC and Elastic IP this lab (this RUN_ID) created; returns how many VPCs went."""
    lab_filter = [{"Name": "tag:lab", "Values": [NAME]}]
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs(Filters=lab_filter)["Vpcs"]]
    for vpc_id in vpcs:
        netcheck.delete_vpc(ec2, vpc_id)
    for address in ec2.describe_addresses(Filters=lab_filter)["Addresses"]:
        if "AssociationId" in address:
            ec2.disassociate_address(AssociationId=address["AssociationId"])
        ec2.release_address(AllocationId=address["AllocationId"])
    return len(vpcs)


print("removed", cleanup(), "VPC(s) left by an earlier run")
try:
    s3.create_bucket(Bucket=BUCKET)
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
s3.put_object(Bucket=BUCKET, Key="fraud/champion/model.pkl", Body=b"model bytes")
AZS = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
AMI = ssm.get_parameter(Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"][
    "Value"
]
print("lab:", NAME, "| region:", REGION, "| AZs:", AZS, "| AMI:", AMI, "| bucket:", BUCKET)

# %% [markdown]
# ## VPC design for ML workloads
#
# A VPC is a private address range in one region; subnets slice it per Availability Zone. The
# decisions that matter, and what this lab picks:
#
# | decision | here | why |
# |---|---|---|
# | the CIDR | `10.42.0.0/16` (65,536 addresses) | never overlap with other VPCs or the office network you may peer with later (Transit Gateway, VPN); too small is the expensive mistake, because a VPC's primary CIDR cannot change |
# | Availability Zones | two | one AZ failing must not take the model down; the load balancer needs subnets in at least two AZs |
# | public subnets (`/24`) | load balancer nodes, NAT gateways | a subnet is *public* only because its route table sends `0.0.0.0/0` to an internet gateway. Nothing else goes here |
# | private subnets (`/20`, 4,091 usable each) | model API, training jobs, databases | no route from the internet. ML workloads are address-hungry: every ECS task (awsvpc mode), EKS pod (VPC CNI), SageMaker job or Lambda in a VPC takes its own IP |
# | egress | one NAT gateway **per AZ** | private hosts still need to reach the internet (package mirrors, an external feature API); a NAT gateway in each AZ keeps one AZ's outage from cutting the other's egress and avoids cross-AZ data charges |
# | AWS services | VPC endpoints | S3 model artifacts and ECR images should not go through the NAT gateway at $0.045/GB |
#
# Data (RDS, ElastiCache) often gets a third tier of subnets; here it shares the private subnets,
# and security groups and ACLs separate it. `netcheck.plan_subnets` carves the CIDR:

# %%
VPC_CIDR = "10.42.0.0/16"
PLAN = netcheck.plan_subnets(VPC_CIDR, AZS, {"public": 24, "private": 20})
SANDBOX_CIDR = "10.42.64.0/24"  # a data-science notebook subnet, used in exercise 3
for (tier, az), cidr in PLAN.items():
    usable = 2 ** (32 - int(cidr.split("/")[1])) - 5  # AWS reserves 5 addresses in every subnet
    print(f"{tier:<8} {az:<12} {cidr:<16} {usable:>5} usable addresses")

# %% [markdown]
# ## Exercise 1: build the VPC
#
# Write `build_vpc()` that creates, tagging everything with `TagSpecifications=tags(<type>, <name>)`:
# - the VPC (`VPC_CIDR`, resource type `"vpc"`, name `NAME`) with **DNS support and DNS hostnames**
#   enabled (`modify_vpc_attribute`, one attribute per call; interface endpoints need them later);
# - an internet gateway, attached to the VPC;
# - for each AZ in `AZS`: a public subnet `PLAN[("public", az)]` and a private subnet
#   `PLAN[("private", az)]` in that AZ; public subnets map public IPs on launch
#   (`modify_subnet_attribute(MapPublicIpOnLaunch={"Value": True})`), private ones do not;
# - one **public route table** with `0.0.0.0/0 → internet gateway`, associated with both public subnets;
# - for each AZ a **NAT gateway in that AZ's public subnet** (it needs an Elastic IP:
#   `allocate_address(Domain="vpc", TagSpecifications=tags("elastic-ip", ...))`), and a **private
#   route table** with `0.0.0.0/0 → that NAT gateway`, associated with that AZ's private subnet.
#
# Return a dict: `{"vpc": id, "igw": id, "public_rt": id, "public": [subnet ids in AZS order],
# "private": [...], "nat": [...], "private_rt": [...]}`. The new VPC's own *main* route table stays
# untouched: a subnet without an explicit association falls back to it.
#
# <details><summary>Hint 1</summary>Resource types for tags: <code>"vpc"</code>, <code>"internet-gateway"</code>,
# <code>"subnet"</code>, <code>"route-table"</code>, <code>"natgateway"</code>, <code>"elastic-ip"</code>.</details>
# <details><summary>Hint 2</summary><code>ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0",
# NatGatewayId=nat)</code>; for the internet gateway the argument is <code>GatewayId=igw</code>.
# In a real account, wait for the NAT gateway with <code>ec2.get_waiter("nat_gateway_available")</code>
# (it takes a minute or two) before routing to it.</details>
# <details><summary>Hint 3</summary>The NAT gateway goes in the <b>public</b> subnet: it forwards the
# private subnets' traffic to the internet gateway, so its own subnet must route there.</details>

# %% answer="build_vpc"
def build_vpc() -> dict:
    ### BEGIN SOLUTION
    vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=tags("vpc", NAME))["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    igw = ec2.create_internet_gateway(TagSpecifications=tags("internet-gateway", f"{NAME}-igw"))
    igw_id = igw["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    public_rt = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=tags("route-table", f"{NAME}-public"))
    public_rt_id = public_rt["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    net = {"vpc": vpc_id, "igw": igw_id, "public_rt": public_rt_id, "public": [], "private": [], "nat": [],
           "private_rt": []}
    for az in AZS:
        subnets = {}
        for tier in ("public", "private"):
            subnet = ec2.create_subnet(
                VpcId=vpc_id, CidrBlock=PLAN[(tier, az)], AvailabilityZone=az,
                TagSpecifications=tags("subnet", f"{NAME}-{tier}-{az}"),
            )
            subnets[tier] = subnet["Subnet"]["SubnetId"]
            net[tier].append(subnets[tier])
        ec2.modify_subnet_attribute(SubnetId=subnets["public"], MapPublicIpOnLaunch={"Value": True})
        ec2.associate_route_table(RouteTableId=public_rt_id, SubnetId=subnets["public"])
        eip = ec2.allocate_address(Domain="vpc", TagSpecifications=tags("elastic-ip", f"{NAME}-nat-{az}"))
        nat = ec2.create_nat_gateway(
            SubnetId=subnets["public"], AllocationId=eip["AllocationId"],
            TagSpecifications=tags("natgateway", f"{NAME}-nat-{az}"),
        )["NatGateway"]["NatGatewayId"]
        rt = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=tags("route-table", f"{NAME}-private-{az}"))
        rt_id = rt["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rt_id, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
        ec2.associate_route_table(RouteTableId=rt_id, SubnetId=subnets["private"])
        net["nat"].append(nat)
        net["private_rt"].append(rt_id)
    return net
    ### END SOLUTION


net = build_vpc()
print(json.dumps(net, indent=1))

# %% [markdown]
# The analyzer needs a source for a path, as AWS's Reachability Analyzer does (an instance or a
# network interface). The check creates a throw-away network interface in each subnet, asks the
# analyzer whether it has egress through a NAT gateway, and deletes it again.

# %% check="build_vpc" points=2
def _probe_findings(subnets, question):
    """Run `question(state, eni)` from a temporary ENI in each subnet (default security group)."""
    probes = [ec2.create_network_interface(SubnetId=s, Description="probe")["NetworkInterface"]["NetworkInterfaceId"]
              for s in subnets]
    try:
        _st = netcheck.describe_vpc_state(ec2, net["vpc"])
        return [question(_st, p) for p in probes]
    finally:
        for p in probes:
            ec2.delete_network_interface(NetworkInterfaceId=p)


_state = netcheck.describe_vpc_state(ec2, net["vpc"])
assert _state["vpc"]["CidrBlock"] == VPC_CIDR, f"expected VPC CIDR {VPC_CIDR}, saw {_state['vpc']['CidrBlock']}"
assert len(net["public"]) == 2 and len(net["private"]) == 2, f"expected 2 public + 2 private subnets, saw {net}"
_igws = netcheck.attached_igws(_state)
assert _igws, "no internet gateway is attached to the VPC"
for _s in net["public"]:
    _r = netcheck.route_for(_state, netcheck.route_table_for(_state, _s), "1.1.1.1")
    assert _r and netcheck.route_target(_r) in _igws, f"public subnet {_s}: 0.0.0.0/0 should go to {_igws}, saw {_r}"
for _f in _probe_findings(net["private"], netcheck.has_egress_via_nat):
    assert _f.reachable, f"a private subnet has no working egress through a NAT gateway:\n{_f}"
### BEGIN HIDDEN TESTS
_sub = {s["SubnetId"]: s for s in _state["subnets"]}
for _tier in ("public", "private"):
    _azs = [_sub[s]["AvailabilityZone"] for s in net[_tier]]
    assert _azs == AZS, f"{_tier} subnets should be in {AZS} (one each), saw {_azs}"
    _cidrs = [_sub[s]["CidrBlock"] for s in net[_tier]]
    assert _cidrs == [PLAN[(_tier, az)] for az in AZS], f"{_tier} subnet CIDRs {_cidrs} do not follow PLAN"
for _s in net["private"]:
    assert not _sub[_s]["MapPublicIpOnLaunch"], f"private subnet {_s} must not map public IPs on launch"
    _r = netcheck.route_for(_state, netcheck.route_table_for(_state, _s), "1.1.1.1")
    assert _r and netcheck.route_target(_r).startswith("nat-"), f"private subnet {_s}: 0.0.0.0/0 should go to a NAT gateway, saw {_r}"
for _s in net["public"]:
    assert _sub[_s]["MapPublicIpOnLaunch"], f"public subnet {_s} should map public IPs on launch"
_nats = {n["NatGatewayId"]: n for n in _state["nat_gateways"]}
for _s in net["private"]:
    _nat = _nats[netcheck.route_target(netcheck.route_for(_state, netcheck.route_table_for(_state, _s), "1.1.1.1"))]
    assert _nat["SubnetId"] in net["public"], f"NAT gateway {_nat['NatGatewayId']} sits in {_nat['SubnetId']}, not a public subnet"
    assert _sub[_nat["SubnetId"]]["AvailabilityZone"] == _sub[_s]["AvailabilityZone"], (
        f"private subnet {_s} routes to a NAT gateway in another AZ: one AZ outage would cut both"
    )
for _attr, _key in (("enableDnsHostnames", "EnableDnsHostnames"), ("enableDnsSupport", "EnableDnsSupport")):
    assert ec2.describe_vpc_attribute(VpcId=net["vpc"], Attribute=_attr)[_key]["Value"], f"{_attr} should be on"
for _f in _probe_findings(net["public"], netcheck.has_egress_via_nat):
    assert not _f.reachable and _f.blocked_by[0].kind == "route-table", f"public subnets should route to the IGW:\n{_f}"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: security groups that reference each other
#
# Security groups are stateful allow-lists on network interfaces: a reply to an allowed connection
# always gets back, and there is no deny rule. A rule's source can be a CIDR **or another security
# group**: "whatever carries the ALB's group". That is how tiers should trust each other: by
# identity, not by address (addresses change with every scaling event; an open CIDR admits every
# future workload in it).
#
# Write `create_security_groups()` that creates three groups in the VPC (with `tags("security-group", ...)`)
# and returns `{"alb": id, "api": id, "db": id}`:
# - `alb`: TCP 443 from anywhere, IPv4 **and** IPv6 (`0.0.0.0/0` and `::/0`) — the load balancer is
#   the one public door;
# - `api` (the model API): TCP 8080 **only from the `alb` group** (a `UserIdGroupPairs` rule);
# - `db` (the feature database): TCP 5432 **only from the `api` group**.
#
# Leave the egress rules at their default (all outbound traffic). After your cell, a setup cell
# deploys the tiers: two ALB network interfaces in the public subnets (with public addresses; a real
# ALB is exactly that, one ENI per AZ), one model-API instance per private subnet, and a network
# interface for the database in the first private subnet (where RDS would put its ENI).
#
# <details><summary>Hint 1</summary><code>ec2.authorize_security_group_ingress(GroupId=g, IpPermissions=[{"IpProtocol":
# "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": alb}]}])</code>.</details>
# <details><summary>Hint 2</summary>IPv6 ranges go in the same permission:
# <code>"Ipv6Ranges": [{"CidrIpv6": "::/0"}]</code> next to <code>"IpRanges": [{"CidrIp": "0.0.0.0/0"}]</code>.</details>

# %% answer="security_groups"
def create_security_groups() -> dict:
    ### BEGIN SOLUTION
    def group(role: str, description: str) -> str:
        return ec2.create_security_group(
            GroupName=f"{NAME}-{role}", Description=description, VpcId=net["vpc"],
            TagSpecifications=tags("security-group", f"{NAME}-{role}"),
        )["GroupId"]

    sgs = {
        "alb": group("alb", "load balancer: HTTPS from anywhere"),
        "api": group("api", "model API: 8080 from the load balancer only"),
        "db": group("db", "feature database: 5432 from the model API only"),
    }
    ec2.authorize_security_group_ingress(
        GroupId=sgs["alb"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}],
    )
    for target, source, port in (("api", "alb", 8080), ("db", "api", 5432)):
        ec2.authorize_security_group_ingress(
            GroupId=sgs[target],
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                            "UserIdGroupPairs": [{"GroupId": sgs[source]}]}],
        )
    return sgs
    ### END SOLUTION


sgs = create_security_groups()
print(sgs)

# %% locked=true
# Deploy the tiers (given): ALB nodes, model-API instances, the database's network interface.
def deploy_tiers(net: dict, sgs: dict) -> dict:
    tiers = {"alb": [], "api": [], "db": None}
    for i, subnet in enumerate(net["public"]):
        eni = ec2.create_network_interface(
            SubnetId=subnet, Groups=[sgs["alb"]], Description=f"ELB app/{NAME}",
            TagSpecifications=tags("network-interface", f"{NAME}-alb-{i}"),
        )["NetworkInterface"]["NetworkInterfaceId"]
        eip = ec2.allocate_address(Domain="vpc", TagSpecifications=tags("elastic-ip", f"{NAME}-alb-{i}"))
        ec2.associate_address(AllocationId=eip["AllocationId"], NetworkInterfaceId=eni)
        tiers["alb"].append(eni)
    for i, subnet in enumerate(net["private"]):
        tiers["api"].append(
            ec2.run_instances(
                ImageId=AMI, InstanceType="c7i.large", MinCount=1, MaxCount=1, SubnetId=subnet,
                SecurityGroupIds=[sgs["api"]], TagSpecifications=tags("instance", f"{NAME}-fraud-api-{i}"),
            )["Instances"][0]["InstanceId"]
        )
    tiers["db"] = ec2.create_network_interface(
        SubnetId=net["private"][0], Groups=[sgs["db"]], Description="RDSNetworkInterface",
        TagSpecifications=tags("network-interface", f"{NAME}-db"),
    )["NetworkInterface"]["NetworkInterfaceId"]
    return tiers


TIERS = deploy_tiers(net, sgs)
print(json.dumps(TIERS, indent=1))

# %% [markdown]
# ### Reading a path like Reachability Analyzer
# `netcheck` answers with a `Finding`: reachable or not, and the verdict of every component on the
# way, in the order a packet meets them. From the internet to the load balancer on 443, and to the
# model API on 8080:

# %%
state = netcheck.describe_vpc_state(ec2, net["vpc"])
print(netcheck.is_internet_reachable(state, TIERS["alb"][0], 443), "\n")
print(netcheck.is_internet_reachable(state, TIERS["api"][0], 8080), "\n")
print(netcheck.can_reach(state, TIERS["alb"][0], TIERS["api"][0], 8080))

# %% [markdown]
# The model API is private twice over: it has no public address, and its subnet's route back to an
# internet address goes to the NAT gateway, which never accepts connections from outside.

# %% check="security_groups" points=2
_state = netcheck.describe_vpc_state(ec2, net["vpc"])
_f = netcheck.is_internet_reachable(_state, TIERS["alb"][0], 443)
assert _f.reachable, f"the internet should reach the ALB on 443:\n{_f}"
_f = netcheck.can_reach(_state, TIERS["alb"][0], TIERS["api"][0], 8080)
assert _f.reachable, f"the ALB should reach the model API on 8080:\n{_f}"
_f = netcheck.can_reach(_state, TIERS["api"][1], TIERS["db"], 5432)
assert _f.reachable, f"the model API should reach the database on 5432:\n{_f}"
### BEGIN HIDDEN TESTS
_f = netcheck.can_reach(_state, TIERS["alb"][1], TIERS["db"], 5432)
assert not _f.reachable, f"the ALB must not reach the database:\n{_f}"
_open = [(f.target, f.port_range) for f in netcheck.internet_exposures(_state)]
assert sorted(_open) == sorted((eni, (443, 443)) for eni in TIERS["alb"]), (
    f"only the ALB, only on 443, should be reachable from the internet; saw {_open}"
)
_alb_rules = next(g for g in _state["security_groups"] if g["GroupId"] == sgs["alb"])["IpPermissions"]
assert any(r.get("FromPort") == 443 and {"CidrIpv6": "::/0"} in r.get("Ipv6Ranges", []) for r in _alb_rules), (
    "the ALB group should admit IPv6 clients on 443 (::/0)"
)
# another workload in the VPC (a new service, a notebook) must not reach the API or the DB by address
_probe_sg = ec2.create_security_group(GroupName=f"{NAME}-probe", Description="probe", VpcId=net["vpc"])["GroupId"]
_probes = [ec2.create_network_interface(SubnetId=s, Groups=[_probe_sg])["NetworkInterface"]["NetworkInterfaceId"]
           for s in (net["public"][0], net["private"][1])]
try:
    _st = netcheck.describe_vpc_state(ec2, net["vpc"])
    for _p in _probes:
        for _dst, _port in ((TIERS["api"][0], 8080), (TIERS["api"][1], 8080), (TIERS["db"], 5432)):
            _f = netcheck.can_reach(_st, _p, _dst, _port)
            assert not _f.reachable, (
                f"a workload without the right security group reached {_dst}:{_port}; use a group reference, "
                f"not a CIDR:\n{_f}"
            )
finally:
    for _p in _probes:
        ec2.delete_network_interface(NetworkInterfaceId=_p)
    ec2.delete_security_group(GroupId=_probe_sg)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: a network ACL for the private subnets
#
# Security groups trust identities, so they have a blind spot: anything that carries the ALB's group
# is trusted by the model API. The data-science team has a notebook subnet, `SANDBOX_CIDR`, where
# people run arbitrary code; the cell below creates it and a notebook server there that someone gave
# the **ALB's security group** "to test the API". The analyzer shows it reaches the model API.
#
# Network ACLs are the subnet-level guardrail: **stateless** (replies need their own rules),
# evaluated **in rule-number order, first match wins**, with an implicit deny at the end, and they
# have **deny** rules. Write `create_private_nacl()` that creates an ACL (`tags("network-acl", ...)`),
# gives it these entries, associates it with **both private subnets** (and nothing else), and returns its id:
#
# | direction | rule | action | protocol / ports | CIDR | why |
# |---|---|---|---|---|---|
# | inbound | 90 | deny | all | `SANDBOX_CIDR` | the sandbox never talks to the private tier |
# | inbound | 100 | allow | TCP 8080 | `VPC_CIDR` | ALB → model API |
# | inbound | 110 | allow | TCP 5432 | `VPC_CIDR` | model API → database (across the two private subnets) |
# | inbound | 120 | allow | TCP 1024-65535 | `0.0.0.0/0` | replies to the API's own connections (NAT, S3) |
# | outbound | 100 | allow | TCP 443 | `0.0.0.0/0` | HTTPS out: NAT gateway, S3, AWS APIs |
# | outbound | 110 | allow | TCP 5432 | `VPC_CIDR` | model API → database |
# | outbound | 120 | allow | TCP 1024-65535 | `VPC_CIDR` | replies to the ALB and the API |
#
# Why 1024-65535 and not Linux's 32768-60999: the client picks the port, and clients include NAT
# gateways and load balancers (1024-65535). An ACL that covers part of the range drops a fraction of
# connections: the worst kind of bug, intermittent. The price of statelessness shows in rule 120:
# an ACL cannot tell a reply from a new connection, so inbound 1024-65535 is open to anyone who can
# route here. The stateful security groups still keep, say, Redis on 6379 closed: ACLs are a coarse
# second layer, not a replacement.
#
# <details><summary>Hint 1</summary><code>ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="6",
# RuleAction="allow", Egress=False, CidrBlock=VPC_CIDR, PortRange={"From": 8080, "To": 8080})</code>;
# protocol <code>"-1"</code> means all (no <code>PortRange</code>).</details>
# <details><summary>Hint 2</summary>A subnet always has exactly one ACL. Find its current association with
# <code>describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])</code> and
# swap it with <code>replace_network_acl_association(AssociationId=..., NetworkAclId=acl)</code>.</details>
# <details><summary>Hint 3</summary>If the deny rule gets a number above 100, the allow for the whole VPC
# CIDR (which contains the sandbox) matches first and the deny never fires.</details>

# %% locked=true
# The sandbox subnet and a notebook server that carries the ALB's security group (given).
sandbox_subnet = ec2.create_subnet(
    VpcId=net["vpc"], CidrBlock=SANDBOX_CIDR, AvailabilityZone=AZS[0],
    TagSpecifications=tags("subnet", f"{NAME}-sandbox"),
)["Subnet"]["SubnetId"]
NOTEBOOK = ec2.create_network_interface(
    SubnetId=sandbox_subnet, Groups=[sgs["alb"]], Description="jupyter notebook server",
    TagSpecifications=tags("network-interface", f"{NAME}-notebook"),
)["NetworkInterface"]["NetworkInterfaceId"]
print(netcheck.can_reach(netcheck.describe_vpc_state(ec2, net["vpc"]), NOTEBOOK, TIERS["api"][0], 8080))

# %% answer="nacl"
def create_private_nacl() -> str:
    ### BEGIN SOLUTION
    acl = ec2.create_network_acl(VpcId=net["vpc"], TagSpecifications=tags("network-acl", f"{NAME}-private"))
    acl_id = acl["NetworkAcl"]["NetworkAclId"]
    entries = [
        (90, False, "deny", "-1", SANDBOX_CIDR, None),
        (100, False, "allow", "6", VPC_CIDR, (8080, 8080)),
        (110, False, "allow", "6", VPC_CIDR, (5432, 5432)),
        (120, False, "allow", "6", "0.0.0.0/0", (1024, 65535)),
        (100, True, "allow", "6", "0.0.0.0/0", (443, 443)),
        (110, True, "allow", "6", VPC_CIDR, (5432, 5432)),
        (120, True, "allow", "6", VPC_CIDR, (1024, 65535)),
    ]
    for number, egress, action, protocol, cidr, ports in entries:
        extra = {"PortRange": {"From": ports[0], "To": ports[1]}} if ports else {}
        ec2.create_network_acl_entry(
            NetworkAclId=acl_id, RuleNumber=number, Egress=egress, RuleAction=action, Protocol=protocol,
            CidrBlock=cidr, **extra,
        )
    for subnet in net["private"]:
        current = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])
        association = next(
            a["NetworkAclAssociationId"] for a in current["NetworkAcls"][0]["Associations"] if a["SubnetId"] == subnet
        )
        ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=acl_id)
    return acl_id
    ### END SOLUTION


private_acl = create_private_nacl()
print(netcheck.can_reach(netcheck.describe_vpc_state(ec2, net["vpc"]), NOTEBOOK, TIERS["api"][0], 8080))

# %% check="nacl" points=2
_state = netcheck.describe_vpc_state(ec2, net["vpc"])
_f = netcheck.can_reach(_state, TIERS["alb"][0], TIERS["api"][0], 8080)
assert _f.reachable, f"the ALB no longer reaches the model API (replies need outbound ephemeral ports):\n{_f}"
_f = netcheck.can_reach(_state, NOTEBOOK, TIERS["api"][0], 8080)
assert not _f.reachable, f"the sandbox notebook still reaches the model API:\n{_f}"
assert [h.kind for h in _f.blocked_by] == ["network-acl-inbound"], f"the private ACL's deny should stop it:\n{_f}"
### BEGIN HIDDEN TESTS
for _s in net["private"]:
    _acl = netcheck.nacl_for(_state, _s)
    assert _acl and _acl["NetworkAclId"] == private_acl, f"private subnet {_s} is not associated with {private_acl}"
for _s in [*net["public"], sandbox_subnet]:
    _acl = netcheck.nacl_for(_state, _s)
    assert _acl["NetworkAclId"] != private_acl, f"subnet {_s} should keep the default ACL, not the private one"
_checks = [
    netcheck.can_reach(_state, TIERS["alb"][1], TIERS["api"][1], 8080),
    netcheck.can_reach(_state, TIERS["api"][1], TIERS["db"], 5432),
    netcheck.has_egress_via_nat(_state, TIERS["api"][0]),
    netcheck.has_egress_via_nat(_state, TIERS["api"][1]),
]
for _f in _checks:
    assert _f.reachable, f"the private ACL broke a path the service needs:\n{_f}"
_acl = next(a for a in _state["network_acls"] if a["NetworkAclId"] == private_acl)
for _port in (22, 80, 443):  # (ports >= 1024 are open for replies: stateless rules cannot tell)
    _ok, _why = netcheck.nacl_allows(_acl, egress=False, address="10.42.0.10", ports=_port)
    assert not _ok, f"inbound TCP {_port} from inside the VPC should be denied, but: {_why}"
_f = netcheck.can_reach(_state, NOTEBOOK, TIERS["db"], 5432)
assert not _f.reachable and "network-acl-inbound" in {h.kind for h in _f.blocked_by}, f"sandbox -> DB:\n{_f}"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: VPC endpoints — S3 through a gateway, ECR through PrivateLink
#
# The model API pulls its container image from ECR and its model from S3. Without endpoints, that
# traffic leaves through the NAT gateway: billed per GB processed, and on the public side of AWS.
# Two kinds of endpoint keep it private:
# - a **gateway endpoint** (S3, DynamoDB only; free) adds a route to the chosen route tables: the
#   destination is the service's **prefix list** (its published CIDRs), the target the endpoint;
# - an **interface endpoint** (**PrivateLink**; any AWS service, and your own services offered by
#   other accounts) puts a network interface with a private IP into your subnets, guarded by a
#   security group; with **private DNS** on, the service's usual hostname resolves to it, so SDKs
#   need no change.
#
# Write `create_endpoints()` that creates, tagged with `tags("vpc-endpoint", ...)`:
# - a **Gateway** endpoint for `com.amazonaws.{REGION}.s3` on **both private route tables**, with an
#   endpoint policy that allows `s3:GetObject` and `s3:ListBucket` **only** on `BUCKET` and its objects
#   (`arn:aws:s3:::{BUCKET}` and `arn:aws:s3:::{BUCKET}/*`, `"Principal": "*"`);
# - a security group for the interface endpoints that admits TCP 443 **only from the model API's group**;
# - **Interface** endpoints for `com.amazonaws.{REGION}.ecr.api` and `com.amazonaws.{REGION}.ecr.dkr` in
#   both private subnets, with that group and `PrivateDnsEnabled=True`.
#
# Return `{"s3": endpoint id, "interface": {service name: endpoint id}, "sg": group id}`.
#
# <details><summary>Hint 1</summary><code>ec2.create_vpc_endpoint(VpcId=..., VpcEndpointType="Gateway",
# ServiceName=..., RouteTableIds=net["private_rt"], PolicyDocument=json.dumps(policy))</code>.</details>
# <details><summary>Hint 2</summary>Interface endpoints take <code>SubnetIds=net["private"]</code> and
# <code>SecurityGroupIds=[group]</code> instead of route tables.</details>

# %% answer="endpoints"
def create_endpoints() -> dict:
    ### BEGIN SOLUTION
    policy = {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ModelArtifactsOnly", "Effect": "Allow", "Principal": "*",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
        }],
    }
    s3_endpoint = ec2.create_vpc_endpoint(
        VpcId=net["vpc"], VpcEndpointType="Gateway", ServiceName=f"com.amazonaws.{REGION}.s3",
        RouteTableIds=net["private_rt"], PolicyDocument=json.dumps(policy),
        TagSpecifications=tags("vpc-endpoint", f"{NAME}-s3"),
    )["VpcEndpoint"]["VpcEndpointId"]
    endpoint_sg = ec2.create_security_group(
        GroupName=f"{NAME}-endpoints", Description="interface endpoints: 443 from the model API",
        VpcId=net["vpc"], TagSpecifications=tags("security-group", f"{NAME}-endpoints"),
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=endpoint_sg,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                        "UserIdGroupPairs": [{"GroupId": sgs["api"]}]}],
    )
    interface = {}
    for service in ("ecr.api", "ecr.dkr"):
        name = f"com.amazonaws.{REGION}.{service}"
        interface[name] = ec2.create_vpc_endpoint(
            VpcId=net["vpc"], VpcEndpointType="Interface", ServiceName=name, SubnetIds=net["private"],
            SecurityGroupIds=[endpoint_sg], PrivateDnsEnabled=True,
            TagSpecifications=tags("vpc-endpoint", f"{NAME}-{service}"),
        )["VpcEndpoint"]["VpcEndpointId"]
    return {"s3": s3_endpoint, "interface": interface, "sg": endpoint_sg}
    ### END SOLUTION


endpoints = create_endpoints()
print(json.dumps(endpoints, indent=1))
print(netcheck.s3_via_endpoint(netcheck.describe_vpc_state(ec2, net["vpc"]), TIERS["api"][0]))

# %% check="endpoints" points=2
_state = netcheck.describe_vpc_state(ec2, net["vpc"])
_ECR = [f"com.amazonaws.{REGION}.ecr.api", f"com.amazonaws.{REGION}.ecr.dkr"]
_f = netcheck.s3_via_endpoint(_state, TIERS["api"][0])
assert _f.reachable, f"the model API should reach S3 through the gateway endpoint:\n{_f}"
_f = netcheck.interface_endpoint_reachable(_state, TIERS["api"][0], _ECR[1])
assert _f.reachable, f"the model API should reach ECR through PrivateLink:\n{_f}"
### BEGIN HIDDEN TESTS
for _api in TIERS["api"]:
    _f = netcheck.s3_via_endpoint(_state, _api)
    assert _f.reachable, f"{_api} (every private subnet) should reach S3 through the endpoint:\n{_f}"
    for _svc in _ECR:
        _f = netcheck.interface_endpoint_reachable(_state, _api, _svc)
        assert _f.reachable, f"{_api} should reach {_svc} through an interface endpoint:\n{_f}"
_f = netcheck.interface_endpoint_reachable(_state, TIERS["db"], _ECR[1])  # same subnet: only the groups decide
assert not _f.reachable, f"the endpoints' security group should admit the model API's group only:\n{_f}"
_s3ep = next(
    e for e in _state["vpc_endpoints"]
    if e["ServiceName"] == f"com.amazonaws.{REGION}.s3" and e["VpcEndpointType"].lower() == "gateway"
)
_policy = json.loads(_s3ep["PolicyDocument"])
_resources = [r for st in _policy["Statement"] if st.get("Effect") == "Allow"
              for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])]
assert _resources and all(r.startswith(f"arn:aws:s3:::{BUCKET}") for r in _resources), (
    f"the S3 endpoint policy should allow only {BUCKET} and its objects, saw resources {_resources}"
)
### END HIDDEN TESTS

# %% [markdown]
# What the endpoint saves, for a fleet that pulls a 2 GB model and a 3 GB image at every start:
# 40 starts a day through a NAT gateway is 200 GB/day, about **$270 a month** in NAT data
# processing alone ($0.045/GB); through the S3 gateway endpoint, $0. Interface endpoints cost
# ~$0.01/hour per AZ plus $0.01/GB: cheaper than NAT for image pulls, and the traffic stays private.
# Moto stores the endpoint policy but does not enforce it; in AWS, pair it with a bucket policy that
# denies requests whose `aws:SourceVpce` is not your endpoint, so the bucket is reachable *only* from
# the VPC.

# %% [markdown]
# ## Exercise 5: find what exposes a model API to the internet
#
# Friday evening, a colleague shipped a canary of the new fraud model: `fraud-api-canary`. The cell
# below recreates what they did (it is in the VPC now). A second change landed the same day on a
# batch-scoring box. A rule like `0.0.0.0/0` in a security group is a smell, not a verdict: whether
# the internet reaches an instance depends on every component on the path.
#
# Write `exposed_instances(state)` that returns the set of **instance ids** (not the ALB's network
# interfaces) that the internet can reach on **any** TCP port, computed from the `state` it is given
# (a `describe_vpc_state` dict) with `netcheck.internet_exposures` (Network Access Analyzer's
# question: every path from the internet, over the whole port space). Print the findings: they
# show which hop lets the traffic in.
#
# <details><summary>Hint 1</summary>Each finding's <code>target</code> is the instance id for an
# instance's interface and the ENI id for a standalone interface.</details>
# <details><summary>Hint 2</summary>Grepping the security groups for <code>0.0.0.0/0</code> finds two
# suspects; only one of them is reachable.</details>

# %% locked=true
# Friday's changes (given).
def group_with(name: str, permissions: list[dict]) -> str:
    gid = ec2.create_security_group(GroupName=f"{NAME}-{name}", Description=name, VpcId=net["vpc"],
                                    TagSpecifications=tags("security-group", f"{NAME}-{name}"))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=permissions)
    return gid


canary_sg = group_with("canary", [
    {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": sgs["alb"]}]},
    {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8100, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "load test"}]},
])
batch_sg = group_with("batch", [
    {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "todo"}]},
])
CANARY = ec2.run_instances(
    ImageId=AMI, InstanceType="c7i.large", MinCount=1, MaxCount=1,
    NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": net["public"][1], "Groups": [canary_sg],
                        "AssociatePublicIpAddress": True}],
    TagSpecifications=tags("instance", f"{NAME}-fraud-api-canary"),
)["Instances"][0]["InstanceId"]
BATCH = ec2.run_instances(
    ImageId=AMI, InstanceType="c7i.large", MinCount=1, MaxCount=1, SubnetId=net["private"][0],
    SecurityGroupIds=[batch_sg], TagSpecifications=tags("instance", f"{NAME}-batch-scorer"),
)["Instances"][0]["InstanceId"]
print("canary:", CANARY, "| batch scorer:", BATCH)

# %% answer="find_exposure"
def exposed_instances(state: dict) -> set[str]:
    ### BEGIN SOLUTION
    return {f.target for f in netcheck.internet_exposures(state) if f.target.startswith("i-")}
    ### END SOLUTION


state = netcheck.describe_vpc_state(ec2, net["vpc"])
print("exposed:", exposed_instances(state))
for finding in netcheck.internet_exposures(state):
    print(finding, "\n")

# %% check="find_exposure" points=1
_state = netcheck.describe_vpc_state(ec2, net["vpc"])
_found = exposed_instances(_state)
assert CANARY in _found, f"expected the canary {CANARY} among the exposed instances, saw {_found}"
### BEGIN HIDDEN TESTS
assert _found == {CANARY}, f"expected exactly {{{CANARY}}}, saw {_found} (the batch scorer is not reachable)"
_fixed = copy.deepcopy(_state)
for _g in _fixed["security_groups"]:
    if _g["GroupId"] == canary_sg:
        _g["IpPermissions"] = [p for p in _g["IpPermissions"] if not p.get("IpRanges")]
assert exposed_instances(_fixed) == set(), "with the open rule removed, nothing should be exposed: use the given state"
_worse = copy.deepcopy(_state)
for _eni in _worse["network_interfaces"]:
    if (_eni.get("Attachment") or {}).get("InstanceId") == BATCH:  # as if launched public, like the canary
        _eni["SubnetId"], _eni["Association"] = net["public"][0], {"PublicIp": "3.3.3.3"}
assert exposed_instances(_worse) == {CANARY, BATCH}, "a public batch scorer with 8080 open should be found as well"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: fix it without breaking the canary
#
# The canary must keep serving through the load balancer (the ALB reaches it on 8080), and the
# internet must not reach it on any port. Fix the configuration with EC2 API calls; do not terminate
# the canary, and do not touch the internet gateway or the public route table (the ALB needs them).
# Then re-run the analyzer and print the exposures again: only the ALB's interfaces should be left.
#
# <details><summary>Hint 1</summary>The finding's <code>security-group-ingress</code> hop names the rule
# that admits the traffic.</details>
# <details><summary>Hint 2</summary><code>ec2.revoke_security_group_ingress(GroupId=..., IpPermissions=[...])</code>
# takes the permission exactly as <code>describe_security_groups</code> shows it. Better still, a canary
# belongs in a private subnet; the security group fix is the one that can ship tonight.</details>

# %% answer="fix_exposure"
### BEGIN SOLUTION
_st = netcheck.describe_vpc_state(ec2, net["vpc"])
for _finding in netcheck.internet_exposures(_st):
    if not _finding.target.startswith("i-"):
        continue
    for _gid in netcheck.resolve(_st, _finding.target)[0].groups:
        _group = next(g for g in _st["security_groups"] if g["GroupId"] == _gid)
        _open = [
            {k: v for k, v in p.items() if k in ("IpProtocol", "FromPort", "ToPort", "IpRanges", "Ipv6Ranges")}
            for p in _group["IpPermissions"]
            if p.get("IpRanges") or p.get("Ipv6Ranges")
        ]
        if _open:
            ec2.revoke_security_group_ingress(GroupId=_gid, IpPermissions=_open)
### END SOLUTION
for finding in netcheck.internet_exposures(netcheck.describe_vpc_state(ec2, net["vpc"])):
    print(finding, "\n")

# %% check="fix_exposure" points=1
_state = netcheck.describe_vpc_state(ec2, net["vpc"])
_left = [(f.target, f.port_range) for f in netcheck.internet_exposures(_state)]
assert not [t for t, _ in _left if t.startswith("i-")], f"instances still reachable from the internet: {_left}"
assert CANARY in {i["InstanceId"] for i in _state["instances"]}, "the canary must keep running"
### BEGIN HIDDEN TESTS
_f = netcheck.can_reach(_state, TIERS["alb"][1], CANARY, 8080)
assert _f.reachable, f"the ALB must still reach the canary on 8080:\n{_f}"
assert sorted(_left) == sorted((eni, (443, 443)) for eni in TIERS["alb"]), f"the ALB should still be public on 443: {_left}"
for _api in TIERS["api"]:
    _f = netcheck.can_reach(_state, TIERS["alb"][0], _api, 8080)
    assert _f.reachable, f"the fix broke the model API behind the ALB:\n{_f}"
### END HIDDEN TESTS

# %% [markdown]
# ## Wrap-up and cleanup
#
# **What ran here:** the EC2/VPC API (moto) holding a real two-AZ design: VPC, four subnets, an
# internet gateway, two NAT gateways with Elastic IPs, route tables, security groups with group
# references, a network ACL, an S3 gateway endpoint with a policy, ECR interface endpoints, instances
# and network interfaces. Every verdict about traffic came from `labkit.netcheck` evaluating that
# described state; no packet moved.
#
# **What a real VPC adds:**
# - actual routing and the data plane: packets, NAT translation, DNS resolution of private endpoint
#   names, and the bills (NAT gateways ~$0.045/hour each plus per-GB processing; interface endpoints
#   per hour per AZ);
# - **VPC Flow Logs** (to CloudWatch Logs or S3): an ACCEPT/REJECT record for every flow, the ground
#   truth that confirms what the analyzer predicts, and the place to see the blocked probes;
# - **Reachability Analyzer** (`ec2.create_network_insights_path` + `start_network_insights_analysis`)
#   and **Network Access Analyzer** (`create_network_insights_access_scope`) run the same kind of
#   analysis on the real configuration, including load balancers, peering and Transit Gateway
#   (moto does not implement them);
# - guardrails that catch the exercise-5 mistake before it ships: AWS Config rules
#   (`restricted-common-ports`, `vpc-sg-open-only-to-authorized-ports`), Security Hub, and policy
#   checks on the Terraform plan (Module 11);
# - PrivateLink in the other direction: an **endpoint service** behind a Network Load Balancer offers
#   your model API to other VPCs and accounts privately, without peering or overlapping-CIDR worries.
#
# Cleanup: delete the VPC with everything in it, the Elastic IPs and the bucket.

# %%
removed = cleanup()
for _obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
    s3.delete_object(Bucket=BUCKET, Key=_obj["Key"])
s3.delete_bucket(Bucket=BUCKET)
print(f"removed {removed} VPC(s) and bucket {BUCKET}; lab ran {time.monotonic() - t_start:.1f} s")
