"""Faults: port in use, missing binary, stale state, concurrent up, down with nothing running, dead service."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from autograder.services import commands, state
from autograder.services.base import HOST, MissingDependency, ServiceDied, ServiceError

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]


@pytest.fixture
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A state dir of its own, and no endpoint variables inherited from the session stack."""
    monkeypatch.setenv("LABS_STATE_DIR", str(tmp_path))
    for var in ("REDIS_URL", "PROMETHEUS_URL"):
        monkeypatch.delenv(var, raising=False)
    yield tmp_path
    commands.down(quiet=True)


def _pids() -> list[int]:
    return [p.pid for run in state.load_state().values() for p in run.procs]


def test_down_when_nothing_runs(private_state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commands.down()
    commands.down()
    assert "nothing to stop" in capsys.readouterr().out
    assert commands.status(quiet=True) == []


def test_port_in_use_picks_another(private_state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        taken = busy.getsockname()[1]
        monkeypatch.setenv("LABS_REDIS_PORT", str(taken))
        env = commands.up(["redis"], quiet=True)
        assert env["REDIS_PORT"] != str(taken)
        assert commands.status(quiet=True)[0]["healthy"] is True


def test_missing_binary_names_the_package(private_state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(private_state))  # nothing on PATH
    with pytest.raises(MissingDependency, match=r"apt-get install -y redis-server"):
        commands.up(["redis"], quiet=True)
    with pytest.raises(MissingDependency, match=r"apt-get install -y prometheus"):
        commands.up(["prometheus"], quiet=True)
    assert state.load_state() == {}


def test_stale_state_and_dead_service(private_state: Path) -> None:
    commands.up(["redis"], quiet=True)
    (pid,) = _pids()
    os.kill(pid, signal.SIGKILL)  # a service dying mid-lab (or a killed session)
    psutil.Process(pid).wait(5)
    with pytest.raises(ServiceDied, match=r"'redis'.*redis\.log"):
        commands.check_alive("redis")
    assert commands.status(quiet=True)[0]["healthy"] is False
    commands.up(["redis"], quiet=True)  # detects the stale record, cleans it, starts anew
    (new_pid,) = _pids()
    assert new_pid != pid
    commands.check_alive("redis")


def test_second_up_is_refused_while_one_runs(private_state: Path) -> None:
    with state.locked(), pytest.raises(ServiceError, match="another `labs up`"):
        commands.up(["redis"], quiet=True, lock_wait=0.5)


def test_down_leaves_no_orphans(private_state: Path) -> None:
    commands.up(["redis", "prometheus"], quiet=True)
    pids = _pids()
    assert len(pids) == 4  # redis + prometheus, alertmanager, webhook receiver
    commands.down(quiet=True)
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not (private_state / "endpoints.env").exists()


def test_external_endpoint_is_used_not_started(
    private_state: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = commands.up(["redis"], quiet=True)
    other = tmp_path_factory.mktemp("other-state")
    monkeypatch.setenv("LABS_STATE_DIR", str(other))
    monkeypatch.setenv("REDIS_URL", env["REDIS_URL"])
    assert commands.up(["redis"], quiet=True)["REDIS_URL"] == env["REDIS_URL"]
    (row,) = commands.status(quiet=True)
    assert row["provider"] == "external" and row["pid"] is None
    commands.down(quiet=True)
    monkeypatch.setenv("LABS_STATE_DIR", str(private_state))


def test_endpoints_env_round_trip(private_state: Path) -> None:
    env = commands.up(["redis"], quiet=True)
    assert commands.load_endpoints() == env
    assert (private_state / "endpoints.env").read_text().count("REDIS_URL=") == 1
