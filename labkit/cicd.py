"""Run a GitHub Actions workflow on this machine, the way `act` does, against the lab's services.

`run_workflow(path, repo)` reads the workflow YAML and runs it for one event:

- jobs run one after another in `needs:` order; a job whose needs did not succeed is skipped,
  `if:` conditions and `${{ ... }}` expressions (github, env, vars, secrets, steps, needs,
  success()/failure()/always(), ==, !=, &&, ||, !, contains/startsWith/endsWith) are evaluated;
- every `run:` step really runs: `bash --noprofile --norc -eo pipefail` in the repository, with
  GITHUB_OUTPUT / GITHUB_ENV / GITHUB_PATH / GITHUB_STEP_SUMMARY files like a hosted runner;
- each job gets a fresh, empty workspace, as on a hosted runner; six marketplace actions have
  local stand-ins (named in the log): actions/checkout (a `git clone` of the repository at the
  commit), actions/upload-artifact and actions/download-artifact (a folder per artifact name under
  the runner's state dir), actions/setup-python (this environment's Python), aws-actions/configure-aws-credentials
  (the lab's AWS endpoint and credentials; no OIDC here), aws-actions/amazon-ecr-login (a real
  `ecr:GetAuthorizationToken` call; output `registry`). Any other `uses:` fails the step.
- `docker` on the steps' PATH is `python -m labkit.cicd docker`: `build` uses podman when it works
  on this machine (and the FROM image is present), otherwise writes an OCI image layout in Python
  from the Containerfile's COPY/ENV/CMD lines; `login` checks an ECR token; `push` sends the image
  manifest to ECR with `ecr:PutImage` (moto implements ECR's API, not the registry's blob protocol,
  so layers stay local; a real `docker push` uploads them first).

Not supported (the run fails with a message): matrix strategies, containers/services, reusable
workflows, composite actions.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_STEP_TIMEOUT = 300.0
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class WorkflowError(ValueError):
    """The workflow uses something this runner cannot run (or is malformed)."""


# --------------------------------------------------------------------------- results


@dataclass
class StepResult:
    name: str
    outcome: str  # success | failure | skipped
    log: str = ""
    seconds: float = 0.0


@dataclass
class JobResult:
    name: str
    result: str  # success | failure | skipped
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class WorkflowRun:
    event: str
    ref: str
    sha: str
    triggered: bool
    jobs: dict[str, JobResult] = field(default_factory=dict)

    @property
    def conclusion(self) -> str:
        if not self.triggered:
            return "not-triggered"
        return "failure" if any(j.result == "failure" for j in self.jobs.values()) else "success"

    @property
    def order(self) -> list[str]:
        return list(self.jobs)

    def summary(self) -> str:
        lines = [f"{self.event} {self.ref} @ {self.sha[:7]}: {self.conclusion}"]
        for job in self.jobs.values():
            lines.append(f"  job {job.name}: {job.result}")
            for step in job.steps:
                lines.append(f"    {step.outcome:8s} {step.name} ({step.seconds:.1f} s)")
        return "\n".join(lines)

    def log(self, job: str | None = None) -> str:
        out = []
        for name, res in self.jobs.items():
            if job in (None, name):
                for step in res.steps:
                    out.append(f"--- {name} / {step.name}: {step.outcome}\n{step.log.rstrip()}")
        return "\n".join(out)


# --------------------------------------------------------------------------- expressions

_TOKEN = re.compile(
    r"\s*('(?:[^']|'')*'|\d+(?:\.\d+)?|==|!=|<=|>=|&&|\|\||[!<>(),]|[A-Za-z_][\w-]*(?:\.[\w*-]+|\[[^\]]+\])*)"
)
_FUNCS = {
    "contains": lambda a, b: (str(b).lower() in str(a).lower()) if not isinstance(a, list) else b in a,
    "startswith": lambda a, b: str(a).lower().startswith(str(b).lower()),
    "endswith": lambda a, b: str(a).lower().endswith(str(b).lower()),
    "format": lambda f, *a: re.sub(r"\{(\d+)\}", lambda m: str(a[int(m.group(1))]), f),
    "tojson": lambda a: json.dumps(a),
}
_STATUS = ("success", "failure", "always", "cancelled")


def _lookup(path: str, ctx: dict):
    parts = re.findall(r"[^.\[\]]+", path.replace("'", "").replace('"', ""))
    value = ctx
    for part in parts:
        if isinstance(value, dict):
            value = value.get(part, value.get(part.lower()))
        else:
            return None
        if value is None:
            return None
    return value


def evaluate(expr: str, ctx: dict, status: dict | None = None):
    """Evaluate one GitHub Actions expression (without the ${{ }})."""
    status = status or {"success": True, "failure": False, "always": True, "cancelled": False}
    pos, py, values = 0, [], {}
    tokens = []
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            if expr[pos:].strip() == "":
                break
            raise WorkflowError(f"cannot parse expression {expr!r} at {expr[pos:]!r}")
        tokens.append(m.group(1))
        pos = m.end()
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok.startswith("'"):
            py.append(repr(tok[1:-1].replace("''", "'")))
        elif re.fullmatch(r"\d+(?:\.\d+)?", tok):
            py.append(tok)
        elif tok in ("&&", "||"):
            py.append(" and " if tok == "&&" else " or ")
        elif tok == "!":
            py.append(" not ")
        elif tok in ("==", "!=", "<", ">", "<=", ">=", "(", ")", ","):
            py.append(f" {tok} ")
        elif nxt == "(":
            name = tok.lower()
            if name in _STATUS:
                values[f"_s_{name}"] = lambda v=status[name]: v
                py.append(f"_s_{name}")
            elif name in _FUNCS:
                values[f"_f_{name}"] = _FUNCS[name]
                py.append(f"_f_{name}")
            else:
                raise WorkflowError(f"function {tok}() is not supported by the local runner")
        elif tok in ("true", "false", "null"):
            py.append({"true": "True", "false": "False", "null": "None"}[tok])
        else:
            key = f"_v{len(values)}"
            values[key] = _lookup(tok, ctx)
            py.append(key)
    source = "".join(py)
    try:
        return eval(source, {"__builtins__": {}}, values)
    except Exception as exc:
        raise WorkflowError(f"cannot evaluate expression {expr!r}: {exc}") from None


def _as_str(value) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if not isinstance(value, (dict, list)) else json.dumps(value)


def interpolate(text, ctx: dict):
    """Replace every ${{ expr }} in `text` (strings only; other values pass through)."""
    if not isinstance(text, str):
        return text
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: _as_str(evaluate(m.group(1).strip(), ctx)), text, flags=re.S)


def _condition(cond, ctx: dict, status: dict) -> bool:
    if cond is None:
        return status["success"]
    if isinstance(cond, bool):
        return cond
    expr = str(cond).strip()
    if expr.startswith("${{") and expr.endswith("}}"):
        expr = expr[3:-2].strip()
    if not any(re.search(rf"\b{s}\s*\(", expr) for s in _STATUS):
        expr = f"success() && ({expr})"
    return bool(evaluate(expr, ctx, status))


# --------------------------------------------------------------------------- the runner


def _triggers(doc: dict) -> dict:
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as True
    if on is None:
        raise WorkflowError("the workflow has no `on:` trigger")
    if isinstance(on, str):
        return {on: {}}
    if isinstance(on, list):
        return {e: {} for e in on}
    return {k: (v or {}) for k, v in on.items()}


def _branch_match(patterns, branch: str) -> bool:
    import fnmatch

    return any(fnmatch.fnmatchcase(branch, p.replace("**", "*")) for p in patterns)


def triggered(doc: dict, event: str, ref: str) -> bool:
    trig = _triggers(doc)
    if event not in trig:
        return False
    spec = trig[event] or {}
    branch = ref.split("refs/heads/", 1)[-1]
    if event == "push" and ref.startswith("refs/heads/"):
        if "branches" in spec and not _branch_match(spec["branches"], branch):
            return False
        if "branches-ignore" in spec and _branch_match(spec["branches-ignore"], branch):
            return False
    return True


def job_order(jobs: dict) -> list[str]:
    """Jobs in `needs:` order (file order among independent jobs); errors on unknown needs or cycles."""
    needs = {}
    for name, job in jobs.items():
        n = (job or {}).get("needs", [])
        needs[name] = [n] if isinstance(n, str) else list(n)
        for dep in needs[name]:
            if dep not in jobs:
                raise WorkflowError(f"job {name!r} needs {dep!r}, which is not a job in this workflow")
    order, done = [], set()
    while len(order) < len(jobs):
        ready = [j for j in jobs if j not in done and all(d in done for d in needs[j])]
        if not ready:
            raise WorkflowError(f"the jobs' needs form a cycle: {sorted(set(jobs) - done)}")
        order.append(ready[0])
        done.add(ready[0])
    return order


def _parse_kv_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.exists():
        return out
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            body = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            out[key.strip()] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value
        i += 1
    return out


@dataclass
class Runner:
    repo: Path
    state: Path
    event: str
    ref: str
    sha: str
    vars: dict
    secrets: dict
    runner_env: dict
    aws: dict
    run_number: int

    def base_env(self) -> dict[str, str]:
        bin_dir = self.state / "bin"
        path = f"{bin_dir}:{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"
        env = {
            "PATH": path,
            "HOME": os.environ.get("HOME", str(self.state)),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_SHA": self.sha,
            "GITHUB_REF": self.ref,
            "GITHUB_REF_NAME": self.ref.rsplit("/", 1)[-1],
            "GITHUB_EVENT_NAME": self.event,
            "GITHUB_RUN_NUMBER": str(self.run_number),
            "RUNNER_TEMP": str(self.state / "tmp"),
            "LABKIT_CI_STATE": str(self.state),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        for key in ("TMPDIR", "DATA_DIR", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            if os.environ.get(key):
                env[key] = os.environ[key]
        return {**env, **{k: str(v) for k, v in self.runner_env.items()}}

    def context(self, env: dict, steps: dict, needs: dict) -> dict:
        return {
            "github": {
                "sha": self.sha,
                "ref": self.ref,
                "ref_name": self.ref.rsplit("/", 1)[-1],
                "event_name": self.event,
                "run_number": self.run_number,
                "workspace": str(self.repo),
                "repository": f"local/{self.repo.name}",
            },
            "env": env,
            "vars": self.vars,
            "secrets": self.secrets,
            "steps": steps,
            "needs": needs,
            "runner": {"os": "Linux", "temp": str(self.state / "tmp")},
        }

    # ---- steps

    def run_step(self, step: dict, env: dict, ctx: dict, workdir: Path, timeout: float) -> tuple[str, str, dict]:
        """Returns (outcome, log, outputs); updates `env` with GITHUB_ENV exports."""
        if "uses" in step:
            return self.use_action(step, env, ctx)
        script = interpolate(step["run"], ctx)
        if not workdir.is_dir():
            return "failure", f"working directory {workdir} does not exist (did the job check out the code?)", {}
        shell = step.get("shell", "bash")
        if shell not in ("bash", "sh"):
            raise WorkflowError(f"shell {shell!r} is not supported by the local runner (bash, sh)")
        files = {}
        tmp = self.state / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"):
            files[name] = tmp / f"{name.lower()}-{time.monotonic_ns()}"
            files[name].write_text("")
        script_file = tmp / f"step-{time.monotonic_ns()}.sh"
        script_file.write_text(script)
        argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)]
        if shell == "sh":
            argv = ["sh", "-e", str(script_file)]
        step_env = {**env, **{k: str(v) for k, v in files.items()}}
        try:
            proc = subprocess.run(
                argv,
                cwd=workdir,
                env=step_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
            )
            log, rc = proc.stdout, proc.returncode
        except subprocess.TimeoutExpired as exc:
            log, rc = (exc.stdout or b"").decode(errors="replace") + f"\n[timed out after {timeout:.0f} s]", 124
        if rc != 0:
            log += f"\n[exit code {rc}]"
        env.update(_parse_kv_file(files["GITHUB_ENV"]))
        extra_path = [p for p in files["GITHUB_PATH"].read_text().splitlines() if p.strip()]
        if extra_path:
            env["PATH"] = ":".join([*reversed(extra_path), env["PATH"]])
        return ("success" if rc == 0 else "failure"), log, _parse_kv_file(files["GITHUB_OUTPUT"])

    def use_action(self, step: dict, env: dict, ctx: dict) -> tuple[str, str, dict]:
        uses = step["uses"]
        action = uses.split("@", 1)[0].lower()
        inputs = {k: interpolate(v, ctx) for k, v in (step.get("with") or {}).items()}
        ws = Path(env["GITHUB_WORKSPACE"])
        if action == "actions/checkout":
            subprocess.run(["git", "clone", "--quiet", str(self.repo), str(ws)], check=True, capture_output=True)
            subprocess.run(["git", "checkout", "--quiet", self.sha], cwd=ws, check=True, capture_output=True)
            return "success", f"[local stand-in for {uses}] cloned {self.repo} at {self.sha[:7]}", {}
        if action in ("actions/upload-artifact", "actions/download-artifact"):
            name = inputs.get("name") or "artifact"
            store = self.state / "artifacts" / self.sha[:12] / name
            if action == "actions/upload-artifact":
                paths = [p.strip() for p in str(inputs.get("path", "")).splitlines() if p.strip()]
                if not paths:
                    return "failure", "upload-artifact: `path` is required", {}
                for rel in paths:
                    src = ws / rel
                    if not src.exists():
                        return "failure", f"upload-artifact: no files were found with the provided path: {rel}", {}
                    dst = store / rel
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    (shutil.copytree(src, dst, dirs_exist_ok=True) if src.is_dir() else shutil.copy2(src, dst))
                return "success", f"[local stand-in for {uses}] stored {paths} as artifact {name!r}", {}
            if not store.exists():
                return "failure", f"download-artifact: Artifact not found for name: {name}", {}
            target = ws / inputs.get("path", ".")
            shutil.copytree(store, target, dirs_exist_ok=True)
            return "success", f"[local stand-in for {uses}] artifact {name!r} -> {target}", {}
        if action == "actions/setup-python":
            return (
                "success",
                f"[local stand-in for {uses}] python {sys.version.split()[0]} from {Path(sys.executable).parent}",
                {"python-version": sys.version.split()[0]},
            )
        if action == "aws-actions/configure-aws-credentials":
            region = inputs.get("aws-region") or self.aws.get("AWS_DEFAULT_REGION", "us-east-1")
            env.update({k: v for k, v in self.aws.items() if v})
            env["AWS_DEFAULT_REGION"] = env["AWS_REGION"] = region
            role = inputs.get("role-to-assume")
            note = f" (role-to-assume {role} needs GitHub's OIDC token: the lab's credentials stand in)" if role else ""
            return "success", f"[local stand-in for {uses}] AWS endpoint {self.aws.get('AWS_ENDPOINT_URL')}{note}", {}
        if action == "aws-actions/amazon-ecr-login":
            if not env.get("AWS_ACCESS_KEY_ID"):
                return "failure", "Credentials could not be loaded: run aws-actions/configure-aws-credentials first", {}
            registry, user, password = ecr_login(env)
            _save_auth(self.state, registry, user, password)
            return "success", f"[local stand-in for {uses}] logged in to {registry}", {"registry": registry}
        raise WorkflowError(f"`uses: {uses}` has no local stand-in in labkit.cicd (use a `run:` step)")

    # ---- jobs

    def run_job(self, name: str, job: dict, wf_env: dict, needs_ctx: dict, defaults: dict) -> JobResult:
        if "strategy" in job or "container" in job or "services" in job or "uses" in job:
            raise WorkflowError(f"job {name!r}: matrix/container/services/reusable workflows are not supported here")
        workspace = self.state / "work" / name
        shutil.rmtree(workspace, ignore_errors=True)
        workspace.mkdir(parents=True)
        env = {**self.base_env(), **wf_env, "GITHUB_WORKSPACE": str(workspace)}
        ctx = self.context(env, {}, needs_ctx)
        ctx["github"]["workspace"] = str(workspace)
        env.update({k: _as_str(interpolate(v, ctx)) for k, v in (job.get("env") or {}).items()})
        steps_ctx: dict = {}
        result = JobResult(name, "success")
        run_defaults = {**(defaults.get("run") or {}), **((job.get("defaults") or {}).get("run") or {})}
        job_timeout = float(job.get("timeout-minutes", 30)) * 60
        failed = False
        for step in job.get("steps") or []:
            sname = step.get("name") or step.get("uses") or (step.get("run", "").strip().splitlines() or ["run"])[0]
            if "run" not in step and "uses" not in step:
                raise WorkflowError(f"job {name!r} step {sname!r} has neither `run:` nor `uses:`")
            ctx = self.context(env, steps_ctx, needs_ctx)
            status = {"success": not failed, "failure": failed, "always": True, "cancelled": False}
            step_env = dict(env)
            step_env.update({k: _as_str(interpolate(v, ctx)) for k, v in (step.get("env") or {}).items()})
            ctx = self.context(step_env, steps_ctx, needs_ctx)
            ctx["github"]["workspace"] = str(workspace)
            if not _condition(step.get("if"), ctx, status):
                result.steps.append(StepResult(sname, "skipped"))
                if step.get("id"):
                    steps_ctx[step["id"]] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
                continue
            wd = step.get("working-directory", run_defaults.get("working-directory", "."))
            timeout = min(float(step.get("timeout-minutes", job_timeout / 60)) * 60, DEFAULT_STEP_TIMEOUT)
            started = time.monotonic()
            outcome, log, outputs = self.run_step(step, step_env, ctx, workspace / interpolate(wd, ctx), timeout)
            for key in list(step_env):  # GITHUB_ENV exports and PATH changes persist for later steps
                if step_env[key] != env.get(key) and key not in (step.get("env") or {}):
                    env[key] = step_env[key]
            result.steps.append(StepResult(sname, outcome, log, time.monotonic() - started))
            if step.get("id"):
                steps_ctx[step["id"]] = {"outputs": outputs, "outcome": outcome, "conclusion": outcome}
            if outcome == "failure" and not step.get("continue-on-error"):
                failed = True
        result.result = "failure" if failed else "success"
        ctx = self.context(env, steps_ctx, needs_ctx)
        result.outputs = {k: _as_str(interpolate(v, ctx)) for k, v in (job.get("outputs") or {}).items()}
        return result


def run_workflow(
    workflow: Path | str,
    repo: Path | str,
    *,
    event: str = "push",
    ref: str = "refs/heads/main",
    vars: dict | None = None,
    secrets: dict | None = None,
    runner_env: dict | None = None,
    state: Path | str | None = None,
    run_number: int = 1,
) -> WorkflowRun:
    """Run the workflow file for `event` on `ref` at the repository's HEAD; returns the jobs' results."""
    repo = Path(repo).resolve()
    doc = yaml.safe_load(Path(workflow).read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), dict) or not doc["jobs"]:
        raise WorkflowError("the workflow needs a `jobs:` mapping with at least one job")
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    state = Path(state or repo.parent / "ci-runner").resolve()
    (state / "bin").mkdir(parents=True, exist_ok=True)
    _write_docker_shim(state / "bin" / "docker")
    aws = {
        k: os.environ.get(k, "")
        for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    }
    runner = Runner(repo, state, event, ref, sha, vars or {}, secrets or {}, runner_env or {}, aws, run_number)
    run = WorkflowRun(event, ref, sha, triggered(doc, event, ref))
    if not run.triggered:
        return run
    order = job_order(doc["jobs"])
    wf_ctx = runner.context({}, {}, {})
    wf_env = {k: _as_str(interpolate(v, wf_ctx)) for k, v in (doc.get("env") or {}).items()}
    for name in order:
        job = doc["jobs"][name] or {}
        need_list = job.get("needs", [])
        need_list = [need_list] if isinstance(need_list, str) else list(need_list)
        needs_ctx = {n: {"result": run.jobs[n].result, "outputs": run.jobs[n].outputs} for n in need_list}
        deps_ok = all(run.jobs[n].result == "success" for n in need_list)
        status = {"success": deps_ok, "failure": not deps_ok, "always": True, "cancelled": False}
        ctx = runner.context({**runner.base_env(), **wf_env}, {}, needs_ctx)
        if not _condition(job.get("if"), ctx, status):
            run.jobs[name] = JobResult(name, "skipped")
            continue
        run.jobs[name] = runner.run_job(name, job, wf_env, needs_ctx, doc.get("defaults") or {})
    return run


# --------------------------------------------------------------------------- actionlint


def find_actionlint() -> str | None:
    """actionlint on PATH, $ACTIONLINT, or where scripts/install-infra-tools.sh puts it."""
    candidates = [os.environ.get("ACTIONLINT", ""), shutil.which("actionlint") or ""]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    tools = os.environ.get("INFRA_TOOLS_DIR", str(cache / "mlops-course-labs" / "infra-tools"))
    candidates += [str(Path(tools) / "bin" / "actionlint"), "/root/.cache/mlops-course-labs/infra-tools/bin/actionlint"]
    for c in candidates:
        try:
            if c and os.access(c, os.X_OK):
                return c
        except OSError:
            continue
    return None


def actionlint(path: Path | str) -> tuple[int | None, str]:
    """(exit code, output) of actionlint on `path`; (None, why) when actionlint is not installed."""
    binary = find_actionlint()
    if binary is None:
        return None, "actionlint is not installed here (scripts/install-infra-tools.sh installs it)"
    proc = subprocess.run(
        [binary, "-no-color", str(path)], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    return proc.returncode, (proc.stdout + proc.stderr).strip()


# --------------------------------------------------------------------------- ECR


def _ecr(env: dict | None = None):
    import boto3

    env = env or os.environ
    return boto3.client(
        "ecr",
        endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        region_name=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
    )


def ecr_login(env: dict | None = None) -> tuple[str, str, str]:
    """(registry host, user, password) from ecr:GetAuthorizationToken, as `docker login` would use them."""
    data = _ecr(env).get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    return data["proxyEndpoint"].split("://", 1)[-1].rstrip("/"), user, password


def _save_auth(state: Path, registry: str, user: str, password: str) -> None:
    path = state / "auth.json"
    auths = json.loads(path.read_text()) if path.exists() else {}
    auths[registry] = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps(auths))


# --------------------------------------------------------------------------- images


def _write_docker_shim(path: Path) -> None:
    path.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m labkit.cicd docker "$@"\n')
    path.chmod(0o755)


def parse_containerfile(text: str) -> list[tuple[str, str]]:
    lines, buf = [], ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        inst, _, rest = buf.strip().partition(" ")
        lines.append((inst.upper(), rest.strip()))
        buf = ""
    return lines


def _json_or_shell(value: str) -> list[str]:
    value = value.strip()
    return json.loads(value) if value.startswith("[") else ["/bin/sh", "-c", value]


def _blob(layout: Path, data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    target = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def build_oci_layout(context: Path, containerfile: Path, tag: str, layout: Path, build_args: dict) -> dict:
    """Build an image as an OCI layout in Python: one reproducible layer per COPY, config from ENV/CMD/...

    RUN cannot execute without a container engine, so it is refused. The FROM image is recorded as
    the base annotation; its layers are not included (no engine, no base image to read them from).
    """
    instructions = parse_containerfile(containerfile.read_text())
    config = {"Env": [], "Labels": {}, "WorkingDir": "/"}
    layers, diff_ids, history, base = [], [], [], "scratch"
    args = dict(build_args)
    shutil.rmtree(layout, ignore_errors=True)
    layout.mkdir(parents=True)

    def subst(s: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), s)

    for inst, rest in instructions:
        if inst == "FROM":
            base = rest.split()[0]
        elif inst == "ARG":
            key, _, default = rest.partition("=")
            args.setdefault(key.strip(), default.strip())
        elif inst in ("COPY", "ADD"):
            parts = [p for p in shlex.split(rest) if not p.startswith("--")]
            *sources, dest = parts
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for src in sources:
                    src_path = (context / src).resolve()
                    if not src_path.exists():
                        raise FileNotFoundError(f"COPY {src}: not found in the build context {context}")
                    files = [src_path] if src_path.is_file() else sorted(p for p in src_path.rglob("*") if p.is_file())
                    for f in files:
                        if dest.endswith("/") or len(sources) > 1 or src_path.is_dir():
                            rel = f.name if src_path.is_file() else str(f.relative_to(src_path))
                            name = str(Path(dest.lstrip("/")) / rel)
                        else:
                            name = dest.lstrip("/")
                        info = tarfile.TarInfo(name)
                        data = f.read_bytes()
                        info.size, info.mode, info.mtime = len(data), 0o644 | (f.stat().st_mode & 0o111), 0
                        tar.addfile(info, io.BytesIO(data))
            raw = buf.getvalue()
            gz = gzip.compress(raw, mtime=0)
            layers.append({"mediaType": OCI_LAYER, **_blob(layout, gz)})
            diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
            history.append({"created_by": f"{inst} {rest}"})
        elif inst == "ENV":
            key, _, value = rest.partition("=") if "=" in rest else rest.partition(" ")
            config["Env"].append(f"{key.strip()}={subst(value.strip().strip(chr(34)))}")
        elif inst == "LABEL":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                config["Labels"][key] = subst(value)
        elif inst == "WORKDIR":
            config["WorkingDir"] = rest
        elif inst in ("CMD", "ENTRYPOINT"):
            config["Cmd" if inst == "CMD" else "Entrypoint"] = _json_or_shell(rest)
        elif inst == "EXPOSE":
            config.setdefault("ExposedPorts", {}).update({f"{p}/tcp" if "/" not in p else p: {} for p in rest.split()})
        elif inst in ("USER", "HEALTHCHECK", "STOPSIGNAL", "SHELL", "VOLUME"):
            config[inst.title()] = rest
        else:
            raise WorkflowError(f"{inst} needs a container engine (podman is not usable here): {inst} {rest}")
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    cfg = _blob(layout, json.dumps(image_config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **cfg},
        "layers": layers,
        "annotations": {"org.opencontainers.image.base.name": base, "org.opencontainers.image.ref.name": tag},
    }
    data = json.dumps(manifest, sort_keys=True).encode()
    man = _blob(layout, data)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [{"mediaType": OCI_MANIFEST, **man, "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }
    (layout / "index.json").write_text(json.dumps(index))
    return {
        "manifest": data.decode(),
        "media_type": OCI_MANIFEST,
        "digest": man["digest"],
        "engine": "oci-layout (python)",
    }


def _podman_env() -> dict:
    env = dict(os.environ)
    if "CONTAINERS_CONF" not in env:
        conf = Path.home() / ".cache" / "mlops-labs" / "containers" / "containers.conf"
        if conf.exists():
            env["CONTAINERS_CONF"] = str(conf)
    return env


def podman_usable(base: str) -> bool:
    """podman runs here and already has the FROM image (there is no registry to pull from)."""
    if shutil.which("podman") is None or shutil.which("skopeo") is None:
        return False
    if base == "scratch":
        return True
    try:
        proc = subprocess.run(["podman", "image", "exists", base], env=_podman_env(), capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def build_podman(context: Path, containerfile: Path, tag: str, build_args: dict) -> dict:
    local = "localhost/labkit-ci/" + tag.split("/", 1)[-1]
    argv = ["podman", "build", "--quiet", "-t", local, "-f", str(containerfile)]
    for k, v in build_args.items():
        argv += ["--build-arg", f"{k}={v}"]
    subprocess.run([*argv, str(context)], env=_podman_env(), check=True, capture_output=True, timeout=600)
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", f"containers-storage:{local}"],
        env=_podman_env(),
        check=True,
        capture_output=True,
        timeout=120,
    ).stdout
    media = json.loads(raw).get("mediaType", OCI_MANIFEST)
    return {
        "manifest": raw.decode(),
        "media_type": media,
        "digest": "sha256:" + hashlib.sha256(raw).hexdigest(),
        "engine": f"podman ({local})",
    }


def _images_file(state: Path) -> Path:
    return state / "images.json"


def local_images(state: Path | str) -> dict:
    """The images the `docker` stand-in built or tagged: {ref: {manifest, media_type, digest, engine}}."""
    path = _images_file(Path(state))
    return json.loads(path.read_text()) if path.exists() else {}


def remove_local_images(state: Path | str) -> list[str]:
    """Remove what the `docker` stand-in built: podman images it tagged, and the OCI layouts."""
    removed = []
    for img in local_images(state).values():
        m = re.match(r"podman \((\S+)\)", img.get("engine", ""))
        if m and shutil.which("podman"):
            subprocess.run(["podman", "rmi", "-f", m.group(1)], env=_podman_env(), capture_output=True, timeout=120)
            removed.append(m.group(1))
    shutil.rmtree(Path(state) / "oci", ignore_errors=True)
    return removed


def _docker(argv: list[str]) -> int:
    state = Path(os.environ.get("LABKIT_CI_STATE", ".ci-runner"))
    images = local_images(state)
    if not argv:
        print("usage: docker build|tag|login|push|images", file=sys.stderr)
        return 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "build":
        tags, file, build_args, context = [], None, {}, None
        it = iter(rest)
        for a in it:
            if a in ("-t", "--tag"):
                tags.append(next(it))
            elif a.startswith("--tag="):
                tags.append(a.split("=", 1)[1])
            elif a in ("-f", "--file"):
                file = next(it)
            elif a == "--build-arg":
                k, _, v = next(it).partition("=")
                build_args[k] = v
            elif a in ("-q", "--quiet", "--pull=false", "--no-cache"):
                continue
            elif a.startswith("-"):
                print(f"docker build: option {a} is not supported by the local stand-in", file=sys.stderr)
                return 2
            else:
                context = Path(a)
        if context is None or not tags:
            print("docker build: need -t TAG and a build context", file=sys.stderr)
            return 2
        containerfile = (
            Path(file)
            if file
            else next(
                (context / n for n in ("Dockerfile", "Containerfile") if (context / n).exists()), context / "Dockerfile"
            )
        )
        if not containerfile.exists():
            print(f"docker build: no Dockerfile/Containerfile in {context}", file=sys.stderr)
            return 1
        base = next((r.split()[0] for i, r in parse_containerfile(containerfile.read_text()) if i == "FROM"), "scratch")
        if podman_usable(base):
            built = build_podman(context, containerfile, tags[0], build_args)
        else:
            safe = re.sub(r"[^\w.-]+", "_", tags[0])
            built = build_oci_layout(context, containerfile, tags[0], state / "oci" / safe, build_args)
            print(f"podman is not usable here (or lacks {base}): built an OCI layout with the COPY layers only")
        for t in tags:
            images[t] = built
        _images_file(state).write_text(json.dumps(images, indent=1))
        print(f"built {', '.join(tags)} with {built['engine']}: manifest {built['digest']}")
        return 0
    if cmd == "tag":
        src, dst = rest
        if src not in images:
            print(f"Error: No such image: {src}", file=sys.stderr)
            return 1
        images[dst] = images[src]
        _images_file(state).write_text(json.dumps(images, indent=1))
        return 0
    if cmd == "images":
        for ref, img in images.items():
            print(ref, img["digest"], img["engine"])
        return 0
    if cmd == "login":
        user, registry, stdin_pw = "AWS", None, False
        it = iter(rest)
        for a in it:
            if a in ("-u", "--username"):
                user = next(it)
            elif a == "--password-stdin":
                stdin_pw = True
            elif not a.startswith("-"):
                registry = a
        password = sys.stdin.read().strip() if stdin_pw else ""
        expected_host, expected_user, expected_pw = ecr_login()
        if registry != expected_host or user != expected_user or password != expected_pw:
            print(f"Error response from daemon: login to {registry} denied (not a valid ECR token)", file=sys.stderr)
            return 1
        _save_auth(state, registry, user, password)
        print("Login Succeeded")
        return 0
    if cmd == "push":
        refs = [a for a in rest if not a.startswith("-")]
        if len(refs) != 1:
            print("docker push: give exactly one image reference", file=sys.stderr)
            return 2
        ref = refs[0]
        if ref not in images:
            print(f"An image does not exist locally with the tag: {ref}", file=sys.stderr)
            return 1
        host, _, path = ref.partition("/")
        repo, _, tag = path.rpartition(":")
        if not tag or "/" in tag or not repo:
            print(f"docker push: {ref} is not REGISTRY/REPOSITORY:TAG", file=sys.stderr)
            return 1
        auth_file = state / "auth.json"
        auths = json.loads(auth_file.read_text()) if auth_file.exists() else {}
        if host not in auths:
            print(f"no basic auth credentials (not logged in to {host}: use amazon-ecr-login)", file=sys.stderr)
            return 1
        img = images[ref]
        ecr = _ecr()
        try:
            out = ecr.put_image(
                repositoryName=repo,
                imageManifest=img["manifest"],
                imageManifestMediaType=img["media_type"],
                imageTag=tag,
                imageDigest=img["digest"],
            )
        except Exception as exc:
            print(f"push failed: {exc}", file=sys.stderr)
            return 1
        digest = out["image"]["imageId"]["imageDigest"]
        print(f"{tag}: digest: {digest} size: {len(img['manifest'])} (manifest to ECR; layers stay local on moto)")
        return 0
    print(f"docker {cmd}: not supported by the local stand-in (build, tag, login, push, images)", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["docker"]:
        return _docker(argv[1:])
    print("usage: python -m labkit.cicd docker ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
