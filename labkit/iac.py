"""Infrastructure-as-code tooling for the labs: find the tools, run Terraform against the AWS emulator,
read the machine-readable output of `terraform plan -json` and checkov, run Pulumi unit tests.

Where the tools live (the same places `scripts/install-infra-tools.sh` installs to, and where
`tests/infra` looks):

- `terraform` on PATH (the machine image ships 1.11.4 in /usr/local/bin) or in the tools dir;
- the hashicorp/aws provider as a filesystem mirror: `$TF_PROVIDER_MIRROR`, `<tools dir>/tf-plugins`
  or `/opt/tf-plugins` (nothing is downloaded: the CLI config written here forbids registry access);
- checkov in its own venv, `<tools dir>/venv-checkov` (its exact boto3 pin clashes with the course venv);
- the Pulumi SDK in the orchestration venv `.venv-orch` (its protobuf pin clashes with the course venv).

The tools dir is `$INFRA_TOOLS_DIR`, else `~/.cache/mlops-course-labs/infra-tools`; a graded kernel has a
throw-away HOME, so the same folder under the home of the repository's owner is tried too.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SNIPPETS = REPO / "infra-snippets"
TF_MODULES = SNIPPETS / "terraform" / "modules"
INSTALL_HINT = "run scripts/install-infra-tools.sh"
_TOOLS_SUBDIR = Path(".cache") / "mlops-course-labs" / "infra-tools"


class ToolMissing(RuntimeError):
    """A tool the lab needs is not installed (or not readable from this kernel)."""


class TerraformError(RuntimeError):
    """terraform exited non-zero; the message carries the command and the tail of its output."""

    def __init__(self, args: Sequence[str], proc: subprocess.CompletedProcess[str]) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        tail = (proc.stderr.strip() or proc.stdout.strip())[-3000:]
        super().__init__(f"terraform {' '.join(args)} exited {proc.returncode}:\n{tail}")


# ---------------------------------------------------------------------------------------- discovery


def tools_dir() -> Path:
    """The tools dir the installer writes to: $INFRA_TOOLS_DIR, else $XDG_CACHE_HOME or ~/.cache."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlops-course-labs" / "infra-tools"
    return Path(os.environ.get("INFRA_TOOLS_DIR", default))


def tools_dirs() -> list[Path]:
    """Where to look, in order: `tools_dir()`, then the same folder in the repository owner's home."""
    dirs = [tools_dir()]
    try:
        owner_home = Path(pwd.getpwuid(REPO.stat().st_uid).pw_dir)
    except (KeyError, OSError):
        owner_home = None
    if owner_home is not None and owner_home / _TOOLS_SUBDIR not in dirs:
        dirs.append(owner_home / _TOOLS_SUBDIR)
    return dirs


def orch_python() -> Path:
    """The interpreter of the orchestration venv (Airflow, KFP, Pulumi): $ORCH_VENV or <repo>/.venv-orch."""
    return Path(os.environ.get("ORCH_VENV", REPO / ".venv-orch")) / "bin" / "python"


def find_tool(name: str) -> str | None:
    """Tools dirs first (pinned builds), then the venv next to this interpreter, then PATH."""
    candidates = [d / sub / name for d in tools_dirs() for sub in ("bin", "venv-checkov/bin")]
    candidates.append(Path(sys.executable).parent / name)
    for cand in candidates:
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which(name)


def provider_mirror() -> Path | None:
    """A filesystem mirror that holds registry.terraform.io/hashicorp/aws, or None."""
    cands = [os.environ.get("TF_PROVIDER_MIRROR"), *(d / "tf-plugins" for d in tools_dirs()), "/opt/tf-plugins"]
    for cand in cands:
        if cand and (Path(cand) / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return Path(cand)
    return None


def pulumi_python() -> Path | None:
    """The orchestration venv's interpreter if it has the Pulumi SDK installed, else None."""
    python = orch_python()
    if not python.exists():
        return None
    site = python.parent.parent / "lib"
    return python if any(site.glob("python3*/site-packages/pulumi/__init__.py")) else None


@dataclass(frozen=True)
class Toolchain:
    """Paths of the IaC tools a lab uses; None where not required and not found."""

    terraform: str | None
    mirror: Path | None
    checkov: str | None
    pulumi_python: Path | None
    modules: Path | None = None

    def summary(self) -> dict[str, str]:
        return {k: str(v) if v else "not found" for k, v in self.__dict__.items()}


_WHY = {
    "terraform": "terraform CLI (the machine image ships it in /usr/local/bin; no registry here serves it)",
    "mirror": "hashicorp/aws provider mirror (/opt/tf-plugins or $TF_PROVIDER_MIRROR)",
    "checkov": "checkov (its venv: <tools dir>/venv-checkov/bin/checkov; tools dirs tried: {dirs})",
    "pulumi": "Pulumi SDK in the orchestration venv ({orch})",
    "modules": "the course's Terraform modules ({modules})",
}


def toolchain(require: Iterable[str] = ("terraform", "mirror", "checkov", "pulumi", "modules")) -> Toolchain:
    """Find every tool; raise ToolMissing naming each required one that is missing and how to get it."""
    found = Toolchain(
        terraform=find_tool("terraform"),
        mirror=provider_mirror(),
        checkov=find_tool("checkov"),
        pulumi_python=pulumi_python(),
        modules=TF_MODULES if (TF_MODULES / "ecr" / "main.tf").is_file() else None,
    )
    have = {
        "terraform": found.terraform,
        "mirror": found.mirror,
        "checkov": found.checkov,
        "pulumi": found.pulumi_python,
        "modules": found.modules,
    }
    missing = [name for name in require if not have[name]]
    if missing:
        dirs = ", ".join(str(d) for d in tools_dirs())
        where = {"dirs": dirs, "orch": orch_python().parent.parent, "modules": TF_MODULES}
        lines = [f"- {_WHY[name].format(**where)}" for name in missing]
        raise ToolMissing(
            "missing IaC tools:\n"
            + "\n".join(lines)
            + f"\nInstall them ({INSTALL_HINT}); in a graded sandbox these paths must be readable by the kernel."
        )
    return found


# ---------------------------------------------------------------------------------------- configuration


def write_cli_config(path: Path, mirror: Path) -> Path:
    """A terraform CLI config that installs hashicorp/* providers from the mirror only (never the network)."""
    path.write_text(
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/hashicorp/*"]\n'
        "  }\n"
        "  direct {\n"
        '    exclude = ["registry.terraform.io/hashicorp/*"]\n'
        "  }\n"
        "}\n"
    )
    return path


def moto_endpoints_hcl(endpoint: str, services: Iterable[str], indent: int = 2) -> str:
    """The provider's `endpoints { ... }` block sending every listed service to one emulator URL."""
    pad = " " * indent
    rows = "\n".join(f'{pad}  {svc} = "{endpoint}"' for svc in sorted(services))
    return f"{pad}endpoints {{\n{rows}\n{pad}}}"


def s3_backend_config(endpoint: str, bucket: str, key: str, region: str = "us-east-1") -> str:
    """A partial backend config (`-backend-config=FILE`) for S3 remote state on the emulator, with S3 locking."""
    return (
        f'bucket         = "{bucket}"\n'
        f'key            = "{key}"\n'
        f'region         = "{region}"\n'
        "use_lockfile   = true\n"
        f'endpoints      = {{ s3 = "{endpoint}", sts = "{endpoint}" }}\n'
        "use_path_style = true\n"
        "skip_credentials_validation = true\n"
        "skip_requesting_account_id  = true\n"
        "skip_metadata_api_check     = true\n"
    )


# ---------------------------------------------------------------------------------------- running terraform


@dataclass
class Terraform:
    """`terraform -chdir=<workdir> ...` with a private data dir, a mirror-only CLI config and no prompts.

    `tf("plan", "-out=tfplan")` returns the CompletedProcess; a non-zero exit raises TerraformError unless
    `check=False` (for `plan -detailed-exitcode`, exit 2 means "changes", not failure).
    """

    binary: str
    workdir: Path
    data_dir: Path
    cli_config: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    timeout: float = 240.0

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "TF_CLI_CONFIG_FILE": str(self.cli_config),
                "TF_DATA_DIR": str(self.data_dir),
                "TF_IN_AUTOMATION": "1",
                "TF_INPUT": "0",
                "CHECKPOINT_DISABLE": "1",
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
        env.setdefault("AWS_ACCESS_KEY_ID", "testing")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        env.setdefault("AWS_REGION", "us-east-1")
        # The AWS provider builds its whole schema (1,500+ resource types) on every start; fewer garbage
        # collections cut that CPU time by about a third for ~130 MB more memory.
        env.setdefault("GOGC", "400")
        env.pop("AWS_PROFILE", None)
        env.update(self.extra_env)
        return env

    def __call__(
        self, *args: str, check: bool = True, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [self.binary, f"-chdir={self.workdir}", *args]
        try:
            proc = subprocess.run(
                cmd, env=self.env(), capture_output=True, text=True, timeout=timeout or self.timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise TerraformError(
                args, subprocess.CompletedProcess(cmd, 124, str(exc.stdout or ""), f"timed out after {exc.timeout} s")
            ) from exc
        if check and proc.returncode != 0:
            raise TerraformError(args, proc)
        return proc


# ---------------------------------------------------------------------------------------- machine-readable output


def json_lines(stdout: str) -> list[dict[str, Any]]:
    """The messages of a `-json` terraform command (one JSON object per line; other lines ignored)."""
    messages = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                messages.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return messages


def planned_changes(stdout: str) -> dict[str, str]:
    """address -> action ("create", "update", "delete", "replace", ...) from `terraform plan -json` output."""
    changes: dict[str, str] = {}
    for msg in json_lines(stdout):
        if msg.get("type") == "planned_change":
            change = msg.get("change", {})
            address = change.get("resource", {}).get("addr")
            if address and change.get("action") not in (None, "noop"):
                changes[address] = change["action"]
    return changes


def drifted_resources(stdout: str) -> dict[str, str]:
    """address -> action for objects `terraform plan -json` found changed outside Terraform (resource_drift)."""
    drift: dict[str, str] = {}
    for msg in json_lines(stdout):
        if msg.get("type") == "resource_drift":
            change = msg.get("change", {})
            address = change.get("resource", {}).get("addr")
            if address:
                drift[address] = change.get("action", "update")
    return drift


def diagnostics(stdout: str, severity: str = "error") -> list[str]:
    """Summaries (+ detail) of the diagnostics in `-json` output (`validate -json` or streamed plan/apply)."""
    try:
        whole = json.loads(stdout)
    except json.JSONDecodeError:
        whole = None
    messages = [whole] if isinstance(whole, dict) else json_lines(stdout)
    out: list[str] = []
    for msg in messages:
        diags = msg.get("diagnostics") or ([msg["diagnostic"]] if "diagnostic" in msg else [])
        for diag in diags:
            if diag.get("severity") == severity:
                out.append(f"{diag.get('summary', '')}: {diag.get('detail', '')}".strip(": "))
    return out


@dataclass(frozen=True)
class CheckovFailure:
    check_id: str
    file_path: str
    resource: str

    def __str__(self) -> str:
        return f"{self.check_id} {self.file_path}:{self.resource}"


def parse_checkov(stdout: str) -> list[CheckovFailure]:
    """Failed checks from `checkov -o json` (one report or a list of reports, one per framework)."""
    reports: Any = json.loads(stdout) if stdout.strip() else []
    if isinstance(reports, dict):
        reports = [reports]
    return [
        CheckovFailure(check["check_id"], check["file_path"], check["resource"])
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]


# ---------------------------------------------------------------------------------------- Pulumi unit tests

_PULUMI_RUNNER = '''\
"""Import a test module (which sets Pulumi mocks and imports the program), run its test_* functions."""
import importlib.util
import json
import sys
import traceback
from pathlib import Path

test_file, report_file = Path(sys.argv[1]), Path(sys.argv[2])
sys.path.insert(0, str(test_file.parent))
report = {"results": {}, "error": None}
try:
    spec = importlib.util.spec_from_file_location(test_file.stem, test_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
except BaseException as exc:  # the program itself failed (a raise at import time counts as a failure)
    report["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip() or type(exc).__name__
else:
    for name in sorted(n for n in vars(module) if n.startswith("test_") and callable(getattr(module, n))):
        try:
            getattr(module, name)()
            report["results"][name] = "passed"
        except AssertionError as exc:
            report["results"][name] = f"failed: {exc}"
        except BaseException as exc:
            report["results"][name] = f"error: {type(exc).__name__}: {exc}"
report_file.write_text(json.dumps(report))
'''


@dataclass(frozen=True)
class PulumiTestReport:
    """Outcome of one run of a Pulumi test module: per-test results, or an import-time error."""

    results: dict[str, str]
    error: str | None
    output: str = ""

    @property
    def passed(self) -> bool:
        """True when the module imported, had at least one test, and every test passed."""
        return self.error is None and bool(self.results) and all(r == "passed" for r in self.results.values())

    @property
    def failures(self) -> dict[str, str]:
        return {name: r for name, r in self.results.items() if r != "passed"}


def run_pulumi_tests(
    program_source: str,
    tests_source: str,
    workdir: Path,
    *,
    python: Path | None = None,
    program_module: str = "infra_program",
    timeout: float = 60.0,
) -> PulumiTestReport:
    """Write the program and its tests into `workdir`, run the tests with the Pulumi venv's interpreter.

    The tests import the program as `program_module`; each call is a fresh process, so Pulumi's global
    mock state never leaks between runs.
    """
    python = python or pulumi_python()
    if python is None:
        raise ToolMissing(f"the Pulumi SDK is not installed in {orch_python().parent.parent} ({INSTALL_HINT})")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{program_module}.py").write_text(program_source)
    test_file = workdir / f"test_{program_module}.py"
    test_file.write_text(tests_source)
    runner = workdir / "_run_pulumi_tests.py"
    runner.write_text(_PULUMI_RUNNER)
    report_file = workdir / "report.json"
    report_file.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "PYTHONPATH"))}
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    try:
        proc = subprocess.run(
            [str(python), str(runner), str(test_file), str(report_file)],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return PulumiTestReport({}, f"the tests did not finish within {timeout:.0f} s")
    output = (proc.stdout + proc.stderr)[-4000:]
    if not report_file.exists():
        return PulumiTestReport({}, f"the test process exited {proc.returncode} without a report", output)
    data = json.loads(report_file.read_text())
    return PulumiTestReport(data["results"], data["error"], output)
