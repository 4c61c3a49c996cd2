"""labkit.waf: replaying requests through a wafv2 web ACL."""

from __future__ import annotations

import pytest

from labkit.waf import BODY_LIMIT, Request, UnsupportedStatementError, WebAclEvaluator, ip_sets_for

BAD = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/bad-actors/1111"
OFFICE = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/office/2222"
VIS = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "m"}


def _path(text: str, position: str = "STARTS_WITH", transform: str = "NONE") -> dict:
    return {
        "ByteMatchStatement": {
            "SearchString": text.encode(),  # boto3 returns SearchString as bytes
            "FieldToMatch": {"UriPath": {}},
            "TextTransformations": [{"Priority": 0, "Type": transform}],
            "PositionalConstraint": position,
        }
    }


def _rule(name: str, priority: int, statement: dict, action: str = "Block", **extra) -> dict:
    return {
        "Name": name,
        "Priority": priority,
        "Statement": statement,
        "Action": {action: extra},
        "VisibilityConfig": VIS,
    }


def _acl(*rules: dict, default: str = "Allow") -> dict:
    return {"WebACL": {"Name": "t", "DefaultAction": {default: {}}, "Rules": list(rules), "VisibilityConfig": VIS}}


IP_SETS = {BAD: ["203.0.113.0/24", "2001:db8::/32"], OFFICE: ["198.51.100.10/32"]}


def test_priority_order_ip_sets_and_default():
    acl = _acl(
        _rule("allow-office", 0, {"IPSetReferenceStatement": {"ARN": OFFICE}}, "Allow"),
        _rule("block-bad", 1, {"IPSetReferenceStatement": {"ARN": BAD}}),
    )
    waf = WebAclEvaluator(acl, IP_SETS)
    assert waf(Request("203.0.113.9")).action == "BLOCK"
    assert waf(Request("203.0.113.9")).rule == "block-bad" and waf(Request("203.0.113.9")).status == 403
    assert waf(Request("2001:db8::1")).action == "BLOCK"
    assert waf(Request("198.51.100.10")).rule == "allow-office"
    ok = waf(Request("192.0.2.1"))
    assert ok.allowed and ok.rule is None and ok.status is None


def test_rate_limit_with_scope_down_counts_in_a_sliding_window():
    rate = {
        "RateBasedStatement": {
            "Limit": 10,
            "AggregateKeyType": "IP",
            "EvaluationWindowSec": 60,
            "ScopeDownStatement": _path("/score"),
        }
    }
    waf = WebAclEvaluator(_acl(_rule("rate", 0, rate, CustomResponse={"ResponseCode": 429})))
    trace = [Request("192.0.2.1", "/score", time=t * 1.0) for t in range(15)]
    verdicts = waf.replay(trace)
    assert [v.action for v in verdicts] == ["ALLOW"] * 10 + ["BLOCK"] * 5
    assert verdicts[-1].status == 429
    # another client and an unscoped path are not limited
    assert waf(Request("192.0.2.2", "/score", time=15)).allowed
    assert all(waf(Request("192.0.2.1", "/health", time=15 + i)).allowed for i in range(20))
    # the window slides: 60 s after the burst, the client is served again
    assert waf(Request("192.0.2.1", "/score", time=80)).allowed
    with pytest.raises(ValueError, match="time order"):
        waf(Request("192.0.2.1", "/score", time=1))


def test_constant_key_limits_everyone_together():
    rate = {"RateBasedStatement": {"Limit": 3, "AggregateKeyType": "CONSTANT"}}
    waf = WebAclEvaluator(_acl(_rule("global", 0, rate)))
    verdicts = waf.replay(Request(f"192.0.2.{i}", time=i) for i in range(5))
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]


def test_body_size_needs_oversize_handling_match():
    big = Request("192.0.2.1", "/score", "POST", body=b"x" * (BODY_LIMIT + 1))
    small = Request("192.0.2.1", "/score", "POST", body=b"x" * 100)

    def size_rule(handling: str | None) -> dict:
        body = {"OversizeHandling": handling} if handling else {}
        return {
            "SizeConstraintStatement": {
                "FieldToMatch": {"Body": body},
                "ComparisonOperator": "GT",
                "Size": BODY_LIMIT,
                "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
            }
        }

    assert WebAclEvaluator(_acl(_rule("big", 0, size_rule("MATCH"))))(big).action == "BLOCK"
    assert WebAclEvaluator(_acl(_rule("big", 0, size_rule("MATCH"))))(small).allowed
    # CONTINUE (the default) inspects only the first 8 KB, whose size is never above 8 KB
    assert WebAclEvaluator(_acl(_rule("big", 0, size_rule(None))))(big).allowed
    assert WebAclEvaluator(_acl(_rule("big", 0, size_rule("NO_MATCH"))))(big).allowed


def test_transformations_logic_and_count():
    admin_outside = {
        "AndStatement": {
            "Statements": [
                _path("/admin", transform="LOWERCASE"),
                {"NotStatement": {"Statement": {"IPSetReferenceStatement": {"ARN": OFFICE}}}},
            ]
        }
    }
    ua = {
        "ByteMatchStatement": {
            "SearchString": b"sqlmap",
            "FieldToMatch": {"SingleHeader": {"Name": "User-Agent"}},
            "TextTransformations": [{"Priority": 0, "Type": "LOWERCASE"}],
            "PositionalConstraint": "CONTAINS",
        }
    }
    geo = {"GeoMatchStatement": {"CountryCodes": ["KP"]}}
    encoded = _path("/internal", transform="URL_DECODE")
    acl = _acl(
        _rule("count-geo", 0, geo, "Count"),
        _rule("admin", 1, admin_outside),
        _rule("scanner", 2, ua),
        _rule("internal", 3, encoded),
    )
    waf = WebAclEvaluator(acl, IP_SETS)
    assert waf(Request("192.0.2.1", "/ADMIN/users")).rule == "admin"
    assert waf(Request("198.51.100.10", "/admin/users")).allowed
    assert waf(Request("192.0.2.1", "/", headers={"user-agent": "SQLMap/1.7"})).rule == "scanner"
    assert waf(Request("192.0.2.1", "/")).allowed  # no User-Agent header: no match
    assert waf(Request("192.0.2.1", "/%69nternal/x")).rule == "internal"
    counted = waf(Request("192.0.2.1", "/", country="KP"))
    assert counted.allowed and counted.counted == ("count-geo",)


def test_rule_groups_are_listed_not_evaluated():
    managed = {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesCommonRuleSet"}}
    group = {
        "Name": "aws-common",
        "Priority": 0,
        "Statement": managed,
        "OverrideAction": {"None": {}},
        "VisibilityConfig": VIS,
    }
    waf = WebAclEvaluator(_acl(group), IP_SETS)
    verdict = waf(Request("192.0.2.1", "/?q=<script>"))
    assert verdict.allowed and verdict.not_evaluated == ("aws-common",)


def test_unsupported_statements_are_refused():
    sqli = {"SqliMatchStatement": {"FieldToMatch": {"Body": {}}, "TextTransformations": []}}
    with pytest.raises(UnsupportedStatementError, match="SqliMatchStatement"):
        WebAclEvaluator(_acl(_rule("sqli", 0, sqli)))
    nested = {"NotStatement": {"Statement": {"RateBasedStatement": {"Limit": 10, "AggregateKeyType": "IP"}}}}
    with pytest.raises(UnsupportedStatementError, match="nested"):
        WebAclEvaluator(_acl(_rule("nested", 0, nested)))
    with pytest.raises(KeyError, match="no addresses"):
        WebAclEvaluator(_acl(_rule("bad", 0, {"IPSetReferenceStatement": {"ARN": BAD}})))
    custom_key = {"RateBasedStatement": {"Limit": 10, "AggregateKeyType": "CUSTOM_KEYS"}}
    with pytest.raises(UnsupportedStatementError, match="AggregateKeyType"):
        WebAclEvaluator(_acl(_rule("custom", 0, custom_key)))


def test_ip_sets_for_reads_the_referenced_sets():
    class FakeWaf:
        def __init__(self):
            self.calls = []

        def get_ip_set(self, Name, Scope, Id):
            self.calls.append((Name, Scope, Id))
            return {"IPSet": {"Addresses": IP_SETS[BAD] if Name == "bad-actors" else IP_SETS[OFFICE]}}

    acl = _acl(
        _rule("a", 0, {"IPSetReferenceStatement": {"ARN": BAD}}),
        _rule("b", 1, {"NotStatement": {"Statement": {"IPSetReferenceStatement": {"ARN": OFFICE}}}}),
        _rule("c", 2, {"IPSetReferenceStatement": {"ARN": BAD}}),
    )
    fake = FakeWaf()
    assert ip_sets_for(fake, acl) == IP_SETS
    assert fake.calls == [("bad-actors", "REGIONAL", "1111"), ("office", "REGIONAL", "2222")]
