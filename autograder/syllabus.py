"""Parse the course syllabus (markdown) into modules: number, title, bullets.

The syllabus is the client's document; course.yaml is derived from it and a
test keeps the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_MODULE_HEADING = re.compile(r"^## Module (\d+):\s*(.+?)\s*$")
_BULLET = re.compile(r"^\s*[-*]\s+(.+?)\s*$")


@dataclass
class SyllabusModule:
    number: int
    title: str
    bullets: list[str] = field(default_factory=list)


def parse_syllabus(text: str) -> list[SyllabusModule]:
    """Return the modules in the order they appear; bullets end at the next heading."""
    modules: list[SyllabusModule] = []
    current: SyllabusModule | None = None
    for line in text.splitlines():
        heading = _MODULE_HEADING.match(line)
        if heading:
            current = SyllabusModule(int(heading.group(1)), heading.group(2))
            modules.append(current)
            continue
        if line.startswith("#"):
            current = None
            continue
        bullet = _BULLET.match(line)
        if current is not None and bullet:
            current.bullets.append(bullet.group(1))
    return modules


def load_syllabus(path: Path) -> list[SyllabusModule]:
    return parse_syllabus(path.read_text(encoding="utf-8"))
