"""Train the tiny pretrained models shipped in ``napari_segsuite/models/`` (deterministic).

    python scripts/train_sample_models.py [--out napari_segsuite/models] [--epochs N]

- ``brain_tissue_2d.pt``: 2D U-Net (width 8, depth 3) on T1 + T2 + FLAIR of the ``brain``
  sample, slice by slice along z: background, CSF, grey matter, white matter, skull, scalp,
  oedema, tumour core (the sample's label values 0..7). Trained on the sample made with seeds
  1 and 2, evaluated on seed 0 (the one ``get_sample("brain").make()`` and napari's sample menu
  give), so the Dice printed is on unseen data.
- ``nuclei_2d.pt``: 2D U-Net (width 8, depth 3) for the ``nuclei`` sample's foreground (binary,
  sigmoid); predict it with ``instances=True`` / ``--instances`` for one label per nucleus.
  Trained on seeds 1..4, evaluated on seed 0.

Seeded (numpy and torch, seed 0), single process; on the same torch version and CPU the files
are reproducible. Runtime on a shared 2-core CPU: about 1 minute (nuclei) + 3 minutes (brain).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def dice(a, b, v):
    a, b = a == v, b == v
    s = a.sum() + b.sum()
    return float("nan") if s == 0 else 2 * (a & b).sum() / s


def stack(d, names):
    from napari_segsuite.core.base.image import SegImage

    first = d.images[names[0]]
    arr = np.stack([d.images[n].array.astype(np.float32) for n in names], -1)
    return SegImage(arr, multichannel=True, name="brain",
                    metadata={"channel_names": list(names)}, **first.geometry())


def brain(out: Path, epochs: int) -> None:
    from napari_segsuite.core.dl.checkpoint import save_checkpoint
    from napari_segsuite.core.dl.infer import predict
    from napari_segsuite.core.base.progress import report
    from napari_segsuite.core.dl.train import train_steps
    from napari_segsuite.samples import get_sample

    names = ["t1", "t2", "flair"]
    s = get_sample("brain")
    train_data = [s.make(seed=k) for k in (1, 2)]
    t = time.time()
    ck = report(train_steps([stack(d, names) for d in train_data],
                            [d.labels["labels"] for d in train_data], arch="unet", dim=2,
                            epochs=epochs, width=8, depth=3, patch=96, batch=8, seed=0,
                            steps_per_epoch=16, val_fraction=0.15,
                            label_names=train_data[0].label_names["labels"]))
    took = time.time() - t
    test = s.make(seed=0)
    pred = predict(stack(test, names), ck).labels.array
    gt = test.labels["labels"].array
    scores = {test.label_names["labels"][v]: round(float(dice(pred, gt, v)), 3)
              for v in range(1, 8)}
    ck.metrics.update(trained_on="brain sample seeds 1, 2 (T1, T2, FLAIR)",
                      test_dice_seed0=scores, train_seconds=round(took, 1))
    path = save_checkpoint(ck, out / "brain_tissue_2d.pt", force=True)
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB, {took:.0f} s, Dice on seed 0: {scores}")


def nuclei(out: Path, epochs: int) -> None:
    from napari_segsuite.core.dl.checkpoint import save_checkpoint
    from napari_segsuite.core.dl.infer import predict
    from napari_segsuite.core.dl.train import train_steps
    from napari_segsuite.core.base.progress import report
    from napari_segsuite.samples import get_sample

    s = get_sample("nuclei")
    data = [s.make(seed=k) for k in (1, 2, 3, 4)]
    t = time.time()
    ck = report(train_steps([d.images["nuclei"] for d in data],
                            [d.labels["foreground"] for d in data], arch="unet", dim=2,
                            epochs=epochs, width=8, depth=3, patch=96, batch=8, seed=0,
                            steps_per_epoch=8, val_fraction=0.25, label_names={1: "nucleus"}))
    took = time.time() - t
    test = s.make(seed=0)
    res = predict(test.images["nuclei"], ck, instances=True)
    inst = res.labels.array
    gt = test.labels["labels"].array
    fg = dice(inst > 0, gt > 0, True)
    matched = 0
    for g in range(1, int(gt.max()) + 1):
        m = gt == g
        if not m.any():
            continue
        ids, counts = np.unique(inst[m], return_counts=True)
        best = ids[np.argmax(counts)]
        if best:
            p = inst == best
            iou = (p & m).sum() / (p | m).sum()
            matched += iou > 0.5
    n_gt = len(np.unique(gt)) - 1
    ck.metrics.update(trained_on="nuclei sample seeds 1-4 (foreground)", instances=True,
                      test_seed0=dict(foreground_dice=round(fg, 3), objects=int(inst.max()),
                                      true_objects=n_gt,
                                      matched_iou50=int(matched)),
                      train_seconds=round(took, 1))
    path = save_checkpoint(ck, out / "nuclei_2d.pt", force=True)
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB, {took:.0f} s, seed 0: foreground Dice "
          f"{fg:.3f}, {int(inst.max())} objects found / {n_gt} true, {matched} matched at "
          "IoU > 0.5")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "napari_segsuite" / "models"))
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--only", choices=("brain", "nuclei"))
    args = ap.parse_args()
    import torch

    torch.manual_seed(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "nuclei"):
        nuclei(out, args.epochs)
    if args.only in (None, "brain"):
        brain(out, args.epochs)


if __name__ == "__main__":
    main()
