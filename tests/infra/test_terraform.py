"""Terraform: fmt, init/validate/plan/apply against moto (remote state in moto S3, a workspace),
verification with boto3, python-hcl2 structural rules, checkov."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.tools import (
    SNIPPETS,
    find_tool,
    free_port,
    provider_mirror,
    require_tool,
    run,
    tool_env,
    tools_dir,
)

TF_DIR = SNIPPETS / "terraform"
STACK = "stacks/ml-platform"
STATE_BUCKET = "mlops-course-tfstate-dev"
WORKSPACE = "ci"
MOTO_SERVICES = [
    "acm",
    "autoscaling",
    "budgets",
    "cloudwatch",
    "ec2",
    "ecr",
    "elbv2",
    "iam",
    "kms",
    "logs",
    "rds",
    "s3",
    "secretsmanager",
    "sts",
]
REQUIRED_TAGS = {"project", "environment", "owner", "cost_center", "managed_by"}


# ---------------------------------------------------------------- structural rules (python-hcl2)


def parse_tf(root: Path) -> dict[Path, dict[str, Any]]:
    hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 not installed (scripts/install-infra-tools.sh)")
    out: dict[Path, dict[str, Any]] = {}
    for path in sorted(root.rglob("*.tf")):
        with path.open() as fh:
            out[path] = hcl2.load(fh)
    return out


def _str(value: Any) -> Any:
    """python-hcl2 >= 7 keeps the quotes of string literals."""
    return value[1:-1] if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"' else value


def resources(parsed: dict[Path, dict[str, Any]]) -> Iterator[tuple[Path, str, str, dict[str, Any]]]:
    for path, doc in parsed.items():
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                for rname, body in named.items():
                    yield path, rtype.strip('"'), rname.strip('"'), body


def structural_problems(root: Path) -> list[str]:
    """Rules a reviewer would otherwise check by eye. Returns human-readable problems."""
    parsed = parse_tf(root)
    problems: list[str] = []
    by_module: dict[Path, dict[str, set[str]]] = {}
    for path, rtype, rname, body in resources(parsed):
        by_module.setdefault(path.parent, {}).setdefault(rtype, set()).add(rname)
        where = f"{path.relative_to(root)}:{rtype}.{rname}"
        if rtype in {"aws_security_group"}:
            for direction in ("ingress", "egress"):
                for rule in body.get(direction, []):
                    if not rule.get("description"):
                        problems.append(f"{where}: {direction} rule without description")
        if rtype == "aws_db_instance":
            for key in ("storage_encrypted", "iam_database_authentication_enabled"):
                if body.get(key) is not True:
                    problems.append(f"{where}: {key} must be true")
            if body.get("publicly_accessible") is not False:
                problems.append(f"{where}: publicly_accessible must be false")
        if rtype == "aws_ecr_repository":
            scan = body.get("image_scanning_configuration", [{}])[0]
            if scan.get("scan_on_push") is not True:
                problems.append(f"{where}: scan_on_push must be true")
        if rtype == "aws_launch_template":
            meta = body.get("metadata_options", [{}])[0]
            if _str(meta.get("http_tokens")) != "required":
                problems.append(f"{where}: IMDSv2 (http_tokens = required) not enforced")
        if rtype == "aws_kms_key" and body.get("enable_key_rotation") is not True:
            problems.append(f"{where}: enable_key_rotation must be true")
    # every bucket is encrypted, versioned, private and has a lifecycle, in the same module
    for module, rtypes in by_module.items():
        if "aws_s3_bucket" in rtypes:
            for companion in (
                "aws_s3_bucket_server_side_encryption_configuration",
                "aws_s3_bucket_versioning",
                "aws_s3_bucket_public_access_block",
                "aws_s3_bucket_lifecycle_configuration",
            ):
                if len(rtypes.get(companion, set())) < len(rtypes["aws_s3_bucket"]):
                    problems.append(f"{module.relative_to(root)}: aws_s3_bucket without {companion}")
    # every variable and output is typed/documented
    for path, doc in parsed.items():
        for block in doc.get("variable", []):
            for vname, body in block.items():
                if not body.get("description") or "type" not in body:
                    problems.append(f"{path.relative_to(root)}: variable {vname} needs type and description")
        for block in doc.get("output", []):
            for oname, body in block.items():
                if not body.get("description"):
                    problems.append(f"{path.relative_to(root)}: output {oname} needs a description")
    # every stack tags everything through provider default_tags with the required keys
    for path, doc in parsed.items():
        for block in doc.get("provider", []):
            aws = block.get("aws")
            if aws is None:
                continue
            default_tags = aws.get("default_tags", [])
            if not default_tags:
                problems.append(f"{path.relative_to(root)}: aws provider without default_tags")
    locals_tags: set[str] = set()
    for doc in parsed.values():
        for block in doc.get("locals", []):
            locals_tags |= set(block.get("required_tags", {}))
    if not locals_tags >= REQUIRED_TAGS:
        problems.append(f"required_tags local lacks {sorted(REQUIRED_TAGS - locals_tags)}")
    return problems


def test_hcl2_structure() -> None:
    problems = structural_problems(TF_DIR)
    assert problems == []


def test_hcl2_structure_catches_unencrypted_bucket(tmp_path: Path) -> None:
    broken = tmp_path / "terraform"
    shutil.copytree(TF_DIR, broken)
    main = broken / "modules" / "s3-bucket" / "main.tf"
    text = main.read_text()
    start = text.index('resource "aws_s3_bucket_server_side_encryption_configuration"')
    end = text.index('resource "aws_s3_bucket_lifecycle_configuration"')
    main.write_text(text[:start] + text[end:])
    problems = structural_problems(broken)
    assert any("without aws_s3_bucket_server_side_encryption_configuration" in p for p in problems), problems


def test_terraform_fmt() -> None:
    terraform = require_tool("terraform")
    run([terraform, "fmt", "-check", "-recursive", "-diff", str(TF_DIR)], env=_tf_env(None))


# ---------------------------------------------------------------- apply against moto


def _tf_env(cli_config: Path | None) -> dict[str, str]:
    env = tool_env()
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
            "TF_INPUT": "0",
        }
    )
    env.pop("AWS_PROFILE", None)
    if cli_config is not None:
        env["TF_CLI_CONFIG_FILE"] = str(cli_config)
    else:
        env["TF_CLI_CONFIG_FILE"] = os.devnull
    return env


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server_mod = pytest.importorskip("moto.server", reason="moto[server] not installed")
    port = free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _boto(endpoint: str, service: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def applied_stack(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    terraform = require_tool("terraform")
    mirror = provider_mirror()
    if mirror is None:
        pytest.skip("no AWS provider mirror (hashicorp/aws) on this machine: apply cannot run")
    work = tmp_path_factory.mktemp("tf")
    shutil.copytree(TF_DIR, work / "terraform")
    stack = work / "terraform" / STACK
    cache = tools_dir() / "tf-plugin-cache"
    cache.mkdir(parents=True, exist_ok=True)
    cli_config = work / "terraformrc"
    cli_config.write_text(
        f'plugin_cache_dir = "{cache}"\nplugin_cache_may_break_dependency_lock_file = true\n'
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n'
        f'    include = ["registry.terraform.io/hashicorp/*"]\n  }}\n}}\n'
    )
    # Test-only overrides: point the provider and the S3 backend at moto. The committed stack is untouched.
    endpoints = "\n".join(f'    {svc} = "{moto_endpoint}"' for svc in MOTO_SERVICES)
    (stack / "moto_override.tf").write_text(
        'provider "aws" {\n  skip_credentials_validation = true\n  skip_metadata_api_check = true\n'
        "  max_retries = 1\n"
        f"  s3_use_path_style = true\n  endpoints {{\n{endpoints}\n  }}\n}}\n"
    )
    (stack / "moto.s3.tfbackend").write_text(
        f'endpoints = {{ s3 = "{moto_endpoint}", sts = "{moto_endpoint}" }}\nuse_path_style = true\n'
        "skip_credentials_validation = true\nskip_requesting_account_id = true\n"
        'skip_metadata_api_check = true\naccess_key = "testing"\nsecret_key = "testing"\n'
    )
    # moto's Budgets API lacks ListTagsForResource and DescribeSubscribersForNotification, which the
    # provider calls after creating a budget: the budget module is left out of this apply (hcl2 + checkov
    # still check it; the README says so).
    main_tf = stack / "main.tf"
    main_tf.write_text(re.sub(r'\nmodule "budget" \{.*?\n\}\n', "\n", main_tf.read_text(), flags=re.S))
    s3 = _boto(moto_endpoint, "s3")
    s3.create_bucket(Bucket=STATE_BUCKET)
    cert_arn = _boto(moto_endpoint, "acm").request_certificate(DomainName="api.example.com")["CertificateArn"]
    ami = _boto(moto_endpoint, "ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    env = _tf_env(cli_config)
    tf = [terraform, f"-chdir={stack}"]
    run(
        [*tf, "init", "-input=false", "-backend-config=backend/dev.s3.tfbackend", "-backend-config=moto.s3.tfbackend"],
        env=env,
    )
    run([*tf, "workspace", "new", WORKSPACE], env=env)
    run([*tf, "validate"], env=env)
    run(
        [
            *tf,
            "plan",
            "-input=false",
            "-out=tfplan",
            "-var-file=sandbox.tfvars",
            f"-var=model_server_ami_id={ami}",
            f"-var=certificate_arn={cert_arn}",
        ],
        env=env,
        timeout=600,
    )
    apply = run([*tf, "apply", "-input=false", "-auto-approve", "-no-color", "tfplan"], env=env, timeout=600)
    (work / "apply.log").write_text(apply.stdout)
    outputs = json.loads(run([*tf, "output", "-json"], env=env).stdout)
    return {name: value["value"] for name, value in outputs.items()}


def _tags(tag_list: list[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list}


def test_apply_remote_state_in_workspace(applied_stack: dict[str, Any], moto_endpoint: str) -> None:
    keys = [o["Key"] for o in _boto(moto_endpoint, "s3").list_objects_v2(Bucket=STATE_BUCKET)["Contents"]]
    assert f"env:/{WORKSPACE}/ml-platform/terraform.tfstate" in keys


def test_apply_vpc(applied_stack: dict[str, Any], moto_endpoint: str) -> None:
    ec2 = _boto(moto_endpoint, "ec2")
    vpc_id = applied_stack["vpc_id"]
    vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    assert set(_tags(vpc["Tags"])) >= REQUIRED_TAGS
    assert _tags(vpc["Tags"])["environment"] == WORKSPACE
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    tiers = sorted(_tags(s["Tags"])["Tier"] for s in subnets)
    assert tiers == ["private", "private", "public", "public"]
    assert not any(s["MapPublicIpOnLaunch"] for s in subnets)
    nats = ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"]
    assert len(nats) == 1  # sandbox.tfvars: production_safeguards=false -> single NAT
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
    assert {e["ServiceName"].rsplit(".", 1)[-1] for e in endpoints} >= {"s3", "api", "dkr", "sts"}
    routes = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    private_default = [
        r for t in routes for r in t["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("NatGatewayId")
    ]
    assert len(private_default) == 2


def test_apply_buckets(applied_stack: dict[str, Any], moto_endpoint: str) -> None:
    s3 = _boto(moto_endpoint, "s3")
    for bucket in (applied_stack["datasets_bucket"], applied_stack["artifacts_bucket"]):
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]
        transitions = sorted(lifecycle["Transitions"], key=lambda t: t["Days"])
        assert [t["StorageClass"] for t in transitions] == ["STANDARD_IA", "GLACIER"]
        pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(pab.values())
        assert set(_tags(s3.get_bucket_tagging(Bucket=bucket)["TagSet"])) >= REQUIRED_TAGS


def test_apply_ecr_iam_rds_alb_asg(applied_stack: dict[str, Any], moto_endpoint: str) -> None:
    ecr = _boto(moto_endpoint, "ecr")
    repo = ecr.describe_repositories(repositoryNames=["mlops-course/model-api"])["repositories"][0]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    assert repo["imageTagMutability"] == "IMMUTABLE"
    lifecycle = json.loads(ecr.get_lifecycle_policy(repositoryName="mlops-course/model-api")["lifecyclePolicyText"])
    assert len(lifecycle["rules"]) == 2

    iam = _boto(moto_endpoint, "iam")
    serving = iam.get_role_policy(RoleName="mlops-course-ci-serving", PolicyName="serving-least-privilege")
    statements = serving["PolicyDocument"]["Statement"]
    s3_actions = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        if a.startswith("s3:")
    }
    assert s3_actions == {"s3:GetObject"}, "serving must only read models"

    rds = _boto(moto_endpoint, "rds")
    db = rds.describe_db_instances(DBInstanceIdentifier="mlops-course-ci-mlflow")["DBInstances"][0]
    assert db["Engine"] == "postgres" and db["StorageEncrypted"] and not db["PubliclyAccessible"]

    elbv2 = _boto(moto_endpoint, "elbv2")
    lbs = elbv2.describe_load_balancers()["LoadBalancers"]
    assert any(lb["DNSName"] in applied_stack["model_api_url"] for lb in lbs)
    listeners = elbv2.describe_listeners(LoadBalancerArn=lbs[0]["LoadBalancerArn"])["Listeners"]
    assert sorted(listener["Protocol"] for listener in listeners) == ["HTTP", "HTTPS"]

    asg = _boto(moto_endpoint, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["mlops-course-ci-asg"]
    )["AutoScalingGroups"][0]
    assert asg["MinSize"] == 2 and asg["HealthCheckType"] == "ELB"
    assert {t["Key"] for t in asg["Tags"]} >= REQUIRED_TAGS


# ---------------------------------------------------------------- checkov (one run: conftest.py)


def test_checkov_terraform(checkov_failures_by_area: dict[str, list[str]]) -> None:
    assert "terraform" in checkov_failures_by_area["_scanned"]
    assert checkov_failures_by_area.get("terraform", []) == []


def test_checkov_catches_public_bucket(checkov_failures_by_area: dict[str, list[str]]) -> None:
    failures = checkov_failures_by_area.get("neg-terraform", [])
    assert any(f.startswith("CKV_AWS_53 ") for f in failures), failures


def test_find_tool_reports_missing() -> None:
    assert find_tool("definitely-not-an-infra-tool") is None
