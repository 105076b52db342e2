"""GrowCut: seeded competitive region growing (Vezhnevets & Konouchine 2005) in 2D and 3D.

Each voxel holds a label and a strength; a neighbour p conquers voxel q when
``g(p, q) * strength_p > strength_q``, until nothing changes. Seeds have strength 1 and never
change. With ``g = exp(-w)`` the strengths are ``exp(-cost)`` where ``cost`` is the cheapest path
from a seed, the sum of ``w`` along it, so the converged labelling is the labelling of a
min-sum (widest-path) problem. What we use:

``w(p, q) = ||C_p - C_q|| + distance_penalty * l(p, q)``

- ``C`` are the image's channels, each divided by its robust range (1st-99th percentile), so
  multi-contrast MRI or LANDSAT bands weigh alike; ``||.||`` is the Euclidean norm over channels
  (the absolute difference for one channel).
- ``l(p, q)`` is the physical length of the step from p to q divided by the smallest spacing
  (1 along the finest axis, ``sqrt(2)`` for an in-plane diagonal, ``spacing_z/spacing_x`` along
  a coarse z, ...). This is how anisotropic spacing enters. The intensity term needs no spacing:
  the sum of ``|dI|`` along a path is the intensity variation it crosses, whatever the sampling.
  With ``distance_penalty=0`` (the default, as in ITK/3D Slicer's FastGrowCut) the result
  therefore does not depend on the spacing; a positive penalty prefers physically shorter paths
  (nearer seeds in millimetres), which also decides flat regions.
- Ties (equal cost to two labels, e.g. flat regions without a penalty) go to the lower label
  value. Both engines follow this rule, so their results are identical, ties included.

Engines (the same fixed point):

- ``"sweep"``: the exact priority-queue sweep on the CPU, compiled with numba (the first call
  in a fresh environment compiles it, a few seconds; the code is cached on disk afterwards).
- ``"triton"``: the same relaxation as fused Triton kernels on CUDA, by directional raster
  passes (each carries labels along a whole axis; a few rounds of 4/6 passes reach the fixed
  point); see ``_triton``. Needs ``triton`` (shipped with PyTorch's CUDA wheels on Linux) and a
  CUDA device (or ``TRITON_INTERPRET=1``, Triton's slow CPU interpreter, for tests).
- ``"automaton"``: the parallel cellular automaton as PyTorch tensor shifts; runs on CUDA when
  torch sees a GPU, else on the CPU (much slower there than the sweep; a reference).

``engine="auto"``: on CUDA (``device="auto"`` and a GPU is there, or ``device="cuda"``) the Triton
engine when ``triton`` imports, else the torch automaton; if the Triton kernels fail to compile or
launch, a warning is given once and the torch automaton runs instead (for the rest of the
process). On the CPU: the sweep.

Refine: pass the previous result's ``state`` with edited seeds; only what the edit invalidates
is grown again (see :func:`._common.refine_keys`), and the result equals a full recompute. The
sweep refines in a window around the edit (:func:`._sweep.window_refine_steps`), so a small
stroke costs about what it changes, whatever the volume's size. A GPU engine relaxes the whole
volume in every round, so with ``engine="auto"`` on CUDA a refine first gives the exact CPU
sweep ``cpu_refine_s`` seconds (0.25 s by default) in that window, and the GPU engine takes over
from where it stopped when the edit reaches further; both give the same keys.
"""

from __future__ import annotations

import warnings
from typing import Optional

import numpy as np

from ..base.errors import InputError, InputWarning
from ..base.progress import Progress, in_background, run, steps_in_background
from ._common import (GrowCutResult, GrowCutState, Prepared, decode_labels, prepare,
                      refine_keys, resolve_connectivity, result_from_keys, saturated_labels,
                      unpack_dist)
from .regions import seeds_from_regions

__all__ = ["growcut", "growcut_steps", "GrowCutResult", "GrowCutState", "seeds_from_regions",
           "choose_engine", "warm_up", "fixed_point_violations"]


ENGINES = ("auto", "sweep", "automaton", "triton")

#: default seconds the CPU sweep may spend on a refine before a GPU engine takes over
CPU_REFINE_S = 0.25
#: a cap on the voxels that hand-over sweep may pop (None: only the time limit; tests set it)
_CPU_REFINE_MAX_POPS: Optional[int] = None

#: why the Triton engine failed in this process (then "auto" uses the torch automaton)
_TRITON_FAILED: Optional[str] = None


def _triton_usable() -> bool:
    from ._triton import triton_available

    return _TRITON_FAILED is None and triton_available()


def choose_engine(engine: str = "auto", device: str = "auto") -> tuple:
    """Resolve ``(engine, device)``: engine in {"sweep", "automaton", "triton"}, device in
    {"cpu", "cuda"}."""
    from ..base.device import resolve_device

    if engine not in ENGINES:
        raise InputError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if device not in ("auto", "cpu", "cuda"):
        raise InputError(f"device must be auto, cpu or cuda, got {device!r}")
    resolved = resolve_device(device)  # one rule (core.base.device); cuda without a GPU: error
    if engine == "triton":
        from ._triton import interpreting, triton_available

        if not triton_available():
            from . import _triton

            raise InputError("engine triton is not usable here (" + (_triton._IMPORT_ERROR or "")
                             + "; triton comes with PyTorch's CUDA wheels); use engine auto or "
                             "automaton")
        if device == "auto":
            device = resolved
        if device != "cuda" and not interpreting():
            raise InputError("engine triton needs a CUDA GPU (or TRITON_INTERPRET=1); use "
                             "engine sweep on the CPU")
        return engine, device
    if device == "auto":
        device = resolved if engine != "sweep" else "cpu"
    if engine == "sweep" and device == "cuda":
        raise InputError("the sweep engine runs on the CPU; use engine triton or automaton "
                         "for CUDA")
    if engine == "auto":
        if device == "cuda":
            engine = "triton" if _triton_usable() else "automaton"
        else:
            engine = "sweep"
    return engine, device


def growcut_steps(image, seeds, *, spacing=None, connectivity: Optional[int] = None,
                  channel_axis: Optional[int] = None, mask=None, device: str = "auto",
                  engine: str = "auto", max_iter: Optional[int] = None,
                  distance_penalty: float = 0.0, state: Optional[GrowCutState] = None,
                  previews: bool = True, cpu_refine_s: Optional[float] = None,
                  exclude=None):
    """The GrowCut job (a generator yielding Progress, previews = labels so far).

    Parameters
    ----------
    image: 2D/3D array (or SegImage; its spacing and channels are used), channels on
        ``channel_axis`` if any.
    seeds: label image of the same spatial shape, 0 = no seed, at least two labels (1..65534).
    spacing: voxel spacing in numpy order (default: the SegImage's, else 1).
    connectivity: 4 or 8 in 2D, 6, 18 or 26 in 3D (default: the full 8/26); 6/26 in 2D mean 4/8.
    mask: optional region of interest; labels grow only inside it (and from seeds).
    device, engine: see :func:`choose_engine`.
    max_iter: cap on automaton iterations (ignored by the sweep, which is exact in one pass).
    distance_penalty: cost per step length (see the module documentation).
    state: a previous result's ``state`` to refine from (same image and settings); otherwise,
        or when the settings differ, everything is computed again.
    exclude: voxels no label may take (0 in the result; seeds there are dropped), e.g. what
        the user erased in the result before a refine; the channels' normalisation is not
        affected (unlike ``mask``). A changed ``exclude`` computes everything again.
    previews: attach the labels so far to some Progress events (a live view); each one copies
        and decodes the whole volume, so :func:`growcut` (no one to show them) turns them off.
    cpu_refine_s: on a refine with a GPU engine (triton or automaton), seconds the exact CPU
        sweep may spend around the edit first (a small stroke is done there in a fraction of a
        GPU round over the whole volume); if the edit reaches further, the GPU engine goes on
        from the sweep's keys. Default: ``CPU_REFINE_S`` with ``engine="auto"``, 0 (off) when
        an engine is named. The result's ``engine``/``device`` say what finished the job.

    Returns a :class:`GrowCutResult`. Inputs are never modified.
    """
    auto = engine == "auto"
    engine, device = choose_engine(engine, device)
    if max_iter is not None and int(max_iter) < 1:
        raise InputError(f"max_iter must be >= 1, got {max_iter}")
    if cpu_refine_s is None:
        cpu_refine_s = CPU_REFINE_S if auto else 0.0
    cpu_refine_s = float(cpu_refine_s)
    if not cpu_refine_s >= 0:
        raise InputError(f"cpu_refine_s must be >= 0, got {cpu_refine_s}")
    yield Progress(0, None, "starting")
    # long single steps (the features of a large volume; compiling the sweep in a fresh
    # environment) run off the job's thread, so Cancel and Ctrl-C answer meanwhile
    prep = yield from in_background(prepare, image, seeds, spacing=spacing,
                                    connectivity=connectivity, channel_axis=channel_axis,
                                    mask=mask, distance_penalty=distance_penalty,
                                    exclude=exclude, message="preparing")
    if engine == "sweep" or (state is not None and cpu_refine_s > 0):
        from ._sweep import kernels

        yield from in_background(kernels, message="loading the compiled sweep")
    keys0 = starts = None
    refined = False
    if state is not None:
        if not isinstance(state, GrowCutState):
            raise InputError("state must be the state of a previous GrowCut result")
        # Where path costs saturate (D_MAX) several labels can tie and GrowCut has more than
        # one fixed point: the sweep settles them in its pop order, the GPU engines by an
        # in-place min over all paths (see ``_triton``), and a warm start can land on another
        # of them than a fresh run. So a state holding saturated labelled voxels is not
        # refined (it is computed again), nor is a refine whose result holds some.
        if state.signature == prep.signature() and saturated_labels(state.keys).size == 0:
            windowed = engine == "sweep" or cpu_refine_s > 0
            keys0, starts = yield from in_background(refine_keys, prep, state,
                                                     need_starts=windowed, message="refining")
            refined = True
            if windowed:
                from ._sweep import window_refine_steps

                gpu = engine != "sweep"
                keys, complete = yield from steps_in_background(window_refine_steps(
                    prep, keys0, starts, state.keys,
                    time_limit=cpu_refine_s if gpu else None,
                    max_pops=_CPU_REFINE_MAX_POPS if gpu else None), "refining")
                if saturated_labels(keys).size:
                    keys0 = starts = None  # computed again, as without a state
                    refined = False
                elif complete:  # the sweep finished (always, without a GPU engine waiting)
                    return (yield from _finish(keys, prep, "sweep", "cpu", 0, True, True))
                else:
                    keys0 = keys  # real path costs: the GPU engine goes on from there
    pv = {} if previews else {"preview_every": 0}
    if engine == "sweep":
        from ._sweep import sweep_steps

        # each step of the sweep (its set-up of the padded arrays, each budget of pops, the
        # final copy) in a helper thread: Cancel answers within 0.1 s whatever the volume
        keys = yield from steps_in_background(sweep_steps(prep, keys0, starts, **pv), "growing")
        return (yield from _finish(keys, prep, engine, device, 0, refined, True))
    if engine == "triton":
        from ._triton import triton_steps

        try:
            keys, iters, converged = yield from triton_steps(prep, keys0, device, max_iter,
                                                                   **pv)
            return (yield from _finish(keys, prep, engine, device, iters, refined, converged))
        except Exception as exc:
            if _is_oom(exc):
                return (yield from _cpu_after_oom(exc, prep, pv))
            if not auto:
                raise
            _triton_failed(exc)
        engine = "automaton"
    from ._torch import automaton_steps

    try:
        keys, iters, converged = yield from automaton_steps(prep, keys0, device, max_iter, **pv)
    except Exception as exc:
        if not _is_oom(exc):
            raise
        return (yield from _cpu_after_oom(exc, prep, pv))
    return (yield from _finish(keys, prep, engine, device, iters, refined, converged))


def _cpu_after_oom(exc: BaseException, prep, pv):
    """Job: CUDA ran out of memory during a GPU engine: warn in one line and compute the same
    result with the CPU sweep, from the start (the device's partial keys are dropped)."""
    warnings.warn("GrowCut: the GPU ran out of memory "
                  f"({(str(exc).strip().splitlines() or [''])[0][:120]}); finishing on the CPU",
                  InputWarning, stacklevel=3)  # the CLI and widgets show it in one line
    try:
        import torch

        torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - freeing the cache is a courtesy
        pass
    from ._sweep import kernels, sweep_steps

    yield from in_background(kernels, message="loading the compiled sweep")
    keys = yield from steps_in_background(sweep_steps(prep, None, None, **pv), "growing")
    return (yield from _finish(keys, prep, "sweep", "cpu", 0, False, True))


def _finish(*args):
    """Job: the result from the final keys (labels decoded, the state's signature), off the
    job's thread."""
    return (yield from in_background(result_from_keys, *args, message="finishing"))


def _is_oom(exc: BaseException) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, torch.cuda.OutOfMemoryError)


def _triton_failed(exc: BaseException) -> None:
    """Remember that the Triton kernels failed (compile or launch) and warn once; "auto" then
    uses the torch automaton for the rest of the process. The keys on the device are discarded:
    the automaton starts again from the same keys0."""
    global _TRITON_FAILED
    if _TRITON_FAILED is None:
        first = (str(exc).strip().splitlines() or [""])[0]
        _TRITON_FAILED = f"{type(exc).__name__}: {first}"
        warnings.warn("GrowCut: the Triton engine failed on this GPU ("
                      f"{_TRITON_FAILED[:300]}); using the torch automaton instead",
                      RuntimeWarning, stacklevel=3)


def growcut(image, seeds, *, spacing=None, connectivity: Optional[int] = None,
            channel_axis: Optional[int] = None, mask=None, device: str = "auto",
            engine: str = "auto", max_iter: Optional[int] = None,
            distance_penalty: float = 0.0,
            state: Optional[GrowCutState] = None,
            cpu_refine_s: Optional[float] = None, exclude=None) -> GrowCutResult:
    """GrowCut to convergence; see :func:`growcut_steps` for the parameters.

    >>> res = growcut(image, seeds, spacing=(3, 1, 1))           # doctest: +SKIP
    >>> res2 = growcut(image, edited_seeds, state=res.state)     # refine   # doctest: +SKIP
    """
    return run(growcut_steps(image, seeds, spacing=spacing, connectivity=connectivity,
                             channel_axis=channel_axis, mask=mask, device=device, engine=engine,
                             max_iter=max_iter, distance_penalty=distance_penalty, state=state,
                             previews=False, cpu_refine_s=cpu_refine_s, exclude=exclude))


def warm_up() -> None:
    """Compile (or load from numba's cache) the CPU sweep now."""
    from ._sweep import warm_up as _w

    _w()


def fixed_point_violations(image, seeds, labels, cost, *, spacing=None, connectivity=None,
                           channel_axis=None, mask=None, distance_penalty: float = 0.0,
                           rtol: float = 1e-5) -> int:
    """Count voxels that one synchronous step of the automaton rule would still change.

    Plain numpy, independent of both engines: voxel q is conquerable when a neighbour p offers
    ``g * strength_p > strength_q`` by more than rounding (``cost_p + w < cost_q`` beyond
    ``rtol``, recomputed in float64), or a labelled neighbour reaches an unlabelled voxel. Seeds and voxels outside the mask are
    skipped. 0 means ``labels``/``cost`` are a fixed point of GrowCut.
    """
    from ._torch import _slices

    prep = prepare(image, seeds, spacing=spacing, connectivity=connectivity,
                   channel_axis=channel_axis, mask=mask, distance_penalty=distance_penalty)
    lab = np.asarray(labels).astype(np.int64)
    d = np.asarray(cost, dtype=np.float64)
    free = np.ones(prep.shape, bool) if prep.mask is None else prep.mask | (prep.seeds > 0)
    bad = np.zeros(prep.shape, bool)
    for o, c in zip(prep.offsets.tolist(), prep.step_cost.tolist()):
        q, p = _slices(o, prep.shape)
        diff = prep.feats[p].astype(np.float64) - prep.feats[q]
        w = np.sqrt((diff ** 2).sum(-1)) + c
        cand = d[p] + w
        tol = rtol * np.maximum(1.0, np.abs(d[q]))
        better = np.isfinite(cand) & (cand < d[q] - tol)
        bad[q] |= (better | (lab[q] == 0)) & free[q] & (prep.seeds[q] == 0) & (lab[p] > 0)
    return int(bad.sum())
