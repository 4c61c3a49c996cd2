"""S3 housekeeping the AWS labs share."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


def empty_and_delete_bucket(s3: Any, bucket: str) -> None:
    """Delete every object version and delete marker, then the bucket (a versioned bucket refuses
    deletion while either remains). A bucket that does not exist is not an error: reruns call this."""
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", [])]
            doomed += [{"Key": m["Key"], "VersionId": m["VersionId"]} for m in page.get("DeleteMarkers", [])]
            if doomed:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
        s3.delete_bucket(Bucket=bucket)
    except ClientError as err:
        if err.response["Error"]["Code"] != "NoSuchBucket":
            raise
