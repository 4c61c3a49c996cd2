"""The course catalogue (course.yaml): modules, their labs, services and status."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from autograder.paths import COURSE_YAML, LABS_DIR, SOLUTIONS_DIR

STATUSES = ("planned", "done")
TIERS = ("cpu", "gpu-optional")


class UnknownLab(LookupError):
    """Raised when a lab reference matches no module in course.yaml."""


@dataclass(frozen=True)
class Module:
    number: int
    title: str
    bullets: tuple[str, ...]
    part: str
    project: str | None
    lab: str
    services: tuple[str, ...]
    tier: str
    status: str
    covers: dict[str, str] = field(default_factory=dict)

    @property
    def solution_path(self) -> Path:
        return SOLUTIONS_DIR / f"{self.lab}.py"

    @property
    def notebook_path(self) -> Path:
        return LABS_DIR / f"{self.lab}.ipynb"

    @property
    def done(self) -> bool:
        return self.status == "done"

    def summary(self) -> dict:
        return {
            "number": self.number,
            "title": self.title,
            "lab": self.lab,
            "status": self.status,
            "services": list(self.services),
            "tier": self.tier,
            "part": self.part,
            "project": self.project,
        }


def _module_from_dict(raw: dict) -> Module:
    status = raw.get("status", "planned")
    tier = raw.get("tier", "cpu")
    if status not in STATUSES:
        raise ValueError(f"module {raw.get('number')}: status {status!r} not in {STATUSES}")
    if tier not in TIERS:
        raise ValueError(f"module {raw.get('number')}: tier {tier!r} not in {TIERS}")
    return Module(
        number=int(raw["number"]),
        title=str(raw["title"]),
        bullets=tuple(raw.get("bullets") or ()),
        part=str(raw.get("part", "")),
        project=raw.get("project"),
        lab=str(raw["lab"]),
        services=tuple(raw.get("services") or ()),
        tier=tier,
        status=status,
        covers=dict(raw.get("covers") or {}),
    )


def load_modules(path: Path = COURSE_YAML) -> list[Module]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [_module_from_dict(m) for m in data.get("modules", [])]


@cache
def modules() -> tuple[Module, ...]:
    return tuple(load_modules())


def find(ref: str | int) -> Module:
    """A lab by module number ("21", 21, "m021"), lab id, or notebook path."""
    text = str(ref).strip()
    stem = Path(text).stem if text.endswith((".ipynb", ".py")) else text
    for module in modules():
        if stem in (module.lab, str(module.number), f"m{module.number:03d}", f"m{module.number}"):
            return module
    raise UnknownLab(f"no lab matches {ref!r}: use a module number (1-128) or a lab id; see `labs list`")


def services_for(labs: list[Module]) -> list[str]:
    """The union of services the given labs need, in a stable order."""
    return sorted({svc for lab in labs for svc in lab.services})
