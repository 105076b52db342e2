"""Data integrity under faults (issue 14): verified writes, exclusive publishing, complete reads,
stale temporary files, truthful interrupt messages.

Full-disk cases run on a 1 MiB tmpfs (needs root and ``mount``; skipped with the reason
otherwise)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from napari_segsuite.core.base import atomic
from napari_segsuite.core.base.errors import InputError
from napari_segsuite.core.base.image import SegImage
from napari_segsuite.io import read_image, write_image

EXTS = (".nii.gz", ".nii", ".npy", ".nrrd", ".mha", ".mhd", ".tif")


def _noise(shape=(40, 100, 100), seed=0):
    """int16 noise: incompressible, so it fills a small disk whatever the format."""
    return (np.random.default_rng(seed).random(shape) * 30000).astype(np.int16)


def _leftovers(folder: Path):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    try:
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a small tmpfs here ({exc})")
    if res.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (" + " ".join(res.stderr.split())[:200]
                    + "); the full-disk cases need root")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30).returncode:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)


# -- 1. a write is verified before it is published ------------------------------------------------
@pytest.mark.parametrize("ext", EXTS)
def test_full_disk_is_an_error_and_force_keeps_the_good_file(small_disk, ext):
    out = small_disk / f"out{ext}"
    good = SegImage(np.arange(1000, dtype=np.uint8).reshape(10, 10, 10))
    write_image(out, good)
    before = {p.name: p.read_bytes() for p in small_disk.iterdir()}
    big = SegImage(np.concatenate([_noise(), _noise(seed=1)]))  # 1.6 MB: does not fit
    with pytest.raises(InputError) as err:
        write_image(out, big, force=True)
    assert "\n" not in str(err.value)
    # the good file is untouched (not replaced by a truncated one), nothing else is left
    assert {p.name: p.read_bytes() for p in small_disk.iterdir()} == before
    np.testing.assert_array_equal(read_image(out).array, good.array)


def test_full_disk_cli_exit_2_one_line(small_disk, tmp_path, cli):
    img = tmp_path / "img.nii.gz"
    write_image(img, SegImage(np.concatenate([_noise(), _noise(seed=1)]).astype(np.float32)))
    seeds = np.zeros((80, 100, 100), np.uint8)
    seeds[5, 5, 5], seeds[70, 90, 90] = 1, 2
    write_image(tmp_path / "seeds.nii.gz", SegImage(seeds))
    # uint8 labels, 800 kB raw: a .nii does not fit once the disk holds some other file
    (small_disk / "filler").write_bytes(b"x" * 400_000)
    res = cli("growcut", img, tmp_path / "seeds.nii.gz", "-o", small_disk / "gc.nii",
              "--quiet", "--device", "cpu")
    assert res.code == 2, res
    lines = [ln for ln in res.err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "disk may be full" in lines[0], res
    assert not (small_disk / "gc.nii").exists()
    assert _leftovers(small_disk) == []


# -- 1. exclusive publish: a file that appeared meanwhile is never replaced ------------------------
def test_file_that_appeared_during_the_write_is_kept(tmp_path, monkeypatch):
    """Another process writes OUT after our existence check and before our publish: ours must
    fail (no --force), theirs stays. With a check-then-rename, theirs was silently replaced."""
    out = tmp_path / "out.nii.gz"
    theirs = SegImage(np.full((4, 5, 6), 7, np.uint8))
    np.save(tmp_path / "theirs.npy", theirs.array)
    code = textwrap.dedent(f"""
        import numpy as np
        from napari_segsuite.io import write_image
        from napari_segsuite.core.base.image import SegImage
        write_image({str(out)!r}, SegImage(np.load({str(tmp_path / 'theirs.npy')!r})))
    """)
    import napari_segsuite.io as io_mod

    real = io_mod._verify_written

    def verify_then_race(*args):
        real(*args)
        subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(Path(io_mod.__file__).parents[2])})

    monkeypatch.setattr(io_mod, "_verify_written", verify_then_race)
    with pytest.raises(InputError, match="already exists"):
        write_image(out, SegImage(np.zeros((4, 5, 6), np.uint8)))
    np.testing.assert_array_equal(read_image(out).array, theirs.array)
    assert _leftovers(tmp_path) == []


def test_two_runs_racing_for_one_output(tmp_path):
    """Two processes publish the same OUT at the same moment (both past their checks, released
    together): exactly one wins, the other is refused, the file is the winner's, complete."""
    out = tmp_path / "out.nii.gz"
    go = tmp_path / "go"
    code = textwrap.dedent("""
        import os, sys, time
        import numpy as np
        import napari_segsuite.io as io
        from napari_segsuite.core.base.errors import InputError
        from napari_segsuite.core.base.image import SegImage
        real = io._verify_written
        def wait(*a):
            real(*a)
            open(sys.argv[3], "w").close()
            while not os.path.exists(sys.argv[2]):
                time.sleep(0.01)
        io._verify_written = wait
        v = int(sys.argv[4])
        try:
            io.write_image(sys.argv[1], SegImage(np.full((8, 9, 10), v, np.uint8)))
            print("WROTE", v)
        except InputError as exc:
            print("REFUSED", exc)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(atomic.__file__).parents[3])}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(out), str(go),
                               str(tmp_path / f"ready{v}"), str(v)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for v in (1, 2)]
    import time

    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{v}").exists() for v in (1, 2)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    go.touch()
    outs = [p.communicate(timeout=120)[0] for p in procs]
    wrote = [o for o in outs if o.startswith("WROTE")]
    assert len(wrote) == 1, outs
    assert sum(o.startswith("REFUSED") for o in outs) == 1, outs
    winner = int(wrote[0].split()[1])
    np.testing.assert_array_equal(read_image(out).array, winner)
    assert _leftovers(tmp_path) == []


def test_force_replaces_atomically(tmp_path):
    out = tmp_path / "out.nrrd"
    write_image(out, SegImage(np.zeros((3, 4, 5), np.uint8)))
    write_image(out, SegImage(np.ones((3, 4, 5), np.uint8)), force=True)
    assert read_image(out).array.min() == 1
    assert _leftovers(tmp_path) == []


# -- 2. a read is complete ------------------------------------------------------------------------
@pytest.mark.parametrize("ext", [".nii.gz", ".nii", ".tif", ".npy", ".nrrd", ".mha"])
@pytest.mark.parametrize("keep", [0.5, 200])
def test_truncated_file_is_an_input_error(tmp_path, ext, keep, cli):
    path = tmp_path / f"img{ext}"
    write_image(path, SegImage(_noise((12, 40, 50))))
    data = path.read_bytes()
    n = int(len(data) * keep) if keep < 1 else keep
    path.write_bytes(data[:n])
    with pytest.raises(InputError):
        read_image(path)
    res = cli("watershed", path, "-o", tmp_path / "out.nii.gz", "--quiet")
    assert res.code == 2, res
    assert [ln for ln in res.err.splitlines() if ln.startswith("error:")], res
    assert "Traceback" not in res.err
    assert not (tmp_path / "out.nii.gz").exists()


def test_complete_files_still_read(tmp_path):
    a = _noise((6, 7, 8))
    for ext in EXTS:
        path = tmp_path / f"img{ext}"
        write_image(path, SegImage(a, spacing=(2.0, 1.0, 1.0)))
        np.testing.assert_array_equal(read_image(path).array, a)


# -- 3. temporary files: named with the process id, stale ones cleaned -----------------------------
def test_killed_writer_leaves_a_temp_the_next_run_removes(tmp_path):
    out = tmp_path / "out.nii.gz"
    code = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        from napari_segsuite.core.base import atomic
        from napari_segsuite.io import write_image
        from napari_segsuite.core.base.image import SegImage
        def die(path):  # killed in the middle of the final write
            os.kill(os.getpid(), signal.SIGKILL)
        atomic.fsync = die
        write_image({str(out)!r}, SegImage(np.zeros((10, 10, 10), np.uint8)))
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(atomic.__file__).parents[3])}
    res = subprocess.run([sys.executable, "-c", code], env=env, timeout=120)
    assert res.returncode == -signal.SIGKILL
    left = _leftovers(tmp_path)
    assert len(left) == 1 and left[0].startswith(atomic.PREFIX), left
    assert not out.exists()
    # a temp of a live process (ours) is left alone
    mine = tmp_path / f"{atomic.PREFIX}{atomic._host()}-{os.getpid()}-abc"
    mine.mkdir()
    write_image(tmp_path / "next.nii.gz", SegImage(np.ones((3, 3, 3), np.uint8)))
    assert _leftovers(tmp_path) == [mine.name]


# -- 4. the interrupt message tells the truth -----------------------------------------------------
@pytest.fixture
def tiny_case(tmp_path):
    img = np.zeros((6, 20, 20), np.float32)
    img[:, :, 10:] = 100
    write_image(tmp_path / "img.nii.gz", SegImage(img))
    return tmp_path


@pytest.mark.parametrize("when", ["before", "during", "after"])
def test_interrupt_message_says_whether_the_output_was_written(tiny_case, cli, monkeypatch,
                                                               when):
    out = tiny_case / "ws.nii.gz"
    real = atomic.publish

    def interrupted(tmp, dest, force=False):
        if when == "before":
            raise KeyboardInterrupt
        if when == "during":  # the link is made, the bookkeeping not yet
            atomic._PENDING = (Path(dest).absolute(), *(lambda s: (s.st_dev, s.st_ino))(
                os.stat(tmp)))
            os.link(tmp, dest)
            raise KeyboardInterrupt
        real(tmp, dest, force)
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "publish", interrupted)
    res = cli("watershed", tiny_case / "img.nii.gz", "-o", out, "--quiet")
    assert res.code == 130, res
    if when == "before":
        assert not out.exists()
        assert "no output was written" in res.err
    else:
        assert out.exists() and read_image(out).shape == (6, 20, 20)
        assert "no output was written" not in res.err
        assert f"after writing {out}" in res.err
    assert _leftovers(tiny_case) == []


# -- 4. Cancel / Ctrl-C within a second: every long step yields while it runs ---------------------
class _Blocked:
    """Replace ``module.name`` by a function that blocks until released (a long single call at
    a chosen moment of the job), then calls the real one."""

    def __init__(self, monkeypatch, module, name):
        import threading

        self.entered = threading.Event()
        self.release = threading.Event()
        real = getattr(module, name)

        def blocked(*args, **kwargs):
            self.entered.set()
            assert self.release.wait(120)
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, blocked)


def _yields_while_blocked(job, blocked, limit_s=20.0):
    """Drive ``job`` in a thread until the blocked step is entered; then the job must yield
    again while that step still runs (with today's single calls it cannot: the thread sits in
    the call). Returns True when it did; the job is then closed (Cancel) and the step
    released."""
    import queue
    import threading

    events = queue.Queue()

    def drive():
        try:
            for ev in job:
                events.put(ev)
                if blocked.entered.is_set():
                    events.put("yielded-while-blocked")
                    return
        except BaseException as exc:  # noqa: BLE001
            events.put(exc)
        events.put("end")

    t = threading.Thread(target=drive, daemon=True)
    t.start()
    assert blocked.entered.wait(120), "the job never reached the step"
    got = False
    try:
        while True:
            ev = events.get(timeout=limit_s)  # generous: the job yields every 0.1 s
            if ev == "yielded-while-blocked":
                got = True
                break
            if ev == "end" or isinstance(ev, BaseException):
                break
    except queue.Empty:
        got = False
    finally:
        blocked.release.set()
    t.join(120)
    job.close()  # Cancel: the generator closes at its yield
    return got


@pytest.fixture
def volume():
    from scipy import ndimage as ndi

    img = ndi.gaussian_filter(np.random.default_rng(0).random((24, 24, 24)), 2).astype(np.float32)
    seeds = np.zeros(img.shape, np.int32)
    seeds[2, 2, 2], seeds[-3, -3, -3] = 1, 2
    return img, seeds


def test_watershed_hminima_step_answers_cancel(monkeypatch, volume):
    from napari_segsuite.core import watershed as W

    b = _Blocked(monkeypatch, W, "h_minima_markers")
    assert _yields_while_blocked(W.watershed_steps(volume[0]), b)


def test_watershed_gradient_step_answers_cancel(monkeypatch, volume):
    from napari_segsuite.core import watershed as W

    b = _Blocked(monkeypatch, W, "_axis_derivative")
    assert _yields_while_blocked(W.watershed_steps(volume[0], volume[1]), b)


def test_flood_setup_answers_cancel(monkeypatch, volume):
    from napari_segsuite.core.watershed import _flood
    from napari_segsuite.core import watershed as W

    b = _Blocked(monkeypatch, _flood, "_value_codes")
    assert _yields_while_blocked(W.watershed_steps(volume[0], volume[1]), b)


def test_instances_distance_step_answers_cancel(monkeypatch, volume):
    from napari_segsuite.core import watershed as W

    b = _Blocked(monkeypatch, W, "distance_markers")
    assert _yields_while_blocked(W.instances_steps(volume[0]), b)


def test_growcut_prepare_answers_cancel(monkeypatch, volume):
    import napari_segsuite.core.growcut as G

    b = _Blocked(monkeypatch, G, "prepare")
    assert _yields_while_blocked(G.growcut_steps(volume[0], volume[1], device="cpu"), b)


def test_training_step_answers_cancel(monkeypatch):
    pytest.importorskip("torch")
    from napari_segsuite.core.dl import train as T

    img = np.random.default_rng(0).random((2, 32, 32)).astype(np.float32)
    lab = (img > 0.5).astype(np.uint8)
    b = _Blocked(monkeypatch, T._Sampler, "batch")  # inside the data preparation
    job = T.train_steps([img], [lab], T.TrainConfig(arch="unet", dim=2, epochs=1, patch=16,
                                                    width=4, depth=1, device="cpu"))
    assert _yields_while_blocked(job, b)


def test_in_background_returns_result_and_raises_errors():
    from napari_segsuite.core.base.progress import in_background, run

    assert run(in_background(lambda a, b=0: a + b, 2, b=3)) == 5
    with pytest.raises(InputError, match="bad"):
        run(in_background(lambda: (_ for _ in ()).throw(InputError("bad"))))


# -- 5. inputs on another grid are refused, the same rule everywhere; NaN labels are errors --------
@pytest.fixture
def grid_case(tmp_path):
    img = np.zeros((6, 20, 20), np.float32)
    img[:, :, 10:] = 100
    write_image(tmp_path / "img.nii.gz", SegImage(img, spacing=(2.0, 1.0, 1.0)))
    seeds = np.zeros(img.shape, np.uint8)
    seeds[3, 10, 2], seeds[3, 10, 17] = 1, 2
    return tmp_path, seeds


@pytest.mark.parametrize("what", ["spacing", "origin", "direction"])
@pytest.mark.parametrize("cmd", ["growcut", "watershed", "watershed-mask", "growcut-mask",
                                 "cluster-mask", "metrics"])
def test_input_on_another_grid_is_refused(grid_case, cli, cmd, what):
    d, seeds = grid_case
    geo = {"spacing": dict(spacing=(1.0, 1.0, 1.0)), "origin": dict(spacing=(2.0, 1.0, 1.0),
                                                                    origin=(0.0, 5.0, 0.0)),
           "direction": dict(spacing=(2.0, 1.0, 1.0),
                             direction=(1, 0, 0, 0, 0, 1, 0, -1, 0))}[what]
    write_image(d / "other.nii.gz", SegImage(seeds, **geo))
    out = d / "out.nii.gz"
    argv = {"growcut": ["growcut", d / "img.nii.gz", d / "other.nii.gz"],
            "growcut-mask": ["growcut", d / "img.nii.gz", d / "other.nii.gz", "--mask",
                             d / "other.nii.gz"],
            "watershed": ["watershed", d / "img.nii.gz", "--markers", d / "other.nii.gz"],
            "watershed-mask": ["watershed", d / "img.nii.gz", "--mask", d / "other.nii.gz"],
            "cluster-mask": ["cluster", d / "img.nii.gz", "--mask", d / "other.nii.gz",
                             "--method", "kmeans", "--k", "2"],
            "metrics": ["metrics", d / "other.nii.gz", d / "img.nii.gz"]}[cmd]
    if cmd == "growcut-mask":  # the seeds themselves on the image's grid
        write_image(d / "seeds.nii.gz", SegImage(seeds, spacing=(2.0, 1.0, 1.0)))
        argv[2] = d / "seeds.nii.gz"
    if cmd != "metrics":
        argv += ["-o", out, "--quiet"]
    res = cli(*argv)
    assert res.code == 2, res
    assert "not on" in res.err and what in res.err, res
    assert len([ln for ln in res.err.splitlines() if ln.strip()]) == 1, res
    assert not out.exists()


def test_npy_seeds_are_taken_on_the_image_grid(grid_case, cli):
    d, seeds = grid_case
    np.save(d / "seeds.npy", seeds)
    res = cli("growcut", d / "img.nii.gz", d / "seeds.npy", "-o", d / "gc.nii.gz", "--quiet",
              "--device", "cpu")
    assert res.code == 0, res


@pytest.mark.parametrize("cmd", ["growcut", "watershed", "metrics-pred", "metrics-gt"])
def test_nan_in_a_label_map_is_an_input_error(grid_case, cli, cmd):
    d, seeds = grid_case
    lab = seeds.astype(np.float32)
    lab[0, 0, 0] = np.nan
    write_image(d / "nan.nii.gz", SegImage(lab, spacing=(2.0, 1.0, 1.0)))
    write_image(d / "gt.nii.gz", SegImage(seeds, spacing=(2.0, 1.0, 1.0)))
    argv = {"growcut": ["growcut", d / "img.nii.gz", d / "nan.nii.gz", "-o", d / "o.nii.gz"],
            "watershed": ["watershed", d / "img.nii.gz", "--markers", d / "nan.nii.gz", "-o",
                          d / "o.nii.gz"],
            "metrics-pred": ["metrics", d / "nan.nii.gz", d / "gt.nii.gz"],
            "metrics-gt": ["metrics", d / "gt.nii.gz", d / "nan.nii.gz"]}[cmd]
    res = cli(*argv, "--quiet")
    assert res.code == 2, res
    assert "NaN" in res.err and res.out == ""
    assert not (d / "o.nii.gz").exists()


def test_nan_in_a_nifti_survives_reading(tmp_path):
    """ITK's NIfTI reader turns NaN into 0 silently; ours keeps them, so the checks see them."""
    a = np.zeros((5, 6, 7), np.float32)
    a[1, 2, 3] = a[4, 5, 6] = np.nan
    for ext in (".nii.gz", ".nii", ".nrrd"):
        write_image(tmp_path / f"a{ext}", SegImage(a))
        b = read_image(tmp_path / f"a{ext}").array
        assert np.argwhere(np.isnan(b)).tolist() == [[1, 2, 3], [4, 5, 6]], ext


# -- 8. a job that would not fit in memory is refused at once, with the estimate ----------------
def test_memory_estimate_grows_with_the_input():
    from napari_segsuite.core.base.memory import estimate

    small = estimate("growcut", (64, 64, 64))
    big = estimate("growcut", (512, 512, 512))
    assert 0 < small < big
    assert estimate("growcut", (64, 64, 64), channels=3) > small
    assert estimate("watershed", (512,) * 3) > 512 ** 3 * 4  # more than the input
    assert estimate("no-such-job", (10, 10)) is None


@pytest.mark.parametrize("cmd", ["growcut", "watershed", "instances"])
def test_job_that_does_not_fit_is_refused_before_work(grid_case, cli, monkeypatch, cmd):
    from napari_segsuite.core.base import memory

    d, seeds = grid_case
    write_image(d / "seeds.nii.gz", SegImage(seeds, spacing=(2.0, 1.0, 1.0)))
    monkeypatch.setattr(memory, "available", lambda: 1000)  # 1 kB left
    argv = {"growcut": ["growcut", d / "img.nii.gz", d / "seeds.nii.gz"],
            "watershed": ["watershed", d / "img.nii.gz"],
            "instances": ["watershed", d / "img.nii.gz", "--instances"]}[cmd]
    res = cli(*argv, "-o", d / "out.nii.gz")
    assert res.code == 2, res
    assert res.err.startswith("error:") and "needs about" in res.err and "GB" in res.err
    assert res.err.count("\n") == 1 and not (d / "out.nii.gz").exists()
    monkeypatch.setenv("SEGSUITE_MEMORY_CHECK", "0")
    assert cli(*argv, "-o", d / "out.nii.gz", "--quiet", "--force").code == 0


# -- 9. warnings for degenerate inputs ------------------------------------------------------------
def test_constant_image_and_too_large_k_warn(tmp_path, cli):
    write_image(tmp_path / "const.nii.gz", SegImage(np.full((4, 10, 10), 5, np.float32)))
    res = cli("cluster", tmp_path / "const.nii.gz", "--method", "kmeans", "--k", "3", "-o",
              tmp_path / "c.nii.gz", "--quiet")
    assert "warning: the image is constant" in res.err, res
    two = np.zeros((4, 10, 10), np.float32)
    two[:, :, 5:] = 7
    write_image(tmp_path / "two.nii.gz", SegImage(two))
    res = cli("cluster", tmp_path / "two.nii.gz", "--method", "kmeans", "--k", "3", "-o",
              tmp_path / "t.nii.gz", "--quiet")
    assert "warning: the image holds 2 distinct values, fewer than K=3" in res.err, res
    assert [ln for ln in res.err.splitlines() if ln.strip()][0].startswith("warning:")
    res = cli("cluster", tmp_path / "two.nii.gz", "--method", "kmeans", "--k", "2", "-o",
              tmp_path / "t2.nii.gz", "--quiet")
    assert "warning" not in res.err, res


def test_single_class_training_set_warns():
    pytest.importorskip("torch")
    from napari_segsuite.core.dl.train import TrainConfig, train
    from napari_segsuite.core.base.errors import InputWarning

    img = np.random.default_rng(0).random((2, 32, 32)).astype(np.float32)
    lab = np.ones((2, 32, 32), np.uint8)  # one class everywhere
    with pytest.warns(InputWarning, match="single class"):
        try:
            train([img], [lab], TrainConfig(arch="unet", dim=2, epochs=1, patch=16, width=4,
                                            depth=1, steps_per_epoch=1, device="cpu"))
        except InputError:
            pass  # refusing later is fine too; the warning came first


# -- 6. output locations checked before any work; a failed checkpoint write is exit 2 ------------
@pytest.fixture
def read_only_dir(tmp_path):
    mnt = tmp_path / "ro"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mnt)],
                         capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here (" + " ".join(res.stderr.split())[:200]
                    + "); needs root")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30).returncode:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)


def test_train_into_a_read_only_folder_fails_before_training(read_only_dir, tiny_case, cli,
                                                             monkeypatch):
    pytest.importorskip("torch")
    from napari_segsuite.core.dl import train as T

    def never(*a, **k):  # the check must come first
        raise AssertionError("training started")

    monkeypatch.setattr(T, "train_steps", never)
    lab = np.zeros((6, 20, 20), np.uint8)
    lab[:, :, 10:] = 1
    write_image(tiny_case / "lab.nii.gz", SegImage(lab))
    res = cli("train", "--images", tiny_case / "img.nii.gz", "--labels", tiny_case / "lab.nii.gz",
              "-o", read_only_dir / "model.pt", "--quiet")
    assert res.code == 2, res
    assert res.err.startswith("error:") and res.err.count("\n") == 1, res
    # images/outputs alike: a read-only folder is refused before the work
    res = cli("watershed", tiny_case / "img.nii.gz", "-o", read_only_dir / "ws.nii.gz",
              "--quiet")
    assert res.code == 2 and "writ" in res.err and res.err.count("\n") == 1, res


def test_failed_checkpoint_write_is_one_input_error(small_disk):
    torch = pytest.importorskip("torch")
    from napari_segsuite.core.dl.checkpoint import Checkpoint, save_checkpoint

    big = {"w": torch.zeros(600_000)}  # 2.4 MB: does not fit on the 1 MiB disk
    ck = Checkpoint(arch="unet", dim=2, settings={}, in_channels=1, n_out=2, output="softmax",
                    label_values=[0, 1], norm_mean=[0.0], norm_std=[1.0], state_dict=big)
    with pytest.raises(InputError) as err:
        save_checkpoint(ck, small_disk / "model.pt")
    assert "\n" not in str(err.value) and "nothing was written" in str(err.value)
    assert list(small_disk.iterdir()) == []
