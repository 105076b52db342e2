"""The `segsuite` conventions every subcommand shares (DESIGN.md's command line contract)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from napari_segsuite.io import read_image

HEAVY = ("qtpy", "PyQt5", "PyQt6", "napari", "torch", "vispy")


def test_help_imports_neither_qt_napari_nor_torch():
    code = ("import sys\n"
            "from napari_segsuite.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"bad = [m for m in {HEAVY!r} if m in sys.modules]\n"
            "print('LOADED', bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "LOADED []" in out.stdout, out.stdout + out.stderr
    for cmd in ("sample", "growcut", "watershed", "cluster", "train", "predict", "metrics"):
        assert cmd in out.stdout


def test_every_command_is_registered():
    """Each name in COMMANDS is a subcommand (a module that failed to be found was skipped
    silently: after the move of cli/index.py to cli/indices.py, `segsuite index` vanished)."""
    from napari_segsuite.cli import COMMANDS, build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


def test_every_subcommand_help_is_light():
    code = ("import sys\nfrom napari_segsuite.cli import main, COMMANDS\n"
            "for c in COMMANDS:\n"
            "    try:\n        main([c, '--help'])\n    except SystemExit:\n        pass\n"
            f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "LOADED []" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]


def test_console_script_runs(tmp_path):
    out = subprocess.run([sys.executable, "-m", "napari_segsuite", "--version"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "segsuite" in out.stdout


def test_usage_errors_exit_2_one_line(cli):
    for argv in (["bogus"], ["sample", "--bogus-flag"], ["sample"], ["sample", "nosuch", "-o", "x"]):
        res = cli(*argv)
        assert res.code == 2, (argv, res)
        lines = [ln for ln in res.err.splitlines() if ln.strip()]
        assert lines and lines[-1].startswith("error:"), res
        assert "Traceback" not in res.err


def test_sample_list(cli):
    res = cli("sample", "--list")
    assert res.code == 0
    names = [ln.split()[0] for ln in res.out.splitlines() if ln.strip()]
    assert names == ["brain", "ct", "landsat", "nuclei"]


@pytest.mark.parametrize("name", ["brain", "ct", "landsat", "nuclei"])
def test_sample_writes_images_and_ground_truth_with_geometry(cli, tmp_path, name):
    from napari_segsuite.samples import get_sample

    res = cli("sample", name, "-o", tmp_path / name, "--quiet")
    assert res.code == 0, res
    data = get_sample(name).make(seed=0)
    written = sorted(p.name for p in (tmp_path / name).iterdir())
    expected = sorted([f"{k}.nii.gz" for k in list(data.images) + list(data.labels)]
                      + ["label_names.json"])
    if name == "landsat":  # also the scene folder as the USGS delivers it (see test_geo.py)
        from napari_segsuite.samples.landsat import PRODUCT_ID

        expected = sorted(expected + [PRODUCT_ID, f"{PRODUCT_ID}_labels.tif"])
    assert written == expected
    for key, img in {**data.images, **data.labels}.items():
        back = read_image(tmp_path / name / f"{key}.nii.gz")
        np.testing.assert_array_equal(back.array, img.array)
        np.testing.assert_allclose(back.spacing, img.spacing, rtol=1e-6)
        np.testing.assert_allclose(back.origin, img.origin, atol=1e-4)
    names = json.loads((tmp_path / name / "label_names.json").read_text())
    assert names == {k: {str(v): n for v, n in d.items()} for k, d in data.label_names.items()}


def test_sample_refuses_to_overwrite_without_force(cli, tmp_path):
    assert cli("sample", "nuclei", "-o", tmp_path, "--quiet").code == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    res = cli("sample", "nuclei", "-o", tmp_path, "--seed", "3", "--quiet")
    assert res.code == 2 and "--force" in res.err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert cli("sample", "nuclei", "-o", tmp_path, "--seed", "3", "--force", "--quiet").code == 0
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} != before


def test_interrupt_leaves_no_partial_output(cli, tmp_path, monkeypatch):
    """Ctrl-C while writing: exit 130, no file, no temporary left behind."""
    import SimpleITK as sitk

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(sitk, "WriteImage", interrupted)
    res = cli("sample", "nuclei", "-o", tmp_path / "out", "--quiet")
    assert res.code == 130 and res.err.startswith("error:")
    assert list((tmp_path / "out").iterdir()) == []


def test_internal_failure_exit_1_without_traceback(cli, tmp_path, monkeypatch):
    import napari_segsuite.samples as samples

    def broken(name):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(samples, "get_sample", broken)
    res = cli("sample", "brain", "-o", tmp_path)
    assert res.code == 1 and res.err.startswith("error: internal failure")
    assert "Traceback" not in res.err


def test_sample_into_a_folder_that_cannot_be_made_is_exit_2(cli, tmp_path, monkeypatch):
    """``sample -o`` where the folder cannot be created (no permission, read-only disk) was an
    internal failure (exit 1)."""
    from pathlib import Path

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", denied)
    res = cli("sample", "nuclei", "-o", tmp_path / "new", "--quiet")
    assert res.code == 2 and res.err.startswith("error:") and "Permission denied" in res.err, res
    assert len(res.err.strip().splitlines()) == 1


def test_device_auto_without_an_nvidia_driver_does_not_import_torch():
    """`--device auto` on a Linux machine without the NVIDIA driver is the CPU, decided without
    importing torch (1-2 s of every command's start-up)."""
    import os

    if not sys.platform.startswith("linux") or any(
            os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl",
                                        "/dev/dxg")):
        pytest.skip("needs Linux without an NVIDIA driver")
    code = ("import sys; from napari_segsuite.cli._common import resolve_device; "
            "print(resolve_device('auto'), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["cpu", "False"], out.stderr


def test_a_percent_sign_in_a_help_text_does_not_break_help(monkeypatch, capsys):
    """Help texts are prose from the parameter declarations; argparse formats them with %, so
    a lone "%" used to crash `segsuite COMMAND --help`."""
    import napari_segsuite.cli as cli
    from napari_segsuite.core.base import params
    from napari_segsuite.core.cluster.pipeline import ClusterParams

    real = params.info

    def info(cls, name):
        i = real(cls, name)
        if cls is ClusterParams and name == "k":
            i = type(i)(**{**i.__dict__, "help": i.help + " (under 1% of the voxels)"})
        return i

    monkeypatch.setattr(params, "info", info)
    with pytest.raises(SystemExit) as exc:
        cli.main(["cluster", "--help"])
    assert exc.value.code == 0
    assert "under 1% of the voxels" in capsys.readouterr().out
