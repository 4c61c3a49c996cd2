"""nbgrader's Execute preprocessor, plus what a real class needs from it.

- a per-notebook wall limit: a timer kills the kernel's process group, so an
  infinite loop that ignores interrupts still ends;
- a record of what happened (which cell was running, whether the kernel died,
  whether a limit was hit), so the grader can say `crashed` or `timeout`
  instead of a silent zero;
- a cap on stored output, so a 100 MB print is truncated, not kept in memory;
- the sandbox: kernels start through SandboxedKernelManager (kernel.py), and
  each graded check runs behind the guard (guard.py).

One notebook runs at a time in a grading worker, so the findings of the last
run are kept on the class (`GuardedExecute.last_run`), where the caller reads
them after nbgrader's converter returns or fails.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from queue import Empty

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Bool, Float, Integer, List, Unicode

from autograder.grading import guard
from autograder.grading.kernel import SandboxedKernelManager

INTEGRITY_ERROR = "GradingIntegrityError"
GUARD_TIMEOUT = 15.0  # seconds for one guard round trip; a kernel that can't answer fails the check

TRUNCATION_NOTICE = "\n[output truncated by the grader: {limit} bytes per notebook]\n"


@dataclass
class RunReport:
    current_cell: int | None = None
    kernel_died: bool = False
    kernel_exit: str = ""
    wall_limit_hit: bool = False
    output_truncated: bool = False
    output_bytes: int = 0
    seconds: float = 0.0
    cell_timeouts: list[int] = field(default_factory=list)
    stuck: bool = False  # a timed-out cell did not stop when interrupted
    integrity_failures: list[int] = field(default_factory=list)  # checks that did not run as written
    memory_limit_hit: bool = False
    process_limit_hit: bool = False
    peak_memory_bytes: int = 0


class GuardedExecute(Execute):
    wall_limit = Float(600.0, help="Seconds a whole notebook may run before its kernel is killed.").tag(config=True)
    max_output_bytes = Integer(2_000_000, help="Output kept per notebook; the rest is dropped with a notice.").tag(
        config=True
    )

    guard_checks = Bool(True, help="Reset kernel hooks before each check and verify it ran.").tag(config=True)
    watch_modules = List(Unicode(), help="Modules whose functions are restored before each check.").tag(config=True)

    last_run: RunReport = RunReport()
    _guard_ready: bool = False
    _sandbox_km = None

    def preprocess(self, nb, resources=None, km=None):
        report = GuardedExecute.last_run = RunReport()
        self._guard_ready = False
        started = time.monotonic()
        timer = threading.Timer(self.wall_limit, self._hit_wall_limit, args=(report,))
        timer.daemon = True
        timer.start()
        try:
            return super().preprocess(nb, resources, km)
        except DeadKernelError:
            report.kernel_died = True
            report.kernel_exit = report.kernel_exit or "the kernel died"
            raise
        except CellTimeoutError:  # the kernel ignored the interrupt and stayed busy
            if report.current_cell not in report.cell_timeouts:
                report.cell_timeouts.append(report.current_cell)
            report.stuck = True
            raise
        finally:
            timer.cancel()
            report.seconds = time.monotonic() - started
            self._read_sandbox_verdict(report)

    def create_kernel_manager(self):
        self._sandbox_km = super().create_kernel_manager()  # nbclient drops self.km at cleanup: keep it
        return self._sandbox_km

    def _read_sandbox_verdict(self, report: RunReport) -> None:
        km, self._sandbox_km = self._sandbox_km, None
        if isinstance(km, SandboxedKernelManager):
            stats = km.finalize()
            if stats is not None:
                report.memory_limit_hit = stats.memory_limit_hit
                report.process_limit_hit = stats.pids_limit_hit
                report.peak_memory_bytes = stats.peak_memory_bytes

    def preprocess_cell(self, cell, resources, index):
        GuardedExecute.last_run.current_cell = index
        if not self.guard_checks or cell.cell_type != "code":
            return super().preprocess_cell(cell, resources, index)
        if not self._guard_ready:
            token = guard.nonce()
            self._guard_ready = (
                self._guard_call(guard.setup_expression(list(self.watch_modules), token, self.max_output_bytes))
                == token
            )
        if not _is_check(cell):
            return super().preprocess_cell(cell, resources, index)
        return self._run_check(cell, resources, index)

    def _run_check(self, cell, resources, index):
        """Run a graded check behind the guard; score it 0 when it did not run as written."""
        token, sentinel = guard.nonce(), guard.nonce()
        reset = self._guard_ready and self._guard_call(guard.restore_expression(token)) == token
        original = cell.source
        cell.source = guard.with_sentinel(original, sentinel)
        try:
            result = super().preprocess_cell(cell, resources, index)
        finally:
            cell.source = original
        finished = self._guard_call(guard.after_expression()) == sentinel if reset else False
        has_error = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        if not reset or (not has_error and not finished):
            GuardedExecute.last_run.integrity_failures.append(index)
            why = (
                "the grader could not reset the kernel before this check"
                if not reset
                else "this check did not run to completion"
            )
            cell.outputs.append(
                new_output(
                    "error",
                    ename=INTEGRITY_ERROR,
                    evalue=f"{why} (code in the notebook changed how checks run); no points for it",
                    traceback=[],
                )
            )
        return result

    def _guard_call(self, expression: str) -> str | None:
        """Evaluate one expression in the kernel via user_expressions (no transformers apply)."""
        if self.kc is None:
            return None
        try:
            return run_sync(self._async_guard_call)(expression)
        except (DeadKernelError, RuntimeError, OSError):
            return None

    async def _async_guard_call(self, expression: str) -> str | None:
        msg_id = self.kc.execute(
            "", silent=True, store_history=False, user_expressions={"g": expression}, allow_stdin=False
        )
        deadline = time.monotonic() + GUARD_TIMEOUT
        while time.monotonic() < deadline:
            try:
                msg = await self.kc.shell_channel.get_msg(timeout=1)
            except Empty:
                await self._async_check_alive()
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            value = msg["content"].get("user_expressions", {}).get("g", {})
            if value.get("status") != "ok":
                return None
            text = value.get("data", {}).get("text/plain", "")
            try:
                import ast

                return ast.literal_eval(text) if text else None
            except (ValueError, SyntaxError):
                return None
        return None

    async def _async_handle_timeout(self, timeout, cell=None):
        GuardedExecute.last_run.cell_timeouts.append(GuardedExecute.last_run.current_cell)
        return await super()._async_handle_timeout(timeout, cell)

    async def _async_check_alive(self):
        try:
            return await super()._async_check_alive()
        except DeadKernelError:
            # describe the exit now: the kernel manager forgets the process once cleaned up
            GuardedExecute.last_run.kernel_exit = self._describe_exit()
            raise

    def output(self, outs, msg, display_id, cell_index):
        """Keep output until the per-notebook budget is spent, then keep only a notice."""
        report = GuardedExecute.last_run
        size = _content_size(msg.get("content", {}))
        report.output_bytes += size
        if report.output_bytes > self.max_output_bytes and msg["msg_type"] in (
            "stream",
            "display_data",
            "execute_result",
            "update_display_data",
        ):
            if not report.output_truncated:
                report.output_truncated = True
                notice = TRUNCATION_NOTICE.format(limit=self.max_output_bytes)
                outs.append(new_output("stream", name="stdout", text=notice))
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _kernel_pid(self) -> int | None:
        provisioner = getattr(self.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        return int(pid) if pid else None

    def _hit_wall_limit(self, report: RunReport) -> None:
        report.wall_limit_hit = True
        if isinstance(self._sandbox_km, SandboxedKernelManager):
            self._sandbox_km.kill_everything()
        pid = self._kernel_pid()
        if pid is None:
            return
        with suppress(ProcessLookupError, PermissionError):  # the kernel leads its own session: take its children
            os.killpg(os.getpgid(pid), signal.SIGKILL)

    def _describe_exit(self) -> str:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return "the kernel stopped answering"
        if code > 128 and self.km.level != "none":  # the sandbox wrapper reports a killed kernel as 128+n
            code = 128 - code
        if code < 0:
            name = signal.Signals(-code).name
            hint = " (often: out of memory)" if -code == signal.SIGKILL else ""
            return f"the kernel was killed by {name}{hint}"
        return f"the kernel exited with code {code}"


def _is_check(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def _content_size(content: dict) -> int:
    """Bytes of a message's payload, without building a second copy of a 100 MB string."""
    total = 0
    for key in ("text", "data", "evalue", "traceback"):
        value = content.get(key)
        if isinstance(value, str):
            total += len(value)
        elif isinstance(value, dict):
            total += sum(len(v) if isinstance(v, str) else len(str(v)) for v in value.values())
        elif isinstance(value, list):
            total += sum(len(v) for v in value if isinstance(v, str))
    return total
