"""Issue 16: the memory estimate and one-line refusal before predict, clustering and correction
start (CPU, and GPU for predict), and CUDA out-of-memory in predict_dask falling back to the CPU.
A fake small memory limit (``memory.available``) and a fake GPU (``torch.cuda.mem_get_info``,
the device resolution) stand in for a big machine: no GPU needed."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segsuite.core.base import memory
from napari_segsuite.core.base.errors import InputError, InputWarning
from napari_segsuite.core.base.image import SegImage
from napari_segsuite.core.base.progress import run


@pytest.fixture
def no_memory(monkeypatch):
    """1 kB available: every job with a model must be refused."""
    monkeypatch.setattr(memory, "available", lambda: 1000)


def _one_line_refusal(exc_info, *words):
    msg = str(exc_info.value)
    assert "\n" not in msg and "needs about" in msg and "GB" in msg, msg
    for w in words:
        assert w in msg, msg


def _image(shape=(6, 20, 20)):
    img = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    img[..., shape[-1] // 2:] += 4
    return img


# -- clustering ----------------------------------------------------------------------------------
@pytest.mark.parametrize("method,k,segments", [("kmeans", 2, None), ("kmedoids", 2, None),
                                               ("slic", None, 10), ("kmeans", 2, 10),
                                               ("spectral", 2, 10)])
def test_cluster_job_is_refused_before_any_work(no_memory, monkeypatch, method, k, segments):
    import napari_segsuite.core.cluster as C
    from napari_segsuite.core.cluster.pipeline import ClusterParams, cluster_job

    def no_work(*a, **k):
        raise AssertionError("the job started")

    monkeypatch.setattr(C, "cluster_steps", no_work)
    with pytest.raises(InputError) as exc:
        run(cluster_job(SegImage(_image()), ClusterParams(method=method, k=k, segments=segments)))
    _one_line_refusal(exc, "6x20x20", "crop" if segments or method == "spectral" else "lazily")


def test_lazy_kmeans_is_block_wise_and_not_refused(no_memory):
    """A dask image is clustered block by block: bounded memory, so no refusal."""
    import dask.array as da

    from napari_segsuite.core.cluster.pipeline import ClusterParams, cluster_job

    img = _image()
    out = run(cluster_job(SegImage(da.from_array(img, chunks=(3, 10, 10))),
                          ClusterParams(method="kmeans", k=2)))
    assert np.asarray(out.array).shape == img.shape


def test_cluster_fits_with_enough_memory(monkeypatch):
    from napari_segsuite.core.cluster.pipeline import ClusterParams, cluster_job

    monkeypatch.setattr(memory, "available", lambda: 2 ** 40)
    out = run(cluster_job(SegImage(_image()), ClusterParams(method="kmeans", k=2)))
    assert set(np.unique(out.array)) == {1, 2}


# -- correction ------------------------------------------------------------------------------------
OPS = {"fill_holes": dict(fill_holes=True), "remove_islands": dict(remove_islands=3),
       "keep_largest": dict(keep_largest=True), "split_islands": dict(split_islands=True),
       "margin": dict(margin=1.0), "hollow": dict(hollow=1.0),
       "smooth": dict(smooth="median", radius=1.0),
       "fill_between_slices": dict(fill_between_slices=True)}


@pytest.mark.parametrize("op", sorted(OPS))
def test_correct_job_is_refused_before_any_work(no_memory, monkeypatch, op):
    import napari_segsuite.core.correct.pipeline as P

    def no_work(*a, **k):
        raise AssertionError("the job started")

    monkeypatch.setattr(P, "_quick", no_work)
    lab = np.zeros((6, 20, 20), np.uint8)
    lab[1:5, 5:15, 5:15] = 1
    with pytest.raises(InputError) as exc:
        run(P.correct_job(lab, P.CorrectParams(**OPS[op])))
    _one_line_refusal(exc, "correct --" + op.replace("_", "-"), ".zarr")


def test_correct_estimate_grows_with_the_labels_dtype_and_size():
    small = memory.estimate("correct.margin", (64, 64, 64), np.uint8)
    assert small < memory.estimate("correct.margin", (64, 64, 64), np.uint32)
    assert small < memory.estimate("correct.margin", (128, 128, 128), np.uint8)
    assert memory.estimate("correct.smooth", (64,) * 3) > memory.estimate("correct.fill_holes",
                                                                          (64,) * 3)


# -- predict: CPU and GPU --------------------------------------------------------------------------
torch = pytest.importorskip("torch")


def _ckpt():
    from napari_segsuite.core.dl.checkpoint import Checkpoint
    from napari_segsuite.core.dl.models import build_model

    torch.manual_seed(0)
    m = build_model("unet", 2, 1, 3, width=4, depth=2)
    return Checkpoint(arch="unet", dim=2, settings=m.settings, in_channels=1, n_out=3,
                      output="softmax", label_values=[0, 1, 2], norm_mean=[0.0],
                      norm_std=[1.0], state_dict=m.state_dict(), patch=[16, 16])


def test_predict_job_is_refused_on_the_cpu_before_any_work(no_memory, monkeypatch):
    import napari_segsuite.core.dl.infer as I
    from napari_segsuite.core.dl.pipeline import PredictParams, predict_job

    def no_work(*a, **k):
        raise AssertionError("the job started")

    monkeypatch.setattr(I, "predict_steps", no_work)
    with pytest.raises(InputError) as exc:
        run(predict_job(SegImage(_image()), PredictParams(device="cpu"), model=_ckpt()))
    _one_line_refusal(exc, "predict on a 6x20x20 image", "zarr", "region of interest",
                      "downsample")


def test_predict_cpu_estimate_counts_the_volume_and_the_probabilities(monkeypatch):
    from napari_segsuite.core.dl.pipeline import PredictParams, check_memory

    monkeypatch.setattr(memory, "available", lambda: 2 ** 50)
    ck = _ckpt()
    small = check_memory(SegImage(_image((4, 32, 32))), ck, PredictParams(device="cpu"))
    big = check_memory(SegImage(_image((16, 32, 32))), ck, PredictParams(device="cpu"))
    probs = check_memory(SegImage(_image((16, 32, 32))), ck,
                         PredictParams(device="cpu", probabilities=True))
    assert small["cpu"] < big["cpu"] < probs["cpu"] and big["gpu"] is None


@pytest.fixture
def fake_gpu(monkeypatch):
    """A 'CUDA' device with ``free[0]`` bytes free; the CPU has plenty."""
    import napari_segsuite.core.base.device as D

    free = [2 ** 40]
    monkeypatch.setattr(D, "resolve_device", lambda name="auto": "cuda")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a, **k: (free[0], 2 * free[0]))
    monkeypatch.setattr(memory, "available", lambda: 2 ** 50)
    return free


def test_predict_job_is_refused_when_the_gpu_is_too_small(fake_gpu, monkeypatch):
    import napari_segsuite.core.dl.infer as I
    from napari_segsuite.core.dl.pipeline import PredictParams, check_memory, predict_job

    ck = _ckpt()
    img = SegImage(_image((4, 64, 64)))
    need = check_memory(img, ck, PredictParams(device="cuda", tile=64, batch=8))
    assert need["device"] == "cuda" and need["gpu"] > 8 * 64 * 64 * 4  # the activations

    def no_work(*a, **k):
        raise AssertionError("the job started")

    monkeypatch.setattr(I, "predict_steps", no_work)
    fake_gpu[0] = int(need["gpu"]) - 1
    with pytest.raises(InputError, match="GPU memory") as exc:
        run(predict_job(img, PredictParams(device="cuda", tile=64, batch=8), model=ck))
    assert "\n" not in str(exc.value) and "--tile" in str(exc.value)
    assert "--device cpu" in str(exc.value)


def test_cli_predict_cluster_correct_refuse_in_one_line(cli, tmp_path, no_memory):
    from napari_segsuite.core.dl.checkpoint import save_checkpoint
    from napari_segsuite.io import write_image

    write_image(tmp_path / "img.nii.gz", SegImage(_image()))
    lab = np.zeros((6, 20, 20), np.uint8)
    lab[1:5, 5:15, 5:15] = 1
    write_image(tmp_path / "lab.nii.gz", SegImage(lab))
    save_checkpoint(_ckpt(), tmp_path / "m.pt")
    runs = {"predict": ["predict", tmp_path / "img.nii.gz", "--model", tmp_path / "m.pt",
                        "--device", "cpu"],
            "cluster": ["cluster", tmp_path / "img.nii.gz", "--method", "kmeans", "--k", "2"],
            "correct": ["correct", tmp_path / "lab.nii.gz", "--margin", "1"]}
    for name, argv in runs.items():
        out = tmp_path / f"{name}.nii.gz"
        res = cli(*argv, "-o", out)
        assert res.code == 2, (name, res)
        assert res.err.startswith("error:") and "needs about" in res.err, (name, res)
        assert res.err.count("\n") == 1 and not out.exists(), (name, res)


# -- predict_dask: CUDA out of memory falls back to the CPU ---------------------------------------
def test_predict_dask_oom_falls_back_to_the_cpu_with_one_notice(monkeypatch):
    """Every block 'on the GPU' raises torch's OutOfMemoryError: the first block is run again on
    the CPU, the later ones go to the CPU at once; one warning; the plain CPU labels."""
    import dask
    import dask.array as da

    import napari_segsuite.core.dl.infer as I

    ck = _ckpt()
    img = np.random.default_rng(0).normal(size=(48, 48)).astype(np.float32)
    ref = I.predict_dask(da.from_array(img, chunks=16), ck, device="cpu", tile=16,
                         batch=4).compute(scheduler="synchronous")
    real = I._predict_block
    devices = []

    def gpu_oom(*args):
        dev = args[10]
        devices.append(dev)
        if dev != "cpu":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 8 GiB")
        return real(*args)

    monkeypatch.setattr(I, "_predict_block", gpu_oom)
    monkeypatch.setattr(I, "resolve_device", lambda name="auto": "cuda")
    lazy = I.predict_dask(da.from_array(img, chunks=16), ck, device="auto", tile=16, batch=4)
    with pytest.warns(InputWarning, match="U-Net: the GPU ran out of memory") as rec:
        with dask.config.set(scheduler="synchronous"):
            out = lazy.compute()
    assert len([w for w in rec if issubclass(w.category, InputWarning)]) == 1
    assert devices[:2] == ["cuda", "cpu"] and devices.count("cuda") == 1
    assert len(devices) == 1 + lazy.npartitions
    np.testing.assert_array_equal(out, ref)


def test_predict_dask_other_errors_are_not_swallowed(monkeypatch):
    import dask.array as da

    import napari_segsuite.core.dl.infer as I

    def boom(*args):
        raise ValueError("not memory")

    monkeypatch.setattr(I, "_predict_block", boom)
    monkeypatch.setattr(I, "resolve_device", lambda name="auto": "cuda")
    lazy = I.predict_dask(da.zeros((32, 32), chunks=16, dtype=np.float32), _ckpt(), tile=16,
                          batch=4)
    with pytest.raises(ValueError, match="not memory"):
        lazy.compute(scheduler="synchronous")
