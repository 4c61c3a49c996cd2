"""Batch outputs: grades.csv, grades.json and one feedback HTML per student.

Feedback shows scores and check messages only: hidden test code never
appears (messages are the exception type and text the check raised).
"""

from __future__ import annotations

import csv
import html
import json
from collections import Counter
from pathlib import Path

from autograder.grading.outcomes import Status, SubmissionResult

_STATUS_WORDS = {
    Status.GRADED: "graded",
    Status.TIMEOUT: "stopped by a time limit",
    Status.CRASHED: "the kernel crashed",
    Status.INVALID: "not a gradable notebook",
    Status.ERROR: "the grader failed (not your fault; your instructor has been told)",
}


def exercise_ids(results: list[SubmissionResult]) -> list[str]:
    """Exercise columns in lab order, from the first result that has them."""
    for result in results:
        if result.exercises:
            return [e.id for e in result.exercises]
    return []


def write_csv(results: list[SubmissionResult], path: Path) -> None:
    columns = exercise_ids(results)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "status", *columns, "total", "max_score", "message"])
        for r in results:
            scores = {e.id: e.score for e in r.exercises}
            row = [r.student, str(r.status), *(scores.get(c, 0.0) for c in columns)]
            writer.writerow([*row, r.score, r.max_score, r.message.splitlines()[0] if r.message else ""])


def summary(results: list[SubmissionResult]) -> dict:
    graded = [r.score for r in results if r.status in (Status.GRADED, Status.TIMEOUT)]
    return {
        "submissions": len(results),
        "by_status": dict(Counter(str(r.status) for r in results)),
        "mean_score": round(sum(graded) / len(graded), 3) if graded else None,
    }


def write_json(results: list[SubmissionResult], lab: str, path: Path) -> None:
    data = {"lab": lab, "summary": summary(results), "results": [r.to_json() for r in results]}
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def feedback_html(result: SubmissionResult) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr class='{'pass' if e.passed else 'fail'}'><td>{esc(e.title)}</td>"
        f"<td>{e.score:g} / {e.max_score:g}</td><td>{esc(e.message) or ('passed' if e.passed else '')}</td></tr>"
        for e in result.exercises
    )
    note = f"<p class='note'>{esc(result.message)}</p>" if result.message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Feedback: {esc(result.lab)} for {esc(result.student)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ border: 1px solid #ccc; padding: .4rem .6rem; }}
tr.pass td:nth-child(2) {{ color: #1a7f37; }} tr.fail td:nth-child(2) {{ color: #b42318; }}
.note {{ background: #fff4e5; padding: .6rem; border-left: 4px solid #f79009; white-space: pre-wrap; }}
</style></head><body>
<h1>{esc(result.lab)}: {result.score:g} / {result.max_score:g}</h1>
<p>Student: <b>{esc(result.student)}</b> &middot; Outcome: <b>{esc(_STATUS_WORDS[result.status])}</b></p>
{note}
<table><tr><th>Exercise</th><th>Score</th><th>What the checks said</th></tr>{rows}</table>
</body></html>
"""


def write_feedback(results: list[SubmissionResult], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for result in results:
        (folder / f"{result.student}.html").write_text(feedback_html(result), encoding="utf-8")


def write_reports(results: list[SubmissionResult], lab: str, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out_dir / "grades.csv", "json": out_dir / "grades.json", "feedback": out_dir / "feedback"}
    write_csv(results, paths["csv"])
    write_json(results, lab, paths["json"])
    write_feedback(results, paths["feedback"])
    return paths
