"""A kernel manager that starts each graded kernel inside the sandbox (autograder.sandbox).

nbclient asks for a kernel with cwd = nbgrader's autograded dir, which sits
inside the grading course dir next to the gradebook. This manager instead
starts the kernel in a fresh sandbox dir holding a copy of that dir's files
(not the notebook), talks to it over ipc sockets in that dir (a TCP port would
live in the sandbox's own network namespace), and wraps the command with
cgroup entry, bwrap, setpriv and prlimit as the level allows.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Dict, Integer, List, Unicode

from autograder import sandbox
from autograder.sandbox_cgroup import CgroupStats, KernelCgroup


class SandboxedKernelManager(AsyncKernelManager):
    sandbox_dir = Unicode("", help="Empty dir for this kernel; the only writable place it sees.").tag(config=True)
    level = Unicode("none", help="Confinement level (autograder.sandbox.LEVELS).").tag(config=True)
    memory_bytes = Integer(2 * 1024**3).tag(config=True)
    max_tasks = Integer(256).tag(config=True)
    max_file_bytes = Integer(100 * 1024**2).tag(config=True)
    share_net = Bool(False, help="Keep the host network (labs whose services listen on loopback).").tag(config=True)
    lab_env = Dict(help="The lab's parameters as environment variables.").tag(config=True)
    readonly_paths = List(Unicode(), help="Extra host paths the kernel may read (the data dir).").tag(config=True)

    cgroup_stats: CgroupStats | None = None
    _cgroup: KernelCgroup | None = None
    _log = None
    _runtime: Path | None = None

    def _confinement(self) -> sandbox.Confinement:
        return sandbox.Confinement(
            self.level,
            self.memory_bytes,
            self.max_tasks,
            self.max_file_bytes,
            self.share_net,
            tuple(self.readonly_paths),
        )

    def _prepare_dirs(self, source: str | None) -> tuple[Path, Path, Path]:
        root = Path(self.sandbox_dir).resolve()
        if root.exists():
            shutil.rmtree(root)
        work, home = root / "work", root / ".home"
        for path in (work, home):
            path.mkdir(parents=True)
        # ipc socket paths must fit in 107 bytes: a short dir in /tmp, not under a deep output dir
        runtime = Path(tempfile.mkdtemp(prefix="lk-", dir="/tmp"))
        self._runtime = runtime
        if source and Path(source).is_dir():  # the lab's files, without the notebook being graded
            shutil.copytree(source, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.ipynb"))
        return root, work, runtime

    async def _async_pre_start_kernel(self, **kw):
        root, work, runtime = self._prepare_dirs(kw.get("cwd"))
        self.transport = "ipc"
        self.ip = str(runtime / "kernel")
        self.connection_file = str(runtime / "kernel.json")
        kw["cwd"] = str(work)
        kw["env"] = sandbox.kernel_env(dict(self.lab_env), root / ".home")
        # the kernel's own chatter goes to a log beside the sandbox, not the grader's console
        self._log = open(root.parent / "kernel.log", "ab")  # noqa: SIM115 (closed in finalize)
        kw["stdout"] = kw["stderr"] = self._log
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        return self._wrap(kernel_cmd, root, work, kw["env"]), kw

    def _wrap(self, cmd: list[str], root: Path, work: Path, env: dict[str, str]) -> list[str]:
        conf = self._confinement()
        if conf.level == "none":
            return cmd
        uid = sandbox.run_as_uid(conf.level)
        if uid is not None:
            sandbox.chown_tree(root, uid)
            sandbox.chown_tree(self._runtime, uid)
            os.chmod(root, 0o755)
        prefix: list[str] = []
        if conf.level == "bwrap+cgroup":
            self._cgroup = KernelCgroup(conf.memory_bytes, conf.max_tasks)
            self._cgroup.create()
            prefix = self._cgroup.enter_prefix()
        if conf.level.startswith("bwrap"):
            prefix += sandbox.bwrap_args(conf, root, work, env, extra_writable=self._runtime)
        return [*prefix, *sandbox.rlimit_args(conf, uid), *cmd]

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        try:
            await super()._async_cleanup_resources(restart=restart)
        finally:
            if not restart:
                self.finalize()

    def finalize(self) -> CgroupStats | None:
        """Kill what is left of the kernel tree and read the cgroup's verdict (idempotent).

        nbclient skips the manager's cleanup when the kernel is already dead, so
        the executor calls this too.
        """
        if self._cgroup is not None:
            self.cgroup_stats = self._cgroup.destroy()
            self._cgroup = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._runtime is not None:
            shutil.rmtree(self._runtime, ignore_errors=True)
            self._runtime = None
        return self.cgroup_stats

    def kill_everything(self) -> None:
        """The wall limit's hammer: every task of the kernel, wherever it forked to."""
        if self._cgroup is not None:
            import signal

            for pid in self._cgroup.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    continue
