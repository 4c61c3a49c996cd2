"""Curate one module in course.yaml: services, status, covers (kept by sync_course.py).

    python scripts/mark_module.py 3 --status done --services aws,postgres,redis \
        --covers covers.yaml   # a YAML mapping: syllabus bullet -> where it is covered
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from autograder.paths import COURSE_YAML


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("number", type=int)
    parser.add_argument("--status", choices=["planned", "done"])
    parser.add_argument("--services", help="comma-separated service names")
    parser.add_argument("--covers", type=Path, help="YAML file: bullet -> where covered")
    args = parser.parse_args()
    text = COURSE_YAML.read_text()
    header, data = text.split("\n", 1)[0] + "\n", yaml.safe_load(text)
    module = next(m for m in data["modules"] if m["number"] == args.number)
    if args.status:
        module["status"] = args.status
    if args.services is not None:
        module["services"] = [s for s in args.services.split(",") if s]
    if args.covers:
        covers = yaml.safe_load(args.covers.read_text())
        unknown = set(covers) - set(module["bullets"])
        if unknown:
            raise SystemExit(f"not bullets of module {args.number}: {sorted(unknown)}")
        module["covers"] = covers
    COURSE_YAML.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120))
    print(f"module {args.number}: status={module['status']} services={module['services']}")


if __name__ == "__main__":
    main()
