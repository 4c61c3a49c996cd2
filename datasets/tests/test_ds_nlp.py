"""NLP: intents learnable, NER spans and QA answers align to text, the corpus has structure."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from mlops_datasets import load, nlp_world
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC


@pytest.fixture(scope="module")
def text(ci_dir: Path) -> dict[str, Any]:
    return load("nlp", "ci", ci_dir)


def test_ner_spans_align_to_text(text: dict[str, Any]) -> None:
    n_spans = 0
    for row in text["tickets"].itertuples():
        for e in row.entities:
            assert row.text[e["start"] : e["end"]] == e["text"], (row.id, e)
            assert e["label"] in nlp_world.ENTITY_LABELS
            n_spans += 1
    assert n_spans >= len(text["tickets"])
    labels = Counter(e["label"] for ents in text["tickets"]["entities"] for e in ents)
    assert set(labels) == set(nlp_world.ENTITY_LABELS)


def test_qa_answers_are_substrings_of_their_context(text: dict[str, Any]) -> None:
    qa, docs = text["qa"], text["docs"].set_index("doc_id")
    assert len(qa) >= 100
    for row in qa.itertuples():
        assert row.context[row.answer_start : row.answer_start + len(row.answer)] == row.answer, row.id
        assert docs.at[row.doc_id, "text"] == row.context
        assert docs.at[row.doc_id, "product"] in row.question


def test_intents_are_learnable(text: dict[str, Any]) -> None:
    t = text["tickets"]
    train, test = t[t["split"] == "train"], t[t["split"] == "test"]
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit(train["text"])
    model = LinearSVC(C=0.5).fit(vec.transform(train["text"]), train["label"])
    accuracy = (model.predict(vec.transform(test["text"])) == test["label"]).mean()
    majority = test["label"].value_counts(normalize=True).max()
    assert accuracy >= 0.85 and accuracy >= 3 * majority, (accuracy, majority)
    assert accuracy <= 0.99, "label noise is planted: a perfect score means the noise is missing"


def test_corpus_is_large_and_structured(text: dict[str, Any]) -> None:
    words = text["corpus"].split()
    assert len(text["corpus"]) >= 1_000_000
    cut = int(0.9 * len(words))
    train, held_out = words[:cut], words[cut:]
    unigram, bigram = Counter(train), Counter(itertools.pairwise(train))
    vocab, n = len(unigram) + 1, len(train)
    p_uni = lambda w: (unigram.get(w, 0) + 1) / (n + vocab)  # noqa: E731
    ppl_uni = math.exp(-sum(math.log(p_uni(w)) for w in held_out) / len(held_out))
    ppl_bi = math.exp(
        -sum(
            math.log((bigram.get((a, b), 0) + p_uni(b)) / (unigram.get(a, 0) + 1))
            for a, b in itertools.pairwise(held_out)
        )
        / (len(held_out) - 1)
    )
    assert ppl_bi < 0.2 * ppl_uni, (ppl_bi, ppl_uni)  # word order carries information a tiny LM can learn


def test_docs_for_rag(text: dict[str, Any]) -> None:
    docs = text["docs"]
    assert docs["doc_id"].is_unique and docs["text"].str.len().min() > 100
    assert set(text["qa"]["doc_id"]) <= set(docs["doc_id"])
