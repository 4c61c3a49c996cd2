"""Reachability analysis over a *described* VPC: will a packet get through?

An EC2 API emulator (moto here) stores VPCs, subnets, route tables, gateways, security groups and
network ACLs exactly as AWS describes them, but it forwards no packets. This module answers the
questions a real VPC answers with traffic, by evaluating that described state the way the VPC data
plane does. It is a small, readable version of what AWS's **Reachability Analyzer** (one source,
one destination, hop-by-hop explanation) and **Network Access Analyzer** (every path that matches a
scope, e.g. "anything reachable from the internet") compute from the same configuration.

The rules it applies (AWS VPC documentation):
- routes: longest prefix match over the subnet's route table (explicit association, else the VPC's
  main table); a prefix-list route (gateway endpoint) competes with the CIDRs of its prefix list;
- security groups are stateful allow-lists: a reply needs no rule; a rule admits a CIDR, a prefix
  list or another security group (the source carries that group);
- network ACLs are stateless, per subnet, evaluated in rule-number order, first match wins, and an
  unmatched packet hits the implicit `*` deny; replies need their own rule (ephemeral ports
  1024-65535), and an ACL only applies when a packet crosses the subnet's boundary;
- from the internet an interface needs a public address and its subnet's route back to the source
  must be an internet gateway attached to the VPC; a NAT gateway must sit in such a public subnet.

`describe_vpc_state(ec2, vpc_id)` collects the state (plain `describe_*` output); the analyzers take
that dict, so they work the same on moto, on a real account, or on a hand-written test fixture.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

State = dict[str, Any]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

EPHEMERAL = (1024, 65535)  # the reply ports a client (or a NAT gateway) may pick; AWS's advice for ACLs
PROTOCOLS = {"-1": "-1", "all": "-1", "tcp": "6", "6": "6", "udp": "17", "17": "17", "icmp": "1", "1": "1"}

# Addresses that are never "the internet": private, shared, loopback, link-local, documentation, multicast.
NOT_INTERNET = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "224.0.0.0/3", "::/8", "fc00::/7", "fe80::/10", "ff00::/8", "2001:db8::/32",
    )
)  # fmt: skip


@dataclass
class Hop:
    """One component on the path and its verdict."""

    component: str  # resource id (igw-..., rtb-..., acl-..., sg-..., eni-..., nat-..., vpce-...)
    kind: str  # what it is, e.g. "network-acl-inbound"
    allowed: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok     ' if self.allowed else 'BLOCKED'} {self.kind:<24} {self.component:<26} {self.detail}"


@dataclass
class Finding:
    """The answer for one path: reachable or not, and every hop's verdict (like Reachability Analyzer)."""

    question: str
    source: str
    target: str
    port: int
    hops: list[Hop] = field(default_factory=list)
    port_range: tuple[int, int] | None = None  # set by internet_exposures: the reachable ports around `port`

    @property
    def reachable(self) -> bool:
        return bool(self.hops) and all(h.allowed for h in self.hops)

    @property
    def blocked_by(self) -> list[Hop]:
        return [h for h in self.hops if not h.allowed]

    def __bool__(self) -> bool:
        return self.reachable

    def __str__(self) -> str:
        verdict = "REACHABLE" if self.reachable else "not reachable"
        ports = (
            f"{self.port_range[0]}-{self.port_range[1]}"
            if self.port_range and len(set(self.port_range)) > 1
            else self.port
        )
        lines = [f"{self.question}: {self.source} -> {self.target}:{ports}  {verdict}"]
        lines += [f"  {hop}" for hop in self.hops]
        return "\n".join(lines)


# --------------------------------------------------------------------------- collecting the state


def describe_vpc_state(ec2: Any, vpc_id: str) -> State:
    """Everything the analyzers need about one VPC, from plain `describe_*` calls (JSON-serializable)."""
    vpc_filter = [{"Name": "vpc-id", "Values": [vpc_id]}]

    def pages(op: str, key: str, **kwargs: Any) -> list[dict]:
        out: list[dict] = []
        for page in ec2.get_paginator(op).paginate(**kwargs):
            out.extend(page.get(key, []))
        return out

    instances = [
        i
        for r in pages(
            "describe_instances",
            "Reservations",
            Filters=[*vpc_filter, {"Name": "instance-state-name", "Values": ["pending", "running"]}],
        )
        for i in r["Instances"]
    ]
    route_tables = pages("describe_route_tables", "RouteTables", Filters=vpc_filter)
    security_groups = pages("describe_security_groups", "SecurityGroups", Filters=vpc_filter)
    # entries only for the lists something here refers to, plus the region's gateway-endpoint services
    gateway_services = {f"com.amazonaws.{ec2.meta.region_name}.{svc}" for svc in ("s3", "dynamodb")}
    used = {r.get("DestinationPrefixListId") for t in route_tables for r in t.get("Routes", [])}
    used |= {
        p["PrefixListId"]
        for g in security_groups
        for rule in g.get("IpPermissions", []) + g.get("IpPermissionsEgress", [])
        for p in rule.get("PrefixListIds", [])
    }
    prefix_lists = []
    for pl in ec2.describe_prefix_lists()["PrefixLists"]:
        if pl["PrefixListId"] not in used and pl["PrefixListName"] not in gateway_services:
            continue
        cidrs = [e["Cidr"] for e in ec2.get_managed_prefix_list_entries(PrefixListId=pl["PrefixListId"])["Entries"]]
        prefix_lists.append(
            {"PrefixListId": pl["PrefixListId"], "PrefixListName": pl["PrefixListName"], "Cidrs": cidrs}
        )
    state = {
        "region": ec2.meta.region_name,
        "vpc": ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0],
        "subnets": pages("describe_subnets", "Subnets", Filters=vpc_filter),
        "route_tables": route_tables,
        "internet_gateways": pages(
            "describe_internet_gateways",
            "InternetGateways",
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}],
        ),
        "nat_gateways": [
            n
            for n in pages("describe_nat_gateways", "NatGateways", Filters=vpc_filter)
            if n.get("State") in ("pending", "available")
        ],
        "security_groups": security_groups,
        "network_acls": pages("describe_network_acls", "NetworkAcls", Filters=vpc_filter),
        "network_interfaces": pages("describe_network_interfaces", "NetworkInterfaces", Filters=vpc_filter),
        "instances": instances,
        "vpc_endpoints": [
            e
            for e in pages("describe_vpc_endpoints", "VpcEndpoints", Filters=vpc_filter)
            if e.get("State", "").lower() not in ("deleted", "deleting")
        ],
        "prefix_lists": prefix_lists,
    }
    return json.loads(json.dumps(state, default=str))  # datetimes -> str: the state is plain data


# --------------------------------------------------------------------------- small evaluators


@functools.lru_cache(maxsize=4096)
def _net(cidr: str) -> Network:
    return ipaddress.ip_network(cidr, strict=False)


@functools.lru_cache(maxsize=4096)
def _ip(address: str) -> Address:
    return ipaddress.ip_address(address)


def _proto(protocol: str | int) -> str:
    return PROTOCOLS.get(str(protocol).lower(), str(protocol))


def _proto_matches(rule_protocol: str | int, protocol: str) -> bool:
    rule = _proto(rule_protocol)
    return rule == "-1" or rule == protocol


def _ports(lo: int | None, hi: int | None) -> tuple[int, int]:
    if lo is None or hi is None or lo == -1:
        return (0, 65535)
    return (int(lo), int(hi))


def _prefix_list_cidrs(state: State, pl_id: str) -> list[str]:
    for pl in state.get("prefix_lists", []):
        if pl["PrefixListId"] == pl_id:
            return list(pl.get("Cidrs", []))
    return []


def nacl_allows(
    acl: dict,
    *,
    egress: bool,
    address: str,
    ports: int | tuple[int, int],
    protocol: str = "tcp",
) -> tuple[bool, str]:
    """Evaluate one network ACL for packets to/from `address` on every port in `ports`.

    Rules are walked in rule-number order; the first rule that matches a port decides it, allow or
    deny. `ports` given as a range is allowed only if *every* port in it is (a reply can come back on
    any ephemeral port). Returns (allowed, the rule that decided).
    """
    addr = _ip(address)
    proto = _proto(protocol)
    lo, hi = (ports, ports) if isinstance(ports, int) else ports
    undecided = [(lo, hi)]
    allow_rules: list[str] = []
    direction = "outbound" if egress else "inbound"
    for entry in sorted(
        (e for e in acl.get("Entries", []) if e.get("Egress") == egress), key=lambda e: e["RuleNumber"]
    ):
        cidr = entry.get("CidrBlock") or entry.get("Ipv6CidrBlock")
        if not cidr or _net(cidr).version != addr.version or addr not in _net(cidr):
            continue
        if not _proto_matches(entry.get("Protocol", "-1"), proto):
            continue
        r_lo, r_hi = (
            (0, 65535)
            if _proto(entry.get("Protocol", "-1")) == "-1"
            else _ports((entry.get("PortRange") or {}).get("From"), (entry.get("PortRange") or {}).get("To"))
        )
        rest = []
        hit = False
        for u_lo, u_hi in undecided:
            o_lo, o_hi = max(u_lo, r_lo), min(u_hi, r_hi)
            if o_lo > o_hi:
                rest.append((u_lo, u_hi))
                continue
            hit = True
            if u_lo < o_lo:
                rest.append((u_lo, o_lo - 1))
            if o_hi < u_hi:
                rest.append((o_hi + 1, u_hi))
        if not hit:
            continue
        what = "all traffic" if _proto(entry.get("Protocol", "-1")) == "-1" else f"ports {r_lo}-{r_hi}"
        label = f"rule {entry['RuleNumber']} {entry['RuleAction']} {cidr} {what}"
        if entry["RuleAction"] == "deny":
            return False, f"{direction} {address} ports {lo}-{hi}: {label}"
        allow_rules.append(label)
        undecided = rest
        if not undecided:
            return True, f"{direction} {address} ports {lo}-{hi}: " + "; ".join(allow_rules)
    gap = ", ".join(f"{a}-{b}" for a, b in undecided)
    return False, f"{direction} {address}: ports {gap} match no rule, implicit * deny"


def _sg_rule_matches(rule: dict, proto: str, port: int) -> bool:
    if not _proto_matches(rule.get("IpProtocol", "-1"), proto):
        return False
    if _proto(rule.get("IpProtocol", "-1")) == "-1":
        return True
    lo, hi = _ports(rule.get("FromPort"), rule.get("ToPort"))
    return lo <= port <= hi


def security_groups_allow(
    state: State,
    group_ids: Iterable[str],
    *,
    egress: bool,
    address: str,
    port: int,
    peer_groups: Iterable[str] = (),
    prefix_list: str | None = None,
    protocol: str = "tcp",
) -> tuple[bool, str]:
    """Does any of `group_ids` have a rule (ingress, or egress) for `address`:`port`?

    The peer matches a rule by CIDR, by a security-group reference (`peer_groups` are the groups the
    peer interface carries), or by prefix list (`prefix_list`, or a listed CIDR containing the address).
    """
    addr = _ip(address)
    proto = _proto(protocol)
    peers = set(peer_groups)
    groups = {g["GroupId"]: g for g in state["security_groups"]}
    key = "IpPermissionsEgress" if egress else "IpPermissions"
    ids = list(group_ids)
    for gid in ids:
        for rule in groups.get(gid, {}).get(key, []):
            if not _sg_rule_matches(rule, proto, port):
                continue
            for r in rule.get("IpRanges", []):
                if _net(r["CidrIp"]).version == addr.version and addr in _net(r["CidrIp"]):
                    return True, f"{gid} {'egress' if egress else 'ingress'} {r['CidrIp']} {_rule_text(rule)}"
            for r in rule.get("Ipv6Ranges", []):
                if _net(r["CidrIpv6"]).version == addr.version and addr in _net(r["CidrIpv6"]):
                    return True, f"{gid} {'egress' if egress else 'ingress'} {r['CidrIpv6']} {_rule_text(rule)}"
            for pair in rule.get("UserIdGroupPairs", []):
                if pair.get("GroupId") in peers:
                    return (
                        True,
                        f"{gid} {'egress' if egress else 'ingress'} from/to group {pair['GroupId']} {_rule_text(rule)}",
                    )
            for pl in rule.get("PrefixListIds", []):
                pl_id = pl["PrefixListId"]
                if pl_id == prefix_list or any(
                    _net(c).version == addr.version and addr in _net(c) for c in _prefix_list_cidrs(state, pl_id)
                ):
                    return True, f"{gid} {'egress' if egress else 'ingress'} prefix list {pl_id} {_rule_text(rule)}"
    side = "egress to" if egress else "ingress from"
    return False, f"no rule in {', '.join(ids) or 'no groups'} allows {side} {address} on {protocol} {port}"


def _rule_text(rule: dict) -> str:
    if _proto(rule.get("IpProtocol", "-1")) == "-1":
        return "all traffic"
    lo, hi = _ports(rule.get("FromPort"), rule.get("ToPort"))
    return f"{rule.get('IpProtocol')} {lo}" + (f"-{hi}" if hi != lo else "")


def route_table_for(state: State, subnet_id: str) -> dict | None:
    """The subnet's route table: its explicit association, else the VPC's main table."""
    main = None
    for table in state["route_tables"]:
        for assoc in table.get("Associations", []):
            if assoc.get("SubnetId") == subnet_id:
                return table
            if assoc.get("Main"):
                main = table
    return main


def route_for(state: State, table: dict | None, address: str) -> dict | None:
    """Longest-prefix-match route for `address` (prefix-list routes match on their list's CIDRs)."""
    if table is None:
        return None
    addr = _ip(address)
    best, best_len = None, -1
    for route in table.get("Routes", []):
        cidrs = [route.get("DestinationCidrBlock") or route.get("DestinationIpv6CidrBlock")]
        if route.get("DestinationPrefixListId"):
            cidrs = _prefix_list_cidrs(state, route["DestinationPrefixListId"])
        for cidr in filter(None, cidrs):
            net = _net(cidr)
            if net.version == addr.version and addr in net and net.prefixlen > best_len:
                best, best_len = route, net.prefixlen
    return best


def route_target(route: dict) -> str:
    """What a route points at: 'local', igw-..., nat-..., vpce-..., eni-..., pcx-..., tgw-..."""
    for key in ("NatGatewayId", "TransitGatewayId", "VpcPeeringConnectionId", "NetworkInterfaceId", "GatewayId"):
        if route.get(key):
            return str(route[key])
    return "?"


def _route_text(route: dict) -> str:
    dest = (
        route.get("DestinationCidrBlock")
        or route.get("DestinationIpv6CidrBlock")
        or route.get("DestinationPrefixListId")
    )
    return f"{dest} -> {route_target(route)}" + (" (blackhole)" if route.get("State") == "blackhole" else "")


def nacl_for(state: State, subnet_id: str) -> dict | None:
    """The network ACL associated with the subnet (every subnet has exactly one)."""
    for acl in state["network_acls"]:
        if any(a.get("SubnetId") == subnet_id for a in acl.get("Associations", [])):
            return acl
    return next((a for a in state["network_acls"] if a.get("IsDefault")), None)


def _subnet(state: State, subnet_id: str) -> dict:
    return next(s for s in state["subnets"] if s["SubnetId"] == subnet_id)


def _host_in(subnet: dict, ip: str | None) -> str:
    """`ip` if it lies in the subnet, else the subnet's first usable host (some emulated ENIs get stray IPs)."""
    net = _net(subnet["CidrBlock"])
    if ip and _ip(ip) in net:
        return ip
    return str(net.network_address + 4)  # AWS reserves the first four addresses of every subnet


def attached_igws(state: State) -> list[str]:
    vpc_id = state["vpc"]["VpcId"]
    return [
        g["InternetGatewayId"]
        for g in state["internet_gateways"]
        if any(a.get("VpcId") == vpc_id and a.get("State", "available") in ("available", "attached")
               for a in g.get("Attachments", []))
    ]  # fmt: skip


def vpc_networks(state: State) -> list[Network]:
    vpc = state["vpc"]
    cidrs = [a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet", [])] or [vpc["CidrBlock"]]
    cidrs += [a["Ipv6CidrBlock"] for a in vpc.get("Ipv6CidrBlockAssociationSet", []) if a.get("Ipv6CidrBlock")]
    return [_net(c) for c in cidrs]


# --------------------------------------------------------------------------- endpoints of a path


@dataclass
class Endpoint:
    """A network interface as the analyzers see it."""

    eni_id: str
    label: str  # the instance id when the ENI belongs to one
    subnet_id: str
    private_ip: str
    public_ip: str | None
    ipv6: list[str]
    groups: list[str]


def endpoints(state: State) -> list[Endpoint]:
    """Every interface in the VPC: instances' ENIs (running ones only) and standalone ENIs."""
    running = {i["InstanceId"] for i in state.get("instances", [])}
    out: dict[str, Endpoint] = {}
    for eni in state.get("network_interfaces", []):
        owner = (eni.get("Attachment") or {}).get("InstanceId")
        if owner and owner not in running:
            continue
        out[eni["NetworkInterfaceId"]] = _endpoint_from(eni, owner or eni["NetworkInterfaceId"])
    for inst in state.get("instances", []):
        for eni in inst.get("NetworkInterfaces", []):
            out.setdefault(eni["NetworkInterfaceId"], _endpoint_from(eni, inst["InstanceId"]))
    return list(out.values())


def _endpoint_from(eni: dict, label: str) -> Endpoint:
    public = (eni.get("Association") or {}).get("PublicIp")
    return Endpoint(
        eni_id=eni["NetworkInterfaceId"],
        label=label,
        subnet_id=eni["SubnetId"],
        private_ip=eni["PrivateIpAddress"],
        public_ip=public,
        ipv6=[a["Ipv6Address"] for a in eni.get("Ipv6Addresses", [])],
        groups=[g["GroupId"] for g in eni.get("Groups", [])],
    )


def resolve(state: State, ref: str) -> list[Endpoint]:
    """An instance id or ENI id -> its interfaces (KeyError if it is not a running member of the VPC)."""
    found = [e for e in endpoints(state) if ref in (e.eni_id, e.label)]
    if not found:
        raise KeyError(f"{ref} is not a running instance or network interface in {state['vpc']['VpcId']}")
    return found


# --------------------------------------------------------------------------- the analyzers


def _internet_candidates(state: State, version: int) -> list[str]:
    """One public address per region of address space in which every rule decides the same way.

    Every CIDR in the VPC's rules and routes cuts the address space; within one cell all rules agree,
    so checking the first public address of each cell answers "is there ANY internet address that
    gets through" exactly (the same idea Network Access Analyzer uses for its "internet" source).
    """
    cidrs: list[str] = ["0.0.0.0/0" if version == 4 else "::/0"]
    for sg in state["security_groups"]:
        for rule in sg.get("IpPermissions", []) + sg.get("IpPermissionsEgress", []):
            cidrs += [r["CidrIp"] for r in rule.get("IpRanges", [])] + [
                r["CidrIpv6"] for r in rule.get("Ipv6Ranges", [])
            ]
    for acl in state["network_acls"]:
        cidrs += [e.get("CidrBlock") or e.get("Ipv6CidrBlock") for e in acl.get("Entries", [])]
    for table in state["route_tables"]:
        cidrs += [r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock") for r in table.get("Routes", [])]
    for pl in state.get("prefix_lists", []):
        cidrs += pl.get("Cidrs", [])
    excluded = [n for n in (*NOT_INTERNET, *vpc_networks(state)) if n.version == version]
    nets = {_net(c) for c in cidrs if c and _net(c).version == version} | set(excluded)
    top = 2**32 if version == 4 else 2**128
    points = set()
    for net in nets:
        points.add(int(net.network_address))
        if int(net.broadcast_address) + 1 < top:
            points.add(int(net.broadcast_address) + 1)
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return [str(make(p)) for p in sorted(points) if not any(make(p) in n for n in excluded)]


def _best(findings: list[Finding]) -> Finding:
    """The reachable finding if any, else the one that got furthest (fewest blocked hops)."""
    return min(findings, key=lambda f: (not f.reachable, len(f.blocked_by)))


def is_internet_reachable(
    state: State, target: str, port: int, *, source: str | None = None, protocol: str = "tcp"
) -> Finding:
    """Can a host on the internet open a connection to `target` (instance or ENI id) on `port`?

    With `source=None` every internet address is considered (IPv4, and IPv6 when the target has
    IPv6 addresses); the finding shows the address that gets through, or the closest miss.
    """
    findings = []
    for ep in resolve(state, target):
        finding = _from_internet(state, ep, port, source, protocol)
        if finding.reachable:
            return finding
        findings.append(finding)
    return _best(findings)


def _from_internet(
    state: State,
    ep: Endpoint,
    port: int,
    source: str | None,
    protocol: str,
    candidates: tuple[list[str], list[str]] | None = None,
    explain_miss: bool = True,
) -> Finding:
    if source is not None:
        sources = [source]
    else:
        v4, v6 = candidates or (_internet_candidates(state, 4), _internet_candidates(state, 6) if ep.ipv6 else [])
        sources = v4 + (v6 if ep.ipv6 else [])
    for src in sources:  # first a quick pass that stops at the first blocked hop
        if _inbound_from_internet(state, ep, port, src, protocol, stop_at_block=True).reachable:
            return _inbound_from_internet(state, ep, port, src, protocol)
    if not explain_miss:
        return Finding("internet -> interface", sources[0] if sources else "-", ep.label, port)
    return _best([_inbound_from_internet(state, ep, port, src, protocol) for src in sources])


def _inbound_from_internet(
    state: State, ep: Endpoint, port: int, source: str, protocol: str, stop_at_block: bool = False
) -> Finding:
    finding = Finding("internet -> interface", source, ep.label, port)

    def stop(hop: Hop) -> bool:
        finding.hops.append(hop)
        return stop_at_block and not hop.allowed

    version = _ip(source).version
    igws = attached_igws(state)
    if stop(
        Hop(
            igws[0] if igws else "-",
            "internet-gateway",
            bool(igws),
            f"attached to {state['vpc']['VpcId']}" if igws else "the VPC has no attached internet gateway",
        )
    ):
        return finding  # fmt: skip
    public = ep.public_ip if version == 4 else (ep.ipv6[0] if ep.ipv6 else None)
    if stop(
        Hop(
            ep.eni_id,
            "public-address",
            public is not None,
            f"public address {public}" if public else f"{ep.eni_id} has no public IPv{version} address",
        )
    ):
        return finding  # fmt: skip
    table = route_table_for(state, ep.subnet_id)
    route = route_for(state, table, source)
    ok = route is not None and route_target(route) in igws and route.get("State") != "blackhole"
    detail = f"reply route {_route_text(route)}" if route else f"no route back to {source}"
    if route is not None and not ok:
        detail += " (replies must leave through the attached internet gateway: the subnet is not public)"
    if stop(Hop(table["RouteTableId"] if table else "-", "route-table", ok, detail)):
        return finding
    acl = nacl_for(state, ep.subnet_id)
    acl_id = acl["NetworkAclId"] if acl else "-"
    allowed, why = nacl_allows(acl or {}, egress=False, address=source, ports=port, protocol=protocol)
    if stop(Hop(acl_id, "network-acl-inbound", allowed, why)):
        return finding
    allowed, why = security_groups_allow(state, ep.groups, egress=False, address=source, port=port, protocol=protocol)
    if stop(Hop(",".join(ep.groups) or ep.eni_id, "security-group-ingress", allowed, why)):
        return finding
    allowed, why = nacl_allows(acl or {}, egress=True, address=source, ports=EPHEMERAL, protocol=protocol)
    stop(Hop(acl_id, "network-acl-outbound", allowed, f"replies: {why}"))
    return finding


def _acl_hops(
    state: State, src: Endpoint, src_ip: str, dst_subnet: str, dst_ip: str, port: int, protocol: str
) -> list[Hop]:
    """The four network-ACL checks of a connection between two subnets (none within one subnet)."""
    if src.subnet_id == dst_subnet:
        return []
    a, b = nacl_for(state, src.subnet_id) or {}, nacl_for(state, dst_subnet) or {}
    checks = [
        (a, True, dst_ip, port, "network-acl-outbound", ""),
        (b, False, src_ip, port, "network-acl-inbound", ""),
        (b, True, src_ip, EPHEMERAL, "network-acl-outbound", "replies: "),
        (a, False, dst_ip, EPHEMERAL, "network-acl-inbound", "replies: "),
    ]
    hops = []
    for acl, egress, addr, ports, kind, prefix in checks:
        allowed, why = nacl_allows(acl, egress=egress, address=addr, ports=ports, protocol=protocol)
        hops.append(Hop(acl.get("NetworkAclId", "-"), kind, allowed, prefix + why))
    return hops


def can_reach(state: State, source: str, target: str, port: int, *, protocol: str = "tcp") -> Finding:
    """Can `source` open a connection to `target` on `port` inside the VPC (instance or ENI ids)?"""
    findings = []
    for src in resolve(state, source):
        for dst in resolve(state, target):
            f = Finding("inside the VPC", src.label, dst.label, port)
            ok, why = security_groups_allow(
                state, src.groups, egress=True, address=dst.private_ip, port=port, peer_groups=dst.groups,
                protocol=protocol,
            )  # fmt: skip
            f.hops.append(Hop(",".join(src.groups), "security-group-egress", ok, why))
            route = route_for(state, route_table_for(state, src.subnet_id), dst.private_ip)
            local = route is not None and route_target(route) == "local"
            detail = f"route {_route_text(route)}" if route else f"no route to {dst.private_ip}"
            f.hops.append(Hop(src.subnet_id, "route-table", local, detail))
            f.hops += _acl_hops(state, src, src.private_ip, dst.subnet_id, dst.private_ip, port, protocol)
            ok, why = security_groups_allow(
                state, dst.groups, egress=False, address=src.private_ip, port=port, peer_groups=src.groups,
                protocol=protocol,
            )  # fmt: skip
            f.hops.append(Hop(",".join(dst.groups), "security-group-ingress", ok, why))
            findings.append(f)
    return _best(findings)


def has_egress_via_nat(
    state: State, source: str, *, port: int = 443, destination: str | None = None, protocol: str = "tcp"
) -> Finding:
    """Can `source` open connections to the internet through a NAT gateway (not directly via an IGW)?

    Checks the source's security group egress and ACLs, its subnet's route to a NAT gateway, and the
    NAT gateway's own placement: a public address, a subnet whose route goes to the attached internet
    gateway, and that subnet's ACLs for the forwarded traffic and its replies.
    """
    findings = []
    dests = [destination] if destination else _internet_candidates(state, 4)
    for src in resolve(state, source):
        findings += [_egress_via_nat(state, src, dest, port, protocol) for dest in dests]
    return _best(findings)


def _egress_via_nat(state: State, src: Endpoint, dest: str, port: int, protocol: str) -> Finding:
    f = Finding("egress via NAT gateway", src.label, dest, port)
    ok, why = security_groups_allow(state, src.groups, egress=True, address=dest, port=port, protocol=protocol)
    f.hops.append(Hop(",".join(src.groups), "security-group-egress", ok, why))
    table = route_table_for(state, src.subnet_id)
    route = route_for(state, table, dest)
    target = route_target(route) if route else None
    nat = next((n for n in state["nat_gateways"] if n["NatGatewayId"] == target), None)
    detail = f"route {_route_text(route)}" if route else f"no route to {dest}"
    if route is not None and nat is None:
        detail += " (not a NAT gateway of this VPC)"
    f.hops.append(Hop(table["RouteTableId"] if table else "-", "route-table", nat is not None, detail))
    acl = nacl_for(state, src.subnet_id) or {}
    ok, why = nacl_allows(acl, egress=True, address=dest, ports=port, protocol=protocol)
    f.hops.append(Hop(acl.get("NetworkAclId", "-"), "network-acl-outbound", ok, why))
    ok, why = nacl_allows(acl, egress=False, address=dest, ports=EPHEMERAL, protocol=protocol)
    f.hops.append(Hop(acl.get("NetworkAclId", "-"), "network-acl-inbound", ok, f"replies: {why}"))
    if nat is None:
        return f
    nat_id = nat["NatGatewayId"]
    public = [a.get("PublicIp") for a in nat.get("NatGatewayAddresses", []) if a.get("PublicIp")]
    is_public = nat.get("ConnectivityType", "public") == "public" and bool(public)
    f.hops.append(
        Hop(nat_id, "nat-gateway", is_public and nat.get("State") in ("available", "pending"),
            f"state {nat.get('State')}, public IP {public[0] if public else 'none'}, in {nat['SubnetId']}")
    )  # fmt: skip
    igws = attached_igws(state)
    nat_table = route_table_for(state, nat["SubnetId"])
    nat_route = route_for(state, nat_table, dest)
    ok = nat_route is not None and route_target(nat_route) in igws and nat_route.get("State") != "blackhole"
    detail = f"NAT subnet {nat['SubnetId']} route {_route_text(nat_route)}" if nat_route else "no route out"
    if not ok:
        detail += " (a NAT gateway must sit in a public subnet, routed to the internet gateway)"
    f.hops.append(Hop(nat_table["RouteTableId"] if nat_table else "-", "nat-subnet-route", ok, detail))
    if nat["SubnetId"] != src.subnet_id:
        # ACLs match the remote address: inside the VPC the packets carry the instance's and the server's.
        nat_acl = nacl_for(state, nat["SubnetId"]) or {}
        checks = [
            (False, src.private_ip, port, "from the instance: "),
            (True, dest, port, "to the internet: "),
            (False, dest, EPHEMERAL, "replies from the internet: "),
            (True, src.private_ip, EPHEMERAL, "replies to the instance: "),
        ]
        for egress, addr, ports, prefix in checks:
            ok, why = nacl_allows(nat_acl, egress=egress, address=addr, ports=ports, protocol=protocol)
            kind = "nat-acl-outbound" if egress else "nat-acl-inbound"
            f.hops.append(Hop(nat_acl.get("NetworkAclId", "-"), kind, ok, prefix + why))
    return f


def service_prefix_list(state: State, service: str = "s3") -> dict | None:
    """The AWS-managed prefix list of a gateway-endpoint service (s3, dynamodb) in the state's region."""
    name = f"com.amazonaws.{state['region']}.{service}"
    return next((p for p in state.get("prefix_lists", []) if p["PrefixListName"] == name), None)


def s3_via_endpoint(state: State, source: str, *, port: int = 443, protocol: str = "tcp") -> Finding:
    """Does `source` reach S3 through a gateway VPC endpoint (traffic never leaves the AWS network)?

    Every CIDR of the S3 prefix list must route to a gateway endpoint for S3 associated with the
    source subnet's route table (longest prefix match, so a more specific route elsewhere loses S3),
    and the security group and network ACLs must let HTTPS to those CIDRs out and the replies in.
    """
    src = resolve(state, source)[0]
    pl = service_prefix_list(state, "s3")
    f = Finding("S3 via gateway endpoint", src.label, pl["PrefixListId"] if pl else "s3", port)
    if pl is None or not pl.get("Cidrs"):
        f.hops.append(Hop("-", "prefix-list", False, f"no S3 prefix list for {state['region']} in the state"))
        return f
    table = route_table_for(state, src.subnet_id)
    table_id = table["RouteTableId"] if table else "-"
    endpoints_by_id = {e["VpcEndpointId"]: e for e in state.get("vpc_endpoints", [])}
    for cidr in pl["Cidrs"]:
        addr = str(_net(cidr).network_address)
        route = route_for(state, table, addr)
        vpce = endpoints_by_id.get(route_target(route)) if route else None
        ok = (
            vpce is not None
            and vpce.get("ServiceName") == pl["PrefixListName"]
            and vpce.get("VpcEndpointType", "Gateway").lower() == "gateway"
            and table_id in vpce.get("RouteTableIds", [])
            and vpce.get("State", "available").lower() == "available"
        )
        detail = f"{cidr}: route {_route_text(route)}" if route else f"{cidr}: no route"
        if route is not None and not ok:
            detail += " (S3 traffic does not go to an S3 gateway endpoint on this route table)"
        f.hops.append(Hop(table_id, "route-table", ok, detail))
    addr = str(_net(pl["Cidrs"][0]).network_address)
    ok, why = security_groups_allow(
        state, src.groups, egress=True, address=addr, port=port, prefix_list=pl["PrefixListId"], protocol=protocol
    )
    f.hops.append(Hop(",".join(src.groups), "security-group-egress", ok, why))
    acl = nacl_for(state, src.subnet_id) or {}
    for cidr in pl["Cidrs"]:
        addr = str(_net(cidr).network_address)
        ok, why = nacl_allows(acl, egress=True, address=addr, ports=port, protocol=protocol)
        f.hops.append(Hop(acl.get("NetworkAclId", "-"), "network-acl-outbound", ok, why))
        ok, why = nacl_allows(acl, egress=False, address=addr, ports=EPHEMERAL, protocol=protocol)
        f.hops.append(Hop(acl.get("NetworkAclId", "-"), "network-acl-inbound", ok, f"replies: {why}"))
    return f


def interface_endpoint_reachable(
    state: State, source: str, service_name: str, *, port: int = 443, protocol: str = "tcp"
) -> Finding:
    """Can `source` reach an AWS service through an interface endpoint (PrivateLink) in its VPC?

    Needs an available Interface endpoint for `service_name` with private DNS on (so the SDK's normal
    hostname resolves to it), a subnet of the endpoint the source can reach (its own AZ if possible),
    the endpoint's security group admitting the source, and the ACLs between them.
    """
    src = resolve(state, source)[0]
    f = Finding("PrivateLink interface endpoint", src.label, service_name, port)
    matches = [
        e
        for e in state.get("vpc_endpoints", [])
        if e.get("ServiceName") == service_name and e.get("VpcEndpointType", "").lower() == "interface"
    ]
    if not matches:
        f.hops.append(Hop("-", "vpc-endpoint", False, f"no interface endpoint for {service_name} in the VPC"))
        return f
    vpce = matches[0]
    available = vpce.get("State", "available").lower() == "available"
    f.hops.append(Hop(vpce["VpcEndpointId"], "vpc-endpoint", available, f"state {vpce.get('State')}"))
    dns = bool(vpce.get("PrivateDnsEnabled"))
    f.hops.append(
        Hop(vpce["VpcEndpointId"], "private-dns", dns,
            "the service's default hostname resolves to the endpoint" if dns
            else "private DNS is off: SDKs keep resolving the public endpoint (through the NAT gateway)")
    )  # fmt: skip
    subnets = vpce.get("SubnetIds", [])
    if not subnets:
        f.hops.append(Hop(vpce["VpcEndpointId"], "endpoint-subnet", False, "the endpoint has no subnet"))
        return f
    az = _subnet(state, src.subnet_id)["AvailabilityZone"]
    same_az = [s for s in subnets if _subnet(state, s)["AvailabilityZone"] == az]
    subnet_id = (same_az or subnets)[0]
    f.hops.append(
        Hop(subnet_id, "endpoint-subnet", True,
            f"endpoint network interface in {az}" if same_az else "no endpoint interface in the source's AZ "
            "(works across AZs, at inter-AZ data prices)")
    )  # fmt: skip
    enis = {e["NetworkInterfaceId"]: e for e in state.get("network_interfaces", [])}
    eni_ip = next(
        (
            enis[i]["PrivateIpAddress"]
            for i in vpce.get("NetworkInterfaceIds", [])
            if enis.get(i, {}).get("SubnetId") == subnet_id
        ),
        None,
    )
    dst_ip = _host_in(_subnet(state, subnet_id), eni_ip)
    groups = [g["GroupId"] for g in vpce.get("Groups", [])]
    ok, why = security_groups_allow(
        state, src.groups, egress=True, address=dst_ip, port=port, peer_groups=groups, protocol=protocol
    )
    f.hops.append(Hop(",".join(src.groups), "security-group-egress", ok, why))
    f.hops += _acl_hops(state, src, src.private_ip, subnet_id, dst_ip, port, protocol)
    ok, why = security_groups_allow(
        state, groups, egress=False, address=src.private_ip, port=port, peer_groups=src.groups, protocol=protocol
    )
    f.hops.append(Hop(",".join(groups), "security-group-ingress", ok, why))
    return f


def _candidate_ports(state: State) -> list[int]:
    """One port per range in which every security-group and ACL rule decides the same way."""
    points = {1, 65535}
    for sg in state["security_groups"]:
        for rule in sg.get("IpPermissions", []):
            if _proto(rule.get("IpProtocol", "-1")) != "-1":
                lo, hi = _ports(rule.get("FromPort"), rule.get("ToPort"))
                points |= {lo, hi + 1}
    for acl in state["network_acls"]:
        for e in acl.get("Entries", []):
            if e.get("PortRange"):
                points |= {e["PortRange"]["From"], e["PortRange"]["To"] + 1}
    return sorted(p for p in points if 1 <= p <= 65535)


def internet_exposures(state: State, ports: Sequence[int] | None = None, *, protocol: str = "tcp") -> list[Finding]:
    """Every interface in the VPC that the internet can reach: the Network Access Analyzer question.

    With explicit `ports`, one finding per (interface, reachable port). With `ports=None` the whole
    port space is searched (one port per range in which all rules agree) and each finding covers a
    contiguous range of reachable ports: `finding.port` is its first port, `finding.port_range` both ends.
    """
    search = ports is None
    candidates = _candidate_ports(state) if search else list(ports or [])
    sources = (_internet_candidates(state, 4), _internet_candidates(state, 6))
    found = []
    for ep in endpoints(state):
        if ep.public_ip is None and not ep.ipv6:
            continue  # no public address: every path from the internet stops at the first hop
        open_run: Finding | None = None
        for i, port in enumerate(candidates):
            finding = _from_internet(state, ep, port, None, protocol, sources, explain_miss=False)
            if not finding.reachable:
                open_run = None
                continue
            last = (candidates[i + 1] - 1) if search and i + 1 < len(candidates) else (65535 if search else port)
            if search and open_run is not None:
                open_run.port_range = (open_run.port, last)
                continue
            finding.target, finding.port_range = ep.label, (port, last)
            found.append(finding)
            open_run = finding if search else None
    return found


# --------------------------------------------------------------------------- cleanup


def delete_vpc(ec2: Any, vpc_id: str) -> None:
    """Delete a VPC and everything in it, dependencies first (instances, ENIs and their Elastic IPs,
    endpoints, NAT gateways, internet gateways, subnets, route tables, ACLs, security groups)."""
    vpc_filter = [{"Name": "vpc-id", "Values": [vpc_id]}]
    reservations = ec2.describe_instances(Filters=vpc_filter)["Reservations"]
    instance_ids = [i["InstanceId"] for r in reservations for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    if instance_ids:
        ec2.terminate_instances(InstanceIds=instance_ids)
    for endpoint in ec2.describe_vpc_endpoints(Filters=vpc_filter)["VpcEndpoints"]:
        # NotFound: something it points at is already gone (a half-finished earlier cleanup)
        _unless_not_found(ec2.delete_vpc_endpoints, VpcEndpointIds=[endpoint["VpcEndpointId"]])
    allocations = []
    for nat in ec2.describe_nat_gateways(Filters=vpc_filter)["NatGateways"]:
        if nat.get("State") not in ("deleted", "deleting"):
            ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
            allocations += [a["AllocationId"] for a in nat.get("NatGatewayAddresses", []) if a.get("AllocationId")]
    for eni in ec2.describe_network_interfaces(Filters=vpc_filter)["NetworkInterfaces"]:
        assoc = eni.get("Association") or {}
        if assoc.get("AllocationId"):
            ec2.disassociate_address(AssociationId=assoc["AssociationId"])
            allocations.append(assoc["AllocationId"])
        if not eni.get("Attachment"):
            with contextlib.suppress(ClientError):  # endpoint ENIs belong to AWS and go with their endpoint
                ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    for allocation in dict.fromkeys(allocations):  # a NAT gateway's address also shows on its ENI
        with contextlib.suppress(ClientError):
            ec2.release_address(AllocationId=allocation)
    for igw in ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])[
        "InternetGateways"
    ]:
        ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc_id)
        ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
    for table in ec2.describe_route_tables(Filters=vpc_filter)["RouteTables"]:
        if not any(a.get("Main") for a in table.get("Associations", [])):
            for assoc in table.get("Associations", []):
                ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
            ec2.delete_route_table(RouteTableId=table["RouteTableId"])
    acls = ec2.describe_network_acls(Filters=vpc_filter)["NetworkAcls"]
    default_acl = next((a["NetworkAclId"] for a in acls if a.get("IsDefault")), None)
    for acl in acls:  # a custom ACL cannot go while subnets use it: hand them back to the default one
        for assoc in acl.get("Associations", []) if default_acl and not acl.get("IsDefault") else []:
            ec2.replace_network_acl_association(
                AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=default_acl
            )
    for subnet in ec2.describe_subnets(Filters=vpc_filter)["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    for acl in ec2.describe_network_acls(Filters=vpc_filter)["NetworkAcls"]:
        if not acl.get("IsDefault"):
            ec2.delete_network_acl(NetworkAclId=acl["NetworkAclId"])
    groups = [
        g for g in ec2.describe_security_groups(Filters=vpc_filter)["SecurityGroups"] if g["GroupName"] != "default"
    ]
    for group in groups:  # groups that reference each other cannot be deleted until the rules go
        if group.get("IpPermissions"):
            ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
    for group in groups:
        ec2.delete_security_group(GroupId=group["GroupId"])
    ec2.delete_vpc(VpcId=vpc_id)


def _unless_not_found(call: Any, **kwargs: Any) -> None:
    try:
        call(**kwargs)
    except ClientError as err:
        if "NotFound" not in err.response.get("Error", {}).get("Code", ""):
            raise


# --------------------------------------------------------------------------- design helper


def plan_subnets(vpc_cidr: str, azs: Sequence[str], tiers: dict[str, int]) -> dict[tuple[str, str], str]:
    """Carve `vpc_cidr` into one subnet per (tier, AZ), tiers in the order given, each of prefix `tiers[tier]`.

    >>> plan_subnets("10.0.0.0/16", ["a", "b"], {"public": 24, "private": 20})[("private", "b")]
    '10.0.32.0/20'
    """
    vpc = _net(vpc_cidr)
    cursor = int(vpc.network_address)
    plan = {}
    for tier, prefix in tiers.items():
        size = 2 ** (vpc.max_prefixlen - prefix)
        for az in azs:
            cursor = -(-cursor // size) * size  # align to the subnet size
            net = (
                ipaddress.ip_network((cursor, prefix)) if vpc.version == 4 else ipaddress.IPv6Network((cursor, prefix))
            )
            if not net.subnet_of(vpc):  # type: ignore[arg-type]
                raise ValueError(f"{vpc_cidr} has no room for a /{prefix} {tier} subnet in {az}")
            plan[(tier, az)] = str(net)
            cursor += size
    return plan
