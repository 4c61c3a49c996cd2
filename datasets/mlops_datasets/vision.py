"""64x64 grayscale images of brushed-metal surfaces with synthetic defects, for classification,
detection (boxes) and segmentation (masks), plus a lighting/blur drift variant of the test split.

Every image is one class: ``ok`` (no defect) or 1-2 non-overlapping instances of one defect
type: ``scratch`` (thin bright straight line), ``spot`` (dark ellipse) or ``crack`` (dark jagged
polyline). Boxes and masks come from the very pixels that were painted, so they agree exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter, uniform_filter1d

from mlops_datasets.common import Size, Writer, read_csv, read_json, read_npy, rng_for

NAME = "vision"
SUMMARY = "64x64 textured surfaces with scratch/spot/crack defects: labels, boxes, masks, a drift variant"
MIRRORS = "MVTec AD / NEU surface-defect datasets (industrial inspection)"

HW = 64
CLASSES = ["ok", "scratch", "spot", "crack"]
CLASS_P = [0.4, 0.2, 0.2, 0.2]
SPLITS = {"ci": {"train": 1200, "val": 300, "test": 500}, "full": {"train": 16000, "val": 2000, "test": 2000}}
DRIFT_BRIGHTNESS = (0.55, 0.8)  # multiplier on the test images
DRIFT_BLUR_SIGMA = 1.2
TEXTURE_BLOCK = 4096

_YY, _XX = np.mgrid[0:HW, 0:HW].astype(float)


def _textures(rng: np.random.Generator, n: int) -> np.ndarray:
    """Brushed metal: a base grey, smooth waves, and noise smeared along the brushing direction."""
    base = rng.uniform(110, 150, (n, 1, 1))
    theta = rng.uniform(0, np.pi, (n, 1, 1))
    freq = rng.uniform(0.02, 0.08, (n, 1, 1))
    waves = 6 * np.sin(2 * np.pi * freq * (_XX * np.cos(theta) + _YY * np.sin(theta)) + rng.uniform(0, 6.3, (n, 1, 1)))
    brushed = uniform_filter1d(rng.normal(0, 14, (n, HW, HW)), size=9, axis=2)
    flip = rng.random(n) < 0.5  # half brushed horizontally, half vertically
    brushed[flip] = brushed[flip].transpose(0, 2, 1)
    return base + waves + brushed + rng.normal(0, 3, (n, HW, HW))


def _segment_mask(x0: float, y0: float, x1: float, y1: float, width: float) -> np.ndarray:
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((_XX - x0) * dx + (_YY - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
    return np.hypot(_XX - (x0 + t * dx), _YY - (y0 + t * dy)) <= width / 2


def _defect(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, float]:
    """A boolean mask of one defect instance and the grey-level change to paint on it."""
    cx, cy = rng.uniform(10, HW - 10, 2)
    if kind == "spot":
        a, b, phi = rng.uniform(2.5, 6), rng.uniform(2, 5), rng.uniform(0, np.pi)
        u = (_XX - cx) * np.cos(phi) + (_YY - cy) * np.sin(phi)
        v = -(_XX - cx) * np.sin(phi) + (_YY - cy) * np.cos(phi)
        return (u / a) ** 2 + (v / b) ** 2 <= 1, -rng.uniform(35, 60)
    if kind == "scratch":
        length, phi = rng.uniform(18, 40), rng.uniform(0, np.pi)
        dx, dy = np.cos(phi) * length / 2, np.sin(phi) * length / 2
        return _segment_mask(cx - dx, cy - dy, cx + dx, cy + dy, rng.uniform(1.0, 2.0)), rng.uniform(40, 70)
    # crack: a jagged random walk of short segments
    mask = np.zeros((HW, HW), dtype=bool)
    x, y, heading = cx, cy, rng.uniform(0, 2 * np.pi)
    for _ in range(int(rng.integers(4, 7))):
        heading += rng.normal(0, 0.7)
        step = rng.uniform(4, 8)
        nx, ny = np.clip(x + step * np.cos(heading), 1, HW - 2), np.clip(y + step * np.sin(heading), 1, HW - 2)
        mask |= _segment_mask(x, y, nx, ny, 1.3)
        x, y = nx, ny
    return mask, -rng.uniform(45, 75)


def _render(size: Size) -> dict[str, Any]:
    rng = rng_for(NAME, size, "scenes")
    splits = SPLITS[size]
    n = sum(splits.values())
    # Textures in blocks: the full size would otherwise hold several GB of temporaries at once.
    images = np.concatenate([_textures(rng, min(TEXTURE_BLOCK, n - lo)) for lo in range(0, n, TEXTURE_BLOCK)])
    labels = rng.choice(len(CLASSES), n, p=CLASS_P)
    instances = np.zeros((n, HW, HW), dtype=np.uint8)
    boxes: list[tuple[int, int, int, int, int, int, int]] = []
    for i in range(n):
        if labels[i] == 0:
            continue
        wanted = 1 + int(rng.random() < 0.35)
        for _ in range(6):  # a few tries to place the instances without overlap
            mask, delta = _defect(rng, CLASSES[labels[i]])
            if (instances[i][mask] > 0).any() or mask.sum() < 3:
                continue
            k = int(instances[i].max()) + 1
            instances[i][mask] = k
            images[i][mask] += delta
            ys, xs = np.nonzero(mask)
            boxes.append((i, k, int(labels[i]), int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
            if k == wanted:
                break
    # Soften the painted edges a little, as a lens would.
    images = gaussian_filter(images, sigma=(0, 0.5, 0.5))
    split = np.repeat(list(splits), list(splits.values()))
    test_idx = np.flatnonzero(split == "test")
    brightness = rng.uniform(*DRIFT_BRIGHTNESS, len(test_idx))
    ramp = rng.uniform(-0.15, 0.15, (len(test_idx), 1, 1)) * (_XX[None] - HW / 2) / HW  # uneven lighting
    drift = gaussian_filter(images[test_idx], sigma=(0, DRIFT_BLUR_SIGMA, DRIFT_BLUR_SIGMA))
    drift = drift * (brightness[:, None, None] + ramp)
    to_u8 = lambda a: np.clip(np.rint(a), 0, 255).astype(np.uint8)  # noqa: E731
    n_inst = instances.reshape(n, -1).max(axis=1)
    return {
        "images": to_u8(images),
        "instances": instances,
        "images_drift": to_u8(drift),
        "labels": pd.DataFrame(
            {
                "image_index": np.arange(n),
                "split": split,
                "label": labels,
                "label_name": np.array(CLASSES)[labels],
                "n_defects": n_inst,
            }
        ),
        "boxes": pd.DataFrame(boxes, columns=["image_index", "instance", "label", "x_min", "y_min", "x_max", "y_max"]),
        "drift": pd.DataFrame(
            {
                "drift_index": np.arange(len(test_idx)),
                "image_index": test_idx,
                "brightness": np.round(brightness, 4),
                "blur_sigma": DRIFT_BLUR_SIGMA,
            }
        ),
    }


def generate(size: Size, out: Writer) -> None:
    scene = _render(size)
    for name in ("images", "instances", "images_drift"):
        out.npy(f"{name}.npy", scene[name])
    out.csv("labels.csv", scene["labels"])
    out.csv("boxes.csv", scene["boxes"])
    out.csv("drift.csv", scene["drift"], decimals={"brightness": 4, "blur_sigma": 2})
    labels = scene["labels"]
    out.planted(
        {
            "images": len(labels),
            "splits": SPLITS[size],
            "classes": CLASSES,
            "class_counts": {c: int((labels["label"] == k).sum()) for k, c in enumerate(CLASSES)},
            "instances": len(scene["boxes"]),
            "defect_contrast_grey_levels": {"scratch": "+40..70", "spot": "-35..60", "crack": "-45..75"},
            "drift": {
                "applies_to": "test split",
                "brightness_multiplier": list(DRIFT_BRIGHTNESS),
                "illumination_ramp": "+-15% across the image",
                "gaussian_blur_sigma": DRIFT_BLUR_SIGMA,
            },
            "box_convention": "pixel edges: x_min, y_min inclusive; x_max, y_max exclusive",
        }
    )


def load(directory: Path) -> dict[str, Any]:
    labels = read_csv(directory / "labels.csv")
    instances = read_npy(directory / "instances.npy")
    # One class per image, so the semantic mask is the instance mask painted with the image's label.
    masks = np.where(instances > 0, labels["label"].to_numpy(dtype=np.uint8)[:, None, None], 0).astype(np.uint8)
    return {
        "images": read_npy(directory / "images.npy"),
        "masks": masks,
        "instances": instances,
        "labels": labels,
        "boxes": read_csv(directory / "boxes.csv"),
        "images_drift": read_npy(directory / "images_drift.npy"),
        "drift": read_csv(directory / "drift.csv"),
        "classes": CLASSES,
        "planted": read_json(directory / "planted.json"),
    }
