"""labkit.containers against the real `containers` service: build, inspect, push, clean up."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from labkit import containers

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def engine_env():
    from autograder.services.commands import ensure

    exports = ensure(["containers"])
    saved = {k: os.environ.get(k) for k in exports}
    os.environ.update(exports)
    yield exports
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_podman_runs_as_a_remote_client_of_the_engine_socket(engine_env):
    argv = containers.engine_argv()
    assert argv[1:] == ["--remote", "--url", engine_env["CONTAINER_HOST"]], argv


def test_build_reuses_layers_and_push_reaches_the_local_registry(engine_env, tmp_path: Path):
    tag = f"localhost/labkit-test:{uuid.uuid4().hex[:8]}"
    (tmp_path / "Containerfile").write_text(
        f'FROM {engine_env["BASE_IMAGE"]}\nRUN echo one > /one\nCOPY note.txt /note.txt\nCMD ["cat", "/note.txt"]\n'
    )
    (tmp_path / "note.txt").write_text("first\n")
    try:
        containers.build(tmp_path, tag)
        (tmp_path / "note.txt").write_text("second\n")
        log = containers.build(tmp_path, tag)
        assert "Using cache" in log, f"the RUN layer before the changed COPY should be cached:\n{log}"
        assert containers.engine("run", "--rm", tag).strip() == "second"
        assert containers.image_size(tag) > 10_000_000
        remote = f"{engine_env['LOCAL_REGISTRY']}/labkit-test:{tag.rsplit(':', 1)[1]}"
        containers.engine("push", *containers.registry_flags(), tag, remote)
        import urllib.request

        with urllib.request.urlopen(f"http://{engine_env['LOCAL_REGISTRY']}/v2/labkit-test/tags/list") as resp:
            assert tag.rsplit(":", 1)[1] in resp.read().decode()
    finally:
        containers.remove(tag)
    assert not containers.exists(tag)


def test_a_failing_command_raises_with_the_engine_message(engine_env):
    with pytest.raises(containers.EngineError, match="no-such-image"):
        containers.engine("image", "inspect", "localhost/no-such-image:0")


def test_the_python_image_has_the_pinned_ml_stack(engine_env):
    out = containers.engine(
        "run", "--rm", engine_env["PYTHON_IMAGE"], "python", "-c", "import sklearn; print(sklearn.__version__)"
    )
    pinned = next(
        line for line in Path("constraints.txt").read_text().splitlines() if line.startswith("scikit-learn==")
    )
    assert out.strip() == pinned.split("==")[1], (out, pinned)
