"""An AWS WAF (wafv2) web ACL evaluator: what would this web ACL do with these requests?

The moto emulator stores web ACLs, IP sets and their associations but inspects no traffic, so the
labs replay requests through this evaluator instead. It follows AWS WAF's documented evaluation:

- rules run in ascending ``Priority``; the first matching rule whose action is ``Allow`` or ``Block``
  ends the evaluation (``Captcha``/``Challenge`` end it too: a scripted client holds no token);
  ``Count`` records the match and goes on; with no terminating match the ``DefaultAction`` applies;
- a ``Block`` answers 403, or the ``CustomResponse.ResponseCode`` set on the action;
- statements: ``IPSetReferenceStatement`` (IPv4/IPv6 CIDRs), ``ByteMatchStatement``,
  ``SizeConstraintStatement``, ``GeoMatchStatement`` (from the request's country), ``And``/``Or``/
  ``Not``, and ``RateBasedStatement`` (aggregate by ``IP`` or ``CONSTANT``, optional scope-down);
- fields: ``UriPath``, ``QueryString``, ``Method``, ``Body`` and ``SingleHeader``; only the first
  ``body_limit`` bytes of a body are inspected (8 KB, ALB's and API Gateway's limit), and a larger
  body follows the field's ``OversizeHandling`` (``CONTINUE``, the default, inspects the first 8 KB,
  so ``size > 8192`` never matches with it; ``MATCH``; ``NO_MATCH``);
- text transformations ``NONE``, ``LOWERCASE``, ``URL_DECODE``, ``URL_DECODE_UNI``,
  ``COMPRESS_WHITE_SPACE``, ``BASE64_DECODE``, ``REMOVE_NULLS``, ``NORMALIZE_PATH``, applied in
  priority order.

Rate-based rules count, per aggregation key, every request that reaches the rule and matches its
scope-down statement (the ones it blocks included); a request matches when more than ``Limit`` such
requests fall in the trailing ``EvaluationWindowSec`` (default 300 s). Real WAF checks the rates
every few seconds, so it starts and stops blocking a little late; this evaluator is exact.

Not evaluated (real WAF does it): AWS managed rule groups and your own rule groups (their rules are
AWS's or stored elsewhere; they are listed in ``Verdict.not_evaluated`` and treated as no match),
SQLi/XSS detection, regex pattern sets, labels, custom keys for rate limits, forwarded-IP
configurations, bot control and CAPTCHA tokens. Those raise ``UnsupportedStatementError``:
the evaluator refuses rather than guesses.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import ipaddress
import posixpath
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BODY_LIMIT",
    "Request",
    "UnsupportedStatementError",
    "Verdict",
    "WebAclEvaluator",
    "ip_sets_for",
]

BODY_LIMIT = 8 * 1024  # bytes of the body AWS WAF inspects for ALB and API Gateway
_TERMINATING = ("Allow", "Block", "Captcha", "Challenge")
_RULE_GROUPS = ("ManagedRuleGroupStatement", "RuleGroupReferenceStatement")


class UnsupportedStatementError(ValueError):
    """A statement, field or transformation this evaluator does not implement."""


@dataclass(frozen=True)
class Request:
    """One HTTP request as WAF sees it; ``time`` in seconds (any origin), ``country`` an ISO code."""

    ip: str
    path: str = "/"
    method: str = "GET"
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    country: str | None = None
    time: float = 0.0


@dataclass(frozen=True)
class Verdict:
    """What the web ACL did: ``action`` is ALLOW, BLOCK, CAPTCHA or CHALLENGE.

    ``rule`` names the terminating rule (None: the default action), ``status`` is the HTTP status
    WAF answers for a block (None when the request goes through), ``counted`` lists the ``Count``
    rules that matched and ``not_evaluated`` the rule groups this evaluator could not run.
    """

    action: str
    rule: str | None
    status: int | None = None
    counted: tuple[str, ...] = ()
    not_evaluated: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.action == "ALLOW"


# --------------------------------------------------------------------------- fields


def _header(request: Request, name: str) -> str | None:
    wanted = name.lower()
    for key, value in request.headers.items():
        if key.lower() == wanted:
            return value
    return None


def _field(field_to_match: Mapping[str, Any], request: Request, body_limit: int) -> tuple[bytes | None, bool]:
    """The bytes WAF inspects for this field, and whether the body was over the limit."""
    if len(field_to_match) != 1:
        raise UnsupportedStatementError(f"FieldToMatch needs exactly one field, got {sorted(field_to_match)}")
    ((name, options),) = field_to_match.items()
    if name == "UriPath":
        return request.path.encode(), False
    if name == "QueryString":
        return request.query.encode(), False
    if name == "Method":
        return request.method.upper().encode(), False
    if name == "Body":
        return request.body[:body_limit], len(request.body) > body_limit
    if name == "SingleHeader":
        value = _header(request, (options or {}).get("Name", ""))
        return (None if value is None else value.encode()), False
    raise UnsupportedStatementError(f"FieldToMatch {name!r} is not supported by labkit.waf")


def _oversize(field_to_match: Mapping[str, Any]) -> str:
    return ((field_to_match.get("Body") or {}).get("OversizeHandling")) or "CONTINUE"


def _normalize_path(value: bytes) -> bytes:
    text = value.decode("latin-1")
    normalized = posixpath.normpath(re.sub(r"/+", "/", text)) if text else text
    if text.endswith("/") and normalized != "/":
        normalized += "/"
    return normalized.encode("latin-1")


def _transform(value: bytes, transformations: Iterable[Mapping[str, Any]]) -> bytes:
    for step in sorted(transformations or [], key=lambda t: t.get("Priority", 0)):
        kind = step.get("Type", "NONE")
        if kind == "NONE":
            continue
        if kind == "LOWERCASE":
            value = value.lower()
        elif kind in ("URL_DECODE", "URL_DECODE_UNI"):
            value = urllib.parse.unquote_to_bytes(value)
        elif kind == "COMPRESS_WHITE_SPACE":
            value = re.sub(rb"[ \t\n\r\f\v]+", b" ", value)
        elif kind == "BASE64_DECODE":
            with contextlib.suppress(binascii.Error, ValueError):  # WAF leaves undecodable input as it is
                value = base64.b64decode(value, validate=False)
        elif kind == "REMOVE_NULLS":
            value = value.replace(b"\x00", b"")
        elif kind == "NORMALIZE_PATH":
            value = _normalize_path(value)
        else:
            raise UnsupportedStatementError(f"text transformation {kind!r} is not supported by labkit.waf")
    return value


def _search_bytes(search: Any) -> bytes:
    return search if isinstance(search, bytes) else str(search).encode()


def _byte_match(statement: Mapping[str, Any], value: bytes) -> bool:
    search = _search_bytes(statement["SearchString"])
    position = statement.get("PositionalConstraint", "CONTAINS")
    if position == "EXACTLY":
        return value == search
    if position == "STARTS_WITH":
        return value.startswith(search)
    if position == "ENDS_WITH":
        return value.endswith(search)
    if position == "CONTAINS":
        return search in value
    if position == "CONTAINS_WORD":
        return re.search(rb"(?<![A-Za-z0-9_])" + re.escape(search) + rb"(?![A-Za-z0-9_])", value) is not None
    raise UnsupportedStatementError(f"PositionalConstraint {position!r} is unknown")


_COMPARE = {
    "EQ": lambda a, b: a == b,
    "NE": lambda a, b: a != b,
    "LE": lambda a, b: a <= b,
    "LT": lambda a, b: a < b,
    "GE": lambda a, b: a >= b,
    "GT": lambda a, b: a > b,
}


# --------------------------------------------------------------------------- the evaluator


def _ip_in(ip: str, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    address = ipaddress.ip_address(ip)
    return any(address.version == n.version and address in n for n in networks)


class WebAclEvaluator:
    """Replays requests through one web ACL (as ``wafv2.get_web_acl(...)["WebACL"]`` returns it).

    ``ip_sets`` maps each IP set ARN the ACL references to its addresses (see :func:`ip_sets_for`).
    The evaluator keeps the rate-based rules' counters between calls, so feed it requests in time
    order; make a new one to start from empty counters.
    """

    def __init__(
        self,
        web_acl: Mapping[str, Any],
        ip_sets: Mapping[str, Iterable[str]] | None = None,
        *,
        body_limit: int = BODY_LIMIT,
    ) -> None:
        acl = web_acl.get("WebACL", web_acl)
        self.name: str = acl.get("Name", "")
        self.default_action: Mapping[str, Any] = acl["DefaultAction"]
        self.rules: list[Mapping[str, Any]] = sorted(acl.get("Rules", []), key=lambda r: r["Priority"])
        self.body_limit = body_limit
        self.ip_sets = {
            arn: [ipaddress.ip_network(a, strict=False) for a in addresses]
            for arn, addresses in (ip_sets or {}).items()
        }
        self._seen: dict[tuple[str, str], collections.deque[float]] = collections.defaultdict(collections.deque)
        self._last_time = float("-inf")
        for rule in self.rules:  # refuse unsupported statements up front, not on the first request that reaches them
            self._validate(rule["Statement"], rule["Name"])

    # -- validation
    def _validate(self, statement: Mapping[str, Any], rule: str, top: bool = True) -> None:
        if len(statement) != 1:
            raise UnsupportedStatementError(f"rule {rule!r}: a statement has exactly one kind, got {sorted(statement)}")
        ((kind, body),) = statement.items()
        if (kind in _RULE_GROUPS or kind == "RateBasedStatement") and not top:
            raise UnsupportedStatementError(f"rule {rule!r}: {kind} cannot be nested in another statement")
        if kind in _RULE_GROUPS:
            return
        if kind in ("AndStatement", "OrStatement"):
            for inner in body["Statements"]:
                self._validate(inner, rule, top=False)
        elif kind == "NotStatement":
            self._validate(body["Statement"], rule, top=False)
        elif kind == "RateBasedStatement":
            if body.get("AggregateKeyType", "IP") not in ("IP", "CONSTANT"):
                raise UnsupportedStatementError(
                    f"rule {rule!r}: AggregateKeyType {body.get('AggregateKeyType')!r} is not supported (IP, CONSTANT)"
                )
            if "ScopeDownStatement" in body:
                self._validate(body["ScopeDownStatement"], rule, top=False)
        elif kind == "IPSetReferenceStatement":
            if body.get("IPSetForwardedIPConfig"):
                raise UnsupportedStatementError(f"rule {rule!r}: IPSetForwardedIPConfig is not supported")
            if body["ARN"] not in self.ip_sets:
                raise KeyError(f"rule {rule!r}: no addresses given for IP set {body['ARN']}")
        elif kind in ("ByteMatchStatement", "SizeConstraintStatement"):
            _field(body["FieldToMatch"], Request(ip="0.0.0.0"), self.body_limit)
            _transform(b"", body.get("TextTransformations", []))
            if kind == "SizeConstraintStatement" and body["ComparisonOperator"] not in _COMPARE:
                raise UnsupportedStatementError(f"rule {rule!r}: ComparisonOperator {body['ComparisonOperator']!r}")
        elif kind != "GeoMatchStatement":
            raise UnsupportedStatementError(f"rule {rule!r}: {kind} is not supported by labkit.waf")

    # -- matching
    def _matches(self, statement: Mapping[str, Any], request: Request, rule: str) -> bool:
        ((kind, body),) = statement.items()
        if kind == "AndStatement":
            return all(self._matches(s, request, rule) for s in body["Statements"])
        if kind == "OrStatement":
            return any(self._matches(s, request, rule) for s in body["Statements"])
        if kind == "NotStatement":
            return not self._matches(body["Statement"], request, rule)
        if kind == "IPSetReferenceStatement":
            return _ip_in(request.ip, self.ip_sets[body["ARN"]])
        if kind == "GeoMatchStatement":
            return request.country is not None and request.country.upper() in body.get("CountryCodes", [])
        if kind in ("ByteMatchStatement", "SizeConstraintStatement"):
            value, oversize = _field(body["FieldToMatch"], request, self.body_limit)
            if oversize and _oversize(body["FieldToMatch"]) != "CONTINUE":
                return _oversize(body["FieldToMatch"]) == "MATCH"
            if value is None:
                return False
            value = _transform(value, body.get("TextTransformations", []))
            if kind == "ByteMatchStatement":
                return _byte_match(body, value)
            return _COMPARE[body["ComparisonOperator"]](len(value), int(body["Size"]))
        if kind == "RateBasedStatement":
            return self._rate_exceeded(body, request, rule)
        raise UnsupportedStatementError(f"rule {rule!r}: {kind} is not supported by labkit.waf")

    def _rate_exceeded(self, body: Mapping[str, Any], request: Request, rule: str) -> bool:
        scope = body.get("ScopeDownStatement")
        if scope is not None and not self._matches(scope, request, rule):
            return False
        key = request.ip if body.get("AggregateKeyType", "IP") == "IP" else "*"
        window = float(body.get("EvaluationWindowSec", 300))
        seen = self._seen[(rule, key)]
        seen.append(request.time)
        while seen and seen[0] <= request.time - window:
            seen.popleft()
        return len(seen) > int(body["Limit"])

    # -- actions
    @staticmethod
    def _outcome(action: Mapping[str, Any]) -> tuple[str, int | None]:
        ((kind, options),) = action.items()
        if kind == "Block":
            code = ((options or {}).get("CustomResponse") or {}).get("ResponseCode", 403)
            return "BLOCK", int(code)
        if kind == "Allow":
            return "ALLOW", None
        if kind == "Captcha":
            return "CAPTCHA", 405
        if kind == "Challenge":
            return "CHALLENGE", 202
        raise UnsupportedStatementError(f"action {kind!r} is unknown")

    def __call__(self, request: Request) -> Verdict:
        """The verdict for one request (requests must come in time order)."""
        if request.time < self._last_time:
            raise ValueError(f"requests must come in time order: {request.time} after {self._last_time}")
        self._last_time = request.time
        counted: list[str] = []
        skipped: list[str] = []
        for rule in self.rules:
            name = rule["Name"]
            ((kind, _),) = rule["Statement"].items()
            if kind in _RULE_GROUPS:
                skipped.append(name)
                continue
            if not self._matches(rule["Statement"], request, name):
                continue
            action = rule.get("Action")
            if not action or len(action) != 1:
                raise UnsupportedStatementError(f"rule {name!r}: a rule needs exactly one Action, got {action!r}")
            (action_kind,) = action.keys()
            if action_kind == "Count":
                counted.append(name)
                continue
            if action_kind not in _TERMINATING:
                raise UnsupportedStatementError(f"rule {name!r}: action {action_kind!r} is unknown")
            verdict, status = self._outcome(action)
            return Verdict(verdict, name, status, tuple(counted), tuple(skipped))
        verdict, status = self._outcome(self.default_action)
        return Verdict(verdict, None, status, tuple(counted), tuple(skipped))

    def replay(self, requests: Iterable[Request]) -> list[Verdict]:
        """Verdicts for a trace of requests in time order."""
        return [self(r) for r in requests]


# --------------------------------------------------------------------------- reading IP sets back


def _referenced_ip_sets(statement: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for kind, body in statement.items():
        if kind == "IPSetReferenceStatement":
            found.append(body["ARN"])
        elif kind in ("AndStatement", "OrStatement"):
            for inner in body["Statements"]:
                found += _referenced_ip_sets(inner)
        elif kind == "NotStatement":
            found += _referenced_ip_sets(body["Statement"])
        elif kind == "RateBasedStatement" and "ScopeDownStatement" in body:
            found += _referenced_ip_sets(body["ScopeDownStatement"])
    return found


def ip_sets_for(wafv2: Any, web_acl: Mapping[str, Any]) -> dict[str, list[str]]:
    """Read every IP set the web ACL references back from WAF (any boto3 wafv2 client).

    An IP set ARN reads ``arn:aws:wafv2:<region>:<account>:<regional|global>/ipset/<name>/<id>``.
    """
    acl = web_acl.get("WebACL", web_acl)
    result: dict[str, list[str]] = {}
    for rule in acl.get("Rules", []):
        for arn in _referenced_ip_sets(rule["Statement"]):
            if arn in result:
                continue
            scope_part, _, name, ip_set_id = arn.split(":", 5)[5].split("/")
            scope = "CLOUDFRONT" if scope_part == "global" else "REGIONAL"
            ip_set = wafv2.get_ip_set(Name=name, Scope=scope, Id=ip_set_id)["IPSet"]
            result[arn] = list(ip_set["Addresses"])
    return result
