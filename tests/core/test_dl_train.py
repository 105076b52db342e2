"""Training learns, cancel keeps the best checkpoint, checkpoints round-trip and bad files are
one-line InputErrors."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _dl_data import dice, disks  # noqa: E402

from napari_segsuite.core.dl.checkpoint import (Checkpoint, load_model,  # noqa: E402
                                                save_checkpoint)
from napari_segsuite.core.dl.infer import predict  # noqa: E402
from napari_segsuite.core.dl.train import TrainState, train, train_steps  # noqa: E402
from napari_segsuite.core.base.errors import Cancelled, InputError# noqa: E402
from napari_segsuite.core.base.image import SegImage# noqa: E402
from napari_segsuite.core.base.progress import run# noqa: E402

FAST = dict(width=8, depth=2, patch=32, batch=4, steps_per_epoch=5, lr=5e-3, seed=0)


@pytest.fixture(scope="module")
def trained():
    imgs, labs = disks(4, size=32, classes=2, seed=1)
    state = TrainState()
    ck = train(imgs, labs, epochs=12, state=state, **FAST)
    return imgs, labs, ck, state


def test_it_learns(trained):
    imgs, labs, ck, state = trained
    assert ck.label_values == [0, 1, 2] and ck.output == "softmax"
    assert ck.metrics["val_dice"] > 0.9
    # and on a new image from the same distribution
    new_img, new_lab = disks(1, size=40, classes=2, seed=99)
    pred = predict(new_img[0], ck).labels.array
    assert dice(pred, new_lab[0], 1) > 0.85 and dice(pred, new_lab[0], 2) > 0.85
    # the loss went down
    losses = [h["train_loss"] for h in state.history]
    assert losses[-1] < 0.5 * losses[0]


def test_binary_and_label_values():
    imgs, labs = disks(3, size=32, classes=1, seed=2)
    labs = [np.where(l > 0, 7, 0).astype(np.uint8) for l in labs]
    ck = train(imgs, labs, epochs=14, **FAST)
    assert ck.output == "sigmoid" and ck.n_out == 1 and ck.label_values == [0, 7]
    pred = predict(imgs[0], ck).labels.array
    assert set(np.unique(pred)) <= {0, 7}
    assert dice(pred, labs[0], 7) > 0.8


def test_progress_previews_for_live_plot():
    imgs, labs = disks(2, size=32, seed=3)
    events = []
    run(train_steps(imgs, labs, epochs=2, **FAST), on_progress=events.append)
    previews = [e.preview for e in events if e.preview is not None]
    assert [p["epoch"] for p in previews] == [1, 2]
    assert {"epoch", "train_loss", "val_loss", "val_dice"} <= set(previews[0])
    assert all(e.total is None or e.done <= e.total for e in events)


def test_cancel_keeps_best_checkpoint():
    imgs, labs = disks(2, size=32, seed=4)
    state = TrainState()
    seen = []

    def on_progress(p):
        if p.preview is not None:
            seen.append(p.preview["epoch"])

    with pytest.raises(Cancelled):
        run(train_steps(imgs, labs, epochs=50, state=state, **FAST), on_progress=on_progress,
            should_cancel=lambda: len(seen) >= 2)
    assert len(state.history) == 2
    assert isinstance(state.best, Checkpoint) and 1 <= state.best_epoch <= 2
    predict(imgs[0], state.best)  # usable


def test_dim2_stack_skips_unlabelled_slices():
    imgs, labs = disks(3, seed=5)
    vol = np.stack(imgs + [imgs[0]])
    lab = np.stack(labs + [np.zeros_like(labs[0])])
    lab[1] = 0  # slice 1 not painted
    from napari_segsuite.core.dl.train import TrainConfig, _Data

    d = _Data([vol], [lab], TrainConfig(dim=2))
    assert len(d.samples) == 2
    d = _Data([vol], [lab], TrainConfig(dim=2, skip_empty_slices=False))
    assert len(d.samples) == 4


def test_multichannel_3d_training_and_spacing():
    rng = np.random.default_rng(0)
    lab = np.zeros((12, 20, 20), np.uint8)
    lab[3:9, 5:14, 6:15] = 1
    img = np.stack([lab + rng.normal(0, .3, lab.shape), rng.normal(0, 1, lab.shape)], -1)
    si = SegImage(img.astype(np.float32), spacing=(2.0, 0.5, 0.5), multichannel=True)
    ck = train([si], [lab], dim=3, epochs=2, width=4, depth=2, patch=12, batch=2,
               steps_per_epoch=2)
    assert ck.dim == 3 and ck.in_channels == 2 and ck.spacing == [2.0, 0.5, 0.5]
    assert len(ck.norm_mean) == 2


def test_bad_training_input():
    imgs, labs = disks(2)
    with pytest.raises(InputError, match="pairs"):
        train(imgs, labs[:1], epochs=1)
    with pytest.raises(InputError, match="empty"):
        train(imgs, [np.zeros_like(l) for l in labs], epochs=1)
    with pytest.raises(InputError, match="shape"):
        train(imgs, [l[:-1] for l in labs], epochs=1)
    with pytest.raises(InputError, match="3D model"):
        train(imgs, labs, dim=3, epochs=1)


# -- checkpoints ----------------------------------------------------------------------------------
def test_checkpoint_round_trip(trained, tmp_path):
    imgs, _, ck, _ = trained
    ck.metrics["numpy_value"] = np.float64(0.5)  # numpy scalars are stored as plain numbers
    path = save_checkpoint(ck, tmp_path / "m.pt")
    back = load_model(path)
    for key in ("arch", "dim", "settings", "in_channels", "n_out", "output", "label_values",
                "norm_mean", "norm_std", "patch"):
        assert getattr(back, key) == getattr(ck, key), key
    a = predict(imgs[0], ck, probabilities=True).probabilities.array
    b = predict(imgs[0], back, probabilities=True).probabilities.array
    np.testing.assert_allclose(a, b, atol=1e-6)
    # loads with weights_only=True: plain data, no code
    raw = torch.load(path, weights_only=True)
    assert raw["format_version"] == 1 and raw["metrics"]["numpy_value"] == 0.5
    with pytest.raises(InputError, match="exists"):
        save_checkpoint(ck, path)
    save_checkpoint(ck, path, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left


def _one_line(exc):
    msg = str(exc.value)
    assert "\n" not in msg and msg
    return msg


def test_bad_checkpoint_files(trained, tmp_path):
    _, _, ck, _ = trained
    good = save_checkpoint(ck, tmp_path / "good.pt")
    data = good.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.pt").write_bytes(b"hello, not a model" * 10)
    (tmp_path / "empty.pt").write_bytes(b"")
    torch.save({"a": torch.zeros(2)}, tmp_path / "other.pt")
    d = ck.to_dict()
    d["format_version"] = 99
    torch.save(d, tmp_path / "newer.pt")
    d = ck.to_dict()
    d["state_dict"] = {k: v for k, v in list(d["state_dict"].items())[:-2]}
    torch.save(d, tmp_path / "weights.pt")
    d = ck.to_dict()
    d["in_channels"] = 3
    d["norm_mean"], d["norm_std"] = [0.0] * 3, [1.0] * 3
    torch.save(d, tmp_path / "mismatch.pt")
    for name, pattern in [("missing.pt", "not found"), ("trunc.pt", "corrupt"),
                          ("junk.pt", "not a PyTorch"), ("empty.pt", "empty"),
                          ("other.pt", "not a napari-segsuite"), ("newer.pt", "newer"),
                          ("weights.pt", "do not fit"), ("mismatch.pt", "do not fit")]:
        with pytest.raises(InputError) as exc:
            load_model(tmp_path / name)
        assert pattern in _one_line(exc), (name, str(exc.value))


def test_wrong_channel_count_for_image(trained):
    _, _, ck, _ = trained
    with pytest.raises(InputError) as exc:
        predict(SegImage(np.zeros((20, 20, 3), np.float32), multichannel=True), ck)
    assert "1 channel" in _one_line(exc)


@pytest.mark.filterwarnings("ignore:.*torch.jit.*deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_torchscript_model(trained, tmp_path):
    import json

    imgs, _, ck, _ = trained
    net = ck.build()
    scripted = torch.jit.trace(net, torch.zeros(1, 1, 32, 32))
    meta = {"dim": 2, "in_channels": 1, "label_values": ck.label_values,
            "norm_mean": ck.norm_mean, "norm_std": ck.norm_std}
    path = tmp_path / "ts.pt"
    torch.jit.save(scripted, str(path), _extra_files={"segsuite.json": json.dumps(meta)})
    ts = load_model(path)
    assert ts.scripted is not None
    a = predict(imgs[0], ck, tile=32).labels.array
    b = predict(imgs[0], ts, tile=32).labels.array
    assert (a == b).mean() > 0.999
    # without metadata: labels 0..K-1, the image's own normalisation
    torch.jit.save(scripted, str(tmp_path / "bare.pt"))
    c = predict(imgs[0], load_model(tmp_path / "bare.pt"), tile=32).labels.array
    assert set(np.unique(c)) <= {0, 1, 2}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_cuda():
    imgs, labs = disks(2, size=32, seed=8)
    ck = train(imgs, labs, epochs=2, device="cuda", **FAST)
    assert ck.metrics["device"].startswith("cuda")
    assert all(v.device.type == "cpu" for v in ck.state_dict.values())  # saved on the CPU


def test_class_balanced_foreground_oversampling():
    """A rare label (a 3x3 'tumour') is centred in about half the foreground patches, not in
    its 9 / 2000 share of the foreground voxels."""
    from napari_segsuite.core.dl.train import _Sampler

    y = np.zeros((96, 96), np.int64)
    y[10:50, 10:60] = 1
    y[80:83, 80:83] = 2
    x = np.zeros((1, 96, 96), np.float32)
    s = _Sampler([(x, y)], (16, 16), 1.0, False, np.random.default_rng(0))
    _, yb = s.batch(200)
    share = np.mean([(p == 2).any() for p in yb])
    assert 0.35 < share < 0.65
    s = _Sampler([(x, y)], (16, 16), 0.0, False, np.random.default_rng(0))
    _, yb = s.batch(200)
    assert np.mean([(p == 2).any() for p in yb]) < 0.15
