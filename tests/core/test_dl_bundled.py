"""The pretrained tiny models shipped in the package load, are small, and segment their
samples."""

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_segsuite.core.dl.checkpoint import bundled_models, load_model  # noqa: E402
from napari_segsuite.core.dl.infer import predict  # noqa: E402

MODELS = bundled_models()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_bundled_model_loads_and_is_small(name):
    path = MODELS[name]
    assert path.stat().st_size < 2_000_000
    ck = load_model(path)  # weights_only=True inside
    assert ck.dim == 2 and ck.metrics.get("trained_on")


@pytest.mark.skipif("nuclei_2d" not in MODELS, reason="model not bundled")
def test_nuclei_model_segments_the_sample():
    from napari_segsuite.samples import get_sample

    d = get_sample("nuclei").make(seed=0)
    img, gt = d.images["nuclei"], d.labels["labels"].array
    crop = img.like(img.array)  # whole 256 x 256 sample
    out = predict(crop, MODELS["nuclei_2d"], instances=True).labels.array
    fg = (out > 0), (gt > 0)
    assert 2 * (fg[0] & fg[1]).sum() / (fg[0].sum() + fg[1].sum()) > 0.9
    assert 0.8 * gt.max() < out.max() < 1.3 * len(np.unique(gt))


@pytest.mark.skipif("brain_tissue_2d" not in MODELS, reason="model not bundled")
def test_brain_model_on_a_few_slices():
    from napari_segsuite.core.base.image import SegImage
    from napari_segsuite.samples import get_sample

    d = get_sample("brain").make(seed=0)
    sl = slice(44, 48)
    arr = np.stack([d.images[c].array[sl] for c in ("t1", "t2", "flair")], -1)
    img = SegImage(arr.astype(np.float32), multichannel=True, spacing=d.images["t1"].spacing)
    out = predict(img, MODELS["brain_tissue_2d"]).labels.array
    gt = d.labels["labels"].array[sl]
    for v in (2, 3):  # grey and white matter
        a, b = out == v, gt == v
        assert 2 * (a & b).sum() / (a.sum() + b.sum()) > 0.7


def test_cli_list_models(cli):
    r = cli("predict", "--list-models")
    assert r.code == 0
    for name in MODELS:
        assert name in r.out
