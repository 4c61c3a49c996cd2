"""labkit.iam: the identity-policy evaluator the AWS labs use where moto does not evaluate IAM."""

from __future__ import annotations

import json

import pytest

from labkit import iam
from labkit.iam import PolicyError, UnsupportedConditionError, evaluate, is_allowed

BUCKET = "arn:aws:s3:::ml-data"


def policy(*statements: dict, version: str = "2012-10-17") -> dict:
    return {"Version": version, "Statement": list(statements)}


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


TRAINING = policy(
    allow("s3:GetObject", f"{BUCKET}/data/*", Sid="ReadData"),
    allow("s3:PutObject", f"{BUCKET}/artifacts/*", Sid="WriteArtifacts"),
    allow("s3:ListBucket", BUCKET, Sid="ListData", Condition={"StringLike": {"s3:prefix": ["data/*"]}}),
    allow(["logs:CreateLogStream", "logs:PutLogEvents"], "arn:aws:logs:us-east-1:123456789012:log-group:/ml/*"),
)


# ---------------------------------------------------------------- allow / deny


def test_allow_needs_a_matching_statement_and_names_it():
    d = evaluate([TRAINING], "s3:GetObject", f"{BUCKET}/data/train.csv")
    assert d.allowed and bool(d) and d.kind == "allow"
    assert d.where == "policy[0].Statement[0] (Sid=ReadData)"
    assert d.statement["Sid"] == "ReadData"


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("s3:DeleteBucket", BUCKET),
        ("s3:GetObject", "arn:aws:s3:::other-bucket/data/train.csv"),
        ("s3:PutObject", f"{BUCKET}/data/train.csv"),
        ("s3:DeleteObject", f"{BUCKET}/artifacts/model.pkl"),
        ("iam:CreateUser", "*"),
        ("logs:PutLogEvents", "arn:aws:logs:us-east-1:123456789012:log-group:/other/x:log-stream:y"),
    ],
)
def test_everything_else_is_an_implicit_deny(action, resource):
    d = evaluate([TRAINING], action, resource)
    assert not d.allowed and not d
    assert d.kind == "implicit-deny" and d.statement is None
    assert "no statement" in d.reason


def test_explicit_deny_wins_over_any_allow_in_any_policy():
    guardrail = policy(deny("s3:Delete*", "*", Sid="NoDeletes"))
    admin = policy(allow("*", "*"))
    d = evaluate([admin, guardrail], "s3:DeleteObject", f"{BUCKET}/x")
    assert d.kind == "explicit-deny" and d.where == "policy[1].Statement[0] (Sid=NoDeletes)"
    assert is_allowed([admin, guardrail], "s3:GetObject", f"{BUCKET}/x")


def test_no_policies_means_implicit_deny():
    assert evaluate([], "s3:GetObject", "*").kind == "implicit-deny"


def test_statement_may_be_a_single_object_and_policy_json_text():
    text = json.dumps({"Version": "2012-10-17", "Statement": allow("s3:ListAllMyBuckets")})
    assert is_allowed([text], "s3:ListAllMyBuckets", "*")
    assert is_allowed(
        [
            "%7B%22Statement%22%3A%20%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Action%22%3A%20%22s3%3A%2A%22"
            "%2C%20%22Resource%22%3A%20%22%2A%22%7D%7D"
        ],
        "s3:GetObject",
        "x",
    )  # IAM's URL-encoded form


# ---------------------------------------------------------------- matching


def test_actions_match_case_insensitively_with_wildcards():
    assert iam.matches_action("s3:Get*", "S3:GETOBJECT")
    assert iam.matches_action("s3:*Object", "s3:PutObject")
    assert iam.matches_action("s3:?etObject", "s3:GetObject")
    assert iam.matches_action("*", "ec2:RunInstances")
    assert not iam.matches_action("s3:Get*", "s3:PutObject")
    assert not iam.matches_action("s3:GetObject", "s3:GetObjectAcl"), "no implicit prefix match"
    assert not iam.matches_action("s3:*", "s3-object-lambda:GetObject")


def test_resources_match_case_sensitively():
    assert iam.matches_resource(f"{BUCKET}/data/*", f"{BUCKET}/data/a/b/c.csv")
    assert not iam.matches_resource(f"{BUCKET}/data/*", f"{BUCKET}/DATA/a.csv")
    assert not iam.matches_resource(f"{BUCKET}/data/*", f"{BUCKET}/data"), "the prefix itself is not under it"
    assert iam.matches_resource("arn:aws:s3:::ml-dat?", BUCKET)
    assert not iam.matches_resource("arn:aws:s3:::ml-dat?", BUCKET + "x")


def test_arn_wildcards_stay_inside_their_segment():
    assert iam.matches_resource(
        "arn:aws:ec2:*:123456789012:instance/*", "arn:aws:ec2:eu-west-1:123456789012:instance/i-1"
    )
    # `*` in the region segment must not swallow the account segment's colon
    assert not iam.matches_resource("arn:aws:ec2:*:instance/*", "arn:aws:ec2:eu-west-1:123456789012:instance/i-1")
    # the last segment may contain colons and slashes
    assert iam.matches_resource(
        "arn:aws:logs:us-east-1:123456789012:log-group:/ml/*",
        "arn:aws:logs:us-east-1:123456789012:log-group:/ml/train:log-stream:job-1",
    )


def test_not_action_and_not_resource():
    everything_but_iam = policy({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"})
    assert is_allowed([everything_but_iam], "s3:PutObject", "x")
    assert not is_allowed([everything_but_iam], "IAM:CreateUser", "*")
    outside_prod = policy(
        {"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::dev-*", "arn:aws:s3:::dev-*/*"]}
    )
    both = [policy(allow("s3:*")), outside_prod]
    assert is_allowed(both, "s3:GetObject", "arn:aws:s3:::dev-scratch/x")
    assert evaluate(both, "s3:GetObject", "arn:aws:s3:::prod-data/x").kind == "explicit-deny"


def test_policy_variables_come_from_the_context():
    home = policy(allow("s3:*", "arn:aws:s3:::homes/${aws:username}/*"))
    assert is_allowed([home], "s3:PutObject", "arn:aws:s3:::homes/alice/notes.txt", {"aws:username": "alice"})
    assert not is_allowed([home], "s3:PutObject", "arn:aws:s3:::homes/bob/notes.txt", {"aws:username": "alice"})
    assert not is_allowed([home], "s3:PutObject", "arn:aws:s3:::homes/alice/x", {}), "no value: no match"
    # the value is literal: a username of `*` must not become a wildcard
    assert not is_allowed([home], "s3:PutObject", "arn:aws:s3:::homes/bob/x", {"aws:username": "*"})
    # version 2008-10-17 has no variables: the text is literal
    old = policy(allow("s3:*", "arn:aws:s3:::homes/${aws:username}/*"), version="2008-10-17")
    assert not is_allowed([old], "s3:PutObject", "arn:aws:s3:::homes/alice/x", {"aws:username": "alice"})


# ---------------------------------------------------------------- conditions


def test_string_like_condition_on_list_bucket_prefix():
    assert is_allowed([TRAINING], "s3:ListBucket", BUCKET, {"s3:prefix": "data/2024/"})
    assert not is_allowed([TRAINING], "s3:ListBucket", BUCKET, {"s3:prefix": "secrets/"})
    assert not is_allowed([TRAINING], "s3:ListBucket", BUCKET), "a missing key makes a positive operator false"
    assert is_allowed([TRAINING], "s3:ListBucket", BUCKET, {"S3:Prefix": "data/x"}), "key names are case-insensitive"


def test_string_equals_is_exact_and_case_sensitive():
    p = policy(allow("ec2:RunInstances", Condition={"StringEquals": {"aws:RequestTag/env": ["dev", "staging"]}}))
    assert is_allowed([p], "ec2:RunInstances", "*", {"aws:RequestTag/env": "dev"})
    assert not is_allowed([p], "ec2:RunInstances", "*", {"aws:RequestTag/env": "Dev"})
    assert not is_allowed([p], "ec2:RunInstances", "*", {"aws:RequestTag/env": "dev*"})
    ic = policy(allow("ec2:RunInstances", Condition={"StringEqualsIgnoreCase": {"aws:RequestTag/env": "dev"}}))
    assert is_allowed([ic], "ec2:RunInstances", "*", {"aws:RequestTag/env": "DEV"})


def test_negated_operators_hold_when_the_key_is_missing():
    p = policy(
        allow("s3:*"),
        deny("s3:*", Condition={"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}}),
    )
    assert is_allowed([p], "s3:GetObject", "x", {"aws:RequestedRegion": "eu-west-1"})
    assert evaluate([p], "s3:GetObject", "x", {"aws:RequestedRegion": "us-east-1"}).kind == "explicit-deny"
    assert evaluate([p], "s3:GetObject", "x", {}).kind == "explicit-deny"


def test_bool_condition_denies_plain_http():
    p = policy(allow("s3:*"), deny("s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}}))
    assert evaluate([p], "s3:GetObject", "x", {"aws:SecureTransport": False}).kind == "explicit-deny"
    assert is_allowed([p], "s3:GetObject", "x", {"aws:SecureTransport": True})
    assert is_allowed([p], "s3:GetObject", "x", {"aws:SecureTransport": "true"})
    assert is_allowed([p], "s3:GetObject", "x", {}), "Bool with the key missing is false: the deny does not apply"


def test_bool_if_exists_applies_when_missing():
    p = policy(allow("s3:*", Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}))
    assert is_allowed([p], "s3:GetObject", "x", {})
    assert not is_allowed([p], "s3:GetObject", "x", {"aws:MultiFactorAuthPresent": False})


def test_null_condition_enforces_tag_on_create():
    p = policy(
        allow("ec2:RunInstances"),
        deny("ec2:RunInstances", Condition={"Null": {"aws:RequestTag/project": "true"}}, Sid="TagOnCreate"),
    )
    assert evaluate([p], "ec2:RunInstances", "*", {}).where == "policy[0].Statement[1] (Sid=TagOnCreate)"
    assert is_allowed([p], "ec2:RunInstances", "*", {"aws:RequestTag/project": "fraud"})


def test_arn_like_condition():
    p = policy(
        allow(
            "iam:PassRole", Condition={"ArnLike": {"iam:AssociatedResourceArn": "arn:aws:sagemaker:*:*:training-job/*"}}
        )
    )
    assert is_allowed(
        [p], "iam:PassRole", "*", {"iam:AssociatedResourceArn": "arn:aws:sagemaker:us-east-1:1:training-job/j1"}
    )
    assert not is_allowed(
        [p], "iam:PassRole", "*", {"iam:AssociatedResourceArn": "arn:aws:ec2:us-east-1:1:instance/i-1"}
    )
    not_like = policy(allow("iam:PassRole", Condition={"ArnNotLike": {"iam:AssociatedResourceArn": "arn:aws:ec2:*"}}))
    assert is_allowed([not_like], "iam:PassRole", "*", {})


def test_numeric_condition():
    p = policy(
        allow("sagemaker:CreateTrainingJob", Condition={"NumericLessThanEquals": {"sagemaker:VolumeKmsKey": "10"}})
    )
    assert is_allowed([p], "sagemaker:CreateTrainingJob", "*", {"sagemaker:VolumeKmsKey": 10})
    assert not is_allowed([p], "sagemaker:CreateTrainingJob", "*", {"sagemaker:VolumeKmsKey": "11"})
    with pytest.raises(PolicyError, match="not a number"):
        evaluate([p], "sagemaker:CreateTrainingJob", "*", {"sagemaker:VolumeKmsKey": "ten"})


def test_all_keys_and_operators_must_hold():
    p = policy(
        allow(
            "ec2:RunInstances",
            Condition={
                "StringEquals": {"aws:RequestTag/env": "dev", "aws:RequestedRegion": "eu-west-1"},
                "StringLike": {"ec2:InstanceType": ["g5.*", "m7i.*"]},
            },
        )
    )
    ok = {"aws:RequestTag/env": "dev", "aws:RequestedRegion": "eu-west-1", "ec2:InstanceType": "g5.xlarge"}
    assert is_allowed([p], "ec2:RunInstances", "*", ok)
    assert not is_allowed([p], "ec2:RunInstances", "*", {**ok, "ec2:InstanceType": "p5.48xlarge"})
    assert not is_allowed([p], "ec2:RunInstances", "*", {**ok, "aws:RequestedRegion": "us-east-1"})


def test_set_qualifiers_for_multivalued_keys():
    any_p = policy(allow("ec2:CreateTags", Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["project"]}}))
    all_p = policy(
        allow("ec2:CreateTags", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["project", "env"]}})
    )
    assert is_allowed([any_p], "ec2:CreateTags", "*", {"aws:TagKeys": ["project", "other"]})
    assert not is_allowed([any_p], "ec2:CreateTags", "*", {"aws:TagKeys": ["other"]})
    assert not is_allowed([any_p], "ec2:CreateTags", "*", {}), "ForAnyValue with no values is false"
    assert is_allowed([all_p], "ec2:CreateTags", "*", {"aws:TagKeys": ["project", "env"]})
    assert not is_allowed([all_p], "ec2:CreateTags", "*", {"aws:TagKeys": ["project", "owner"]})
    assert is_allowed([all_p], "ec2:CreateTags", "*", {}), "ForAllValues with no values is (famously) true"


def test_condition_values_may_use_policy_variables():
    p = policy(allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": "home/${aws:username}/*"}}))
    assert is_allowed([p], "s3:ListBucket", BUCKET, {"aws:username": "alice", "s3:prefix": "home/alice/x"})
    assert not is_allowed([p], "s3:ListBucket", BUCKET, {"aws:username": "alice", "s3:prefix": "home/bob/x"})


# ---------------------------------------------------------------- boundary


def test_permissions_boundary_caps_what_identity_policies_grant():
    admin = policy(allow("*"))
    boundary = policy(allow(["s3:*", "logs:*"]))
    assert evaluate([admin], "iam:CreateUser", "*").allowed
    d = evaluate([admin], "iam:CreateUser", "*", boundary=[boundary])
    assert not d.allowed and d.kind == "implicit-deny" and "boundary" in d.reason
    assert evaluate([admin], "s3:GetObject", "x", boundary=[boundary]).allowed
    assert not evaluate([policy(allow("logs:*"))], "s3:GetObject", "x", boundary=[boundary]).allowed, (
        "the boundary grants nothing by itself"
    )
    deny_boundary = policy(allow("*"), deny("s3:DeleteBucket"))
    assert evaluate([admin], "s3:DeleteBucket", "b", boundary=[deny_boundary]).where.startswith("boundary.")


# ---------------------------------------------------------------- malformed policies


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ({"Effect": "Allw", "Action": "s3:*", "Resource": "*"}, "Effect"),
        ({"Effect": "Allow", "Resource": "*"}, "Action"),
        ({"Effect": "Allow", "Action": "s3:*", "NotAction": "iam:*", "Resource": "*"}, "Action"),
        ({"Effect": "Allow", "Action": "s3:*"}, "Resource"),
        ({"Effect": "Allow", "Action": "GetObject", "Resource": "*"}, "service:Action"),
        ({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}, "Principal"),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"Foo": {"k": "v"}}}, "unknown condition"),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"Null": {"k": "maybe"}}}, "Null"),
    ],
)
def test_malformed_policies_raise(statement, message):
    with pytest.raises(PolicyError, match=message):
        evaluate([policy(statement)], "s3:GetObject", "arn:aws:s3:::b/k", {"k": "v"})


def test_unsupported_operators_refuse_instead_of_guessing():
    p = policy(allow("s3:*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    with pytest.raises(UnsupportedConditionError, match="IpAddress"):
        evaluate([p], "s3:GetObject", "x", {"aws:SourceIp": "10.1.2.3"})
    assert "IpAddress" not in iam.SUPPORTED_OPERATORS
    with pytest.raises(PolicyError):
        evaluate([{"Version": "2012-10-17"}], "s3:GetObject", "x")
    with pytest.raises(ValueError, match="s3:GetObject"):
        evaluate([TRAINING], "GetObject", "x")


# ---------------------------------------------------------------- reading from IAM


class FakeIam:
    """The few IAM read calls principal_policies makes, answering like boto3 (documents as dicts)."""

    def __init__(self) -> None:
        self.managed = {"arn:aws:iam::1:policy/train": TRAINING}

    def get_paginator(self, operation):
        data = {
            "list_attached_role_policies": {"AttachedPolicies": [{"PolicyArn": "arn:aws:iam::1:policy/train"}]},
            "list_role_policies": {"PolicyNames": ["inline"]},
            "list_attached_user_policies": {"AttachedPolicies": []},
            "list_user_policies": {"PolicyNames": []},
            "list_groups_for_user": {"Groups": [{"GroupName": "ml"}]},
            "list_attached_group_policies": {"AttachedPolicies": [{"PolicyArn": "arn:aws:iam::1:policy/train"}]},
            "list_group_policies": {"PolicyNames": ["g-inline"]},
        }[operation]

        class Pager:
            def paginate(self, **kwargs):
                return [data]

        return Pager()

    def get_policy(self, PolicyArn):  # boto3's argument names
        return {"Policy": {"Arn": PolicyArn, "DefaultVersionId": "v1"}}

    def get_policy_version(self, PolicyArn, VersionId):
        return {"PolicyVersion": {"Document": self.managed[PolicyArn]}}

    def get_role_policy(self, RoleName, PolicyName):
        return {"PolicyDocument": json.dumps(policy(deny("s3:DeleteObject")))}

    def get_group_policy(self, GroupName, PolicyName):
        return {"PolicyDocument": policy(allow("logs:*"))}


def test_principal_policies_reads_managed_inline_and_group_policies():
    role_docs = iam.principal_policies(FakeIam(), role="trainer")
    assert len(role_docs) == 2 and role_docs[0] == TRAINING
    assert evaluate(role_docs, "s3:DeleteObject", f"{BUCKET}/data/x").kind == "explicit-deny"
    user_docs = iam.principal_policies(FakeIam(), user="alice")
    assert len(user_docs) == 2 and is_allowed(user_docs, "logs:CreateLogGroup", "*")
    with pytest.raises(ValueError, match="exactly one"):
        iam.principal_policies(FakeIam())
