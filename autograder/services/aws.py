"""AWS APIs emulated by moto's server: one endpoint for every service (S3, IAM, STS, EC2...)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import sys
import urllib.request
from collections.abc import Callable, Mapping

from autograder.services.base import (
    HOST,
    ContainerSpec,
    MissingDependency,
    Running,
    Service,
    http_ok,
    pick_port,
    spawn,
)

# Dummy credentials: moto accepts anything, boto3 only needs them present.
STATIC_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def exports_for(url: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": url, **STATIC_ENV}


class Aws(Service):
    name = "aws"
    endpoint_var = "AWS_ENDPOINT_URL"
    start_timeout = 30.0

    def start_native(self, deps: Mapping[str, Running]) -> Running:
        if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
            raise MissingDependency("moto server is not installed: `pip install 'moto[server]'`")
        port = pick_port(self.preferred_port())
        # A process (not ThreadedMotoServer) so the endpoint outlives `labs up`.
        # AWS managed policies (arn:aws:iam::aws:policy/...) exist, as labs attach them to roles.
        env = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
        proc = spawn(self.name, [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)], env=env)
        url = f"http://{HOST}:{port}"
        return Running(self.name, "native", url, exports_for(url), [proc], {"http": port}, str(self.log()))

    def probe(self, run: Running) -> bool:
        return http_ok(f"{run.endpoint}/moto-api/")  # not data.json: that dumps every resource

    def external_exports(self, value: str) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": value}

    def container_spec(self) -> ContainerSpec:
        return ContainerSpec("motoserver/moto:latest", {5000: None}, ready_log="Running on")

    def container_exports(self, host_port: Callable[[int], int]) -> dict[str, str]:
        return exports_for(f"http://{HOST}:{host_port(5000)}")

    def reset(self, run: Running, lab: str) -> dict[str, str]:
        """Delete the lab's S3 buckets (named `<lab>-...`); labs name their resources with the prefix."""
        prefix = bucket_prefix(lab)
        s3 = client("s3", run.endpoint)
        for b in s3.list_buckets().get("Buckets", []):
            if b["Name"].startswith(prefix):
                empty_and_delete_bucket(s3, b["Name"])
        return {"LABS_NAMESPACE": lab, "AWS_RESOURCE_PREFIX": prefix}


def bucket_prefix(lab: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", lab.lower()) + "-"


def client(service: str, endpoint: str):
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=STATIC_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=STATIC_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=STATIC_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def ensure_bucket(endpoint: str, bucket: str) -> None:
    s3 = client("s3", endpoint)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)


def empty_and_delete_bucket(s3, bucket: str) -> None:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        objs = [{"Key": o["Key"], "VersionId": o["VersionId"]} for o in page.get("Versions", [])]
        objs += [{"Key": o["Key"], "VersionId": o["VersionId"]} for o in page.get("DeleteMarkers", [])]
        if objs:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objs})
    s3.delete_bucket(Bucket=bucket)


def reset_all(endpoint: str) -> None:
    """Wipe every emulated resource (moto's own reset API)."""
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=json.dumps({}).encode())
    urllib.request.urlopen(req, timeout=10).close()


SERVICE = Aws()
