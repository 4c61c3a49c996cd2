"""An IAM identity-policy evaluator: does this set of policies allow `action` on `resource`?

moto stores IAM policies but does not evaluate them (`iam.simulate_principal_policy` is not
implemented there), so the labs check least privilege with this evaluator instead. It follows
AWS's documented evaluation logic for *identity-based* policies:

- a request is allowed only if some statement allows it and no statement denies it: an explicit
  `Deny` always wins, and with no matching statement the answer is an implicit deny;
- `Action`/`NotAction` match case-insensitively, `Resource`/`NotResource` case-sensitively, both
  with the wildcards `*` (any run of characters) and `?` (one character); in an ARN pattern a
  wildcard stays inside its colon-separated segment, except in the last (resource) segment;
- policy variables `${aws:username}`, `${s3:prefix}`... are filled from the request context
  (policy version 2012-10-17 only); `${*}`, `${?}` and `${$}` stand for the literal characters;
  a statement whose variable has no value in the context does not match;
- `Condition`: every operator, every key under it and (for positive operators) any of its values
  must hold. Supported operators: StringEquals, StringNotEquals, StringEqualsIgnoreCase,
  StringNotEqualsIgnoreCase, StringLike, StringNotLike, ArnEquals, ArnLike, ArnNotEquals,
  ArnNotLike, Numeric{Equals,NotEquals,LessThan,LessThanEquals,GreaterThan,GreaterThanEquals},
  Bool and Null, each with the `...IfExists` suffix (not Null) and the `ForAnyValue:` /
  `ForAllValues:` set qualifiers. A key missing from the context makes a positive operator false
  and a negated one (`...Not...`) true. IpAddress, Date and Binary operators raise
  `UnsupportedConditionError`: the evaluator refuses rather than guesses.
- an optional permissions `boundary` (a list of policies) must allow the request too.

Not modelled (real IAM adds them): resource-based policies (bucket policies, trust policies),
Organizations SCPs and RCPs, session policies, the request context AWS fills in itself
(aws:SourceIp, aws:CurrentTime...), and per-service rules such as which actions support
resource-level permissions. Use `iam simulate-principal-policy` against real AWS for those.

`principal_policies(iam, role=...)` reads a role's or user's policies back from IAM (any boto3 IAM
client, moto or real), so what is evaluated is what IAM stores.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SUPPORTED_OPERATORS",
    "Decision",
    "PolicyError",
    "UnsupportedConditionError",
    "evaluate",
    "is_allowed",
    "matches_action",
    "matches_resource",
    "principal_policies",
]

_STRING_OPS = {
    "StringEquals": ("equals", False, False),
    "StringNotEquals": ("equals", False, True),
    "StringEqualsIgnoreCase": ("equals", True, False),
    "StringNotEqualsIgnoreCase": ("equals", True, True),
    "StringLike": ("like", False, False),
    "StringNotLike": ("like", False, True),
    "ArnEquals": ("arn", False, False),
    "ArnLike": ("arn", False, False),
    "ArnNotEquals": ("arn", False, True),
    "ArnNotLike": ("arn", False, True),
}
_NUMERIC_OPS = {
    "NumericEquals": (lambda a, b: a == b, False),
    "NumericNotEquals": (lambda a, b: a == b, True),
    "NumericLessThan": (lambda a, b: a < b, False),
    "NumericLessThanEquals": (lambda a, b: a <= b, False),
    "NumericGreaterThan": (lambda a, b: a > b, False),
    "NumericGreaterThanEquals": (lambda a, b: a >= b, False),
}
SUPPORTED_OPERATORS: frozenset[str] = frozenset({*_STRING_OPS, *_NUMERIC_OPS, "Bool", "Null"})
_UNSUPPORTED_PREFIXES = ("IpAddress", "NotIpAddress", "Date", "Binary")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class PolicyError(ValueError):
    """The policy document is not a valid identity-based policy."""


class UnsupportedConditionError(PolicyError):
    """A condition operator this evaluator does not implement (it refuses instead of guessing)."""


@dataclass(frozen=True)
class Decision:
    """The answer for one request. `bool(decision)` is `decision.allowed`.

    `kind` is "allow", "explicit-deny" or "implicit-deny"; `statement` is the statement that decided
    (None for an implicit deny), `where` names it ("policy[0].Statement[2] (Sid=ReadData)"), and
    `reason` says it in one sentence.
    """

    allowed: bool
    kind: str
    action: str
    resource: str
    statement: Mapping[str, Any] | None = None
    where: str | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


# ---------------------------------------------------------------- patterns


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


def _lower_keys(context: Mapping[str, Any] | None) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in (context or {}).items()}


def _variable_value(name: str, context: dict[str, Any]) -> str | None:
    if name in ("*", "?", "$"):
        return name
    value = context.get(name.lower())
    if value is None or isinstance(value, (list, tuple, set)):
        return None  # multivalued keys cannot be used as variables
    return str(value).lower() if isinstance(value, bool) else str(value)


def _pattern_regex(
    pattern: str,
    context: dict[str, Any] | None,
    *,
    wildcards: bool = True,
    arn: bool = False,
    ignore_case: bool = False,
) -> re.Pattern[str] | None:
    """Compile an IAM pattern; None when a policy variable has no value in the context.

    With `arn=True` and an `arn:` pattern, `*` and `?` do not cross `:` in the first five segments.
    `context=None` means variables are not substituted (policy version 2008-10-17).
    """
    segmented = arn and pattern.lower().startswith("arn:")
    parts: list[str] = []
    colons = 0
    pos = 0
    for match in _VARIABLE.finditer(pattern) if context is not None else ():
        parts.append(_literal_regex(pattern[pos : match.start()], wildcards, segmented, colons))
        colons += pattern[pos : match.start()].count(":")
        value = _variable_value(match.group(1), context)
        if value is None:
            return None
        parts.append(re.escape(value))
        pos = match.end()
    parts.append(_literal_regex(pattern[pos:], wildcards, segmented, colons))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _literal_regex(text: str, wildcards: bool, segmented: bool, colons: int) -> str:
    out = []
    for ch in text:
        in_resource_segment = not segmented or colons >= 5
        if ch == ":":
            colons += 1
        if wildcards and ch == "*":
            out.append(".*" if in_resource_segment else "[^:]*")
        elif wildcards and ch == "?":
            out.append("." if in_resource_segment else "[^:]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def matches_action(pattern: str, action: str) -> bool:
    """`s3:Get*` matches `S3:GETOBJECT`: actions compare case-insensitively, with `*` and `?`."""
    regex = _pattern_regex(pattern, None, ignore_case=True)
    return regex is not None and regex.fullmatch(action) is not None


def matches_resource(pattern: str, resource: str, context: Mapping[str, Any] | None = None) -> bool:
    """Case-sensitive ARN match with wildcards and policy variables filled from `context`."""
    regex = _pattern_regex(pattern, _lower_keys(context), arn=True)
    return regex is not None and regex.fullmatch(resource) is not None


# ---------------------------------------------------------------- conditions


def _as_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _value_matches(kind: str, ignore_case: bool, pattern: Any, value: Any, ctx: dict[str, Any] | None) -> bool:
    regex = _pattern_regex(
        _as_text(pattern),
        ctx,
        wildcards=kind in ("like", "arn"),
        arn=kind == "arn",
        ignore_case=ignore_case,
    )
    return regex is not None and regex.fullmatch(_as_text(value)) is not None


def _number(value: Any, operator: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"{operator}: {value!r} is not a number") from exc


def _per_value(base: str, policy_values: list[Any], value: Any, ctx: dict[str, Any] | None) -> bool:
    """Does one context value satisfy the operator (negation included) against the policy's values?"""
    if base in _STRING_OPS:
        kind, ignore_case, negated = _STRING_OPS[base]
        hit = any(_value_matches(kind, ignore_case, p, value, ctx) for p in policy_values)
        return not hit if negated else hit
    if base in _NUMERIC_OPS:
        compare, negated = _NUMERIC_OPS[base]
        hit = any(compare(_number(value, base), _number(p, base)) for p in policy_values)
        return not hit if negated else hit
    if base == "Bool":
        return any(_as_text(value).lower() == _as_text(p).lower() for p in policy_values)
    raise PolicyError(f"unknown condition operator {base!r}")


def _parse_operator(operator: str) -> tuple[str | None, str, bool]:
    qualifier = None
    base = operator
    if ":" in operator:
        qualifier, base = operator.split(":", 1)
        if qualifier not in ("ForAnyValue", "ForAllValues"):
            raise PolicyError(f"unknown set qualifier {qualifier!r} in {operator!r}")
    if_exists = base.endswith("IfExists")
    if if_exists:
        base = base[: -len("IfExists")]
    if base.startswith(_UNSUPPORTED_PREFIXES):
        raise UnsupportedConditionError(
            f"condition operator {operator!r} is not supported by labkit.iam; supported: {sorted(SUPPORTED_OPERATORS)}"
        )
    if base not in SUPPORTED_OPERATORS:
        raise PolicyError(f"unknown condition operator {operator!r}")
    if base == "Null" and (if_exists or qualifier):
        raise PolicyError(f"{operator!r}: Null takes no IfExists suffix or set qualifier")
    return qualifier, base, if_exists


def _condition_holds(operator: str, key: str, policy_values: Any, ctx: dict[str, Any], variables: bool) -> bool:
    qualifier, base, if_exists = _parse_operator(operator)
    values = _listify(policy_values)
    present = key.lower() in ctx and ctx[key.lower()] is not None
    if base == "Null":
        wanted_absent = {_as_text(v).lower() for v in values}
        if not wanted_absent <= {"true", "false"}:
            raise PolicyError(f"Null takes 'true' or 'false', got {policy_values!r}")
        return (not present) if "true" in wanted_absent else present
    sub_ctx = ctx if variables else None
    negated = _STRING_OPS.get(base, (None, None, False))[2] or _NUMERIC_OPS.get(base, (None, False))[1]
    context_values = _listify(ctx.get(key.lower())) if present else []
    if qualifier == "ForAllValues":
        return all(_per_value(base, values, v, sub_ctx) for v in context_values)
    if qualifier == "ForAnyValue":
        return any(_per_value(base, values, v, sub_ctx) for v in context_values)
    if not present:
        return if_exists or negated
    results = [_per_value(base, values, v, sub_ctx) for v in context_values]
    # A list without a set qualifier: any value may match a positive operator; a negated operator
    # must hold for every value (none of them equals/matches a listed value).
    return all(results) if negated else any(results)


def _conditions_hold(condition: Mapping[str, Any] | None, ctx: dict[str, Any], variables: bool) -> bool:
    if not condition:
        return True
    if not isinstance(condition, Mapping):
        raise PolicyError(f"Condition must be an object, got {type(condition).__name__}")
    for operator, block in condition.items():
        if not isinstance(block, Mapping):
            raise PolicyError(f"Condition {operator!r} must map keys to values")
        for key, policy_values in block.items():
            if not _condition_holds(operator, key, policy_values, ctx, variables):
                return False
    return True


# ---------------------------------------------------------------- statements


def _as_document(policy: Mapping[str, Any] | str) -> Mapping[str, Any]:
    if isinstance(policy, str):
        text = policy if policy.lstrip().startswith("{") else urllib.parse.unquote(policy)
        try:
            policy = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"policy is not JSON: {exc}") from exc
    if not isinstance(policy, Mapping) or "Statement" not in policy:
        raise PolicyError("a policy document is an object with a 'Statement'")
    version = policy.get("Version", "2008-10-17")
    if version not in ("2012-10-17", "2008-10-17"):
        raise PolicyError(f"unknown policy Version {version!r}")
    return policy


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = policy["Statement"]
    statements = [statements] if isinstance(statements, Mapping) else list(statements)
    for st in statements:
        _validate_statement(st)
    return statements


def _validate_statement(st: Any) -> None:
    if not isinstance(st, Mapping):
        raise PolicyError(f"a statement must be an object, got {st!r}")
    if st.get("Effect") not in ("Allow", "Deny"):
        raise PolicyError(f"Effect must be 'Allow' or 'Deny', got {st.get('Effect')!r}")
    if ("Action" in st) == ("NotAction" in st):
        raise PolicyError("a statement needs exactly one of Action / NotAction")
    if ("Resource" in st) == ("NotResource" in st):
        raise PolicyError("an identity policy statement needs exactly one of Resource / NotResource")
    if "Principal" in st or "NotPrincipal" in st:
        raise PolicyError("Principal belongs in resource-based policies, not identity policies")
    for pattern in _listify(st.get("Action", st.get("NotAction"))):
        if not isinstance(pattern, str) or (pattern != "*" and ":" not in pattern):
            raise PolicyError(f"an action looks like 'service:Action' or '*', got {pattern!r}")


def _statement_matches(st: Mapping[str, Any], action: str, resource: str, ctx: dict[str, Any], variables: bool) -> bool:
    if "Action" in st:
        action_ok = any(matches_action(p, action) for p in _listify(st["Action"]))
    else:
        action_ok = not any(matches_action(p, action) for p in _listify(st["NotAction"]))
    if not action_ok:
        return False
    sub_ctx = ctx if variables else None

    def resource_hit(pattern: str) -> bool:
        regex = _pattern_regex(pattern, sub_ctx, arn=True)
        return regex is not None and regex.fullmatch(resource) is not None

    if "Resource" in st:
        resource_ok = any(resource_hit(p) for p in _listify(st["Resource"]))
    else:
        resource_ok = not any(resource_hit(p) for p in _listify(st["NotResource"]))
    return resource_ok and _conditions_hold(st.get("Condition"), ctx, variables)


def _where(policy_index: int, statement_index: int, st: Mapping[str, Any]) -> str:
    sid = f" (Sid={st['Sid']})" if st.get("Sid") else ""
    return f"policy[{policy_index}].Statement[{statement_index}]{sid}"


def _evaluate_set(
    policies: Sequence[Mapping[str, Any] | str], action: str, resource: str, ctx: dict[str, Any], label: str
) -> Decision:
    first_allow: tuple[Mapping[str, Any], str] | None = None
    for i, raw in enumerate(policies):
        policy = _as_document(raw)
        variables = policy.get("Version") == "2012-10-17"
        for j, st in enumerate(_statements(policy)):
            if not _statement_matches(st, action, resource, ctx, variables):
                continue
            where = f"{label}{_where(i, j, st)}"
            if st["Effect"] == "Deny":
                reason = f"explicit deny: {where} denies {action} on {resource}"
                return Decision(False, "explicit-deny", action, resource, st, where, reason)
            if first_allow is None:
                first_allow = (st, where)
    if first_allow is None:
        scope = f" in the {label.rstrip('.')}" if label else ""
        reason = f"implicit deny: no statement{scope} allows {action} on {resource}"
        return Decision(False, "implicit-deny", action, resource, None, None, reason)
    st, where = first_allow
    return Decision(True, "allow", action, resource, st, where, f"allowed by {where}")


def evaluate(
    policies: Iterable[Mapping[str, Any] | str],
    action: str,
    resource: str,
    context: Mapping[str, Any] | None = None,
    *,
    boundary: Iterable[Mapping[str, Any] | str] | None = None,
) -> Decision:
    """Decide one request against a principal's identity policies (documents, or their JSON text).

    `context` holds condition keys (`{"s3:prefix": "data/", "aws:SecureTransport": True}`); key names
    are case-insensitive, values may be lists for multivalued keys. With `boundary`, the request must
    also be allowed by the permissions boundary's policies (an explicit deny anywhere wins).
    Raises `PolicyError` for a malformed policy, `UnsupportedConditionError` for an operator outside
    `SUPPORTED_OPERATORS`.
    """
    if not isinstance(action, str) or (":" not in action and action != "*"):
        raise ValueError(f"action looks like 's3:GetObject', got {action!r}")
    ctx = _lower_keys(context)
    decision = _evaluate_set(list(policies), action, resource, ctx, "")
    if boundary is None or decision.kind == "explicit-deny":
        return decision
    bounded = _evaluate_set(list(boundary), action, resource, ctx, "boundary.")
    if bounded.kind == "explicit-deny":
        return bounded
    if decision.allowed and not bounded.allowed:
        reason = f"implicit deny: allowed by {decision.where}, but the permissions boundary does not allow it"
        return Decision(False, "implicit-deny", action, resource, None, None, reason)
    return decision


def is_allowed(
    policies: Iterable[Mapping[str, Any] | str],
    action: str,
    resource: str,
    context: Mapping[str, Any] | None = None,
) -> bool:
    """Shorthand for `evaluate(...).allowed`."""
    return evaluate(policies, action, resource, context).allowed


# ---------------------------------------------------------------- reading policies from IAM


def _document(doc: Any) -> dict[str, Any]:
    return dict(_as_document(doc))


def _managed(iam: Any, attached: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    docs = []
    for item in attached:
        policy = iam.get_policy(PolicyArn=item["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=item["PolicyArn"], VersionId=policy["DefaultVersionId"])
        docs.append(_document(version["PolicyVersion"]["Document"]))
    return docs


def _pages(iam: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    return [item for page in iam.get_paginator(operation).paginate(**kwargs) for item in page[key]]


def principal_policies(iam: Any, *, role: str | None = None, user: str | None = None) -> list[dict[str, Any]]:
    """The identity policies IAM stores for a role or a user (managed, inline, and the user's groups').

    `iam` is a boto3 IAM client (moto or real AWS); documents come back as dicts, default versions only.
    """
    if (role is None) == (user is None):
        raise ValueError("pass exactly one of role= or user=")
    if role is not None:
        attached = _pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role)
        inline = [
            _document(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
            for name in _pages(iam, "list_role_policies", "PolicyNames", RoleName=role)
        ]
        return _managed(iam, attached) + inline
    docs = _managed(iam, _pages(iam, "list_attached_user_policies", "AttachedPolicies", UserName=user))
    docs += [
        _document(iam.get_user_policy(UserName=user, PolicyName=name)["PolicyDocument"])
        for name in _pages(iam, "list_user_policies", "PolicyNames", UserName=user)
    ]
    for group in _pages(iam, "list_groups_for_user", "Groups", UserName=user):
        name = group["GroupName"]
        docs += _managed(iam, _pages(iam, "list_attached_group_policies", "AttachedPolicies", GroupName=name))
        docs += [
            _document(iam.get_group_policy(GroupName=name, PolicyName=p)["PolicyDocument"])
            for p in _pages(iam, "list_group_policies", "PolicyNames", GroupName=name)
        ]
    return docs
