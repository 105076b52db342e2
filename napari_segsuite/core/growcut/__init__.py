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
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..base.errors import InputError, InputWarning
from ..base.progress import Progress, in_background, run, steps_in_background
from ._common import (GrowCutResult, GrowCutState, Prepared, decode_labels, prepare,
                      refine_keys, resolve_connectivity, result_from_keys, saturated_labels,
                      unpack_dist)
from .regions import seeds_from_regions

__all__ = ["growcut", "growcut_steps", "GrowCutResult", "GrowCutState", "seeds_from_regions",
           "choose_engine", "warm_up", "fixed_point_violations", "TritonStatus",
           "TRITON_STATUS", "GrowCutParams", "growcut_job", "auto_seeds_job", "ResultEdits",
           "result_edits"]


ENGINES = ("auto", "sweep", "automaton", "triton")

#: default seconds the CPU sweep may spend on a refine before a GPU engine takes over
CPU_REFINE_S = 0.25
#: a cap on the voxels that hand-over sweep may pop (None: only the time limit; tests set it)
_CPU_REFINE_MAX_POPS: Optional[int] = None


@dataclass
class TritonStatus:
    """Whether the Triton kernels failed (compile or launch); then ``engine="auto"`` uses the
    torch automaton instead, and the failure is warned about once.

    One record, :data:`TRITON_STATUS`, serves the whole process (a kernel that failed to compile
    on this GPU fails again); :func:`growcut_steps` and :func:`choose_engine` take another one as
    ``triton_status=`` (e.g. a test's fresh record).

    Attributes
    ----------
    failed : str or None
        Why the Triton engine failed ("Type: first line"); None while it has not.

    Examples
    --------
    >>> status = TritonStatus()
    >>> status.failed is None
    True
    >>> import warnings
    >>> with warnings.catch_warnings(record=True):
    ...     status.record_failure(RuntimeError("no kernel image"))
    >>> status.failed, status.usable()
    ('RuntimeError: no kernel image', False)
    """

    failed: Optional[str] = None  #: why the Triton engine failed ("Type: first line")

    def usable(self) -> bool:
        """Triton imports here and has not failed."""
        from ._triton import triton_available

        return self.failed is None and triton_available()

    def record_failure(self, exc: BaseException, stacklevel: int = 2) -> None:
        """Remember the failure and warn (the first time only)."""
        if self.failed is None:
            first = (str(exc).strip().splitlines() or [""])[0]
            self.failed = f"{type(exc).__name__}: {first}"
            warnings.warn("GrowCut: the Triton engine failed on this GPU ("
                          f"{self.failed[:300]}); using the torch automaton instead",
                          RuntimeWarning, stacklevel=stacklevel + 1)


#: the process's record of a Triton failure (see :class:`TritonStatus`)
TRITON_STATUS = TritonStatus()


def _triton_usable(triton_status: Optional[TritonStatus] = None) -> bool:
    return (TRITON_STATUS if triton_status is None else triton_status).usable()


def choose_engine(engine: str = "auto", device: str = "auto", *,
                  triton_status: Optional[TritonStatus] = None) -> tuple:
    """Resolve ``(engine, device)``: engine in {"sweep", "automaton", "triton"}, device in
    {"cpu", "cuda"}. ``triton_status``: the record of a Triton failure (default: the
    process's, :data:`TRITON_STATUS`); "auto" on CUDA avoids Triton after one.

    Parameters
    ----------
    engine : {"auto", "sweep", "automaton", "triton"}
        "auto": the sweep on the CPU, Triton (or the automaton) on CUDA.
    device : {"auto", "cpu", "cuda"}
        "auto": CUDA when torch sees a GPU.
    triton_status : TritonStatus, optional
        The record of a Triton failure.

    Returns
    -------
    tuple of str
        ``(engine, device)``.

    Raises
    ------
    InputError
        An unknown name, or an engine that cannot run on the device.

    Examples
    --------
    >>> choose_engine("auto", "cpu")
    ('sweep', 'cpu')
    >>> choose_engine("fast")
    Traceback (most recent call last):
    ...
    napari_segsuite.core.base.errors.InputError: engine must be one of auto, sweep, ...
    """
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
            engine = "triton" if _triton_usable(triton_status) else "automaton"
        else:
            engine = "sweep"
    return engine, device


def growcut_steps(image, seeds, *, spacing=None, connectivity: Optional[int] = None,
                  channel_axis: Optional[int] = None, mask=None, device: str = "auto",
                  engine: str = "auto", max_iter: Optional[int] = None,
                  distance_penalty: float = 0.0, state: Optional[GrowCutState] = None,
                  previews: bool = True, cpu_refine_s: Optional[float] = None,
                  exclude=None, triton_status: Optional[TritonStatus] = None):
    """The GrowCut job (a generator yielding Progress, previews = labels so far).

    Parameters
    ----------
    image
        2D/3D array (or SegImage; its spacing and channels are used), channels on
        ``channel_axis`` if any.
    seeds
        label image of the same spatial shape, 0 = no seed, at least two labels (1..65534).
    spacing
        voxel spacing in numpy order (default: the SegImage's, else 1).
    connectivity
        4 or 8 in 2D, 6, 18 or 26 in 3D (default: the full 8/26); 6/26 in 2D mean 4/8.
    mask
        optional region of interest; labels grow only inside it (and from seeds).
    device, engine
        see :func:`choose_engine`.
    max_iter
        cap on automaton iterations (ignored by the sweep, which is exact in one pass).
    distance_penalty
        cost per step length (see the module documentation).
    state
        a previous result's ``state`` to refine from (same image and settings); otherwise,
        or when the settings differ, everything is computed again.
    exclude
        voxels no label may take (0 in the result; seeds there are dropped), e.g. what
        the user erased in the result before a refine; the channels' normalisation is not
        affected (unlike ``mask``). A changed ``exclude`` computes everything again.
    previews
        attach the labels so far to some Progress events (a live view); each one copies
        and decodes the whole volume, so :func:`growcut` (no one to show them) turns them off.
    cpu_refine_s
        on a refine with a GPU engine (triton or automaton), seconds the exact CPU
        sweep may spend around the edit first (a small stroke is done there in a fraction of a
        GPU round over the whole volume); if the edit reaches further, the GPU engine goes on
        from the sweep's keys. Default: ``CPU_REFINE_S`` with ``engine="auto"``, 0 (off) when
        an engine is named. The result's ``engine``/``device`` say what finished the job.
    triton_status
        the record of a Triton failure to use and update (default: the process's,
        :data:`TRITON_STATUS`): after a failure, "auto" uses the torch automaton.

    Returns
    -------
    generator
        Yields :class:`Progress`; returns a :class:`GrowCutResult`. Inputs are never modified.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segsuite.core.base.progress import run
    >>> img = np.zeros((8, 8), np.float32)
    >>> img[:, 4:] = 1.0
    >>> seeds = np.zeros((8, 8), np.int32)
    >>> seeds[0, 0], seeds[7, 7] = 1, 2
    >>> res = run(growcut_steps(img, seeds, device="cpu"))
    >>> res.labels[3], res.engine
    (array([1, 1, 1, 1, 2, 2, 2, 2]...), 'sweep')
    """
    auto = engine == "auto"
    status = TRITON_STATUS if triton_status is None else triton_status
    engine, device = choose_engine(engine, device, triton_status=status)
    cpu_refine_s = _check_run_args(max_iter, cpu_refine_s, auto=auto)
    yield Progress(0, None, "starting")
    # long single steps (the features of a large volume; compiling the sweep in a fresh
    # environment) run off the job's thread, so Cancel and Ctrl-C answer meanwhile
    prep = yield from in_background(prepare, image, seeds, spacing=spacing,
                                    connectivity=connectivity, channel_axis=channel_axis,
                                    mask=mask, distance_penalty=distance_penalty,
                                    exclude=exclude, message="preparing")
    if engine == "sweep" or (state is not None and cpu_refine_s > 0):
        yield from _load_sweep()
    start = _COLD
    if state is not None:
        start = yield from _warm_start(prep, state, engine=engine, cpu_refine_s=cpu_refine_s)
        if isinstance(start, GrowCutResult):  # the windowed sweep finished the refine
            return start
    pv = {} if previews else {"preview_every": 0}
    if engine == "sweep":
        return (yield from _run_sweep(prep, start, pv))
    if engine == "triton":
        res = yield from _run_triton(prep, start, pv, device=device, max_iter=max_iter,
                                     auto=auto, status=status)
        if res is not None:
            return res
        engine = "automaton"  # Triton failed with engine "auto": the automaton, same keys0
    return (yield from _run_automaton(prep, start, pv, device=device, max_iter=max_iter))


def _check_run_args(max_iter, cpu_refine_s, *, auto: bool) -> float:
    """The iteration cap checked; the refine's CPU seconds resolved (default: CPU_REFINE_S with
    engine "auto", 0 when an engine is named) and checked."""
    if max_iter is not None and int(max_iter) < 1:
        raise InputError(f"max_iter must be >= 1, got {max_iter}")
    if cpu_refine_s is None:
        cpu_refine_s = CPU_REFINE_S if auto else 0.0
    cpu_refine_s = float(cpu_refine_s)
    if not cpu_refine_s >= 0:
        raise InputError(f"cpu_refine_s must be >= 0, got {cpu_refine_s}")
    return cpu_refine_s


def _load_sweep():
    """Job: compile (or load from numba's cache) the CPU sweep, off the job's thread."""
    from ._sweep import kernels

    yield from in_background(kernels, message="loading the compiled sweep")


@dataclass(frozen=True)
class _Start:
    """Where an engine starts: ``keys`` (None: from the seeds), the voxels a sweep starts from
    (None: every seed), and whether they come from a previous state (a refine)."""

    keys: Optional[np.ndarray] = None
    starts: Optional[np.ndarray] = None
    refined: bool = False


_COLD = _Start()


def _warm_start(prep: Prepared, state, *, engine: str, cpu_refine_s: float):
    """Job: the start of a refine from ``state``; a finished :class:`GrowCutResult` when the
    windowed CPU sweep completed it, else a :class:`_Start` (cold when the state cannot be
    refined)."""
    if not isinstance(state, GrowCutState):
        raise InputError("state must be the state of a previous GrowCut result")
    # Where path costs saturate (D_MAX) several labels can tie and GrowCut has more than
    # one fixed point: the sweep settles them in its pop order, the GPU engines by an
    # in-place min over all paths (see ``_triton``), and a warm start can land on another
    # of them than a fresh run. So a state holding saturated labelled voxels is not
    # refined (it is computed again), nor is a refine whose result holds some.
    if state.signature != prep.signature() or saturated_labels(state.keys).size != 0:
        return _COLD
    windowed = engine == "sweep" or cpu_refine_s > 0
    keys0, starts = yield from in_background(refine_keys, prep, state, need_starts=windowed,
                                             message="refining")
    if not windowed:
        return _Start(keys0, starts, refined=True)
    return (yield from _window_refine(prep, state, keys0, starts, gpu=engine != "sweep",
                                      cpu_refine_s=cpu_refine_s))


def _window_refine(prep: Prepared, state: GrowCutState, keys0, starts, *, gpu: bool,
                   cpu_refine_s: float):
    """Job: the exact CPU sweep in a window around the edit (with a GPU engine waiting: for at
    most ``cpu_refine_s`` seconds); a finished result, or where the engine goes on from."""
    from ._sweep import window_refine_steps

    keys, complete = yield from steps_in_background(window_refine_steps(
        prep, keys0, starts, state.keys,
        time_limit=cpu_refine_s if gpu else None,
        max_pops=_CPU_REFINE_MAX_POPS if gpu else None), "refining")
    if saturated_labels(keys).size:
        return _COLD  # computed again, as without a state
    if complete:  # the sweep finished (always, without a GPU engine waiting)
        return (yield from _finish(keys, prep, engine="sweep", device="cpu", refined=True))
    return _Start(keys, starts, refined=True)  # real path costs: the GPU engine goes on


def _run_sweep(prep: Prepared, start: _Start, pv: dict):
    """Job: the CPU sweep from ``start`` to the result."""
    from ._sweep import sweep_steps

    # each step of the sweep (its set-up of the padded arrays, each budget of pops, the
    # final copy) in a helper thread: Cancel answers within 0.1 s whatever the volume
    keys = yield from steps_in_background(sweep_steps(prep, start.keys, start.starts, **pv),
                                          "growing")
    return (yield from _finish(keys, prep, engine="sweep", device="cpu",
                               refined=start.refined))


def _run_triton(prep: Prepared, start: _Start, pv: dict, *, device: str,
                max_iter: Optional[int], auto: bool, status: TritonStatus):
    """Job: the Triton engine to the result. Out of GPU memory: the CPU sweep. Another failure
    with engine "auto": recorded in ``status`` (warned once) and None returned (the caller
    runs the automaton); with engine "triton" named: raised."""
    from ._triton import triton_steps

    try:
        keys, iters, converged = yield from triton_steps(prep, start.keys, device, max_iter,
                                                         **pv)
        return (yield from _finish(keys, prep, engine="triton", device=device,
                                   iterations=iters, refined=start.refined,
                                   converged=converged))
    except Exception as exc:
        if _is_oom(exc):
            return (yield from _cpu_after_oom(exc, prep, pv))
        if not auto:
            raise
        # the keys on the device are discarded: the automaton starts again from start.keys
        status.record_failure(exc, stacklevel=4)
    return None


def _run_automaton(prep: Prepared, start: _Start, pv: dict, *, device: str,
                   max_iter: Optional[int]):
    """Job: the torch automaton to the result (out of GPU memory: the CPU sweep)."""
    from ._torch import automaton_steps

    try:
        keys, iters, converged = yield from automaton_steps(prep, start.keys, device, max_iter,
                                                            **pv)
    except Exception as exc:
        if not _is_oom(exc):
            raise
        return (yield from _cpu_after_oom(exc, prep, pv))
    return (yield from _finish(keys, prep, engine="automaton", device=device, iterations=iters,
                               refined=start.refined, converged=converged))


def _cpu_after_oom(exc: BaseException, prep, pv):
    """Job: CUDA ran out of memory during a GPU engine: warn in one line and compute the same
    result with the CPU sweep, from the start (the device's partial keys are dropped)."""
    warnings.warn("GrowCut: the GPU ran out of memory "
                  f"({(str(exc).strip().splitlines() or [''])[0][:120]}); finishing on the CPU",
                  InputWarning, stacklevel=4)  # the CLI and widgets show it in one line
    try:
        import torch

        torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - freeing the cache is a courtesy
        pass
    yield from _load_sweep()
    return (yield from _run_sweep(prep, _COLD, pv))


def _finish(keys, prep, *, engine: str, device: str, iterations: int = 0,
            refined: bool = False, converged: bool = True):
    """Job: the result from the final keys (labels decoded, the state's signature), off the
    job's thread."""
    return (yield from in_background(result_from_keys, keys, prep, engine=engine, device=device,
                                     iterations=iterations, refined=refined,
                                     converged=converged, message="finishing"))


def _is_oom(exc: BaseException) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, torch.cuda.OutOfMemoryError)


def growcut(image, seeds, *, spacing=None, connectivity: Optional[int] = None,
            channel_axis: Optional[int] = None, mask=None, device: str = "auto",
            engine: str = "auto", max_iter: Optional[int] = None,
            distance_penalty: float = 0.0,
            state: Optional[GrowCutState] = None,
            cpu_refine_s: Optional[float] = None, exclude=None,
            triton_status: Optional[TritonStatus] = None) -> GrowCutResult:
    """GrowCut to convergence; see :func:`growcut_steps` for the parameters.

    >>> res = growcut(image, seeds, spacing=(3, 1, 1))           # doctest: +SKIP
    >>> res2 = growcut(image, edited_seeds, state=res.state)     # refine   # doctest: +SKIP
    """
    return run(growcut_steps(image, seeds, spacing=spacing, connectivity=connectivity,
                             channel_axis=channel_axis, mask=mask, device=device, engine=engine,
                             max_iter=max_iter, distance_penalty=distance_penalty, state=state,
                             previews=False, cpu_refine_s=cpu_refine_s, exclude=exclude,
                             triton_status=triton_status))


def warm_up() -> None:
    """Compile (or load from numba's cache) the CPU sweep now.

    Examples
    --------
    Not run as a test (it compiles, or loads from the cache, every kernel variant: seconds):

    >>> warm_up()  # doctest: +SKIP
    """
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

    Parameters
    ----------
    image, seeds, spacing, connectivity, channel_axis, mask, distance_penalty
        As given to :func:`growcut`.
    labels, cost : ndarray
        The result to check (:attr:`GrowCutResult.labels`, :attr:`GrowCutResult.cost`).
    rtol : float
        Relative tolerance on the cost.

    Returns
    -------
    int
        The number of voxels that would still change.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((8, 8), np.float32)
    >>> img[:, 4:] = 1.0
    >>> seeds = np.zeros((8, 8), np.int32)
    >>> seeds[0, 0], seeds[7, 7] = 1, 2
    >>> res = growcut(img, seeds, device="cpu")
    >>> fixed_point_violations(img, seeds, res.labels, res.cost)
    0
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


# the job shared by the CLI and the widget (imported last: it calls growcut_steps)
from .pipeline import (GrowCutParams, ResultEdits, auto_seeds_job, growcut_job,  # noqa: E402
                       result_edits)
