"""labkit.dockerfile: .dockerignore semantics, build-log parsing, pip locks, hadolint findings, build retries."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from labkit import containers, dockerfile
from labkit.dockerfile import is_ignored, parse_ignore


def ignored(pattern_text: str, path: str) -> bool:
    return is_ignored(path, parse_ignore(pattern_text))


# --- .dockerignore ---------------------------------------------------------------------------------


def test_patterns_are_anchored_at_the_context_root_unlike_gitignore():
    assert ignored("__pycache__", "__pycache__/a.pyc")
    assert not ignored("__pycache__", "pkg/__pycache__/a.pyc"), "a bare name matches only at the root"
    assert ignored("**/__pycache__", "pkg/sub/__pycache__/a.pyc")
    assert ignored("**/__pycache__", "__pycache__/a.pyc"), "**/ also matches zero directories"
    assert not ignored("*.pyc", "pkg/a.pyc")
    assert ignored("**/*.pyc", "pkg/a.pyc")


def test_star_stays_in_one_segment_and_question_mark_is_one_character():
    assert ignored("data/*.csv", "data/a.csv")
    assert not ignored("data/*.csv", "data/raw/a.csv")
    assert ignored("data/**/*.csv", "data/raw/2024/a.csv")
    assert ignored("v?.txt", "v1.txt")
    assert not ignored("v?.txt", "v10.txt")


def test_a_directory_match_excludes_everything_below_and_bang_re_includes():
    text = "data\n!data/schema.json\n"
    assert ignored(text, "data/big.bin")
    assert ignored(text, "data/raw/part-0.parquet")
    assert not ignored(text, "data/schema.json")
    # the last matching line wins
    assert ignored("!data/schema.json\ndata\n", "data/schema.json")


def test_comments_blank_lines_and_leading_slashes():
    pats = parse_ignore("# a comment\n\n/build\n  .git  \n")
    assert [p.pattern for p in pats] == ["build", ".git"]
    assert ignored("/build", "build/x.o")
    assert not ignored("# .git", ".git/HEAD")


def test_context_files_and_size_honour_the_ignore_file(tmp_path: Path):
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"x" * 10)
    (tmp_path / "pkg" / "m.py").write_text("print(1)\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "big.bin").write_bytes(b"0" * 5000)
    (tmp_path / "app.py").write_text("import pkg\n")
    (tmp_path / ".dockerignore").write_text("data\n**/__pycache__\n")
    files = dockerfile.context_files(tmp_path)
    assert set(files) == {".dockerignore", "app.py", "pkg/m.py"}
    assert dockerfile.context_size(tmp_path, []) == dockerfile.context_size(tmp_path) + 5010
    # podman prefers .containerignore when both exist
    (tmp_path / ".containerignore").write_text("app.py\n")
    assert "app.py" not in dockerfile.context_files(tmp_path)
    assert "data/big.bin" in dockerfile.context_files(tmp_path)


# --- build logs ------------------------------------------------------------------------------------

PODMAN_LOG = """\
[1/2] STEP 1/3: FROM localhost/py:1 AS build
[1/2] STEP 2/3: COPY requirements.txt /tmp/
--> Using cache 9bcca42101b3
--> 9bcca42101b
[1/2] STEP 3/3: RUN pip install -r /tmp/requirements.txt
--> Using cache 5f71f422c65a
--> 5f71f422c65
[2/2] STEP 1/3: FROM localhost/base:1
[2/2] STEP 2/3: COPY --from=build /venv /venv
--> Using cache 251589c6f383
--> 251589c6f38
[2/2] STEP 3/3: COPY app.py /app/
--> f3e892b0785
[2/2] COMMIT localhost/app:1
"""

CLASSIC_LOG = """\
Step 1/3 : FROM python:3.11
 ---> 0a1b2c3d4e5f
Step 2/3 : RUN pip install numpy==2.4.6
 ---> Using cache
 ---> 1a2b3c4d5e6f
Step 3/3 : COPY app.py /app/
 ---> 2b3c4d5e6f70
Successfully built 2b3c4d5e6f70
"""

BUILDKIT_LOG = """\
#4 [1/3] FROM docker.io/library/python:3.11@sha256:abc
#4 DONE 0.0s
#5 [2/3] RUN pip install numpy==2.4.6
#5 CACHED
#6 [3/3] COPY app.py /app/
#6 DONE 0.1s
"""


def test_build_steps_reads_podman_multi_stage_logs():
    steps = dockerfile.build_steps(PODMAN_LOG)
    assert [(s.stage, s.number) for s in steps] == [("1", 1), ("1", 2), ("1", 3), ("2", 1), ("2", 2), ("2", 3)]
    assert [s.cached for s in steps] == [True, True, True, True, True, False]
    assert steps[-1].instruction == "COPY app.py /app/"


@pytest.mark.parametrize("log", [CLASSIC_LOG, BUILDKIT_LOG])
def test_build_steps_reads_docker_logs(log: str):
    steps = dockerfile.build_steps(log)
    assert [s.instruction.split()[0] for s in steps] == ["FROM", "RUN", "COPY"]
    assert [s.cached for s in steps] == [True, True, False]


def test_build_steps_of_a_log_without_steps_is_empty():
    assert dockerfile.build_steps("Error: no such file\n") == []


# --- pip locks -------------------------------------------------------------------------------------


def make_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel (metadata only), enough for pip's resolver."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{info}/METADATA", metadata)
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return path


def test_pip_lock_pins_and_hashes_the_whole_closure(tmp_path: Path):
    house = tmp_path / "wheels"
    house.mkdir()
    make_wheel(house, "alpha_pkg", "1.0", requires=("beta-pkg>=2",))
    beta = make_wheel(house, "beta_pkg", "2.1")
    (tmp_path / "requirements.in").write_text("alpha-pkg\n")
    lock = dockerfile.pip_lock(tmp_path / "requirements.in", house)
    assert dockerfile.parse_lock(lock) == {"alpha-pkg": "1.0", "beta-pkg": "2.1"}
    assert f"--hash=sha256:{hashlib.sha256(beta.read_bytes()).hexdigest()}" in lock


def test_pip_lock_fails_when_the_wheelhouse_cannot_satisfy(tmp_path: Path):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "requirements.in").write_text("not-in-the-wheelhouse==9.9\n")
    with pytest.raises(RuntimeError, match="could not resolve"):
        dockerfile.pip_lock(tmp_path / "requirements.in", tmp_path / "wheels")


def test_parse_lock_ignores_hash_continuations_and_comments():
    text = "# lock\nNumPy==2.4.6 \\\n    --hash=sha256:ab\njoblib==1.6.0\n"
    assert dockerfile.parse_lock(text) == {"numpy": "2.4.6", "joblib": "1.6.0"}


# --- hadolint --------------------------------------------------------------------------------------


def _try_binary() -> bool:
    try:
        dockerfile.hadolint_binary()
    except FileNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _try_binary(), reason="hadolint not installed")
def test_hadolint_reports_findings_and_the_policy_threshold(tmp_path: Path):
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install numpy\n")
    res = dockerfile.hadolint(bad)
    assert {"DL3007", "DL3042"} <= set(res.codes), res.findings
    assert res.returncode == 1
    assert all(f.level in ("warning", "error") for f in res.at_least("warning"))

    info_only = tmp_path / "info.Dockerfile"
    info_only.write_text("FROM debian:bookworm-slim\nRUN echo 1\nRUN echo 2\n")
    assert dockerfile.hadolint(info_only).returncode == 1, "hadolint's default threshold fails on info"
    policy = tmp_path / "policy.yaml"
    policy.write_text("failure-threshold: warning\nignored: [DL3007]\n")
    assert dockerfile.hadolint(info_only, policy).returncode == 0
    assert dockerfile.hadolint(bad, policy).returncode == 1, "DL3042 is a warning the policy does not ignore"
    assert "DL3007" not in dockerfile.hadolint(bad, policy).codes


def test_hadolint_of_a_missing_file_raises(tmp_path: Path):
    if not _try_binary():
        pytest.skip("hadolint not installed")
    with pytest.raises(RuntimeError):
        dockerfile.hadolint(tmp_path / "nope.Dockerfile")


# --- build retries ---------------------------------------------------------------------------------


def test_build_retries_only_a_step_killed_from_outside(monkeypatch: pytest.MonkeyPatch):
    calls: list[str] = []

    def flaky(context, tag, **kwargs):
        calls.append(tag)
        if len(calls) == 1:
            raise containers.EngineError('building at STEP "RUN pip install": while running runtime: signal: killed')
        return "STEP 1/1: FROM base\n"

    monkeypatch.setattr(containers, "build", flaky)
    assert dockerfile.build(".", "t:1").startswith("STEP")
    assert len(calls) == 2

    def broken(context, tag, **kwargs):
        calls.append(tag)
        raise containers.EngineError('building at STEP "RUN false": while running runtime: exit status 1')

    calls.clear()
    monkeypatch.setattr(containers, "build", broken)
    with pytest.raises(containers.EngineError, match="exit status 1"):
        dockerfile.build(".", "t:1")
    assert len(calls) == 1, "a failing instruction is not retried"
