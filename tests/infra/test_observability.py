"""Prometheus rules (promtool check + unit tests), Alertmanager (amtool), Grafana dashboards as code
with every panel query run against a live Prometheus scraping the example exporter."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.tools import SNIPPETS, free_port, require_tool, run

PROM = SNIPPETS / "prometheus"
AM = SNIPPETS / "alertmanager" / "alertmanager.yml"
GRAFANA = SNIPPETS / "grafana"
GH_SCRIPTS = SNIPPETS / "github-actions" / "scripts"


def test_promtool_check_config_and_rules() -> None:
    promtool = require_tool("promtool")
    run([promtool, "check", "config", str(PROM / "prometheus.yml")])
    run([promtool, "check", "rules", *map(str, sorted((PROM / "rules").glob("*.yml")))])


def test_promtool_unit_tests() -> None:
    run([require_tool("promtool"), "test", "rules", str(PROM / "tests" / "rules_test.yml")])


def test_promtool_catches_broken_rule(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text((PROM / "rules" / "alerts.yml").read_text().replace("> 10000", "> > 10000"))
    proc = run([require_tool("promtool"), "check", "rules", str(bad)], check=False)
    assert proc.returncode != 0 and "parse error" in proc.stdout + proc.stderr


def test_promtool_unit_test_catches_wrong_threshold(tmp_path: Path) -> None:
    copy = tmp_path / "prometheus"
    shutil.copytree(PROM, copy)
    alerts = copy / "rules" / "alerts.yml"
    alerts.write_text(
        alerts.read_text().replace("kafka:consumergroup_lag:sum > 10000", "kafka:consumergroup_lag:sum > 20000")
    )
    proc = run([require_tool("promtool"), "test", "rules", str(copy / "tests" / "rules_test.yml")], check=False)
    assert proc.returncode != 0 and "KafkaConsumerLagHigh" in proc.stdout + proc.stderr


def test_amtool_check_config_and_routes() -> None:
    amtool = require_tool("amtool")
    run([amtool, "check-config", str(AM)])
    cases = {
        ("severity=page", "alertname=FeatureViewStale"): "ml-oncall-pager",
        ("severity=ticket", "alertname=KafkaConsumerLagHigh"): "data-eng-slack",
        ("severity=ticket", "alertname=ModelFeatureDrift"): "ml-platform-slack",
    }
    for labels, receiver in cases.items():
        out = run([amtool, "config", "routes", "test", f"--config.file={AM}", *labels]).stdout.strip()
        assert out == receiver, (labels, out)


def test_amtool_catches_unknown_receiver(tmp_path: Path) -> None:
    bad = tmp_path / "am.yml"
    bad.write_text(AM.read_text().replace("receiver: data-eng-slack", "receiver: data-eng-slakc"))
    proc = run([require_tool("amtool"), "check-config", str(bad)], check=False)
    assert proc.returncode != 0 and "undefined receiver" in proc.stdout + proc.stderr


def test_dashboards_are_generated_from_code() -> None:
    run([sys.executable, str(GRAFANA / "generate_dashboards.py"), "--check"])


def test_dashboard_check_catches_hand_edit(tmp_path: Path) -> None:
    out = tmp_path / "dashboards"
    shutil.copytree(GRAFANA / "dashboards", out)
    path = next(out.glob("*.json"))
    path.write_text(path.read_text().replace("p99 latency", "p99 latency (edited)"))
    proc = run([sys.executable, str(GRAFANA / "generate_dashboards.py"), "--check", "--out", str(out)], check=False)
    assert proc.returncode == 1


def dashboard_queries() -> list[tuple[str, str]]:
    out = []
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{path.stem}/{panel['title']}/{target['refId']}", target["expr"]))
    return out


# ---------------------------------------------------------------- live Prometheus


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def prom_query(base: str, expr: str) -> list[dict[str, Any]]:
    body = _get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _wait(predicate: Any, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: process exited with {proc.returncode}")
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def live_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    prometheus = require_tool("prometheus")
    work = tmp_path_factory.mktemp("prom")
    exporter_port, prom_port = free_port(), free_port()
    exporter = subprocess.Popen(
        [sys.executable, str(PROM / "example_exporter.py"), "--port", str(exporter_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # Same rules as production, evaluated every second instead of every 30 s.
    (work / "rules").mkdir()
    for rule_file in (PROM / "rules").glob("*.yml"):
        (work / "rules" / rule_file.name).write_text(rule_file.read_text().replace("interval: 30s", "interval: 1s"))
    (work / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "rule_files: [rules/*.yml]\n"
        f"scrape_configs:\n  - job_name: example\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter_port}']\n"
    )
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(work / "prometheus.log").open("w"),
    )
    base = f"http://127.0.0.1:{prom_port}"
    try:
        _wait(lambda: urllib.request.urlopen(f"{base}/-/ready", timeout=2).status == 200, 30, "prometheus ready", proc)
        _wait(lambda: prom_query(base, 'up{job="example"} == 1'), 30, "first scrape of the exporter", proc)
        yield base
    finally:
        for p in (proc, exporter):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.mark.parametrize(("name", "expr"), dashboard_queries(), ids=[n for n, _ in dashboard_queries()])
def test_dashboard_query_returns_data(live_prometheus: str, name: str, expr: str) -> None:
    # rate() needs two scrapes and recording rules one evaluation after that: poll, never sleep blindly.
    _wait(lambda: prom_query(live_prometheus, expr), 45, f"data for {name}: {expr}")


def test_dashboard_query_check_catches_renamed_metric(live_prometheus: str) -> None:
    assert prom_query(live_prometheus, "sum(rate(http_request_total[5m]))") == []


def test_watch_canary_against_live_prometheus(live_prometheus: str) -> None:
    script = str(GH_SCRIPTS / "watch_canary.py")
    ok = [sys.executable, script, "--prometheus", live_prometheus, "--duration", "0", "--interval", "0"]
    _wait(lambda: prom_query(live_prometheus, "slo:http_error_ratio:rate5m"), 45, "error ratio")
    assert run([*ok, "--query", "slo:http_error_ratio:rate5m", "--max", "0.5"], check=False).returncode == 0
    assert run([*ok, "--query", "slo:http_error_ratio:rate5m + 1", "--max", "0.5"], check=False).returncode == 1
    assert run([*ok, "--query", "no_such_metric", "--max", "0.5"], check=False).returncode == 2
