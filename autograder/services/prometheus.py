"""Prometheus + Alertmanager (Debian packages) and a webhook receiver for alert notifications.

Both Debian binaries listen on 0.0.0.0 by default: every listen address is passed
explicitly, and Alertmanager's gossip cluster port is disabled. Labs add scrape
targets with `register_target(job, "127.0.0.1:PORT")` (file-based discovery, no
restart) and alert rules with `add_rules(name, rules)` (written, then reloaded).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from autograder.services import state
from autograder.services.base import (
    HOST,
    ContainerSpec,
    Running,
    Service,
    ServiceError,
    data_dir,
    http_ok,
    pick_port,
    spawn,
    wait_until,
    which,
)
from autograder.services.webhook import read_alerts

# Short intervals so a lab sees a scrape and an alert within seconds.
SCRAPE_INTERVAL = "2s"


class Prometheus(Service):
    name = "prometheus"
    endpoint_var = "PROMETHEUS_URL"
    start_timeout = 45.0

    def start_native(self, deps: Mapping[str, Running]) -> Running:
        prom = which("prometheus", "apt-get install -y prometheus")
        am = which("prometheus-alertmanager", "apt-get install -y prometheus-alertmanager", extra_dirs=())
        root = data_dir(self.name)
        for sub in ("targets", "rules", "tsdb", "alertmanager"):
            (root / sub).mkdir(exist_ok=True)
        p_port, a_port, w_port = (pick_port(self.preferred_port()), pick_port(), pick_port())
        alerts_log = root / "alerts.jsonl"
        hook = f"http://{HOST}:{w_port}"
        _write_json(root / "alertmanager.yml", _alertmanager_config(f"{hook}/alerts"))
        _write_json(root / "prometheus.yml", _prometheus_config(root, p_port, a_port))
        webhook = spawn(
            self.name,
            [
                sys.executable,
                "-m",
                "autograder.services.webhook",
                "--port",
                str(w_port),
                "--out",
                str(alerts_log),
            ],
            role="webhook",
        )
        alertmanager = spawn(
            self.name,
            [
                am,
                f"--config.file={root / 'alertmanager.yml'}",
                f"--storage.path={root / 'alertmanager'}",
                f"--web.listen-address={HOST}:{a_port}",
                "--cluster.listen-address=",  # no gossip port on 0.0.0.0:9094
            ],
            role="alertmanager",
        )
        prometheus = spawn(
            self.name,
            [
                prom,
                f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'tsdb'}",
                f"--web.listen-address={HOST}:{p_port}",
                "--web.enable-lifecycle",  # POST /-/reload after rule changes
                "--storage.tsdb.retention.time=1d",
                # A reload re-discovers Alertmanager (~5 s); an alert sent meanwhile is dropped and
                # by default resent only after 1 min.
                "--rules.alert.resend-delay=2s",
            ],
            role="prometheus",
        )
        url = f"http://{HOST}:{p_port}"
        exports = {
            "PROMETHEUS_URL": url,
            "ALERTMANAGER_URL": f"http://{HOST}:{a_port}",
            "ALERT_WEBHOOK_URL": hook,
            "ALERT_WEBHOOK_LOG": str(alerts_log),
            "PROMETHEUS_TARGETS_DIR": str(root / "targets"),
            "PROMETHEUS_RULES_DIR": str(root / "rules"),
        }
        ports = {"prometheus": p_port, "alertmanager": a_port, "webhook": w_port}
        procs = [webhook, alertmanager, prometheus]
        return Running(self.name, "native", url, exports, procs, ports, str(self.log()), extra={"root": str(root)})

    def probe(self, run: Running) -> bool:
        e = run.exports
        checks = [("PROMETHEUS_URL", "/-/ready"), ("ALERTMANAGER_URL", "/-/ready"), ("ALERT_WEBHOOK_URL", "/health")]
        # A container or external Prometheus exports only PROMETHEUS_URL.
        return all(http_ok(e[key] + path) for key, path in checks if key in e)

    def container_spec(self) -> ContainerSpec:
        return ContainerSpec("prom/prometheus:latest", {9090: None}, ready_log="Server is ready")

    def container_exports(self, host_port: Callable[[int], int]) -> dict[str, str]:
        return {"PROMETHEUS_URL": f"http://{HOST}:{host_port(9090)}"}

    def reset(self, run: Running, lab: str) -> dict[str, str]:
        """Remove the lab's targets (`<lab>*` jobs) and rule files, then reload."""
        root = Path(run.extra["root"])
        for f in [*(root / "targets").glob(f"{lab}*.json"), *(root / "rules").glob(f"{lab}*.yml")]:
            f.unlink()
        reload(run)
        return {"LABS_NAMESPACE": lab}


def _prometheus_config(root: Path, p_port: int, a_port: int) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{HOST}:{a_port}"]}]}]},
        "rule_files": [str(root / "rules" / "*.yml")],
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": [f"{HOST}:{p_port}"]}]},
            # Lab targets: one JSON file per job, picked up on change (the job label comes from the file).
            {"job_name": "labs", "file_sd_configs": [{"files": [str(root / "targets" / "*.json")]}]},
        ],
    }


def _alertmanager_config(webhook_url: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "webhook",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "2s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "webhook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}],
    }


def _write_json(path: Path, data: object) -> None:
    # JSON is valid YAML: no YAML writer needed for the configs.
    path.write_text(json.dumps(data, indent=2) + "\n")


# --------------------------------------------------------------------------- lab API


def _running() -> Running:
    run = state.load_state().get("prometheus")
    if run is None or run.provider != "native":
        raise ServiceError("no native prometheus is running: start it with `labs up prometheus`")
    return run


def register_target(job: str, host_port: str, labels: Mapping[str, str] | None = None) -> Path:
    """Add host_port to scrape job `job` (file SD: Prometheus notices the file without a restart)."""
    root = Path(_running().extra["root"])
    path = root / "targets" / f"{job}.json"
    groups = json.loads(path.read_text()) if path.exists() else [{"targets": [], "labels": {"job": job}}]
    if host_port not in groups[0]["targets"]:
        groups[0]["targets"].append(host_port)
    groups[0]["labels"].update(labels or {})
    tmp = path.with_suffix(".tmp")  # written whole, then renamed: Prometheus never reads half a file
    tmp.write_text(json.dumps(groups))
    tmp.replace(path)
    return path


def unregister_target(job: str) -> None:
    (Path(_running().extra["root"]) / "targets" / f"{job}.json").unlink(missing_ok=True)


def add_rules(name: str, rules: str | Mapping[str, Any]) -> Path:
    """Write a rule file (YAML text or a dict with `groups`) and reload Prometheus; raises if invalid."""
    run = _running()
    path = Path(run.extra["root"]) / "rules" / f"{name}.yml"
    path.write_text(rules if isinstance(rules, str) else json.dumps(rules, indent=2))
    try:
        reload(run)
    except ServiceError:
        path.unlink()
        reload(run)
        raise
    return path


def reload(run: Running | None = None) -> None:
    run = run or _running()
    req = urllib.request.Request(f"{run.exports['PROMETHEUS_URL']}/-/reload", method="POST")
    try:
        urllib.request.urlopen(req, timeout=10).close()
    except OSError as e:
        raise ServiceError(f"prometheus reload failed (bad config or rules?): {e}") from e


def query(promql: str) -> list[dict[str, Any]]:
    """Instant query; returns the result vector."""
    from urllib.parse import urlencode

    url = f"{_running().exports['PROMETHEUS_URL']}/api/v1/query?{urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)["data"]["result"]


def wait_for_target(job: str, timeout: float = 30.0) -> None:
    """Until every target of `job` has been scraped successfully (first scrape lands after a few s)."""

    def up() -> bool:
        res = query(f'up{{job="{job}"}}')
        return bool(res) and all(r["value"][1] == "1" for r in res)

    wait_until(up, timeout=timeout, what=f"prometheus target job={job}")


def alerts(run: Running | None = None) -> list[dict[str, Any]]:
    """Notifications the webhook received (Alertmanager payloads)."""
    run = run or _running()
    return read_alerts(run.exports["ALERT_WEBHOOK_LOG"])


def wait_for_alert(alertname: str, timeout: float = 60.0, status: str = "firing") -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def arrived() -> bool:
        for rec in alerts():
            payload = rec["payload"]
            for a in payload.get("alerts", []) if isinstance(payload, dict) else []:
                if a.get("labels", {}).get("alertname") == alertname and a.get("status") == status:
                    found.append(a)
                    return True
        return False

    deadline = time.monotonic() + timeout
    wait_until(arrived, timeout=max(0.0, deadline - time.monotonic()), what=f"alert {alertname} at the webhook")
    return found[0]


SERVICE = Prometheus()
