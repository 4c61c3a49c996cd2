"""Write a registered model version's metrics (and production's) to JSON, or promote it.

    python export_model_metrics.py --model churn --version 7 --out metrics/
    python export_model_metrics.py --model churn --version 7 --promote

Production is whatever version holds the `production` alias (MLflow 2.9+ aliases replace stages).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ALIAS = "production"


def version_metrics(client: object, model: str, version: str) -> dict[str, float]:
    mv = client.get_model_version(model, version)  # type: ignore[attr-defined]
    return dict(client.get_run(mv.run_id).data.metrics)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", required=True)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="directory for candidate.json and production.json")
    group.add_argument("--promote", action="store_true", help=f"move the {ALIAS!r} alias to --version")
    args = parser.parse_args(argv)

    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()  # MLFLOW_TRACKING_URI from the environment
    if args.promote:
        client.set_registered_model_alias(args.model, ALIAS, args.version)
        print(f"{args.model}@{ALIAS} -> version {args.version}")
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "candidate.json").write_text(json.dumps(version_metrics(client, args.model, args.version)))
    try:
        prod = client.get_model_version_by_alias(args.model, ALIAS)
    except MlflowException:
        print(f"no {ALIAS} alias yet: the candidate only has to meet the absolute thresholds")
        return 0
    (args.out / "production.json").write_text(json.dumps(version_metrics(client, args.model, prod.version)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
