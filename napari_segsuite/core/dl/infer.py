"""Inference: sliding-window tiling with Gaussian blending, any image size, 2D and 3D.

:func:`predict_steps` (job generator) / :func:`predict` take a
:class:`~napari_segsuite.core.base.image.SegImage` (channels last) or an array and a model (a :class:`~.checkpoint.Checkpoint` or a file path) and
return a :class:`Prediction`: the label map with the training label values on the image's grid,
and optionally the class probabilities (channels last, one per label value).

- Tiles overlap (``overlap`` of the tile, default 0.5) and are blended with a Gaussian weight
  (sigma = tile / 8, as nnU-Net), so tile borders leave no seams; tiles are batched; on CUDA
  they run under ``torch.autocast`` (float16) and everything under ``torch.inference_mode``.
- Tile size: the training patch grown while an estimate of the memory it needs fits (half the
  free GPU memory, or 1 GiB on the CPU); ``tile=`` overrides it.
- A 2D model on a 3D volume runs slice by slice along the first array axis (tiles of all slices
  are batched together).
- ``instances=True`` splits the foreground into one label per object (distance-transform
  watershed, :func:`split_instances`), e.g. touching nuclei.
"""

from __future__ import annotations

import itertools
import threading
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ..base.errors import InputError
from ..base.image import SegImage
from ..base.labels import as_labels
from ..base.progress import Progress, run
from ._common import (as_image, channel_stats, channels_first, label_dtype, normalise,
                      resolve_device, torch_threads)


@dataclass
class Prediction:
    """What :func:`predict` returns.

    Attributes
    ----------
    labels : SegImage
        The label values as in training (or instance ids), on the image's grid.
    probabilities : SegImage or None
        float32, channels last, one per label value (when asked for).
    device : str
        Where the network ran.
    tile : tuple of int
        The tile size used.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from napari_segsuite.core.dl.checkpoint import Checkpoint
    >>> from napari_segsuite.core.dl.models import build_model
    >>> _ = torch.manual_seed(0)
    >>> net = build_model("unet", 2, 1, 2, depth=1, width=2)      # tiny, untrained
    >>> ckpt = Checkpoint(arch="unet", dim=2, settings=net.settings, in_channels=1, n_out=2,
    ...                   output="softmax", label_values=[0, 1], norm_mean=[0.0], norm_std=[1.0],
    ...                   state_dict=net.state_dict())
    >>> p = predict(np.zeros((16, 16), np.float32), ckpt, device="cpu", tile=16)
    >>> p.labels.shape, p.probabilities, p.device, p.tile
    ((16, 16), None, 'cpu', (16, 16))
    """
    labels: SegImage                      # label values as in training (or instance ids)
    probabilities: Optional[SegImage]     # float32, channels last, one per label value
    device: str = "cpu"
    tile: Tuple[int, ...] = ()


def gaussian_weight(tile: Sequence[int], sigma_scale: float = 1 / 8) -> np.ndarray:
    """Gaussian importance map for one tile, max 1, never below 1e-3.

    Parameters
    ----------
    tile : sequence of int
        The tile's size per axis.
    sigma_scale : float
        Sigma as a fraction of the tile size.

    Returns
    -------
    numpy.ndarray
        float32 weights of shape ``tile``.

    Examples
    --------
    >>> gaussian_weight((3,)).round(3)
    array([0.029, 1.   , 0.029], dtype=float32)
    """
    grids = [np.exp(-0.5 * ((np.arange(n) - (n - 1) / 2) / max(n * sigma_scale, 1e-6)) ** 2)
             for n in tile]
    w = grids[0]
    for g in grids[1:]:
        w = np.multiply.outer(w, g)
    w = w / w.max()
    return np.maximum(w, 1e-3).astype(np.float32)


def tile_starts(size: int, tile: int, overlap: float) -> List[int]:
    """Start positions covering ``[0, size)`` with tiles of ``tile``, the last one flush.

    Parameters
    ----------
    size : int
        Length of the axis.
    tile : int
        Tile length.
    overlap : float
        Overlap fraction between neighbouring tiles.

    Returns
    -------
    list of int
        The tiles' start positions.

    Examples
    --------
    >>> tile_starts(10, 4, 0.5)
    [0, 2, 4, 6]
    >>> tile_starts(3, 4, 0.5)
    [0]
    """
    if tile >= size:
        return [0]
    step = max(1, int(tile * (1 - overlap)))
    n = math.ceil((size - tile) / step) + 1
    if n == 1:
        return [0]
    return [int(round(i * (size - tile) / (n - 1))) for i in range(n)]


def _memory_plan(ckpt, device: str) -> Tuple[float, float]:
    """(bytes per tile voxel, budget in bytes) for choosing tile and batch sizes."""
    import torch

    width = int(ckpt.settings.get("width", 16)) if ckpt.settings else 16
    # activations of a U-Net-like net, forward only: ~ 12 * width floats per voxel
    per_voxel = 12 * width * (2 if device.startswith("cuda") else 4)
    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        budget = 0.5 * free
    else:
        budget = float(1 << 30)
    return per_voxel, budget


def _estimate_tile(ckpt, spatial: Tuple[int, ...], device: str) -> Tuple[int, ...]:
    dim = len(spatial)
    base = int(max(ckpt.patch or [128 if dim == 2 else 48]))
    per_voxel, budget = _memory_plan(ckpt, device)
    cap = 512 if dim == 2 else 160
    t = base
    while t * 2 <= cap and (2 * t) ** dim * per_voxel <= budget:
        t *= 2
    t = max(16, (t // 16) * 16)
    return tuple(int(min(t, s)) for s in spatial)


def _tile_shape(ckpt, vshape: Tuple[int, ...], dev: str, tile) -> Tuple[int, ...]:
    """The tile: ``tile`` (one size or one per axis, clipped to the image), or the estimate."""
    if tile is None:
        return _estimate_tile(ckpt, vshape, dev)
    t = (int(tile),) * len(vshape) if np.isscalar(tile) else tuple(int(v) for v in tile)
    if len(t) != len(vshape) or min(t) < 1:
        raise InputError(f"tile must have {len(vshape)} positive sizes, got {tile}")
    return tuple(min(a, b) for a, b in zip(t, vshape))


def predict_steps(image: Union[SegImage, np.ndarray], model, device: str = "auto",
                  tile: Optional[Union[int, Sequence[int]]] = None, overlap: float = 0.5,
                  batch: Optional[int] = None, probabilities: bool = False,
                  instances: bool = False, amp: bool = True,
                  num_threads: Optional[int] = None):
    """Segment ``image`` with ``model`` (Checkpoint or path); returns a :class:`Prediction`.

    On the CPU torch uses ``num_threads`` threads (default: the idle cores) while it runs.

    Parameters
    ----------
    image : SegImage or numpy.ndarray
        The image (channels last when the model takes several).
    model : Checkpoint or str or pathlib.Path
        The model or its file.
    device : {"auto", "cpu", "cuda"}
        Where torch runs (auto: CUDA when available).
    tile : int or sequence of int, optional
        Tile size per axis (None: the largest that fits the memory).
    overlap : float
        Tile overlap fraction.
    batch : int, optional
        Tiles per batch.
    probabilities : bool
        Also return the class probabilities.
    instances : bool
        Split the foreground into one label per object (:func:`split_instances`).
    amp : bool
        Mixed precision on CUDA.
    num_threads : int, optional
        CPU threads for torch.

    Yields
    ------
    Progress
        One per batch of tiles.

    Returns
    -------
    Prediction
        The labels (and probabilities); the generator's return value.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from napari_segsuite.core.dl.checkpoint import Checkpoint
    >>> from napari_segsuite.core.dl.models import build_model
    >>> _ = torch.manual_seed(0)
    >>> net = build_model("unet", 2, 1, 2, depth=1, width=2)      # tiny, untrained
    >>> ckpt = Checkpoint(arch="unet", dim=2, settings=net.settings, in_channels=1, n_out=2,
    ...                   output="softmax", label_values=[0, 1], norm_mean=[0.0], norm_std=[1.0],
    ...                   state_dict=net.state_dict())
    >>> from napari_segsuite.core.base.progress import run
    >>> p = run(predict_steps(np.zeros((16, 16), np.float32), ckpt, device="cpu", tile=16,
    ...                       probabilities=True))
    >>> p.labels.shape, p.probabilities.array.shape
    ((16, 16), (16, 16, 2))
    """
    with torch_threads(num_threads):
        try:
            return (yield from _predict_steps(image, model, device, tile, overlap, batch,
                                              probabilities, instances, amp))
        except Exception as exc:  # CUDA out of memory: the same job again on the CPU
            if not _cuda_oom(exc):
                raise
        return (yield from _predict_steps(image, model, "cpu", tile, overlap, batch,
                                          probabilities, instances, amp))


def _cuda_oom(exc: BaseException) -> bool:
    """True (after a one-line InputWarning and freeing the GPU's cache) for torch's CUDA
    out-of-memory error."""
    import warnings

    import torch

    from ..base.errors import InputWarning

    if not isinstance(exc, torch.cuda.OutOfMemoryError):
        return False
    first = (str(exc).strip().splitlines() or [""])[0][:120]
    warnings.warn(f"U-Net: the GPU ran out of memory ({first}); running on the CPU instead",
                  InputWarning, stacklevel=4)
    try:
        torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - a courtesy
        pass
    return True


def _predict_steps(image, model, device, tile, overlap, batch, probabilities, instances, amp):
    import torch

    from .checkpoint import Checkpoint, load_model

    ckpt: Checkpoint = model if isinstance(model, Checkpoint) else load_model(model)
    dev = resolve_device(device)
    yield Progress(0, None, f"loading the model on {dev}")
    spatial_nd = None
    if not isinstance(image, SegImage):  # an array: channels last when the model wants several
        arr = np.asarray(image)
        multi = ckpt.in_channels > 1 and arr.ndim >= 3 and arr.shape[-1] == ckpt.in_channels
        spatial_nd = arr.ndim - int(multi)
    img = as_image(image, spatial_nd)
    x = channels_first(img)
    nc = x.shape[0]
    if ckpt.in_channels and nc != ckpt.in_channels:
        names = f" ({', '.join(ckpt.channel_names)})" if ckpt.channel_names else ""
        raise InputError(f"the model takes {ckpt.in_channels} channel(s){names}, the image has "
                         f"{nc}; choose the same contrasts/bands as in training")
    if img.ndim not in (2, 3):
        raise InputError(f"expected a 2D or 3D image, got {img.ndim}D")
    if ckpt.dim == 3 and img.ndim != 3:
        raise InputError("this is a 3D model; it needs a volume, the image is 2D")
    if ckpt.norm_mean:
        x = normalise(x, ckpt.norm_mean, ckpt.norm_std)
    else:  # a TorchScript model without statistics: this image's own
        m, s = channel_stats([x])
        x = normalise(x, m, s)
    net = ckpt.build().to(dev)
    slicewise = ckpt.dim == 2 and img.ndim == 3
    # views: a list of (C, *tile-able spatial) arrays
    views = [x[:, k] for k in range(x.shape[1])] if slicewise else [x]
    vshape = tuple(views[0].shape[1:])
    tshape = _tile_shape(ckpt, vshape, dev, tile)
    if not 0 <= overlap < 1:
        raise InputError(f"overlap must be in [0, 1), got {overlap}")
    if batch is None:
        per_voxel, budget = _memory_plan(ckpt, dev)
        batch = int(max(1, min(32, budget // (float(np.prod(tshape)) * per_voxel))))
    weight = gaussian_weight(tshape)
    wt = torch.from_numpy(weight).to(dev)
    positions = list(itertools.product(*[tile_starts(s, t, overlap)
                                         for s, t in zip(vshape, tshape)]))
    jobs = [(v, p) for v in range(len(views)) for p in positions]
    n_out = None
    acc = None
    norm = np.zeros(vshape, dtype=np.float32)
    for p in positions:
        norm[tuple(slice(a, a + t) for a, t in zip(p, tshape))] += weight
    use_amp = amp and dev.startswith("cuda")
    n_batches = math.ceil(len(jobs) / batch)
    try:
        with torch.inference_mode():
            for b in range(n_batches):
                chunk = jobs[b * batch:(b + 1) * batch]
                tiles = []
                for v, p in chunk:
                    sl = (slice(None),) + tuple(slice(a, a + t) for a, t in zip(p, tshape))
                    tiles.append(views[v][sl])
                pr = _tile_probs(net, tiles, dev, use_amp, wt)
                if n_out is None:
                    n_out = pr.shape[1]
                    acc = np.zeros((len(views), n_out) + vshape, dtype=np.float32)
                for (v, p), t in zip(chunk, pr):
                    sl = (v, slice(None)) + tuple(slice(a, a + s) for a, s in zip(p, tshape))
                    acc[sl] += t
                yield Progress(b + 1, n_batches + 1, f"tiles {min((b + 1) * batch, len(jobs))}"
                                                     f"/{len(jobs)} on {dev}")
    finally:
        del net
    acc /= norm
    probs = acc                                # (V, K, *vshape)
    if slicewise:
        probs = np.moveaxis(probs, 0, 1)                # (K, Z, Y, X)
    else:
        probs = probs[0]
    k = probs.shape[0]
    values = list(ckpt.label_values) if ckpt.label_values else list(range(k))
    if len(values) != k:
        raise InputError(f"the model gives {k} classes but lists {len(values)} label values")
    index = probs.argmax(0)
    lut = np.asarray(values)
    labels = lut[index].astype(label_dtype(int(lut.max())))
    meta = {"label_names": dict(ckpt.label_names)} if ckpt.label_names else {}
    if instances:
        yield Progress(n_batches, n_batches + 1, "splitting objects")
        fg_prob = probs[1:].sum(0)
        labels = split_instances(index > 0, img.spacing,
                                 core=fg_prob > 0.85)
        meta = {}
    out = img.like(labels, name=f"{img.name}_prediction", **meta)
    prob_img = None
    if probabilities:
        prob_img = img.like(np.moveaxis(probs, 0, -1).astype(np.float32), multichannel=True,
                            name=f"{img.name}_probabilities",
                            channel_names=[ckpt.label_names.get(str(v), str(v)) for v in values])
    yield Progress(n_batches + 1, n_batches + 1, "done")
    return Prediction(out, prob_img, dev, tuple(tshape))


def _tile_probs(net, tiles, dev: str, use_amp: bool, wt) -> np.ndarray:
    """Class probabilities of a batch of tiles ``(C, *tile)`` times the Gaussian weight ``wt``:
    numpy ``(N, K, *tile)`` with K >= 2 (a one-output model gives background and foreground)."""
    import torch

    xt = torch.from_numpy(np.stack(tiles)).to(dev)
    if use_amp:
        with torch.autocast("cuda", dtype=torch.float16):
            out = net(xt)
    else:
        out = net(xt)
    out = out.float()
    if out.ndim != xt.ndim or tuple(out.shape[2:]) != tuple(xt.shape[2:]):
        raise InputError(f"the model returned shape {tuple(out.shape)} for input "
                         f"{tuple(xt.shape)}; it must keep the spatial size")
    if out.shape[1] == 1:
        pr = torch.sigmoid(out)
        pr = torch.cat([1 - pr, pr], 1)
    else:
        pr = torch.softmax(out, 1)
    return (pr * wt).cpu().numpy()


def _n_classes(ckpt, n_channels: int, tile: Sequence[int], dev: str) -> int:
    """The classes K a model gives (>= 2, as :func:`_tile_probs`): one tile of zeros through it
    (a TorchScript model of the user's lists neither label values nor outputs)."""
    import torch

    with torch_threads(None), torch.inference_mode():
        out = ckpt.build().to(dev)(torch.zeros((1, n_channels, *tile), device=dev))
    return max(2, int(out.shape[1])) if out.ndim >= 2 else 2


def predict(image, model, **kwargs) -> Prediction:
    """Plain-function form of :func:`predict_steps`.

    Parameters
    ----------
    image : SegImage or numpy.ndarray
        The image.
    model : Checkpoint or str or pathlib.Path
        The model or its file.
    **kwargs
        As :func:`predict_steps`.

    Returns
    -------
    Prediction
        The labels (and probabilities).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from napari_segsuite.core.dl.checkpoint import Checkpoint
    >>> from napari_segsuite.core.dl.models import build_model
    >>> _ = torch.manual_seed(0)
    >>> net = build_model("unet", 2, 1, 2, depth=1, width=2)      # tiny, untrained
    >>> ckpt = Checkpoint(arch="unet", dim=2, settings=net.settings, in_channels=1, n_out=2,
    ...                   output="softmax", label_values=[0, 1], norm_mean=[0.0], norm_std=[1.0],
    ...                   state_dict=net.state_dict())
    >>> p = predict(np.zeros((16, 16), np.float32), ckpt, device="cpu", tile=16)
    >>> p.labels.shape, p.labels.array.dtype
    ((16, 16), dtype('uint8'))
    """
    return run(predict_steps(image, model, **kwargs))


def split_instances(mask: np.ndarray, spacing: Optional[Sequence[float]] = None,
                    h: Optional[float] = None, min_size: int = 3,
                    core: Optional[np.ndarray] = None) -> np.ndarray:
    """One label per object in a foreground mask: distance-transform watershed.

    The Euclidean distance to the background (physical units, ``spacing``), smoothed a little;
    its h-maxima (``h``, default 0.2 x the smallest spacing) are the markers, and a watershed of
    the negated distance inside ``mask`` separates touching objects. ``core`` (optional, inside
    ``mask``), e.g. the voxels where the network is sure (probability > 0.85), gives the
    distance map instead: the thin, uncertain necks between touching objects drop out of it and
    the objects separate better. Objects smaller than ``min_size`` voxels merge into their
    neighbours; a connected component without a marker keeps one label. Returns ids 1..N
    (0 background) in the one label dtype (``core.base.labels``).

    Parameters
    ----------
    mask : numpy.ndarray of bool
        The foreground.
    spacing : sequence of float, optional
        Voxel size per axis (None: 1).
    h : float, optional
        Height of the distance maxima that become markers.
    min_size : int
        Smallest object, in voxels.
    core : numpy.ndarray of bool, optional
        The sure part of the foreground.

    Returns
    -------
    numpy.ndarray
        Object ids 1..N, 0 background.

    Examples
    --------
    >>> m = np.zeros((5, 12), bool)
    >>> m[1:4, 1:4] = m[1:4, 7:10] = True
    >>> split_instances(m)[2]
    array([0, 1, 1, 1, 0, 0, 0, 2, 2, 2, 0, 0], dtype=uint8)
    """
    from scipy import ndimage as ndi
    from skimage.morphology import h_maxima
    from skimage.segmentation import relabel_sequential, watershed

    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.zeros(mask.shape, np.uint8)
    spacing = tuple(spacing) if spacing is not None else (1.0,) * mask.ndim
    seeds_from = mask if core is None else (np.asarray(core, dtype=bool) & mask)
    if not seeds_from.any():
        seeds_from = mask
    dist = ndi.distance_transform_edt(seeds_from, sampling=spacing)
    smooth = ndi.gaussian_filter(dist, sigma=[0.7 * min(spacing) / s for s in spacing])
    smooth[~seeds_from] = 0
    hh = float(h) if h is not None else 0.2 * float(min(spacing))
    markers, n = ndi.label(h_maxima(smooth, hh) & seeds_from)
    comps, nc = ndi.label(mask)
    missing = np.setdiff1d(np.arange(1, nc + 1), np.unique(comps[markers > 0]))
    if missing.size:  # every connected component gets at least one label
        extra = np.isin(comps, missing)
        markers[extra] = n + comps[extra]
    landscape = -ndi.distance_transform_edt(mask, sampling=spacing) if core is not None \
        else -smooth
    if core is not None:
        landscape = landscape - smooth  # core distance first, then the full mask's
    out = watershed(landscape, markers, mask=mask)
    if min_size > 1:
        sizes = np.bincount(out.ravel())
        small = np.flatnonzero(sizes < min_size)
        small = small[small > 0]
        if small.size:
            out[np.isin(out, small)] = 0
            out = watershed(landscape, out, mask=mask)
    out, _, _ = relabel_sequential(out)
    return as_labels(out)


# -- dask --------------------------------------------------------------------------------------
def predict_dask(image, model, *, device: str = "auto",
                 tile: Optional[Union[int, Sequence[int]]] = None, overlap: float = 0.5,
                 batch: Optional[int] = None, amp: bool = True, sample_size: int = 200_000,
                 random_state: int = 0):
    """Segment a dask array too large for memory (or living on a dask cluster): a *lazy* dask
    array of labels, computed or stored (e.g. to zarr) block by block on any scheduler.

    The tiles are the ones whole-image :func:`predict` places (same size, same positions, same
    Gaussian weights): every output block runs exactly the tiles that overlap it and blends them
    as the whole image would, so the labels equal :func:`predict`'s (to float rounding: a tile
    on the border of two blocks is computed in both). The blocks are cut where tiles begin
    (:func:`tile_blocks`: about the input's chunk size, at least a tile), so a block reads only
    the halo its tiles straddle (on a regular tile grid the overlap after it and the step
    before it: half a tile each with the default overlap 0.5), not ``tile - 1`` on each side;
    the result has the input's chunks. ``tile`` defaults to the size
    :func:`predict` would choose for the whole image. Channels last
    when the model takes several. A model without normalisation statistics (TorchScript) is
    normalised with the image's mean and standard deviation, estimated on ``sample_size``
    voxels. No ``instances`` here: splitting touching objects needs the whole foreground.

    Parameters
    ----------
    image : dask.array.Array or array_like
        The image (channels last when the model takes several).
    model : Checkpoint or str or pathlib.Path
        The model or its file.
    device, tile, overlap, batch, amp
        As :func:`predict_steps`.
    sample_size : int
        Voxels sampled for the normalisation of a model without statistics.
    random_state : int
        Seed of that sample.

    Returns
    -------
    dask.array.Array
        The labels, lazy (nothing is computed here).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from napari_segsuite.core.dl.checkpoint import Checkpoint
    >>> from napari_segsuite.core.dl.models import build_model
    >>> _ = torch.manual_seed(0)
    >>> net = build_model("unet", 2, 1, 2, depth=1, width=2)      # tiny, untrained
    >>> ckpt = Checkpoint(arch="unet", dim=2, settings=net.settings, in_channels=1, n_out=2,
    ...                   output="softmax", label_values=[0, 1], norm_mean=[0.0], norm_std=[1.0],
    ...                   state_dict=net.state_dict())
    >>> import dask.array as da
    >>> lab = predict_dask(da.zeros((32, 32), chunks=16, dtype=np.float32), ckpt, device="cpu",
    ...                    tile=16)
    >>> type(lab).__name__, lab.shape
    ('Array', (32, 32))
    """
    import dask.array as da

    from .checkpoint import Checkpoint, load_model

    ckpt: Checkpoint = model if isinstance(model, Checkpoint) else load_model(model)
    dev = resolve_device(device)
    arr = da.asarray(image)
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise InputError("image values must be real numbers")
    multi = ckpt.in_channels > 1 and arr.ndim >= 3 and arr.shape[-1] == ckpt.in_channels
    nd = arr.ndim - int(multi)
    nc = arr.shape[-1] if multi else 1
    if ckpt.in_channels and nc != ckpt.in_channels:
        raise InputError(f"the model takes {ckpt.in_channels} channel(s), the image has {nc}; "
                         "give the channels last")
    if nd not in (2, 3):
        raise InputError(f"expected a 2D or 3D image, got shape {arr.shape}")
    if ckpt.dim == 3 and nd != 3:
        raise InputError("this is a 3D model; it needs a volume, the image is 2D")
    if not 0 <= overlap < 1:
        raise InputError(f"overlap must be in [0, 1), got {overlap}")
    if not multi:
        arr = arr[..., None]
    arr = arr.rechunk({nd: -1})  # every block holds all channels
    spatial = tuple(int(v) for v in arr.shape[:nd])
    if ckpt.norm_mean:
        mean, std = ckpt.norm_mean, ckpt.norm_std
    else:
        n = int(np.prod(spatial))
        rng = np.random.default_rng(random_state)
        idx = np.sort(rng.choice(n, size=min(n, int(sample_size)), replace=False))
        sample = arr.vindex[np.unravel_index(idx, spatial)].compute().astype(np.float32)
        mean, std = channel_stats([np.moveaxis(sample, -1, 0)])
    slicewise = ckpt.dim == 2 and nd == 3
    vshape = spatial[1:] if slicewise else spatial
    tshape = _tile_shape(ckpt, vshape, dev, tile)
    if slicewise:  # a slice is a tile of depth 1 along the first axis, one per slice
        tshape = (1,) + tuple(tshape)
    starts = [tile_starts(s, t, overlap) for s, t in zip(spatial, tshape)]
    if batch is None:
        per_voxel, budget = _memory_plan(ckpt, dev)
        batch = int(max(1, min(32, budget // (float(np.prod(tshape)) * per_voxel))))
    # blocks that begin where tiles begin (about the input's chunk size, at least a tile), and
    # the halo those blocks' tiles reach out of them: the tile overlap, not a whole tile
    user_chunks = arr.chunks[:nd]
    plan = [tile_blocks(s, t, st, max(c)) for s, t, st, c in zip(spatial, tshape, starts,
                                                                    user_chunks)]
    depth = {ax: h for ax, (_, h) in enumerate(plan)}  # (before, after) a block
    depth[nd] = (0, 0)
    arr = arr.rechunk(tuple(c for c, _ in plan) + (arr.chunks[nd],))
    halo = da.overlap.overlap(arr, depth=depth, boundary="none")
    values = list(ckpt.label_values) if ckpt.label_values else None
    if values is None:  # a model listing no label values (TorchScript): 0..K-1, K its classes
        values = list(range(_n_classes(ckpt, nc, tshape[1:] if slicewise else tshape, dev)))
    out_dtype = label_dtype(int(max(values)))  # the one rule, as predict_steps
    chunks = arr.chunks[:nd]

    # CUDA out of memory in a block: that block again on the CPU, and every later block of
    # this process there too, with one notice (as :func:`predict_steps`)
    where = {"dev": dev}

    def block(x, block_info=None):
        loc = block_info[None]["array-location"]  # this output block, in the whole image
        lo = [a for a, _ in loc]
        hi = [b for _, b in loc]
        x0 = [max(0, a - depth[ax][0]) for ax, a in enumerate(lo)]  # where ``x`` starts
        return _block_or_cpu(where, ckpt, np.asarray(x), lo, hi, x0, starts, tshape, slicewise,
                             mean, std, batch, amp, values, out_dtype)

    out = halo.map_blocks(block, chunks=chunks, drop_axis=nd, dtype=out_dtype,
                          meta=np.empty((0,) * nd, out_dtype))
    # the input's chunks again (a zarr written with them gets one block per chunk)
    return out if out.chunks == user_chunks else out.rechunk(user_chunks)


def tile_blocks(size: int, tile: int, starts: Sequence[int], chunk: int
                ) -> Tuple[Tuple[int, ...], Tuple[int, int]]:
    """Blocks along one axis for :func:`predict_dask` and the halo their tiles need.

    Each block begins where a tile begins and is about ``chunk`` long (at least ``tile``), so
    the tiles overlapping a block reach out of it only by what they straddle of its borders.
    On a regular grid of tiles that is the tiles' overlap after a block and, before it, the
    start of the first tile straddling its border (one step back with an overlap up to 0.5,
    several above): half a tile each side with the default overlap 0.5, where a halo of
    ``tile - 1`` on each side would be needed for blocks cut anywhere. Where
    :func:`tile_starts` spreads the tiles a little closer than the step (the image's size is
    not on the grid), one more tile may straddle a border and the halo grows by up to a step.
    The halo is the farthest any tile overlapping a block reaches out of it on each side (0
    with one block).

    Parameters
    ----------
    size : int
        The axis's length.
    tile : int
        The tile's length along it.
    starts : sequence of int
        The tiles' starts (:func:`tile_starts`).
    chunk : int
        The wanted block length.

    Returns
    -------
    tuple
        (the blocks' lengths, (the halo before a block, the halo after it) in voxels).

    Examples
    --------
    >>> tile_blocks(256, 64, tile_starts(256, 64, 0.5), 100)  # overlap 32
    ((128, 128), (32, 32))
    >>> tile_blocks(256, 64, tile_starts(256, 64, 0.25), 64)  # step 48, overlap 16
    ((96, 96, 64), (48, 16))
    >>> tile_blocks(10, 1, range(10), 4)  # slice by slice: no halo
    ((4, 4, 2), (0, 0))
    """
    starts = sorted(int(v) for v in starts)
    if tile <= 1:  # one voxel per tile (a 2D model's slices): any block, no halo
        chunk = max(1, int(chunk))
        return tuple(min(chunk, size - a) for a in range(0, size, chunk)), (0, 0)
    want = max(int(chunk), int(tile))
    bounds = [0]
    for q in starts:
        if q >= bounds[-1] + want and size - q >= tile:
            bounds.append(q)
    before = after = 0
    for b in bounds[1:]:
        across = [q for q in starts if q < b < q + tile]  # tiles straddling the border b
        if across:
            before = max(before, b - min(across))
            after = max(after, max(across) + tile - b)
    lengths = tuple(int(v) for v in np.diff(bounds + [size]))
    return lengths, (int(before), int(after))


#: guards the switch to the CPU of :func:`_block_or_cpu` (a module global: the closure that
#: calls it is pickled to worker processes, a lock could not be)
_CPU_SWITCH = threading.Lock()


def _block_or_cpu(where: dict, ckpt, x, lo, hi, x0, starts, tshape, slicewise, mean, std, batch,
                  amp, values, out_dtype):
    """:func:`_predict_block` on ``where["dev"]``; on CUDA out of memory the block again on the
    CPU, and ``where["dev"]`` set to the CPU for the later blocks (one warning, the first)."""
    args = (ckpt, x, lo, hi, x0, starts, tshape, slicewise, mean, std)
    run_on = where["dev"]
    try:
        return _predict_block(*args, run_on, batch, amp, values, out_dtype)
    except Exception as exc:  # noqa: BLE001 - only CUDA's out-of-memory is caught
        if run_on == "cpu":
            raise
        with _CPU_SWITCH:
            if where["dev"] != "cpu":
                if not _cuda_oom(exc):  # warns once: the first block that fails
                    raise
                where["dev"] = "cpu"
            else:
                import torch

                if not isinstance(exc, torch.cuda.OutOfMemoryError):
                    raise
    return _predict_block(*args, "cpu", batch, amp, values, out_dtype)


def _predict_block(ckpt, x, lo, hi, x0, starts, tshape, slicewise, mean, std, dev, batch, amp,
                   values, out_dtype):
    """One output block ``[lo, hi)`` of :func:`predict_dask`: the whole image's tiles that
    overlap it, run on ``x`` (the block with its halo, starting at ``x0``, channels last)."""
    import torch

    xc = normalise(np.moveaxis(x, -1, 0).astype(np.float32, copy=False), mean, std)
    mine = [[p for p in st if p < b and p + t > a] for st, a, b, t in zip(starts, lo, hi, tshape)]
    positions = list(itertools.product(*mine))
    vt = tshape[1:] if slicewise else tshape
    weight = gaussian_weight(vt)
    bshape = tuple(b - a for a, b in zip(lo, hi))
    acc = None
    norm = np.zeros(bshape, np.float32)
    use_amp = amp and dev.startswith("cuda")
    with torch_threads(None), torch.inference_mode():
        net = ckpt.build().to(dev)
        wt = torch.from_numpy(weight).to(dev)
        for b0 in range(0, len(positions), batch):
            chunk = positions[b0:b0 + batch]
            tiles = []
            for p in chunk:
                sl = (slice(None),) + tuple(slice(q - o, q - o + t)
                                            for q, o, t in zip(p, x0, tshape))
                t_ = xc[sl]
                tiles.append(t_[:, 0] if slicewise else t_)
            pr = _tile_probs(net, tiles, dev, use_amp, wt)
            if acc is None:
                acc = np.zeros((pr.shape[1],) + bshape, np.float32)
            for p, t_ in zip(chunk, pr):
                if slicewise:
                    t_ = t_[:, None]
                # the part of the tile inside this block, in tile and in block coordinates
                src = tuple(slice(max(a, q) - q, min(b, q + t) - q)
                            for q, a, b, t in zip(p, lo, hi, tshape))
                dst = tuple(slice(max(a, q) - a, min(b, q + t) - a)
                            for q, a, b, t in zip(p, lo, hi, tshape))
                acc[(slice(None),) + dst] += t_[(slice(None),) + src]
                w = weight[None] if slicewise else weight
                norm[dst] += w[src]
        del net
    acc /= norm
    if values is None:
        values = list(range(acc.shape[0]))
    if len(values) != acc.shape[0]:
        raise InputError(f"the model gives {acc.shape[0]} classes but lists {len(values)} "
                         "label values")
    return np.asarray(values)[acc.argmax(0)].astype(out_dtype)
