"""Entry point of the training image: fits the toy churn model on synthetic data and prints its AUC."""

from __future__ import annotations

import json

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score


def main(seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2000, 3))
    y = (x @ np.array([-0.8, 0.3, 1.2]) + rng.normal(scale=0.5, size=2000) > 0).astype(int)
    model = LogisticRegression().fit(x[:1500], y[:1500])
    metrics = {"auc": float(roc_auc_score(y[1500:], model.predict_proba(x[1500:])[:, 1]))}
    print(json.dumps(metrics))
    return metrics


if __name__ == "__main__":
    main()
