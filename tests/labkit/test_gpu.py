"""labkit.gpu: CDI specs, --gpus / CUDA_VISIBLE_DEVICES semantics, Dockerfile reading, benchmarks on CPU."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from labkit import gpu

DOCKERFILE = """\
# syntax=docker/dockerfile:1
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04
FROM ${CUDA_IMAGE}
ARG TORCH_VERSION=2.9.1
ENV NVIDIA_VISIBLE_DEVICES=all \\
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
RUN apt-get update \\
    && apt-get install -y --no-install-recommends python3 python3-pip \\
    && rm -rf /var/lib/apt/lists/*
RUN pip3 install --no-cache-dir --index-url https://download.pytorch.org/whl/cu128 "torch==${TORCH_VERSION}"
RUN useradd --create-home --uid 1000 ml
USER 1000
CMD ["python3", "-c", "import torch"]
"""


def test_generated_cdi_spec_is_valid_and_has_index_uuid_and_all_devices():
    spec = gpu.generate_cdi_spec(2)
    assert gpu.validate_cdi_spec(spec) == []
    names = [d["name"] for d in spec["devices"]]
    assert names[:2] == ["0", "1"] and names[-1] == "all" and len(names) == 5
    assert all(n.startswith("GPU-") for n in names[2:4])


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda s: s.update(kind="gpu"), "vendor/class"),
        (lambda s: s.update(cdiVersion="9.9"), "cdiVersion"),
        (lambda s: s["devices"].append(dict(s["devices"][0])), "duplicate"),
        (lambda s: s["devices"][0].update(containerEdits={}), "must not be empty"),
        (lambda s: s["containerEdits"]["env"].append("NOEQUALS"), "KEY=VALUE"),
        (lambda s: s["containerEdits"]["hooks"][0].update(hookName="later"), "hookName"),
        (lambda s: s["devices"][1]["containerEdits"]["deviceNodes"][0].update(path="dev/x"), "absolute"),
    ],
)
def test_validate_cdi_spec_rejects_broken_specs(mutate, fragment):
    spec = gpu.generate_cdi_spec(2)
    mutate(spec)
    errors = gpu.validate_cdi_spec(spec)
    assert any(fragment in e for e in errors), errors


def test_resolve_cdi_applies_spec_edits_once_plus_the_device():
    spec = gpu.generate_cdi_spec(2)
    edits = gpu.resolve_cdi(spec, ["nvidia.com/gpu=1"])
    assert "/dev/nvidia1" in edits["deviceNodes"] and "/dev/nvidia0" not in edits["deviceNodes"]
    assert "/dev/nvidiactl" in edits["deviceNodes"] and edits["env"] == ["NVIDIA_VISIBLE_DEVICES=void"]
    assert any(m.endswith("libcuda.so.550.54.15") for m in edits["mounts"])
    with pytest.raises(KeyError):
        gpu.resolve_cdi(spec, ["nvidia.com/gpu=2"])
    with pytest.raises(KeyError):
        gpu.resolve_cdi(spec, ["amd.com/gpu=0"])


def test_gpus_flag_follows_the_docker_cli():
    assert gpu.parse_gpus_flag("all").count == -1
    assert gpu.parse_gpus_flag("device=1").device_ids == ["1"]
    assert gpu.parse_gpus_flag('"device=0,1"').device_ids == ["0", "1"]
    assert gpu.parse_gpus_flag("capabilities=compute").capabilities == ["compute", "gpu"]
    with pytest.raises(ValueError, match="both Count and DeviceIDs"):
        gpu.parse_gpus_flag("device=0,1")  # unquoted: a CSV record of two fields
    with pytest.raises(ValueError):
        gpu.parse_gpus_flag("devices=1")
    assert gpu.gpus_exposed("1", 2) == [0]  # a COUNT of one, i.e. the first GPU
    assert gpu.gpus_exposed("device=1", 2) == [1]
    assert gpu.gpus_exposed(f"device={gpu.fake_uuid(1)[:12]}", 2) == [1]
    with pytest.raises(ValueError):
        gpu.gpus_exposed("device=2", 2)


def test_cuda_visible_devices_semantics():
    assert gpu.cuda_visible(None, 2) == [0, 1]
    assert gpu.cuda_visible("", 2) == []
    assert gpu.cuda_visible("1", 2) == [1]
    assert gpu.cuda_visible("1,0", 2) == [1, 0]
    assert gpu.cuda_visible("0,7,1", 2) == [0]  # stops at the first invalid entry
    assert gpu.cuda_visible("-1", 2) == []


def test_engine_gpu_devices_reads_gpus_and_cdi_flags():
    spec = gpu.generate_cdi_spec(2)
    assert gpu.engine_gpu_devices(["run", "--device", "nvidia.com/gpu=1", "img"], spec) == [1]
    assert gpu.engine_gpu_devices(["--device=nvidia.com/gpu=all"], spec) == [0, 1]
    assert gpu.engine_gpu_devices(["--gpus", "device=1"], spec) == [1]
    assert gpu.engine_gpu_devices(["--device", "/dev/fuse"], spec) == []


def test_dockerfile_stages_resolve_args_env_user_and_pip(tmp_path: Path):
    stage = gpu.dockerfile_stages(DOCKERFILE)[-1]
    assert stage.base == "nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04"
    assert stage.env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility" and stage.user == "1000"
    pips = [p for r in stage.runs for p in gpu.pip_installs(r)]
    assert pips == [{"specs": ["torch==2.9.1"], "indexes": ["https://download.pytorch.org/whl/cu128"]}]
    other = gpu.dockerfile_stages(DOCKERFILE, {"CUDA_IMAGE": "nvidia/cuda:12.6.3-runtime-ubuntu22.04"})
    assert other[-1].base.endswith("12.6.3-runtime-ubuntu22.04")
    with pytest.raises(ValueError):
        gpu.dockerfile_stages("RUN true\n")
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    assert [f for f in gpu.hadolint(tmp_path / "Dockerfile") if f["level"] == "error"] == []
    (tmp_path / "Bad").write_text("FROM nvidia/cuda:latest\nRUN pip install torch\n")
    assert {"DL3007", "DL3013"} <= {f["code"] for f in gpu.hadolint(tmp_path / "Bad")}


def test_gflops_counts_two_n_cubed():
    assert gpu.gflops(1000, 1.0) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        gpu.gflops(10, 0)


def test_benchmarks_run_on_cpu_and_are_consistent():
    pytest.importorskip("torch")
    report = gpu.device_report()
    assert report["device"] in ("cpu", "cuda")
    if report["device"] == "cpu":
        assert report["name"] is None and report["memory_bytes"] is None and report["capability"] is None
    mm = gpu.matmul_benchmark(64, reps=3, device="cpu", warmup=1)
    assert len(mm["times_s"]) == 3 and mm["median_s"] == statistics.median(mm["times_s"])
    assert mm["gflops"] == pytest.approx(2 * 64**3 / mm["median_s"] / 1e9)
    step = gpu.train_step_benchmark(device="cpu", batch=64, hidden=32, steps=3)
    assert step["loss_last"] < step["loss_first"] and step["samples_per_s"] > 0
