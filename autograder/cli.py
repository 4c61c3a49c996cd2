"""The `labs` command: list, build, run, check, grade, progress, services, data, doctor, bundle."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from autograder import catalog
from autograder.grading.autograde import Limits
from autograder.grading.outcomes import Status, SubmissionResult

app = typer.Typer(help="MLOps with Cloud, Season 2: labs, services and grading.", no_args_is_help=True)
data_app = typer.Typer(help="Course datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console()
err = Console(stderr=True)

STATUS_STYLE = {"graded": "green", "timeout": "yellow", "crashed": "red", "invalid": "magenta", "error": "red"}


def _module(ref: str) -> catalog.Module:
    try:
        return catalog.find(ref)
    except catalog.UnknownLab as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


def _result_table(result: SubmissionResult) -> Table:
    table = Table(title=f"{result.lab} ({result.student})")
    table.add_column("exercise")
    table.add_column("score", justify="right")
    table.add_column("message")
    for ex in result.exercises:
        style = "green" if ex.passed else "red"
        table.add_row(ex.title, f"[{style}]{ex.score:g}/{ex.max_score:g}[/{style}]", ex.message)
    style = STATUS_STYLE.get(str(result.status), "white")
    table.caption = f"[{style}]{result.status}[/{style}]  total {result.score:g}/{result.max_score:g}"
    return table


@app.command("list")
def list_labs(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False):
    """All 128 modules with their lab id, status and services."""
    modules = catalog.modules()
    if as_json:
        print(json.dumps([m.summary() for m in modules], indent=1))
        return
    table = Table(title="MLOps with Cloud, Season 2")
    for col in ("#", "lab", "title", "status", "tier", "services"):
        table.add_column(col)
    for m in modules:
        status = f"[green]{m.status}[/green]" if m.done else m.status
        table.add_row(str(m.number), m.lab, m.title, status, m.tier, ", ".join(m.services))
    console.print(table)


@app.command()
def build(
    labs: Annotated[list[str] | None, typer.Argument(help="Labs to build (default: all with a source).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Fail if labs/ is out of sync; write nothing.")] = False,
):
    """Generate labs/<lab>.ipynb from solutions/<lab>.py (nbgrader generate_assignment)."""
    from autograder.authoring import LabSourceError
    from autograder.build import LabSource, all_lab_sources, build_labs, orphan_notebooks

    sources = [LabSource.for_lab(_module(ref).lab) for ref in labs] if labs else all_lab_sources()
    try:
        problems = build_labs(sources, check=check)
    except (LabSourceError, FileNotFoundError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    if not labs:
        problems += [f"{p}: no source in solutions/ generates it" for p in orphan_notebooks(sources)]
    for problem in problems:
        err.print(f"[red]{problem}[/red]")
    if problems:
        raise typer.Exit(1)
    console.print(f"{len(sources)} lab(s) {'in sync' if check else 'built'}")


def _limits(cell_timeout: int, wall_limit: float) -> Limits:
    return Limits(cell_timeout=cell_timeout, wall_limit=wall_limit)


CellTimeout = Annotated[int, typer.Option(help="Seconds one cell may run.")]
WallLimit = Annotated[float, typer.Option(help="Seconds a whole notebook may run.")]


@app.command()
def run(
    lab: Annotated[str, typer.Argument(help="Lab id or module number.")],
    solution: Annotated[bool, typer.Option("--solution", help="Run the solution, not the blank lab.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    fast: Annotated[bool, typer.Option(help="Small data/epochs (CI).")] = True,
    cell_timeout: CellTimeout = 300,
    wall_limit: WallLimit = 900,
    keep: Annotated[Path | None, typer.Option(help="Save the executed notebook in this folder.")] = None,
):
    """Execute a lab (blank or solution) with its services up, and score it."""
    from autograder.runner import run_lab

    module = _module(lab)
    result = run_lab(module, solution=solution, fast=fast, limits=_limits(cell_timeout, wall_limit), keep=keep)
    if as_json:
        keys = ("lab", "status", "score", "max_score", "exercises", "message", "seconds")
        print(json.dumps({k: v for k, v in result.to_json().items() if k in keys}, indent=1))
    else:
        console.print(_result_table(result))
        if result.message:
            console.print(result.message)
    if result.status in (Status.ERROR, Status.INVALID):
        raise typer.Exit(1)


@app.command()
def check(
    notebook: Annotated[Path, typer.Argument(help="Your notebook, e.g. labs/m021_....ipynb")],
    cell_timeout: CellTimeout = 300,
    wall_limit: WallLimit = 1200,
):
    """Score your own notebook, with hints, the way the grader will."""
    from autograder.runner import check_notebook

    if not notebook.exists():
        err.print(f"[red]no such notebook: {notebook}[/red]")
        raise typer.Exit(2)
    module = _module(notebook.stem)
    result, visible_only = check_notebook(module, notebook)
    console.print(_result_table(result))
    if result.message:
        console.print(result.message)
    scope = (
        "visible checks only (hidden tests run when your instructor grades)"
        if visible_only
        else ("visible checks and hidden tests")
    )
    console.print(f"[dim]{scope}; failing exercises have hints in the notebook[/dim]")


@app.command()
def grade(
    lab: Annotated[str, typer.Argument(help="Lab id or module number.")],
    submissions: Annotated[Path, typer.Argument(help="Folder or .zip of student notebooks.")],
    out: Annotated[Path, typer.Option("--out", help="Where grades.csv/json and feedback/ go.")] = Path("grades"),
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: cores, memory-bound).")] = None,
    fast: Annotated[bool, typer.Option(help="Small data/epochs.")] = True,
    cell_timeout: CellTimeout = 300,
    wall_limit: WallLimit = 900,
    ray: Annotated[
        str | None,
        typer.Option("--ray", help="Run the jobs on a Ray cluster (host:port, auto, or local) instead of here."),
    ] = None,
):
    """Grade a class: one row per student, one column per exercise, feedback per student."""
    from autograder import sandbox
    from autograder.build import LabSource
    from autograder.grading.batch import RayRunner, grade_batch
    from autograder.grading.report import summary, write_reports
    from autograder.grading.submissions import SubmissionsError, collect
    from autograder.params import lab_parameters
    from autograder.runner import new_run_id, prepare_data, start_services

    module = _module(lab)
    source = LabSource.for_lab(module.lab)
    try:
        total = len(collect(submissions, module.lab, out / ".scratch"))
    except SubmissionsError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    prepare_data()
    params = lab_parameters(new_run_id(module.lab), fast, endpoints=start_services(module))
    level, why = sandbox.detect()
    if sandbox.LEVELS.index(level) < sandbox.LEVELS.index("bwrap+cgroup"):
        err.print(f"[yellow]warning: kernels are confined at level {level!r} only: {why}[/yellow]")
    runner = RayRunner(ray, local_cpus=workers) if ray else None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err) as bar:
        task = bar.add_task(f"grading {module.lab}", total=total)

        def advance(result: SubmissionResult, cached: bool) -> None:
            bar.advance(task)
            tag = " (cached)" if cached else ""
            bar.console.print(f"{result.student}: {result.status} {result.score:g}/{result.max_score:g}{tag}")

        results = grade_batch(
            source,
            submissions,
            out,
            params=params,
            limits=_limits(cell_timeout, wall_limit),
            workers=workers,
            on_result=advance,
            runner=runner,
        )
    paths = write_reports(results, module.lab, out)
    console.print(json.dumps(summary(results)))
    console.print(f"wrote {paths['csv']}, {paths['json']} and {paths['feedback']}/")


@app.command()
def progress():
    """Your state on every module: no lab yet / not started / attempted / checked score."""
    from autograder.progress import progress_rows

    table = Table(title="Your progress")
    for col in ("#", "lab", "state", "score"):
        table.add_column(col)
    for row in progress_rows(list(catalog.modules())):
        table.add_row(str(row["number"]), row["lab"], row["state"], row["score"])
    console.print(table)


@app.command()
def doctor():
    """Check Python, Java, service binaries, container engine and sandbox tools."""
    from autograder.doctor import run_checks

    table = Table(title="labs doctor")
    for col in ("check", "ok", "found", "how to get it"):
        table.add_column(col)
    findings = run_checks()
    for f in findings:
        table.add_row(f.name, "[green]yes[/green]" if f.ok else "[red]no[/red]", f.detail, "" if f.ok else f.fix)
    console.print(table)


@app.command()
def bundle(out: Annotated[Path, typer.Option("--out")] = Path("student.zip")):
    """The zip students receive: labs, datasets, harness; no solutions, no hidden tests."""
    from autograder.bundle import BundleLeak, make_bundle

    try:
        names = make_bundle(out)
    except BundleLeak as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"wrote {out} ({len(names)} files)")


@app.command()
def up(
    for_labs: Annotated[list[str] | None, typer.Option("--for", help="Start what these labs need.")] = None,
    service: Annotated[list[str] | None, typer.Option("--service", help="Start these services.")] = None,
):
    """Start the services the chosen labs need (default: every lab marked done)."""
    from autograder.services import commands

    if service:
        names = list(service)
    else:
        modules = [_module(ref) for ref in for_labs] if for_labs else [m for m in catalog.modules() if m.done]
        names = catalog.services_for(modules)
    _services_call(lambda: commands.up(names))


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json")] = False):
    """What runs, where, and whether it is healthy."""
    from autograder.services import commands

    rows = commands.status(quiet=as_json)
    if as_json:
        print(json.dumps(rows, indent=1, default=str))


@app.command()
def down(
    service: Annotated[list[str] | None, typer.Option("--service", help="Stop only these (default: all).")] = None,
):
    """Stop the services the harness started (all of them, or the ones named)."""
    from autograder.services import commands

    _services_call(lambda: commands.down(list(service) if service else None))


def _services_call(fn) -> None:
    from autograder.services.base import ServiceError

    try:
        fn()
    except ServiceError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


@data_app.command("build")
def data_build(
    size: Annotated[str, typer.Option(help="ci (small) or full.")] = "ci",
    only: Annotated[list[str] | None, typer.Option("--only", help="Just these datasets.")] = None,
    force: Annotated[bool, typer.Option(help="Regenerate even if files match the manifest.")] = False,
):
    """Generate the course datasets under the data dir (deterministic, checksummed)."""
    import mlops_datasets

    built = mlops_datasets.build(list(only) if only else None, size=size, force=force)
    for name, path in built.items():
        console.print(f"{name}: {path}")


def main() -> None:
    # nbgrader's gradebook triggers SQLAlchemy session warnings that say nothing to a user
    warnings.filterwarnings("ignore", message=".*not in session.*")
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
