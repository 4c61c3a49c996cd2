"""Vision: shapes, masks and boxes agree, classes are learnable, the drift variant is detectable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlops_datasets import load, vision
from scipy.ndimage import gaussian_filter, laplace
from scipy.stats import ks_2samp
from sklearn.linear_model import LogisticRegression


@pytest.fixture(scope="module")
def vis(ci_dir: Path) -> dict[str, Any]:
    return load("vision", "ci", ci_dir)


def test_shapes_and_dtypes(vis: dict[str, Any]) -> None:
    n = len(vis["labels"])
    assert vis["images"].shape == vis["masks"].shape == (n, 64, 64)
    assert vis["images"].dtype == vis["masks"].dtype == np.uint8
    assert vis["images_drift"].shape == ((vis["labels"]["split"] == "test").sum(), 64, 64)
    assert set(vis["labels"]["label_name"]) == set(vision.CLASSES)


def test_masks_boxes_and_labels_agree(vis: dict[str, Any]) -> None:
    labels, boxes, masks, inst = vis["labels"], vis["boxes"], vis["masks"], vis["instances"]
    has_defect = masks.reshape(len(masks), -1).max(axis=1) > 0
    assert (has_defect == (labels["label"] > 0)).all(), "defect pixels exactly in defect images"
    assert (boxes.groupby("image_index").size().reindex(labels.index, fill_value=0) == labels["n_defects"]).all()
    for row in boxes.itertuples():
        region = inst[row.image_index] == row.instance
        ys, xs = np.nonzero(region)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (row.x_min, row.y_min, row.x_max, row.y_max)
        assert (masks[row.image_index][region] == row.label).all()
        assert labels.at[row.image_index, "label"] == row.label


def _features(images: np.ndarray) -> np.ndarray:
    """Histogram of the high-pass residual: bright thin lines, dark blobs and dark cracks differ."""
    im = images.astype(float)
    residual = im - gaussian_filter(im, sigma=(0, 3, 3))
    bins = np.linspace(-80, 80, 17)
    return np.log1p(np.stack([np.histogram(r, bins)[0] for r in residual]))


def test_classes_are_learnable_and_drift_hurts(vis: dict[str, Any]) -> None:
    labels = vis["labels"]
    train, test = (labels["split"] == "train").to_numpy(), (labels["split"] == "test").to_numpy()
    x = _features(vis["images"])
    model = LogisticRegression(max_iter=2000).fit(x[train], labels["label"][train])
    accuracy = (model.predict(x[test]) == labels["label"][test]).mean()
    drift_accuracy = (model.predict(_features(vis["images_drift"])) == labels["label"][test]).mean()
    assert accuracy >= 0.85, f"4 classes, chance 0.4; got {accuracy:.3f}"
    assert drift_accuracy <= accuracy - 0.2


def test_drift_detected_in_brightness_and_sharpness(vis: dict[str, Any]) -> None:
    test = vis["images"][vis["drift"]["image_index"]].astype(float)
    drift = vis["images_drift"].astype(float)
    assert ks_2samp(test.mean(axis=(1, 2)), drift.mean(axis=(1, 2))).pvalue < 1e-10
    sharpness = lambda a: np.array([laplace(x).var() for x in a])  # noqa: E731
    assert np.median(sharpness(drift)) < 0.3 * np.median(sharpness(test))
    train = vis["images"][(vis["labels"]["split"] == "train").to_numpy()].astype(float)
    assert ks_2samp(train.mean(axis=(1, 2)), test.mean(axis=(1, 2))).pvalue > 0.001, "no drift without the variant"
