"""Start a server from a notebook the way an operator would: logged, health-checked, stoppable."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit.net import poll

_RUNNING: list[ManagedProcess] = []


class ProcessDied(RuntimeError):
    """The process exited before it became ready; the message carries its log tail."""


@dataclass
class ManagedProcess:
    name: str
    proc: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process and everything it started (it leads its own process group)."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        if self in _RUNNING:
            _RUNNING.remove(self)


def start_process(
    name: str,
    cmd: Sequence[str],
    *,
    ready: Callable[[], bool],
    log_dir: Path | str = ".",
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 90.0,
) -> ManagedProcess:
    """Start `cmd`, wait until `ready()` is true, and return a handle; fail fast if it dies."""
    log = Path(log_dir) / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    handle = ManagedProcess(name, proc, log)
    _RUNNING.append(handle)

    def ready_or_dead() -> bool:
        if not handle.alive():
            raise ProcessDied(f"{name} exited with code {proc.returncode}; last log lines:\n{handle.log_tail()}")
        return ready()

    try:
        poll(ready_or_dead, timeout, name, interval=0.25)
    except TimeoutError as exc:
        handle.stop()
        raise TimeoutError(f"{exc}; last log lines of {log}:\n{handle.log_tail()}") from None
    return handle


def stop_all() -> None:
    for handle in list(_RUNNING):
        handle.stop()


atexit.register(stop_all)
