"""How a graded kernel is confined: which level this machine allows, and the command that does it.

Levels, weakest to strongest (recorded in every result as `sandbox`):
- none: the kernel runs as the grader runs (only timeouts and the output cap apply);
- rlimits: prlimit caps per-process memory (RLIMIT_AS), tasks (RLIMIT_NPROC), file size
  (RLIMIT_FSIZE); as root the kernel also drops to a throwaway uid;
- bwrap: rlimits plus bubblewrap: no network (unless the lab uses services), private
  ipc/uts namespaces (not pid: SIGINT from nbclient's interrupt did not reach a kernel in
  its own pid namespace, so timed-out cells could not be stopped and graded past),
  read-only system dirs, and only the sandbox dir writable and
  visible: no repo, no solutions/, no gradebook;
- bwrap+cgroup: bwrap plus a cgroup v1 child with a hard memory and task cap for the
  whole kernel tree (root only).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from autograder import sandbox_cgroup

LEVELS = ("none", "rlimits", "bwrap", "bwrap+cgroup")
UID_BASE = 200_000  # + the grading worker's pid: unique among live workers, owns nothing on the host
log = logging.getLogger("autograder.sandbox")


@dataclass(frozen=True)
class Confinement:
    level: str
    memory_bytes: int
    max_tasks: int
    max_file_bytes: int
    share_net: bool = False
    readonly_paths: tuple[str, ...] = ()


def _bwrap_works() -> tuple[bool, str]:
    import subprocess

    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False, "bubblewrap is not installed (scripts/install-sandbox-deps.sh)"
    probe = [bwrap, "--unshare-pid", "--unshare-net", *_system_binds(), "/bin/true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap does not run here: {exc}"
    if done.returncode != 0:
        return False, f"bubblewrap does not run here: {done.stderr.decode(errors='replace').strip()}"
    return True, ""


@cache
def detect(requested: str = "auto") -> tuple[str, str]:
    """The strongest level available (capped at `requested`), and why it is not stronger."""
    wanted = os.environ.get("LABS_SANDBOX", requested) or "auto"
    top = LEVELS[-1] if wanted == "auto" else wanted
    if top not in LEVELS:
        raise ValueError(f"unknown sandbox level {top!r}; one of {', '.join(LEVELS)} or auto")
    if not sys.platform.startswith("linux"):
        return "none", "sandboxing needs Linux"
    reasons: list[str] = []
    level = "none" if top == "none" else "rlimits"
    if not shutil.which("prlimit"):
        return "none", "prlimit (util-linux) is missing"
    if LEVELS.index(top) >= LEVELS.index("bwrap"):
        ok, why = _bwrap_works()
        if ok and os.geteuid() == 0 and not shutil.which("setpriv"):
            ok, why = False, "setpriv (util-linux) is missing: cannot drop root in the sandbox"
        if ok:
            level = "bwrap"
        else:
            reasons.append(why)
    if level == "bwrap" and top == "bwrap+cgroup":
        if os.geteuid() != 0:
            reasons.append("cgroups need root")
        else:
            ok, why = sandbox_cgroup.available()
            if ok:
                level = "bwrap+cgroup"
            else:
                reasons.append(why)
    if wanted != "auto" and level != top:
        reasons.insert(0, f"asked for {top}")
    return level, "; ".join(reasons)


def warn_if_weak(level: str, reason: str) -> None:
    if LEVELS.index(level) < LEVELS.index("bwrap"):
        log.warning(
            "GRADING WITHOUT A FILESYSTEM SANDBOX (level %s): student code can read what the grader can "
            "read (solutions/, gradebooks). %s",
            level,
            reason,
        )


def run_as_uid(level: str) -> int | None:
    """As root, kernels run as a throwaway uid (rlimits are not enforced on root); else as ourselves.

    Without bwrap the uid must reach the interpreter on the host: a Python under /root (mode 0700)
    cannot be run by another uid, so the kernel stays root there (RLIMIT_NPROC is then not enforced).
    """
    if os.geteuid() != 0:
        return None
    if not level.startswith("bwrap") and not _others_can_run(Path(sys.executable).resolve()):
        log.warning("kernel runs as root: %s is not reachable by other users", sys.executable)
        return None
    return UID_BASE + os.getpid()


def _others_can_run(path: Path) -> bool:
    return all(os.stat(p).st_mode & 0o001 for p in path.parents) and bool(os.stat(path).st_mode & 0o001)


def python_paths() -> list[str]:
    """What the kernel's interpreter needs to start: the venv and the base install it points at."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for name in ("mlops_datasets", "labkit"):  # editable installs the labs import (not the grader itself)
        spec = importlib.util.find_spec(name)
        if spec and spec.submodule_search_locations:
            paths.update(spec.submodule_search_locations)
    return sorted(p for p in paths if p and not p.startswith(("/usr/", "/etc/")) and Path(p).exists())


def tool_paths() -> list[str]:
    """Read-only tool installs and course material some labs use (never solutions or secrets): the
    orchestration venv (Airflow, KFP, Pulumi), the download cache (Kafka/Spark jars, the container
    base image), the infra tools (checkov's venv, helm...), and the infra-snippets/docker folders the
    IaC and compose labs build on."""
    from autograder import paths
    from autograder.services.base import cache_dir

    infra_tools = os.environ.get("INFRA_TOOLS_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "mlops-course-labs", "infra-tools"
    )
    repo = paths.REPO_ROOT
    candidates = [repo / ".venv-orch", cache_dir(), Path(infra_tools), repo / "infra-snippets", repo / "docker"]
    return [str(p) for p in candidates if p.exists()]


def _system_binds() -> list[str]:
    args: list[str] = []
    for top in ("/usr", "/etc", "/opt"):
        if Path(top).is_dir():
            args += ["--ro-bind", top, top]
    for link in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        path = Path(link)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), link]
        elif path.is_dir():
            args += ["--ro-bind", link, link]
    return args


def _with_parents(paths: list[str]) -> list[str]:
    """bwrap makes missing parent dirs 0700 (unreadable to the kernel's uid): make them 0755 first."""
    made: set[str] = {"/", "/usr", "/etc", "/opt", "/tmp", "/proc", "/dev"}
    args: list[str] = []
    for path in paths:
        for parent in reversed(Path(path).parents):
            if str(parent) not in made:
                made.add(str(parent))
                args += ["--perms", "0755", "--dir", str(parent)]
    return args


def bwrap_args(
    conf: Confinement, sandbox_dir: Path, cwd: Path, env: dict[str, str], extra_writable: Path | None = None
) -> list[str]:
    ro = [*python_paths(), *tool_paths(), *(p for p in conf.readonly_paths if Path(p).exists())]
    args = ["bwrap", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent"]
    if os.geteuid() != 0:
        args.append("--unshare-user")
    if not conf.share_net:
        args.append("--unshare-net")
    args += _system_binds()
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(conf.max_file_bytes)]
    args += ["--tmpfs", "/tmp"]
    args += _with_parents([*ro, str(sandbox_dir)])
    for path in ro:
        args += ["--ro-bind", path, path]
    args += ["--bind", str(sandbox_dir), str(sandbox_dir)]
    if extra_writable is not None:  # the kernel's ipc sockets (under the tmpfs /tmp)
        args += ["--bind", str(extra_writable), str(extra_writable)]
    args += ["--chdir", str(cwd), "--clearenv"]
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    return [*args, "--"]


def rlimit_args(conf: Confinement, uid: int | None) -> list[str]:
    """setpriv (drop root) + prlimit. RLIMIT_AS only without a cgroup: it breaks JVM-based labs."""
    args: list[str] = []
    if uid is not None:
        args += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        args += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    tasks = conf.max_tasks if uid is not None else conf.max_tasks + _own_task_count()
    if conf.level == "bwrap+cgroup":  # the cgroup is the cap (and says when it was hit): RLIMIT_NPROC is a backstop
        tasks *= 2
    limits = [f"--nproc={tasks}:{tasks}", f"--fsize={conf.max_file_bytes}:{conf.max_file_bytes}", "--core=0:0"]
    if conf.level != "bwrap+cgroup":
        limits.append(f"--as={conf.memory_bytes}:{conf.memory_bytes}")
    return [*args, "prlimit", *limits, "--"]


def _own_task_count() -> int:
    """RLIMIT_NPROC counts every task of the uid: as a normal user, leave room for the ones running."""
    import psutil

    uid = os.getuid()
    total = 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real == uid:
                total += proc.info["num_threads"] or 1
        except psutil.Error:
            continue
    return total


def kernel_env(params_env: dict[str, str], home: Path) -> dict[str, str]:
    """The kernel's whole environment: nothing from the grader's (tokens, paths), only the lab's values."""
    from autograder.services.base import cache_dir

    venv_bin = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "IPYTHONDIR": str(home / ".ipython"),
        "MPLCONFIGDIR": str(home / ".matplotlib"),
        "MPLBACKEND": "Agg",
        "LANG": "C.UTF-8",
        # the kernel's uid has no passwd entry: getpass.getuser() (MLflow, git, pip) reads these first
        "USER": "student",
        "LOGNAME": "student",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        # the download cache (Kafka/Spark jars) is bound read-only; HOME is not the grader's, so say where
        "LABS_CACHE_DIR": str(cache_dir()),
        "JUPYTER_PLATFORM_DIRS": "1",
        # one BLAS/OpenMP thread: fair on a shared box, and threads count against the task cap
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    return env | params_env


def chown_tree(path: Path, uid: int) -> None:
    os.chown(path, uid, uid)
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)
