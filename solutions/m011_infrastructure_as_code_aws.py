# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 11 — Infrastructure as Code for AWS
#
# **Where this sits:** Modules 7–10 clicked and scripted AWS resources one by one (buckets, ECR, IAM,
# EC2). That does not survive a second environment, a second engineer or an audit. From here on, the
# course's infrastructure is *code*: reviewed in pull requests, tested, applied by CI, and the same for
# dev and prod. This lab builds the storage layer of the course's ML platform (the bucket MLflow writes
# model artifacts to, and the ECR repository the model API image is pushed to) with **Terraform**, tests
# a **Pulumi** version of the same bucket, and puts a **CI gate** in front of both. The full platform
# stack (VPC, RDS for MLflow, the model API's load balancer and Auto Scaling group) lives in
# `infra-snippets/terraform/` and reuses exactly these patterns.
#
# **You will:**
# 1. write a Terraform **root module** that composes two reusable **modules** (one written here, one
#    from the course's `infra-snippets`), with typed, **validated variables** and **outputs**;
# 2. `init`/`plan`/`apply` it against the AWS API, with **remote state in S3** (and S3 state locking),
#    into two **workspaces**, `dev` and `prod`, whose settings come from per-environment `.tfvars`;
# 3. inspect the **state**, then **detect drift** (someone changed a resource by hand) with
#    `plan -detailed-exitcode` and reconcile it;
# 4. unit-test a **Pulumi** program with Pulumi's mocks, so a public bucket fails the test suite;
# 5. write the **IaC CI gate** (`terraform fmt -check`, `terraform validate`, `checkov`) that blocks a
#    bad change and passes the fixed one, and see the workflow that runs it.
#
# **What runs here:** the real `terraform` CLI (1.11) with the real `hashicorp/aws` provider (5.100,
# from a local mirror: nothing is downloaded), talking to **moto**, the AWS API emulator on this machine,
# through the provider's `endpoints` setting; state lives in moto's S3. Pulumi's Python SDK runs its
# unit-test mode (mocks), which needs no cloud and no Pulumi service; `checkov` is the real scanner.

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")

# %% [markdown]
# ## Setup
# The IaC tools are found where `scripts/install-infra-tools.sh` and the machine image put them
# (`labkit.iac.toolchain()`); if Terraform, its AWS provider mirror or the course's modules are missing,
# this cell stops and says which (the Pulumi SDK and checkov are looked up where they are used).
# Everything the lab creates is named from `RUN_ID`: the project name `PROJECT` starts every
# bucket and repository name, and the Terraform state bucket is the lab's own.

# %%
import json
import shutil
import subprocess
import warnings
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from labkit import iac, labenv

labenv.configure(DATA_DIR)  # dummy AWS credentials for the emulator, this env's tools on PATH
NAME = labenv.resource_name("m011", RUN_ID)
PROJECT = NAME[:24].rstrip("-")  # <project>-<workspace>-artifacts must stay a valid bucket name
STATE_BUCKET = f"{NAME}-tfstate"
STATE_KEY = "ml-storage/terraform.tfstate"
WORK = (Path("m011-work") / NAME).resolve()
STACK = WORK / "stack"
shutil.rmtree(WORK, ignore_errors=True)  # a rerun starts from clean files (the state lives in S3)
STACK.mkdir(parents=True)

TOOLS = iac.toolchain(require=("terraform", "mirror", "modules"))  # or a clear error naming what is missing
CLI_CONFIG = iac.write_cli_config(WORK / "terraformrc", TOOLS.mirror)
tf = iac.Terraform(TOOLS.terraform, STACK, data_dir=WORK / "tfdata", cli_config=CLI_CONFIG)

_cfg = Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30)
s3 = boto3.client("s3", endpoint_url=AWS_ENDPOINT_URL, region_name="us-east-1", config=_cfg)
ecr = boto3.client("ecr", endpoint_url=AWS_ENDPOINT_URL, region_name="us-east-1", config=_cfg)
try:
    s3.create_bucket(Bucket=STATE_BUCKET)
except ClientError as exc:
    if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
        raise
s3.put_bucket_versioning(Bucket=STATE_BUCKET, VersioningConfiguration={"Status": "Enabled"})

print(tf("version").stdout.splitlines()[0], "| provider mirror:", TOOLS.mirror)
print(json.dumps(TOOLS.summary(), indent=1))
print("project:", PROJECT, "| state bucket:", STATE_BUCKET)

# %% [markdown]
# ## Terraform in one page
#
# | concept | what it is | here |
# |---|---|---|
# | **provider** | a plugin that turns resource blocks into API calls | `hashicorp/aws`, pointed at the emulator |
# | **resource** | one object Terraform creates and owns | `aws_s3_bucket`, `aws_ecr_repository` |
# | **variable / output** | a module's inputs and results | `project`, `image_retention` / `artifacts_bucket` |
# | **module** | a folder of `.tf` files with inputs and outputs; called with `module "x" { source = ... }` | `artifact-bucket`, `ecr` |
# | **state** | Terraform's record of which real object each resource address maps to | JSON in S3 |
# | **backend** | where the state lives and how it is locked | `s3` with `use_lockfile` |
# | **workspace** | one more state for the same code (`env:/<name>/...` in the bucket) | `dev`, `prod` |
#
# The loop is always the same: **`init`** (install providers, modules, connect the backend),
# **`plan`** (read the real objects, diff them against the code, print what would change), **`apply`**
# (make those changes and record them in the state), and eventually **`destroy`**. Terraform is
# *declarative*: you write the end state, it computes the API calls.
#
# The lab writes the two files every root module in this course starts with. `versions.tf` pins
# Terraform and the provider and declares an (empty, *partial*) S3 backend: the bucket and key come
# from a `-backend-config` file, so one codebase can keep dev and prod state in different accounts.
# `providers.tf` configures the provider. The `endpoints` and `skip_*` lines exist only because
# the AWS API here is an emulator; against a real account you delete them and credentials come from
# the environment (an SSO profile locally, an OIDC role in CI, Module 5). `default_tags` tags every
# resource with the project and the workspace, which is what cost reports are split by.

# %%
(STACK / "versions.tf").write_text(
    """terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.90"
    }
  }

  # Partial config: bucket/key/region come from -backend-config=<file>.
  # Each workspace's state lands under env:/<workspace>/<key>.
  backend "s3" {}
}
"""
)
(STACK / "providers.tf").write_text(
    f"""provider "aws" {{
  region = "us-east-1"

  # Emulator only: delete from here ...
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true
{iac.moto_endpoints_hcl(AWS_ENDPOINT_URL, ["s3", "ecr", "sts", "iam"])}
  # ... to here for a real account.

  default_tags {{
    tags = {{
      project     = var.project
      environment = terraform.workspace
      managed_by  = "terraform"
    }}
  }}
}}
"""
)
(STACK / "moto.s3.tfbackend").write_text(iac.s3_backend_config(AWS_ENDPOINT_URL, STATE_BUCKET, STATE_KEY))
print((STACK / "providers.tf").read_text())

# %% [markdown]
# ## Modules: small, typed, composable
#
# A module is a folder with `variables.tf` (inputs), `main.tf` (resources) and `outputs.tf` (what callers
# may use). Patterns that keep a module library healthy:
#
# - **one purpose per module**, secure by default: the bucket module below *always* blocks public access,
#   encrypts and versions. Callers cannot forget, and a reviewer reads the policy once;
# - **typed, documented, validated inputs**; outputs for everything a caller composes with (names, ARNs);
# - **no provider blocks inside modules**: the root module configures providers once;
# - **composition over flags**: a root module (a *stack*) wires small modules together, instead of one
#   giant module with 40 booleans;
# - **versioned sources** across repositories (`git::https://...//modules/ecr?ref=v1.4.0`, or a registry
#   `version = "~> 1.4"`), so a module change reaches prod only when that stack bumps the version.
#
# The lab writes `artifact-bucket` (private, SSE-KMS, versioned; the course's full
# `infra-snippets/terraform/modules/s3-bucket` adds lifecycle tiers and a TLS-only policy; moto's
# read-back of lifecycle rules does not match what the provider waits for, which costs a minute per
# bucket here, so this lab's module leaves them out) and *vendors* the course's `ecr` module (immutable tags, scan on push, KMS, lifecycle
# policy) from `infra-snippets` unchanged.

# %%
BUCKET_MODULE = {
    "variables.tf": """variable "bucket_name" {
  description = "Globally unique bucket name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 lowercase letters, digits or dashes."
  }
}

variable "force_destroy" {
  description = "Allow destroy to delete a non-empty bucket (throw-away environments only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Extra tags merged over the provider's default_tags."
  type        = map(string)
  default     = {}
}
""",
    "main.tf": """# Private, encrypted, versioned: callers cannot opt out.
resource "aws_s3_bucket" "this" {
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled" # an overwritten model.pkl stays recoverable
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}
""",
    "outputs.tf": """output "bucket_name" {
  description = "Bucket name."
  value       = aws_s3_bucket.this.bucket
}

output "bucket_arn" {
  description = "Bucket ARN, for IAM policies."
  value       = aws_s3_bucket.this.arn
}
""",
}


def write_module(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


write_module(STACK / "modules" / "artifact-bucket", BUCKET_MODULE)
shutil.copytree(iac.TF_MODULES / "ecr", STACK / "modules" / "ecr")  # vendored from infra-snippets
print(sorted(str(p.relative_to(STACK)) for p in STACK.rglob("*.tf")))
print((STACK / "modules" / "ecr" / "variables.tf").read_text())

# %% [markdown]
# ## Exercise 1: a root module that composes the modules
#
# Write the stack's own three files into `STACK` (as strings, with `Path.write_text`):
#
# - **`variables.tf`**:
#   - `project` (string, no default), validated: 3–24 characters, lowercase letters, digits and dashes,
#     starting with a letter (`^[a-z][a-z0-9-]{2,23}$`);
#   - `owner` (string, default `"ml-platform"`);
#   - `image_retention` (number, default `10`): how many release images ECR keeps; validated to be a
#     **whole number from 1 to 100**.
#   Every variable has a `description` and a `type`.
# - **`main.tf`**: a local `name = "${var.project}-${terraform.workspace}"`, then
#   - `module "artifacts"` from `./modules/artifact-bucket` with `bucket_name = "<name>-artifacts"`,
#     `force_destroy = true` (the lab destroys it at the end) and a tag `owner = var.owner`;
#   - `module "model_repo"` from `./modules/ecr` with `name = "<name>/model-api"`,
#     `keep_tagged_images = var.image_retention` and `kms_key_arn = null` (null means the AWS-managed
#     `aws/ecr` key; the platform stack passes its own customer-managed key).
# - **`outputs.tf`**: `artifacts_bucket` (the bucket name) and `model_repository_url`, each with a
#   description.
#
# The check runs `terraform init` (connecting the S3 backend, installing the modules you call) and
# `terraform validate`, and hidden `terraform test` runs with a *mock* AWS provider (no API calls) that
# feed your variables good and bad values and read your outputs.
#
# <details><summary>Hint 1</summary>A validation block sits inside the variable:
# <code>validation { condition = can(regex("...", var.project)) error_message = "..." }</code>.
# A whole number: <code>floor(var.image_retention) == var.image_retention</code>.</details>
# <details><summary>Hint 2</summary>Module outputs are read as <code>module.artifacts.bucket_name</code>
# and <code>module.model_repo.repository_url</code>; look at each module's <code>outputs.tf</code>.</details>
# <details><summary>Hint 3</summary>Run <code>print(tf("validate", check=False).stderr)</code> to see
# what Terraform objects to, and <code>tf("fmt")</code> to format your files.</details>

# %% answer="root_module"
### BEGIN SOLUTION
(STACK / "variables.tf").write_text(
    """variable "project" {
  description = "Project name; first part of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,23}$", var.project))
    error_message = "project must be 3-24 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "owner" {
  description = "Team that owns the resources (a tag)."
  type        = string
  default     = "ml-platform"
}

variable "image_retention" {
  description = "How many release images the model repository keeps (rollback depth)."
  type        = number
  default     = 10

  validation {
    condition     = var.image_retention >= 1 && var.image_retention <= 100 && floor(var.image_retention) == var.image_retention
    error_message = "image_retention must be a whole number from 1 to 100."
  }
}
"""
)
(STACK / "main.tf").write_text(
    """locals {
  name = "${var.project}-${terraform.workspace}"
}

module "artifacts" {
  source        = "./modules/artifact-bucket"
  bucket_name   = "${local.name}-artifacts"
  force_destroy = true
  tags          = { owner = var.owner }
}

module "model_repo" {
  source             = "./modules/ecr"
  name               = "${local.name}/model-api"
  kms_key_arn        = null # AWS-managed aws/ecr key; the platform stack passes its own CMK
  keep_tagged_images = var.image_retention
  tags               = { owner = var.owner }
}
"""
)
(STACK / "outputs.tf").write_text(
    """output "artifacts_bucket" {
  description = "Bucket for model artifacts (MLflow's artifact store)."
  value       = module.artifacts.bucket_name
}

output "model_repository_url" {
  description = "docker push target for the model API image."
  value       = module.model_repo.repository_url
}
"""
)
tf("fmt")
### END SOLUTION

# %% check="root_module" points=2
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _init = tf("init", "-input=false", "-no-color", "-reconfigure", "-backend-config=moto.s3.tfbackend", check=False)
    assert _init.returncode == 0, f"terraform init failed:\n{_init.stderr[-2000:]}"
    _val = tf("validate", "-json", "-no-color", check=False)
    _report = json.loads(_val.stdout or "{}")
    assert _report.get("valid") is True, f"terraform validate: {iac.diagnostics(_val.stdout) or _val.stderr[-2000:]}"
    # init records every module call it installed: the root must call both modules from their folders
    _manifest = WORK / "tfdata" / "modules" / "modules.json"  # absent when the root calls no module
    _mods = json.loads(_manifest.read_text())["Modules"] if _manifest.exists() else []
    _calls = {m["Key"]: m["Source"] for m in _mods if m["Key"]}
    _want = {"artifacts": "./modules/artifact-bucket", "model_repo": "./modules/ecr"}
    assert _calls == _want, f"expected module calls {_want}, terraform init found {_calls}"
    print("init + validate: OK, module calls:", _calls)
### BEGIN HIDDEN TESTS
    _tests = STACK / "hidden-tests"
    _tests.mkdir(exist_ok=True)
    (_tests / "root.tftest.hcl").write_text(
        f"""mock_provider "aws" {{}}

variables {{
  project = "{PROJECT}"
}}

run "rejects_uppercase_project" {{
  command = plan
  variables {{
    project = "ML_Platform"
  }}
  expect_failures = [var.project]
}}

run "rejects_long_project" {{
  command = plan
  variables {{
    project = "a-project-name-that-is-too-long"
  }}
  expect_failures = [var.project]
}}

run "rejects_zero_retention" {{
  command = plan
  variables {{
    image_retention = 0
  }}
  expect_failures = [var.image_retention]
}}

run "rejects_too_many_images" {{
  command = plan
  variables {{
    image_retention = 101
  }}
  expect_failures = [var.image_retention]
}}

run "rejects_fractional_retention" {{
  command = plan
  variables {{
    image_retention = 2.5
  }}
  expect_failures = [var.image_retention]
}}

run "names_and_outputs" {{
  command = apply
  variables {{
    image_retention = 7
  }}
  assert {{
    condition     = can(regex("^{PROJECT}-[a-z0-9-]+-artifacts$", output.artifacts_bucket))
    error_message = "artifacts_bucket should be <project>-<workspace>-artifacts, got ${{output.artifacts_bucket}}"
  }}
  assert {{
    condition     = module.model_repo.repository_arn != "" && output.model_repository_url != ""
    error_message = "model_repository_url must come from the ecr module"
  }}
}}
"""
    )
    _test = tf("test", "-test-directory=hidden-tests", "-no-color", check=False)
    shutil.rmtree(_tests, ignore_errors=True)
    _lines = [ln.strip() for ln in _test.stdout.splitlines() if "run " in ln and ("fail" in ln or "error" in ln)]
    assert _test.returncode == 0, "hidden terraform tests failed: " + ("; ".join(_lines) or _test.stderr[-1500:])
### END HIDDEN TESTS

# %% [markdown]
# ## Remote state, locking and workspaces
#
# The **state** maps each resource address (`module.artifacts.aws_s3_bucket.this`) to a real object
# (bucket `m011-...-dev-artifacts`). Lose it and Terraform no longer knows it owns anything; let two
# people apply at once and it gets corrupted. So teams keep it **remote**: here an S3 bucket (versioned, so
# a bad write can be rolled back) with **`use_lockfile = true`**: every operation first writes a
# `<key>.tflock` object with a conditional put, and a second apply waits or fails instead of racing
# (Terraform ≥ 1.10; before that a DynamoDB table did the locking).
#
# A **workspace** is a second (third, ...) state for the same code: `terraform workspace select
# -or-create=true prod` switches to `env:/prod/<key>` in the same bucket, and `terraform.workspace`
# becomes `"prod"` inside the code, so names and tags differ per environment. Per-environment *settings*
# (sizes, retention) go in `dev.tfvars` / `prod.tfvars` passed with `-var-file`.
# Workspaces share one backend, so one set of credentials can touch both environments; organisations
# that need hard isolation use one root-module directory (or one account and backend) per environment
# instead, with the same modules.

# %% [markdown]
# ## Exercise 2: apply to `dev` and `prod`
#
# 1. Write `STACK / "dev.tfvars"` and `STACK / "prod.tfvars"`: both set `project = PROJECT`;
#    dev keeps **5** release images (`image_retention`), prod keeps **30**.
# 2. Write `deploy(workspace) -> dict`: select (or create) the workspace, `apply` with that
#    workspace's var-file (no prompt), and return the stack's outputs as a plain dict
#    (`{"artifacts_bucket": "...", "model_repository_url": "..."}`) from `terraform output -json`.
#
# The two cells after yours run `deploy("dev")` and `deploy("prod")` (one apply per cell: with the full
# AWS provider each takes a while). `init` already ran in the check above. `tf(...)` raises with
# Terraform's error text if a command fails; try a command by hand with `print(tf("plan", ...).stdout)`.
#
# <details><summary>Hint 1</summary><code>tf("workspace", "select", "-or-create=true", workspace)</code>,
# then <code>tf("apply", "-input=false", "-auto-approve", f"-var-file={workspace}.tfvars")</code>
# (a saved plan, <code>plan -out=tfplan</code> then <code>apply tfplan</code>, is what CI does).</details>
# <details><summary>Hint 2</summary><code>terraform output -json</code> gives
# <code>{"name": {"value": ..., "type": ..., "sensitive": ...}}</code>.</details>

# %% answer="workspaces"
### BEGIN SOLUTION
for _ws, _keep in (("dev", 5), ("prod", 30)):
    (STACK / f"{_ws}.tfvars").write_text(f'project         = "{PROJECT}"\nimage_retention = {_keep}\n')


def deploy(workspace: str) -> dict:
    tf("workspace", "select", "-or-create=true", workspace)
    tf("apply", "-input=false", "-auto-approve", "-no-color", f"-var-file={workspace}.tfvars")
    outputs = json.loads(tf("output", "-json").stdout)
    return {name: item["value"] for name, item in outputs.items()}


### END SOLUTION

# %% locked=true
DEPLOYED = {"dev": deploy("dev")}
print(json.dumps(DEPLOYED, indent=1))

# %% locked=true
DEPLOYED["prod"] = deploy("prod")
print(json.dumps(DEPLOYED, indent=1))

# %% check="workspaces" points=2
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _keys = {o["Key"] for o in s3.list_objects_v2(Bucket=STATE_BUCKET).get("Contents", [])}
    for _ws in ("dev", "prod"):
        _bucket = f"{PROJECT}-{_ws}-artifacts"
        try:
            _status = s3.get_bucket_versioning(Bucket=_bucket).get("Status")
        except ClientError as exc:
            raise AssertionError(f"expected bucket {_bucket} in the {_ws} workspace, saw {exc}") from None
        assert _status == "Enabled", f"bucket {_bucket}: expected versioning Enabled, saw {_status}"
        _repo = f"{PROJECT}-{_ws}/model-api"
        try:
            ecr.describe_repositories(repositoryNames=[_repo])
        except ClientError as exc:
            raise AssertionError(f"expected ECR repository {_repo}, saw {exc}") from None
        assert f"env:/{_ws}/{STATE_KEY}" in _keys, (
            f"expected the {_ws} state at s3://{STATE_BUCKET}/env:/{_ws}/{STATE_KEY}, saw {sorted(_keys)}"
        )
    print("dev and prod applied, state in S3:", sorted(_keys))
### BEGIN HIDDEN TESTS
    _want_keep = {"dev": 5, "prod": 30}
    for _ws in ("dev", "prod"):
        _bucket, _repo = f"{PROJECT}-{_ws}-artifacts", f"{PROJECT}-{_ws}/model-api"
        _policy = json.loads(ecr.get_lifecycle_policy(repositoryName=_repo)["lifecyclePolicyText"])
        _kept = [r["selection"].get("countNumber") for r in _policy["rules"] if r["selection"]["tagStatus"] == "tagged"]
        assert _kept == [_want_keep[_ws]], f"{_ws}: expected {_want_keep[_ws]} release images kept, saw {_kept}"
        _tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=_bucket)["TagSet"]}
        assert _tags.get("environment") == _ws, f"{_bucket}: expected tag environment={_ws}, saw {_tags}"
        _pab = s3.get_public_access_block(Bucket=_bucket)["PublicAccessBlockConfiguration"]
        assert all(_pab.values()), f"{_bucket}: public access not fully blocked: {_pab}"
        _state = json.loads(s3.get_object(Bucket=STATE_BUCKET, Key=f"env:/{_ws}/{STATE_KEY}")["Body"].read())
        _addrs = {
            f"{r.get('module', '')}.{r['type']}.{r['name']}".lstrip(".") for r in _state["resources"] if r["mode"] == "managed"
        }
        assert "module.artifacts.aws_s3_bucket.this" in _addrs, f"{_ws} state lacks the bucket: {sorted(_addrs)}"
        assert "module.model_repo.aws_ecr_repository.this" in _addrs, f"{_ws} state lacks the repository"
        _got = globals().get("DEPLOYED", {}).get(_ws, {})
        assert _got.get("artifacts_bucket") == _bucket, f"DEPLOYED[{_ws!r}]: expected artifacts_bucket={_bucket}, saw {_got}"
        assert str(_got.get("model_repository_url", "")).endswith(_repo), f"DEPLOYED[{_ws!r}]: bad repository url {_got}"
    _locks = [k for k in _keys if k.endswith(".tflock")]
    assert not _locks, f"state locks left behind (an apply did not finish?): {_locks}"
### END HIDDEN TESTS

# %% [markdown]
# ## Reading the state
#
# `terraform state list` prints the addresses in the current workspace's state; `terraform state show
# ADDRESS` one object's attributes; `terraform show -json` the whole state in a documented JSON format
# (what policy tools and drift reports read). `terraform state pull` prints the raw state file, as it sits
# in S3: note the `serial` (bumped on every write) and the `lineage` (a state's identity, so a stale copy
# cannot overwrite a newer one).
#
# The state contains every attribute of every resource, secrets included (a database password, a
# generated key): encrypt the bucket, restrict who can read it, and never edit it by hand. Refactors
# use `moved {}` blocks (rename an address without destroying the object), existing resources are adopted
# with `import {}` blocks, and `terraform state rm` forgets an object without deleting it.

# %%
tf("workspace", "select", "prod", check=False)
print(tf("state", "list", check=False).stdout)
_raw = json.loads(tf("state", "pull", check=False).stdout or "{}")
print({k: _raw.get(k) for k in ("version", "terraform_version", "serial", "lineage")})
for _obj in s3.list_objects_v2(Bucket=STATE_BUCKET).get("Contents", []):
    print(f"s3://{STATE_BUCKET}/{_obj['Key']}  {_obj['Size']} bytes")

# %% [markdown]
# ## Drift
#
# **Drift** is the difference between the state/code and reality: someone "quickly" changed a setting in
# the console, a script deleted a tag. `terraform plan` refreshes every object first, so it sees drift;
# `-detailed-exitcode` turns the answer into an exit code a scheduler can act on: **0** no changes,
# **1** error, **2** changes pending. `-json` streams machine-readable events, among them
# `resource_drift` (what changed outside Terraform) and `planned_change` (what apply would do about it:
# `labkit.iac.planned_changes(stdout)` returns `{address: action}` from them).
#
# The next cell plays the colleague: it **suspends versioning** on the dev bucket with boto3, as a console
# click would.

# %% locked=true
try:
    s3.put_bucket_versioning(
        Bucket=f"{PROJECT}-dev-artifacts", VersioningConfiguration={"Status": "Suspended"}
    )
    print("versioning on the dev bucket is now:", s3.get_bucket_versioning(Bucket=f"{PROJECT}-dev-artifacts")["Status"])
except ClientError as exc:
    print("no dev bucket to drift (Exercise 2 did not create it):", exc.response["Error"]["Code"])

# %% [markdown]
# ## Exercise 3: detect drift and reconcile
#
# Write `detect_drift(workspace) -> tuple[int, list[str]]`: select the workspace, run
# `terraform plan -detailed-exitcode -json` with that workspace's var-file, and return
# `(exit_code, sorted addresses that apply would change)`. An exit code of 1 is an error: raise.
#
# The cell after yours records `DRIFT_DEV = detect_drift("dev")`, which should name the versioning
# resource, and the one after it **reconciles** dev by applying the code again (your `deploy`), so
# versioning is back on. In a team, the scheduled drift job (see the CI section) opens an issue instead
# of applying blindly, because sometimes the console change was right and the *code* must change.
#
# <details><summary>Hint 1</summary><code>tf(..., check=False)</code> returns the CompletedProcess
# whatever the exit code; look at <code>.returncode</code> and <code>.stdout</code>.</details>
# <details><summary>Hint 2</summary><code>sorted(iac.planned_changes(proc.stdout))</code> gives the
# addresses.</details>

# %% answer="drift"
### BEGIN SOLUTION
def detect_drift(workspace: str) -> tuple[int, list[str]]:
    tf("workspace", "select", workspace)
    proc = tf(
        "plan", "-input=false", "-no-color", "-detailed-exitcode", "-json", f"-var-file={workspace}.tfvars",
        check=False,
    )
    if proc.returncode not in (0, 2):
        raise RuntimeError(f"plan failed: {iac.diagnostics(proc.stdout) or proc.stderr[-2000:]}")
    return proc.returncode, sorted(iac.planned_changes(proc.stdout))
### END SOLUTION

# %% locked=true
DRIFT_DEV = detect_drift("dev")
print("dev drift:", DRIFT_DEV)

# %% locked=true
deploy("dev")  # reconcile: the code wins
print("dev versioning after apply:", s3.get_bucket_versioning(Bucket=f"{PROJECT}-dev-artifacts").get("Status"))

# %% check="drift" points=2
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _drift = globals().get("DRIFT_DEV")
    assert _drift is not None, "DRIFT_DEV is not set"
    assert tuple(_drift) == (2, ["module.artifacts.aws_s3_bucket_versioning.this"]), (
        f"expected (2, ['module.artifacts.aws_s3_bucket_versioning.this']), saw {_drift}"
    )
    _status = s3.get_bucket_versioning(Bucket=f"{PROJECT}-dev-artifacts").get("Status")
    assert _status == "Enabled", f"dev bucket versioning: expected Enabled after reconciling, saw {_status}"
    print("drift found and reconciled")
### BEGIN HIDDEN TESTS
    ecr.put_image_scanning_configuration(
        repositoryName=f"{PROJECT}-prod/model-api", imageScanningConfiguration={"scanOnPush": False}
    )
    _prod = detect_drift("prod")
    assert tuple(_prod) == (2, ["module.model_repo.aws_ecr_repository.this"]), (
        f"prod with scan-on-push switched off: expected (2, ['module.model_repo.aws_ecr_repository.this']), saw {_prod}"
    )
### END HIDDEN TESTS

# %% [markdown]
# ## Pulumi: the same bucket in Python
#
# **Pulumi** describes the same resources with a general-purpose language: the program below is Python,
# each `CustomResource` is one resource, and the Pulumi engine diffs and applies like Terraform (its
# AWS provider is in fact generated from the Terraform provider). The state lives in Pulumi Cloud or a
# self-managed backend (`pulumi login s3://bucket`); *stacks* play the role of workspaces.
#
# A real program imports `pulumi_aws` (`aws.s3.Bucket(...)`). That package is ~100 MB of generated
# code and is not installed here, so the program declares the same resources through the **type
# tokens** `pulumi_aws` itself uses (`"aws:s3/bucket:Bucket"` is exactly what `aws.s3.Bucket` registers,
# with the same camelCase property names). For unit tests that is equivalent: Pulumi's **mocks**
# (`pulumi.runtime.set_mocks`) replace the engine, every resource registration goes to your
# `Mocks.new_resource`, and no cloud, CLI or state is involved. The program runs in the `.venv-orch`
# interpreter (the Pulumi SDK's protobuf pin clashes with the course venv).

# %%
PULUMI_PROGRAM = '''"""The ML artifacts bucket, Pulumi edition."""
import pulumi

stack = pulumi.get_stack()
name = f"ml-platform-{stack}-artifacts"

bucket = pulumi.CustomResource(
    "aws:s3/bucket:Bucket", "artifacts",
    {"bucket": name, "forceDestroy": stack != "prod", "tags": {"environment": stack, "managed_by": "pulumi"}},
)
versioning = pulumi.CustomResource(
    "aws:s3/bucketVersioning:BucketVersioning", "artifacts",
    {"bucket": bucket.id, "versioningConfiguration": {"status": "Enabled"}},
)
public_access = pulumi.CustomResource(
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "artifacts",
    {
        "bucket": bucket.id,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    },
)
pulumi.export("artifacts_bucket", bucket.id)
'''
PULUMI_DIR = WORK / "pulumi"
print("Pulumi SDK interpreter:", iac.toolchain(require=("pulumi",)).pulumi_python)

# %% [markdown]
# ## Exercise 4: a Pulumi unit test that fails on a public bucket
#
# Write `PULUMI_TESTS`, the source of a test module (it runs in `.venv-orch` and imports the program as
# `infra_program`). It must:
#
# 1. define a `pulumi.runtime.Mocks` subclass whose `new_resource(args)` records `args.typ`, `args.name`
#    and `args.inputs`, and returns `[id, inputs]`; give a bucket the **id of its name** (as in AWS), so a
#    public access block's `bucket` input can be matched to its bucket;
# 2. call `pulumi.runtime.set_mocks(..., preview=False)` **before** `import infra_program`;
# 3. define `test_*` functions (decorated with `@pulumi.runtime.test`) that **fail (AssertionError) if any
#    bucket is public**: a bucket (`aws:s3/bucket:Bucket`) is public unless a public access block
#    (`aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock`) for it sets all four flags
#    (`blockPublicAcls`, `blockPublicPolicy`, `ignorePublicAcls`, `restrictPublicBuckets`) to `True`, and
#    also if any ACL resource (`aws:s3/bucketAcl:BucketAcl`) grants `public-read`, `public-read-write`
#    or `authenticated-read`.
#
# The check runs your tests against the program above (they must pass) and against programs with a
# public bucket (they must fail). `iac.run_pulumi_tests(program, tests, folder)` runs them for you.
#
# <details><summary>Hint 1</summary>Resource registration is asynchronous. Return an output that waits
# for every resource before you look at what was recorded:
# <code>pulumi.Output.all(*[r.urn for r in vars(infra_program).values() if isinstance(r, pulumi.Resource)]).apply(check)</code>.
# </details>
# <details><summary>Hint 2</summary>Index the access blocks by <code>inputs["bucket"]</code>; for each
# bucket look up <code>inputs.get("bucket", name)</code> there.</details>

# %% answer="pulumi_tests"
### BEGIN SOLUTION
PULUMI_TESTS = '''
import pulumi

RECORDED = []


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        RECORDED.append((args.typ, args.name, dict(args.inputs)))
        rid = args.inputs.get("bucket", args.name) if args.typ == "aws:s3/bucket:Bucket" else f"{args.name}-id"
        return [rid, dict(args.inputs)]

    def call(self, args):
        return {}


pulumi.runtime.set_mocks(Mocks(), project="ml-platform", stack="dev", preview=False)

import infra_program  # noqa: E402

BUCKET = "aws:s3/bucket:Bucket"
BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ACL = "aws:s3/bucketAcl:BucketAcl"
FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_ACLS = {"public-read", "public-read-write", "authenticated-read"}


def everything_registered():
    resources = [r for r in vars(infra_program).values() if isinstance(r, pulumi.Resource)]
    return pulumi.Output.all(*[r.urn for r in resources])


@pulumi.runtime.test
def test_every_bucket_blocks_public_access():
    def check(_):
        buckets = [inputs.get("bucket", name) for typ, name, inputs in RECORDED if typ == BUCKET]
        assert buckets, "the program declares no bucket"
        blocks = {inputs.get("bucket"): inputs for typ, _, inputs in RECORDED if typ == BLOCK}
        for bucket in buckets:
            block = blocks.get(bucket)
            assert block is not None, f"bucket {bucket} has no public access block"
            off = [flag for flag in FLAGS if block.get(flag) is not True]
            assert not off, f"bucket {bucket}: {off} not true"

    return everything_registered().apply(check)


@pulumi.runtime.test
def test_no_public_acl():
    def check(_):
        public = [(name, inputs.get("acl")) for typ, name, inputs in RECORDED if typ == ACL and inputs.get("acl") in PUBLIC_ACLS]
        assert not public, f"public ACLs: {public}"

    return everything_registered().apply(check)
'''
_report = iac.run_pulumi_tests(PULUMI_PROGRAM, PULUMI_TESTS, PULUMI_DIR / "good")
print(_report.results, _report.error)
### END SOLUTION

# %% check="pulumi_tests" points=2
def _pulumi_variant(program: str, label: str) -> "iac.PulumiTestReport":
    return iac.run_pulumi_tests(program, globals().get("PULUMI_TESTS", ""), PULUMI_DIR / label)


_good = _pulumi_variant(PULUMI_PROGRAM, "check-good")
assert _good.passed, f"your tests must pass on the private bucket; saw {_good.error or _good.results}\n{_good.output[-800:]}"
_public = _pulumi_variant(
    PULUMI_PROGRAM.replace('"blockPublicAcls": True', '"blockPublicAcls": False').replace(
        '"restrictPublicBuckets": True', '"restrictPublicBuckets": False'
    ),
    "check-public-flags",
)
assert not _public.passed and _public.error is None, (
    f"with blockPublicAcls=False your tests must fail (AssertionError in a test); saw {_public.error or _public.results}"
)
print("private bucket passes, public one fails:", _public.failures)
### BEGIN HIDDEN TESTS
_no_block = _pulumi_variant(
    PULUMI_PROGRAM.split("public_access = ")[0] + 'pulumi.export("artifacts_bucket", bucket.id)\n', "check-no-block"
)
assert not _no_block.passed and _no_block.error is None, (
    f"a bucket without any public access block must fail your tests; saw {_no_block.results}"
)
_second_bucket = _pulumi_variant(
    PULUMI_PROGRAM
    + 'scratch = pulumi.CustomResource("aws:s3/bucket:Bucket", "scratch", {"bucket": f"ml-platform-{stack}-scratch"})\n',
    "check-second-bucket",
)
assert not _second_bucket.passed and _second_bucket.error is None, (
    f"a second bucket without its own public access block must fail your tests; saw {_second_bucket.results}"
)
_acl = _pulumi_variant(
    PULUMI_PROGRAM
    + 'acl = pulumi.CustomResource("aws:s3/bucketAcl:BucketAcl", "artifacts", {"bucket": bucket.id, "acl": "public-read"})\n',
    "check-public-acl",
)
assert not _acl.passed and _acl.error is None, f"a public-read ACL must fail your tests; saw {_acl.results}"
### END HIDDEN TESTS

# %% [markdown]
# ## CI/CD for infrastructure
#
# Infrastructure changes go through the same pipeline as application code, with a few IaC-specific steps:
#
# | when | job | why |
# |---|---|---|
# | every push / PR | `terraform fmt -check -recursive`, `terraform validate`, `terraform test`, `checkov` (or tfsec/trivy config) | cheap, no cloud credentials; blocks style drift, broken references, insecure settings |
# | PR | `terraform plan -out=tfplan` per environment, plan posted as a PR comment | reviewers approve *the diff to real infrastructure*, not just the code |
# | merge to main | `terraform apply tfplan` (the reviewed plan file), dev first, prod behind a protected environment | what runs is what was reviewed; a plan that no longer applies cleanly fails instead of surprising |
# | nightly | `terraform plan -detailed-exitcode` per workspace; exit 2 opens an issue | drift is found in hours, not at the next change |
#
# Credentials: CI assumes an AWS role through **OIDC** (no stored keys), a read-only role for plans and a
# separate apply role limited to the protected branch. The workflow below is that pipeline for this stack;
# the lab lints it with `actionlint` where it is installed. The first job is the **gate** you build next.

# %%
IAC_WORKFLOW = """name: iac
on:
  pull_request:
    paths: ["infra/**"]
  push:
    branches: [main]
    paths: ["infra/**"]
  schedule:
    - cron: "17 3 * * *"   # nightly drift check

permissions:
  contents: read
  id-token: write          # OIDC to AWS, no stored keys
  pull-requests: write

jobs:
  gate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: hashicorp/setup-terraform@v3
        with:
          terraform_version: 1.11.4
      - run: terraform fmt -check -recursive infra
      - run: terraform -chdir=infra init -backend=false && terraform -chdir=infra validate && terraform -chdir=infra test
      - run: pipx run checkov==3.3.30 -d infra --framework terraform --check CKV_AWS_53,CKV_AWS_54,CKV_AWS_55,CKV_AWS_56,CKV_AWS_21,CKV_AWS_51,CKV_AWS_163

  plan:
    needs: gate
    if: github.event_name != 'push'
    runs-on: ubuntu-latest
    strategy:
      matrix:
        workspace: [dev, prod]
    steps:
      - uses: actions/checkout@v4
      - uses: hashicorp/setup-terraform@v3
        with:
          terraform_version: 1.11.4
      - uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: ${{ vars.TF_PLAN_ROLE_ARN }}
          aws-region: us-east-1
      - run: terraform -chdir=infra init -backend-config=backend/${{ matrix.workspace }}.s3.tfbackend
      - run: terraform -chdir=infra workspace select -or-create=true ${{ matrix.workspace }}
      - id: plan
        run: |
          set +e
          terraform -chdir=infra plan -input=false -detailed-exitcode -var-file=${{ matrix.workspace }}.tfvars -out=tfplan
          code=$?
          echo "exitcode=$code" >> "$GITHUB_OUTPUT"
          if [ "$code" -eq 1 ]; then exit 1; fi
      - if: github.event_name == 'schedule' && steps.plan.outputs.exitcode == '2'
        run: gh issue create --title "Drift in ${{ matrix.workspace }}" --body "terraform plan found changes made outside Terraform"
        env:
          GH_TOKEN: ${{ github.token }}

  apply:
    needs: gate
    if: github.event_name == 'push'
    runs-on: ubuntu-latest
    environment: production          # required reviewers before prod
    strategy:
      max-parallel: 1
      matrix:
        workspace: [dev, prod]
    steps:
      - uses: actions/checkout@v4
      - uses: hashicorp/setup-terraform@v3
        with:
          terraform_version: 1.11.4
      - uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: ${{ vars.TF_APPLY_ROLE_ARN }}
          aws-region: us-east-1
      - run: terraform -chdir=infra init -backend-config=backend/${{ matrix.workspace }}.s3.tfbackend
      - run: terraform -chdir=infra workspace select ${{ matrix.workspace }}
      - run: terraform -chdir=infra apply -input=false -auto-approve -var-file=${{ matrix.workspace }}.tfvars
"""
_wf = WORK / "iac.yml"
_wf.write_text(IAC_WORKFLOW)
_actionlint = iac.find_tool("actionlint")
if _actionlint:
    _lint = subprocess.run([_actionlint, "-no-color", str(_wf)], capture_output=True, text=True, timeout=60)
    print("actionlint:", _lint.stdout.strip() or "clean")
else:
    print("actionlint is not installed here: the workflow was not linted")

# %% [markdown]
# ## Exercise 5: the IaC gate
#
# Write `iac_gate(root: Path) -> tuple[int, dict[str, list[str]]]` that runs **all three** stages on the
# Terraform tree at `root` (do not stop at the first failure: a developer wants every problem at once)
# and returns `(exit_code, failures)`, where `failures` has the keys `"fmt"`, `"validate"`, `"checkov"`,
# each a list of problems (empty when the stage passed), and `exit_code` is 0 only if all lists are empty:
#
# - **fmt**: `terraform fmt -check -recursive -list=true`; the problems are the files it lists;
# - **validate**: `terraform init -backend=false` then `terraform validate -json`; the problems are its error
#   diagnostics (`iac.diagnostics(stdout)`); use a separate data dir per tree
#   (`iac.Terraform(TOOLS.terraform, root, data_dir=..., cli_config=CLI_CONFIG)`), outside the tree;
# - **checkov**: `CHECKOV -d root --framework terraform --check <GATE_CHECKS joined by commas>
#   -o json --compact --quiet --skip-download`; the problems are `str(f)` of each `iac.parse_checkov(stdout)`
#   failure (`"CKV_AWS_53 /main.tf:..."`). Only the chosen checks run: a gate that fails on every
#   best-practice check nobody agreed to gets switched off within a week.
#
# `GATE_TREES["bad"]` has problems for every stage; `GATE_TREES["fixed"]` has none. Try your gate on both
# (`iac_gate(GATE_TREES["bad"])`); the check runs it on both again.
#
# <details><summary>Hint 1</summary><code>fmt -check</code> exits 3 when files need formatting and prints
# their names with <code>-list=true</code>; <code>checkov</code> exits 1 when a check fails, other non-zero
# codes are errors of checkov itself.</details>
# <details><summary>Hint 2</summary><code>subprocess.run([...], capture_output=True, text=True, timeout=300)</code>
# for checkov; <code>tf(..., check=False)</code> for terraform.</details>

# %%
CHECKOV = iac.toolchain(require=("checkov",)).checkov
print("checkov:", CHECKOV)
GATE_CHECKS = [
    "CKV_AWS_53",  # S3 public access block: block public ACLs
    "CKV_AWS_54",  # ... block public policy
    "CKV_AWS_55",  # ... ignore public ACLs
    "CKV_AWS_56",  # ... restrict public buckets
    "CKV_AWS_21",  # S3 versioning
    "CKV_AWS_51",  # ECR immutable tags
    "CKV_AWS_163",  # ECR scan on push
]
_GATE_ROOT = """terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.90"
    }
  }
}

provider "aws" {
  region = "us-east-1"
}

variable "name" {
  description = "Name prefix."
  type        = string
  default     = "gate-demo"
}

module "artifacts" {
  source      = "./modules/artifact-bucket"
  bucket_name = "${var.name}-artifacts"
}

resource "aws_ecr_repository" "model_api" {
  name                 = "${var.name}/model-api"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }
}
"""
GATE_TREES = {"fixed": WORK / "gate" / "fixed", "bad": WORK / "gate" / "bad"}
write_module(GATE_TREES["fixed"], {"main.tf": _GATE_ROOT})
write_module(GATE_TREES["fixed"] / "modules" / "artifact-bucket", BUCKET_MODULE)
write_module(
    GATE_TREES["bad"],
    {
        "main.tf": _GATE_ROOT.replace('region = "us-east-1"', "region = var.region").replace(
            "scan_on_push = true", "scan_on_push = false"
        )
    },
)
write_module(
    GATE_TREES["bad"] / "modules" / "artifact-bucket",
    {
        **BUCKET_MODULE,
        "main.tf": BUCKET_MODULE["main.tf"]
        .replace("block_public_acls       = true", "block_public_acls       = false")
        .replace("  force_destroy = var.force_destroy", "  force_destroy=var.force_destroy"),
    },
)
print("gate trees:", {k: str(v) for k, v in GATE_TREES.items()})

# %% answer="gate"
### BEGIN SOLUTION
def iac_gate(root: Path) -> tuple[int, dict[str, list[str]]]:
    root = Path(root)
    failures: dict[str, list[str]] = {"fmt": [], "validate": [], "checkov": []}
    gate_tf = iac.Terraform(
        TOOLS.terraform, root, data_dir=WORK / "tfdata-gate" / root.name, cli_config=CLI_CONFIG
    )

    fmt = gate_tf("fmt", "-check", "-recursive", "-list=true", "-no-color", check=False)
    if fmt.returncode != 0:
        failures["fmt"] = fmt.stdout.split() or [fmt.stderr.strip()]

    init = gate_tf("init", "-backend=false", "-input=false", "-no-color", check=False)
    if init.returncode != 0:
        failures["validate"] = [init.stderr.strip()[-500:]]
    else:
        val = gate_tf("validate", "-json", "-no-color", check=False)
        if val.returncode != 0:
            failures["validate"] = iac.diagnostics(val.stdout) or [val.stderr.strip()[-500:]]

    ck = subprocess.run(
        [
            CHECKOV, "-d", str(root), "--framework", "terraform", "--check", ",".join(GATE_CHECKS),
            "-o", "json", "--compact", "--quiet", "--skip-download",
        ],
        capture_output=True, text=True, timeout=300,
    )
    if ck.returncode not in (0, 1):
        failures["checkov"] = [f"checkov exited {ck.returncode}: {ck.stderr.strip()[-500:]}"]
    else:
        failures["checkov"] = [str(f) for f in iac.parse_checkov(ck.stdout)]

    return (1 if any(failures.values()) else 0), failures
### END SOLUTION

# %% check="gate" points=1
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _GATE_BAD = iac_gate(GATE_TREES["bad"])
    _rc, _fail = _GATE_BAD
    assert _rc != 0, f"the bad tree must fail the gate; saw exit {_rc}, {_fail}"
    assert set(_fail) >= {"fmt", "validate", "checkov"}, f"expected keys fmt, validate, checkov; saw {sorted(_fail)}"
    for _stage in ("fmt", "validate", "checkov"):
        assert _fail[_stage], f"the bad tree has a {_stage} problem, your gate reported none: {_fail}"
    print("bad tree blocked:", json.dumps(_fail, indent=1))
### BEGIN HIDDEN TESTS
    assert any("modules/artifact-bucket/main.tf" in f for f in _fail["fmt"]), f"fmt should name the module file: {_fail['fmt']}"
    assert any("region" in f for f in _fail["validate"]), f"validate should report the undeclared var.region: {_fail['validate']}"
    _ids = sorted(f.split()[0] for f in _fail["checkov"])
    assert _ids == ["CKV_AWS_163", "CKV_AWS_53"], (
        f"checkov (with GATE_CHECKS) should report CKV_AWS_163 (scan on push) and CKV_AWS_53 (public ACLs): {_fail['checkov']}"
    )
### END HIDDEN TESTS

# %% check="gate" points=1
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _rc_fixed, _fail_fixed = iac_gate(GATE_TREES["fixed"])
    assert _rc_fixed == 0 and not any(_fail_fixed.values()), f"the fixed tree must pass; saw exit {_rc_fixed}, {_fail_fixed}"
    print("fixed tree passes")
### BEGIN HIDDEN TESTS
    _bad = globals().get("_GATE_BAD") or iac_gate(GATE_TREES["bad"])
    assert _bad[0] != 0 and all(_bad[1].get(k) for k in ("fmt", "validate", "checkov")), (
        f"a gate that passes the fixed tree must still block the bad one; saw {_bad}"
    )
### END HIDDEN TESTS

# %% [markdown]
# ## Wrap-up and cleanup
#
# **What ran here:** the real Terraform CLI and AWS provider planning, applying and destroying real API
# calls, with remote state, S3 locking and workspaces, against moto; real `terraform test` runs with a
# mocked provider; Pulumi's Python SDK in its unit-test mode; real `checkov` and `actionlint`.
#
# **What the live cloud tier adds:** credentials (SSO locally, an OIDC-assumed role in CI) instead of
# dummy keys; a state bucket in a separate, locked-down account with KMS encryption and access logs;
# IAM permission errors and service quotas that no emulator reproduces; eventual consistency (the
# provider's waits that return instantly here); real cost (Infracost on the plan in the PR); `pulumi up`
# against a Pulumi backend with the `pulumi_aws` provider; plans posted on pull requests and applies
# behind a protected environment, as in the workflow above.
#
# Cleanup: `terraform destroy` in both workspaces, delete the workspaces and the state bucket, remove
# the working folder.

# %%
def destroy(workspace: str) -> None:
    """terraform destroy in one workspace, if the lab got as far as creating it."""
    if not (STACK / f"{workspace}.tfvars").exists() or tf("workspace", "select", workspace, check=False).returncode:
        print(f"{workspace}: nothing to destroy")
        return
    proc = tf("destroy", "-input=false", "-auto-approve", "-no-color", f"-var-file={workspace}.tfvars", check=False)
    print(f"destroy {workspace}:", (proc.stdout.strip().splitlines() or [proc.stderr.strip()[-300:]])[-1])


destroy("prod")

# %%
destroy("dev")
tf("workspace", "select", "default", check=False)
for _ws in ("prod", "dev"):
    tf("workspace", "delete", "-force", _ws, check=False)
_s3r = boto3.resource("s3", endpoint_url=AWS_ENDPOINT_URL, region_name="us-east-1", config=_cfg)
for _ws in ("dev", "prod"):  # whatever a half-finished apply left behind
    try:
        _s3r.Bucket(f"{PROJECT}-{_ws}-artifacts").object_versions.delete()
        s3.delete_bucket(Bucket=f"{PROJECT}-{_ws}-artifacts")
        print("deleted left-over bucket", f"{PROJECT}-{_ws}-artifacts")
    except ClientError:
        pass
    try:
        ecr.delete_repository(repositoryName=f"{PROJECT}-{_ws}/model-api", force=True)
        print("deleted left-over repository", f"{PROJECT}-{_ws}/model-api")
    except ClientError:
        pass
_s3r.Bucket(STATE_BUCKET).object_versions.delete()
s3.delete_bucket(Bucket=STATE_BUCKET)
shutil.rmtree(WORK, ignore_errors=True)
print("destroyed both workspaces, deleted", STATE_BUCKET, "and", WORK)
