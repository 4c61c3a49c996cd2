from __future__ import annotations

import json

import boto3
import pytest

pytestmark = [pytest.mark.services("aws"), pytest.mark.timeout(120)]


def test_s3_round_trip(stack: dict[str, str]) -> None:
    s3 = boto3.client("s3", endpoint_url=stack["AWS_ENDPOINT_URL"])
    s3.create_bucket(Bucket="labs-test-bucket")
    s3.put_object(Bucket="labs-test-bucket", Key="data/hello.txt", Body=b"hello moto")
    body = s3.get_object(Bucket="labs-test-bucket", Key="data/hello.txt")["Body"].read()
    assert body == b"hello moto"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="labs-test-bucket")["Contents"]]
    assert keys == ["data/hello.txt"]


def test_iam_role_and_assume(stack: dict[str, str]) -> None:
    iam = boto3.client("iam", endpoint_url=stack["AWS_ENDPOINT_URL"])
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName="labs-training-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.attach_role_policy(RoleName="labs-training-role", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    attached = iam.list_attached_role_policies(RoleName="labs-training-role")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AmazonS3ReadOnlyAccess"]
    creds = boto3.client("sts", endpoint_url=stack["AWS_ENDPOINT_URL"]).assume_role(
        RoleArn=role["Arn"], RoleSessionName="lab"
    )["Credentials"]
    assert creds["AccessKeyId"]


def test_reset_removes_lab_buckets(stack: dict[str, str]) -> None:
    from autograder.services import commands

    s3 = boto3.client("s3", endpoint_url=stack["AWS_ENDPOINT_URL"])
    s3.create_bucket(Bucket="m007-raw")
    s3.put_object(Bucket="m007-raw", Key="x", Body=b"1")
    env = commands.reset("aws", "m007")
    assert env["AWS_RESOURCE_PREFIX"] == "m007-"
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "m007-raw" not in names
