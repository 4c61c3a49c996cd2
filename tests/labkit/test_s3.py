"""labkit.s3 against moto in-process."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from labkit.s3 import empty_and_delete_bucket


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


def test_a_versioned_bucket_with_versions_and_delete_markers_is_removed(s3):
    s3.create_bucket(Bucket="lab-bucket")
    s3.put_bucket_versioning(Bucket="lab-bucket", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="lab-bucket", Key="k", Body=b"1")
    s3.put_object(Bucket="lab-bucket", Key="k", Body=b"2")
    s3.delete_object(Bucket="lab-bucket", Key="k")  # a delete marker
    empty_and_delete_bucket(s3, "lab-bucket")
    assert "lab-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_a_missing_bucket_is_fine_other_errors_are_not(s3):
    empty_and_delete_bucket(s3, "never-made")

    class Denied:
        def get_paginator(self, _name):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListObjectVersions")

    with pytest.raises(ClientError, match="AccessDenied"):
        empty_and_delete_bucket(Denied(), "b")
