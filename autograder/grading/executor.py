"""nbgrader's Execute preprocessor, plus what a real class needs from it.

- a per-notebook wall limit: a timer kills the kernel's process group, so an
  infinite loop that ignores interrupts still ends;
- a record of what happened (which cell was running, whether the kernel died,
  whether a limit was hit), so the grader can say `crashed` or `timeout`
  instead of a silent zero;
- a cap on stored output, so a 100 MB print is truncated, not kept in memory.

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

from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Float, Integer

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


class GuardedExecute(Execute):
    wall_limit = Float(600.0, help="Seconds a whole notebook may run before its kernel is killed.").tag(
        config=True
    )
    max_output_bytes = Integer(
        2_000_000, help="Output kept per notebook; the rest is dropped with a notice."
    ).tag(config=True)

    last_run: RunReport = RunReport()

    def preprocess(self, nb, resources=None, km=None):
        report = GuardedExecute.last_run = RunReport()
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
        finally:
            timer.cancel()
            report.seconds = time.monotonic() - started

    def preprocess_cell(self, cell, resources, index):
        GuardedExecute.last_run.current_cell = index
        return super().preprocess_cell(cell, resources, index)

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
        size = len(str(msg.get("content", {})))
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
        pid = self._kernel_pid()
        if pid is None:
            return
        with suppress(ProcessLookupError):  # the kernel leads its own session: take its children too
            os.killpg(os.getpgid(pid), signal.SIGKILL)

    def _describe_exit(self) -> str:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return "the kernel stopped answering"
        if code < 0:
            name = signal.Signals(-code).name
            hint = " (often: out of memory)" if -code == signal.SIGKILL else ""
            return f"the kernel was killed by {name}{hint}"
        return f"the kernel exited with code {code}"
