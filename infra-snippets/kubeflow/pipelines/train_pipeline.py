"""KFP v2 training pipeline: prepare data -> train -> evaluate -> register if the metric gate passes.

    python infra-snippets/kubeflow/pipelines/train_pipeline.py --out train_pipeline.yaml   # compile
Components use only the standard library, so `kfp.local` can run them without images.
(No `from __future__ import annotations`: KFP reads the real type objects of the signatures.)
"""

import argparse

from kfp import compiler, dsl

BASE_IMAGE = "python:3.11-slim"


@dsl.component(base_image=BASE_IMAGE)
def prepare_data(n_rows: int, seed: int, dataset: dsl.Output[dsl.Dataset]) -> None:
    import csv
    import random

    rng = random.Random(seed)
    with open(dataset.path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["x", "y"])
        for _ in range(n_rows):
            x = rng.uniform(-3, 3)
            writer.writerow([x, int(x + rng.gauss(0, 0.5) > 0)])
    dataset.metadata["rows"] = n_rows


@dsl.component(base_image=BASE_IMAGE)
def train(dataset: dsl.Input[dsl.Dataset], model: dsl.Output[dsl.Model]) -> None:
    import csv
    import json

    with open(dataset.path) as fh:
        rows = [(float(r["x"]), int(r["y"])) for r in csv.DictReader(fh)]
    # A one-feature threshold "model": the midpoint between the class means.
    mean1 = sum(x for x, y in rows if y) / max(1, sum(y for _, y in rows))
    mean0 = sum(x for x, y in rows if not y) / max(1, sum(1 - y for _, y in rows))
    with open(model.path, "w") as fh:
        json.dump({"threshold": (mean0 + mean1) / 2}, fh)
    model.metadata["framework"] = "threshold"


@dsl.component(base_image=BASE_IMAGE)
def evaluate(dataset: dsl.Input[dsl.Dataset], model: dsl.Input[dsl.Model], metrics: dsl.Output[dsl.Metrics]) -> float:
    import csv
    import json

    with open(model.path) as fh:
        threshold = json.load(fh)["threshold"]
    with open(dataset.path) as fh:
        rows = [(float(r["x"]), int(r["y"])) for r in csv.DictReader(fh)]
    accuracy = sum(int(x > threshold) == y for x, y in rows) / len(rows)
    metrics.log_metric("accuracy", accuracy)
    return accuracy


@dsl.component(base_image=BASE_IMAGE)
def register(model: dsl.Input[dsl.Model], accuracy: float) -> str:
    # In production: mlflow.register_model(...). Here: report what would be registered.
    return f"registered {model.uri} (accuracy={accuracy:.3f})"


@dsl.pipeline(name="train-churn", description="prepare -> train -> evaluate -> gated register")
def train_pipeline(n_rows: int = 400, seed: int = 7, min_accuracy: float = 0.8) -> None:
    data = prepare_data(n_rows=n_rows, seed=seed)
    trained = train(dataset=data.outputs["dataset"])
    scored = evaluate(dataset=data.outputs["dataset"], model=trained.outputs["model"])
    with dsl.If(scored.outputs["Output"] >= min_accuracy, name="accuracy-gate"):
        register(model=trained.outputs["model"], accuracy=scored.outputs["Output"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="train_pipeline.yaml")
    args = parser.parse_args(argv)
    compiler.Compiler().compile(train_pipeline, args.out)


if __name__ == "__main__":
    main()
