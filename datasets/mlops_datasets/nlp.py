"""Text of a fictional cloud provider: labelled support tickets (intent + entity spans),
knowledge-base articles (the RAG documents) with extractive QA pairs, and a plain corpus for
training a tokenizer and a tiny language model.

Every text is assembled from templates (``nlp_world``) by appending pieces, so entity and answer
offsets are recorded as the text is built: they are exact by construction, and tests check it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlops_datasets import nlp_world as W
from mlops_datasets.common import Size, Writer, read_json, read_jsonl, rng_for

NAME = "nlp"
SUMMARY = "support tickets (intent + NER spans), KB articles for RAG, extractive QA, a plain LM corpus"
MIRRORS = "Bitext/Banking77-style intent tickets, CoNLL-style NER, SQuAD-style QA over product docs"

SIZES = {
    "ci": {"tickets": 3000, "products": 10, "corpus_chars": 1_500_000},
    "full": {"tickets": 30_000, "products": 60, "corpus_chars": 20_000_000},
}
INTENT_P = {
    "billing": 0.22,
    "outage": 0.15,
    "login_access": 0.18,
    "feature_request": 0.15,
    "bug_report": 0.18,
    "cancellation": 0.12,
}
ASIDE_SHARE, SECOND_SENTENCE_SHARE, LABEL_NOISE = 0.3, 0.3, 0.03
SPLIT_P = {"train": 0.7, "val": 0.15, "test": 0.15}
_SLOT = re.compile(r"\{(\w+)\}")


class Draws:
    """Fast scalar draws from a numpy Generator: floats are fetched in blocks and consumed one by one."""

    def __init__(self, rng: np.random.Generator, block: int = 1 << 16) -> None:
        self._rng, self._block = rng, block
        self._buf: list[float] = []
        self._pos = 0

    def uniform(self) -> float:
        if self._pos == len(self._buf):
            self._buf, self._pos = self._rng.random(self._block).tolist(), 0
        self._pos += 1
        return self._buf[self._pos - 1]

    def int(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi)."""
        return lo + int(self.uniform() * (hi - lo))

    def pick(self, seq: Any) -> Any:
        return seq[int(self.uniform() * len(seq))]

    def chance(self, p: float) -> bool:
        return self.uniform() < p

    def weighted(self, options: dict[str, float]) -> str:
        u, acc = self.uniform() * sum(options.values()), 0.0
        for key, w in options.items():
            acc += w
            if u < acc:
                return key
        return key


@dataclass
class Text:
    """A text built piece by piece, with the character spans of the slots it filled."""

    parts: list[str] = field(default_factory=list)
    spans: list[dict[str, Any]] = field(default_factory=list)
    length: int = 0

    def add(self, piece: str) -> None:
        self.parts.append(piece)
        self.length += len(piece)

    def fill(self, template: str, value: Callable[[str], str], sep: str = " ") -> None:
        if self.length and template:
            self.add(sep)
        pos = 0
        for m in _SLOT.finditer(template):
            self.add(template[pos : m.start()])
            slot, val = m.group(1), value(m.group(1))
            self.spans.append({"start": self.length, "end": self.length + len(val), "slot": slot, "text": val})
            self.add(val)
            pos = m.end()
        self.add(template[pos:])

    def value(self) -> str:
        return "".join(self.parts)

    def entities(self) -> list[dict[str, Any]]:
        return [
            {"start": s["start"], "end": s["end"], "label": s["slot"], "text": s["text"]}
            for s in self.spans
            if s["slot"] in W.ENTITY_LABELS
        ]


def _products(size: Size) -> list[str]:
    names = [f"{p} {k}" for p in W.PRODUCT_PREFIXES for k in W.PRODUCT_KINDS]
    return names[: SIZES[size]["products"]]


def _random_value(d: Draws, products: list[str]) -> Callable[[str], str]:
    def person() -> str:
        return f"{d.pick(W.FIRST_NAMES)} {d.pick(W.LAST_NAMES)}"

    def date() -> str:
        month, day, year = d.pick(W.MONTHS), d.int(1, 29), d.int(2019, 2026)
        return d.pick((f"{month} {day}", f"{day} {month} {year}", f"{year}-{W.MONTHS.index(month) + 1:02d}-{day:02d}"))

    def money() -> str:
        amount = round(10 ** (1 + 3 * d.uniform()), 2)
        return d.pick((f"${amount:,.2f}", f"${round(amount):,}", f"EUR {amount:,.2f}"))

    makers: dict[str, Callable[[], str]] = {
        "PERSON": person,
        "ORG": lambda: d.pick(W.ORGS),
        "PRODUCT": lambda: d.pick(products),
        "LOC": lambda: d.pick(W.CITIES),
        "DATE": date,
        "MONEY": money,
        "FEATURE": lambda: d.pick(W.FEATURES),
        "ERROR": lambda: d.pick(W.ERRORS),
        "FIX": lambda: d.pick(W.FIXES),
        "NUMBER": lambda: str(d.int(2, 500)),
    }
    return lambda slot: makers[slot]()


def _tickets(size: Size, d: Draws, products: list[str]) -> tuple[list[dict[str, Any]], int]:
    value = _random_value(d, products)
    intents = list(W.TICKET_TEMPLATES)
    records, flipped = [], 0
    for i in range(SIZES[size]["tickets"]):
        intent = d.weighted(INTENT_P)
        t = Text()
        t.fill(d.pick(W.GREETINGS), value)
        t.fill(d.pick(W.TICKET_TEMPLATES[intent]), value, sep="\n")
        if d.chance(SECOND_SENTENCE_SHARE):
            t.fill(d.pick(W.TICKET_TEMPLATES[intent]), value)
        if d.chance(ASIDE_SHARE):
            t.fill(d.pick(W.ASIDES[d.pick([x for x in intents if x != intent])]), value)
        t.fill(d.pick(W.CLOSINGS), value, sep="\n")
        label = intent
        if d.chance(LABEL_NOISE):  # annotators make mistakes
            label, flipped = d.pick([x for x in intents if x != intent]), flipped + 1
        split = d.weighted(SPLIT_P)
        records.append({"id": f"t{i:06d}", "text": t.value(), "label": label, "entities": t.entities(), "split": split})
    return records, flipped


def _facts(d: Draws, product: str) -> dict[str, str]:
    kind = product.split(" ", 1)[1]
    what, unit, size_unit = W.PRODUCT_KINDS[kind]
    cities = list(W.CITIES)
    regions = [cities.pop(d.int(0, len(cities))) for _ in range(d.int(2, 5))]
    return {
        "PRODUCT": product,
        "what": what,
        "unit": unit,
        "launch": f"{d.pick(W.MONTHS)} {d.int(2014, 2025)}",
        "owner": f"{d.pick(W.FIRST_NAMES)} {d.pick(W.LAST_NAMES)}",
        "hq": d.pick(W.CITIES),
        "api": d.pick(("REST v2", "REST v3", "gRPC v1", "gRPC v2", "GraphQL v1")),
        "price": f"${0.005 + 0.5 * d.uniform():.3f}",
        "free_tier": f"{d.pick((5, 10, 25, 50, 100, 250, 750))} units of {unit}",
        "discount": f"{d.pick((10, 15, 20, 25, 30, 40))}%",
        "max_size": f"{d.pick((2, 4, 8, 16, 32, 64, 128, 512))} {size_unit}",
        "rate_limit": f"{d.pick((100, 500, 1000, 2500, 5000, 10000)):,}",
        "retention": f"{d.pick((7, 14, 30, 35, 90, 365))} days",
        "region_list": ", ".join(regions[:-1]) + " and " + regions[-1],
        "sla": d.pick(("99.5%", "99.9%", "99.95%", "99.99%")),
        "error": d.pick(W.ERRORS),
        "fix": d.pick(W.FIXES),
    }


def _docs_and_qa(d: Draws, products: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    docs, qa = [], []
    for p, product in enumerate(products):
        facts = _facts(d, product)
        for kind, paragraphs in W.DOC_TEMPLATES.items():
            doc_id = f"kb-{p:03d}-{kind}"
            t = Text()
            for para in paragraphs:
                t.fill(para, facts.__getitem__, sep="\n\n")
            text = t.value()
            docs.append(
                {"doc_id": doc_id, "product": product, "kind": kind, "title": f"{product}: {kind}", "text": text}
            )
            seen: list[str] = []
            for span in t.spans:
                slot = span["slot"]
                if slot not in W.QUESTIONS or slot in seen:
                    continue
                seen.append(slot)
                question = d.pick(W.QUESTIONS[slot]).replace("{PRODUCT}", product)
                qa.append(
                    {
                        "id": f"q{len(qa):05d}",
                        "question": question,
                        "context": text,
                        "answer": span["text"],
                        "answer_start": span["start"],
                        "doc_id": doc_id,
                        "fact": slot,
                    }
                )
    return docs, qa


def _corpus(size: Size, d: Draws, products: list[str], seed_texts: list[str]) -> str:
    """Tickets and articles, then template sentences grouped in paragraphs, up to the target size."""
    value = _random_value(d, products)
    lines = [" ".join(s.split()) for s in seed_texts]  # one text per line
    total, target = sum(len(s) + 1 for s in lines), SIZES[size]["corpus_chars"]
    while total < target:
        t = Text()
        for _ in range(d.int(3, 9)):
            t.fill(d.pick(W.CORPUS_TEMPLATES), value)
        line = t.value()
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"


def generate(size: Size, out: Writer) -> None:
    d = Draws(rng_for(NAME, size, "text"))
    products = _products(size)
    tickets, flipped = _tickets(size, d, products)
    docs, qa = _docs_and_qa(d, products)
    corpus = _corpus(size, d, products, [t["text"] for t in tickets] + [x["text"] for x in docs])
    out.jsonl("tickets.jsonl", tickets)
    out.jsonl("docs.jsonl", docs)
    out.jsonl("qa.jsonl", qa)
    out.text("corpus.txt", corpus)
    labels = [t["label"] for t in tickets]
    out.planted(
        {
            "tickets": len(tickets),
            "label_counts": {k: labels.count(k) for k in W.TICKET_TEMPLATES},
            "label_noise_flipped": flipped,
            "entity_counts": {k: sum(e["label"] == k for t in tickets for e in t["entities"]) for k in W.ENTITY_LABELS},
            "aside_share": ASIDE_SHARE,
            "docs": len(docs),
            "products": len(products),
            "qa_pairs": len(qa),
            "corpus_chars": len(corpus),
            "corpus_lines": corpus.count("\n"),
            "offsets": "character offsets into the str (Python indexing), end exclusive",
        }
    )


def load(directory: Path) -> dict[str, Any]:
    corpus_path = directory / "corpus.txt"
    return {
        "tickets": read_jsonl(directory / "tickets.jsonl"),
        "docs": read_jsonl(directory / "docs.jsonl"),
        "qa": read_jsonl(directory / "qa.jsonl"),
        "corpus_path": corpus_path,
        "corpus": corpus_path.read_text(encoding="utf-8"),
        "planted": read_json(directory / "planted.json"),
    }
