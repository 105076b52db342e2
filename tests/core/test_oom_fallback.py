"""CUDA out-of-memory during a GrowCut GPU engine falls back to the CPU with a one-line notice
(issue 16). The engine is monkeypatched to raise torch's OutOfMemoryError: no GPU needed."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_segsuite.core import growcut as G  # noqa: E402
from napari_segsuite.core.base.errors import InputWarning# noqa: E402


def _case():
    rng = np.random.default_rng(1)
    img = rng.normal(0, 1, (10, 24, 24)).astype(np.float32)
    img[:, :, 12:] += 4
    seeds = np.zeros(img.shape, np.uint8)
    seeds[5, 12, 3], seeds[5, 12, 20] = 1, 2
    return img, seeds


def _oom(*args, **kwargs):
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    yield  # a generator, as the engines are


def test_automaton_oom_falls_back_to_the_cpu_sweep(monkeypatch):
    import napari_segsuite.core.growcut._torch as T

    img, seeds = _case()
    ref = G.growcut(img, seeds, engine="sweep")
    monkeypatch.setattr(T, "automaton_steps", _oom)
    with pytest.warns(InputWarning, match="ran out of memory.*finishing on the CPU") as rec:
        res = G.growcut(img, seeds, engine="automaton", device="cpu")
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
    assert res.engine == "sweep" and res.device == "cpu"
    np.testing.assert_array_equal(res.labels, ref.labels)


def test_other_engine_errors_are_not_swallowed(monkeypatch):
    import napari_segsuite.core.growcut._torch as T

    def boom(*a, **k):
        raise ValueError("not memory")
        yield

    monkeypatch.setattr(T, "automaton_steps", boom)
    img, seeds = _case()
    with pytest.raises(ValueError, match="not memory"):
        G.growcut(img, seeds, engine="automaton", device="cpu")


def test_cli_prints_the_notice_and_writes_the_result(cli, tmp_path, monkeypatch):
    import napari_segsuite.core.growcut._torch as T
    from napari_segsuite.core.base.image import SegImage
    from napari_segsuite.io import read_image, write_image

    img, seeds = _case()
    write_image(tmp_path / "i.nii.gz", SegImage(img))
    write_image(tmp_path / "s.nii.gz", SegImage(seeds))
    ref = G.growcut(img, seeds, engine="sweep").labels
    monkeypatch.setattr(T, "automaton_steps", _oom)
    monkeypatch.setattr(G, "choose_engine", lambda e, d, **kw: ("automaton", "cpu"))
    res = cli("growcut", tmp_path / "i.nii.gz", tmp_path / "s.nii.gz", "-o", tmp_path / "o.nii.gz")
    assert res.code == 0, res
    assert "ran out of memory" in res.err
    np.testing.assert_array_equal(read_image(tmp_path / "o.nii.gz").array, ref)


def test_unet_inference_oom_falls_back_to_the_cpu(monkeypatch):
    """The first pass (the 'GPU' one) raises torch's OutOfMemoryError: the job is run again on
    the CPU, with one warning, and gives the plain CPU result."""
    import napari_segsuite.core.dl.infer as I
    from napari_segsuite.core.dl.checkpoint import Checkpoint
    from napari_segsuite.core.dl.models import build_model

    torch.manual_seed(0)
    m = build_model("unet", 2, 1, 3, width=4, depth=2)
    ck = Checkpoint(arch="unet", dim=2, settings=m.settings, in_channels=1, n_out=3,
                    output="softmax", label_values=[0, 1, 2], norm_mean=[0.0], norm_std=[1.0],
                    state_dict=m.state_dict(), patch=[16, 16])
    img = np.random.default_rng(0).normal(size=(24, 24)).astype(np.float32)
    ref = I.predict(img, ck, device="cpu").labels.array
    real = I._predict_steps
    devices = []

    def first_oom(image, model, device, *rest):
        devices.append(device)
        if len(devices) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 8 GiB")
        return (yield from real(image, model, device, *rest))

    monkeypatch.setattr(I, "_predict_steps", first_oom)
    with pytest.warns(InputWarning, match="U-Net: the GPU ran out of memory") as rec:
        out = I.predict(img, ck, device="auto").labels.array
    assert len(rec) == 1 and devices == ["auto", "cpu"]
    np.testing.assert_array_equal(out, ref)
