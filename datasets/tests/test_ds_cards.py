"""Every dataset has a data card naming its files, columns and load() keys; the README indexes them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from mlops_datasets import load, path
from mlops_datasets.common import PLANTED_FILE
from mlops_datasets.registry import DATASETS

DATASETS_DIR = Path(__file__).resolve().parent.parent


def fields(file: Path) -> list[str]:
    if file.suffix == ".csv":
        return file.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
    if file.suffix == ".jsonl":
        keys: set[str] = set()
        with file.open(encoding="utf-8") as fh:
            for line in fh:  # v1 and v2 records have different keys: look at all of them
                keys |= set(json.loads(line))
        return sorted(keys)
    return []


@pytest.mark.parametrize("name", list(DATASETS))
def test_card_documents_files_columns_and_keys(name: str, ci_dir: Path) -> None:
    card = (DATASETS_DIR / "cards" / f"{name}.md").read_text(encoding="utf-8")
    quoted = set(re.findall(r"`([^`\n]+)`", card))
    quoted |= {w for q in quoted for w in re.split(r"[,\s]+", q)}  # e.g. `a`, `b` written as `a, b`
    for file in sorted(path(name, "ci", ci_dir).iterdir()):
        if file.name.startswith(".") or file.name == PLANTED_FILE:
            continue
        assert file.name in quoted, f"cards/{name}.md does not mention {file.name}"
        if name == "bundled":  # columns as scikit-learn ships them, described by rule in the card
            continue
        missing = [f for f in fields(file) if f not in quoted]
        assert not missing, f"cards/{name}.md does not document {file.name} fields {missing}"
    keys = [k for k in load(name, "ci", ci_dir) if k != "planted"]
    assert all(f'["{k}"]' in card for k in keys), f"cards/{name}.md must show each load() key: {keys}"
    assert DATASETS[name].MIRRORS.split(" ")[0] in card or "real" in card.lower()


def test_readme_indexes_every_card() -> None:
    readme = (DATASETS_DIR / "README.md").read_text(encoding="utf-8")
    for name in DATASETS:
        assert f"(cards/{name}.md)" in readme, name
    assert sorted(p.stem for p in (DATASETS_DIR / "cards").glob("*.md")) == sorted(DATASETS)
