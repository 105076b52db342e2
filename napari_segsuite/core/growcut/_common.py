"""What both GrowCut engines share: input checks, features, neighbourhoods, the packed key.

The packed key
--------------
Every voxel's state is one ``int64``::

    key = D << 17 | flag << 16 | label

``D`` is the voxel's path cost (``-log`` of its GrowCut strength) in fixed point: an integer in
units of ``2**-20`` of the channels' robust range (1st-99th percentile), saturating at
``D_MAX = 2**46 - 1``; ``flag`` is 0 for a seed and 1 for a grown voxel; ``label`` is the label
value (1..65534; 65535 = none). Comparing keys as integers compares ``(D, flag, label)``
lexicographically: lower cost wins, a seed beats anything at equal cost (so seeds never change),
and an exact tie goes to the lower label value.

A step from p to q costs ``wq = trunc(min(w, 2**25) * 2**20) + trunc(penalty_step * 2**20)``
(``w`` computed in float32, identically in both engines) and extends a key as
``(D, f, L) (+) w = (min(D + wq, D_MAX), 1, L)``. Integer addition is exact, so this operation is
monotone in the key order and the least fixed point of
``key(q) = min(key(q), min_p key(p) (+) w(p, q))`` is well defined: the priority-queue sweep and
the automaton both reach it, bit for bit, ties included. (With float32 sums they would not:
rounding can make ``a < b`` but ``a + w == b + w``, and then the tie-break flips.)
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence, Tuple

import numpy as np

from ..base.channels import channels_last, percentile_range
from ..base.errors import InputError
from ..base.neighbours import neighbour_count, offsets, parse_connectivity

LABEL_BITS = 16
LABEL_MASK = (1 << LABEL_BITS) - 1
NO_LABEL = LABEL_MASK  # 65535
MAX_LABEL = NO_LABEL - 1
FLAG = 1 << LABEL_BITS
SHIFT = LABEL_BITS + 1
QBITS = 20
QUANT = float(1 << QBITS)          # fixed-point units per robust intensity range
D_MAX = (1 << 46) - 1              # saturated / unreached cost
W_MAX = float(1 << 25)             # a single step's intensity term is clipped here (range units)
UNREACHED = (D_MAX << SHIFT) | FLAG | NO_LABEL

#: accepted connectivities per dimension and the neighbourhood "rank" they mean
CONNECTIVITY = {2: {4: 1, 8: 2}, 3: {6: 1, 18: 2, 26: 3}}
FULL = {2: 8, 3: 26}


def resolve_connectivity(ndim: int, connectivity: Optional[int]) -> int:
    """The neighbour count for a connectivity (``core.base.neighbours``'s names or counts)."""
    if connectivity is None:
        return FULL[ndim]
    return neighbour_count(ndim, parse_connectivity(connectivity, ndim))


def neighbour_offsets(ndim: int, connectivity: int) -> np.ndarray:
    """All neighbour vectors (rows), C order, for a connectivity (4/8 in 2D, 6/18/26 in 3D)."""
    return offsets(ndim, CONNECTIVITY[ndim][connectivity])


def step_lengths(offsets: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Physical length of each neighbour step in units of the smallest spacing."""
    sp = np.asarray(spacing, dtype=np.float64)
    return np.sqrt(((offsets * sp) ** 2).sum(axis=1)) / sp.min()


def pack(dist_q: np.ndarray, label: np.ndarray, seed: bool) -> np.ndarray:
    """Keys from fixed-point costs (int) and labels."""
    d = np.asarray(dist_q, dtype=np.int64)
    return (d << SHIFT) | (0 if seed else FLAG) | np.asarray(label, dtype=np.int64)


def unpack_dist_q(keys: np.ndarray) -> np.ndarray:
    return keys >> SHIFT


def unpack_dist(keys: np.ndarray) -> np.ndarray:
    """Costs as float32 in robust-range units; inf where unreached or saturated."""
    dq = keys >> SHIFT
    out = (dq.astype(np.float64) / QUANT).astype(np.float32)
    out[dq >= D_MAX] = np.inf
    return out


def unpack_label(keys: np.ndarray) -> np.ndarray:
    return keys & LABEL_MASK


def decode_labels(keys: np.ndarray, dtype=np.int32) -> np.ndarray:
    """Label image from keys: 0 where no label reached."""
    keys = np.asarray(keys)
    if sys.byteorder == "little" and keys.dtype == np.int64 and (
            keys.ndim == 0 or keys.strides[-1] == 8):
        # the label is the key's low 16 bits: read them in place (a quarter of the traffic, and
        # no copy of a view such as the sweep's interior of its padded keys)
        lab = keys[..., None].view(np.uint16)[..., 0]
    else:
        lab = keys & LABEL_MASK
    return np.where(lab == NO_LABEL, 0, lab).astype(dtype)


def quantise_steps(step_cost: np.ndarray) -> np.ndarray:
    return np.trunc(np.asarray(step_cost, np.float64) * QUANT).astype(np.int64)


@dataclass
class Prepared:
    """Validated inputs, ready for an engine.

    One channel: ``raw`` is the image as float32 (the caller's array itself when it is float32
    and C-contiguous, no copy) and ``scale32`` its scale; the normalised features
    ``raw / scale32`` (float32, what every engine compares) are computed on first use of
    :attr:`feats`. The CPU sweep never asks for them: it divides as it reads, with the same
    float32 division, so the features cost no memory. Several channels: ``feats`` is filled
    by prepare (the interior of ``padded_feats``)."""

    _feats: Optional[np.ndarray]  # float32, shape + (C,), normalised channels; None: from raw
    seeds: np.ndarray          # uint8 or uint16 seed labels, 0 = none (may be the caller's
                               # array: never written, and no state keeps it)
    mask: Optional[np.ndarray]  # bool or None (None = everywhere)
    spacing: Tuple[float, ...]
    connectivity: int
    offsets: np.ndarray        # (K, ndim) neighbour vectors
    step_cost: np.ndarray      # float32 (K,): distance_penalty * step length
    scales: np.ndarray         # per-channel normalisation scale
    distance_penalty: float
    out_dtype: np.dtype
    labels_present: Tuple[int, ...]
    _signature: Optional[tuple] = field(default=None, repr=False, compare=False)
    #: the array ``feats`` is the interior of: padded by one voxel (0.0) on every side, for
    #: the CPU sweep (which then needs no padded copy); None for a crop
    padded_feats: Optional[np.ndarray] = field(default=None, repr=False, compare=False)
    #: one channel: the image as float32 (C-contiguous unless a crop) and its float32 scale
    raw: Optional[np.ndarray] = field(default=None, repr=False, compare=False)
    scale32: Optional[np.float32] = field(default=None, repr=False, compare=False)

    @property
    def feats(self) -> np.ndarray:
        """The normalised channels, float32, shape + (C,) (computed from ``raw`` on first
        use, then kept)."""
        if self._feats is None:
            self._feats = np.divide(self.raw, self.scale32)[..., None]
        return self._feats

    @property
    def shape(self):
        return self.seeds.shape

    def crop(self, box: Tuple[slice, ...]) -> "Prepared":
        """The same inputs restricted to a box of slices (views, no copy): for the windowed
        refine, which sweeps only around an edit."""
        return replace(self, _feats=None if self._feats is None else self._feats[box],
                       seeds=self.seeds[box], raw=None if self.raw is None else self.raw[box],
                       mask=None if self.mask is None else self.mask[box], _signature=None,
                       padded_feats=None)

    @property
    def ndim(self):
        return self.seeds.ndim

    def signature(self) -> tuple:
        """What must be equal for a previous state to be refined rather than recomputed
        (computed once: it hashes the features)."""
        if self._signature is None:
            self._signature = self._compute_signature()
        return self._signature

    def _compute_signature(self) -> tuple:
        # the features are raw / scale: the raw image and the scale say the same
        return (self.shape, self.spacing, self.connectivity, float(self.distance_penalty),
                tuple(np.round(self.scales, 12).tolist()),
                _digest(self.feats if self.raw is None else self.raw),
                None if self.mask is None else _digest(self.mask))


def _digest(arr: np.ndarray) -> str:
    """A hash of the array's bytes in C order (slice by slice: a view, e.g. the interior of
    the padded features, is hashed without a copy of the whole)."""
    h = hashlib.blake2b(digest_size=16)
    for part in (arr if arr.ndim > 1 and not arr.flags.c_contiguous else (arr,)):
        h.update(np.ascontiguousarray(part).view(np.uint8).ravel())
    return h.hexdigest()


def channel_scales(chans: np.ndarray, mask: Optional[np.ndarray]) -> np.ndarray:
    """Robust per-channel scale: ``base.channels.percentile_range`` of (some of) the voxels."""
    scales = np.ones(chans.shape[-1], dtype=np.float64)
    sample = chans[mask] if mask is not None else chans.reshape(-1, chans.shape[-1])
    if sample.shape[0] > 2_000_000:  # percentiles of a regular subsample are plenty
        sample = sample[:: sample.shape[0] // 2_000_000 + 1]
    if sample.shape[0]:
        scales[:] = percentile_range(sample.astype(np.float64))[1]
    return scales


def prepare(image, seeds, *, spacing=None, connectivity=None, channel_axis=None, mask=None,
            distance_penalty: float = 0.0, exclude=None) -> Prepared:
    """Check and convert the inputs (one-line InputError on anything wrong).

    ``exclude``: voxels no label may take (they stay 0, and seeds there are dropped), e.g. what
    the user erased in a result before Refine. Unlike ``mask`` it does not change the channels'
    normalisation, so everything else grows as before."""
    from ..base.image import SegImage

    if isinstance(image, SegImage):
        if spacing is None:
            spacing = image.spacing
        if image.multichannel:
            channel_axis = -1
        image = image.array
    if isinstance(seeds, SegImage):
        seeds = seeds.array
    if isinstance(mask, SegImage):
        mask = mask.array
    img = np.asarray(image)
    if img.dtype == bool:
        img = img.astype(np.float32)
    if not (np.issubdtype(img.dtype, np.number)):
        raise InputError(f"the image must be numeric, got dtype {img.dtype}")
    if np.iscomplexobj(img):
        raise InputError("complex images are not supported; take the magnitude first")
    chans = channels_last(img, channel_axis)
    shape = chans.shape[:-1]
    nd = len(shape)
    if nd not in (2, 3):
        raise InputError(f"GrowCut needs a 2D or 3D image, got {nd} spatial axes "
                         f"(shape {img.shape}); give channel_axis for a multichannel image")
    sd = np.asarray(seeds)
    if sd.shape != shape:
        raise InputError(f"the seeds' shape {sd.shape} does not match the image's {shape}")
    if sd.dtype == bool:
        raise InputError("seeds must be a label image (0 = none, 1..K = labels), not a boolean "
                         "mask; paint at least two labels")
    if not np.issubdtype(sd.dtype, np.integer):
        if not np.issubdtype(sd.dtype, np.floating) or not np.all(np.mod(sd, 1) == 0):
            raise InputError("seeds must hold integer label values")
    if sd.min(initial=0) < 0 or sd.max(initial=0) > MAX_LABEL:
        raise InputError(f"seed labels must be between 0 and {MAX_LABEL}")
    # labels are 0..65534: uint16 holds them (a quarter of int64's memory and traffic), and a
    # bincount is several times faster than np.unique. uint8 and uint16 seeds are used as
    # they are (no copy: nothing writes them, and the state reads its seeds from its keys)
    if exclude is not None:
        exclude = np.asarray(exclude) != 0
        if exclude.shape != shape:
            raise InputError(f"the excluded voxels' shape {exclude.shape} does not match the "
                             f"image's {shape}")
        if not exclude.any():
            exclude = None
    if sd.dtype in (np.uint8, np.uint16) and exclude is None:
        sd16 = sd
    else:
        sd16 = sd.astype(np.uint16)
        if exclude is not None:
            sd16[exclude] = 0
    present = tuple(int(v) for v in np.flatnonzero(np.bincount(sd16.ravel())) if v != 0)
    if len(present) < 2:
        raise InputError(f"GrowCut needs seeds of at least two labels, found {len(present)} "
                         f"({', '.join(map(str, present)) or 'none'}); paint a stroke for each "
                         "region, e.g. object and background")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != shape:
            raise InputError(f"the mask's shape {mask.shape} does not match the image's {shape}")
        mask = mask != 0
        if mask.all():
            mask = None
    if spacing is None:
        spacing = (1.0,) * nd
    spacing = tuple(float(s) for s in np.asarray(spacing, dtype=float).ravel())
    if len(spacing) != nd or any(not np.isfinite(s) or s <= 0 for s in spacing):
        raise InputError(f"spacing must be {nd} positive numbers, got {spacing}")
    conn = resolve_connectivity(nd, connectivity)
    dp = float(distance_penalty)
    if not np.isfinite(dp) or dp < 0 or dp > 1e6:
        raise InputError(f"distance_penalty must be between 0 and 1e6, got {distance_penalty}")
    chans = chans.astype(np.float32, copy=False)
    if chans.shape[-1] == 1:  # one channel: the image itself (a copy only if not contiguous)
        chans = np.ascontiguousarray(chans[..., 0])[..., None]
    if not np.all(np.isfinite(chans)):
        raise InputError("the image holds NaN or infinite values; replace them (or mask them "
                         "out) first")
    scales = channel_scales(chans, mask)
    if exclude is not None:  # blocked like voxels outside the mask, the scales unchanged
        mask = ~exclude if mask is None else mask & ~exclude
    raw = scale32 = feats = padded = None
    if chans.shape[-1] == 1:
        # one channel: no features array (the CPU sweep divides as it reads, see Prepared)
        raw, scale32 = chans[..., 0], np.float32(scales[0])
    else:
        # the features, written once into the interior of a padded array (the CPU sweep's
        # layout: it then needs no padded copy)
        padded = np.empty(tuple(s + 2 for s in shape) + (chans.shape[-1],), np.float32)
        for ax in range(nd):
            for side in (0, -1):
                padded[tuple(side if a == ax else slice(None) for a in range(nd))] = 0.0
        feats = padded[(slice(1, -1),) * nd]
        np.divide(chans, scales.astype(np.float32), out=feats)
    offsets = neighbour_offsets(nd, conn)
    step_cost = (dp * step_lengths(offsets, spacing)).astype(np.float32)
    out_dtype = sd.dtype if np.issubdtype(sd.dtype, np.integer) else np.dtype(np.int32)
    return Prepared(feats, sd16, mask, spacing, conn, offsets, step_cost, scales, dp,
                    np.dtype(out_dtype), present, padded_feats=padded, raw=raw,
                    scale32=scale32)


@dataclass
class GrowCutState:
    """What a refine continues from: the keys of the last fixed point (its seeds are the
    voxels whose key is a seed's, ``0 <= key < FLAG``: read from the keys when asked, so the
    state holds no copy of them)."""

    keys: np.ndarray
    signature: tuple = field(repr=False)
    engine: str = ""

    @property
    def seeds(self) -> np.ndarray:
        """The seed labels of the fixed point (uint16, 0 = none)."""
        return seeds_of_keys(self.keys)


def seeds_of_keys(keys: np.ndarray) -> np.ndarray:
    """The seeds a fixed point holds: cost 0 and the seed flag clear, ``key = label``."""
    k = np.asarray(keys)
    return np.where((k >= 0) & (k < FLAG), k, 0).astype(np.uint16)


@dataclass
class GrowCutResult:
    """GrowCut's output.

    labels: the seeds' label values (0 where no seed can reach: outside the mask), in the one
        label dtype (uint8, uint16 or uint32, the smallest that holds them).
    strength: GrowCut strength in [0, 1], ``exp(-cost)``; 1 on the seeds.
    cost: the path cost (sum of normalised intensity differences + distance penalty).
    (``cost`` and ``strength`` are decoded from the state on first access: a volume of float32
    each that the refine loop and the CLI never need.)
    state: pass it back as ``state=`` to refine after editing the seeds.
    engine, device: what ran; iterations: automaton sweeps, or rounds of directional passes for
    the Triton engine (0 for the exact sweep);
    refined: True when the state was reused.
    """

    labels: np.ndarray
    state: GrowCutState
    engine: str
    device: str
    iterations: int = 0
    refined: bool = False
    converged: bool = True
    _cost: Optional[np.ndarray] = field(default=None, repr=False, compare=False)
    _strength: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    @property
    def cost(self) -> np.ndarray:
        if self._cost is None:
            self._cost = unpack_dist(self.state.keys)
        return self._cost

    @property
    def strength(self) -> np.ndarray:
        if self._strength is None:
            self._strength = np.exp(-self.cost)
        return self._strength


def result_from_keys(keys: np.ndarray, prep: Prepared, *, engine: str, device: str,
                     iterations: int = 0, refined: bool = False,
                     converged: bool = True) -> GrowCutResult:
    """The result of an engine's final ``keys``: labels in the one label dtype (uint8, uint16
    or uint32: ``core.base.labels.as_labels``), the state kept for a refine;
    ``engine``/``device``/``iterations`` say what ran, ``refined`` whether a previous state was
    reused, ``converged`` whether the fixed point was reached."""
    from ..base.labels import as_labels

    labels = as_labels(decode_labels(keys, prep.out_dtype))  # the one label dtype rule
    state = GrowCutState(keys=keys, signature=prep.signature(), engine=engine)
    return GrowCutResult(labels, state, engine, device, iterations=iterations, refined=refined,
                         converged=converged)


def initial_keys(prep: Prepared) -> np.ndarray:
    keys = np.full(prep.shape, UNREACHED, dtype=np.int64)
    s = prep.seeds > 0
    keys[s] = pack(np.zeros(int(s.sum()), np.int64), prep.seeds[s], seed=True)
    return keys


def saturated_labels(keys: np.ndarray) -> np.ndarray:
    """The labels that hold a voxel at the saturated cost ``D_MAX`` (where ties can hide)."""
    lab = unpack_label(keys[keys >= (D_MAX << SHIFT)])
    return np.unique(lab[lab != NO_LABEL])


def refine_keys(prep: Prepared, state: GrowCutState,
                need_starts: bool = True) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Warm-start keys for a refine, and the voxels a sweep must start from.

    The previous keys stay valid (they are costs of real paths, and the fixed-point inequalities
    hold among them) except where a path lost its source or was cut:

    - a seed removed or relabelled (old label M): every voxel labelled M is invalidated;
    - a new seed on a voxel v grown at cost D_v: every voxel whose old paths all ran through v
      is beaten by the new seed anyway, *strictly*, when D_v > 0 (its paths from v now cost D_v
      less), so its stale key is replaced by the relaxation and nothing is invalidated. Only a
      tie can keep a stale key: D_v == 0 (flat intensities without a distance penalty), and
      then only when the new label L is above v's old label M (an exact tie goes to the lower
      label). In that case the voxels labelled M with cost >= D_v are invalidated.

    The state must hold no labelled voxel at the saturated cost ``D_MAX`` (see
    :func:`saturated_labels`): ties there make more than one fixed point, and :func:`growcut`
    computes such a state again instead of refining it.

    Invalidated voxels restart unreached; the sweep starts from the new/changed seeds, the seeds
    of invalidated labels and the valid voxels that touch the invalidated region. The result is
    exactly the fixed point a full recompute with the new seeds gives. ``need_starts=False``
    (the GPU engines relax every voxel anyway) skips computing those start voxels (None).
    """
    from scipy import ndimage as ndi

    old = np.ascontiguousarray(state.keys)
    keys = old.copy()  # the state stays usable (e.g. to refine a different edit)
    new, prev = prep.seeds, state.seeds
    # Everything below works on the few changed voxels (flat indices), except what an
    # invalidation needs: one full comparison of the seed images, then sparse work.
    idx = np.flatnonzero(new != prev)
    newv, prevv, oldv = new.reshape(-1)[idx], prev.reshape(-1)[idx], old.reshape(-1)[idx]
    old_lab = None
    invalid = None

    def invalidate(sel):
        nonlocal old_lab, invalid
        if old_lab is None:
            old_lab = unpack_label(old)
            invalid = np.zeros(prep.shape, dtype=bool)
        invalid |= sel(old_lab)

    # removed / relabelled seeds
    for m in np.unique(prevv[prevv > 0]):
        invalidate(lambda lab, m=m: lab == m)
    # new seeds on grown voxels
    add = (newv > 0) & (prevv == 0)
    if add.any():
        m_vals, l_vals, d_vals = unpack_label(oldv[add]), newv[add], unpack_dist_q(oldv[add])
        conflict = (m_vals != l_vals) & (m_vals != NO_LABEL) & (l_vals > m_vals) & (d_vals == 0)
        for m in np.unique(m_vals[conflict]):
            dmin = int(d_vals[conflict & (m_vals == m)].min())
            # cost >= dmin  <=>  key >= dmin << SHIFT (the cost is the key's high bits)
            invalidate(lambda lab, m=m, dmin=dmin: (lab == m) & (old >= (dmin << SHIFT)))
    seeds = None
    if invalid is not None:
        seeds = new > 0
        invalid &= ~seeds
        keys[invalid] = UNREACHED
    # the new and relabelled seeds (unchanged seeds already hold their seed keys)
    put = idx[newv > 0]
    keys.reshape(-1)[put] = pack(np.zeros(put.size, np.int64), newv[newv > 0], seed=True)
    # a voxel that was a seed and is no longer one and was not invalidated cannot happen
    # (its label was invalidated above); grown voxels keep flag 1.
    if not need_starts:
        return keys, None
    starts = np.zeros(prep.shape, dtype=bool)
    starts.reshape(-1)[put] = True
    if invalid is not None and invalid.any():
        struct = ndi.generate_binary_structure(prep.ndim, CONNECTIVITY[prep.ndim][prep.connectivity])
        ring = ndi.binary_dilation(invalid, struct) & ~invalid
        ring &= (keys & LABEL_MASK) != NO_LABEL
        if prep.mask is not None:
            ring &= prep.mask | seeds
        starts |= ring
    return keys, starts
