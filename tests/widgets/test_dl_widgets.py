"""Train and predict widgets: dock, train a tiny run in sync mode, predict a new labels layer
with the image's scale; the user's layers are unchanged."""

import numpy as np
import pytest

pytest.importorskip("torch")

from _dl_data import disks  # noqa: E402


def _viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    imgs, labs = disks(2, size=32, seed=5)
    img = viewer.add_image(np.stack(imgs), name="img", scale=(3.0, 0.5, 0.5),
                           translate=(1.0, 2.0, 3.0))
    lab = viewer.add_labels(np.stack(labs), name="painted", scale=(3.0, 0.5, 0.5),
                            translate=(1.0, 2.0, 3.0))
    return viewer, img, lab


def test_train_then_predict(make_napari_viewer, sync_jobs, tmp_path):
    from napari_segsuite.widgets.predict import PredictWidget
    from napari_segsuite.widgets.train import TrainWidget

    viewer, img, lab = _viewer(make_napari_viewer)
    img_before, lab_before = img.data.copy(), lab.data.copy()
    w = TrainWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.channels.set_layers([img])
    w.labels.set_layer(lab)
    w.add_pair()
    assert w.pair_list.count() == 1
    w.epochs.setValue(2)
    w.width_spin.setValue(4)
    w.patch.setValue(32)
    w.steps.setValue(3)
    w.device.setCurrentText("cpu")
    assert "CPU" in w.device_label.text()
    w.train()
    assert w.panel.last_outcome == "done", w.panel.last_error
    assert w.checkpoint is not None and len(w.plot.history) == 2
    assert w.save_button.isEnabled()
    path = w.save(str(tmp_path / "m.pt"))
    assert path.exists()
    layers_before = list(viewer.layers)

    p = PredictWidget(viewer)
    viewer.window.add_dock_widget(p)
    p.path.setText(str(path))
    p.describe_model()
    assert "unet 2D" in p.model_info.text()
    p.channels.set_layers([img])
    p.device.setCurrentText("cpu")
    p.probabilities.setChecked(True)
    p.predict()
    assert p.panel.last_outcome == "done", p.panel.last_error
    new = [l for l in viewer.layers if l not in layers_before]
    labels_layers = [l for l in new if l.__class__.__name__ == "Labels"]
    assert len(labels_layers) == 1 and len(new) == 1 + 3  # + one probability layer per class
    out = labels_layers[0]
    assert out.data.shape == img.data.shape
    np.testing.assert_allclose(out.scale, img.scale)
    np.testing.assert_allclose(out.translate, img.translate)
    np.testing.assert_array_equal(img.data, img_before)
    np.testing.assert_array_equal(lab.data, lab_before)


def test_cancel_keeps_best(make_napari_viewer, sync_jobs):
    from napari_segsuite.widgets.train import TrainWidget

    viewer, img, lab = _viewer(make_napari_viewer)
    w = TrainWidget(viewer)
    w.channels.set_layers([img])
    w.labels.set_layer(lab)
    w.epochs.setValue(100)
    w.width_spin.setValue(4)
    w.patch.setValue(32)
    w.steps.setValue(2)

    def preview(metrics, _orig=w.plot.add):
        _orig(metrics)
        if metrics["epoch"] >= 2:
            w.panel.cancel()

    w.plot.add = preview
    w.train()
    assert w.panel.last_outcome == "cancelled"
    assert w.checkpoint is not None and w.checkpoint.metrics["epoch"] <= 2
    assert "kept the best" in w.info.text()
    assert w.save_button.isEnabled()


def test_predict_errors_are_notifications(make_napari_viewer, sync_jobs, tmp_path):
    from napari_segsuite.widgets.predict import PredictWidget

    viewer, img, lab = _viewer(make_napari_viewer)
    (tmp_path / "bad.pt").write_bytes(b"nonsense")
    p = PredictWidget(viewer)
    p.path.setText(str(tmp_path / "bad.pt"))
    p.describe_model()
    assert "not a PyTorch" in p.model_info.text()
    n = len(viewer.layers)
    p.channels.set_layers([img])
    p.predict()
    assert p.panel.last_outcome == "error" and len(viewer.layers) == n


def test_pretrained_model_dropdown(make_napari_viewer, sync_jobs):
    from napari_segsuite.core.dl.checkpoint import bundled_models
    from napari_segsuite.widgets.predict import PredictWidget

    if "nuclei_2d" not in bundled_models():
        pytest.skip("nuclei model not bundled")
    viewer = make_napari_viewer()
    imgs, _ = disks(1, size=48, seed=9)
    img = viewer.add_image(imgs[0] * 1000, name="cells", scale=(0.5, 0.5))
    p = PredictWidget(viewer)
    p.bundled.setCurrentIndex(p.bundled.findText("nuclei_2d"))
    assert p.path.text().endswith("nuclei_2d.pt")
    assert p.instances.isChecked()  # the nuclei model asks for one label per object
    p.channels.set_layers([img])
    p.predict()
    assert p.panel.last_outcome == "done", p.panel.last_error
    out = p.result_layers[0]
    from napari_segsuite.core.base.labels import label_dtype  # the one rule (was uint32 always)

    assert out.name == "cells objects" and out.data.dtype == label_dtype(int(out.data.max()))
    np.testing.assert_allclose(out.scale, img.scale)


@pytest.mark.parametrize("instances", [False, True])
def test_predict_button_gives_the_cli_output(make_napari_viewer, qtbot, sync_jobs, cli,
                                             tmp_path, instances):
    """The widget and ``segsuite predict`` run one job: clicking Predict on the nuclei sample
    with the bundled model gives the CLI's output file, voxel for voxel (labels and
    probabilities)."""
    from qtpy.QtCore import Qt

    from napari_segsuite.core.dl.checkpoint import bundled_models
    from napari_segsuite.io import read_image, write_image
    from napari_segsuite.samples.nuclei import make_nuclei
    from napari_segsuite.widgets.predict import PredictWidget

    if "nuclei_2d" not in bundled_models():
        pytest.skip("nuclei model not bundled")
    img = make_nuclei(seed=2, scale=0.5).images["nuclei"]
    path = write_image(tmp_path / "nuclei.nii.gz", img)
    out, prob = tmp_path / "pred.nii.gz", tmp_path / "prob.nii.gz"
    res = cli("predict", path, "--model", "nuclei_2d", "-o", out, "--probabilities", prob,
              "--device", "cpu", "--quiet", *(["--instances"] if instances else []))
    assert res.code == 0, res

    viewer = make_napari_viewer()
    layer = viewer.open(str(path), plugin="napari-segsuite")[0]
    p = PredictWidget(viewer)
    qtbot.addWidget(p)
    p.bundled.setCurrentIndex(p.bundled.findText("nuclei_2d"))
    p.instances.setChecked(instances)
    p.probabilities.setChecked(True)
    p.device.setCurrentText("cpu")
    p.channels.set_layers([layer])
    qtbot.mouseClick(p.run_button, Qt.LeftButton)
    assert p.panel.last_outcome == "done", p.panel.last_error
    want = read_image(out)
    got = p.result_layers[0]
    assert got.data.dtype == want.array.dtype
    np.testing.assert_array_equal(got.data, want.array)
    np.testing.assert_allclose(got.scale, want.spacing)
    probs = read_image(prob).array
    for c, lay in enumerate(p.result_layers[1:]):
        np.testing.assert_allclose(lay.data, probs[..., c], rtol=1e-6)


def test_train_button_gives_the_cli_model(make_napari_viewer, qtbot, sync_jobs, cli, tmp_path):
    """The widget and ``segsuite train`` run one job: the same pair and parameters give the
    same model (architecture, settings, label values and names, normalisation, weights)."""
    import torch
    from qtpy.QtCore import Qt

    from napari_segsuite.core.base.image import SegImage
    from napari_segsuite.core.dl.checkpoint import load_model
    from napari_segsuite.io import write_image
    from napari_segsuite.widgets.train import TrainWidget

    imgs, labs = disks(3, size=32, seed=4)
    img = SegImage(np.stack(imgs), spacing=(2.0, 0.5, 0.5))
    lab = img.like(np.stack(labs), label_names={1: "disk", 2: "other"})
    ipath = write_image(tmp_path / "img.nii.gz", img)
    lpath = write_image(tmp_path / "lab.nii.gz", lab)
    model = tmp_path / "cli.pt"
    res = cli("train", "--images", ipath, "--labels", lpath, "-o", model, "--epochs", "2",
              "--width", "4", "--patch", "32", "--steps", "2", "--device", "cpu", "--quiet")
    assert res.code == 0, res

    viewer = make_napari_viewer()
    ilayer = viewer.open(str(ipath), plugin="napari-segsuite")[0]
    llayer = viewer.open(str(lpath), plugin="napari-segsuite")[0]
    w = TrainWidget(viewer)
    qtbot.addWidget(w)
    w.channels.set_layers([ilayer])
    w.labels.set_layer(llayer)
    w.epochs.setValue(2)
    w.width_spin.setValue(4)
    w.patch.setValue(32)
    w.steps.setValue(2)
    w.device.setCurrentText("cpu")
    qtbot.mouseClick(w.train_button, Qt.LeftButton)
    assert w.panel.last_outcome == "done", w.panel.last_error
    mine = load_model(w.save(str(tmp_path / "widget.pt")))
    want = load_model(model)
    for key in ("arch", "dim", "settings", "label_values", "label_names", "in_channels",
                "patch", "norm_mean", "norm_std"):
        assert getattr(mine, key) == getattr(want, key), key
    assert sorted(mine.state_dict) == sorted(want.state_dict)
    for (name, a), (_, b) in zip(sorted(mine.state_dict.items()), sorted(want.state_dict.items())):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
