"""`labs up/status/down` as plain functions: they print with rich and return data.

Provider order per service: external (endpoint variable already set) → native
→ container (when a Docker engine answers) → an error naming what to install.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

from rich.console import Console
from rich.table import Table

from autograder.services import registry, state
from autograder.services.base import (
    HOST,
    MissingDependency,
    Running,
    Service,
    ServiceDied,
    ServiceError,
    log_path,
)

console = Console()


# --------------------------------------------------------------------------- public API


def up(services: Iterable[str], *, quiet: bool = False, lock_wait: float = 120.0) -> dict[str, str]:
    """Start the union of services (reusing healthy ones); returns the env vars of all running services."""
    names = registry.closure(list(services))
    with state.locked(lock_wait):
        running = _clean_stale(state.load_state(), quiet)
        todo = [n for n in names if n not in running]
        timings: dict[str, float] = {}
        errors: dict[str, BaseException] = {}
        if todo:
            _start_all(todo, running, timings, errors, quiet)
        env = state.write_endpoints(running)
    if not quiet:
        _print_table([_status_row(n, r) for n, r in running.items()], timings)
    if errors:
        first = next(iter(errors.values()))
        if len(errors) == 1 and isinstance(first, ServiceError):
            raise first
        msg = "; ".join(f"{n}: {e}" for n, e in errors.items())
        missing = all(isinstance(e, MissingDependency) for e in errors.values())
        raise (MissingDependency if missing else ServiceError)(msg)
    return env


def ensure(services: Iterable[str]) -> dict[str, str]:
    """For the grader: up() without output; returns the env vars to inject into kernels."""
    return up(services, quiet=True)


def status(*, quiet: bool = False) -> list[dict[str, object]]:
    rows = [_status_row(n, r) for n, r in state.load_state().items()]
    if not quiet:
        if rows:
            _print_table(rows, {})
        else:
            console.print("no lab services are running (start them with `labs up`)")
    return rows


def down(services: Iterable[str] | None = None, *, quiet: bool = False) -> None:
    """Stop services (all by default) and their process groups; a no-op when nothing runs."""
    with state.locked():
        running = state.load_state()
        targets = list(running) if services is None else [n for n in services if n in running]
        # Dependents first: mlflow before the aws/postgres it writes to.
        for name in reversed(_dependency_order(running, targets)):
            _stop(name, running.pop(name))
            if not quiet:
                console.print(f"stopped {name}")
        state.save_state(running)
        state.write_endpoints(running)
    if not targets and not quiet:
        console.print("nothing to stop: no lab services are running")


def load_endpoints() -> dict[str, str]:
    return state.load_endpoints()


def check_alive(name: str) -> Running:
    """Raise ServiceDied (with the log path) unless `name` is recorded, running and answering."""
    run = state.load_state().get(name)
    if run is None:
        raise ServiceDied(name, log_path(name), "it was never started (run `labs up`)")
    svc = registry.get(name)
    if not svc.alive(run):
        raise ServiceDied(name, run.log, "its process exited")
    if not svc.healthy(run):
        raise ServiceDied(name, run.log, f"it does not answer on {run.endpoint}")
    return run


def reset(name: str, lab: str) -> dict[str, str]:
    """Clean per-lab namespace in a running service; returns env vars that name it."""
    run = check_alive(name)
    return registry.get(name).reset(run, lab)


# --------------------------------------------------------------------------- internals


def _start_all(
    todo: list[str],
    running: dict[str, Running],
    timings: dict[str, float],
    errors: dict[str, BaseException],
    quiet: bool,
) -> None:
    """Start services concurrently; each waits only for its own dependencies."""
    futures: dict[str, Future[Running]] = {}
    t0 = time.monotonic()

    def task(name: str) -> Running:
        svc = registry.get(name)
        deps: dict[str, Running] = {}
        for dep in svc.dependencies():
            deps[dep] = running[dep] if dep in running else futures[dep].result()
        run = _provide(svc, deps)
        timings[name] = time.monotonic() - t0
        run.extra["ready_s"] = round(timings[name], 2)  # since this `up` began (includes dependencies)
        return run

    with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
        # todo is dependency-ordered, so a dependency's future exists before its dependents run.
        for name in todo:
            futures[name] = pool.submit(task, name)
        interrupted: KeyboardInterrupt | None = None
        for name in todo:
            while True:
                try:
                    running[name] = futures[name].result()
                    state.save_state(running)  # recorded at once: a crash later still leaves it stoppable
                    if not quiet:
                        console.print(f"[green]ready[/] {name} in {timings[name]:.1f} s")
                except KeyboardInterrupt as e:
                    # Threads can't be interrupted: let them finish so every started process is
                    # recorded (and stoppable with `labs down`), then re-raise.
                    interrupted = e
                    continue
                except Exception as e:
                    errors[name] = e
                    if not quiet:
                        console.print(f"[red]failed[/] {name}: {e}")
                break
        if interrupted is not None:
            raise interrupted


def _provide(svc: Service, deps: Mapping[str, Running]) -> Running:
    external = os.environ.get(svc.endpoint_var)
    if external and external not in _our_values():
        return Running(svc.name, "external", external, svc.external_exports(external))
    try:
        return _start_native(svc, deps)
    except MissingDependency as native_error:
        try:
            container = _start_container(svc)
        except Exception as container_error:  # the fallback failing must not hide what to install
            raise MissingDependency(
                f"{svc.name}: {native_error} (the container fallback failed too: {container_error})"
            ) from container_error
        if container is None:
            raise MissingDependency(
                f"{svc.name}: {native_error} (no Docker engine answers either, so no container fallback)"
            ) from None
        return container


def _start_native(svc: Service, deps: Mapping[str, Running], attempts: int = 2) -> Running:
    for attempt in range(attempts):
        run = svc.start_native(deps)
        try:
            svc.wait_ready(run)
            svc.after_ready(run)
            return run
        except ServiceError:
            svc.stop(run)
            log = log_path(svc.name)
            # Lost a race for the free port we picked: pick again once.
            raced = log.exists() and "address already in use" in log.read_text(errors="replace").lower()
            if not raced or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _start_container(svc: Service) -> Running | None:
    try:
        from autograder.services import containers  # written by the container helper
    except ImportError:
        return None
    spec = svc.container_spec()
    if spec is None or not containers.docker_available():
        return None
    cname = f"labs-{svc.name}"
    image = spec.image
    with contextlib.suppress(Exception):  # docker/compose.yaml pins the tags: one source of truth
        image = containers.compose_images().get(svc.name, image)
    handle = containers.start_container(
        name=cname,
        image=image,
        ports=spec.ports,
        env=spec.env,
        command=spec.command,
        ready_log=spec.ready_log,
    )
    exports = svc.container_exports(handle.host_port)
    endpoint = next(iter(exports.values()))
    run = Running(svc.name, "container", endpoint, exports, log=str(log_path(svc.name)), extra={"container": cname})
    svc.wait_ready(run)
    return run


def _clean_stale(running: dict[str, Running], quiet: bool) -> dict[str, Running]:
    """Drop records whose processes died (or whose pid got reused) or that stopped answering."""
    fresh: dict[str, Running] = {}
    for name, run in running.items():
        try:
            svc = registry.get(name)
        except ServiceError:
            continue
        if run.provider == "external" or svc.healthy(run):
            fresh[name] = run
            continue
        if not quiet:
            console.print(f"[yellow]stale[/] {name}: recorded process gone or not answering; cleaning up")
        _stop(name, run)
    if fresh != running:
        state.save_state(fresh)
    return fresh


def _stop(name: str, run: Running) -> None:
    if run.provider == "external":
        return
    with contextlib.suppress(ServiceError):
        registry.get(name).stop(run)


def _dependency_order(running: Mapping[str, Running], targets: list[str]) -> list[str]:
    order = registry.closure([n for n in running if n in registry.MODULES])
    return [n for n in order if n in targets] + [n for n in targets if n not in order]


def _our_values() -> set[str]:
    """Endpoint values we wrote ourselves (a kernel that sourced endpoints.env is not 'external')."""
    vals = set(state.load_endpoints().values())
    for run in state.load_state().values():
        if run.provider != "external":
            vals.update(run.exports.values())
    return vals


def _status_row(name: str, run: Running) -> dict[str, object]:
    try:
        svc = registry.get(name)
        healthy = svc.healthy(run)
    except ServiceError:
        healthy = False
    return {
        "name": name,
        "provider": run.provider,
        "endpoint": run.endpoint,
        "pid": run.procs[0].pid if run.procs else None,
        "healthy": healthy,
        "rss_mb": round(run.rss_mb(), 1),
        "log": run.log,
        "ports": run.ports,
        "started_at": run.started_at,
    }


def _print_table(rows: list[dict[str, object]], timings: Mapping[str, float]) -> None:
    table = Table(title=f"lab services (all on {HOST})")
    for col in ("service", "provider", "endpoint", "pid", "healthy", "RSS MB", "ready s", "log"):
        table.add_column(col)
    for r in rows:
        t = timings.get(str(r["name"]))
        table.add_row(
            str(r["name"]),
            str(r["provider"]),
            str(r["endpoint"]),
            str(r["pid"] or "-"),
            "[green]yes[/]" if r["healthy"] else "[red]no[/]",
            f"{r['rss_mb']:.0f}",
            f"{t:.1f}" if t is not None else "-",
            str(r["log"] or "-"),
        )
    console.print(table)
    console.print(f"endpoints: {state.endpoints_file()}")
