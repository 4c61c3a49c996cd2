"""labkit.netcheck: rule evaluation on hand-written state, and whole paths on a VPC built in moto."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

from labkit import netcheck

REGION = "us-east-1"


def entry(number: int, action: str, cidr: str, ports: tuple[int, int] | None = None, *, egress: bool = False) -> dict:
    e = {"RuleNumber": number, "RuleAction": action, "CidrBlock": cidr, "Egress": egress, "Protocol": "-1"}
    if ports:
        e |= {"Protocol": "6", "PortRange": {"From": ports[0], "To": ports[1]}}
    return e


# --------------------------------------------------------------------------- network ACL rules


def test_nacl_lowest_rule_number_wins_whatever_the_list_order() -> None:
    deny_first = {"Entries": [entry(200, "allow", "0.0.0.0/0", (8080, 8080)), entry(100, "deny", "10.0.9.0/24")]}
    allowed, why = netcheck.nacl_allows(deny_first, egress=False, address="10.0.9.5", ports=8080)
    assert not allowed and "rule 100 deny" in why
    allowed, _ = netcheck.nacl_allows(deny_first, egress=False, address="10.0.1.5", ports=8080)
    assert allowed, "an address outside the denied range falls through to the allow"
    allow_first = {"Entries": [entry(100, "allow", "0.0.0.0/0", (8080, 8080)), entry(200, "deny", "10.0.9.0/24")]}
    allowed, why = netcheck.nacl_allows(allow_first, egress=False, address="10.0.9.5", ports=8080)
    assert allowed and "rule 100 allow" in why, "a deny numbered after the allow never fires"


def test_nacl_implicit_deny_direction_and_ipv6() -> None:
    acl = {"Entries": [entry(100, "allow", "0.0.0.0/0", (443, 443), egress=True)]}
    assert netcheck.nacl_allows(acl, egress=True, address="1.2.3.4", ports=443)[0]
    allowed, why = netcheck.nacl_allows(acl, egress=False, address="1.2.3.4", ports=443)
    assert not allowed and "implicit * deny" in why, "an outbound rule says nothing about inbound traffic"
    assert not netcheck.nacl_allows(acl, egress=True, address="1.2.3.4", ports=80)[0]
    assert not netcheck.nacl_allows(acl, egress=True, address="2600::1", ports=443)[0], "IPv4 rules never match IPv6"


def test_nacl_ephemeral_range_needs_every_port() -> None:
    linux_only = {"Entries": [entry(100, "allow", "0.0.0.0/0", (32768, 60999), egress=True)]}
    allowed, why = netcheck.nacl_allows(linux_only, egress=True, address="1.2.3.4", ports=netcheck.EPHEMERAL)
    assert not allowed and "1024-32767" in why, why
    split = {
        "Entries": [
            entry(100, "allow", "0.0.0.0/0", (1024, 40000), egress=True),
            entry(110, "allow", "0.0.0.0/0", (40001, 65535), egress=True),
        ]
    }
    assert netcheck.nacl_allows(split, egress=True, address="1.2.3.4", ports=netcheck.EPHEMERAL)[0]
    hole = {
        "Entries": [
            entry(90, "deny", "0.0.0.0/0", (5000, 5000), egress=True),
            entry(100, "allow", "0.0.0.0/0", (1024, 65535), egress=True),
        ]
    }
    assert not netcheck.nacl_allows(hole, egress=True, address="1.2.3.4", ports=netcheck.EPHEMERAL)[0]
    assert netcheck.nacl_allows(hole, egress=True, address="1.2.3.4", ports=6000)[0]


def test_route_longest_prefix_match_and_prefix_lists() -> None:
    state = {"prefix_lists": [{"PrefixListId": "pl-s3", "PrefixListName": "s3", "Cidrs": ["52.216.0.0/15"]}]}
    table = {
        "Routes": [
            {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"},
            {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1"},
            {"DestinationPrefixListId": "pl-s3", "GatewayId": "vpce-1"},
        ]
    }
    assert netcheck.route_target(netcheck.route_for(state, table, "10.0.3.4")) == "local"
    assert netcheck.route_target(netcheck.route_for(state, table, "8.8.8.8")) == "nat-1"
    assert netcheck.route_target(netcheck.route_for(state, table, "52.217.1.1")) == "vpce-1"
    assert netcheck.route_for(state, {"Routes": table["Routes"][:1]}, "8.8.8.8") is None


def test_plan_subnets_aligns_and_refuses_overflow() -> None:
    plan = netcheck.plan_subnets("10.42.0.0/16", ["a", "b"], {"public": 24, "private": 20})
    assert plan[("public", "a")] == "10.42.0.0/24" and plan[("public", "b")] == "10.42.1.0/24"
    assert plan[("private", "a")] == "10.42.16.0/20", "a /20 starts on a /20 boundary"
    with pytest.raises(ValueError):
        netcheck.plan_subnets("10.42.0.0/24", ["a", "b"], {"private": 25, "more": 26})


# --------------------------------------------------------------------------- whole paths in moto


@dataclass
class Vpc:
    ec2: object
    ids: dict

    def state(self) -> dict:
        return netcheck.describe_vpc_state(self.ec2, self.ids["vpc"])


@pytest.fixture
def vpc(monkeypatch: pytest.MonkeyPatch) -> Iterator[Vpc]:
    """One AZ of the lab's design: ALB ENI (public), model API and DB (private), NAT, S3 endpoint."""
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)  # in-process moto, never a running server or a real account
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        ids: dict = {}
        ids["vpc"] = vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]

        def subnet(cidr: str) -> str:
            return ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]

        ids["public"], ids["private"], ids["private2"] = (
            subnet("10.42.0.0/24"),
            subnet("10.42.16.0/20"),
            subnet("10.42.32.0/20"),
        )
        ids["igw"] = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=ids["igw"], VpcId=vpc_id)
        ids["public_rt"] = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=ids["public_rt"], DestinationCidrBlock="0.0.0.0/0", GatewayId=ids["igw"])
        ec2.associate_route_table(RouteTableId=ids["public_rt"], SubnetId=ids["public"])
        eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
        ids["nat"] = ec2.create_nat_gateway(SubnetId=ids["public"], AllocationId=eip)["NatGateway"]["NatGatewayId"]
        ids["private_rt"] = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=ids["private_rt"], DestinationCidrBlock="0.0.0.0/0", NatGatewayId=ids["nat"])
        for s in ("private", "private2"):
            ec2.associate_route_table(RouteTableId=ids["private_rt"], SubnetId=ids[s])
        ec2.create_vpc_endpoint(
            VpcId=vpc_id,
            ServiceName=f"com.amazonaws.{REGION}.s3",
            VpcEndpointType="Gateway",
            RouteTableIds=[ids["private_rt"]],
        )

        def group(name: str) -> str:
            return ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc_id)["GroupId"]

        ids["alb_sg"], ids["api_sg"], ids["db_sg"], ids["other_sg"] = (group(n) for n in ("alb", "api", "db", "other"))
        ec2.authorize_security_group_ingress(
            GroupId=ids["alb_sg"],
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ],
        )
        for dst, src, port in (("api_sg", "alb_sg", 8080), ("db_sg", "api_sg", 5432)):
            ec2.authorize_security_group_ingress(
                GroupId=ids[dst],
                IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": [{"GroupId": ids[src]}]}
                ],
            )
        ids["alb"] = ec2.create_network_interface(SubnetId=ids["public"], Groups=[ids["alb_sg"]])["NetworkInterface"][
            "NetworkInterfaceId"
        ]
        ec2.associate_address(
            AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"], NetworkInterfaceId=ids["alb"]
        )
        ids["api"] = ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=ids["private"], SecurityGroupIds=[ids["api_sg"]]
        )["Instances"][0]["InstanceId"]
        ids["db"] = ec2.create_network_interface(SubnetId=ids["private2"], Groups=[ids["db_sg"]])["NetworkInterface"][
            "NetworkInterfaceId"
        ]
        ids["other"] = ec2.create_network_interface(SubnetId=ids["public"], Groups=[ids["other_sg"]])[
            "NetworkInterface"
        ]["NetworkInterfaceId"]
        yield Vpc(ec2, ids)


def test_alb_is_public_and_only_on_443(vpc: Vpc) -> None:
    state = vpc.state()
    finding = netcheck.is_internet_reachable(state, vpc.ids["alb"], 443)
    assert finding.reachable, str(finding)
    assert "REACHABLE" in str(finding)
    closed = netcheck.is_internet_reachable(state, vpc.ids["alb"], 22)
    assert not closed and [h.kind for h in closed.blocked_by] == ["security-group-ingress"], str(closed)


def test_private_model_api_is_not_internet_reachable_even_with_an_open_sg(vpc: Vpc) -> None:
    ec2, ids = vpc.ec2, vpc.ids
    ec2.authorize_security_group_ingress(
        GroupId=ids["api_sg"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    finding = netcheck.is_internet_reachable(vpc.state(), ids["api"], 8080)
    assert not finding.reachable
    assert {h.kind for h in finding.blocked_by} == {"public-address", "route-table"}, str(finding)


def test_model_api_in_public_subnet_with_open_port_is_exposed(vpc: Vpc) -> None:
    ec2, ids = vpc.ec2, vpc.ids
    debug_sg = ec2.create_security_group(GroupName="debug", Description="d", VpcId=ids["vpc"])["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=debug_sg,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8100, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    exposed = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        NetworkInterfaces=[
            {"DeviceIndex": 0, "SubnetId": ids["public"], "Groups": [debug_sg], "AssociatePublicIpAddress": True}
        ],
    )["Instances"][0]["InstanceId"]
    state = vpc.state()
    assert netcheck.is_internet_reachable(state, exposed, 8080).reachable
    assert not netcheck.is_internet_reachable(state, exposed, 8101).reachable
    found = {(f.target, f.port_range) for f in netcheck.internet_exposures(state)}
    assert found == {(ids["alb"], (443, 443)), (exposed, (8000, 8100))}, found
    listed = {(f.target, f.port) for f in netcheck.internet_exposures(state, ports=[22, 443, 8080])}
    assert listed == {(ids["alb"], 443), (exposed, 8080)}, listed
    # the fix: the rule goes, the instance stays (and is still reachable from the ALB once referenced)
    ec2.revoke_security_group_ingress(
        GroupId=debug_sg,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8100, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    assert {f.target for f in netcheck.internet_exposures(vpc.state())} == {ids["alb"]}


def test_sg_reference_admits_only_the_referenced_group(vpc: Vpc) -> None:
    state, ids = vpc.state(), vpc.ids
    assert netcheck.can_reach(state, ids["alb"], ids["api"], 8080).reachable
    denied = netcheck.can_reach(state, ids["other"], ids["api"], 8080)
    assert not denied and denied.blocked_by[0].kind == "security-group-ingress", str(denied)
    assert netcheck.can_reach(state, ids["api"], ids["db"], 5432).reachable
    assert not netcheck.can_reach(state, ids["alb"], ids["db"], 5432).reachable


def test_nacl_without_ephemeral_outbound_breaks_replies(vpc: Vpc) -> None:
    ec2, ids = vpc.ec2, vpc.ids
    acl = ec2.create_network_acl(VpcId=ids["vpc"])["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(
        NetworkAclId=acl,
        RuleNumber=100,
        Protocol="6",
        RuleAction="allow",
        Egress=False,
        CidrBlock="10.42.0.0/16",
        PortRange={"From": 8080, "To": 8080},
    )
    old = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [ids["private"]]}])
    assoc = next(
        a["NetworkAclAssociationId"] for a in old["NetworkAcls"][0]["Associations"] if a["SubnetId"] == ids["private"]
    )
    ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=acl)
    finding = netcheck.can_reach(vpc.state(), ids["alb"], ids["api"], 8080)
    assert not finding.reachable
    assert [(h.kind, h.component) for h in finding.blocked_by] == [("network-acl-outbound", acl)], str(finding)
    ec2.create_network_acl_entry(
        NetworkAclId=acl,
        RuleNumber=100,
        Protocol="6",
        RuleAction="allow",
        Egress=True,
        CidrBlock="10.42.0.0/16",
        PortRange={"From": 1024, "To": 65535},
    )
    assert netcheck.can_reach(vpc.state(), ids["alb"], ids["api"], 8080).reachable
    # the same ACL now blocks the NAT path: no outbound 443, no inbound replies from the internet
    assert not netcheck.has_egress_via_nat(vpc.state(), ids["api"]).reachable


def test_egress_via_nat_and_nat_in_the_wrong_subnet(vpc: Vpc) -> None:
    ec2, ids = vpc.ec2, vpc.ids
    finding = netcheck.has_egress_via_nat(vpc.state(), ids["api"])
    assert finding.reachable, str(finding)
    public = netcheck.has_egress_via_nat(vpc.state(), ids["alb"])
    assert not public and public.blocked_by[0].kind == "route-table", "a public subnet goes out via the IGW, not NAT"
    # the plausible mistake: the NAT gateway placed in the private subnet it is meant to serve
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    bad_nat = ec2.create_nat_gateway(SubnetId=ids["private2"], AllocationId=eip)["NatGateway"]["NatGatewayId"]
    ec2.replace_route(RouteTableId=ids["private_rt"], DestinationCidrBlock="0.0.0.0/0", NatGatewayId=bad_nat)
    finding = netcheck.has_egress_via_nat(vpc.state(), ids["api"])
    assert not finding.reachable
    assert "nat-subnet-route" in {h.kind for h in finding.blocked_by}, str(finding)


def test_s3_gateway_endpoint_on_the_private_route_table_only(vpc: Vpc) -> None:
    state, ids = vpc.state(), vpc.ids
    finding = netcheck.s3_via_endpoint(state, ids["api"])
    assert finding.reachable, str(finding)
    outside = netcheck.s3_via_endpoint(state, ids["alb"])
    assert not outside and outside.blocked_by[0].kind == "route-table", str(outside)


def test_interface_endpoint_needs_its_sg_to_admit_the_caller(vpc: Vpc) -> None:
    ec2, ids = vpc.ec2, vpc.ids
    ep_sg = ec2.create_security_group(GroupName="vpce", Description="e", VpcId=ids["vpc"])["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=ep_sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": ids["api_sg"]}]}
        ],
    )
    service = f"com.amazonaws.{REGION}.ecr.dkr"
    missing = netcheck.interface_endpoint_reachable(vpc.state(), ids["api"], service)
    assert not missing and missing.blocked_by[0].kind == "vpc-endpoint"
    ec2.create_vpc_endpoint(
        VpcId=ids["vpc"],
        ServiceName=service,
        VpcEndpointType="Interface",
        SubnetIds=[ids["private2"]],
        SecurityGroupIds=[ep_sg],
        PrivateDnsEnabled=True,
    )
    state = vpc.state()
    assert netcheck.interface_endpoint_reachable(state, ids["api"], service).reachable
    other = netcheck.interface_endpoint_reachable(state, ids["other"], service)
    assert not other and other.blocked_by[-1].kind == "security-group-ingress", str(other)


def test_unknown_target_is_an_error(vpc: Vpc) -> None:
    with pytest.raises(KeyError):
        netcheck.is_internet_reachable(vpc.state(), "i-doesnotexist", 80)


def test_delete_vpc_removes_everything(vpc: Vpc) -> None:
    ec2, ids = vpc.ec2, vpc.ids
    ec2.create_vpc_endpoint(
        VpcId=ids["vpc"],
        ServiceName=f"com.amazonaws.{REGION}.ecr.dkr",
        VpcEndpointType="Interface",
        SubnetIds=[ids["private"]],
        SecurityGroupIds=[ids["api_sg"]],
    )
    acl = ec2.create_network_acl(VpcId=ids["vpc"])["NetworkAcl"]["NetworkAclId"]
    default = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [ids["private"]]}])
    assoc = next(a for a in default["NetworkAcls"][0]["Associations"] if a["SubnetId"] == ids["private"])
    ec2.replace_network_acl_association(AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=acl)
    netcheck.delete_vpc(ec2, ids["vpc"])
    assert ids["vpc"] not in {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    assert not ec2.describe_addresses()["Addresses"], "Elastic IPs cost money while unattached: release them"
    assert not [g for g in ec2.describe_internet_gateways()["InternetGateways"] if g["InternetGatewayId"] == ids["igw"]]
