"""A cgroup v1 child per graded kernel: a hard memory cap and a hard task cap for the whole tree.

rlimits are per process (RLIMIT_AS) or per uid (RLIMIT_NPROC); a cgroup caps
the kernel and everything it starts, together, and lets the grader kill them
all and read back whether a limit was hit. Only cgroup v1 `memory` and `pids`
are used (cgroup v2 has no controllers delegated on these machines).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids")
_counter = itertools.count()


def _own_path(controller: str) -> str:
    """This process's cgroup in a v1 hierarchy: children go under it, so the parent's accounting holds."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            if controller in names.split(","):
                return path.lstrip("/")
    except OSError:
        pass
    return ""


def _base(controller: str) -> Path:
    return CGROUP_ROOT / controller / _own_path(controller) / "labs-grade"


def available() -> tuple[bool, str]:
    """Can this process make memory+pids child cgroups? (root on a cgroup v1 host)."""
    for controller in CONTROLLERS:
        base = _base(controller)
        probe = base / f"probe-{os.getpid()}"
        try:
            base.mkdir(exist_ok=True)
            probe.mkdir(exist_ok=True)
            probe.rmdir()
        except OSError as exc:
            return False, f"cannot create a {controller} cgroup under {base.parent} ({exc.strerror})"
    return True, ""


@dataclass
class CgroupStats:
    memory_limit_hit: bool = False
    oom_kills: int = 0
    pids_limit_hit: bool = False
    peak_memory_bytes: int = 0


class KernelCgroup:
    """memory + pids child cgroups named for one kernel; create, wrap a command, kill all, remove."""

    def __init__(self, memory_bytes: int, max_tasks: int) -> None:
        self.name = f"k{os.getpid()}-{next(_counter)}-{int(time.time() * 1000) % 100000}"
        self.paths = {c: _base(c) / self.name for c in CONTROLLERS}
        self.memory_bytes = memory_bytes
        self.max_tasks = max_tasks

    def create(self) -> None:
        for path in self.paths.values():
            path.mkdir(parents=True, exist_ok=True)
        mem = self.paths["memory"]
        (mem / "memory.limit_in_bytes").write_text(str(self.memory_bytes))
        with contextlib.suppress(OSError):  # no swap accounting on some kernels: nothing to cap then
            (mem / "memory.memsw.limit_in_bytes").write_text(str(self.memory_bytes))
        (self.paths["pids"] / "pids.max").write_text(str(self.max_tasks))

    def enter_prefix(self) -> list[str]:
        """A shell prefix that moves itself into the cgroups and execs the rest: no preexec_fn needed."""
        moves = " && ".join(f"echo $$ > {p / 'cgroup.procs'}" for p in self.paths.values())
        return ["/bin/sh", "-c", f'{moves} && exec "$@"', "labs-cgroup"]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.paths.values():
            with contextlib.suppress(OSError, ValueError):
                found |= {int(p) for p in (path / "cgroup.procs").read_text().split()}
        return found

    def stats(self) -> CgroupStats:
        stats = CgroupStats()
        mem, pids = self.paths["memory"], self.paths["pids"]
        with contextlib.suppress(OSError, ValueError):
            for line in (mem / "memory.oom_control").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    stats.oom_kills = int(value)
            stats.memory_limit_hit = int((mem / "memory.failcnt").read_text()) > 0 or stats.oom_kills > 0
            stats.peak_memory_bytes = int((mem / "memory.max_usage_in_bytes").read_text())
        with contextlib.suppress(OSError, ValueError):
            for line in (pids / "pids.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "max" and int(value) > 0:
                    stats.pids_limit_hit = True
        return stats

    def destroy(self, timeout: float = 5.0) -> CgroupStats:
        """Kill every task left (a fork bomb's children too), read the stats, remove the cgroups."""
        stats = self.stats()
        deadline = time.monotonic() + timeout
        while (left := self.pids()) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        for path in self.paths.values():
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # tasks still exiting
                    time.sleep(0.05)
        return stats
