"""The fused Triton GrowCut engine: keys bit for bit equal to the CPU sweep.

- Without a GPU: Triton's interpreter (``TRITON_INTERPRET=1``, kernels run with numpy on CPU
  tensors) on small 2D/3D cases; marked ``triton_interp`` and deselected by default (about 26 s a
  case on 2 cores): ``python -m pytest -m triton_interp tests/core/test_growcut_triton.py``. The interpreter is switched on only in a subprocess
  (``_triton_cases.py``): ``triton.jit`` reads the variable when a kernel is defined and the
  kernel module stays imported, so setting it in this process would leak into every later test
  (and would turn the CUDA tests below into interpreter runs).
- With CUDA (``-m gpu``): the compiled kernels, larger cases and a 96^3 volume.
- Engine choice and the fallback to the torch automaton: no triton or GPU needed.

Skipped where triton is not installed (the project does not depend on it; CUDA builds of
PyTorch bring it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import napari_segsuite
from napari_segsuite.core import growcut as gc
from napari_segsuite.core.base.errors import InputError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _triton_cases as tc  # noqa: E402

INTERP_CASES = tc.CASES + tc.EXTRA


def _needs_triton():
    # look, don't import: after an earlier GUI test made a napari canvas (Mesa's libLLVM is then
    # loaded), importing triton into this process would crash it (see _triton.foreign_llvm);
    # the interpreter cases import it in a subprocess
    import importlib.util

    if importlib.util.find_spec("triton") is None:
        pytest.skip("triton is not installed")


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available()) and os.environ.get("TRITON_INTERPRET", "0") != "1"


@pytest.fixture(scope="module")
def interp_results():
    """Run every interpreter case in two subprocesses (in parallel), one JSON line per case."""
    _needs_triton()
    root = str(Path(napari_segsuite.__file__).resolve().parents[1])
    env = dict(os.environ, TRITON_INTERPRET="1",
               PYTHONPATH=os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")]
                                                   if p]))
    halves = [INTERP_CASES[0::2], INTERP_CASES[1::2]]
    procs = [subprocess.Popen([sys.executable, str(HERE / "_triton_cases.py"), "cpu", *names],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for names in halves]
    out = {}
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=280)
        assert proc.returncode == 0, stderr[-4000:]
        for line in stdout.splitlines():
            if line.startswith("{"):
                d = json.loads(line)
                out[d["case"]] = d
    return out


@pytest.mark.triton_interp
@pytest.mark.parametrize("case", [c for c in INTERP_CASES if c != "api"])
def test_interpreter_keys_equal_reference(case, interp_results):
    r = interp_results[case]
    assert r["equal"], r
    if "converged" in r:
        assert r["converged"] and r["iterations"] >= 1, r
    if "outside_unreached" in r:  # outside the mask and not a seed: never reached
        assert r["outside_unreached"] == 0, r
    if case.startswith("saturation"):
        assert r["saturated"] > 0, r  # the case really saturates


@pytest.mark.triton_interp
def test_interpreter_api_engine_name_max_iter_and_previews(interp_results):
    r = interp_results["api"]
    assert r["equal"] and r["final_equal"], r
    assert r["engine"] == "triton" and r["device"] == "cpu" and r["converged"], r
    assert r["max1_iterations"] == 1 and not r["max1_converged"], r
    assert r["events"] >= 6 and r["previews"] >= 1 and r["previews_ok"], r


# -- engine choice and fallback (no triton, no GPU needed) ----------------------------------------

def test_engine_triton_needs_cuda_or_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(InputError, match="triton"):
        gc.choose_engine("triton", "cpu")
    with pytest.raises(InputError, match="engine must be one of"):
        gc.choose_engine("warp", "auto")
    if not _cuda():
        assert gc.choose_engine("auto", "auto") == ("sweep", "cpu")
        with pytest.raises(InputError, match="triton"):
            gc.choose_engine("triton", "auto")


def test_engine_triton_without_triton_is_a_one_line_error(monkeypatch):
    from napari_segsuite.core.growcut import _triton

    monkeypatch.setattr(_triton, "_IMPORT_ERROR", "ImportError: no triton")
    with pytest.raises(InputError, match="not usable here .ImportError: no triton"):
        gc.choose_engine("triton", "auto")


def test_auto_falls_back_to_the_automaton_once_when_triton_fails(monkeypatch, rng):
    from napari_segsuite.core.growcut import _triton

    def broken(*_a, **_k):
        raise RuntimeError("PTX compile failed (simulated)")
        yield  # pragma: no cover

    calls = []

    def choose(engine="auto", device="auto", *, triton_status=None):
        calls.append(engine)
        if engine == "auto":
            return ("triton" if gc._triton_usable(triton_status) else "automaton"), "cpu"
        return engine, "cpu"

    monkeypatch.setattr(gc, "TRITON_STATUS", gc.TritonStatus())  # the process's record
    monkeypatch.setattr(_triton, "_IMPORT_ERROR", None)
    monkeypatch.setattr(_triton, "triton_available", lambda: True)
    monkeypatch.setattr(_triton, "triton_steps", broken)
    monkeypatch.setattr(gc, "choose_engine", choose)
    img, seeds, kw = tc.case("2d8")
    ref = gc.growcut(img, seeds, engine="sweep")
    with pytest.warns(RuntimeWarning, match="Triton engine failed"):
        res = gc.growcut(img, seeds)
    assert res.engine == "automaton" and np.array_equal(res.state.keys, ref.state.keys)
    assert gc.TRITON_STATUS.failed and "simulated" in gc.TRITON_STATUS.failed
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # remembered: no second warning, no second try
        again = gc.growcut(img, seeds)
    assert again.engine == "automaton"
    # asked for explicitly, a failure is an error, not a silent fallback
    with pytest.raises(RuntimeError, match="simulated"):
        gc.growcut(img, seeds, engine="triton")
    # an explicit record is the one consulted and updated (the process's stays as it was)
    mine = gc.TritonStatus()
    with pytest.warns(RuntimeWarning, match="Triton engine failed"):
        res = gc.growcut(img, seeds, triton_status=mine)
    assert res.engine == "automaton" and "simulated" in mine.failed


# -- the real thing on CUDA -----------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("case", ["3d26", "3d6", "2d8", "ties", "multichannel", "mask3d",
                                  "penalty", "penalty26", "saturation"])
def test_cuda_triton_equals_sweep(case):
    _needs_triton()
    if not _cuda():
        pytest.skip("needs a CUDA GPU")
    r = tc.compare(case, "cuda", scale=1 if case == "saturation" else 4)
    assert r["equal"] and r["converged"], r


@pytest.mark.gpu
def test_cuda_triton_equals_sweep_96_cubed_and_is_the_auto_engine():
    _needs_triton()
    if not _cuda():
        pytest.skip("needs a CUDA GPU")
    rng = np.random.default_rng(96)
    img, seeds = tc.random_case((96, 96, 96), rng, n_labels=4, n_seeds=3)
    ref = gc.growcut(img, seeds, engine="sweep")
    res = gc.growcut(img, seeds, device="cuda")
    assert res.engine == "triton" and res.device == "cuda" and res.converged
    assert np.array_equal(res.state.keys, ref.state.keys)
    # a refine on the GPU equals a full recompute
    edited = seeds.copy()
    edited[48, 48, 10:20] = 2
    edited[tuple(np.argwhere(seeds == 1)[0])] = 0
    full = gc.growcut(img, edited, engine="sweep")
    # the GPU engine alone, the default (the CPU sweep first, around the edit), and the
    # hand-over (the sweep stopped after a few voxels, Triton going on from its keys)
    alone = gc.growcut(img, edited, device="cuda", state=res.state, cpu_refine_s=0)
    assert alone.refined and alone.engine == "triton"
    assert np.array_equal(alone.state.keys, full.state.keys)
    auto = gc.growcut(img, edited, device="cuda", state=res.state)
    assert auto.refined and auto.engine in ("sweep", "triton")
    assert np.array_equal(auto.state.keys, full.state.keys)
    old_cap = gc._CPU_REFINE_MAX_POPS
    gc._CPU_REFINE_MAX_POPS = 50
    try:
        handed = gc.growcut(img, edited, device="cuda", state=res.state)
    finally:
        gc._CPU_REFINE_MAX_POPS = old_cap
    assert handed.refined and handed.engine == "triton"
    assert np.array_equal(handed.state.keys, full.state.keys)


# -- pass plan and tiles (pure Python) ------------------------------------------------------------

@pytest.mark.parametrize("shape,conn", [((5, 6, 7), 26), ((5, 6, 7), 18), ((5, 6, 7), 6),
                                        ((9, 11), 8), ((9, 11), 4), ((1, 6, 7), 26)])
def test_passes_cover_every_offset_with_its_step_cost(shape, conn):
    from napari_segsuite.core.growcut._common import prepare, quantise_steps
    from napari_segsuite.core.growcut._triton import _plan

    img = np.zeros(shape, np.float32)
    seeds = np.zeros(shape, np.int32)
    seeds.flat[0], seeds.flat[-1] = 1, 2
    prep = prepare(img, seeds, connectivity=conn, spacing=(3.0, 1.0, 0.5)[-len(shape):],
                   distance_penalty=0.1)
    shape3, passes = _plan(prep)
    offs = prep.offsets if prep.ndim == 3 else np.pad(prep.offsets, ((0, 0), (1, 0)))
    costs = dict(zip(map(tuple, offs.tolist()), quantise_steps(prep.step_cost).tolist()))
    covered = set()
    for a, d, b, c, table in passes:
        for o, cost in costs.items():
            if o[a] == d:
                covered.add(o)
                assert table[(o[b] + 1) * 3 + o[c] + 1] == cost
            elif o[a] == 0:
                assert table[9 + (o[b] + 1) * 3 + o[c] + 1] == cost
    assert covered == {o for o in costs if any(o[i] for i in range(3) if shape3[i] > 1)}
    assert len(passes) == 2 * sum(n > 1 for n in shape3)


def test_tiles_are_powers_of_two_and_fill_the_plane():
    from napari_segsuite.core.growcut._triton import _tile

    for nb, nc, contiguous in [(256, 256, True), (512, 512, True), (256, 256, False),
                               (1, 700, True), (3, 5, True), (1000, 17, False), (64, 64, True)]:
        bb, bc, warps = _tile(nb, nc, contiguous)
        assert bb & (bb - 1) == 0 and bc & (bc - 1) == 0 and bb * bc <= 256
        assert 1 <= warps <= 4
        if nb == 1:
            assert bb == 1
        programs = -(-nb // bb) * -(-nc // bc)
        assert programs * bb * bc >= nb * nc


MAPS = """\
55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 1234  /usr/bin/python3.11
7f1c00000000-7f1c00021000 rw-p 00000000 00:00 0
7f1c10000000-7f1c12000000 r-xp 00000000 08:01 5678  /usr/lib/x86_64-linux-gnu/libLLVM-15.so.1
7f1c20000000-7f1c20100000 r-xp 00000000 08:01 91011 /opt/py/site-packages/llvmlite/binding/libllvmlite.so
"""


def test_foreign_llvm_is_found_in_the_process_maps(monkeypatch):
    from napari_segsuite.core.growcut import _triton

    monkeypatch.delitem(sys.modules, "triton", raising=False)
    assert _triton.foreign_llvm(MAPS) == "/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1"
    # numba's llvmlite keeps its LLVM symbols to itself: no clash (measured)
    assert _triton.foreign_llvm(MAPS.replace("libLLVM-15.so.1", "libz.so.1")) is None
    monkeypatch.setitem(sys.modules, "triton", object())  # Triton loaded first: no clash
    assert _triton.foreign_llvm(MAPS) is None


@pytest.fixture
def triton_module_restored(monkeypatch):
    """Put ``sys.modules["triton"]`` (and the guard's memory) back as they were afterwards."""
    from napari_segsuite.core.growcut import _triton

    missing = object()
    saved = sys.modules.get("triton", missing)
    monkeypatch.setattr(_triton, "_IMPORT_ERROR", None)
    monkeypatch.setattr(_triton, "_BLOCKED", None)
    monkeypatch.delenv("SEGSUITE_TRITON", raising=False)
    yield _triton
    if saved is missing:
        sys.modules.pop("triton", None)
    else:
        sys.modules["triton"] = saved


def test_a_loaded_foreign_llvm_keeps_triton_out(monkeypatch, triton_module_restored):
    """With Mesa's libLLVM in the process, Triton is not imported (it would crash napari):
    "auto" uses the torch automaton on CUDA, and asking for "triton" says why not."""
    _triton = triton_module_restored
    sys.modules.pop("triton", None)  # as if not imported yet (restored afterwards)
    monkeypatch.setattr(_triton, "foreign_llvm", lambda maps=None: "/usr/lib/libLLVM-15.so.1")
    assert not _triton.triton_available()
    assert "libLLVM-15" in _triton._IMPORT_ERROR
    assert sys.modules["triton"] is None  # any later import raises ImportError, no crash
    with pytest.raises(ImportError):
        import triton  # noqa: F401
    with pytest.raises(InputError, match="LLVM"):
        gc.choose_engine("triton", "auto")
    monkeypatch.setattr(gc, "TRITON_STATUS", gc.TritonStatus())
    assert gc.choose_engine("auto", "auto")[0] in ("sweep", "automaton")


def test_keep_triton_out_blocks_only_with_a_foreign_llvm(monkeypatch, triton_module_restored):
    _triton = triton_module_restored
    sys.modules.pop("triton", None)
    monkeypatch.setattr(_triton, "foreign_llvm", lambda maps=None: None)
    assert _triton.keep_triton_out() is None and "triton" not in sys.modules
    monkeypatch.setattr(_triton, "foreign_llvm", lambda maps=None: "/usr/lib/libLLVM-15.so.1")
    monkeypatch.setenv("SEGSUITE_TRITON", "1")  # the user's override
    assert _triton.keep_triton_out() is None and "triton" not in sys.modules
    monkeypatch.delenv("SEGSUITE_TRITON")
    assert _triton.keep_triton_out() == "/usr/lib/libLLVM-15.so.1"
    assert sys.modules["triton"] is None
    assert _triton.keep_triton_out() == "/usr/lib/libLLVM-15.so.1"  # remembered


def _run_in_fresh_python(code: str, timeout: float = 300):
    """Run ``code`` in a new interpreter importing this checkout, without SEGSUITE_TRITON; it
    must exit 0 (a segfault is what these tests look for)."""
    root = str(Path(napari_segsuite.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    env.pop("SEGSUITE_TRITON", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_training_after_a_napari_canvas_does_not_crash():
    """The real thing, in a subprocess: a napari viewer (Mesa's libLLVM under Xvfb), then a
    U-Net trained for one epoch. ``torch.optim`` imports ``torch._dynamo``, which imports
    Triton to probe for it; before the guard this process died of a segfault there."""
    _needs_triton()
    pytest.importorskip("torch")
    code = (
        "import numpy as np, napari\n"
        "v = napari.Viewer(show=False)\n"
        "from napari_segsuite.core.growcut import _triton\n"
        "from napari_segsuite.core.dl.train import train\n"
        "img = np.random.default_rng(0).random((32, 32)).astype(np.float32)\n"
        "lab = (img > 0.5).astype(np.uint8)\n"
        "ck = train([img], [lab], arch='unet', dim=2, epochs=1, device='cpu')\n"
        "print('RESULT', bool(_triton.foreign_llvm() or _triton._BLOCKED), flush=True)\n"
        "v.close()\n")
    proc = _run_in_fresh_python(code)
    assert any(x.startswith("RESULT") for x in proc.stdout.splitlines())


def test_triton_check_after_a_napari_canvas_does_not_crash():
    """The real thing, in a subprocess: a napari viewer (OpenGL, under Xvfb Mesa's llvmpipe
    loads libLLVM), then the engine choice. Before the guard this process died of a segfault
    at ``import triton``."""
    _needs_triton()
    code = (
        "import napari\n"
        "v = napari.Viewer(show=False)\n"
        "from napari_segsuite.core.growcut import _triton, choose_engine\n"
        "clash = _triton.foreign_llvm()\n"
        "ok = _triton.triton_available()\n"
        "print('RESULT', bool(clash), ok, flush=True)\n"
        "v.close()\n")
    proc = _run_in_fresh_python(code)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")][0]
    _, clash, ok = line.split()
    assert not (clash == "True" and ok == "True")
