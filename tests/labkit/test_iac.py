"""labkit.iac: tool discovery, config writers, `plan -json`/checkov parsing, Terraform runner, Pulumi test runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit import iac

PLAN_JSON = "\n".join(
    json.dumps(m)
    for m in [
        {"@level": "info", "type": "version", "terraform": "1.11.4"},
        {
            "type": "resource_drift",
            "change": {"resource": {"addr": "module.a.aws_s3_bucket_versioning.this"}, "action": "update"},
        },
        {
            "type": "planned_change",
            "change": {"resource": {"addr": "module.a.aws_s3_bucket_versioning.this"}, "action": "update"},
        },
        {"type": "planned_change", "change": {"resource": {"addr": "aws_ecr_repository.r"}, "action": "noop"}},
        {"type": "planned_change", "change": {"resource": {"addr": "aws_s3_bucket.new"}, "action": "create"}},
        {
            "type": "diagnostic",
            "diagnostic": {"severity": "error", "summary": "Bad thing", "detail": "because"},
        },
        {"type": "change_summary", "changes": {"add": 1, "change": 1}},
    ]
)


def test_planned_changes_skip_noop_and_other_messages() -> None:
    assert iac.planned_changes(PLAN_JSON + "\nnot json\n{broken") == {
        "module.a.aws_s3_bucket_versioning.this": "update",
        "aws_s3_bucket.new": "create",
    }
    assert iac.planned_changes("") == {}


def test_drift_and_diagnostics() -> None:
    assert iac.drifted_resources(PLAN_JSON) == {"module.a.aws_s3_bucket_versioning.this": "update"}
    assert iac.diagnostics(PLAN_JSON) == ["Bad thing: because"]
    validate = json.dumps(
        {
            "valid": False,
            "diagnostics": [
                {"severity": "warning", "summary": "w", "detail": ""},
                {"severity": "error", "summary": "Reference to undeclared input variable", "detail": "var.region"},
            ],
        },
        indent=2,
    )
    # `validate -json` is one pretty-printed object, not JSON lines
    assert iac.diagnostics(validate) == ["Reference to undeclared input variable: var.region"]
    assert iac.diagnostics(validate, severity="warning") == ["w"]


def test_parse_checkov_single_and_list_reports() -> None:
    failed = {"check_id": "CKV_AWS_53", "file_path": "/m/main.tf", "resource": "aws_s3_bucket_public_access_block.x"}
    single = json.dumps({"check_type": "terraform", "results": {"failed_checks": [failed]}})
    assert [str(f) for f in iac.parse_checkov(single)] == ["CKV_AWS_53 /m/main.tf:aws_s3_bucket_public_access_block.x"]
    assert iac.parse_checkov(json.dumps([{"results": {"failed_checks": []}}, json.loads(single)]))[0].check_id == (
        "CKV_AWS_53"
    )
    assert iac.parse_checkov("") == []


def test_config_writers(tmp_path: Path) -> None:
    cfg = iac.write_cli_config(tmp_path / "rc", tmp_path / "mirror").read_text()
    assert f'path    = "{tmp_path / "mirror"}"' in cfg and "direct {" in cfg and "exclude" in cfg
    block = iac.moto_endpoints_hcl("http://127.0.0.1:5000", ["sts", "s3"])
    assert block.splitlines() == [
        "  endpoints {",
        '    s3 = "http://127.0.0.1:5000"',
        '    sts = "http://127.0.0.1:5000"',
        "  }",
    ]
    backend = iac.s3_backend_config("http://e", "state-b", "k/terraform.tfstate")
    assert 'bucket         = "state-b"' in backend and "use_lockfile   = true" in backend


def test_find_tool_and_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFRA_TOOLS_DIR", str(tmp_path))
    assert iac.tools_dir() == tmp_path and iac.tools_dirs()[0] == tmp_path
    assert iac.find_tool("definitely-not-an-infra-tool") is None
    tool = tmp_path / "venv-checkov" / "bin" / "checkov-fake"
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\n")
    assert iac.find_tool("checkov-fake") is None  # not executable
    tool.chmod(0o755)
    assert iac.find_tool("checkov-fake") == str(tool)
    monkeypatch.setenv("TF_PROVIDER_MIRROR", str(tmp_path / "mirror"))
    (tmp_path / "mirror" / "registry.terraform.io" / "hashicorp" / "aws").mkdir(parents=True)
    assert iac.provider_mirror() == tmp_path / "mirror"


def test_toolchain_names_what_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(iac, "find_tool", lambda name: None)
    monkeypatch.setattr(iac, "provider_mirror", lambda: None)
    monkeypatch.setenv("ORCH_VENV", str(tmp_path / "no-venv"))
    monkeypatch.setattr(iac, "TF_MODULES", tmp_path / "no-modules")
    with pytest.raises(iac.ToolMissing) as err:
        iac.toolchain()
    message = str(err.value)
    for needle in (
        "terraform CLI",
        "provider mirror",
        "checkov",
        "Pulumi SDK",
        str(tmp_path / "no-venv"),
        "no-modules",
    ):
        assert needle in message
    found = iac.toolchain(require=())
    assert found.terraform is None and found.modules is None
    with pytest.raises(iac.ToolMissing, match="checkov") as only:
        iac.toolchain(require=("checkov",))
    assert "terraform CLI" not in str(only.value)


def test_terraform_runner_raises_with_output(tmp_path: Path) -> None:
    fake = tmp_path / "terraform"
    fake.write_text('#!/bin/sh\necho "args: $*"\necho "$TF_DATA_DIR" >&2\n[ "$2" = ok ] && exit 0\nexit 3\n')
    fake.chmod(0o755)
    tf = iac.Terraform(str(fake), tmp_path, data_dir=tmp_path / "data", cli_config=tmp_path / "rc")
    assert tf("ok").stdout.strip() == f"args: -chdir={tmp_path} ok"
    assert tf("bad", check=False).returncode == 3
    with pytest.raises(iac.TerraformError) as err:
        tf("bad")
    assert err.value.returncode == 3 and str(tmp_path / "data") in str(err.value)


PROGRAM = """import pulumi
bucket = pulumi.CustomResource("aws:s3/bucket:Bucket", "b", {"bucket": "x", "acl": ACL})
"""
TESTS = """import pulumi
SEEN = []
class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        SEEN.append(dict(args.inputs))
        return [args.name + "-id", dict(args.inputs)]
    def call(self, args):
        return {}
pulumi.runtime.set_mocks(Mocks(), preview=False)
import infra_program

@pulumi.runtime.test
def test_private():
    def check(_):
        assert SEEN and SEEN[0]["acl"] == "private", f"acl is {SEEN[0]['acl']}"
    return infra_program.bucket.urn.apply(check)
"""


def test_run_pulumi_tests(tmp_path: Path) -> None:
    if iac.pulumi_python() is None:
        pytest.skip(f"the Pulumi SDK is not installed in {iac.orch_python()} ({iac.INSTALL_HINT})")
    good = iac.run_pulumi_tests(PROGRAM.replace("ACL", '"private"'), TESTS, tmp_path / "good")
    assert good.passed, good
    bad = iac.run_pulumi_tests(PROGRAM.replace("ACL", '"public-read"'), TESTS, tmp_path / "bad")
    assert not bad.passed and bad.error is None
    assert bad.failures["test_private"].startswith("failed: acl is public-read")
    broken = iac.run_pulumi_tests("raise RuntimeError('boom')", TESTS, tmp_path / "broken")
    assert not broken.passed and "boom" in (broken.error or "")


def test_run_pulumi_tests_without_sdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_VENV", str(tmp_path / "no-venv"))
    with pytest.raises(iac.ToolMissing):
        iac.run_pulumi_tests("", "", tmp_path)
