"""Tiny synthetic segmentation data for the deep-learning tests."""

import numpy as np


def disks(n=4, size=48, seed=0, classes=2, noise=0.25):
    """``n`` pairs (image float32, labels uint8) of noisy disks; labels 1..classes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    imgs, labs = [], []
    for _ in range(n):
        lab = np.zeros((size, size), np.uint8)
        for _ in range(3):
            cy, cx = rng.integers(8, size - 8, 2)
            r = rng.integers(4, 8)
            lab[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(1, classes + 1)
        img = lab.astype(np.float32) + rng.normal(0, noise, lab.shape).astype(np.float32)
        imgs.append(img)
        labs.append(lab)
    return imgs, labs


def dice(a, b, value):
    a, b = a == value, b == value
    if not (a.any() or b.any()):
        return 1.0
    return 2 * (a & b).sum() / (a.sum() + b.sum())
