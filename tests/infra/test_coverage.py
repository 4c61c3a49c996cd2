"""Every file under infra-snippets/ is exercised by at least one real check.

CHECKS maps a glob (relative to infra-snippets/) to the tests that exercise matching files.
A new snippet without an entry fails here; so does an entry that matches nothing or names a
test that does not exist.
"""

from __future__ import annotations

import ast
import fnmatch
import subprocess
from pathlib import Path

from tests.infra.tools import REPO, SNIPPETS

HERE = Path(__file__).parent

CHECKS: dict[str, list[str]] = {
    "README.md": ["test_coverage.py::test_readme_reports_every_area"],
    "requirements-orchestration.txt": ["test_orchestration.py::test_orchestration_pins_are_exact_and_installed"],
    # terraform: fmt, hcl2 rules, checkov, init/validate/plan/apply against moto + boto3
    "terraform/**/*.tf": [
        "test_terraform.py::test_terraform_fmt",
        "test_terraform.py::test_hcl2_structure",
        "test_terraform.py::test_checkov_terraform",
        "test_terraform.py::test_apply_ecr_iam_rds_alb_asg",
    ],
    "terraform/modules/model-api-asg/user-data.sh.tftpl": ["test_terraform.py::test_apply_ecr_iam_rds_alb_asg"],
    "terraform/stacks/ml-platform/backend/*.s3.tfbackend": ["test_terraform.py::test_apply_remote_state_in_workspace"],
    "terraform/stacks/ml-platform/*.tfvars": ["test_terraform.py::test_apply_vpc"],
    # kubernetes / helm
    "k8s/base/*.yaml": ["test_k8s_helm.py::test_kustomize_build_valid", "test_k8s_helm.py::test_checkov_kubernetes"],
    "k8s/overlays/**/*.yaml": ["test_k8s_helm.py::test_prod_overlay_patches_apply"],
    "k8s/*/*.yaml": ["test_k8s_helm.py::test_plain_manifest_valid", "test_k8s_helm.py::test_checkov_kubernetes"],
    "k8s/.checkov.yaml": ["test_k8s_helm.py::test_checkov_kubernetes"],
    "helm/model-server/**": [
        "test_k8s_helm.py::test_helm_lint_and_template_valid",
        "test_k8s_helm.py::test_checkov_kubernetes",
    ],
    # CI workflows and their scripts
    "github-actions/workflows/*.yml": [
        "test_ci_docker.py::test_actionlint",
        "test_ci_docker.py::test_run_steps_reference_existing_files",
    ],
    "github-actions/scripts/check_metrics_gate.py": ["test_ci_docker.py::test_metrics_gate"],
    "github-actions/scripts/export_model_metrics.py": [
        "test_ci_docker.py::test_export_model_metrics_against_local_mlflow"
    ],
    "github-actions/scripts/watch_canary.py": ["test_observability.py::test_watch_canary_against_live_prometheus"],
    # docker
    "docker/Dockerfile*": [
        "test_ci_docker.py::test_hadolint",
        "test_ci_docker.py::test_checkov_dockerfiles",
        "test_ci_docker.py::test_dockerfiles_multistage_nonroot",
    ],
    "docker/.dockerignore": ["test_ci_docker.py::test_dockerignore_keeps_secrets_and_bulk_out"],
    "docker/requirements*.txt": ["test_ci_docker.py::test_requirements_pinned"],
    "docker/app/__init__.py": ["test_ci_docker.py::test_model_server_app_serves"],
    "docker/app/main.py": ["test_ci_docker.py::test_model_server_app_serves"],
    "docker/app/train.py": ["test_ci_docker.py::test_training_entrypoint"],
    # observability
    "prometheus/prometheus.yml": ["test_observability.py::test_promtool_check_config_and_rules"],
    "prometheus/rules/*.yml": [
        "test_observability.py::test_promtool_check_config_and_rules",
        "test_observability.py::test_promtool_unit_tests",
        "test_observability.py::test_dashboard_query_returns_data",
    ],
    "prometheus/tests/*.yml": ["test_observability.py::test_promtool_unit_tests"],
    "prometheus/example_exporter.py": ["test_observability.py::test_dashboard_query_returns_data"],
    "alertmanager/alertmanager.yml": ["test_observability.py::test_amtool_check_config_and_routes"],
    "grafana/generate_dashboards.py": ["test_observability.py::test_dashboards_are_generated_from_code"],
    "grafana/dashboards/*.json": [
        "test_observability.py::test_dashboards_are_generated_from_code",
        "test_observability.py::test_dashboard_query_returns_data",
    ],
    # orchestration
    "airflow/dags/*.py": ["test_orchestration.py::test_airflow_dags_import_and_run"],
    "kubeflow/pipelines/*.py": ["test_orchestration.py::test_kfp_pipeline_compiles_and_runs_locally"],
}


def snippet_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files, as CI's clone would have them."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "infra-snippets"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    files = [line.removeprefix("infra-snippets/") for line in out.splitlines()]
    return sorted(f for f in files if (SNIPPETS / f).is_file())


def _matches(path: str, pattern: str) -> bool:
    # fnmatch's "*" already crosses "/", so "a/**/*.tf" also has to match "a/x.tf".
    return fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern.replace("**/", ""))


def uncovered(files: list[str]) -> list[str]:
    return [f for f in files if not any(_matches(f, pattern) for pattern in CHECKS)]


def _test_names() -> set[str]:
    names = set()
    for module in HERE.glob("test_*.py"):
        tree = ast.parse(module.read_text())
        names |= {
            f"{module.name}::{node.name}"
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        }
    return names


def test_every_snippet_file_has_a_check() -> None:
    files = snippet_files()
    assert len(files) > 50
    assert uncovered(files) == []


def test_every_check_entry_is_live() -> None:
    files, tests = snippet_files(), _test_names()
    for pattern, checks in CHECKS.items():
        assert any(_matches(f, pattern) for f in files), f"{pattern} matches no file"
        for check in checks:
            assert check in tests, f"{pattern}: {check} does not exist"


def test_coverage_catches_unchecked_file() -> None:
    assert uncovered(["terraform/modules/vpc/main.tf", "terraform/notes.txt"]) == ["terraform/notes.txt"]


def test_readme_reports_every_area() -> None:
    readme = (SNIPPETS / "README.md").read_text()
    for area in (
        "terraform/",
        "k8s/",
        "helm/",
        "github-actions/",
        "prometheus/",
        "alertmanager/",
        "grafana/",
        "airflow/",
        "kubeflow/",
        "docker/",
        "scripts/install-infra-tools.sh",
        "Unavailable",
    ):
        assert area in readme, f"README.md does not mention {area}"
