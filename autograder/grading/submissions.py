"""Find the student notebooks in a folder or zip, in the layouts LMS exports use.

Accepted: `<student>.ipynb` files, or `<student>/<anything>.ipynb` folders
(one folder per student), optionally wrapped in one top-level folder. Zips
are extracted defensively (no paths outside the target, no links, a size cap).
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.grading.autograde import safe_student_id

IGNORED = {"__MACOSX", ".ipynb_checkpoints", ".DS_Store"}
MAX_ZIP_BYTES = 2 * 1024**3


class SubmissionsError(ValueError):
    """The submissions path itself is unusable (missing, not a folder or zip, unsafe zip)."""


@dataclass(frozen=True)
class Submission:
    student: str
    path: Path | None  # None: the student's folder held no notebook
    problem: str = ""


def extract_zip(archive: Path, target: Path) -> Path:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise SubmissionsError(f"{archive} is not a readable zip file") from exc
    with zf:
        total = sum(info.file_size for info in zf.infolist())
        if total > MAX_ZIP_BYTES:
            raise SubmissionsError(f"{archive} would unpack to {total / 1e9:.1f} GB; refusing (zip bomb?)")
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        root = target.resolve()
        for info in zf.infolist():
            is_link = stat.S_ISLNK(info.external_attr >> 16)
            dest = (target / info.filename).resolve()
            if is_link or not dest.is_relative_to(root):
                raise SubmissionsError(f"{archive}: unsafe entry {info.filename!r} (link or path outside)")
            zf.extract(info, target)
    return target


def _visible_name(name: str) -> bool:
    return name not in IGNORED and not name.startswith(".")


def _visible(path: Path) -> bool:
    return _visible_name(path.name)


def _unwrap(folder: Path) -> Path:
    """Descend through single wrapping folders (exports often add one) down to the class folder.

    A lone folder that holds notebooks itself is one student's, not a wrapper.
    """
    while True:
        entries = [p for p in folder.iterdir() if _visible(p)]
        if len(entries) == 1 and entries[0].is_dir() and not list(entries[0].glob("*.ipynb")):
            folder = entries[0]
        else:
            return folder


def _pick_notebook(folder: Path, lab_id: str) -> tuple[Path | None, str]:
    notebooks = sorted(
        p for p in folder.rglob("*.ipynb") if all(_visible_name(part) for part in p.relative_to(folder).parts)
    )
    if not notebooks:
        return None, f"no .ipynb file in {folder.name}/"
    named = [p for p in notebooks if p.stem == lab_id]
    if len(named) == 1:
        return named[0], ""
    if len(notebooks) == 1:
        return notebooks[0], ""
    names = ", ".join(p.name for p in notebooks[:5])
    return None, f"{folder.name}/ holds several notebooks ({names}); name the one to grade {lab_id}.ipynb"


def collect(path: Path, lab_id: str, scratch: Path) -> list[Submission]:
    """All submissions under `path` (folder or zip), one per student, sorted by student."""
    if not path.exists():
        raise SubmissionsError(f"submissions path not found: {path}")
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise SubmissionsError(f"{path} is neither a folder nor a .zip of submissions")
        path = extract_zip(path, scratch / "unzipped")
    folder = _unwrap(path)
    found: dict[str, Submission] = {}

    def add(name: str, nb: Path | None, problem: str = "") -> None:
        student = safe_student_id(name)
        candidate, n = student, 2
        while candidate in found:
            candidate, n = f"{student}-{n}", n + 1
        found[candidate] = Submission(candidate, nb, problem)

    for entry in sorted(p for p in folder.iterdir() if _visible(p)):
        if entry.is_dir():
            nb, problem = _pick_notebook(entry, lab_id)
            add(entry.name, nb, problem)
        elif entry.suffix == ".ipynb":
            add(entry.stem, entry)
    return [found[k] for k in sorted(found)]
