"""The GrowCut job, assembled once for the command line (``segsuite growcut``) and the widget.

:class:`GrowCutParams` declares the job's parameters (default, help, limits; read by
``cli._common.add_param`` and the widget's controls) and :func:`growcut_job` makes every
decision between the inputs and the labels: the memory check, automatic seeds (inside the mask),
the hand-corrections that become seeds on a refine, the engine run, and the output label dtype
(the one rule of ``core.base.labels``).
The CLI only reads files and writes the result; the widget only reads its layers and shows the
result. :func:`result_edits` keeps track of what the user changed by hand in a result (painted
labels become seeds, erased voxels stay 0) between refines.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from ..base import neighbours
from ..base.errors import InputError
from ..base.labels import as_labels
from ..base.params import param
from ..base.progress import Progress, in_background

__all__ = ["GrowCutParams", "growcut_job", "auto_seeds_job", "ResultEdits", "result_edits"]


@dataclass(frozen=True)
class GrowCutParams:
    """The parameters of one GrowCut run (see :func:`growcut_job`).

    Examples
    --------
    >>> p = GrowCutParams()
    >>> p.connectivity, p.distance_penalty, p.device, p.auto_seeds
    (26, 0.0, 'auto', None)
    >>> GrowCutParams(auto_seeds=3).auto_seeds
    3
    """

    connectivity: Union[int, str] = param(
        26, "neighbourhood: " + neighbours.HELP + "; default full (26): as ITK FastGrowCut "
        "(3D Slicer's Grow from seeds), same labels up to ties", label="Neighbourhood", choices=neighbours.CHOICES)
    distance_penalty: float = param(
        0.0, "extra cost per step length (in units of the smallest spacing, per robust "
             "intensity range); > 0 prefers physically nearer seeds; default 0 = classic GrowCut "
             "(ITK FastGrowCut's results)",
        minimum=0.0, maximum=1e6, step=0.001)
    device: str = param("auto", "auto: CUDA when torch sees a GPU, else the CPU",
                        choices=("auto", "cpu", "cuda"))
    max_iter: Optional[int] = param(
        None, "cap on GPU iterations (rounds of directional passes for the Triton engine, "
              "iterations for the automaton); the CPU sweep is exact in one pass and ignores it",
        label="Max iterations", minimum=1, advanced=True, none_text="until converged")
    auto_seeds: Optional[int] = param(
        None, "ignore the seeds and seed K labels automatically (local-entropy minima "
              "clustered by intensity, inside the mask when there is one)",
        label="Auto seeds (K)", minimum=2, maximum=64, none_text="off")


def _check_image(image):
    from ..base.image import SegImage

    if not isinstance(image, SegImage):
        raise InputError("the GrowCut job takes a SegImage (its spacing and channels are used)")
    if image.ndim not in (2, 3):
        raise InputError(f"the image must be 2D or 3D, got {image.ndim}D")


def auto_seeds_job(image, n_labels: int, *, mask=None):
    """Job: K seed labels found automatically (local-entropy minima clustered by intensity).

    Parameters
    ----------
    image : SegImage
        2D or 3D image, channels last when multichannel; its spacing makes the neighbourhoods
        round in physical space.
    n_labels : int
        K, the number of labels (>= 2).
    mask : array-like, optional
        Region of interest (non-zero): seeds are placed only inside it.

    Returns
    -------
    ndarray
        ``int32`` seed labels 1..K of the image's spatial shape, 0 = no seed.

    Examples
    --------
    >>> from napari_segsuite.core.base.image import SegImage
    >>> from napari_segsuite.core.base.progress import run
    >>> img = np.zeros((40, 40), np.float32)
    >>> img[:, 20:] = 1
    >>> img += np.random.default_rng(0).normal(0, 0.05, img.shape).astype(np.float32)
    >>> seeds = run(auto_seeds_job(SegImage(img), 2))
    >>> seeds.shape, np.unique(seeds[seeds > 0]).tolist()
    ((40, 40), [1, 2])
    """
    _check_image(image)
    yield Progress(0, 1, "finding homogeneous spots")
    from ..seeds import auto_seeds

    m = None if mask is None else np.asarray(mask) != 0
    out = yield from in_background(auto_seeds, image.array, int(n_labels),
                                   channel_axis=-1 if image.multichannel else None,
                                   spacing=image.spacing, mask=m,
                                   message="finding homogeneous spots")
    yield Progress(1, 1, "done")
    return out


def growcut_job(image, params: GrowCutParams = GrowCutParams(), *, seeds=None, mask=None,
                state=None, corrections=None, exclude=None, previews: bool = True):
    """Job: GrowCut from seeds (or automatic seeds) to the final labels.

    Parameters
    ----------
    image : SegImage
        2D or 3D image (channels last when multichannel: several contrasts or bands are used
        together); its spacing enters the distance penalty.
    params : GrowCutParams
        Neighbourhood, distance penalty, device, iteration cap, automatic seeds.
    seeds : array-like, optional
        Label image of the image's spatial shape, 0 = no seed, at least two labels. Ignored
        (may be None) when ``params.auto_seeds`` is set.
    mask : array-like, optional
        Region of interest (non-zero = grow here); automatic seeds are placed inside it.
    state : GrowCutState, optional
        A previous result's ``state`` to refine from (only what the edits change is grown
        again; the result equals a full recompute).
    corrections : array-like, optional
        Labels painted by hand into a previous result (0 = none; see :func:`result_edits`):
        they become seeds, over ``seeds``.
    exclude : array-like, optional
        Voxels no label may take (0 in the result), e.g. what the user erased in a result.
    previews : bool
        Attach the labels so far to some Progress events (a live view; off when no one shows
        them: each copies the volume).

    Returns
    -------
    GrowCutResult
        ``labels`` in the one label dtype (``core.base.labels.as_labels``: the smallest of
        uint8/uint16/uint32 holding them), plus ``state`` (for a refine),
        ``engine``, ``device``, ``iterations``, ``refined`` and ``converged``.

    Examples
    --------
    >>> from napari_segsuite.core.base.image import SegImage
    >>> from napari_segsuite.core.base.progress import run
    >>> img = np.zeros((20, 20), np.float32)
    >>> img[:, 10:] = 1
    >>> seeds = np.zeros((20, 20), np.int64)
    >>> seeds[10, 2], seeds[10, 17] = 1, 2
    >>> res = run(growcut_job(SegImage(img), GrowCutParams(device="cpu"), seeds=seeds))
    >>> res.labels.dtype, res.labels[:, 9].tolist() == [1] * 20, int(res.labels[:, 10:].max())
    (dtype('uint8'), True, 2)
    >>> (res.engine, res.device, res.refined)
    ('sweep', 'cpu', False)
    """
    _check_image(image)
    if not isinstance(params, GrowCutParams):
        raise InputError("params must be a GrowCutParams")
    from ..base.memory import check_fits

    check_fits("growcut", image.shape, image.array.dtype, image.n_channels)  # before any work
    if params.auto_seeds is None and seeds is None:
        raise InputError("give seeds (a label image) or auto_seeds K")
    if params.auto_seeds is not None:
        seeds = yield from auto_seeds_job(image, params.auto_seeds, mask=mask)
    seeds = np.asarray(seeds)
    if corrections is not None:
        corrections = np.asarray(corrections)
        if corrections.shape != seeds.shape:
            raise InputError(f"the corrections' shape {corrections.shape} does not match the "
                             f"seeds' {seeds.shape}")
        seeds = np.where(corrections > 0, corrections, seeds)
    if exclude is not None and not np.asarray(exclude).any():
        exclude = None
    from . import growcut_steps

    res = yield from growcut_steps(image, seeds, connectivity=params.connectivity, mask=mask,
                                   device=params.device, max_iter=params.max_iter,
                                   distance_penalty=params.distance_penalty, state=state,
                                   exclude=exclude, previews=previews)
    return dataclasses.replace(res, labels=as_labels(res.labels))  # the one label dtype rule


@dataclass(frozen=True)
class ResultEdits:
    """What the user changed by hand in GrowCut results, kept across refines.

    corrections: the labels painted into a result (int64, 0 = none); they become seeds.
    erased: voxels set to 0 in a result; they stay 0 (no label may take them) until painted
    again.

    Examples
    --------
    >>> e = ResultEdits(np.array([0, 2]), np.array([True, False]))
    >>> e.corrections.tolist(), e.erased.tolist()
    ([0, 2], [True, False])
    """

    corrections: np.ndarray
    erased: np.ndarray


def result_edits(previous: np.ndarray, edited: np.ndarray,
                 edits: Optional[ResultEdits] = None) -> ResultEdits:
    """The hand edits of a result layer, added to those of earlier refines.

    Parameters
    ----------
    previous : ndarray
        The labels the last run gave (as shown).
    edited : ndarray
        The same layer now, after the user's corrections.
    edits : ResultEdits, optional
        The edits kept from earlier refines (same shape), or None.

    Returns
    -------
    ResultEdits
        New arrays: a voxel painted with a label is a correction (and no longer erased); a
        labelled voxel set to 0 is erased (and no longer a correction).

    Examples
    --------
    >>> prev = np.array([1, 1, 2, 2])
    >>> e = result_edits(prev, np.array([1, 2, 2, 0]))
    >>> e.corrections.tolist(), e.erased.tolist()
    ([0, 2, 0, 0], [False, False, False, True])
    >>> e = result_edits(prev, np.array([1, 2, 2, 1]), e)   # painted again: no longer erased
    >>> e.corrections.tolist(), e.erased.tolist()
    ([0, 2, 0, 1], [False, False, False, False])
    """
    previous, edited = np.asarray(previous), np.asarray(edited)
    if edits is None or edits.corrections.shape != previous.shape:
        corrections = np.zeros(previous.shape, dtype=np.int64)
        erased = np.zeros(previous.shape, dtype=bool)
    else:
        corrections, erased = edits.corrections.copy(), edits.erased.copy()
    changed = (edited != previous) & (edited != 0)
    corrections[changed] = edited[changed]
    # erasing is an edit too: a voxel set to 0 stays 0 (no label may take it) until it is
    # painted again
    erased |= (edited == 0) & (previous != 0)
    erased[changed] = False
    corrections[erased] = 0
    return ResultEdits(corrections, erased)
